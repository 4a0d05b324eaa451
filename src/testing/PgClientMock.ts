/**
 * A scripted, recording `PgClient` for tests of code that talks to PostgreSQL.
 * (Over 400 lines: the fake connections' transaction states and the client built on them are one
 * piece; the errors are in `PgErrors.ts`, the script and record in `PgScript.ts`.)
 *
 * The mock is the real `SqlClient` (built with `effect/sql/SqlClient`'s `make`
 * and `@effect/sql-pg`'s own compiler) over a fake connection pool, so
 * statements compile exactly as in production (`$1` placeholders, `sql.in`,
 * `sql.insert`, identifiers, `sql.json`) and `withTransaction` issues the same
 * `BEGIN` / `SAVEPOINT` / `RELEASE SAVEPOINT` / `ROLLBACK TO SAVEPOINT` /
 * `COMMIT` / `ROLLBACK` statements it issues against a real server.
 *
 * - Statements are answered from a script of {@link Rule}s (first match wins).
 * - Every statement is recorded with its parameters and the fake connection
 *   it ran on, transaction control included, so a test can assert
 *   transaction boundaries.
 * - A rule can fail a statement with a PostgreSQL error built exactly like the
 *   driver builds it from an `ErrorResponse` ({@link pgError},
 *   {@link uniqueViolation}, {@link serializationFailure},
 *   {@link deadlockDetected}, {@link connectionLost}).
 * - Each fake connection follows PostgreSQL's transaction states: after a
 *   failed statement in a transaction every further statement fails with
 *   SQLSTATE 25P02 and `COMMIT` answers `ROLLBACK`, as on a real server.
 * - A statement with no scripted answer dies with an
 *   {@link UnscriptedStatementError} naming its SQL and parameters, and the
 *   layer fails when its scope closes if that ever happened, so a program
 *   that swallows defects still fails the test.
 *
 * @example
 * ```ts
 * import { assert, it } from "@effect/vitest"
 * import { Effect } from "effect"
 * import { SqlClient } from "effect/sql/SqlClient"
 * import * as PgClientMock from "../src/testing/PgClientMock.js"
 *
 * it.effect("inserts a user in one transaction", () =>
 *   Effect.gen(function*() {
 *     const mock = yield* PgClientMock.PgClientMock
 *     const sql = yield* SqlClient
 *     const rows = yield* sql.withTransaction(sql`INSERT INTO users ${sql.insert({ name: "ada" })} RETURNING id`)
 *     assert.deepStrictEqual(rows, [{ id: 1 }])
 *     assert.deepStrictEqual(yield* mock.sqlLog, [
 *       "BEGIN",
 *       `INSERT INTO users ("name") VALUES ($1) RETURNING id`,
 *       "COMMIT"
 *     ])
 *   }).pipe(Effect.provide(PgClientMock.layer({
 *     rules: [PgClientMock.when(/^INSERT INTO users/, [{ id: 1 }])]
 *   }))))
 * ```
 *
 * @since 0.1.0
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import type * as PgConnection from "@effect/sql-pg/PgConnection"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as Scope from "effect/Scope"
import * as SqlClient from "effect/sql/SqlClient"
import type { Connection } from "effect/sql/SqlConnection"
import { SqlError } from "effect/sql/SqlError"
import * as Statement from "effect/sql/Statement"
import * as Stream from "effect/Stream"
import * as PgPoolClient from "../layers/PgPoolClient.js"
import { connectionLost, isConnectionLost, pgError, SqlState } from "./PgErrors.js"
import {
  classify,
  describeMatch,
  type ExecutedStatement,
  isReply,
  matches,
  type Reply,
  type Rule,
  toResult,
  UnscriptedStatementError
} from "./PgScript.js"

export {
  connectionLost,
  deadlockDetected,
  type PgErrorFields,
  pgError,
  serializationFailure,
  SqlState,
  uniqueViolation
} from "./PgErrors.js"
export {
  type Answer,
  type ExecutedStatement,
  type Match,
  type Reply,
  type Rule,
  type StatementKind,
  UnscriptedStatementError,
  when
} from "./PgScript.js"

// ---------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------

/**
 * Settings of {@link make} and {@link layer}.
 *
 * @since 0.1.0
 */
