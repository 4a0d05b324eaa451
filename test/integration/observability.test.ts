/**
 * Observability end to end, with real parts: the embedded router, the component (now and ledger
 * groups), a dedicated PostgreSQL the test stops and starts, Effect's OTLP exporter sending to an
 * OTLP/HTTP receiver inside the test, and the component's listener (/health, /ready, /metrics).
 *
 * - one trace per call: the typed client's span → the router's call span → the component's span
 *   named after the procedure → its transaction → each SQL statement (text without values);
 * - a ledger transfer aborted by a serialization failure shows its retries in the trace and the
 *   metrics;
 * - metrics change by exactly the calls and errors made;
 * - /ready is not ready while PostgreSQL is stopped, and ready again after.
 */
import { assert, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as SqlClient from "effect/sql/SqlClient"
import * as HealthServer from "../../src/layers/HealthServer.js"
import * as NotifyBridge from "../../src/layers/NotifyBridge.js"
import * as Telemetry from "../../src/layers/Telemetry.js"
import * as Client from "../../src/procedures/Client.js"
import * as Ledger from "../../src/procedures/ledger/index.js"
import { NowGroup, nowV3 } from "../../src/procedures/now/index.js"
import { Router } from "../../src/router/index.js"
import { callRaw, clientSession, clientWamp, componentLayer, TestRouter } from "../support/index.js"
import { OtlpReceiver, type ReceivedSpan } from "../support/OtlpReceiver.js"
import { databaseOn, RestartablePostgres } from "../support/RestartablePostgres.js"

const L = "com.example.ledger"

const DatabaseOnDedicated = databaseOn("wampgres-observability-test")

const Tracing = Layer.unwrap(
  Effect.map(OtlpReceiver, (receiver) =>
    Telemetry.tracingLayer({ endpoint: receiver.endpoint, protocol: "http/json", serviceName: "wampgres-test", ratio: 1 }))
)

const Listener = HealthServer.layer({ host: "127.0.0.1", port: 0, healthQuery: "SELECT 1", queryTimeout: "1 second" })

const Env = Listener.pipe(
  // a LISTEN/NOTIFY bridge of its own: its reconnect after a PostgreSQL restart is counted
  Layer.provideMerge(componentLayer(Layer.mergeAll(NowGroup.layer, Ledger.layer, NotifyBridge.layer([{ channel: "observability_test", topic: "com.example.observability_test" }])))),
  Layer.provideMerge(TestRouter.layer()),
  Layer.provideMerge(DatabaseOnDedicated),
  Layer.provideMerge(RestartablePostgres.layer),
  Layer.provideMerge(Tracing),
  Layer.provideMerge(OtlpReceiver.layer)
)

const get = (path: string) =>
  Effect.flatMap(HealthServer.HealthServer, ({ port }) =>
    Effect.promise(async () => {
      const res = await fetch(`http://127.0.0.1:${port}${path}`)
      return { status: res.status, body: await res.text() }
    }))

/** The value of the series `name` whose labels include every one of `labels`; 0 when absent. */
const sample = (text: string, name: string, labels: Record<string, string>): number => {
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) {
      return Number(line.slice(line.lastIndexOf(" ") + 1))
    }
  }
  return 0
}

/** Builds a layer into a scope the test closes itself (to stop a router mid-test). */
const start = <A, E>(layer_: Layer.Layer<A, E>) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(layer_, scope)
    return { context, stop: Scope.close(scope, Exit.void) }
  })

const byId = (spans: ReadonlyArray<ReceivedSpan>, id: string | undefined) => spans.find((s) => s.spanId === id)

