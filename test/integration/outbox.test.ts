/**
 * The transactional outbox with real parts (embedded router, the run's PostgreSQL, autobahn
 * clients): events carry per-topic sequence numbers in commit order; events committed while the
 * router is down are published when it is back, and a subscriber that joined late fetches what it
 * missed with `wampgres.outbox.replay`; with two instances only one relay publishes at a time, so
 * every event arrives once; a relay that loses its database connection after the router acknowledged
 * a batch and before marking it publishes the batch again with the same sequence numbers (at least
 * once, the repeat detectable). Events carry their PUBLISH options: the ledger's go to the payer
 * (`on_transfer`) or the owner (`on_account_change`) only, so each caller's events are a part of
 * the topic's numbers and the parts together are every number once; replay returns a caller only
 * what it may receive. Every session is a caller of its own (`ledger/callers.ts`).
 */
import { assert, layer } from "@effect/vitest"
import type autobahn from "autobahn"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as SqlClient from "effect/sql/SqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import type { InvokePolicy } from "../../src/layers/WampSession.js"
import * as Ledger from "../../src/procedures/ledger/index.js"
import { Router } from "../../src/router/index.js"
import { callRaw, clientSession, componentLayer, inTestDatabaseAsSuperuser, superuserUrl, TestDatabase, TestRouter } from "../support/index.js"
import { authidOf, callersRouterConfig, urlFor } from "./ledger/callers.js"

const L = "com.example.ledger"

/** Starts a layer in a scope of its own; `stop` ends it. */
const start = <A, E, R>(layer_: Layer.Layer<A, E, R>) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(layer_, scope)
    return { context, stop: Scope.close(scope, Exit.void) }
  })

/** One component instance against `router` and the test database. */
const component = (router: Router["Service"], invoke: InvokePolicy = "single") =>
  Effect.flatMap(Effect.context<TestDatabase | SqlClient.SqlClient>(), (database) =>
    start(
      componentLayer(Layer.fresh(Ledger.layer), { invoke }).pipe(
        Layer.provide(Layer.succeed(Router, router)),
        Layer.provide(Layer.succeedContext(database))
      )
    ))

interface Seen {
  readonly seq: number
  readonly value: Record<string, unknown>
}

/** Subscribes and collects every event with its `_seq`. */
const collect = (session: autobahn.Session, topic: string) =>
  Effect.gen(function*() {
    const events: Array<Seen> = []
    yield* Effect.promise(() =>
      session.subscribe(topic, (args, kwargs) => {
        events.push({ seq: kwargs?.["_seq"] as number, value: args?.[0] as Record<string, unknown> })
      })
    )
    return events
  })

const eventually = (check: () => boolean, millis = 10_000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + millis
    while (!check() && Date.now() < deadline) yield* Effect.sleep("25 millis")
    return check()
  })

/** Whether `check` held within `millis` (polled). */
const eventuallyEffect = <E, R>(check: Effect.Effect<boolean, E, R>, millis = 10_000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + millis
    while (Date.now() < deadline) {
      if (yield* check) return true
      yield* Effect.sleep("25 millis")
    }
    return yield* check
  })

/** The router with one WebSocket path per authrole (`/user`, `/admin`); `port` to restart it. */
const callersRouter = (port?: number) => TestRouter.layer({ configFile: callersRouterConfig, ...(port === undefined ? {} : { port }) })

/** Our router (the callers' configuration) and one component instance, stopped with the test's scope. */
const routerWithComponent = Effect.gen(function*() {
  const routerScope = yield* start(callersRouter())
  yield* Effect.addFinalizer(() => routerScope.stop)
  const router = Context.get(routerScope.context, Router)
  const instance = yield* component(router)
  yield* Effect.addFinalizer(() => instance.stop)
  return router
})

/** Runs `effect` in a transaction as the admin authrole: row-level security lets it change any account. */
const asAdmin = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql.withTransaction(Effect.andThen(sql`SELECT set_config('wampgres.authrole', 'admin', true)`, effect)))

