/**
 * Backpressure end to end, with no proxy: a caller that stops reading its WebSocket in the middle
 * of a streamed history makes the router stop reading the component (the caller's unsent bytes
 * pass the router's high-water mark), the component's socket then stops draining so Progressive
 * stops sending, and PostgreSQL is left blocked writing rows nobody reads (its backend waits on
 * ClientWrite, the query neither finished nor canceled). When the caller reads again, every row
 * arrives in order and the count is the whole history.
 *
 * Without the router's pause the caller's buffer grows until the router drops it as a slow peer,
 * which cancels the query: the query is gone from pg_stat_activity and no final result arrives.
 *
 * The router here lets a caller hold the component back for 60 s (`slow_caller_timeout`; the
 * default of 1 s would cancel this call, as test/router/limits-slow-caller.test.ts shows), so that
 * the pause can be watched for a while, and sends no WebSocket pings (a caller that does not read
 * does not answer them either: on a busy machine the 5 s pong timeout dropped it, found by
 * `npm run test:stress`).
 */
import { assert, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import type * as Scope from "effect/Scope"
import * as SqlClient from "effect/sql/SqlClient"
import type * as Net from "node:net"
import { fileURLToPath } from "node:url"
import WebSocket from "ws"
import * as Ledger from "../../../src/procedures/ledger/index.js"
import * as Progressive from "../../../src/procedures/Progressive.js"
import { Router } from "../../../src/router/index.js"
import { componentLayer, inTestDatabaseAsSuperuser, TestDatabase, TestRouter } from "../../support/index.js"

const Component = componentLayer(Ledger.layer).pipe(
  Layer.provideMerge(TestRouter.layer({ configFile: fileURLToPath(new URL("fixtures/patient-router.json", import.meta.url)) })),
  Layer.provideMerge(TestDatabase.layer)
)

const L = "com.example.ledger"
const HISTORY = `${L}.history`
/** Far more rows than the buffers between PostgreSQL and a caller that does not read can hold. */
const ROWS = 250_000
/** How long sending must stay stopped while the caller does not read. */
const WINDOW_MS = 2000

const HELLO = 1, WELCOME = 2, ERROR = 8, CALL = 48, RESULT = 50

interface Row {
  readonly id: number
  readonly from: number
  readonly to: number
}

/** What a caller has received of one progressive call so far. */
interface Received {
  rows: number
  lastId: number
  ordered: boolean
  final: unknown
  error: unknown
}

/**
 * A WAMP caller over JSON whose TCP socket can be paused (it then reads nothing: the router's
 * bytes for it queue up in the kernel and in the router). Closed with the scope.
 */
const slowCaller = (url: string, account: number, sink: number) =>
  Effect.acquireRelease(
    Effect.callback<WebSocket, Error>((resume) => {
      const socket = new WebSocket(url, ["wamp.2.json"])
      socket.on("open", () =>
        socket.send(JSON.stringify([HELLO, "realm1", { roles: { caller: { features: { progressive_call_results: true } } } }])))
      socket.on("error", (error) => resume(Effect.fail(error)))
      socket.once("message", (data) => {
        const type = (JSON.parse(String(data)) as Array<unknown>)[0]
        resume(type === WELCOME ? Effect.succeed(socket) : Effect.fail(new Error(`not welcomed: ${String(data)}`)))
      })
    }).pipe(Effect.timeout("10 seconds")),
    (socket) => Effect.sync(() => socket.terminate())
  ).pipe(
    Effect.map((socket) => {
      const tcp = (socket as unknown as { _socket: Net.Socket })._socket
      const received: Received = { rows: 0, lastId: 0, ordered: true, final: undefined, error: undefined }
      socket.on("message", (data) => {
        const message = JSON.parse(String(data)) as Array<unknown>
        if (message[0] === RESULT && message[1] === 1) {
          const value = (message[3] as Array<unknown> | undefined)?.[0]
          if ((message[2] as { progress?: boolean }).progress === true) {
            const row = value as Row
            received.rows++
            if (row.id <= received.lastId || row.from !== account || row.to !== sink) received.ordered = false
            received.lastId = row.id
          } else received.final = value
        } else if (message[0] === ERROR) received.error = message
      })
      socket.on("close", () => (received.error ??= "connection closed"))
      return {
        received,
        /** Sends the history call, then stops reading before any result can arrive. */
        callAndStopReading: () => {
          socket.send(JSON.stringify([CALL, 1, { receive_progress: true }, HISTORY, [], { account }]))
          tcp.pause()
        },
        readAgain: () => void tcp.resume()
      }
    })
  )

/**
 * An account with ROWS transfers of 1 to a sink, bulk-inserted with SQL as the superuser (the
 * procedure only reads them); the fixture router makes its sessions the admin authrole, whom
 * row-level security lets read every account.
 */
const setup: Effect.Effect<{ account: number; sink: number }, unknown, TestDatabase> = inTestDatabaseAsSuperuser((sql) =>
  Effect.gen(function*() {
    const open = (owner: string, balance: number) =>
      Effect.map(
        sql<{ id: string }>`INSERT INTO ledger_accounts (owner, balance) VALUES (${owner}, ${balance}) RETURNING id::text`,
        (rows) => Number(rows[0]!.id)
      )
    const account = yield* open("streamed", ROWS)
    const sink = yield* open("sink", 0)
    // the foreign-key checks (row triggers) are skipped for the load; the rows are valid
    yield* sql.withTransaction(Effect.gen(function*() {
      yield* sql`SET LOCAL session_replication_role = replica`
      yield* sql`INSERT INTO ledger_transfers (from_account, to_account, amount, from_owner, to_owner)
                 SELECT ${account}, ${sink}, 1, 'streamed', 'sink' FROM generate_series(1, ${ROWS})`
    }))
    yield* sql`ANALYZE ledger_transfers`
    return { account, sink }
  })
)

/** The loaded account, built with the layer: the 250k-row load runs in the setup hook, under its own timeout. */
class Loaded extends Context.Service<Loaded, { readonly account: number; readonly sink: number }>()("wampgres/test/ledger/backpressure-e2e/Loaded") {}
const Env = Layer.effect(Loaded, setup).pipe(Layer.provideMerge(Component))

/** Progressive results the component has handed to its session for the history procedure. */
const sentSoFar = Metric.value(Metric.withAttributes(Progressive.sent, { procedure: HISTORY })).pipe(
  Effect.map((state) => state.count)
)

/** The component's unsent WebSocket bytes each time a row was ready, at most. */
const maxSocketBacklog = Metric.value(Metric.withAttributes(Progressive.socketBacklog, { procedure: HISTORY })).pipe(
  Effect.map((state) => state.max)
)

/** The backend running the history query, with what it waits on. */
const historyBackend = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql<{ pid: number; state: string; wait_event: string | null }>`
    SELECT pid, state, wait_event FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid()
      AND query LIKE '%UNION ALL%' AND query LIKE '%ledger_transfers%' AND query NOT LIKE '%pg_stat_activity%'`)

