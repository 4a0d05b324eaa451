/**
 * The outbox on the PgClientMock and a recording WampSession (the real thing is in
 * test/integration/outbox.test.ts): who may receive an event (`eligible`, as the router decides by
 * the PUBLISH options), the payload subscribers get (`_seq` added), the SQL an event is written
 * with, `wampgres.outbox.replay` (its query, `truncated`, only what the caller may receive), and
 * the relay: under the advisory lock it publishes pending rows in order with acknowledge, marks
 * what the router acknowledged or refused for good, stops a batch at a failure that a retry may
 * cure, deletes published rows past the retention, and is woken by NOTIFY before its poll interval.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as TestClock from "effect/testing/TestClock"
import { type Payload, publishEach, WampSession } from "../../../src/layers/WampSession.js"
import { WampError, wampError } from "../../../src/layers/wamp/Protocol.js"
import * as Caller from "../../../src/procedures/Caller.js"
import { invoke, request } from "../../../src/procedures/invoke.js"
import * as Outbox from "../../../src/procedures/Outbox.js"
import * as PgClientMock from "../../../src/testing/PgClientMock.js"
import * as PgScript from "../../../src/testing/PgScript.js"
import * as WampSessionMock from "../../../src/testing/WampSessionMock.js"

const ada: Caller.Identity = { authid: "ada", authrole: "user", session: 42, role: undefined }

describe("Outbox.eligible", () => {
  it("an unrestricted event goes to anyone, a restricted one to no anonymous caller", () => {
    assert.isTrue(Outbox.eligible({}, undefined))
    assert.isTrue(Outbox.eligible({ exclude_me: false }, ada))
    for (const restricted of [{ eligible: [42] }, { eligible_authid: ["ada"] }, { eligible_authrole: ["user"] }]) {
      assert.isFalse(Outbox.eligible(restricted, undefined), JSON.stringify(restricted))
      assert.isTrue(Outbox.eligible(restricted, ada), JSON.stringify(restricted))
    }
    // exclusions alone do not restrict an anonymous caller
    assert.isTrue(Outbox.eligible({ exclude_authid: ["bob"] }, undefined))
  })

  it("each eligible list must name the caller, and no exclusion list may", () => {
    assert.isFalse(Outbox.eligible({ eligible: [7] }, ada))
    assert.isFalse(Outbox.eligible({ eligible_authid: ["bob"] }, ada))
    assert.isFalse(Outbox.eligible({ eligible_authrole: ["admin"] }, ada))
    assert.isFalse(Outbox.eligible({ eligible: [42], eligible_authid: ["bob"] }, ada))
    assert.isTrue(Outbox.eligible({ eligible: [42], eligible_authid: ["ada"], eligible_authrole: ["user"] }, ada))
    assert.isFalse(Outbox.eligible({ exclude: [42] }, ada))
    assert.isFalse(Outbox.eligible({ exclude_authid: ["ada"] }, ada))
    assert.isFalse(Outbox.eligible({ exclude_authrole: ["user"] }, ada))
    assert.isTrue(Outbox.eligible({ exclude: [7], exclude_authid: ["bob"], exclude_authrole: ["admin"] }, ada))
    // a list that is not a list names no one
    assert.isFalse(Outbox.eligible({ eligible_authid: "ada" }, ada))
    assert.isTrue(Outbox.eligible({ exclude_authid: "ada" }, ada))
  })
})

describe("Outbox.migrations", () => {
  it.effect("creates the topics' counters, the events table, its indexes and wampgres_outbox_publish, as migration 1", () =>
    Effect.gen(function*() {
      const mock = yield* PgClientMock.PgClientMock
      yield* Effect.scoped(Layer.build(Outbox.migrations))
      const sql = (yield* mock.statements).map((st) => PgScript.normalize(st.sql))
      const find = (prefix: string) => sql.find((st) => st.startsWith(prefix)) ?? ""
      assert.strictEqual(find("CREATE TABLE wampgres_outbox_topics"), "CREATE TABLE wampgres_outbox_topics ( topic text PRIMARY KEY, last_seq bigint NOT NULL )")
      const events = find("CREATE TABLE wampgres_outbox (")
      for (
        const column of [
          "id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
          "topic text NOT NULL",
          "seq bigint NOT NULL",
          "args jsonb NOT NULL DEFAULT '[]'",
          "kwargs jsonb NOT NULL DEFAULT '{}'",
          "options jsonb NOT NULL DEFAULT '{}'",
          "created_at timestamptz NOT NULL DEFAULT now()",
          "published_at timestamptz,",
          "refused text,",
          "UNIQUE (topic, seq)"
        ]
      ) assert.include(events, column)
      assert.include(sql, "CREATE INDEX wampgres_outbox_pending ON wampgres_outbox (id) WHERE published_at IS NULL")
      assert.include(sql, "CREATE INDEX wampgres_outbox_created ON wampgres_outbox (created_at)")
      const publish = find("CREATE FUNCTION wampgres_outbox_publish")
      assert.include(publish, "wampgres_outbox_publish(p_topic text, p_args jsonb, p_kwargs jsonb, p_options jsonb DEFAULT '{}') RETURNS bigint")
      assert.include(publish, "ON CONFLICT (topic) DO UPDATE SET last_seq = t.last_seq + 1")
      assert.include(publish, "PERFORM pg_notify('wampgres_outbox', '');")
      const recorded = (yield* mock.statements).find((st) => st.sql.startsWith(`INSERT INTO "wampgres_migrations_wampgres_outbox"`))
      assert.deepStrictEqual(recorded?.params, [1, "outbox"])
    }).pipe(Effect.provide(PgClientMock.layer({ rules: [PgClientMock.when(() => true, [])] })), Effect.provide(Logger.layer([]))))
})

describe("Outbox.eventPayload and write", () => {
  it("subscribers get the stored payload with the sequence number as kwargs _seq", () => {
    assert.deepStrictEqual(Outbox.eventPayload({ args: [1], kwargs: { a: 2 }, seq: 7 }), { args: [1], kwargs: { a: 2, _seq: 7 } })
    assert.strictEqual(Outbox.sequenceKey, "_seq")
    assert.strictEqual(Outbox.wakeChannel, "wampgres_outbox")
  })

  it.effect("writes an event with wampgres_outbox_publish: topic, args, kwargs and options as JSON", () =>
    Effect.gen(function*() {
      const mock = yield* PgClientMock.PgClientMock
      yield* Outbox.write("com.example.t", { args: [1], kwargs: { a: "b" } }, { eligible_authid: ["ada"] })
      yield* Outbox.publisher("com.example.u", {})
      const [first, second] = yield* mock.statements
      assert.strictEqual(first!.sql, "SELECT wampgres_outbox_publish($1, $2::jsonb, $3::jsonb, $4::jsonb)")
      assert.deepStrictEqual(first!.params, ["com.example.t", "[1]", `{"a":"b"}`, `{"eligible_authid":["ada"]}`])
      assert.deepStrictEqual(second!.params, ["com.example.u", "[]", "{}", "{}"])
    }).pipe(
      Effect.provide(PgClientMock.layer({ rules: [PgClientMock.when(/^SELECT wampgres_outbox_publish/, [{ seq: 1 }])] })),
      Effect.provide(WampSessionMock.layer)
    ))
})

/** A stored event of topic com.example.t as the database returns it (id 100 + seq). */
const row = (seq: number, options: Record<string, unknown> = {}) => ({
  id: BigInt(100 + seq),
  topic: "com.example.t",
  seq: BigInt(seq),
  args: [seq],
  kwargs: { k: seq },
  options
})

