/**
 * Statements whose rows nobody reads, sent without waiting for PostgreSQL's answer. Its own module
 * so that `Caller` (which `Transaction` uses) can send the caller's settings this way too.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import type * as Statement from "effect/sql/Statement"
import { LaneConnection } from "../layers/TransactionLanes.js"

/**
 * Runs a statement whose rows nobody reads (a setting, an event written to the outbox) without
 * waiting for PostgreSQL's answer: in a transaction on a lane it travels with the transaction's next
 * statement, or with its COMMIT, in the same write, and costs no round trip of its own. Its failure
 * is reported by that next statement (first, as it came first) or by the COMMIT, and aborts the
 * transaction like any failed statement. Anywhere else (no transaction, a savepoint, a pool without
 * lanes, the test kit's mocked client) it runs and is awaited like any statement.
 */
export const ahead = (statement: Statement.Statement<unknown>): Effect.Effect<void, SqlError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.withFiber((fiber) => {
      const level = Context.getOrUndefined(fiber.context, sql.transactionService)
      // Only at the top level: in a savepoint the next statement may be its RELEASE, whose failure
      // the library turns into a defect, so a failure sent ahead would escape the nested transaction.
      const connection = level !== undefined && level[1] === 0 ? level[0] : undefined
      if (!(connection instanceof LaneConnection)) return Effect.asVoid(statement)
      const [text, params] = statement.compile()
      return connection.sendAhead(text, params)
    }))
