/**
 * A pooled `PgClient`, built like `@effect/sql-pg`'s `PgClient.make`, with one addition: a hook that
 * runs once on every new physical connection before any statement uses it (adbapi's `cp_openfun`).
 *
 * Why a copy: `PgClient.make` builds its pool internally and offers no connection hook, and
 * `PgConnection` sessions carry their backend PID only once connected. So this module wraps the
 * public `PgPool` checkouts (`get`, `use`) and runs the hook at a connection's first checkout, at
 * most once per physical connection (concurrent first checkouts of a multiplexed connection wait for
 * the same run). Everything else (compiler, transactions, savepoints, `afterCommit`, streams,
 * LISTEN) is the library's own code, reached through `SqlClient.make`. What is still copied from
 * `@effect/sql-pg/src/PgClient.ts` (the `SqlClient.make` options, the `Connection` adapter, the
 * client's extra fields and notify's channel check) is pinned by
 * test/unit/layers/PgPoolClient.contract.test.ts, which fails when the library moves.
 *
 * The second addition, with `multiplex` and at least `minimumToSplit` connections: transactions run
 * on lanes (`TransactionLanes.ts`), connections of their own pool taken by one transaction at a time,
 * where BEGIN travels with the first statement and COMMIT with the next transaction's BEGIN, instead
 * of a round trip each. LISTEN takes its connection from that pool too, leaving the statements'
 * pipelining connections to them (`poolSizes`).
 */
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Reactivity from "effect/reactivity/Reactivity"
import type * as Scope from "effect/Scope"
import * as Client from "effect/sql/SqlClient"
import type { Connection } from "effect/sql/SqlConnection"
import { SqlError, UnknownError } from "effect/sql/SqlError"
import * as Statement from "effect/sql/Statement"
import * as Stream from "effect/Stream"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as PgConnection from "@effect/sql-pg/PgConnection"
import * as PgPool from "@effect/sql-pg/PgPool"
import { poolBackends, poolOpened, poolStats, recording } from "./Metrics.js"
import * as TransactionLanes from "./TransactionLanes.js"

const notCounted = (): void => {}