export interface Options {
  /** The initial script; more rules can be added with `script`. */
  readonly rules?: ReadonlyArray<Rule> | undefined
  /**
   * Client settings, as given to `PgClient.layer`: the name and JSON
   * transforms are applied exactly as the real client applies them.
   */
  readonly config?: PgClient.PgClientConfig | undefined
  /**
   * Fail the layer's release when a statement went unanswered (default
   * `true`), so code that catches defects cannot hide one.
   */
  readonly failOnUnscripted?: boolean | undefined
}

/**
 * The mock's controls: the client it serves, its script and its record.
 *
 * @since 0.1.0
 */
export interface PgClientMockService {
  /** The client provided as `PgClient` and `SqlClient`. */
  readonly client: PgClient.PgClient
  /** Appends rules to the script; they are tried after the existing ones. */
  readonly script: (...rules: ReadonlyArray<Rule>) => Effect.Effect<void>
  /** Every statement sent so far, in order. */
  readonly statements: Effect.Effect<ReadonlyArray<ExecutedStatement>>
  /** The SQL of every statement sent so far, in order. */
  readonly sqlLog: Effect.Effect<ReadonlyArray<string>>
  /** The statements no rule answered, as the defects they raised. */
  readonly unscripted: Effect.Effect<ReadonlyArray<UnscriptedStatementError>>
  /** Forgets recorded and unscripted statements (the script stays). */
  readonly clear: Effect.Effect<void>
  /** Delivers a notification to every `listen` queue on `channel`. */
  readonly notify: (channel: string, payload: string) => Effect.Effect<void>
}

/**
 * The service tag of the mock's controls.
 *
 * @since 0.1.0
 */
export class PgClientMock extends Context.Service<PgClientMock, PgClientMockService>()(
  "wampgres/testing/PgClientMock"
) {}

interface FakeConnection {
  readonly id: number
  state: "idle" | "open" | "aborted"
  savepoints: Array<string>
  dead: SqlError | undefined
}

const validateChannelName = PgPoolClient.validateChannelName

const escapeIdentifier = (identifier: string): string => `"${identifier.replaceAll("\"", "\"\"")}"`

const inFailedTransaction = (): SqlError =>
  pgError({
    code: SqlState.inFailedSqlTransaction,
    message: "current transaction is aborted, commands ignored until end of transaction block"
  })

/**
 * Builds the mock: its controls, whose `client` is a `PgClient` answering from
 * the script. Scoped: `listen` queues close with the scope.
 *
 * @since 0.1.0
 */
