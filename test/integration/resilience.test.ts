/**
 * The service under trouble, with real parts: a router restart (the component rejoins and
 * re-registers by itself), shutdown (in-flight calls drain; stragglers are canceled and rolled back),
 * a canceled call (INTERRUPT interrupts the handler: the query stops in PostgreSQL, the transaction
 * rolls back), broken database connections (the pool replaces them), and a registration that fails
 * after a rejoin (retried until it succeeds).
 */
import { assert, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as SqlClient from "effect/sql/SqlClient"
import * as Group from "../../src/procedures/Group.js"
import { NowGroup } from "../../src/procedures/now/index.js"
import * as Procedure from "../../src/procedures/Procedure.js"
import { Router } from "../../src/router/index.js"
import { Uri } from "../../src/wamp/uris.js"
import { asSuperuser, callRaw, clientSession, componentLayer, TestDatabase, TestRouter } from "../support/index.js"

/** Sleeps in the database inside a transaction after writing a marker row; returns the marker. */
const slowWrite = Procedure.make("com.example.test.slow_write", {
  args: { marker: Schema.String, seconds: Schema.Number },
  result: Schema.String,
  transactional: true,
  handler: Effect.fnUntraced(function*({ marker, seconds }) {
    const sql = yield* SqlClient.SqlClient
    yield* sql`INSERT INTO markers (marker) VALUES (${marker})`
    yield* sql`SELECT pg_sleep(${seconds})`
    return marker
  })
})
const SlowGroup = Group.make("slow", [slowWrite])

const CONTESTED = "com.example.test.contested"
const ContestedGroup = Group.make("contested", [
  Procedure.make(CONTESTED, { result: Schema.String, handler: () => Effect.succeed("component") })
])

const markerCount = (marker: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(sql<{ n: number }>`SELECT count(*)::int AS n FROM markers WHERE marker = ${marker}`, (rows) => rows[0]!.n))

/** Waits until a call's pg_sleep runs in PostgreSQL (the call is in flight), with a generous ceiling. */
const untilSleeping = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity
    WHERE datname = current_database() AND query LIKE '%pg_sleep%' AND state = 'active' AND pid <> pg_backend_pid()`.pipe(
    Effect.map((rows) => rows[0]!.n),
    Effect.filterOrFail((n) => n >= 1),
    Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 1500 })
  ))

/** Builds a layer into a scope the test closes itself (to stop a router or a component mid-test). */
const start = <A, E>(layer_: Layer.Layer<A, E>) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(layer_, scope)
    return { context, stop: Scope.close(scope, Exit.void) }
  })

const Env = Layer.effectDiscard(
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql`CREATE TABLE markers (marker text NOT NULL)`)
).pipe(Layer.provideMerge(TestDatabase.layer))

layer(Env, { excludeTestServices: true, timeout: "60 seconds" })("resilience", (it) => {
  it.effect("after a router restart the procedures are registered again and callable within seconds", () =>
    Effect.gen(function*() {
      const database = yield* Effect.context<SqlClient.SqlClient | TestDatabase>()
      const first = yield* start(TestRouter.layer())
      const router = Context.get(first.context, Router)
      const port = router.listening[0]!.port
      // The component follows whatever router listens on that port.
      yield* Layer.build(componentLayer(NowGroup.layer).pipe(
        Layer.provide(Layer.succeed(Router, router)),
        Layer.provide(Layer.succeedContext(database))
      ))
      const before = yield* Effect.scoped(Effect.flatMap(clientSession(router.url), (s) => callRaw(s, "com.example.now.v1")))
      assert.strictEqual(before.args.length, 1)

      yield* first.stop
      const second = yield* start(TestRouter.layer({ port }))
      yield* Effect.addFinalizer(() => second.stop)
      const started = Date.now()
      const after = yield* Effect.scoped(
        Effect.flatMap(clientSession(router.url), (s) => callRaw(s, "com.example.now.v4"))
      ).pipe(Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 80 }))
      assert.strictEqual(after.args.length, 1)
      assert.isBelow(Date.now() - started, 8_000)
    }))

  it.effect("a procedure another session took while the component was away is registered again once it is free", () =>
    Effect.gen(function*() {
      const database = yield* Effect.context<SqlClient.SqlClient | TestDatabase>()
      const first = yield* start(TestRouter.layer())
      const router = Context.get(first.context, Router)
      const port = router.listening[0]!.port
      // Slow reconnects (up to 3 s apart), so the other session can register first after the restart.
      yield* Layer.build(componentLayer(ContestedGroup.layer, { maxRetryDelay: Duration.seconds(3) }).pipe(
        Layer.provide(Layer.succeed(Router, router)),
        Layer.provide(Layer.succeedContext(database))
      ))
      const call = Effect.scoped(Effect.flatMap(clientSession(router.url), (s) => callRaw(s, CONTESTED)))
      assert.deepStrictEqual((yield* call).args, ["component"])

      // Until the other session wins the race (the component rejoining first is rare but possible).
      let router_ = first
      const taken = yield* Effect.gen(function*() {
        yield* router_.stop
        yield* Effect.sleep("2 seconds")
        router_ = yield* start(TestRouter.layer({ port }))
        const other = yield* clientSession(router.url, { asComponent: true })
        const registered = yield* Effect.exit(Effect.tryPromise(() => other.register(CONTESTED, () => "other")))
        return Exit.isSuccess(registered) ? Option.some(other) : Option.none()
      }).pipe(
        Effect.flatMap(Effect.fromOption),
        Effect.retry({ times: 3 })
      )
      yield* Effect.addFinalizer(() => router_.stop)
      // The component rejoins; its registration fails while the other session holds the procedure.
      const sessions = Effect.scoped(Effect.flatMap(clientSession(router.url, { asComponent: true }), (s) => callRaw(s, "wamp.session.count")))
      yield* Effect.map(sessions, (r) => r.args[0]).pipe(
        Effect.filterOrFail((n) => n === 3),
        Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 100 })
      )
      assert.deepStrictEqual((yield* call).args, ["other"])

      // Once the other session leaves, the component's retried registration takes the procedure again.
      yield* Effect.sync(() => taken.leave(Uri.closeNormal))
      const again = yield* call.pipe(
        Effect.filterOrFail((r) => r.args[0] === "component"),
        Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 100 })
      )
      assert.deepStrictEqual(again.args, ["component"])
    }))

  it.effect("shutdown lets calls in flight finish, then unregisters", () =>
    Effect.gen(function*() {
      const router = Context.get((yield* start(TestRouter.layer())).context, Router)
      const database = yield* Effect.context<SqlClient.SqlClient | TestDatabase>()
      const component = yield* start(componentLayer(SlowGroup.layer, { drainTimeout: Duration.seconds(5) }).pipe(
        Layer.provide(Layer.succeed(Router, router)),
        Layer.provide(Layer.succeedContext(database))
      ))
      const session = yield* clientSession(router.url)
      const call = yield* Effect.forkChild(
        callRaw(session, slowWrite.uri, { kwargs: { marker: "drained", seconds: 2 } })
      )
      yield* untilSleeping
      const stopping = yield* Effect.forkChild(component.stop)
      const result = yield* Fiber.join(call)
      assert.deepStrictEqual(result.args, ["drained"])
      yield* Fiber.join(stopping)
      assert.strictEqual(yield* markerCount("drained"), 1)
      const gone = yield* Effect.flip(callRaw(session, slowWrite.uri, { kwargs: { marker: "late", seconds: 0 } }))
      assert.strictEqual(gone.error, "wamp.error.no_such_procedure")
    }))

  it.effect("a call still running after the drain time is canceled and its transaction rolled back", () =>
    Effect.gen(function*() {
      const router = Context.get((yield* start(TestRouter.layer())).context, Router)
      const database = yield* Effect.context<SqlClient.SqlClient | TestDatabase>()
      const component = yield* start(componentLayer(SlowGroup.layer, { drainTimeout: Duration.millis(300) }).pipe(
        Layer.provide(Layer.succeed(Router, router)),
        Layer.provide(Layer.succeedContext(database))
      ))
      const session = yield* clientSession(router.url)
      const call = yield* Effect.forkChild(
        Effect.flip(callRaw(session, slowWrite.uri, { kwargs: { marker: "straggler", seconds: 20 } }))
      )
      yield* untilSleeping
      const started = Date.now()
      yield* component.stop
      assert.isBelow(Date.now() - started, 5_000)
      const error = yield* Fiber.join(call)
      assert.strictEqual(error.error, "wamp.error.canceled")
      assert.strictEqual(yield* markerCount("straggler"), 0)
    }))

  it.effect("a canceled call interrupts its handler: the query stops and the transaction rolls back", () =>
    Effect.gen(function*() {
      const router = Context.get((yield* start(TestRouter.layer())).context, Router)
      const database = yield* Effect.context<SqlClient.SqlClient | TestDatabase>()
      yield* start(componentLayer(SlowGroup.layer).pipe(
        Layer.provide(Layer.succeed(Router, router)),
        Layer.provide(Layer.succeedContext(database))
      ))
      const session = yield* clientSession(router.url)
      const sql = yield* SqlClient.SqlClient
      const sleeping = sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE datname = current_database() AND query LIKE '%pg_sleep%' AND state = 'active' AND pid <> pg_backend_pid()`
      const pending = session.call(slowWrite.uri, [], { marker: "canceled", seconds: 30 }) as Promise<unknown> & {
        cancel: (options: { mode: string }) => void
      }
      const outcome = pending.then(() => "resolved", (error: { error?: string }) => error.error ?? String(error))
      yield* Effect.map(sleeping, (rows) => rows[0]!.n).pipe(
        Effect.filterOrFail((n) => n === 1),
        Effect.retry({ schedule: Schedule.spaced("50 millis"), times: 60 })
      )
      pending.cancel({ mode: "kill" })
      assert.strictEqual(yield* Effect.promise(() => outcome), "wamp.error.canceled")
      yield* Effect.map(sleeping, (rows) => rows[0]!.n).pipe(
        Effect.filterOrFail((n) => n === 0),
        Effect.retry({ schedule: Schedule.spaced("50 millis"), times: 60 })
      )
      assert.strictEqual(yield* markerCount("canceled"), 0)
    }))

  it.effect("the pool replaces connections killed by the database", () =>
    Effect.gen(function*() {
      const router = Context.get((yield* start(TestRouter.layer())).context, Router)
      const database = yield* Effect.context<SqlClient.SqlClient | TestDatabase>()
      const test = yield* TestDatabase
      yield* start(componentLayer(NowGroup.layer).pipe(
        Layer.provide(Layer.succeed(Router, router)),
        Layer.provide(Layer.succeedContext(database))
      ))
      const session = yield* clientSession(router.url)
      yield* callRaw(session, "com.example.now.v1")
      const killed = yield* asSuperuser((sql) =>
        sql<{ killed: boolean }>`SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity WHERE datname = ${test.name}`
      )
      assert.isAbove(killed.length, 0)
      // At most the call racing the kill fails; then every call succeeds on fresh connections.
      yield* callRaw(session, "com.example.now.v1").pipe(
        Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 30 })
      )
      for (const v of [1, 2, 3, 4, 1, 2, 3, 4]) {
        const result = yield* callRaw(session, `com.example.now.v${v}`)
        assert.strictEqual(result.args.length, 1)
      }
    }))
})
