/**
 * com.example.ledger.history: one result at once, or progressive results streamed from a PostgreSQL
 * portal, paced by the component's WebSocket, and stopped in PostgreSQL when the caller cancels or
 * disappears. 100k and 1M transfers are inserted directly with SQL (the procedure only reads them).
 */
import { assert, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as SqlClient from "effect/sql/SqlClient"
import * as Ledger from "../../../src/procedures/ledger/index.js"
import * as Progressive from "../../../src/procedures/Progressive.js"
import { Router } from "../../../src/router/index.js"
import { callRaw, clientSession, componentLayer, inTestDatabaseAsSuperuser, TestDatabase, TestRouter } from "../../support/index.js"
import { callersRouterConfig, urlFor } from "./callers.js"
import { liveHeapBytes } from "../../support/liveHeap.js"
import { type CallFailure, rawCaller } from "./rawCaller.js"

const Component = componentLayer(Ledger.layer).pipe(
  Layer.provideMerge(TestRouter.layer({ configFile: callersRouterConfig })),
  Layer.provideMerge(TestDatabase.layer)
)

const L = "com.example.ledger"
const BIG = 100_000
/** The cancel tests need a query PostgreSQL cannot finish into socket buffers (~6 MB for 100k rows). */
const HUGE = 1_000_000

interface Row {
  readonly id: number
  readonly from: number
  readonly to: number
  readonly amount: number
  readonly at: string
}

/**
 * Accounts: `big` sends BIG transfers of 1 to `sink`; `small` has 5 transfers both ways. The readers
 * call as the admin authrole, whom row-level security lets see every account (isolation.test.ts
 * covers the owners' view); the data is written as the superuser.
 */
const setup = inTestDatabaseAsSuperuser((sql) =>
  Effect.gen(function*() {
    const open = (owner: string, balance: number) =>
      Effect.map(
        sql<{ id: string }>`INSERT INTO ledger_accounts (owner, balance) VALUES (${owner}, ${balance}) RETURNING id::text`,
        (rows) => Number(rows[0]!.id)
      )
    const big = yield* open("big", BIG)
    const sink = yield* open("sink", 0)
    const huge = yield* open("huge", HUGE)
    const small = yield* open("small", 100)
    const other = yield* open("other", 100)
    for (const [from, to, amount] of [[small, other, 1], [other, small, 2], [small, other, 3], [other, small, 4], [small, other, 5]]) {
      yield* sql`INSERT INTO ledger_transfers (from_account, to_account, amount) VALUES (${from}, ${to}, ${amount})`
    }
    // Bulk test data: the row triggers (owners, posting, foreign keys) are skipped for the load.
    yield* sql.withTransaction(Effect.gen(function*() {
      yield* sql`SET LOCAL session_replication_role = replica`
      yield* sql`INSERT INTO ledger_transfers (from_account, to_account, amount, from_owner, to_owner)
                 SELECT ${big}, ${sink}, 1, 'big', 'sink' FROM generate_series(1, ${BIG})`
      yield* sql`INSERT INTO ledger_transfers (from_account, to_account, amount, from_owner, to_owner)
                 SELECT ${huge}, ${sink}, 1, 'huge', 'sink' FROM generate_series(1, ${HUGE})`
    }))
    yield* sql`ANALYZE ledger_transfers`
    return { big, huge, sink, small, other }
  })
).pipe(Effect.orDie)

/**
 * The accounts and their 1.1M transfers, built once with the layer: the load runs in the setup hook,
 * under the layer's own timeout, not inside the first test's.
 */
class Accounts extends Context.Service<Accounts, Effect.Success<typeof setup>>()("wampgres/test/ledger/history/Accounts") {}
const ensureSetup = Accounts

const Env = Layer.effect(Accounts, setup).pipe(Layer.provideMerge(Component))

/** Backends of this database running the history query right now. */
const activeHistoryQueries = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql<{ pid: number; state: string }>`
    SELECT pid, state FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid()
      AND query LIKE '%UNION ALL%' AND query LIKE '%ledger_transfers%' AND state = 'active'`)