layer(Env, { excludeTestServices: true, timeout: "90 seconds" })("observability", (it) => {
  it.effect("one trace per call: client → router → invocation → transaction → statement", () =>
    Effect.gen(function*() {
      const router = yield* Router
      const receiver = yield* OtlpReceiver
      yield* Client.call(nowV3, {}).pipe(Effect.provide(clientWamp(router.url)))
      const chain = yield* receiver.await((spans) => {
        // other transactions (the outbox relay's) run statements with now() too: follow each candidate
        for (const statement of spans) {
          if (!String(statement.attributes["db.query.text"] ?? "").includes("now()")) continue
          const transaction = byId(spans, statement.parentSpanId)
          if (transaction?.name !== "sql.transaction") continue
          const invocation = byId(spans, transaction.parentSpanId)
          const routed = byId(spans, invocation?.parentSpanId)
          const client = byId(spans, routed?.parentSpanId)
          if (client !== undefined) return { statement, transaction, invocation: invocation!, routed: routed!, client }
        }
        return undefined
      })
      assert.strictEqual(chain.client.name, "com.example.now.v3")
      assert.strictEqual(chain.client.kind, 3)
      assert.strictEqual(chain.routed.name, "com.example.now.v3")
      assert.strictEqual(chain.routed.attributes["wamp.role"], "router")
      assert.strictEqual(chain.routed.attributes["wamp.outcome"], "ok")
      assert.strictEqual(chain.invocation.name, "com.example.now.v3")
      assert.strictEqual(chain.invocation.kind, 2)
      assert.strictEqual(chain.invocation.attributes["wamp.outcome"], "ok")
      assert.isNumber(chain.invocation.attributes["wamp.session"])
      assert.isNumber(chain.invocation.attributes["wamp.request"])
      assert.strictEqual(chain.transaction.name, "sql.transaction")
      assert.strictEqual(chain.statement.service, "wampgres-test")
      // one clock: each span lies within its parent's (the router's spans use Effect's clock too)
      for (const [child, parent] of [[chain.routed, chain.client], [chain.invocation, chain.routed], [chain.transaction, chain.invocation]] as const) {
        assert.isTrue(child.start >= parent.start && child.end <= parent.end, `${child.name} within ${parent.name}`)
      }
      const trace = new Set([chain.client, chain.routed, chain.invocation, chain.transaction, chain.statement].map((s) => s.traceId))
      assert.strictEqual(trace.size, 1, "one trace")
      // waiting for the transaction's connection is a span of its own (beside the transaction's:
      // @effect/sql acquires the connection before it makes its span the parent)
      const spans = receiver.spans()
      assert.isTrue(spans.some((s) => s.name === "db.pool.acquire" && s.parentSpanId === chain.invocation.spanId))
    }))

  it.effect("a transfer aborted by a serialization failure shows its retries; statements carry no values", () =>
    Effect.gen(function*() {
      const router = yield* Router
      const receiver = yield* OtlpReceiver
      const sql = yield* SqlClient.SqlClient
      const session = yield* clientSession(router.url)
      // amount 23 fails with serialization_failure twice (a sequence survives rollbacks)
      yield* sql.unsafe(`CREATE SEQUENCE obs_serialization_failures`)
      yield* sql.unsafe(`CREATE FUNCTION obs_transfer_faults() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.amount = 23 AND nextval('obs_serialization_failures') <= 2 THEN
            RAISE EXCEPTION 'could not serialize' USING ERRCODE = '40001';
          END IF;
          RETURN NEW;
        END $$`)
      yield* sql.unsafe(`CREATE TRIGGER obs_transfer_faults BEFORE INSERT ON ledger_transfers
        FOR EACH ROW EXECUTE FUNCTION obs_transfer_faults()`)
      yield* Effect.addFinalizer(() => Effect.ignore(sql.unsafe(`DROP TRIGGER obs_transfer_faults ON ledger_transfers`)))
      // accounts of the session's caller, funded in SQL as the admin authrole (what mint does)
      const open = Effect.gen(function*() {
        const { id } = (yield* callRaw(session, `${L}.open_account`)).args[0] as { id: number }
        yield* sql.withTransaction(Effect.andThen(
          sql`SELECT set_config('wampgres.authrole', 'admin', true)`,
          sql`UPDATE ledger_accounts SET balance = 100 WHERE id = ${id}`
        ))
        return id
      })
      const a = yield* open
      const b = yield* open
      const before = (yield* get("/metrics")).body
      yield* callRaw(session, `${L}.transfer`, { kwargs: { from: a, to: b, amount: 23 } })
      const after = (yield* get("/metrics")).body
      assert.strictEqual(
        sample(after, "wampgres_transaction_retries_total", {}) - sample(before, "wampgres_transaction_retries_total", {}),
        2
      )
      // on_transfer, published by the outbox's relay after the COMMIT of the attempt that succeeded
      // (asynchronously: the metrics are read again until it has been, 15 s at most)
      const published = yield* get("/metrics").pipe(
        Effect.map((r) => sample(r.body, "wampgres_events_published_total", {}) - sample(before, "wampgres_events_published_total", {})),
        Effect.repeat({ schedule: Schedule.spaced("100 millis"), until: (delta) => delta >= 1, times: 150 })
      )
      assert.isAtLeast(published, 1)
      const { invocation, attempts } = yield* receiver.await((spans) => {
        const invocation = spans.find((s) =>
          s.name === `${L}.transfer` && s.kind === 2 && s.attributes["wamp.outcome"] === "ok" &&
          s.attributes["wampgres.transaction.retries"] === 2
        )
        if (invocation === undefined) return undefined
        const attempts = spans.filter((s) => s.name === "sql.transaction" && s.parentSpanId === invocation.spanId)
        return attempts.length === 3 ? { invocation, attempts } : undefined
      })
      assert.deepStrictEqual(invocation.events.filter((e) => e.name === "transaction.retry").map((e) => e.attributes["db.response.status_code"]), [
        "40001",
        "40001"
      ])
      assert.deepStrictEqual(attempts.map((s) => s.status).sort(), [1, 2, 2])
      const inserts = receiver.spans().filter((s) =>
        s.traceId === invocation.traceId && String(s.attributes["db.query.text"] ?? "").includes("INSERT INTO ledger_transfers")
      )
      assert.strictEqual(inserts.length, 3)
      for (const insert of inserts) {
        const text = String(insert.attributes["db.query.text"])
        assert.include(text, "$1")
        assert.notMatch(text, /\b23\b/, "no parameter value in the statement text")
      }
    }))

  it.effect("metrics change by exactly the calls and errors made", () =>
    Effect.gen(function*() {
      const router = yield* Router
      const session = yield* clientSession(router.url)
      const before = (yield* get("/metrics")).body
      const calls = 9, errors = 4
      for (let i = 0; i < calls; i++) yield* callRaw(session, "com.example.now.v1")
      for (let i = 0; i < errors; i++) {
        const error = yield* Effect.flip(callRaw(session, `${L}.get_account`, { kwargs: { id: 999_999_000 + i } }))
        assert.strictEqual(error.error, `${L}.error.no_such_account`)
      }
      const after = (yield* get("/metrics")).body
      const delta = (name: string, labels: Record<string, string>) => sample(after, name, labels) - sample(before, name, labels)
      assert.strictEqual(delta("wampgres_invocations_total", { procedure: "com.example.now.v1", outcome: "ok" }), calls)
      assert.strictEqual(delta("wampgres_invocations_total", { procedure: `${L}.get_account`, outcome: "error" }), errors)
      assert.strictEqual(delta("wampgres_invocations_total", { procedure: `${L}.get_account`, outcome: "ok" }), 0)
      assert.strictEqual(delta("wampgres_handler_duration_seconds_count", { procedure: "com.example.now.v1" }), calls)
      assert.strictEqual(delta("wampgres_handler_duration_seconds_bucket", { procedure: "com.example.now.v1", le: "+Inf" }), calls)
      assert.include(after, "wampgres_db_pool_connections")
      assert.strictEqual(sample(after, "wampgres_db_pool_connections", { state: "waiting" }), 0)
      // idle: PostgreSQL's own view of the pool's backends, at most every backend of this application
      const sql = yield* SqlClient.SqlClient
      const [backends] = yield* sql<{ readonly count: number }>`
        SELECT count(*)::int AS count FROM pg_stat_activity WHERE application_name = 'wampgres-observability-test'`
      const idle = sample(after, "wampgres_db_pool_connections", { state: "idle" })
      assert.isAtLeast(idle, 1)
      assert.isAtMost(idle, backends!.count)
    }))

  it.effect("/health answers while the process runs; /ready turns not ready while PostgreSQL is stopped", () =>
    Effect.gen(function*() {
      const pg = yield* RestartablePostgres
      assert.deepStrictEqual(yield* get("/health"), { status: 200, body: "ok\n" })
      assert.deepStrictEqual(yield* get("/ready"), { status: 200, body: "ready\n" })
      const reconnects = (text: string) => sample(text, "wampgres_notify_bridge_reconnects_total", {})
      const before = reconnects((yield* get("/metrics")).body)
      yield* pg.stop
      const down = yield* get("/ready").pipe(
        Effect.repeat({ schedule: Schedule.spaced("200 millis"), until: (r) => r.status === 503, times: 100 })
      )
      assert.strictEqual(down.status, 503)
      assert.match(down.body, /^database: /m)
      assert.deepStrictEqual(yield* get("/health"), { status: 200, body: "ok\n" })
      yield* pg.start
      const up = yield* get("/ready").pipe(
        Effect.repeat({ schedule: Schedule.spaced("200 millis"), until: (r) => r.status === 200, times: 150 })
      )
      assert.deepStrictEqual(up, { status: 200, body: "ready\n" })
      // the NOTIFY bridge lost its LISTEN and listens again: one reconnect, its gap counted
      const after = yield* get("/metrics").pipe(
        Effect.repeat({ schedule: Schedule.spaced("200 millis"), until: (r) => reconnects(r.body) > before, times: 150 })
      )
      assert.strictEqual(reconnects(after.body) - before, 1)
      assert.isAbove(sample(after.body, "wampgres_notify_bridge_gap_seconds_total", {}), 0)
    }))

  it.effect("/ready is not ready while the session has not joined, and names why", () =>
    Effect.gen(function*() {
      const database = yield* Effect.context<SqlClient.SqlClient>()
      // a router and a component of this test's own, so that the router can be stopped
      const first = yield* start(TestRouter.layer())
      const port = Context.get(first.context, Router).listening[0]!.port
      const component = yield* start(
        HealthServer.layer({ host: "127.0.0.1", port: 0, healthQuery: "SELECT 1" }).pipe(
          Layer.provideMerge(componentLayer(NowGroup.layer)),
          Layer.provide(Layer.succeedContext(first.context)),
          Layer.provide(Layer.succeedContext(database))
        )
      )
      yield* Effect.addFinalizer(() => component.stop)
      const listener = Context.get(component.context, HealthServer.HealthServer).port
      const ready = Effect.promise(() =>
        fetch(`http://127.0.0.1:${listener}/ready`).then(async (r) => ({ status: r.status, body: await r.text() }))
      )
      assert.deepStrictEqual(yield* ready, { status: 200, body: "ready\n" })
      yield* first.stop
      const down = yield* ready.pipe(
        Effect.repeat({ schedule: Schedule.spaced("200 millis"), until: (r) => r.status === 503, times: 100 })
      )
      assert.deepStrictEqual(down, { status: 503, body: "not joined to realm realm1\n" })
      const second = yield* start(TestRouter.layer({ port }))
      yield* Effect.addFinalizer(() => second.stop)
      const up = yield* ready.pipe(
        Effect.repeat({ schedule: Schedule.spaced("200 millis"), until: (r) => r.status === 200, times: 150 })
      )
      assert.deepStrictEqual(up, { status: 200, body: "ready\n" })
    }))
})
