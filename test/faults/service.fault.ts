/**
 * Faults under load, with the real service (src/main.ts as a child process, authenticating as the
 * component) against PostgreSQL and the embedded router, its WAMP connection going through a TCP
 * proxy the test controls. The ledger's callers are sessions of their own: each opens its accounts
 * itself and pays only from them (row-level security); an admin caller funds them (`mint`).
 * Every case prints what it did and what it verified, with figures.
 */
import { assert, layer } from "@effect/vitest"
import type autobahn from "autobahn"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import type * as SqlClient from "effect/sql/SqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Crypto from "node:crypto"
import { WampSession } from "../../src/layers/WampSession.js"
import { relayLockKeys } from "../../src/procedures/Outbox.js"
import { Router } from "../../src/router/index.js"
import { asSuperuser, callRaw, clientSession, clientWamp, postgresInfo, superuserUrl, TestDatabase, TestRouter } from "../support/index.js"
import { RestartablePostgres } from "../support/RestartablePostgres.js"
import {
  type Caller,
  componentCredentials,
  consecutive,
  duplicates,
  holdRelayBeforeMarking,
  L,
  ledgerRegistered,
  ledgerState,
  openCallers,
  proxy,
  routerConfig,
  runService,
  type Service,
  steadyTicket,
  tally,
  transferOf,
  urlOf
} from "./support.js"

const start = <A, E, R>(layer_: Layer.Layer<A, E, R>) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(layer_, scope)
    return { context, stop: Scope.close(scope, Exit.void) }
  })

/**
 * Where the service's PostgreSQL is: the run's shared one (`direct`, over its Unix socket, or
 * `proxied` through a TCP proxy the test controls), or a dedicated one the test stops and starts
 * again (`restartable`). The service connects as the database's owner role, never as a superuser:
 * row-level security applies to it.
 */
type DatabasePath = "direct" | "proxied" | "restartable"

/** The router (with its caller paths), a proxy in front of it for the service, and a way to start the service. */
const setup = (database: DatabasePath = "direct") =>
  Effect.gen(function*() {
    const db = yield* TestDatabase
    const routerLayer = (port?: number) => TestRouter.layer({ configFile: routerConfig, ...(port === undefined ? {} : { port }) })
    let routerScope = yield* start(routerLayer())
    yield* Effect.addFinalizer(() => routerScope.stop)
    const router = Context.get(routerScope.context, Router)
    const port = router.listening[0]!.port
    const userUrl = router.url
    const adminUrl = router.url.replace(/\/user$/, "/admin")
    const wampProxy = yield* Effect.acquireRelease(Effect.promise(() => proxy({ host: "127.0.0.1", port })), (p) => Effect.promise(p.close))
    const pg = postgresInfo()
    const pgProxy = database !== "proxied" ? undefined : yield* Effect.acquireRelease(
      Effect.promise(() => proxy(pg.socketDir === undefined ? { host: pg.host, port: pg.port } : { path: `${pg.socketDir}/.s.PGSQL.${pg.port}` })),
      (p) => Effect.promise(p.close)
    )
    // built in this scope: stopped (and its data removed) after the services are killed
    const restartable = database === "restartable" ? Context.get(yield* Layer.build(RestartablePostgres.layer), RestartablePostgres) : undefined
    const databaseUrl = restartable !== undefined
      ? urlOf(restartable.target)
      : pgProxy !== undefined && db.target._tag === "Fields"
      ? urlOf({ ...db.target, host: "127.0.0.1", port: pgProxy.port })
      : urlOf(db.target)
    /** Statements as the superuser in the service's database: every owner's rows. */
    const superuser = <A>(f: (sql: SqlClient.SqlClient) => Effect.Effect<A, unknown>) =>
      restartable === undefined
        ? asSuperuser(f, db.name)
        : Effect.scoped(Effect.flatMap(PgClient.make({ url: Redacted.make(restartable.url), maxConnections: 1 }), f)).pipe(
          Effect.provide(Reactivity.layer)
        )
    const state = (ids: ReadonlyArray<number>, opening: number) => superuser((sql) => ledgerState(sql, ids, opening))
    /** Stops the router, waits `millis`, starts it again on the same port; the time it listened again. */
    const restartRouter = (millis: number) =>
      Effect.gen(function*() {
        yield* routerScope.stop
        yield* Effect.sleep(millis)
        routerScope = yield* start(routerLayer(port))
        return Date.now()
      })
    const env: Record<string, string> = {
      ...(yield* componentCredentials),
      DATABASE_URL: databaseUrl,
      DB_CONNECT_TIMEOUT: "2 seconds",
      WAMP_URL: `ws://127.0.0.1:${wampProxy.port}/user`,
      WAMP_REQUEST_TIMEOUT: "1 second",
      WAMP_MAX_RETRY_DELAY: "300 millis",
      WAMP_DRAIN_TIMEOUT: "1 second",
      OUTBOX_POLL_INTERVAL: "500 millis",
      DB_POOL_MAX: "8"
    }
    const running: Array<Service> = []
    const launch = (extra: Record<string, string> = {}) =>
      Effect.gen(function*() {
        const service = runService({ ...env, ...extra })
        running.push(service)
        const started = Date.now()
        yield* Effect.promise(() => service.waitFor(ledgerRegistered, 90_000))
        return { service, startedIn: Date.now() - started }
      })
    yield* Effect.addFinalizer(() =>
      Effect.promise(async () => {
        for (const service of running) {
          if (service.child.exitCode === null) service.child.kill("SIGKILL")
          await service.exited
        }
      })
    )
    const callers = (count: number, accounts: number, balance: number) => openCallers(userUrl, adminUrl, count, accounts, balance)
    return { router, userUrl, adminUrl, wampProxy, pgProxy, restartable, launch, restartRouter, state, superuser, callers }
  })

