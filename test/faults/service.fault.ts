/**
 * Faults under load, with the real service (src/main.ts as a child process) against the test
 * database and the embedded router, its WAMP connection going through a TCP proxy the test controls.
 * Every case prints what it did and what it verified, with figures.
 */
import { assert, layer } from "@effect/vitest"
import type autobahn from "autobahn"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Crypto from "node:crypto"
import { Router } from "../../src/router/index.js"
import { callRaw, clientSession, TestDatabase, TestRouter } from "../support/index.js"
import { ledgerRegistered, ledgerState, openAccounts, proxy, runService, type Service, tally } from "./support.js"

const L = "com.example.ledger"

const start = <A, E, R>(layer_: Layer.Layer<A, E, R>) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(layer_, scope)
    return { context, stop: Scope.close(scope, Exit.void) }
  })

/** The router, a proxy in front of it for the service, and a way to start the service. */
const setup = Effect.gen(function*() {
  const db = yield* TestDatabase
  const routerScope = yield* start(TestRouter.layer())
  yield* Effect.addFinalizer(() => routerScope.stop)
  const router = Context.get(routerScope.context, Router)
  const port = router.listening[0]!.port
  const wampProxy = yield* Effect.acquireRelease(Effect.promise(() => proxy("127.0.0.1", port)), (p) => Effect.promise(p.close))
  const env: Record<string, string> = {
    DATABASE_URL: db.url,
    WAMP_URL: `ws://127.0.0.1:${wampProxy.port}/ws`,
    WAMP_REQUEST_TIMEOUT: "1 second",
    WAMP_MAX_RETRY_DELAY: "300 millis",
    WAMP_DRAIN_TIMEOUT: "1 second",
    OUTBOX_POLL_INTERVAL: "500 millis",
    DB_POOL_MAX: "8"
  }
  const running: Array<Service> = []
  const launch = Effect.gen(function*() {
    const service = runService(env)
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
  return { router, wampProxy, launch }
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
      const { launch, router } = yield* setup
      const first = yield* launch
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
      const second = yield* launch
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
      const { launch, router, wampProxy } = yield* setup
      yield* launch
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
})