const waitUntil = <R>(check: Effect.Effect<boolean, unknown, R>, millis: number) =>
  Effect.gen(function*() {
    const deadline = Date.now() + millis
    while (Date.now() < deadline) {
      if (yield* check) return true
      yield* Effect.sleep("20 millis")
    }
    return false
  })

layer(Env, { excludeTestServices: true, timeout: "240 seconds" })("com.example.ledger.history", (it) => {
  it.effect("without receive_progress: {count, transfers} oldest first, bounded by limit", () =>
    Effect.gen(function*() {
      const { other, small } = yield* ensureSetup
      const session = yield* clientSession(urlFor(yield* Router, "admin"))
      const all = (yield* callRaw(session, `${L}.history`, { kwargs: { account: small } })).args[0] as {
        count: number
        transfers: Array<Row>
      }
      assert.strictEqual(all.count, 5)
      assert.deepStrictEqual(all.transfers.map((t) => [t.from, t.to, t.amount]), [
        [small, other, 1],
        [other, small, 2],
        [small, other, 3],
        [other, small, 4],
        [small, other, 5]
      ])
      for (let i = 1; i < all.transfers.length; i++) assert.isAbove(all.transfers[i]!.id, all.transfers[i - 1]!.id)
      for (const t of all.transfers) assert.isFalse(Number.isNaN(Date.parse(t.at)))
      const limited = (yield* callRaw(session, `${L}.history`, { kwargs: { account: small, limit: 2 } })).args[0]
      assert.deepStrictEqual(limited, { count: 2, transfers: all.transfers.slice(0, 2) })
      // Without a limit the one-shot form stops at its default (1000), never the whole history.
      const capped = (yield* callRaw(session, `${L}.history`, { kwargs: { account: (yield* ensureSetup).big } })).args[0] as {
        count: number
      }
      assert.strictEqual(capped.count, 1000)
    }))

  it.effect("unknown account is no_such_account; a limit too big for one result is invalid_argument", () =>
    Effect.gen(function*() {
      const { big } = yield* ensureSetup
      const session = yield* clientSession(urlFor(yield* Router, "admin"))
      const unknown = yield* Effect.flip(callRaw(session, `${L}.history`, { kwargs: { account: 424242 } }))
      assert.strictEqual(unknown.error, `${L}.error.no_such_account`)
      const tooMany = yield* Effect.flip(callRaw(session, `${L}.history`, { kwargs: { account: big, limit: 10_001 } }))
      assert.strictEqual(tooMany.error, "wamp.error.invalid_argument")
      const zero = yield* Effect.flip(callRaw(session, `${L}.history`, { kwargs: { account: big, limit: 0 } }))
      assert.strictEqual(zero.error, "wamp.error.invalid_argument")
    }))

  it.effect("with receive_progress: one progressive result per transfer, then {count}", () =>
    Effect.gen(function*() {
      const { small } = yield* ensureSetup
      const caller = yield* rawCaller(urlFor(yield* Router, "admin"))
      const session = yield* clientSession(urlFor(yield* Router, "admin"))
      const expected = ((yield* callRaw(session, `${L}.history`, { kwargs: { account: small } })).args[0] as { transfers: Array<Row> })
        .transfers
      const rows: Array<unknown> = []
      const final = yield* Effect.promise(() =>
        caller.call(`${L}.history`, { account: small }, { receive_progress: true }, { onProgress: (row) => rows.push(row) }).result
      )
      assert.deepStrictEqual(final, { count: 5 })
      assert.deepStrictEqual(rows, expected)
      const limited: Array<unknown> = []
      const two = yield* Effect.promise(() =>
        caller.call(`${L}.history`, { account: small, limit: 2 }, { receive_progress: true }, { onProgress: (row) => limited.push(row) })
          .result
      )
      assert.deepStrictEqual(two, { count: 2 })
      assert.deepStrictEqual(limited, expected.slice(0, 2))
    }))

  it.effect("100k transfers stream oldest first with a bounded socket backlog and heap", () =>
    Effect.gen(function*() {
      const { big, sink } = yield* ensureSetup
      const caller = yield* rawCaller(urlFor(yield* Router, "admin"))
      const heapBefore = liveHeapBytes()
      let received = 0
      let lastId = 0
      let ordered = true
      let maxHeap = heapBefore
      const final = yield* Effect.promise(() =>
        caller.call(`${L}.history`, { account: big }, { receive_progress: true }, {
          onProgress: (value) => {
            const row = value as Row
            received++
            if (row.id <= lastId || row.from !== big || row.to !== sink) ordered = false
            lastId = row.id
            // The live heap (after a full collection) while rows are in flight: what the stream
            // retains, not the garbage it leaves for the collector.
            if (received % 10_000 === 0) maxHeap = Math.max(maxHeap, liveHeapBytes())
          }
        }).result
      )
      assert.deepStrictEqual(final, { count: BIG })
      assert.strictEqual(received, BIG)
      assert.isTrue(ordered, "rows oldest first, all of the account")
      const growthMb = (maxHeap - heapBefore) / 1024 / 1024
      const backlog = yield* Metric.value(Metric.withAttributes(Progressive.socketBacklog, { procedure: `${L}.history` }))
      yield* Effect.logInfo(`history ${BIG}: socket backlog at most ${backlog.max} bytes, heap growth ${growthMb.toFixed(1)} MB`)
      assert.isBelow(backlog.max, 256 * 1024)
      // Router, caller and component share this heap (1.5 MB of growth measured); 100k rows held
      // as objects take 11 MB, with their JSON frames 24 MB, so a stream that buffered its result
      // anywhere would cross this line. The pacing is checked from outside in backpressure.test.ts.
      assert.isBelow(growthMb, 8)
    }), 180_000)

  it.effect("the whole history is read by merging two index scans (first row at once, no sort)", () =>
    Effect.gen(function*() {
      const { big } = yield* ensureSetup
      const sql = yield* SqlClient.SqlClient
      // As the handler plans it: in its transaction, with its planner setting, row-level security on.
      const plan = yield* sql.withTransaction(Effect.andThen(
        Ledger.historyPlanner(sql),
        sql<{ "QUERY PLAN": string }>`EXPLAIN SELECT id FROM (
          (SELECT * FROM ledger_transfers WHERE from_account = ${big} ORDER BY id)
          UNION ALL
          (SELECT * FROM ledger_transfers WHERE to_account = ${big} ORDER BY id)) AS t ORDER BY id`
      ))
      const text = plan.map((row) => row["QUERY PLAN"]).join("\n")
      assert.include(text, "Merge Append", text)
      assert.notMatch(text, /Sort {2}\(/, text)
    }))

  /**
   * Each cancel mode the component honours (the router forwards INTERRUPT for kill and killnowait;
   * skip leaves the callee running by definition). Observed from outside: the rows the caller still
   * gets after its CANCEL (only what was already on its way: the router's buffer toward the caller
   * and the socket buffers between them), PostgreSQL's statistics (the canceled statement aborts its
   * transaction: xact_rollback of this database grows), and the backend that ran it, still
   * connected and idle, back in the pool and serving the next call.
   */
  for (const mode of ["kill", "killnowait"] as const) {
    it.effect(`CANCEL (${mode}) stops the query in PostgreSQL and the connection returns healthy`, () =>
      Effect.gen(function*() {
        const { huge, small } = yield* ensureSetup
        const sql = yield* SqlClient.SqlClient
        const rollbacks = Effect.map(
          sql<{ n: string }>`SELECT xact_rollback::text AS n FROM pg_stat_database WHERE datname = current_database()`,
          (rows) => Number(rows[0]!.n)
        )
        yield* sql`SELECT pg_stat_force_next_flush()`
        const rollbacksBefore = yield* rollbacks
        const caller = yield* rawCaller(urlFor(yield* Router, "admin"))
        let received = 0
        let afterCancel = 0
        let canceled = false
        const call = caller.call(`${L}.history`, { account: huge }, { receive_progress: true }, {
          onProgress: () => {
            received++
            if (canceled) afterCancel++
          }
        })
        const outcome = call.result.then(() => undefined, (failure: CallFailure) => failure)
        assert.isTrue(yield* waitUntil(Effect.sync(() => received >= 2000), 30_000), "rows arrive")
        const active = yield* activeHistoryQueries
        assert.strictEqual(active.length, 1, "the query was running when the call was canceled")
        const backend = active[0]!.pid
        let backendState = "unknown"
        caller.cancel(call.requestId, mode)
        canceled = true
        const failure = yield* Effect.promise(() => outcome)
        assert.strictEqual(failure?.error, "wamp.error.canceled")
        // only what was on its way: under 5000 rows (about 300 KB: the router's buffer toward the
        // caller and the loopback socket buffers; 1 to 5 measured on an idle machine), of ~1M to go
        yield* Effect.logInfo(`history canceled (${mode}): ${afterCancel} rows after CANCEL, ${received} in all`)
        assert.isBelow(afterCancel, 5_000, `${afterCancel} rows after CANCEL`)
        assert.isBelow(received, HUGE / 2)

        // PostgreSQL's view: the statement left the active state and its transaction was rolled back
        assert.isTrue(
          yield* waitUntil(Effect.map(activeHistoryQueries, (rows) => rows.length === 0), 30_000),
          "the query is gone from pg_stat_activity"
        )
        assert.isTrue(
          yield* waitUntil(Effect.map(rollbacks, (n) => n > rollbacksBefore), 30_000),
          `xact_rollback grew: PostgreSQL canceled the statement (${rollbacksBefore} before, ${yield* rollbacks} now)`
        )
        // the same backend is still connected and idle (not in an aborted transaction), or serving this
        // very check (the test shares the component's pool): back in the pool
        assert.isTrue(
          yield* waitUntil(
            Effect.map(
              sql<{ state: string }>`SELECT CASE WHEN pid = pg_backend_pid() THEN 'running this check' ELSE state END AS state
                                     FROM pg_stat_activity WHERE pid = ${backend}`,
              (rows) => {
                backendState = rows.map((row) => row.state).join() || "gone"
                return backendState === "idle" || backendState === "running this check"
              }
            ),
            30_000
          ),
          `the backend is idle in the pool (it is ${backendState})`
        )
        // and the pool serves the next streamed call to the end
        const rows: Array<unknown> = []
        const final = yield* Effect.promise(() =>
          caller.call(`${L}.history`, { account: small }, { receive_progress: true }, { onProgress: (row) => rows.push(row) }).result
        )
        assert.deepStrictEqual(final, { count: 5 })
        assert.strictEqual(rows.length, 5)
      }), 120_000)
  }

  it.effect("a caller that vanishes mid-stream stops the query in PostgreSQL", () =>
    Effect.gen(function*() {
      const { huge } = yield* ensureSetup
      const caller = yield* rawCaller(urlFor(yield* Router, "admin"))
      let received = 0
      const call = caller.call(`${L}.history`, { account: huge }, { receive_progress: true }, { onProgress: () => void received++ })
      call.result.catch(() => undefined)
      assert.isTrue(yield* waitUntil(Effect.sync(() => received >= 2000), 30_000), "rows arrive")
      assert.strictEqual((yield* activeHistoryQueries).length, 1, "the query runs while streaming")
      caller.drop()
      assert.isTrue(
        yield* waitUntil(Effect.map(activeHistoryQueries, (rows) => rows.length === 0), 30_000),
        "the query is gone from pg_stat_activity"
      )
      // The component still answers.
      const session = yield* clientSession(urlFor(yield* Router, "admin"))
      const account = yield* callRaw(session, `${L}.get_account`, { args: [huge] })
      assert.strictEqual((account.args[0] as { id: number }).id, huge)
    }))
})