/** A caller (a session of its own) with `n` accounts holding `balance` each (minted by an admin). */
interface Caller {
  readonly session: autobahn.Session
  readonly ids: ReadonlyArray<number>
  readonly onTransfer: Array<Seen>
  readonly onChange: Array<Seen>
}

const callerWithAccounts = (router: Router["Service"], n: number, balance: number) =>
  Effect.gen(function*() {
    const session = yield* clientSession(urlFor(router, "user"))
    const onTransfer = yield* collect(session, `${L}.on_transfer`)
    const onChange = yield* collect(session, `${L}.on_account_change`)
    const admin = yield* clientSession(urlFor(router, "admin"))
    const ids: Array<number> = []
    for (let i = 0; i < n; i++) {
      const { id } = (yield* callRaw(session, `${L}.open_account`)).args[0] as { id: number }
      yield* callRaw(admin, `${L}.mint`, { kwargs: { account: id, amount: balance } })
      ids.push(id)
    }
    return { session, ids, onTransfer, onChange } satisfies Caller
  })

/** Every caller's events of one kind, by sequence number. */
const union = (callers: ReadonlyArray<Caller>, kind: "onTransfer" | "onChange") =>
  callers.flatMap((c) => c[kind]).sort((a, b) => a.seq - b.seq)

/** Each caller's own events arrive in increasing order, and only events about its own accounts. */
const ownOnly = (callers: ReadonlyArray<Caller>) => {
  for (const c of callers) {
    const increasing = (events: ReadonlyArray<Seen>) => events.every((e, i) => i === 0 || events[i - 1]!.seq < e.seq)
    assert.isTrue(increasing(c.onTransfer) && increasing(c.onChange), "each caller's events in order")
    assert.isTrue(c.onTransfer.every((e) => c.ids.includes(e.value["from"] as number)), "on_transfer to the payer only")
    assert.isTrue(c.onChange.every((e) => c.ids.includes(e.value["id"] as number)), "on_account_change to the owner only")
  }
}

const lastSeq = (topic: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(
      sql<{ last: string | null }>`SELECT (SELECT last_seq FROM wampgres_outbox_topics WHERE topic = ${topic})::text AS last`,
      (rows) => Number(rows[0]?.last ?? 0)
    ))

/** Random transfers among all accounts, each paid by its owner, all at once; the ids of those that committed. */
const transferStorm = (payers: ReadonlyArray<Caller>, count: number) => {
  const ids = payers.flatMap((c) => c.ids)
  return Effect.map(
    Effect.all(
      Array.from({ length: count }, (_, i) => {
        const payer = payers[i % payers.length]!
        const from = payer.ids[Math.floor(i / payers.length) % payer.ids.length]!
        const to = ids[(i * 7 + 3) % ids.length] === from ? ids.find((id) => id !== from)! : ids[(i * 7 + 3) % ids.length]!
        return Effect.result(
          callRaw(payer.session, `${L}.transfer`, { kwargs: { from, to, amount: 1 + (i % 40) } })
        )
      }),
      { concurrency: "unbounded" }
    ),
    (results) =>
      results.flatMap((r) => (r._tag === "Success" ? [(r.success.args[0] as { id: number }).id] : []))
  )
}

const Env = TestDatabase.layer