export const make = Effect.fnUntraced(function*(
  options: Options = {}
): Effect.fn.Return<PgClientMockService, never, Scope.Scope | Reactivity.Reactivity> {
  const config = options.config ?? {}
  const rules: Array<{ rule: Rule; used: number }> = (options.rules ?? []).map((rule) => ({ rule, used: 0 }))
  const recorded: Array<ExecutedStatement> = []
  const unscripted: Array<UnscriptedStatementError> = []
  const idle: Array<FakeConnection> = []
  const channels = new Map<string, Set<Queue.Queue<PgConnection.Notification, SqlError>>>()
  let nextConnection = 1

  const scripted = (statement: ExecutedStatement) => {
    for (const entry of rules) {
      if (entry.rule.times !== undefined && entry.used >= entry.rule.times) continue
      if (!matches(entry.rule.match, statement)) continue
      entry.used++
      return entry.rule
    }
    return undefined
  }

  const answerOf = (
    rule: Rule,
    statement: ExecutedStatement
  ): Effect.Effect<ReadonlyArray<PgConnection.Row> | Reply, SqlError> => {
    const answer = typeof rule.answer === "function" ? rule.answer(statement) : rule.answer
    if (Effect.isEffect(answer)) return answer
    if (answer instanceof SqlError) return Effect.fail(answer)
    return Effect.succeed(answer)
  }

  // What the server does with a transaction control statement when no rule says otherwise.
  const control = (conn: FakeConnection, statement: ExecutedStatement): PgConnection.Result | SqlError => {
    const empty = (command: string): PgConnection.Result => ({ command, rowCount: 0, oid: null, rows: [], fields: [] })
    const name = statement.sql.trim().split(/\s+/).at(-1) ?? ""
    switch (statement.kind) {
      case "begin":
        if (conn.state === "idle") conn.state = "open"
        return empty("BEGIN")
      case "commit": {
        const aborted = conn.state === "aborted"
        conn.state = "idle"
        conn.savepoints = []
        return empty(aborted ? "ROLLBACK" : "COMMIT")
      }
      case "rollback":
        conn.state = "idle"
        conn.savepoints = []
        return empty("ROLLBACK")
      case "savepoint":
        if (conn.state === "idle") {
          return pgError({
            code: SqlState.noActiveSqlTransaction,
            message: "SAVEPOINT can only be used in transaction blocks"
          })
        }
        conn.savepoints.push(name)
        return empty("SAVEPOINT")
      case "releaseSavepoint":
      case "rollbackToSavepoint": {
        const index = conn.savepoints.lastIndexOf(name)
        if (index === -1) {
          return pgError({
            code: SqlState.invalidSavepointSpecification,
            message: `savepoint "${name}" does not exist`
          })
        }
        if (statement.kind === "releaseSavepoint") {
          conn.savepoints = conn.savepoints.slice(0, index)
          return empty("RELEASE")
        }
        conn.savepoints = conn.savepoints.slice(0, index + 1)
        conn.state = "open"
        return empty("ROLLBACK")
      }
      case "query":
        return pgError({ code: "XX000", message: "not a transaction control statement" })
    }
  }

  // A failed statement aborts the transaction; a lost connection stays lost.
  const onError = (conn: FakeConnection, statement: ExecutedStatement, error: SqlError) => {
    if (isConnectionLost(error)) {
      conn.dead = connectionLost()
    } else if (statement.kind === "commit" || statement.kind === "rollback") {
      conn.state = "idle"
      conn.savepoints = []
    } else if (conn.state === "open") {
      conn.state = "aborted"
    }
    return error
  }

  // `builtin` answers a statement the client itself issues (LISTEN, pg_notify)
  // when no rule does; transaction control is answered by `control`.
  const run = (
    conn: FakeConnection,
    sql: string,
    params: ReadonlyArray<unknown>,
    builtin?: ReadonlyArray<PgConnection.Row>
  ) =>
    Effect.suspend((): Effect.Effect<PgConnection.Result, SqlError> => {
      const statement: ExecutedStatement = { sql, params, connection: conn.id, kind: classify(sql) }
      recorded.push(statement)
      if (conn.dead !== undefined) return Effect.fail(conn.dead)
      const resumes = statement.kind === "commit" || statement.kind === "rollback" ||
        statement.kind === "rollbackToSavepoint"
      if (conn.state === "aborted" && !resumes) return Effect.fail(inFailedTransaction())
      const rule = scripted(statement)
      if (rule !== undefined) {
        return answerOf(rule, statement).pipe(
          Effect.mapError((error) => onError(conn, statement, error)),
          Effect.map((reply) => {
            const result = toResult(statement, reply)
            if (statement.kind === "query") return result
            // A scripted success of a control statement still moves the transaction state.
            const server = control(conn, statement)
            return server instanceof SqlError || (isReply(reply) && reply.command !== undefined)
              ? result
              : { ...result, command: server.command }
          })
        )
      }
      if (statement.kind !== "query") {
        const result = control(conn, statement)
        return result instanceof SqlError ? Effect.fail(onError(conn, statement, result)) : Effect.succeed(result)
      }
      if (builtin !== undefined) return Effect.succeed(toResult(statement, builtin))
      const miss = new UnscriptedStatementError({
        sql,
        params,
        rules: rules.map((entry) => describeMatch(entry.rule.match))
      })
      unscripted.push(miss)
      return Effect.die(miss)
    })

  const connectionOf = (conn: FakeConnection): Connection => {
    const rows = (sql: string, params: ReadonlyArray<unknown>) => Effect.map(run(conn, sql, params), (r) => r.rows)
    const transformed = (
      sql: string,
      params: ReadonlyArray<unknown>,
      transformRows: (<A extends object>(row: ReadonlyArray<A>) => ReadonlyArray<A>) | undefined
    ) => transformRows ? Effect.map(rows(sql, params), transformRows) : rows(sql, params)
    const values = (sql: string, params: ReadonlyArray<unknown>) =>
      Effect.map(rows(sql, params), (rs) => rs.map((row) => Object.values(row)))
    return {
      execute: transformed,
      executeUnprepared: transformed,
      executeRaw: (sql, params) => run(conn, sql, params),
      executeValues: values,
      executeValuesUnprepared: values,
      executeStream: (sql, params, transformRows) =>
        Stream.unwrap(Effect.map(transformed(sql, params, transformRows), Stream.fromArray))
    }
  }

  const acquire: Effect.Effect<FakeConnection, never, Scope.Scope> = Effect.acquireRelease(
    Effect.sync(() => idle.pop() ?? { id: nextConnection++, state: "idle", savepoints: [], dead: undefined }),
    (conn) =>
      Effect.sync(() => {
        if (conn.dead === undefined) idle.push(conn)
      })
  )
  const acquirer = Effect.map(acquire, connectionOf)

  const compiler = PgClient.makeCompiler(config.transformQueryNames, config.transformJson)
  const transformRows = config.transformResultNames
    ? Statement.defaultTransforms(config.transformResultNames, config.transformJson).array
    : undefined

  const listen = (channel: string) =>
    Effect.gen(function*() {
      const channelError = validateChannelName(channel, "listen")
      if (channelError !== undefined) return yield* Effect.fail(channelError)
      const conn = yield* acquire
      const identifier = escapeIdentifier(channel)
      yield* run(conn, `LISTEN ${identifier}`, [], [])
      const queue = yield* Queue.unbounded<PgConnection.Notification, SqlError>()
      let queues = channels.get(channel)
      if (queues === undefined) channels.set(channel, queues = new Set())
      queues.add(queue)
      yield* Effect.addFinalizer(() =>
        Effect.suspend(() => {
          queues.delete(queue)
          return Effect.andThen(
            Effect.ignore(run(conn, `UNLISTEN ${identifier}`, [], [])),
            Queue.shutdown(queue)
          )
        })
      )
      return queue as Queue.Dequeue<PgConnection.Notification, SqlError>
    })

  const deliver = (channel: string, payload: string) =>
    Effect.sync(() => {
      for (const queue of channels.get(channel) ?? []) {
        Queue.offerUnsafe(queue, { processId: 0, channel, payload })
      }
    })

  const notify = (channel: string, payload: string): Effect.Effect<void, SqlError> => {
    const channelError = validateChannelName(channel, "notify")
    if (channelError !== undefined) return Effect.fail(channelError)
    return Effect.scoped(Effect.flatMap(acquire, (conn) =>
      run(conn, `SELECT pg_notify($1, $2)`, [channel, payload], [{ pg_notify: "" }]))).pipe(
        Effect.andThen(deliver(channel, payload))
      )
  }

  const sqlClient = yield* SqlClient.make({
    acquirer,
    borrower: (f) => Effect.scoped(Effect.flatMap(acquirer, f)),
    transactionAcquirer: acquirer,
    compiler,
    driver: "pg",
    prepareTransactionControls: true,
    commit: PgPoolClient.commit,
    releaseSavepoint: (name) => `RELEASE SAVEPOINT ${name}`,
    spanAttributes: [["db.system.name", "postgresql"], ["db.namespace", "mock"]],
    transformRows
  })

  const client: PgClient.PgClient = Object.assign(sqlClient, {
    [PgClient.TypeId]: PgClient.TypeId,
    config,
    json: PgPoolClient.json,
    listen,
    notify
  })

  return {
    client,
    script: (...more) => Effect.sync(() => void rules.push(...more.map((rule) => ({ rule, used: 0 })))),
    statements: Effect.sync(() => recorded.slice()),
    sqlLog: Effect.sync(() => recorded.map((statement) => statement.sql)),
    unscripted: Effect.sync(() => unscripted.slice()),
    clear: Effect.sync(() => {
      recorded.length = 0
      unscripted.length = 0
    }),
    notify: deliver
  }
})

/**
 * Provides `PgClient`, `SqlClient` and the mock's controls ({@link PgClientMock}).
 * When `failOnUnscripted` is on (the default), releasing the layer dies with
 * the first {@link UnscriptedStatementError} if any statement went unanswered.
 *
 * @since 0.1.0
 */
export const layer = (
  options: Options = {}
): Layer.Layer<PgClientMock | PgClient.PgClient | SqlClient.SqlClient> =>
  Layer.effectContext(
    Effect.gen(function*() {
      const mock = yield* make(options)
      if (options.failOnUnscripted ?? true) {
        yield* Effect.addFinalizer(() =>
          Effect.flatMap(mock.unscripted, (missed) => missed[0] === undefined ? Effect.void : Effect.die(missed[0]))
        )
      }
      return Context.make(PgClientMock, mock).pipe(
        Context.add(PgClient.PgClient, mock.client),
        Context.add(SqlClient.SqlClient, mock.client)
      )
    })
  ).pipe(Layer.provide(Reactivity.layer))