/** A statement's checkout counted in `poolStats` (while the metrics are recorded): waiting until `acquired` is called, then in use. */
const counted = <A, E, R>(use: (acquired: () => void) => Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.suspend(() => {
    if (!recording()) return use(notCounted)
    let holding = false
    poolStats.waiting++
    return Effect.ensuring(
      use(() => {
        holding = true
        poolStats.waiting--
        poolStats.inUse++
      }),
      Effect.sync(() => {
        if (holding) poolStats.inUse--
        else poolStats.waiting--
      })
    )
  })

/** A scoped checkout (a transaction's) counted in `poolStats` until its scope closes. */
const countedScoped = <A, E>(checkout: Effect.Effect<A, E, Scope.Scope>): Effect.Effect<A, E, Scope.Scope> =>
  Effect.suspend(() => {
    if (!recording()) return checkout
    poolStats.waiting++
    return Effect.onExit(checkout, (exit) =>
      Effect.suspend(() => {
        poolStats.waiting--
        if (exit._tag === "Failure") return Effect.void
        poolStats.inUse++
        return Effect.addFinalizer(() => Effect.sync(() => void poolStats.inUse--))
      }))
  })

/** Runs on every new physical connection, before its first statement. A failure discards the connection. */
export type OnConnect = (connection: PgConnection.PgConnection) => Effect.Effect<void, SqlError>

/**
 * Creates a scoped, pooled `PgClient` whose pool runs `onConnect` on every new physical connection.
 */
export const make = (
  options: PgClient.PgPoolConfig,
  onConnect: OnConnect
): Effect.Effect<PgClient.PgClient, SqlError, Scope.Scope | Reactivity.Reactivity> =>
  Effect.gen(function*() {
    const sizes = poolSizes(options)
    const pool = yield* PgPool.make(sizes.statements)
    // Transactions' own connections, one transaction at a time each (see TransactionLanes).
    const lanePool = sizes.transactions === undefined ? undefined : yield* PgPool.make(sizes.transactions)
    // One Deferred per physical connection: the first checkout runs the hook, later ones await it.
    const opened = new WeakMap<PgConnection.PgConnection, Deferred.Deferred<void, SqlError>>()
    // Connections whose hook succeeded: every later checkout (one per statement) skips the Deferred.
    const ready = new WeakSet<PgConnection.PgConnection>()
    // One adapter per physical connection, not one per statement.
    const adapters = new WeakMap<PgConnection.PgConnection, Connection>()
    const adapter = (connection: PgConnection.PgConnection): Connection => {
      let found = adapters.get(connection)
      if (found === undefined) {
        found = makeConnection(connection)
        adapters.set(connection, found)
      }
      return found
    }
    const prepareOn = (owner: PgPool.PgPool) => (connection: PgConnection.PgConnection): Effect.Effect<void, SqlError> =>
      ready.has(connection) ? Effect.void : Effect.suspend(() => {
        const existing = opened.get(connection)
        if (existing !== undefined) {
          return Deferred.await(existing)
        }
        const done = Deferred.makeUnsafe<void, SqlError>()
        opened.set(connection, done)
        poolOpened.updateUnsafe(1, Context.empty())
        poolBackends.add(connection.processId)
        return onConnect(connection).pipe(
          Effect.onExit((exit) =>
            Exit.isSuccess(exit)
              ? Effect.andThen(Effect.sync(() => ready.add(connection)), Deferred.done(done, exit))
              : Effect.andThen(
                Effect.sync(() => opened.delete(connection)),
                Effect.andThen(Deferred.done(done, Exit.asVoid(exit)), owner.invalidate(connection))
              )
          ),
          Effect.uninterruptible
        )
      })
    const prepare = prepareOn(pool)
    /** Transactions' lanes over `lanePool`, and what LISTEN takes from that pool. */
    const lanesOver = (lanePool: PgPool.PgPool) => {
      const prepareLane = prepareOn(lanePool)
      const lanes = TransactionLanes.make({
        pool: lanePool,
        size: lanePool.config.maxConnections ?? 1,
        prepare: prepareLane,
        // errors are moot: the lane is retired either way
        cancelBackend: (processId) =>
          Effect.ignore(pool.use((connection) => connection.query("SELECT pg_cancel_backend($1)", [processId])))
      })
      return {
        lanes,
        exclusive: lanes.exclusive(
          Effect.flatMap(Effect.tap(lanePool.get, prepareLane), (connection) => connection.pin),
          // Never the last lane (transactions would wait forever): a connection of its own, beyond the pool.
          Effect.tap(PgConnection.make(options), (connection) =>
            Effect.andThen(
              Effect.logWarning(
                `DB_POOL_MAX=${options.maxConnections ?? 10} leaves too few connections for transactions beside LISTEN: one more connection opened for LISTEN`
              ),
              onConnect(connection)
            ))
        )
      }
    }
    const get = Effect.tap(pool.get, prepare)
    const reserve = Effect.flatMap(get, (connection) => connection.pin)
    const split = lanePool === undefined ? undefined : lanesOver(lanePool)
    const lanes = split?.lanes
    // What holds a connection for itself (LISTEN): the lanes' pool when there is one, so the few
    // pipelining connections of single statements are never taken away from them.
    const exclusive = split?.exclusive ?? reserve
    // a transaction's wait for its connection, as a span of its own
    const transactionAcquirer: Effect.Effect<Connection, SqlError, Scope.Scope> = (lanes === undefined
      // A pinned view is a new object per transaction: no adapter cache for it.
      ? Effect.map(countedScoped(reserve), makeConnection)
      : countedScoped(lanes.acquire)).pipe(Effect.withSpan("db.pool.acquire", { kind: "internal" }))
    const client = yield* Client.make({
      acquirer: Effect.map(get, adapter),
      borrower: (f) =>
        counted((acquired) =>
          pool.use((connection) => {
            acquired()
            return ready.has(connection) ? f(adapter(connection)) : Effect.andThen(prepare(connection), f(adapter(connection)))
          })
        ),
      transactionAcquirer,
      // As PgClient.make: Postgres prepares transaction control like any statement.
      prepareTransactionControls: true,
      commit: (connection) =>
        lanes !== undefined && connection instanceof TransactionLanes.LaneConnection
          ? lanes.commit(connection, checkCommitted)
          : commit(connection),
      releaseSavepoint: (name) => `RELEASE SAVEPOINT ${name}`,
      compiler: PgClient.makeCompiler(options.transformQueryNames, options.transformJson),
      driver: "pg",
      spanAttributes: [
        ...(options.spanAttributes ? Object.entries(options.spanAttributes) : []),
        ["db.system.name", "postgresql"],
        ["db.namespace", options.database ?? options.username ?? "postgres"],
        ["server.address", options.host ?? "localhost"],
        ["server.port", options.port ?? 5432]
      ],
      transformRows: options.transformResultNames
        ? Statement.defaultTransforms(options.transformResultNames, options.transformJson).array
        : undefined
    })
    const pgClient: PgClient.PgClient = Object.assign(client, {
      [PgClient.TypeId]: PgClient.TypeId,
      config: options,
      json,
      listen: (channel: string) => Effect.flatMap(exclusive, (connection) => connection.listen(channel)),
      notify: (channel: string, payload: string) => {
        const invalid = validateChannelName(channel, "notify")
        return invalid !== undefined ? Effect.fail(invalid) : Effect.asVoid(Effect.scoped(Effect.flatMap(
          get,
          (connection) => connection.query(`SELECT pg_notify($1, $2)`, [channel, payload])
        )))
      }
    })
    return pgClient
  })

/** The smallest pool split between single statements and transaction lanes. */
export const minimumToSplit = 4

/**
 * How `options`' connections are shared out. With `multiplex` and at least `minimumToSplit`
 * connections, single statements pipeline on a quarter of them (at least one) and transactions get
 * the rest as lanes (`TransactionLanes`), together never more than `maxConnections`; LISTEN holds
 * connections of the lanes' share. Otherwise one pool serves both as the library's `PgClient` does
 * (a transaction pins a connection).
 */
export const poolSizes = (
  options: PgClient.PgPoolConfig
): { readonly statements: PgPool.Config; readonly transactions: PgPool.Config | undefined } => {
  const max = options.maxConnections ?? 10
  const min = options.minConnections ?? 0
  if (options.multiplex !== true || max < minimumToSplit) return { statements: options, transactions: undefined }
  const statementsMax = Math.max(1, Math.floor(max / 4))
  const statementsMin = Math.min(min, statementsMax)
  return {
    statements: { ...options, maxConnections: statementsMax, minConnections: statementsMin },
    transactions: {
      ...options,
      multiplex: true,
      multiplexConcurrency: 1,
      maxConnections: max - statementsMax,
      minConnections: Math.min(min - statementsMin, max - statementsMax)
    }
  }
}

const channelNameEncoder = new TextEncoder()

/** As the library's (internal) check: PostgreSQL truncates longer channel names silently. */
export const validateChannelName = (channel: string, operation: string): SqlError | undefined => {
  if (channelNameEncoder.encode(channel).byteLength <= 63) return undefined
  const message = "PostgreSQL channel names must not exceed 63 UTF-8 bytes"
  return new SqlError({ reason: new UnknownError({ cause: new Error(message), message, operation }) })
}

interface PgJson extends Statement.Custom<"PgJson", unknown> {}
// The compiler from `PgClient.makeCompiler` encodes this custom fragment as jsonb.
const PgJson = Statement.custom<PgJson>("PgJson")

/** `pg.json(value)`: a fragment the compiler from `PgClient.makeCompiler` encodes as jsonb. */
export const json = (value: unknown): Statement.Fragment => Statement.fragment([PgJson(value)])

/**
 * Commits a transaction. PostgreSQL answers `ROLLBACK` to `COMMIT` when the transaction was
 * aborted: that is a failure. Shared with the test kit's PgClientMock so both behave alike.
 */
export const commit = (conn: Connection): Effect.Effect<void, SqlError> =>
  Effect.flatMap(conn.executeRaw("COMMIT", []) as Effect.Effect<PgConnection.Result, SqlError>, checkCommitted)

/** A COMMIT's answer: `ROLLBACK` means the transaction was aborted, a failure. */
const checkCommitted = (result: PgConnection.Result): Effect.Effect<void, SqlError> =>
  result.command === "ROLLBACK"
    ? Effect.fail(
      new SqlError({
        reason: new UnknownError({
          cause: new Error("COMMIT rolled back an aborted transaction"),
          message: "PgClient: COMMIT rolled back an aborted transaction",
          operation: "commit"
        })
      })
    )
    : Effect.void

/** The library's `Connection` adapter over a `PgConnection` session (as in PgClient.ts). */
class ConnectionImpl implements Connection {
  readonly connection: PgConnection.PgConnection
  constructor(connection: PgConnection.PgConnection) {
    this.connection = connection
  }
  private run(query: string, params: ReadonlyArray<unknown>, prepare = true) {
    return Effect.map(this.connection.query(query, params, prepare), (result) => result.rows)
  }
  execute(
    sql: string,
    params: ReadonlyArray<unknown>,
    transformRows: (<A extends object>(row: ReadonlyArray<A>) => ReadonlyArray<A>) | undefined
  ) {
    return transformRows ? Effect.map(this.run(sql, params), transformRows) : this.run(sql, params)
  }
  executeRaw(sql: string, params: ReadonlyArray<unknown>) {
    return this.connection.query(sql, params)
  }
  executeWithoutTransform(sql: string, params: ReadonlyArray<unknown>) {
    return this.run(sql, params)
  }
  executeValues(sql: string, params: ReadonlyArray<unknown>) {
    return this.connection.queryValues(sql, params)
  }
  executeValuesUnprepared(sql: string, params: ReadonlyArray<unknown>) {
    return this.connection.queryValues(sql, params, false)
  }
  executeUnprepared(
    sql: string,
    params: ReadonlyArray<unknown>,
    transformRows: (<A extends object>(row: ReadonlyArray<A>) => ReadonlyArray<A>) | undefined
  ) {
    const operation = this.run(sql, params, false)
    return transformRows ? Effect.map(operation, transformRows) : operation
  }
  executeStream(
    sql: string,
    params: ReadonlyArray<unknown>,
    transformRows: (<A extends object>(row: ReadonlyArray<A>) => ReadonlyArray<A>) | undefined
  ) {
    const stream = this.connection.stream(sql, params)
    return transformRows
      ? Stream.mapArray(stream, (rows) => transformRows(rows) as typeof rows)
      : stream
  }
}

const makeConnection = (connection: PgConnection.PgConnection): Connection => new ConnectionImpl(connection)
