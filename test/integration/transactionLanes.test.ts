/**
 * Transactions on lanes (`TransactionLanes`): a transaction's BEGIN travels with its first statement,
 * and under load its COMMIT travels with the next transaction's BEGIN, so a transaction costs about one
 * write to PostgreSQL (counted on the client's sockets). Each transaction keeps its meaning: its
 * statements run in one transaction block of their own and commit or roll back together, whatever
 * came before it on the lane. A statement sent ahead (`Transaction.ahead`: the caller's settings, an
 * outbox event) travels with the next statement or the COMMIT, and its failure is the transaction's.
 * An interrupted statement is canceled in PostgreSQL and its connection
 * not used again, nor is one that failed; LISTEN gets its connection while the lanes are busy.
 */
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as Schedule from "effect/Schedule"
import * as SqlClient from "effect/sql/SqlClient"
import { isSqlError } from "effect/sql/SqlError"
import * as fc from "fast-check"
import * as Net from "node:net"
import * as PgPoolClient from "../../src/layers/PgPoolClient.js"
import * as Caller from "../../src/procedures/Caller.js"
import * as Transaction from "../../src/procedures/Transaction.js"
import { postgresInfo, TestDatabase } from "../support/index.js"

/** Socket writes of every connection the client opens, counted. */
const writes = { count: 0 }

/** Lanes of the client below: 4 connections, 1 for single statements, 3 lanes. */
const LANES = 3

/** A client with 1 connection for statements and 3 lanes, whose socket writes are counted. */
const countingClient = Effect.gen(function*() {
  const db = yield* TestDatabase
  const pg = postgresInfo()
  if (db.target._tag !== "Fields") throw new Error("expected a field target")
  const { database, password, username } = db.target
  const socket = () => {
    const connection = pg.socketDir !== undefined
      ? Net.connect({ path: `${pg.socketDir}/.s.PGSQL.${pg.port}` })
      : Net.connect({ host: pg.host, port: pg.port })
    const write = connection.write.bind(connection) as (...args: Array<unknown>) => boolean
    connection.write = ((...args: Array<unknown>) => {
      writes.count++
      return write(...args)
    }) as typeof connection.write
    return connection
  }
  assert.strictEqual(PgPoolClient.poolSizes({ maxConnections: 4, multiplex: true }).transactions?.maxConnections, LANES)
  return yield* PgPoolClient.make(
    { stream: socket, ssl: false, database, username, password, minConnections: 0, maxConnections: 4, multiplex: true },
    () => Effect.void
  )
})

/** Writes made while `effect` runs. */
const writesOf = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const before = writes.count
    const value = yield* effect
    return { value, writes: writes.count - before }
  })

const failureOf = <A, E>(exit: Exit.Exit<A, E>): unknown => {
  const reason = Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined
  return reason?._tag === "Fail" ? reason.error : reason?._tag === "Die" ? reason.defect : undefined
}

/**
 * Keeps `transactions` concurrent transactions running until `stop` is set (or the test's scope
 * closes); counts them.
 */
const keepBusy = (sql: SqlClient.SqlClient, transactions: number) =>
  Effect.gen(function*() {
    const state = { stop: false, done: 0 }
    yield* Effect.addFinalizer(() => Effect.sync(() => void (state.stop = true)))
    const loop = Effect.whileLoop({
      while: () => !state.stop,
      body: () => sql.withTransaction(sql`SELECT pg_sleep(0.002)`),
      step: () => void state.done++
    })
    const fiber = yield* Effect.forkChild(
      Effect.forEach(Array.from({ length: transactions }), () => loop, { concurrency: "unbounded", discard: true })
    )
    return { state, fiber }
  })

/** The SQLSTATE of a failed transaction's SqlError (`undefined`: it did not fail with one). */
const sqlStateOf = <A, E>(exit: Exit.Exit<A, E>): string | undefined => {
  const failure = failureOf(exit)
  return isSqlError(failure) ? JSON.stringify(failure).match(/"code":"([0-9A-Z]{5})"/)?.[1] : undefined
}

