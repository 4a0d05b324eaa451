/**
 * Faults under load, with the real service (src/main.ts as a child process) against the test
 * database and the embedded router, its WAMP connection going through a TCP proxy the test controls.
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
import * as Scope from "effect/Scope"
import * as Crypto from "node:crypto"
import { Router } from "../../src/router/index.js"
import { WampSession } from "../../src/layers/WampSession.js"
import { callRaw, clientSession, clientWamp, postgresInfo, TestDatabase, TestRouter } from "../support/index.js"
import { ledgerRegistered, ledgerState, openAccounts, proxy, runService, type Service, tally } from "./support.js"

const L = "com.example.ledger"

const start = <A, E, R>(layer_: Layer.Layer<A, E, R>) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(layer_, scope)
    return { context, stop: Scope.close(scope, Exit.void) }
  })

/**
 * The router, a proxy in front of it for the service, and a way to start the service; with
 * `pgProxy` the service reaches PostgreSQL through a second proxy too.
 */
const setup = (options: { readonly pgProxy?: boolean } = {}) => Effect.gen(function*() {
  const db = yield* TestDatabase
  let routerScope = yield* start(TestRouter.layer())
  yield* Effect.addFinalizer(() => routerScope.stop)
  const router = Context.get(routerScope.context, Router)
  const port = router.listening[0]!.port
  const wampProxy = yield* Effect.acquireRelease(Effect.promise(() => proxy("127.0.0.1", port)), (p) => Effect.promise(p.close))
  const pg = postgresInfo()
  const pgProxy = yield* Effect.acquireRelease(Effect.promise(() => proxy(pg.host, pg.port)), (p) => Effect.promise(p.close))
  const viaProxy = new URL(db.url)
  viaProxy.hostname = "127.0.0.1"
  viaProxy.port = String(pgProxy.port)
  viaProxy.search = ""
  /** Stops the router, waits `millis`, starts it again on the same port; resolves once it listens. */
  const restartRouter = (millis: number) =>
    Effect.gen(function*() {
      yield* routerScope.stop
      yield* Effect.sleep(millis)
      routerScope = yield* start(TestRouter.layer({ port }))
      return Date.now()
    })
  const env: Record<string, string> = {
    DATABASE_URL: options.pgProxy === true ? viaProxy.toString() : db.url,
    DB_CONNECT_TIMEOUT: "2 seconds",
    WAMP_URL: `ws://127.0.0.1:${wampProxy.port}/ws`,
    WAMP_REQUEST_TIMEOUT: "1 second",
    WAMP_MAX_RETRY_DELAY: "300 millis",
    WAMP_DRAIN_TIMEOUT: "1 second",
    OUTBOX_POLL_INTERVAL: "500 millis",
    DB_POOL_MAX: "8"
  }
  const running: Array<Service> = []
  const launch = (extra: Record<string, string> = {}) => Effect.gen(function*() {
    const service = runService({ ...env, ...extra })
    running.push(service)
    const started = Date.now()
    yield* Effect.promise(() => service.waitFor(ledgerRegistered, 60_000))
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
  return { router, wampProxy, pgProxy, launch, restartRouter }
})

interface Event {
  readonly seq: number
  readonly id: number
}

const collect = (session: autobahn.Session, topic: string) =>
  Effect.gen(function*() {
    const events: Array<Event> = []
    yield* Effect.promise(() =>
      session.subscribe(topic, (args, kwargs) => {
        events.push({ seq: kwargs?.["_seq"] as number, id: (args?.[0] as { id: number }).id })
      })
    )
    return events
  })

/** Sequence numbers seen more than once, and whether every repeat carried the same transfer. */
const duplicates = (events: ReadonlyArray<Event>) => {
  const bySeq = new Map<number, Set<number>>()
  for (const e of events) bySeq.set(e.seq, (bySeq.get(e.seq) ?? new Set()).add(e.id))
  return { count: events.length - bySeq.size, consistent: [...bySeq.values()].every((ids) => ids.size === 1) }
}

const eventually = (check: () => boolean, millis: number) =>
  Effect.gen(function*() {
    const deadline = Date.now() + millis
    while (!check() && Date.now() < deadline) yield* Effect.sleep("50 millis")
    return check()
  })

const outcomeOf = <A>(effect: Effect.Effect<A, { readonly error: string }>) =>
  effect.pipe(
    Effect.map(() => "ok"),
    Effect.catch((e) => Effect.succeed(e.error)),
    Effect.timeoutOrElse({ duration: "30 seconds", orElse: () => Effect.succeed("HANG") })
  )

const pairs = (ids: ReadonlyArray<number>, i: number) => {
  const from = ids[i % ids.length]!
  const to = ids[(i * 7 + 3) % ids.length] === from ? ids[(i + 1) % ids.length]! : ids[(i * 7 + 3) % ids.length]!
  return { from, to, amount: 1 + (i % 50) }
}

layer(TestDatabase.layer, { excludeTestServices: true, timeout: "180 seconds" })("faults under load", (it) => {
  it.effect("SIGKILL in the middle of 1,000 concurrent transfers, then a restart: nothing half-written, every commit announced", () =>
    Effect.gen(function*() {
      const { launch, router } = yield* setup()
      const first = yield* launch()
      const opening = 1000
      const ids = yield* openAccounts("kill", 20, opening)
      const subscriber = yield* clientSession(router.url)
      const events = yield* collect(subscriber, `${L}.on_transfer`)
      const sessions = yield* Effect.all(Array.from({ length: 4 }, () => clientSession(router.url)))
      const outcomes: Array<string> = []
      const load = yield* Effect.forkChild(Effect.all(
        Array.from({ length: 1000 }, (_, i) =>
          Effect.tap(outcomeOf(callRaw(sessions[i % 4]!, `${L}.transfer`, { kwargs: pairs(ids, i) })), (o) =>
            Effect.sync(() => outcomes.push(o)))),
        { concurrency: "unbounded" }
      ))
      yield* eventually(() => outcomes.length >= 200, 30_000)
      const doneAtKill = outcomes.length
      first.service.child.kill("SIGKILL")
      yield* Effect.promise(() => first.service.exited)
      yield* Fiber.join(load)
      const second = yield* launch()
      const afterKill = yield* ledgerState(ids, opening)
      const announced = yield* eventually(() => {
        const seen = new Set(events.map((e) => e.id))
        return afterKill.transfers.every((id) => seen.has(id))
      }, 30_000)
      const state = yield* ledgerState(ids, opening)
      const dup = duplicates(events)
      const seqs = [...new Set(events.map((e) => e.seq))].sort((a, b) => a - b)
      console.log([
        `SIGKILL case: 1,000 concurrent transfers from 4 sessions; killed after ${doneAtKill} had answered; restarted in ${second.startedIn} ms`,
        `  outcomes: ${tally(outcomes)}`,
        `  committed transfers: ${state.transfers.length}; sum of balances ${state.sum} (expected ${ids.length * opening}); accounts not reconciling: ${state.unbalanced}`,
        `  on_transfer events: ${events.length} for ${new Set(events.map((e) => e.id)).size} transfers; duplicates ${dup.count} (same transfer per _seq: ${dup.consistent}); outbox pending ${state.pending}`
      ].join("\n"))
      assert.strictEqual(outcomes.filter((o) => o === "HANG").length, 0, "no call hangs")
      assert.strictEqual(state.sum, ids.length * opening)
      assert.strictEqual(state.unbalanced, 0, "no partial transfer")
      assert.isTrue(announced, "every committed transfer announced")
      assert.isTrue(dup.consistent)
      assert.deepStrictEqual(seqs, Array.from({ length: seqs.length }, (_, i) => seqs[0]! + i), "no gap in _seq")
      assert.isAtMost(outcomes.filter((o) => o === "ok").length, state.transfers.length, "no success without a commit")
    }))

  it.effect("the service's router connection cut 3 times for 1.5 s (> its 1 s request timeout) under load: callers retrying with their key see each transfer once", () =>
    Effect.gen(function*() {
      const { launch, router, wampProxy } = yield* setup()
      yield* launch()
      const opening = 1000
      const ids = yield* openAccounts("cut", 10, opening)
      const subscriber = yield* clientSession(router.url)
      const events = yield* collect(subscriber, `${L}.on_transfer`)
      const sessions = yield* Effect.all(Array.from({ length: 4 }, () => clientSession(router.url)))
      const attempts: Array<string> = []
      const results = new Map<string, number>()
      const transferOnce = (i: number) =>
        Effect.gen(function*() {
          const key = Crypto.randomUUID()
          for (let attempt = 0; attempt < 100; attempt++) {
            const exit = yield* Effect.exit(
              callRaw(sessions[i % 4]!, `${L}.transfer`, { kwargs: { ...pairs(ids, i), idempotency_key: key } }).pipe(
                Effect.timeout("10 seconds")
              )
            )
            if (exit._tag === "Success") {
              attempts.push("ok")
              results.set(key, (exit.value.args[0] as { id: number }).id)
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
      const state = yield* ledgerState(ids, opening)
      const announced = yield* eventually(() => {
        const seen = new Set(events.map((e) => e.id))
        return state.transfers.every((id) => seen.has(id))
      }, 30_000)
      const returned = [...results.values()].sort((a, b) => a - b)
      const dup = duplicates(events)
      console.log([
        `router-cut case: 300 transfers with idempotency keys (100 at a time, retried every 150 ms); connection cut ${cuts.length} times for ${cuts.join("/")} ms`,
        `  attempts: ${tally(attempts)}`,
        `  logical transfers: ${tally(finals)}; committed rows ${state.transfers.length}; distinct results ${new Set(returned).size}`,
        `  sum ${state.sum} (expected ${ids.length * opening}); accounts not reconciling ${state.unbalanced}; on_transfer events ${events.length}, duplicates ${dup.count}`
      ].join("\n"))
      assert.notInclude(finals, "gave up")
      assert.deepStrictEqual(returned, [...state.transfers], "each committed transfer is exactly one caller's result: done once")
      assert.strictEqual(state.sum, ids.length * opening)
      assert.strictEqual(state.unbalanced, 0)
      assert.isTrue(announced, "every committed transfer announced")
      assert.isTrue(dup.consistent)
    }))
  it.effect("router restarted under load: the service registers again within 2 s; callers get errors, never hang", () =>
    Effect.gen(function*() {
      const { launch, restartRouter, router } = yield* setup()
      yield* launch()
      const opening = 1000
      const ids = yield* openAccounts("restart", 10, opening)
      const client = yield* Layer.build(clientWamp(router.url, { requestTimeout: Duration.seconds(3) }))
      const wamp = Context.get(client, WampSession)
      const outcomes: Array<{ readonly at: number; readonly outcome: string }> = []
      let running = true
      const worker = (w: number) =>
        Effect.gen(function*() {
          for (let i = w; running; i += 4) {
            const outcome = yield* outcomeOf(wamp.call(`${L}.transfer`, { kwargs: pairs(ids, i) }))
            outcomes.push({ at: Date.now(), outcome })
            if (outcome !== "ok") yield* Effect.sleep("50 millis")
          }
        })
      const load = yield* Effect.forkChild(Effect.all([0, 1, 2, 3].map(worker), { concurrency: "unbounded" }))
      yield* Effect.sleep("1 second")
      const stoppedAt = Date.now()
      const listening = yield* restartRouter(1000)
      const answers = Effect.scoped(Effect.flatMap(clientSession(router.url), (session) => callRaw(session, `${L}.get_account`, { args: [ids[0]!] })))
      let registered = 0
      while (registered === 0 && Date.now() - listening < 20_000) {
        const ok = yield* answers.pipe(Effect.as(true), Effect.catch(() => Effect.succeed(false)))
        if (ok) registered = Date.now()
        else yield* Effect.sleep("50 millis")
      }
      yield* Effect.sleep("2 seconds")
      running = false
      yield* Fiber.join(load)
      const state = yield* ledgerState(ids, opening)
      const during = outcomes.filter((o) => o.at >= stoppedAt && o.at <= registered).map((o) => o.outcome)
      const after = outcomes.filter((o) => o.at > registered + 500).map((o) => o.outcome)
      console.log([
        `router-restart case: 4 callers in a loop (transfers, through a WampSession with a 3 s request timeout); router down 1 s`,
        `  registered again ${registered - listening} ms after the new router listened`,
        `  outcomes between stop and re-registration: ${tally(during)}; afterwards: ${tally(after)}; total calls ${outcomes.length}`,
        `  committed ${state.transfers.length}; sum ${state.sum} (expected ${ids.length * opening}); not reconciling ${state.unbalanced}`
      ].join("\n"))
      assert.isAbove(registered, 0, "registered again")
      assert.isAtMost(registered - listening, 2000, "within 2 s")
      assert.notInclude(outcomes.map((o) => o.outcome), "HANG")
      assert.include(after, "ok")
      assert.strictEqual(state.sum, ids.length * opening)
      assert.strictEqual(state.unbalanced, 0)
    }))

  it.effect("PostgreSQL unreachable for 2 s under load (connections dropped and refused, as in a restart): calls fail fast with wampgres.error.database, then recover", () =>
    Effect.gen(function*() {
      const { launch, pgProxy, router } = yield* setup({ pgProxy: true })
      yield* launch()
      const opening = 1000
      const ids = yield* openAccounts("pgdown", 10, opening)
      const sessions = yield* Effect.all(Array.from({ length: 4 }, () => clientSession(router.url)))
      const outcomes: Array<{ readonly start: number; readonly millis: number; readonly outcome: string }> = []
      let running = true
      const worker = (w: number) =>
        Effect.gen(function*() {
          for (let i = w; running; i += 4) {
            const start = Date.now()
            const outcome = yield* outcomeOf(callRaw(sessions[w]!, `${L}.transfer`, { kwargs: pairs(ids, i) }))
            outcomes.push({ start, millis: Date.now() - start, outcome })
            if (outcome !== "ok") yield* Effect.sleep("50 millis")
          }
        })
      const load = yield* Effect.forkChild(Effect.all([0, 1, 2, 3].map(worker), { concurrency: "unbounded" }))
      yield* Effect.sleep("1 second")
      const cutAt = Date.now()
      yield* Effect.promise(() => pgProxy.cut(2000))
      const restoredAt = Date.now()
      let recovered = 0
      while (recovered === 0 && Date.now() - restoredAt < 20_000) {
        if (outcomes.some((o) => o.start > restoredAt && o.outcome === "ok")) recovered = Date.now()
        else yield* Effect.sleep("25 millis")
      }
      yield* Effect.sleep("1 second")
      running = false
      yield* Fiber.join(load)
      const during = outcomes.filter((o) => o.start > cutAt + 100 && o.start < restoredAt - 100)
      const failed = during.filter((o) => o.outcome !== "ok")
      const state = yield* ledgerState(ids, opening)
      console.log([
        `postgres-outage case: 4 callers in a loop; PostgreSQL unreachable for 2 s (proxy drops and refuses connections)`,
        `  calls started during the outage: ${tally(during.map((o) => o.outcome))}; slowest failure ${Math.max(0, ...failed.map((o) => o.millis))} ms`,
        `  first success ${recovered - restoredAt} ms after PostgreSQL was reachable again; total calls ${outcomes.length}`,
        `  committed ${state.transfers.length}; sum ${state.sum} (expected ${ids.length * opening}); not reconciling ${state.unbalanced}`
      ].join("\n"))
      assert.isAbove(failed.length, 0)
      assert.deepStrictEqual([...new Set(failed.map((o) => o.outcome))], ["wampgres.error.database"])
      assert.isBelow(Math.max(...failed.map((o) => o.millis)), 2500, "fail fast (within the connect timeout)")
      assert.isAbove(recovered, 0, "recovered")
      assert.isBelow(recovered - restoredAt, 5000)
      assert.strictEqual(state.sum, ids.length * opening)
      assert.strictEqual(state.unbalanced, 0)
    }))

  it.effect("a TCP path to PostgreSQL with latency, a 3 s stall and dropped connections: calls time out with a clear URI, the pool recovers, nothing half-written", () =>
    Effect.gen(function*() {
      const { launch, pgProxy, router } = yield* setup({ pgProxy: true })
      yield* launch()
      const opening = 1000
      const ids = yield* openAccounts("proxy", 10, opening)
      const sessions = yield* Effect.all(Array.from({ length: 4 }, () => clientSession(router.url)))
      const phases: Record<string, Array<string>> = { latency: [], stall: [], drop: [], after: [] }
      let phase = "latency"
      let running = true
      const worker = (w: number) =>
        Effect.gen(function*() {
          for (let i = w; running; i += 4) {
            const current = phase
            // The caller bounds its call (WAMP call timeout, enforced by the router, which cancels it).
            const outcome = yield* outcomeOf(callRaw(sessions[w]!, `${L}.transfer`, { kwargs: pairs(ids, i) }, { timeout: 1000 }))
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
      yield* Effect.sleep("2 seconds")
      running = false
      yield* Fiber.join(load)
      const state = yield* ledgerState(ids, opening)
      console.log([
        `postgres-path case: 4 callers with a 1 s call timeout; 40 ms per chunk for 1.5 s, then a 3 s stall, then every connection dropped`,
        ...Object.entries(phases).map(([name, outcomes]) => `  ${name}: ${tally(outcomes)}`),
        `  committed ${state.transfers.length}; sum ${state.sum} (expected ${ids.length * opening}); not reconciling ${state.unbalanced}`
      ].join("\n"))
      const allowed = new Set(["ok", "wamp.error.timeout", "wamp.error.canceled", "wampgres.error.database"])
      for (const outcome of Object.values(phases).flat()) assert.isTrue(allowed.has(outcome), outcome)
      assert.isTrue(phases["stall"]!.some((o) => o === "wamp.error.timeout" || o === "wamp.error.canceled"), "the stall times calls out")
      assert.include(phases["after"]!, "ok", "the pool recovered")
      assert.strictEqual(state.sum, ids.length * opening)
      assert.strictEqual(state.unbalanced, 0, "nothing half-written")
    }))
  it.effect("three instances with a shared registration, one SIGKILLed under load: calls continue on the others, the relay hands over", () =>
    Effect.gen(function*() {
      const { launch, router } = yield* setup()
      const instances = [yield* launch({ WAMP_INVOKE: "roundrobin" }), yield* launch({ WAMP_INVOKE: "roundrobin" }), yield* launch({ WAMP_INVOKE: "roundrobin" })]
      const opening = 1000
      const ids = yield* openAccounts("three", 12, opening)
      const subscriber = yield* clientSession(router.url)
      const events = yield* collect(subscriber, `${L}.on_transfer`)
      const sessions = yield* Effect.all(Array.from({ length: 4 }, () => clientSession(router.url)))
      const outcomes: Array<{ readonly at: number; readonly outcome: string }> = []
      const load = yield* Effect.forkChild(Effect.all(
        Array.from({ length: 600 }, (_, i) =>
          Effect.tap(outcomeOf(callRaw(sessions[i % 4]!, `${L}.transfer`, { kwargs: pairs(ids, i) })), (outcome) =>
            Effect.sync(() => outcomes.push({ at: Date.now(), outcome })))),
        { concurrency: 40 }
      ))
      yield* eventually(() => outcomes.length >= 150, 30_000)
      const killedAt = Date.now()
      instances[1]!.service.child.kill("SIGKILL")
      yield* Effect.promise(() => instances[1]!.service.exited)
      yield* Fiber.join(load)
      const state = yield* ledgerState(ids, opening)
      const announced = yield* eventually(() => {
        const seen = new Set(events.map((e) => e.id))
        return state.transfers.every((id) => seen.has(id))
      }, 30_000)
      const after = outcomes.filter((o) => o.at > killedAt + 1000).map((o) => o.outcome)
      const finalState = yield* ledgerState(ids, opening)
      const dup = duplicates(events)
      console.log([
        `three-instances case: 600 transfers (40 at a time, 4 sessions) over 3 instances (roundrobin); instance 2 SIGKILLed after ${outcomes.filter((o) => o.at <= killedAt).length} answers`,
        `  outcomes: ${tally(outcomes.map((o) => o.outcome))}; from 1 s after the kill: ${tally(after)}`,
        `  committed ${state.transfers.length}; sum ${state.sum} (expected ${ids.length * opening}); not reconciling ${state.unbalanced}`,
        `  on_transfer events ${events.length} for ${new Set(events.map((e) => e.id)).size} transfers, duplicates ${dup.count}; outbox pending ${finalState.pending}`
      ].join("\n"))
      assert.notInclude(outcomes.map((o) => o.outcome), "HANG")
      for (const outcome of outcomes) assert.include(["ok", "wamp.error.canceled", `${L}.error.insufficient_funds`], outcome.outcome)
      assert.isTrue(after.length > 0 && after.every((o) => o !== "wamp.error.canceled"), "the others take every call after the kill")
      assert.strictEqual(state.sum, ids.length * opening)
      assert.strictEqual(state.unbalanced, 0)
      assert.isTrue(announced, "every committed transfer announced (the relay runs on a survivor)")
      assert.strictEqual(finalState.pending, 0)
    }))
})