layer(Env, { excludeTestServices: true, timeout: "90 seconds" })("transactional outbox", (it) => {
  it.effect("300 concurrent transfers: each committed one announced once to its payer, _seq consecutive per topic over all recipients", () =>
    Effect.gen(function*() {
      const router = yield* routerWithComponent
      const transfersBefore = yield* lastSeq(`${L}.on_transfer`)
      const changesBefore = yield* lastSeq(`${L}.on_account_change`)
      // 3 callers, 8 accounts: each opened (balance 0) and minted, 2 changes per account
      const callers = [
        yield* callerWithAccounts(router, 3, 200),
        yield* callerWithAccounts(router, 3, 200),
        yield* callerWithAccounts(router, 2, 200)
      ]
      const committed = yield* transferStorm(callers, 300)
      assert.isAbove(committed.length, 50)
      const onTransfer = () => union(callers, "onTransfer")
      const onChange = () => union(callers, "onChange")
      assert.isTrue(yield* eventually(() => onTransfer().length >= committed.length), `${onTransfer().length}/${committed.length}`)
      assert.isTrue(yield* eventually(() => onChange().length >= 16 + 2 * committed.length))
      yield* Effect.sleep("300 millis")
      const expect = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i + 1)
      assert.deepStrictEqual(onTransfer().map((e) => e.seq), expect(transfersBefore, committed.length), "no gap, no duplicate")
      assert.deepStrictEqual(onChange().map((e) => e.seq), expect(changesBefore, 16 + 2 * committed.length))
      assert.deepStrictEqual(onTransfer().map((e) => e.value["id"]).sort(), [...committed].sort())
      ownOnly(callers)
      console.log(
        `outbox order: ${committed.length}/300 transfers committed; ${onTransfer().length} on_transfer and ${onChange().length} on_account_change events to their payers/owners, sequence numbers consecutive`
      )
    }))

  it.effect("events committed while the router is down are published when it is back; a late subscriber replays what it missed", () =>
    Effect.gen(function*() {
      const first = yield* start(callersRouter())
      const router = Context.get(first.context, Router)
      const port = router.listening[0]!.port
      const instance = yield* component(router)
      yield* Effect.addFinalizer(() => instance.stop)
      const { ids } = yield* callerWithAccounts(router, 4, 10)
      // A topic for everyone (the ledger's events go to owners, whose sessions end with the router).
      const topic = "com.example.test.outage"
      const seenBefore = yield* lastSeq(topic)

      yield* first.stop
      // Changes made in the database during the outage (as psql or a batch job would).
      const sql = yield* SqlClient.SqlClient
      for (const [i, id] of ids.entries()) {
        yield* asAdmin(sql`UPDATE ledger_accounts SET balance = ${100 + i} WHERE id = ${id}`)
        yield* sql`SELECT wampgres_outbox_publish(${topic}, ${JSON.stringify([{ id, balance: 100 + i }])}::jsonb, '{}'::jsonb)`
      }
      yield* Effect.sleep("1500 millis")
      const pendingDuringOutage = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM wampgres_outbox WHERE published_at IS NULL`
      assert.isAtLeast(pendingDuringOutage[0]!.n, 8, "the events wait in the outbox")

      const second = yield* start(callersRouter(port))
      yield* Effect.addFinalizer(() => second.stop)
      const subscriber = yield* clientSession(router.url, { asComponent: true }).pipe(Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 50 }))
      const live = yield* collect(subscriber, topic)
      const published = yield* Effect.repeat(
        Effect.map(sql<{ n: number }>`SELECT count(*)::int AS n FROM wampgres_outbox WHERE published_at IS NULL`, (r) => r[0]!.n),
        { until: (n) => n === 0, schedule: Schedule.spaced("50 millis"), times: 200 }
      )
      assert.strictEqual(published, 0, "the relay published everything after the outage")
      // The subscriber joined at some point during that: it replays from the last number it knew.
      const replayed = yield* callRaw(subscriber, "wampgres.outbox.replay", { args: [topic, seenBefore] })
      const { events, truncated } = replayed.args[0] as { events: Array<{ seq: number; args: Array<unknown> }>; truncated: boolean }
      assert.isFalse(truncated)
      const merged = new Map<number, unknown>()
      for (const e of events) merged.set(e.seq, e.args[0])
      for (const e of live) merged.set(e.seq, e.value)
      const mine = [...merged.entries()].filter(([, v]) => ids.includes((v as { id: number }).id) && (v as { balance: number }).balance >= 100)
      assert.deepStrictEqual(mine.map(([, v]) => v), ids.map((id, i) => ({ id, balance: 100 + i })), "nothing lost")
      assert.deepStrictEqual(events.map((e) => e.seq), Array.from({ length: events.length }, (_, i) => seenBefore + i + 1))
      console.log(
        `outbox outage: 4 balance changes and 4 events committed while the router was down ≥1.5 s; all published after restart; replay returned ${events.length}, live ${live.length}`
      )
    }))

  it.effect("replay: bad arguments are invalid_argument; events past the retention are reported as truncated", () =>
    Effect.gen(function*() {
      const router = yield* routerWithComponent
      const session = yield* clientSession(urlFor(router, "user"))
      const topic = "com.example.test.replayed"
      const sql = yield* SqlClient.SqlClient
      for (let i = 0; i < 5; i++) yield* sql`SELECT wampgres_outbox_publish(${topic}, ${JSON.stringify([i])}::jsonb, '{}'::jsonb)`
      const all = (yield* callRaw(session, "wampgres.outbox.replay", { kwargs: { topic, after: 0 } })).args[0] as {
        events: Array<{ seq: number; args: Array<unknown>; kwargs: Record<string, unknown> }>
        truncated: boolean
      }
      assert.deepStrictEqual(all.events.map((e) => [e.seq, e.args[0], e.kwargs["_seq"]]), [[1, 0, 1], [2, 1, 2], [3, 2, 3], [4, 3, 4], [5, 4, 5]])
      assert.isFalse(all.truncated)
      const limited = (yield* callRaw(session, "wampgres.outbox.replay", { kwargs: { topic, after: 3, limit: 1 } })).args[0] as typeof all
      assert.deepStrictEqual(limited.events.map((e) => e.seq), [4])
      yield* sql`DELETE FROM wampgres_outbox WHERE topic = ${topic} AND seq <= 2`
      const gone = (yield* callRaw(session, "wampgres.outbox.replay", { args: [topic, 1] })).args[0] as typeof all
      assert.isTrue(gone.truncated)
      assert.deepStrictEqual(gone.events.map((e) => e.seq), [3, 4, 5])
      const upToDate = (yield* callRaw(session, "wampgres.outbox.replay", { args: [topic, 5] })).args[0] as typeof all
      assert.deepStrictEqual(upToDate, { events: [], truncated: false })
      for (const kwargs of [{ topic, after: -1 }, { topic: "", after: 0 }, { topic, after: 0, limit: 1001 }, { after: 0 }]) {
        const error = yield* Effect.flip(callRaw(session, "wampgres.outbox.replay", { kwargs }))
        assert.strictEqual(error.error, "wamp.error.invalid_argument", JSON.stringify(kwargs))
      }
    }))

  it.effect("events with PUBLISH options reach only their recipients, live and through replay", () =>
    Effect.gen(function*() {
      const router = yield* routerWithComponent
      const ada = yield* clientSession(urlFor(router, "user"))
      const bob = yield* clientSession(urlFor(router, "user"))
      const [adaId, bobId] = [yield* authidOf(ada), yield* authidOf(bob)]
      const topic = "com.example.test.addressed"
      const live = { ada: yield* collect(ada, topic), bob: yield* collect(bob, topic) }
      yield* Effect.sleep("200 millis") // the SUBSCRIBEs reach the router before the events
      const sql = yield* SqlClient.SqlClient
      const options = [{}, { eligible_authid: [adaId] }, { eligible_authid: [bobId] }, { exclude_authid: [adaId] }]
      for (const [i, option] of options.entries()) {
        yield* sql`SELECT wampgres_outbox_publish(${topic}, ${JSON.stringify([i + 1])}::jsonb, '{}'::jsonb, ${JSON.stringify(option)}::jsonb)`
      }
      assert.isTrue(yield* eventually(() => live.ada.length >= 2 && live.bob.length >= 3))
      yield* Effect.sleep("300 millis")
      assert.deepStrictEqual(live.ada.map((e) => e.seq), [1, 2])
      assert.deepStrictEqual(live.bob.map((e) => e.seq), [1, 3, 4])
      const replay = (session: autobahn.Session) =>
        Effect.map(callRaw(session, "wampgres.outbox.replay", { args: [topic, 0] }), (r) =>
          (r.args[0] as { events: Array<{ seq: number }> }).events.map((e) => e.seq))
      assert.deepStrictEqual(yield* replay(ada), [1, 2])
      assert.deepStrictEqual(yield* replay(bob), [1, 3, 4])
    }))

  it.effect("two instances (shared registration): one relay at a time, every event delivered exactly once", () =>
    Effect.gen(function*() {
      const routerScope = yield* start(callersRouter())
      yield* Effect.addFinalizer(() => routerScope.stop)
      const router = Context.get(routerScope.context, Router)
      const a = yield* component(router, "roundrobin")
      yield* Effect.addFinalizer(() => a.stop)
      const b = yield* component(router, "roundrobin")
      yield* Effect.addFinalizer(() => b.stop)
      const before = yield* lastSeq(`${L}.on_transfer`)
      const callers = [yield* callerWithAccounts(router, 3, 500), yield* callerWithAccounts(router, 3, 500)]
      const committed = yield* transferStorm(callers, 200)
      const onTransfer = () => union(callers, "onTransfer")
      assert.isTrue(yield* eventually(() => onTransfer().length >= committed.length))
      yield* Effect.sleep("1500 millis") // longer than the poll interval: a second relay would have published again by now
      assert.deepStrictEqual(onTransfer().map((e) => e.seq), Array.from({ length: committed.length }, (_, i) => before + i + 1))
      ownOnly(callers)
      console.log(`outbox with two relays: ${committed.length} transfers, ${onTransfer().length} events, no duplicate`)
    }))
  it.effect("the relay loses its database connection after the router acknowledged a batch, before marking it: the batch is published again with the same _seq, nothing lost", () =>
    Effect.gen(function*() {
      const router = yield* routerWithComponent
      const subscriber = yield* clientSession(urlFor(router, "user"))
      const topic = "com.example.test.redelivered"
      const live = yield* collect(subscriber, topic)
      const db = yield* TestDatabase
      // Connections of the test's own (as psql would be): one writes the events, one holds a lock.
      const connection = PgClient.make({ url: Redacted.make(superuserUrl(db.name)), maxConnections: 1 }).pipe(Effect.provide(Reactivity.layer))
      const writer = yield* connection
      const locker = yield* connection
      const observe = <A>(f: (sql: PgClient.PgClient) => Effect.Effect<A, unknown>) => inTestDatabaseAsSuperuser(f)
      const waitingOn = (statement: string) =>
        observe((sql) =>
          sql<{ pid: number }>`SELECT pid FROM pg_stat_activity
            WHERE datname = ${db.name} AND wait_event_type = 'Lock' AND query LIKE ${`${statement}%`}`)

      // The events are written in a transaction that stays open until the lock below is queued.
      const inserted = yield* Deferred.make<void>()
      const commit = yield* Deferred.make<void>()
      const events = 20
      const writing = yield* Effect.forkChild(writer.withTransaction(Effect.gen(function*() {
        for (let i = 1; i <= events; i++) {
          yield* writer`SELECT wampgres_outbox_publish(${topic}, ${JSON.stringify([{ n: i }])}::jsonb, '{}'::jsonb)`
        }
        yield* Deferred.succeed(inserted, undefined)
        yield* Deferred.await(commit)
      })))
      yield* Deferred.await(inserted)
      // SHARE mode lets the relay read the outbox and publish, but its UPDATE (marking the rows
      // published) waits: the lock is granted at the writer's COMMIT, before the relay gets there.
      const release = yield* Deferred.make<void>()
      const locking = yield* Effect.forkChild(locker.withTransaction(
        Effect.andThen(locker`LOCK TABLE wampgres_outbox IN SHARE MODE`, Deferred.await(release))
      ))
      assert.isTrue(yield* eventuallyEffect(Effect.map(waitingOn("LOCK TABLE wampgres_outbox"), (rows) => rows.length === 1)), "the lock is queued")
      yield* Deferred.succeed(commit, undefined)
      yield* Fiber.join(writing)

      // The relay published every event (each acknowledged before the next) and now waits to mark them.
      assert.isTrue(yield* eventually(() => live.length >= events), `published once: ${live.length}/${events}`)
      let relayBackend: ReadonlyArray<{ pid: number }> = []
      assert.isTrue(
        yield* eventuallyEffect(Effect.map(waitingOn("UPDATE wampgres_outbox SET published_at"), (rows) => (relayBackend = rows).length === 1)),
        "the relay waits to mark the batch published"
      )
      const pid = relayBackend[0]!.pid
      // The fault: the relay's database connection is killed before the batch is marked.
      yield* observe((sql) => sql`SELECT pg_terminate_backend(${pid})`)
      assert.isTrue(
        yield* eventuallyEffect(Effect.map(observe((sql) => sql`SELECT 1 FROM pg_stat_activity WHERE pid = ${pid}`), (rows) => rows.length === 0)),
        "the relay's backend is gone"
      )
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(locking)

      const pending = Effect.map(
        observe((sql) => sql<{ n: number }>`SELECT count(*)::int AS n FROM wampgres_outbox WHERE topic = ${topic} AND published_at IS NULL`),
        (rows) => rows[0]!.n
      )
      assert.isTrue(yield* eventuallyEffect(Effect.map(pending, (n) => n === 0)), "the relay marked the batch after publishing it again")
      assert.isTrue(yield* eventually(() => live.length >= 2 * events))
      yield* Effect.sleep("1500 millis") // longer than the poll interval: a third delivery would have come by now
      const expected = Array.from({ length: events }, (_, i) => i + 1)
      const bySeq = new Map<number, Array<unknown>>()
      for (const e of live) bySeq.set(e.seq, [...(bySeq.get(e.seq) ?? []), e.value])
      assert.deepStrictEqual([...bySeq.keys()].sort((a, b) => a - b), expected, "every event, nothing lost")
      for (const [seq, copies] of bySeq) {
        assert.strictEqual(copies.length, 2, `#${seq} delivered twice: at least once across the fault`)
        assert.deepStrictEqual(copies, [{ n: seq }, { n: seq }], `#${seq}: the repeat is the same event, detectable by _seq`)
      }
      // In order each time: first the whole batch, then the whole batch again.
      assert.deepStrictEqual(live.map((e) => e.seq), [...expected, ...expected])
      // A subscriber that keeps the highest _seq it saw drops the repeats and has each event once.
      const kept: Array<Seen> = []
      for (const e of live) if (e.seq > (kept.at(-1)?.seq ?? 0)) kept.push(e)
      assert.deepStrictEqual(kept.map((e) => e.seq), expected)
      console.log(
        `outbox forced duplicate: ${events} events published and acknowledged, the relay's backend (pid ${pid}) terminated before it marked them; after recovery each was published again with the same _seq: ${live.length} deliveries, ${live.length - bySeq.size} duplicates, 0 lost`
      )
    }))

  it.effect("an event the router refuses (invalid topic) is recorded as refused and does not block the ones after it", () =>
    Effect.gen(function*() {
      const router = yield* routerWithComponent
      const subscriber = yield* clientSession(urlFor(router, "user"))
      const after = yield* collect(subscriber, "com.example.test.after_refused")
      const sql = yield* SqlClient.SqlClient
      yield* sql`SELECT wampgres_outbox_publish('wamp.reserved.topic', '[1]'::jsonb, '{}'::jsonb)`
      yield* sql`SELECT wampgres_outbox_publish('com.example.test.after_refused', '[2]'::jsonb, '{}'::jsonb)`
      assert.isTrue(yield* eventually(() => after.length >= 1), "the next event is published")
      // The relay marks both rows when its pass commits, just after the second event went out.
      const refused = yield* Effect.repeat(
        sql<{ refused: string | null; published: boolean }>`
          SELECT refused, published_at IS NOT NULL AS published FROM wampgres_outbox WHERE topic = 'wamp.reserved.topic'`,
        { until: (rows) => rows[0]?.published === true, schedule: Schedule.spaced("25 millis"), times: 200 }
      )
      assert.isTrue(refused[0]!.published)
      assert.match(refused[0]!.refused ?? "", /^wamp\.error\.invalid_uri: /)
    }))
})