describe("wampgres.outbox.replay", () => {
  const replay = (args: Array<unknown>, kwargs: Record<string, unknown> = {}, caller = true) => {
    const req = {
      ...request(Outbox.replay.uri, { args, kwargs }),
      ...(caller ? { caller: 42, callerAuthid: "ada", callerAuthrole: "user" } : {})
    }
    return Caller.provide(req, undefined, invoke(Outbox.replay, req)).pipe(Effect.map((r) => r.args[0] as { events: Array<unknown>; truncated: boolean }))
  }
  const mocked = (rows: ReadonlyArray<ReturnType<typeof row>>, last: bigint | null) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
    self.pipe(
      Effect.provide(PgClientMock.layer({
        rules: [
          PgClientMock.when(/^SELECT id, topic, seq, args, kwargs, options FROM wampgres_outbox/, rows),
          PgClientMock.when(/^SELECT \(SELECT last_seq FROM wampgres_outbox_topics/, [{ last: last }]),
          PgClientMock.when(/^SELECT set_config/, [])
        ]
      })),
      Effect.provide(Logger.layer([]))
    )
  const query = Effect.gen(function*() {
    const mock = yield* PgClientMock.PgClientMock
    return (yield* mock.statements).find((s) => s.sql.startsWith("SELECT id, topic"))!
  })

  it.effect("returns the topic's events after the number given, oldest first, at most 1000 by default", () =>
    Effect.gen(function*() {
      const result = yield* replay(["com.example.t", 2])
      assert.deepStrictEqual(result, {
        events: [{ seq: 3, args: [3], kwargs: { k: 3, _seq: 3 } }, { seq: 4, args: [4], kwargs: { k: 4, _seq: 4 } }],
        truncated: false
      })
      const q = yield* query
      assert.match(PgScript.normalize(q.sql), /WHERE topic = \$1 AND seq > \$2 ORDER BY seq LIMIT \$3$/)
      assert.deepStrictEqual(q.params, ["com.example.t", 2, 1000])
    }).pipe(mocked([row(3), row(4)], 4n)))

  it.effect("takes a limit", () =>
    Effect.gen(function*() {
      yield* replay(["com.example.t", 0], { limit: 5 })
      assert.deepStrictEqual((yield* query).params, ["com.example.t", 0, 5])
    }).pipe(mocked([], null)))

  it.effect("is truncated when the first event after the number given is gone", () =>
    Effect.gen(function*() {
      assert.isTrue((yield* replay(["com.example.t", 2])).truncated)
    }).pipe(mocked([row(5)], 5n)))

  it.effect("is truncated when every event after the number given is gone", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* replay(["com.example.t", 2]), { events: [], truncated: true })
    }).pipe(mocked([], 3n)))

  it.effect("is not truncated when nothing came after the number given", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* replay(["com.example.t", 3]), { events: [], truncated: false })
    }).pipe(mocked([], 3n)))

  it.effect("of a topic that never had events: nothing, not truncated", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* replay(["com.example.t", 0]), { events: [], truncated: false })
    }).pipe(mocked([], null)))

  it.effect("leaves out the events the caller would not have received", () =>
    Effect.gen(function*() {
      const result = yield* replay(["com.example.t", 0])
      assert.deepStrictEqual(result.events.map((e) => (e as { seq: number }).seq), [1, 3])
      assert.isFalse(result.truncated)
    }).pipe(mocked([row(1, { eligible_authid: ["ada"] }), row(2, { eligible_authid: ["bob"] }), row(3)], 3n)))
})