/** How many rows `table` has now. */
const rowsIn = (sql: SqlClient.SqlClient, table: string) =>
  Effect.map(sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql(table)}`, (rows) => rows[0]!.n)

/** `count` transactions at once, the i-th answering `SELECT i`: the numbers they answered, in order. */
const numbered = (sql: SqlClient.SqlClient, count: number) =>
  Effect.forEach(
    Array.from({ length: count }, (_, i) => i),
    (i) => Effect.map(sql.withTransaction(sql<{ n: number }>`SELECT ${i}::int AS n`), (rows) => rows[0]!.n),
    { concurrency: "unbounded" }
  )

/** 0, 1, ..., count - 1 */
const upTo = (count: number) => Array.from({ length: count }, (_, i) => i)

const caller = (role: string | undefined): Caller.Identity => ({ authid: "ada", authrole: "user", session: 42, role })

const Env = TestDatabase.layer

layer(Env, { excludeTestServices: true, timeout: "90 seconds" })("transaction lanes", (it) => {
  it.effect("alone, a transaction's BEGIN travels with its first statement: one write for both, one for COMMIT", () =>
    Effect.gen(function*() {
      const sql = yield* countingClient
      yield* sql.withTransaction(sql`SELECT 1`) // the lane opened, the statements prepared
      const { value, writes: n } = yield* writesOf(sql.withTransaction(sql<{ n: number }>`SELECT 2 AS n`))
      assert.deepStrictEqual(value, [{ n: 2 }])
      assert.strictEqual(n, 2)
      // ... inside the transaction block: a transaction-local setting made by the first statement
      // holds for the second (outside a block it would end with its own statement)
      const [seen] = yield* sql.withTransaction(
        Effect.andThen(
          sql`SELECT set_config('lanes.mark', 'set', true)`,
          sql<{ mark: string }>`SELECT current_setting('lanes.mark', true) AS mark`
        )
      )
      assert.strictEqual(seen!.mark, "set")
    }).pipe(Effect.scoped, Effect.provide(Reactivity.layer)))

  it.effect("under load, a COMMIT travels with the next transaction's BEGIN: about one write per transaction", () =>
    Effect.gen(function*() {
      const sql = yield* countingClient
      const count = 120
      yield* numbered(sql, LANES) // the lanes opened, the statements prepared
      const { value, writes: n } = yield* writesOf(numbered(sql, count))
      assert.deepStrictEqual(value, upTo(count))
      // each lane's first BEGIN and last COMMIT go alone; every other write carries a COMMIT and a BEGIN
      assert.isAtMost(n, count + 2 * LANES)
      assert.isAtLeast(n, count)
    }).pipe(Effect.scoped, Effect.provide(Reactivity.layer)))

  it.effect("each transaction is a block of its own: its statements share one transaction id, no other shares it", () =>
    Effect.gen(function*() {
      const sql = yield* countingClient
      const xid = sql<{ xid: string }>`SELECT pg_current_xact_id()::text AS xid`
      const pairs = yield* Effect.forEach(
        Array.from({ length: 60 }),
        () => sql.withTransaction(Effect.all([xid, xid])),
        { concurrency: "unbounded" }
      )
      for (const [first, second] of pairs) assert.strictEqual(first[0]!.xid, second[0]!.xid)
      assert.strictEqual(new Set(pairs.map(([first]) => first[0]!.xid)).size, pairs.length)
    }).pipe(Effect.scoped, Effect.provide(Reactivity.layer)))

  it.effect("statements commit or roll back together, whatever the lane's previous transaction did", () =>
    Effect.gen(function*() {
      const sql = yield* countingClient
      yield* sql`CREATE TABLE IF NOT EXISTS lane_marks (mark int NOT NULL)`
      const insert = (mark: number) => sql`INSERT INTO lane_marks VALUES (${mark})`
      // odd transactions insert twice and fail; even ones insert twice and commit; all at once on 3 lanes
      const exits = yield* Effect.forEach(
        upTo(60),
        (i) =>
          Effect.exit(sql.withTransaction(
            Effect.andThen(insert(i), Effect.andThen(insert(i), i % 2 === 1 ? Effect.fail(`stop ${i}`) : Effect.void))
          )),
        { concurrency: "unbounded" }
      )
      assert.deepStrictEqual(exits.map(Exit.isSuccess), exits.map((_, i) => i % 2 === 0))
      const rows = yield* sql<{ mark: number; n: number }>`SELECT mark, count(*)::int AS n FROM lane_marks GROUP BY mark ORDER BY mark`
      assert.deepStrictEqual(rows, Array.from({ length: 30 }, (_, i) => ({ mark: 2 * i, n: 2 })))
    }).pipe(Effect.scoped, Effect.provide(Reactivity.layer)))

  it.effect("the COMMIT of an aborted transaction fails, and the transaction after it on the lane commits", () =>
    Effect.gen(function*() {
      const sql = yield* countingClient
      yield* sql`CREATE TABLE IF NOT EXISTS lane_aborted (mark int NOT NULL)`
      // a body that swallows its statement's error: PostgreSQL has aborted the block, COMMIT answers ROLLBACK
      const swallowing = sql.withTransaction(
        Effect.andThen(sql`INSERT INTO lane_aborted VALUES (-1)`, Effect.ignore(sql`SELECT 1 / 0`))
      )
      const fine = (mark: number) => sql.withTransaction(sql`INSERT INTO lane_aborted VALUES (${mark})`)
      const exits = yield* Effect.forEach(
        upTo(30),
        (i) => Effect.exit(i % 3 === 0 ? swallowing : fine(i)),
        { concurrency: "unbounded" }
      )
      exits.forEach((exit, i) => {
        if (i % 3 !== 0) return assert.isTrue(Exit.isSuccess(exit), `transaction ${i} failed`)
        assert.isTrue(isSqlError(failureOf(exit)), `transaction ${i} should fail with an SqlError`)
      })
      const rows = yield* sql<{ mark: number }>`SELECT mark FROM lane_aborted ORDER BY mark`
      assert.deepStrictEqual(rows.map((row) => row.mark), upTo(30).filter((i) => i % 3 !== 0))
    }).pipe(Effect.scoped, Effect.provide(Reactivity.layer)))

  it.effect("as a caller, the settings travel with the BEGIN and the first statement, which sees them", () =>
    Effect.gen(function*() {
      const sql = yield* countingClient
      const whoami = sql<{ authid: string; session: string }>`SELECT current_setting('wampgres.authid', true) AS authid, current_setting('wampgres.session', true) AS session`
      const asAda = Transaction.around(whoami).pipe(
        Effect.provideService(Caller.Caller, caller(undefined)),
        Effect.provideService(SqlClient.SqlClient, sql)
      )
      yield* asAda
      const { value, writes: n } = yield* writesOf(asAda)
      assert.deepStrictEqual(value, [{ authid: "ada", session: "42" }])
      assert.strictEqual(n, 2)
      // the settings end with the transaction
      const [after] = yield* whoami
      assert.strictEqual(after!.authid ?? "", "")
    }).pipe(Effect.scoped, Effect.provide(Reactivity.layer)))

  it.effect("a setting sent ahead that fails aborts the transaction: its own error, the statement behind it undone", () =>
    Effect.gen(function*() {
      const sql = yield* countingClient
      yield* sql`CREATE TABLE IF NOT EXISTS lane_as_nobody (mark text NOT NULL)`
      const exit = yield* Effect.exit(
        Transaction.around(sql`INSERT INTO lane_as_nobody VALUES ('as nobody')`).pipe(
          Effect.provideService(Caller.Caller, caller("no_such_role")),
          Effect.provideService(SqlClient.SqlClient, sql)
        )
      )
      // the setting's own error (22023: no such role), not the refused statement's (25P02)
      assert.strictEqual(sqlStateOf(exit), "22023")
      assert.strictEqual(yield* rowsIn(sql, "lane_as_nobody"), 0)
    }).pipe(Effect.scoped, Effect.provide(Reactivity.layer)))

  it.effect("a statement sent ahead last travels with the COMMIT, which reports its failure: nothing commits", () =>
    Effect.gen(function*() {
      const sql = yield* countingClient
      yield* sql`CREATE TABLE IF NOT EXISTS lane_ahead (mark int NOT NULL CHECK (mark >= 0))`
      const write = (mark: number) =>
        sql.withTransaction(
          Effect.andThen(sql`INSERT INTO lane_ahead VALUES (${mark + 1000})`, Transaction.ahead(sql`INSERT INTO lane_ahead VALUES (${mark})`))
        ).pipe(Effect.provideService(SqlClient.SqlClient, sql))
      yield* write(0)
      // alone: BEGIN with the first INSERT, then the one sent ahead with the COMMIT
      const { writes: n } = yield* writesOf(write(1))
      assert.strictEqual(n, 2)
      assert.strictEqual(sqlStateOf(yield* Effect.exit(write(-1))), "23514")
      const rows = yield* sql<{ mark: number }>`SELECT mark FROM lane_ahead ORDER BY mark`
      assert.deepStrictEqual(rows.map((row) => row.mark), [0, 1, 1000, 1001])
      // outside a transaction it is awaited like any statement
      const outside = Transaction.ahead(sql`INSERT INTO lane_ahead VALUES (-2)`).pipe(Effect.provideService(SqlClient.SqlClient, sql))
      assert.strictEqual(sqlStateOf(yield* Effect.exit(outside)), "23514")
    }).pipe(Effect.scoped, Effect.provide(Reactivity.layer)))

  it.effect("inside a savepoint a statement is never sent ahead: its failure stays a failure of the nested transaction", () =>
    Effect.gen(function*() {
      const sql = yield* countingClient
      yield* sql`CREATE TABLE IF NOT EXISTS lane_nested (mark int NOT NULL CHECK (mark >= 0))`
      const nested = sql.withTransaction(Transaction.ahead(sql`INSERT INTO lane_nested VALUES (-1)`))
      const exit = yield* Effect.exit(
        sql.withTransaction(
          Effect.andThen(sql`INSERT INTO lane_nested VALUES (1)`, Effect.ignore(nested))
        ).pipe(Effect.provideService(SqlClient.SqlClient, sql))
      )
      // the savepoint rolled back, the outer transaction went on and committed its own row
      assert.isTrue(Exit.isSuccess(exit), `expected success, got ${String(failureOf(exit))}`)
      const rows = yield* sql<{ mark: number }>`SELECT mark FROM lane_nested`
      assert.deepStrictEqual(rows.map((row) => row.mark), [1])
    }).pipe(Effect.scoped, Effect.provide(Reactivity.layer)))

  it.effect("a custom BEGIN is awaited: when it fails, the statement behind it never runs", () =>
    Effect.gen(function*() {
      const sql = yield* countingClient
      yield* sql`CREATE TABLE IF NOT EXISTS lane_custom (mark text NOT NULL)`
      const exit = yield* Effect.exit(
        sql.withTransaction(sql`INSERT INTO lane_custom VALUES ('outside')`).pipe(
          Effect.provideService(SqlClient.BeginTransaction, "BEGIN ISOLATION LEVEL NONSENSE")
        )
      )
      assert.strictEqual(sqlStateOf(exit), "42601")
      const serializable = yield* sql.withTransaction(sql<{ level: string }>`SELECT current_setting('transaction_isolation') AS level`).pipe(
        Effect.provideService(SqlClient.BeginTransaction, "BEGIN ISOLATION LEVEL SERIALIZABLE")
      )
      assert.strictEqual(serializable[0]!.level, "serializable")
      assert.strictEqual(yield* rowsIn(sql, "lane_custom"), 0)
    }).pipe(Effect.scoped, Effect.provide(Reactivity.layer)))

  it.effect("an interrupted statement is canceled in PostgreSQL and its connection is not used again", () =>
    Effect.gen(function*() {
      const sql = yield* countingClient
      const backendOf = (mark: string) =>
        sql<{ pid: number }>`SELECT pid FROM pg_stat_activity WHERE query LIKE ${`%${mark}%`} AND pid <> pg_backend_pid()`
      const sleeping = yield* Effect.forkChild(sql.withTransaction(sql`SELECT pg_sleep(60), 'lane-sleep'`))
      const [backend] = yield* backendOf("lane-sleep").pipe(
        Effect.filterOrFail((rows) => rows.length === 1),
        Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 1500 })
      )
      yield* Fiber.interrupt(sleeping) // returns once the transaction has rolled back: not after 60 s
      // the backend that slept is gone: its connection was closed, not handed to the next transaction
      yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = ${backend!.pid}`.pipe(
        Effect.map((rows) => rows[0]!.n),
        Effect.filterOrFail((n) => n === 0),
        Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 1500 })
      )
      const [next] = yield* sql.withTransaction(sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`)
      assert.notStrictEqual(next!.pid, backend!.pid)
    }).pipe(Effect.scoped, Effect.provide(Reactivity.layer)))

  it.effect("a lane whose connection dies is not handed on: the transactions after it succeed", () =>
    Effect.gen(function*() {
      const sql = yield* countingClient
      const busy = yield* keepBusy(sql, 12)
      yield* Effect.sleep("100 millis")
      // end every lane's backend (not this statement's own)
      const pids = yield* sql<{ pid: number }>`SELECT pid FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'`
      yield* sql`SELECT pg_terminate_backend(pid) FROM unnest(${pids.map((row) => row.pid)}::int[]) AS pid`
      busy.state.stop = true
      yield* Effect.exit(Fiber.join(busy.fiber)) // some transactions failed with their connection
      assert.deepStrictEqual(yield* numbered(sql, 30), upTo(30))
    }).pipe(Effect.scoped, Effect.provide(Reactivity.layer)))

  it.effect("LISTEN gets a connection of the lanes' pool while transactions keep every lane busy", () =>
    Effect.gen(function*() {
      const sql = yield* countingClient
      const busy = yield* keepBusy(sql, 20)
      yield* Effect.sleep("200 millis")
      const before = busy.state.done
      const notifications = yield* sql.listen("lanes_wake").pipe(Effect.timeout("10 seconds"))
      yield* sql.notify("lanes_wake", "hello")
      const received = yield* Queue.take(notifications).pipe(Effect.timeout("10 seconds"))
      assert.strictEqual(received.payload, "hello")
      // and the transactions went on meanwhile
      yield* Effect.sleep("100 millis")
      assert.isAbove(busy.state.done, before)
      busy.state.stop = true
      yield* Fiber.join(busy.fiber)
    }).pipe(Effect.scoped, Effect.provide(Reactivity.layer)))

  it.effect("LISTEN never takes the last lane: beyond that it opens a connection of its own, and transactions go on", () =>
    Effect.gen(function*() {
      const sql = yield* countingClient
      const channels = ["lanes_a", "lanes_b", "lanes_c", "lanes_d"]
      const queues = yield* Effect.forEach(channels, (channel) => sql.listen(channel).pipe(Effect.timeout("10 seconds")))
      assert.deepStrictEqual(yield* numbered(sql, 20).pipe(Effect.timeout("10 seconds")), upTo(20))
      yield* Effect.forEach(channels, (channel) => sql.notify(channel, channel))
      const received = yield* Effect.forEach(queues, (queue) => Queue.take(queue).pipe(Effect.timeout("10 seconds")))
      assert.deepStrictEqual(received.map((n) => n.payload), channels)
    }).pipe(Effect.scoped, Effect.provide(Reactivity.layer)))

  it.effect("any mix of concurrent transactions on 3 lanes: exactly the ones that succeed are committed, whole (property)", () =>
    Effect.gen(function*() {
      const sql = yield* countingClient
      yield* sql`CREATE TABLE IF NOT EXISTS lane_mix (run int NOT NULL, tx int NOT NULL, part int NOT NULL CHECK (part >= 0))`
      const kinds = ["commits", "fails", "swallows an error", "sends ahead", "sends ahead what fails"] as const
      type Kind = typeof kinds[number]
      const commits = (kind: Kind) => kind === "commits" || kind === "sends ahead"
      const transaction = (run: number, tx: number, kind: Kind, pause: number) => {
        const insert = (part: number) => sql`INSERT INTO lane_mix VALUES (${run}, ${tx}, ${part})`
        const second = kind === "sends ahead" ? Transaction.ahead(insert(1)) : kind === "sends ahead what fails" ? Transaction.ahead(insert(-1)) : insert(1)
        const body = Effect.gen(function*() {
          yield* insert(0)
          if (pause > 0) yield* sql`SELECT pg_sleep(${pause / 1000})`
          if (kind === "swallows an error") yield* Effect.ignore(sql`SELECT 1 / 0`)
          yield* second
          if (kind === "fails") return yield* Effect.fail("stop")
        })
        return sql.withTransaction(body).pipe(Effect.provideService(SqlClient.SqlClient, sql))
      }
      let runs = 0
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(
            fc.array(fc.record({ kind: fc.constantFrom(...kinds), pause: fc.constantFrom(0, 0, 1, 3) }), { minLength: 1, maxLength: 30 }),
            async (plan) => {
              const run = ++runs
              const exits = await Effect.runPromise(Effect.forEach(
                plan,
                ({ kind, pause }, tx) => Effect.exit(transaction(run, tx, kind, pause)),
                { concurrency: "unbounded" }
              ))
              assert.deepStrictEqual(exits.map(Exit.isSuccess), plan.map(({ kind }) => commits(kind)))
              const rows = await Effect.runPromise(
                sql<{ tx: number; parts: string }>`SELECT tx, string_agg(part::text, ',' ORDER BY part) AS parts
                  FROM lane_mix WHERE run = ${run} GROUP BY tx ORDER BY tx`
              )
              assert.deepStrictEqual(
                rows,
                plan.flatMap(({ kind }, tx) => commits(kind) ? [{ tx, parts: "0,1" }] : [])
              )
            }
          ),
          { numRuns: 25 }
        )
      )
    }).pipe(Effect.scoped, Effect.provide(Reactivity.layer)))
})
