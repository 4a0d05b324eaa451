/**
 * Publishing from procedures. `publishAfterCommit` queues an event in the current transaction: it is
 * published once the outermost transaction commits and dropped when it rolls back (outside a
 * transaction it is published at once). Built on `SqlClient.afterCommit`.
 */
import * as Effect from "effect/Effect"
import * as SqlClient from "effect/sql/SqlClient"
import { type Payload, WampSession } from "../layers/WampSession.js"

/** Publishes `payload` to `topic` after COMMIT; a failed publish is logged, never fails the call. */
export const publishAfterCommit = (
  topic: string,
  payload: Partial<Payload>,
  options?: Record<string, unknown>
): Effect.Effect<void, never, SqlClient.SqlClient | WampSession> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const session = yield* WampSession
    yield* sql.afterCommit(
      Effect.ignore(session.publish(topic, payload, options), { log: "Warn" })
    )
  })