const eventually = (check: () => boolean, millis: number) =>
  Effect.gen(function*() {
    const deadline = Date.now() + millis
    while (!check() && Date.now() < deadline) yield* Effect.sleep("50 millis")
    return check()
  })

/** `ok`, the error URI, or `HANG` when no answer came within 30 s. */
const outcomeOf = <A>(effect: Effect.Effect<A, { readonly error: string }>) =>
  effect.pipe(
    Effect.map(() => "ok"),
    Effect.catch((e) => Effect.succeed(e.error)),
    Effect.timeoutOrElse({ duration: "30 seconds", orElse: () => Effect.succeed("HANG") })
  )

/** As `outcomeOf`, with the router's reason for a cancellation (`wamp.error.canceled: call timed out`). */
const outcomeWithReason = <A>(effect: Effect.Effect<A, { readonly error: string; readonly message: string }>) =>
  outcomeOf(Effect.mapError(effect, (e) => ({ error: e.error === "wamp.error.canceled" ? `${e.error}: ${e.message}` : e.error })))

/** Every caller's `on_transfer` events. */
const eventsOf = (callers: ReadonlyArray<Caller>) => callers.flatMap((c) => c.events)

/** Whether every transfer in `committed` was announced to its payer. */
const announcedAll = (callers: ReadonlyArray<Caller>, committed: ReadonlyArray<number>) => () => {
  const seen = new Set(eventsOf(callers).map((e) => e.id))
  return committed.every((id) => seen.has(id))
}

const idOf = (result: { readonly args: ReadonlyArray<unknown> }) => (result.args[0] as { id: number }).id