describe("the outbox relay", () => {
  const lock = /^SELECT pg_try_advisory_xact_lock/
  const pending = /^SELECT id, topic, seq, args, kwargs, options FROM wampgres_outbox/
  const leader = PgClientMock.when(lock, [{ leader: true }])
  const rowsOnce = (...rows: ReadonlyArray<ReturnType<typeof row>>) => PgClientMock.when(pending, rows, { times: 1 })
  const noMore = PgClientMock.when(pending, [])
  /** Migrations and the relay's other statements. */
  const rest = PgClientMock.when(() => true, [])

  interface Published {
    readonly topic: string
    readonly payload: Partial<Payload> | undefined
    readonly options: Record<string, unknown> | undefined
  }

  /**
   * The outbox layer built on the mock and a session that records registrations and publications;
   * `answer` decides each publication (by its sequence number). Returns what was published, logged
   * and sent to the database.
   */
  const running = (
    rules: ReadonlyArray<PgClientMock.Rule>,
    answer: (seq: number) => Effect.Effect<void, WampError> = () => Effect.void,
    settings: Partial<Outbox.OutboxSettings> = {}
  ) =>
    Effect.gen(function*() {
      const published: Array<Published> = []
      const registered: Array<string> = []
      const logged: Array<string> = []
      const publish = (topic: string, payload?: Partial<Payload>, options?: Record<string, unknown>) =>
        Effect.suspend(() => {
          published.push({ topic, payload, options })
          return answer(Number(payload?.kwargs?.["_seq"]))
        })
      const session = Layer.succeed(WampSession, WampSession.of({
        url: "ws://wampgres.mock/ws",
        realm: "realm1",
        sessionId: Effect.succeed(Option.none()),
        notReady: Effect.succeed([]),
        register: (registrations) => Effect.sync(() => void registered.push(...registrations.map((r) => r.uri))),
        call: () => Effect.die("unused"),
        subscribe: () => Effect.die("unused"),
        publish,
        publishAll: publishEach(publish)
      }))
      const capture = Logger.layer([
        Logger.make((options) => {
          const message = Array.isArray(options.message) ? options.message.map(String).join(" ") : String(options.message)
          logged.push(`${options.logLevel} ${message}`)
        })
      ])
      const mock = yield* PgClientMock.PgClientMock
      yield* mock.script(...rules, rest)
      yield* Layer.build(Outbox.layer).pipe(
        Effect.provide(Layer.mergeAll(session, capture)),
        Effect.provideService(Outbox.Settings, {
          retention: Duration.hours(1),
          pollInterval: Duration.seconds(10),
          batchSize: 3,
          ...settings
        })
      )
      yield* settle
      const statements = (match: RegExp) => Effect.map(mock.statements, (all) => all.filter((st) => match.test(st.sql)))
      return { published, registered, logged, statements, mock }
    })

  const settle = Effect.gen(function*() {
    for (let i = 0; i < 50; i++) yield* Effect.yieldNow
  })
  const withMock = <A, E, R>(self: Effect.Effect<A, E, R>) =>
    self.pipe(Effect.scoped, Effect.provide(PgClientMock.layer({ rules: [] })))

  it.effect("publishes the pending rows in order, acknowledged, with their options and _seq, and marks them published", () =>
    Effect.gen(function*() {
      const r = yield* running([leader, rowsOnce(row(1, { eligible_authid: ["ada"] }), row(2)), noMore])
      assert.deepStrictEqual(r.registered, ["wampgres.outbox.replay"])
      assert.deepStrictEqual(r.published, [
        { topic: "com.example.t", payload: { args: [1], kwargs: { k: 1, _seq: 1 } }, options: { eligible_authid: ["ada"], acknowledge: true } },
        { topic: "com.example.t", payload: { args: [2], kwargs: { k: 2, _seq: 2 } }, options: { acknowledge: true } }
      ])
      const [locked] = yield* r.statements(lock)
      assert.deepStrictEqual(locked!.params, [0x77616d70, 0x67726573])
      const [query] = yield* r.statements(pending)
      assert.match(PgScript.normalize(query!.sql), /WHERE published_at IS NULL ORDER BY id LIMIT \$1$/)
      assert.deepStrictEqual(query!.params, [3])
      const marked = yield* r.statements(/^UPDATE wampgres_outbox SET published_at/)
      assert.deepStrictEqual(marked.map((st) => [st.sql, st.params]), [["UPDATE wampgres_outbox SET published_at = now() WHERE id IN ($1,$2)", [101, 102]]])
      // in the lock's transaction
      assert.strictEqual(marked[0]!.connection, locked!.connection)
      // published rows past the retention go, at the first pass
      const deleted = yield* r.statements(/^DELETE FROM wampgres_outbox/)
      assert.deepStrictEqual(deleted.map((st) => st.params), [[3600]])
      assert.match(PgScript.normalize(deleted[0]!.sql), /WHERE published_at IS NOT NULL AND created_at < now\(\) - make_interval\(secs => \$1\)$/)
      assert.include(r.logged, "Info outbox relay started")
    }).pipe(withMock))

  it.effect("publishes nothing when another relay holds the lock", () =>
    Effect.gen(function*() {
      const r = yield* running([PgClientMock.when(lock, [{ leader: false }]), rowsOnce(row(1))])
      assert.deepStrictEqual(r.published, [])
      assert.deepStrictEqual(yield* r.statements(pending), [])
      assert.deepStrictEqual(yield* r.statements(/^DELETE/), [])
    }).pipe(withMock))

  it.effect("a batch goes out back to back; what follows a failure a retry may cure stays pending (logged) and goes out again, in order, 200 ms later", () =>
    Effect.gen(function*() {
      let timeouts = 1
      const r = yield* running(
        [leader, rowsOnce(row(1), row(2), row(3)), rowsOnce(row(2), row(3)), noMore],
        (seq) => seq === 2 && timeouts-- > 0 ? Effect.fail(wampError("wampgres.error.timeout", "no answer")) : Effect.void
      )
      // all three were sent before any acknowledgement was read; only the one before the failure counts
      assert.deepStrictEqual(r.published.map((p) => p.payload?.kwargs?.["_seq"]), [1, 2, 3])
      assert.deepStrictEqual((yield* r.statements(/^UPDATE wampgres_outbox SET published_at/)).map((st) => st.params), [[101]])
      assert.isTrue(r.logged.some((l) => l.startsWith("Warn outbox: publishing com.example.t #2 failed, retrying later")), r.logged.join("\n"))
      yield* TestClock.adjust("199 millis")
      yield* settle
      assert.strictEqual(r.published.length, 3)
      yield* TestClock.adjust("1 millis")
      yield* settle
      // #2 and #3 again, in order: a subscriber may get #3 twice, with the same _seq (at least once)
      assert.deepStrictEqual(r.published.map((p) => p.payload?.kwargs?.["_seq"]), [1, 2, 3, 2, 3])
      assert.deepStrictEqual((yield* r.statements(/^UPDATE wampgres_outbox SET published_at/)).map((st) => st.params), [[101], [102, 103]])
    }).pipe(withMock))

  it.effect("an event the router refuses for good is recorded as refused, logged, and the batch goes on", () =>
    Effect.gen(function*() {
      const r = yield* running(
        [leader, rowsOnce(row(1), row(2)), noMore],
        (seq) => seq === 1 ? Effect.fail(wampError("wamp.error.not_authorized", "not allowed")) : Effect.void
      )
      assert.deepStrictEqual(r.published.map((p) => p.payload?.kwargs?.["_seq"]), [1, 2])
      const refused = yield* r.statements(/^UPDATE wampgres_outbox SET refused/)
      assert.deepStrictEqual(refused.map((st) => [st.sql, st.params]), [[
        "UPDATE wampgres_outbox SET refused = $1 WHERE id = $2",
        ["wamp.error.not_authorized: not allowed", 101]
      ]])
      assert.deepStrictEqual((yield* r.statements(/^UPDATE wampgres_outbox SET published_at/)).map((st) => st.params), [[101, 102]])
      assert.include(r.logged, "Error outbox: the router refused com.example.t #1: wamp.error.not_authorized: not allowed; not retried")
    }).pipe(withMock))

  it.effect("after a full batch the next pass follows at once; else NOTIFY or the poll interval wakes the relay", () =>
    Effect.gen(function*() {
      const r = yield* running([leader, rowsOnce(row(1), row(2)), noMore], undefined, { batchSize: 2 })
      const passes = () => Effect.map(r.statements(lock), (all) => all.length)
      const full = (yield* r.statements(pending)).length
      // the full batch, then at once another pass (and one for the wake-up that LISTEN starts with):
      // now it waits
      const waiting = yield* passes()
      assert.isAtLeast(waiting, 2)
      assert.strictEqual(full, waiting)
      yield* TestClock.adjust("9 seconds")
      yield* settle
      assert.strictEqual(yield* passes(), waiting)
      yield* r.mock.notify(Outbox.wakeChannel, "")
      yield* settle
      assert.strictEqual(yield* passes(), waiting + 1)
      yield* TestClock.adjust("10 seconds")
      yield* settle
      assert.strictEqual(yield* passes(), waiting + 2)
      // housekeeping at most once a minute (of real time)
      assert.strictEqual((yield* r.statements(/^DELETE/)).length, 1)
    }).pipe(withMock))

  it.effect("a pass that fails (the database away) is logged and tried again 200 ms later", () =>
    Effect.gen(function*() {
      const r = yield* running([PgClientMock.when(lock, PgClientMock.connectionLost(), { times: 1 }), leader, noMore])
      assert.isTrue(r.logged.some((l) => l.startsWith("Warn outbox: relay pass failed (database unreachable?)")), r.logged.join("\n"))
      assert.strictEqual((yield* r.statements(lock)).length, 1)
      yield* TestClock.adjust("199 millis")
      yield* settle
      assert.strictEqual((yield* r.statements(lock)).length, 1)
      yield* TestClock.adjust("1 millis")
      yield* settle
      assert.isAtLeast((yield* r.statements(lock)).length, 2)
    }).pipe(withMock))
})
