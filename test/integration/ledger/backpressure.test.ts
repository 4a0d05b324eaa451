/**
 * Backpressure of streamed history: the component reaches the router through a TCP proxy that reads
 * from the component at a limited rate (a slow network or a busy router). The component must not
 * read rows from PostgreSQL faster than that: rows handed to the session but not yet received by
 * the caller stay few, where an unpaced component would queue the whole result in its socket.
 */
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as SqlClient from "effect/sql/SqlClient"
import * as Net from "node:net"
import { WampSession } from "../../../src/layers/WampSession.js"
import * as Ledger from "../../../src/procedures/ledger/index.js"
import * as Progressive from "../../../src/procedures/Progressive.js"
import { Router } from "../../../src/router/index.js"
import { inTestDatabaseAsSuperuser, TestDatabase, TestRouter, testSessionSettings } from "../../support/index.js"
import { callersRouterConfig, urlFor } from "./callers.js"
import { rawCaller } from "./rawCaller.js"

const L = "com.example.ledger"
const ROWS = 100_000
/** Bytes per second the proxy takes from the component. */
const RATE = 4_000_000

/** A TCP proxy to `port` that reads from its clients at most `rate` bytes/s; closed with the scope. */
const throttlingProxy = (port: number, rate: number) =>
  Effect.acquireRelease(
    Effect.callback<Net.Server>((resume) => {
      const sockets = new Set<Net.Socket>()
      const server = Net.createServer((client) => {
        const upstream = Net.connect({ host: "127.0.0.1", port })
        sockets.add(client).add(upstream)
        upstream.pipe(client)
        client.on("data", (chunk: Buffer) => {
          upstream.write(chunk)
          client.pause()
          setTimeout(() => client.resume(), Math.ceil((chunk.length / rate) * 1000))
        })
        const close = () => {
          client.destroy()
          upstream.destroy()
        }
        client.on("close", close).on("error", close)
        upstream.on("close", close).on("error", close)
      })
      server.on("close", () => sockets.forEach((s) => s.destroy()))
      ;(server as Net.Server & { sockets?: Set<Net.Socket> }).sockets = sockets
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.sync(() => {
        ;(server as Net.Server & { sockets?: Set<Net.Socket> }).sockets?.forEach((s) => s.destroy())
        server.close()
      })
  )

/** The component's session goes through the proxy. */
const Component = Layer.unwrap(
  Effect.gen(function*() {
    const router = yield* Router
    const server = yield* throttlingProxy(router.listening[0]!.port, RATE)
    const address = server.address() as Net.AddressInfo
    const url = router.url.replace(/:\d+\//, `:${address.port}/`)
    return Ledger.layer.pipe(Layer.provideMerge(WampSession.layer(testSessionSettings(url))))
  })
)

const Env = Component.pipe(
  Layer.provideMerge(TestRouter.layer({ configFile: callersRouterConfig })),
  Layer.provideMerge(TestDatabase.layer)
)

const sentSoFar = Metric.value(Metric.withAttributes(Progressive.sent, { procedure: `${L}.history` })).pipe(
  Effect.map((state) => state.count)
)

layer(Env, { excludeTestServices: true, timeout: "120 seconds" })("history backpressure", (it) => {
  it.effect("rows are sent no faster than the router takes them off the socket", () =>
    Effect.gen(function*() {
      const router = yield* Router
      // Written as the superuser, read by the admin authrole (row-level security lets it see all).
      const { from } = yield* inTestDatabaseAsSuperuser((sql) =>
        Effect.gen(function*() {
          const open = (owner: string, balance: number) =>
            Effect.map(
              sql<{ id: string }>`INSERT INTO ledger_accounts (owner, balance) VALUES (${owner}, ${balance}) RETURNING id::text`,
              (rows) => Number(rows[0]!.id)
            )
          const from = yield* open("from", ROWS)
          const to = yield* open("to", 0)
          // Bulk test data: the row triggers (owners, posting, foreign keys) are skipped for the load.
          yield* sql.withTransaction(Effect.andThen(
            sql`SET LOCAL session_replication_role = replica`,
            sql`INSERT INTO ledger_transfers (from_account, to_account, amount, from_owner, to_owner)
                SELECT ${from}, ${to}, 1, 'from', 'to' FROM generate_series(1, ${ROWS})`
          ))
          return { from }
        })
      ).pipe(Effect.orDie)
      const caller = yield* rawCaller(urlFor(router, "admin"))
      const sentBefore = yield* sentSoFar
      let received = 0
      let maxInFlight = 0
      const started = Date.now()
      const final = yield* Effect.promise(() =>
        caller.call(`${L}.history`, { account: from }, { receive_progress: true }, {
          onProgress: () => {
            received++
            if (received % 100 === 0) maxInFlight = Math.max(maxInFlight, Effect.runSync(sentSoFar) - sentBefore - received)
          }
        }).result
      )
      const seconds = (Date.now() - started) / 1000
      const backlog = yield* Metric.value(Metric.withAttributes(Progressive.socketBacklog, { procedure: `${L}.history` }))
      assert.deepStrictEqual(final, { count: ROWS })
      yield* Effect.logInfo(`${ROWS} rows through a ${RATE} B/s link in ${seconds.toFixed(1)} s, at most ${maxInFlight} rows in flight, socket backlog at most ${backlog.max} bytes`)
      // Unpaced, the socket's own queue grows by megabytes (measured: 1.8 MB) while the proxy is slow;
      // paced, it stays near the 64 KiB mark (plus the rows sent in one burst before the check).
      assert.isBelow(backlog.max, 256 * 1024)
      // Rows in flight also sit in the kernel's socket buffers (Linux grows them to a few MB), so
      // this bound is loose: an unpaced component queues the whole result.
      assert.isBelow(maxInFlight, ROWS * 0.75)
    }), 180_000)
})