layer(Env, { excludeTestServices: true, timeout: "180 seconds" })("history backpressure, end to end", (it) => {
  it.effect("a caller that stops reading pauses the component and PostgreSQL; reading again delivers every row", () =>
    Effect.gen(function*() {
      const { account, sink } = yield* Loaded
      const caller = yield* slowCaller((yield* Router).url, account, sink)
      const sentBefore = yield* sentSoFar
      const sent = Effect.map(sentSoFar, (n) => n - sentBefore)

      caller.callAndStopReading()

      // Sending stops once every buffer on the way is full. Seen from PostgreSQL, not from a silence
      // window on the component's own counter (a busy machine can pause the component for longer):
      // the query's backend blocks writing rows (ClientWrite), then the count no longer moves across
      // two looks at that backend.
      let stalledAt = -1
      let last = -1
      const deadline = Date.now() + 90_000
      while (Date.now() < deadline) {
        const blocked = (yield* historyBackend).some((r) => r.state === "active" && r.wait_event === "ClientWrite")
        const now = yield* sent
        if (blocked && now === last && now > 0) {
          stalledAt = now
          break
        }
        last = blocked ? now : -1
        yield* Effect.sleep("250 millis")
      }
      assert.isAbove(stalledAt, 0, `the component stops sending while the caller does not read (sent ${last} of ${ROWS})`)
      assert.isBelow(stalledAt, ROWS, "the component stopped before the end of the history")
      assert.strictEqual(caller.received.rows, 0, "the caller read nothing")

      // Over the window: no row is sent, the component's socket backlog stays bounded, and the
      // query is still there, PostgreSQL blocked writing to the component.
      const backends: Array<string> = []
      const windowEnd = Date.now() + WINDOW_MS
      while (Date.now() < windowEnd) {
        const rows = yield* historyBackend
        backends.push(rows.map((r) => `${r.state}/${r.wait_event ?? "-"}`).join(",") || "none")
        yield* Effect.sleep("200 millis")
      }
      const sentAfterWindow = yield* sent
      const backlog = yield* maxSocketBacklog
      yield* Effect.logInfo(
        `stalled after ${stalledAt} of ${ROWS} rows; component socket backlog at most ${backlog} bytes; backend: ${backends.join(" ")}`
      )
      assert.strictEqual(sentAfterWindow, stalledAt, `no row sent in ${WINDOW_MS} ms while the caller does not read`)
      assert.isBelow(backlog, 256 * 1024, "the component's unsent bytes stay near its high-water mark")
      for (const backend of backends) {
        assert.strictEqual(backend, "active/ClientWrite", "the query runs, blocked writing rows to the component")
      }

      // The caller reads again: the rest of the history flows, in order, then the count.
      caller.readAgain()
      const done = Date.now() + 90_000
      while (caller.received.final === undefined && caller.received.error === undefined && Date.now() < done) {
        yield* Effect.sleep("50 millis")
      }
      assert.isUndefined(caller.received.error, `the call completes: ${JSON.stringify(caller.received.error)}`)
      assert.deepStrictEqual(caller.received.final, { count: ROWS })
      assert.strictEqual(caller.received.rows, ROWS)
      assert.isTrue(caller.received.ordered, "rows oldest first, all of the account")
      assert.strictEqual(yield* sent, ROWS)
      const running = (yield* historyBackend).filter((r) => r.state !== "idle")
      assert.lengthOf(running, 0, "the query has finished")
    }), 240_000)
})