layer(TestDatabase.layer, { excludeTestServices: true, timeout: "240 seconds" })("faults under load", (it) => {
  it.effect("SIGKILL in the middle of 1,000 concurrent transfers, then a restart: nothing half-written, every commit announced", () =>
    Effect.gen(function*() {
      const { callers: openFor, launch, state } = yield* setup()
      const first = yield* launch()
      const opening = 1000
      const callers = yield* openFor(4, 5, opening)
      const ids = callers.flatMap((c) => c.ids)
      const outcomes: Array<string> = []
      const answered: Array<number> = []
      const load = yield* Effect.forkChild(Effect.all(
        Array.from({ length: 1000 }, (_, i) => {
          const { caller, kwargs } = transferOf(callers, i)
          const call = Effect.tap(callRaw(caller.session, `${L}.transfer`, { kwargs }), (r) => Effect.sync(() => answered.push(idOf(r))))
          return Effect.tap(outcomeOf(call), (o) => Effect.sync(() => outcomes.push(o)))
        }),
        { concurrency: "unbounded" }
      ))
      yield* eventually(() => outcomes.length >= 200, 60_000)
      const doneAtKill = outcomes.length
      first.service.child.kill("SIGKILL")
      yield* Effect.promise(() => first.service.exited)
      yield* Fiber.join(load)
      const second = yield* launch()
      const restartedAt = Date.now()
      const afterKill = yield* state(ids, opening)
      const announced = yield* eventually(announcedAll(callers, afterKill.transfers), 60_000)
      const announcedIn = Date.now() - restartedAt
      const final = yield* state(ids, opening)
      const events = eventsOf(callers)
      const dup = duplicates(events)
      console.log([
        `SIGKILL case: 1,000 concurrent transfers by 4 callers (20 own accounts); service SIGKILLed after ${doneAtKill} had answered; restarted and registered in ${second.startedIn} ms; every commit announced ${announcedIn} ms after that`,
        `  outcomes: ${tally(outcomes)}`,
        `  committed transfers: ${final.transfers.length} (${answered.length} answered ok, all among them); sum of balances ${final.sum} (expected ${ids.length * opening}); accounts not reconciling: ${final.unbalanced}`,
        `  on_transfer events: ${events.length} for ${new Set(events.map((e) => e.id)).size} transfers; duplicates ${dup.count} (same transfer per _seq: ${dup.consistent}); _seq without gap: ${consecutive(events.map((e) => e.seq))}; outbox pending ${final.pending}`
      ].join("\n"))
      assert.isBelow(doneAtKill, 1000, "killed with transfers in flight")
      assert.strictEqual(outcomes.filter((o) => o === "HANG").length, 0, "no call hangs")
      assert.strictEqual(final.sum, ids.length * opening, "sum of balances unchanged")
      assert.strictEqual(final.unbalanced, 0, "no partial transfer")
      assert.isTrue(announced, "every committed transfer announced")
      assert.isTrue(dup.consistent, "a repeated _seq is the same transfer: a detectable duplicate")
      assert.isTrue(consecutive(events.map((e) => e.seq)), "no gap in _seq")
      const committed = new Set(final.transfers)
      assert.isTrue(answered.every((id) => committed.has(id)), "no success without a commit")
    }))

  it.effect("SIGKILL while the relay waits to mark a published batch: after the restart the batch is published again with the same _seq, nothing lost", () =>
    Effect.gen(function*() {
      const { launch, userUrl } = yield* setup()
      const first = yield* launch()
      const db = yield* TestDatabase
      const topic = "com.example.test.batch"
      const subscriber = yield* clientSession(userUrl)
      const live: Array<{ readonly seq: number; readonly n: number }> = []
      yield* Effect.promise(() =>
        subscriber.subscribe(topic, (args, kwargs) => void live.push({ seq: kwargs?.["_seq"] as number, n: (args?.[0] as { n: number }).n }))
      )
      const events = 50
      const hold = yield* holdRelayBeforeMarking(superuserUrl(db.name), topic, events)
      const published = yield* eventually(() => live.length >= events, 60_000)
      const pid = yield* hold.relayWaiting
      assert.isTrue(published, `published and acknowledged before the kill: ${live.length}/${events}`)
      assert.isDefined(pid, "the relay waits to mark the batch")
      first.service.child.kill("SIGKILL")
      yield* Effect.promise(() => first.service.exited)
      yield* hold.release
      const second = yield* launch()
      const restartedAt = Date.now()
      const again = yield* eventually(() => live.length >= 2 * events, 60_000)
      const republishedIn = Date.now() - restartedAt
      const marked = yield* Effect.repeat(hold.pending, { until: (n) => n === 0, schedule: Schedule.spaced("50 millis"), times: 1200 })
      const bySeq = new Map<number, Array<number>>()
      for (const e of live) bySeq.set(e.seq, [...(bySeq.get(e.seq) ?? []), e.n])
      const seqs = [...bySeq.keys()].sort((a, b) => a - b)
      console.log([
        `relay-kill case: ${events} events written by a batch job; the service SIGKILLed after the router acknowledged all of them and before its relay marked them published (relay backend pid ${pid} waiting on its UPDATE)`,
        `  restarted and registered in ${second.startedIn} ms; batch published again ${republishedIn} ms after it registered; deliveries ${live.length}, duplicates ${live.length - bySeq.size}, distinct _seq ${bySeq.size} (${seqs[0]}..${seqs.at(-1)}); pending afterwards ${marked}`
      ].join("\n"))
      assert.isTrue(again, "published again after the restart")
      assert.strictEqual(marked, 0, "marked published after the second delivery")
      assert.deepStrictEqual(seqs, Array.from({ length: events }, (_, i) => seqs[0]! + i), "every event, no gap")
      for (const [seq, copies] of bySeq) {
        assert.isAtLeast(copies.length, 2, `#${seq}: at least once across the crash, here twice`)
        assert.isTrue(copies.every((n) => n === copies[0]), `#${seq}: each repeat is the same event, detectable by _seq`)
      }
    }))

  it.effect("the service's router connection cut 3 times for 1.5 s (> its 1 s request timeout) under load: callers retrying with their key see each transfer once", () =>
    Effect.gen(function*() {
      const { callers: openFor, launch, state, wampProxy } = yield* setup()
      yield* launch()
      const opening = 1000
      const callers = yield* openFor(4, 5, opening)
      const ids = callers.flatMap((c) => c.ids)
      const attempts: Array<string> = []
      const results = new Map<string, number>()
      const durations: Array<number> = []
      const transferOnce = (i: number) =>
        Effect.gen(function*() {
          const { caller, kwargs } = transferOf(callers, i)
          const key = Crypto.randomUUID()
          const begun = Date.now()
          // retried until done, for at most 90 s (each cut lasts 1.5 s)
          for (const deadline = Date.now() + 90_000; Date.now() < deadline;) {
            const exit = yield* Effect.exit(
              callRaw(caller.session, `${L}.transfer`, { kwargs: { ...kwargs, idempotency_key: key } }).pipe(Effect.timeout("10 seconds"))
            )
            if (exit._tag === "Success") {
              attempts.push("ok")
              results.set(key, idOf(exit.value))
              durations.push(Date.now() - begun)
              return "done"
            }
            const error = exit.cause.reasons.find((r) => r._tag === "Fail")?.error as { error?: string } | undefined
            const uri = error?.error ?? "client timeout"
            attempts.push(uri)
            if (uri === `${L}.error.insufficient_funds`) return "refused"
            yield* Effect.sleep("150 millis")
          }
          return "gave up"
        })
      const load = yield* Effect.forkChild(Effect.all(Array.from({ length: 300 }, (_, i) => transferOnce(i)), { concurrency: 100 }))
      const cuts: Array<number> = []
      for (let n = 0; n < 3; n++) {
        yield* Effect.sleep("700 millis")
        const at = Date.now()
        yield* Effect.promise(() => wampProxy.cut(1500))
        cuts.push(Date.now() - at)
      }
      const finals = yield* Fiber.join(load)
      const committed = (yield* state(ids, opening)).transfers
      const announced = yield* eventually(announcedAll(callers, committed), 60_000)
      const final = yield* state(ids, opening)
      const returned = [...results.values()].sort((a, b) => a - b)
      const events = eventsOf(callers)
      const dup = duplicates(events)
      const retried = attempts.length - finals.length
      console.log([
        `router-cut case: 300 transfers by 4 callers with idempotency keys (100 at a time, retried every 150 ms); the service's router connection cut ${cuts.length} times for ${cuts.join("/")} ms`,
        `  attempts: ${attempts.length} (${retried} retries): ${tally(attempts)}`,
        `  logical transfers: ${tally(finals)}; committed rows ${final.transfers.length}; distinct results returned ${new Set(returned).size}; longest until done (retries included) ${Math.max(0, ...durations)} ms`,
        `  sum ${final.sum} (expected ${ids.length * opening}); accounts not reconciling ${final.unbalanced}; on_transfer events ${events.length}, duplicates ${dup.count}; outbox pending ${final.pending}`
      ].join("\n"))
      assert.notInclude(finals, "gave up")
      assert.deepStrictEqual(returned, [...final.transfers], "each committed transfer is exactly one caller's result: done once")
      assert.strictEqual(final.sum, ids.length * opening)
      assert.strictEqual(final.unbalanced, 0)
      assert.isTrue(announced, "every committed transfer announced")
      assert.isTrue(dup.consistent)
    }))

  it.effect("router restarted under load: the service registers again within 2 s (as the router sees it); callers get errors, never hang", () =>
    Effect.gen(function*() {
      const { adminUrl, launch, restartRouter, state, userUrl } = yield* setup()
      yield* launch()
      const opening = 1000
      // Callers that keep their authid across the restart (ticket principals), so their accounts stay theirs.
      const steady = yield* Effect.all([0, 1].map((n) =>
        Effect.map(
          Layer.build(clientWamp(userUrl, {
            requestTimeout: Duration.seconds(3),
            credentials: { method: "ticket", authid: `steady-${n}`, ticket: Redacted.make(steadyTicket) }
          })),
          (context) => Context.get(context, WampSession)
        )
      ))
      const admin = yield* clientSession(adminUrl)
      const accounts: Array<{ readonly wamp: WampSession["Service"]; readonly ids: Array<number> }> = []
      for (const wamp of steady) {
        const ids: Array<number> = []
        for (let a = 0; a < 4; a++) {
          const id = idOf(yield* wamp.call(`${L}.open_account`))
          yield* callRaw(admin, `${L}.mint`, { kwargs: { account: id, amount: opening } })
          ids.push(id)
        }
        accounts.push({ wamp, ids })
      }
      const ids = accounts.flatMap((a) => a.ids)
      const outcomes: Array<{ readonly at: number; readonly outcome: string }> = []
      let running = true
      const worker = (w: number) =>
        Effect.gen(function*() {
          for (let i = w; running; i += 4) {
            const { caller, kwargs } = transferOf(accounts, i)
            const outcome = yield* outcomeOf(caller.wamp.call(`${L}.transfer`, { kwargs }))
            outcomes.push({ at: Date.now(), outcome })
            if (outcome !== "ok") yield* Effect.sleep("50 millis")
          }
        })
      const load = yield* Effect.forkChild(Effect.all([0, 1, 2, 3].map(worker), { concurrency: "unbounded" }))
      yield* eventually(() => outcomes.filter((o) => o.outcome === "ok").length >= 20, 30_000)
      const stoppedAt = Date.now()
      const listening = yield* restartRouter(1000)
      // The router's view: its registrations of the ledger's procedures (meta API), polled from a new session.
      const observer = yield* clientSession(userUrl).pipe(Effect.retry({ schedule: Schedule.spaced("25 millis"), times: 400 }))
      const procedures = ["open_account", "get_account", "transfer", "mint", "history"].map((p) => `${L}.${p}`)
      const registeredAll = (session: autobahn.Session) =>
        Effect.map(
          Effect.all(procedures.map((uri) => callRaw(session, "wamp.registration.lookup", { args: [uri] }))),
          (answers) => answers.every((a) => typeof a.args[0] === "number")
        )
      let registered = 0
      while (registered === 0 && Date.now() - listening < 30_000) {
        if (yield* registeredAll(observer)) registered = Date.now()
        else yield* Effect.sleep("25 millis")
      }
      yield* eventually(() => outcomes.some((o) => o.at > registered + 500 && o.outcome === "ok"), 30_000)
      yield* Effect.sleep("1 second")
      running = false
      yield* Fiber.join(load)
      const final = yield* state(ids, opening)
      const during = outcomes.filter((o) => o.at >= stoppedAt && o.at <= registered).map((o) => o.outcome)
      const after = outcomes.filter((o) => o.at > registered + 500).map((o) => o.outcome)
      console.log([
        `router-restart case: 2 callers (ticket authids, kept across reconnects) in 4 loops of transfers through a WampSession with a 3 s request timeout; router down 1 s`,
        `  the router saw the ledger's 5 procedures registered again ${registered - listening} ms after it listened (meta API, polled every 25 ms)`,
        `  outcomes between stop and re-registration: ${tally(during)}; from 0.5 s after: ${tally(after)}; total calls ${outcomes.length}`,
        `  committed ${final.transfers.length}; sum ${final.sum} (expected ${ids.length * opening}); not reconciling ${final.unbalanced}`
      ].join("\n"))
      assert.isAbove(registered, 0, "registered again")
      assert.isAtMost(registered - listening, 2000, "within 2 s")
      assert.notInclude(outcomes.map((o) => o.outcome), "HANG")
      assert.include(after, "ok")
      assert.strictEqual(final.sum, ids.length * opening)
      assert.strictEqual(final.unbalanced, 0)
    }))

  it.effect("PostgreSQL restarted under load (fast shutdown, down 4 s, started again): calls fail fast with wampgres.error.database, then recover", () =>
    Effect.gen(function*() {
      const { callers: openFor, launch, restartable, state } = yield* setup("restartable")
      const pg = restartable!
      yield* launch()
      const opening = 1000
      const callers = yield* openFor(4, 3, opening)
      const ids = callers.flatMap((c) => c.ids)
      const outcomes: Array<{ readonly start: number; readonly millis: number; readonly outcome: string }> = []
      let running = true
      const worker = (w: number) =>
        Effect.gen(function*() {
          for (let i = w; running; i += 4) {
            const { caller, kwargs } = transferOf(callers, i)
            const begun = Date.now()
            const outcome = yield* outcomeOf(callRaw(caller.session, `${L}.transfer`, { kwargs }))
            outcomes.push({ start: begun, millis: Date.now() - begun, outcome })
            if (outcome !== "ok") yield* Effect.sleep("50 millis")
          }
        })
      const load = yield* Effect.forkChild(Effect.all([0, 1, 2, 3].map(worker), { concurrency: "unbounded" }))
      yield* eventually(() => outcomes.filter((o) => o.outcome === "ok").length >= 20, 30_000)
      const stoppingAt = Date.now()
      yield* pg.stop
      const stoppedAt = Date.now()
      yield* Effect.sleep("4 seconds")
      const startingAt = Date.now()
      yield* pg.start
      const restartedAt = Date.now()
      const recovered = yield* eventually(() => outcomes.some((o) => o.start > restartedAt && o.outcome === "ok"), 30_000)
      const firstSuccess = Math.min(...outcomes.filter((o) => o.start > restartedAt && o.outcome === "ok").map((o) => o.start + o.millis))
      yield* Effect.sleep("1 second")
      running = false
      yield* Fiber.join(load)
      // started while it was down (the last 0.5 s left out: such a call may reach the service after the start)
      const during = outcomes.filter((o) => o.start >= stoppedAt && o.start < startingAt - 500)
      const failed = during.filter((o) => o.outcome !== "ok")
      const committed = (yield* state(ids, opening)).transfers
      const announced = yield* eventually(announcedAll(callers, committed), 60_000)
      const final = yield* state(ids, opening)
      const events = eventsOf(callers)
      const dup = duplicates(events)
      console.log([
        `postgres-restart case: 4 callers in loops of transfers; PostgreSQL stopped (fast shutdown, ${stoppedAt - stoppingAt} ms), down 4 s, started again (${restartedAt - startingAt} ms)`,
        `  calls started while it was down: ${tally(during.map((o) => o.outcome))}; slowest failure ${Math.max(0, ...failed.map((o) => o.millis))} ms; calls under way at the stop: ${tally(outcomes.filter((o) => o.start < stoppedAt && o.start + o.millis > stoppingAt).map((o) => o.outcome))}`,
        `  first success ${firstSuccess - restartedAt} ms after PostgreSQL accepted connections again; total calls ${outcomes.length}`,
        `  committed ${final.transfers.length}; sum ${final.sum} (expected ${ids.length * opening}); not reconciling ${final.unbalanced}; on_transfer events ${events.length} for ${new Set(events.map((e) => e.id)).size} transfers, duplicates ${dup.count} (same transfer per _seq: ${dup.consistent}); outbox pending ${final.pending}`
      ].join("\n"))
      assert.isAbove(failed.length, 0, "calls were made while PostgreSQL was down")
      assert.deepStrictEqual([...new Set(during.map((o) => o.outcome))], ["wampgres.error.database"], "every call while it was down fails with wampgres.error.database")
      // fast: no call waits for PostgreSQL to come back (it is down 4 s; a connection attempt is bounded by DB_CONNECT_TIMEOUT, 2 s)
      assert.isBelow(Math.max(...failed.map((o) => o.millis)), 3500, "fail fast")
      assert.notInclude(outcomes.map((o) => o.outcome), "HANG")
      assert.isTrue(recovered, "calls succeed again after the restart")
      assert.strictEqual(final.sum, ids.length * opening)
      assert.strictEqual(final.unbalanced, 0)
      assert.isTrue(announced, "every committed transfer announced, also across the restart")
      // a relay pass cut by the shutdown after the router acknowledged publishes again: same _seq
      assert.isTrue(dup.consistent, "a repeated _seq is the same transfer: a detectable duplicate")
      assert.isTrue(consecutive(events.map((e) => e.seq)), "no gap in _seq")
    }))

  it.effect("a TCP path to PostgreSQL with latency, a 3 s stall and dropped connections: calls time out with a clear URI, the pool recovers, nothing half-written", () =>
    Effect.gen(function*() {
      const { callers: openFor, launch, pgProxy: path, state } = yield* setup("proxied")
      const pgProxy = path!
      yield* launch()
      const opening = 1000
      const callers = yield* openFor(4, 3, opening)
      const ids = callers.flatMap((c) => c.ids)
      const phases: Record<string, Array<string>> = { latency: [], stall: [], drop: [], after: [] }
      let phase = "latency"
      let running = true
      const worker = (w: number) =>
        Effect.gen(function*() {
          for (let i = w; running; i += 4) {
            const current = phase
            const { caller, kwargs } = transferOf(callers, i)
            // The caller bounds its call (WAMP call timeout, enforced by the router, which cancels it).
            const outcome = yield* outcomeWithReason(callRaw(caller.session, `${L}.transfer`, { kwargs }, { timeout: 1000 }))
            phases[current]!.push(outcome)
            if (outcome !== "ok") yield* Effect.sleep("50 millis")
          }
        })
      pgProxy.setLatency(40)
      const load = yield* Effect.forkChild(Effect.all([0, 1, 2, 3].map(worker), { concurrency: "unbounded" }))
      yield* Effect.sleep("1500 millis")
      phase = "stall"
      yield* Effect.promise(() => pgProxy.stall(3000))
      pgProxy.setLatency(0)
      phase = "drop"
      yield* Effect.promise(() => pgProxy.cut(0))
      yield* Effect.sleep("1 second")
      phase = "after"
      yield* eventually(() => phases["after"]!.filter((o) => o === "ok").length >= 5, 30_000)
      running = false
      yield* Fiber.join(load)
      const committed = (yield* state(ids, opening)).transfers
      const announced = yield* eventually(announcedAll(callers, committed), 60_000)
      const final = yield* state(ids, opening)
      console.log([
        `postgres-path case: 4 callers with a 1 s call timeout; 40 ms per chunk for 1.5 s, then a 3 s stall, then every connection dropped`,
        ...Object.entries(phases).map(([name, outcomes]) => `  ${name}: ${tally(outcomes)}`),
        `  committed ${final.transfers.length}; sum ${final.sum} (expected ${ids.length * opening}); not reconciling ${final.unbalanced}; every commit announced ${announced}; outbox pending ${final.pending}`
      ].join("\n"))
      // a timed-out call: the router cancels it on both sides (INTERRUPT to the service, which rolls back)
      const timedOut = "wamp.error.canceled: call timed out"
      const allowed = new Set(["ok", timedOut, "wampgres.error.database"])
      for (const outcome of Object.values(phases).flat()) assert.isTrue(allowed.has(outcome), outcome)
      assert.include(phases["stall"]!, timedOut, "the stall times calls out")
      assert.include(phases["after"]!, "ok", "the pool recovered")
      assert.strictEqual(final.sum, ids.length * opening)
      assert.strictEqual(final.unbalanced, 0, "nothing half-written")
      assert.isTrue(announced, "every committed transfer announced")
    }))

  it.effect("three instances with a shared registration, one SIGKILLed under load: calls continue on the others, the relay hands over", () =>
    Effect.gen(function*() {
      const { callers: openFor, launch, state, superuser } = yield* setup()
      const instances: Array<{ readonly service: Service }> = []
      for (const n of [1, 2, 3]) instances.push(yield* launch({ WAMP_INVOKE: "roundrobin", DB_APPLICATION_NAME: `wampgres-instance-${n}` }))
      const opening = 1000
      const callers = yield* openFor(4, 3, opening)
      const ids = callers.flatMap((c) => c.ids)
      // The router's view of the kill: the victim's session leaving (meta event, sent after the router dropped its registrations).
      const left = new Map<number, number>()
      yield* Effect.promise(() => callers[0]!.session.subscribe("wamp.session.on_leave", (args) => void left.set(args?.[0] as number, Date.now())))
      // The instance whose relay holds the outbox's advisory lock (a relay pass under way), by its application_name.
      const relaying = superuser((sql) =>
        sql<{ name: string }>`SELECT a.application_name AS name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
          WHERE l.locktype = 'advisory' AND l.granted AND l.classid = ${relayLockKeys[0]} AND l.objid = ${relayLockKeys[1]}`
      ).pipe(Effect.map((rows) => Number(/wampgres-instance-(\d)/.exec(rows[0]?.name ?? "")?.[1] ?? 0)))
      const outcomes: Array<{ readonly start: number; readonly outcome: string }> = []
      const load = yield* Effect.forkChild(Effect.all(
        Array.from({ length: 600 }, (_, i) => {
          const { caller, kwargs } = transferOf(callers, i)
          return Effect.suspend(() => {
            const start = Date.now()
            return Effect.tap(outcomeOf(callRaw(caller.session, `${L}.transfer`, { kwargs })), (outcome) =>
              Effect.sync(() => outcomes.push({ start, outcome })))
          })
        }),
        { concurrency: 40 }
      ))
      yield* eventually(() => outcomes.length >= 150, 60_000)
      // Killed while its relay is publishing: another instance's relay must take over.
      const relayer = yield* Effect.repeat(relaying, { until: (n) => n > 0, schedule: Schedule.spaced("10 millis"), times: 3000 })
      const victim = instances[Math.max(relayer, 1) - 1]!.service
      const killedAt = Date.now()
      const answeredAtKill = outcomes.length
      victim.child.kill("SIGKILL")
      yield* Effect.promise(() => victim.exited)
      const session = Number(/Joined realm1 at \S+ \(session (\d+)\)/.exec(victim.output())?.[1])
      const noticed = yield* eventually(() => left.has(session), 30_000)
      const leftAt = left.get(session) ?? 0
      yield* Fiber.join(load)
      const committed = (yield* state(ids, opening)).transfers
      const announced = yield* eventually(announcedAll(callers, committed), 60_000)
      // calls made once the router had dropped the killed instance
      const after = outcomes.filter((o) => o.start > leftAt).map((o) => o.outcome)
      const final = yield* state(ids, opening)
      const events = eventsOf(callers)
      const dup = duplicates(events)
      console.log([
        `three-instances case: 600 transfers by 4 callers (40 at a time) over 3 instances (roundrobin); instance ${relayer} SIGKILLed while its relay held the outbox lock, after ${answeredAtKill} answers; the router dropped its session ${leftAt - killedAt} ms after the kill`,
        `  outcomes: ${tally(outcomes.map((o) => o.outcome))}; of calls made after the router dropped it: ${tally(after)}`,
        `  committed ${final.transfers.length}; sum ${final.sum} (expected ${ids.length * opening}); not reconciling ${final.unbalanced}`,
        `  on_transfer events ${events.length} for ${new Set(events.map((e) => e.id)).size} transfers, duplicates ${dup.count}; outbox pending ${final.pending}`
      ].join("\n"))
      assert.notInclude(outcomes.map((o) => o.outcome), "HANG")
      for (const outcome of outcomes) assert.include(["ok", "wamp.error.canceled", `${L}.error.insufficient_funds`], outcome.outcome)
      assert.isAbove(relayer, 0, "the killed instance was relaying")
      assert.isTrue(noticed, "the router saw the killed instance leave")
      assert.isTrue(after.length > 0 && after.every((o) => o !== "wamp.error.canceled"), "the others take every call after the kill")
      assert.strictEqual(final.sum, ids.length * opening)
      assert.strictEqual(final.unbalanced, 0)
      assert.isTrue(announced, "every committed transfer announced (the relay runs on a survivor)")
      assert.isTrue(dup.consistent)
      assert.strictEqual(final.pending, 0)
    }))
})
