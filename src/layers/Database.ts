/**
 * The database layer: a pooled `PgClient` (also provided as `SqlClient`) with adbapi's semantics.
 *
 * - pool minimum/maximum (`cp_min`/`cp_max`), connect timeout;
 * - a hook on every new physical connection (`cp_openfun`), by default logging its backend PID;
 * - a health query (`cp_good_sql`) that proves the pool at start-up, retried until the start-up
 *   timeout, failing the layer with a message naming the database when it stays unreachable;
 * - broken connections are replaced: the pool retires a connection whose socket or protocol fails
 *   (e.g. after a PostgreSQL restart or `pg_terminate_backend`) and opens a new one at the next
 *   checkout, so the service recovers without a restart (see test/integration/database.test.ts);
 * - pipelining (`multiplex`) on by default: single statements from many fibers share connections,
 *   transactions and streams still reserve one.
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import * as PgClient from "@effect/sql-pg/PgClient"
import type * as PgConnection from "@effect/sql-pg/PgConnection"
import type * as Config from "effect/Config"
import { describeTarget, type DatabaseTarget, externalTarget, type PoolSettings, poolSettings } from "./DatabaseConfig.js"
import * as PgPoolClient from "./PgPoolClient.js"
import * as ServiceRole from "./ServiceRole.js"

export type { DatabaseTarget, PoolSettings } from "./DatabaseConfig.js"

/** The database could not be reached or did not answer the health query in time. */
export class DatabaseUnavailable extends Schema.TaggedError<DatabaseUnavailable>()("DatabaseUnavailable", {
  message: Schema.String
}) {}

/**
 * The hook run on every new physical connection (adbapi's `cp_openfun`). Provide your own with
 * `Layer.succeed(OnConnect, (conn) => ...)` to set session parameters; the default logs the PID.
 */
export class OnConnect extends Context.Reference<PgPoolClient.OnConnect>("wampgres/layers/Database/OnConnect", {
  defaultValue: () => logNewConnection
}) {}

/**
 * The client for what needs a session of its own (LISTEN): a direct connection to PostgreSQL when
 * `DATABASE_DIRECT_URL` is set (the pool goes through a transaction pooler), else `undefined` and
 * the pool serves it too. Read with `Database.sessionClient`.
 */
export class SessionClient extends Context.Reference<PgClient.PgClient | undefined>("wampgres/layers/Database/SessionClient", {
  defaultValue: () => undefined
}) {}

/** The client for LISTEN: the direct one when configured, else the pool. */
export const sessionClient: Effect.Effect<PgClient.PgClient, never, PgClient.PgClient> = Effect.gen(function*() {
  const direct = yield* SessionClient
  return direct ?? (yield* PgClient.PgClient)
})

/** The default `OnConnect`: logs `New DB connection created (backend PID n)`, as the seed did. */
export const logNewConnection: PgPoolClient.OnConnect = (connection: PgConnection.PgConnection) =>
  Effect.logInfo(`New DB connection created (backend PID ${connection.processId})`)

/** Translates the target and pool settings into `@effect/sql-pg`'s pool configuration. */
export const toPoolConfig = (target: DatabaseTarget, pool: PoolSettings): PgClient.PgPoolConfig => ({
  ...(target._tag === "Url"
    ? { url: target.url }
    : {
      host: target.host,
      port: target.port,
      database: target.database,
      username: target.username,
      password: target.password
    }),
  minConnections: pool.min,
  maxConnections: Math.max(pool.max, pool.min, 1),
  connectTimeout: pool.connectTimeout,
  multiplex: pool.multiplex && pool.transactionPooler !== true,
  // A transaction pooler hands each transaction to any server connection: statements prepared by
  // name on one are unknown on the next, so only unnamed statements.
  prepare: pool.transactionPooler !== true,
  applicationName: pool.applicationName
})

/**
 * Runs the health query until it succeeds or the start-up timeout passes. The pool itself builds
 * even when the database is down (the first query fails), so this is what makes start-up honest.
 */
const probe = (client: SqlClient.SqlClient, target: DatabaseTarget, pool: PoolSettings) =>
  client.unsafe(pool.healthQuery).pipe(
    Effect.retry(Schedule.min([Schedule.exponential("100 millis", 1.5), Schedule.spaced("1 second")])),
    Effect.timeoutOrElse({
      duration: pool.startupTimeout,
      orElse: () => Effect.fail(undefined)
    }),
    Effect.catch((error: SqlError | undefined) =>
      // One last attempt so the message carries the real reason, not just "timed out".
      (error === undefined ? client.unsafe(pool.healthQuery) : Effect.fail(error)).pipe(
        Effect.mapError((cause) =>
          new DatabaseUnavailable({
            message: `Database ${describeTarget(target)} not reachable within ${
              Duration.format(pool.startupTimeout)
            }: ${reasonOf(cause)}`
          })
        )
      )
    ),
    Effect.asVoid
  )

const reasonOf = (error: SqlError): string => {
  const cause = error.reason.cause
  return cause instanceof Error && cause.message.length > 0 ? cause.message : error.reason.message
}

/**
 * A `PgClient` + `SqlClient` layer for the given target, proven by the health query at start-up.
 */
export const layer = (
  target: DatabaseTarget,
  pool: PoolSettings,
  direct?: DatabaseTarget
): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, DatabaseUnavailable> =>
  Layer.effectContext(
    Effect.gen(function*() {
      const onConnect = yield* OnConnect
      const client = yield* PgPoolClient.make(toPoolConfig(target, pool), onConnect).pipe(
        Effect.mapError((error) =>
          new DatabaseUnavailable({ message: `Database ${describeTarget(target)}: ${reasonOf(error)}` })
        )
      )
      yield* probe(client, target, pool)
      yield* Effect.ignore(ServiceRole.checkNotSuperuser(client), { log: "Warn" })
      yield* Effect.logInfo(
        `Database ${describeTarget(target)} ready (pool ${pool.min}..${pool.max}${pool.multiplex ? ", multiplex" : ""})`
      )
      const context = Context.make(PgClient.PgClient, client).pipe(Context.add(SqlClient.SqlClient, client))
      if (direct === undefined) {
        if (pool.transactionPooler === true) {
          yield* Effect.logWarning("DB_TRANSACTION_POOLER without DATABASE_DIRECT_URL: no LISTEN, the outbox relay polls")
        }
        return context
      }
      // A few connections at most: one per LISTEN channel.
      const session = yield* PgPoolClient.make(
        toPoolConfig(direct, { ...pool, min: 0, max: 4, multiplex: false, transactionPooler: false }),
        onConnect
      ).pipe(
        Effect.mapError((error) =>
          new DatabaseUnavailable({ message: `Database ${describeTarget(direct)} (direct): ${reasonOf(error)}` })
        )
      )
      return Context.add(context, SessionClient, session)
    })
  ).pipe(Layer.provide(Reactivity.layer))

/**
 * The database layer from the environment: `DATABASE_URL` or `PGHOST`... (see DatabaseConfig.ts).
 * Fails with a clear message when neither is set.
 */
export const layerConfig: Layer.Layer<
  PgClient.PgClient | SqlClient.SqlClient,
  DatabaseUnavailable | Config.ConfigError
> = Layer.unwrap(
  Effect.gen(function*() {
    const target = yield* externalTarget
    const pool = yield* poolSettings
    if (Option.isNone(target)) {
      return yield* new DatabaseUnavailable({ message: "No database configured: set DATABASE_URL or PGHOST" })
    }
    return layer(target.value, pool)
  })
)
