/**
 * `Events.publishAfterCommit` without an outbox (the default `direct` publisher): an event queued in
 * a transaction is published once, with its topic, payload and options, only after COMMIT; never
 * when the transaction rolls back; outside a transaction at once. A publish that fails is logged as
 * a warning and never fails the call. A `Publisher` in the context (the outbox) replaces `direct`.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as SqlClient from "effect/sql/SqlClient"
import { WampSession } from "../../../src/layers/WampSession.js"
import { WampError } from "../../../src/layers/wamp/Protocol.js"
import * as Events from "../../../src/procedures/Events.js"
import * as PgClientMock from "../../../src/testing/PgClientMock.js"
import * as WampSessionMock from "../../../src/testing/WampSessionMock.js"

const work = PgClientMock.when(/^UPDATE counter/, [])
const env = Layer.mergeAll(PgClientMock.layer({ rules: [work] }), WampSessionMock.layer)
const topic = "com.example.test.on_change"

class Rollback {
  readonly _tag = "Rollback"
}

describe("Events.publishAfterCommit", () => {
  it.effect("publishes once, after COMMIT, with the topic, payload and options", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const mock = yield* PgClientMock.PgClientMock
      yield* sql.withTransaction(Effect.gen(function*() {
        yield* sql`UPDATE counter SET n = n + 1`
        yield* Events.publishAfterCommit(topic, { args: [1], kwargs: { n: 2 } }, { exclude_me: false })
        // queued, not yet sent: the transaction may still roll back
        assert.deepStrictEqual(yield* WampSessionMock.published, [])
      }))
      assert.deepStrictEqual(yield* WampSessionMock.published, [{ topic, args: [1], kwargs: { n: 2 }, options: { exclude_me: false } }])
      assert.deepStrictEqual(yield* mock.sqlLog, ["BEGIN", "UPDATE counter SET n = n + 1", "COMMIT"])
    }).pipe(Effect.provide(env)))

  it.effect("publishes nothing when the transaction rolls back", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const failed = yield* Effect.flip(sql.withTransaction(Effect.gen(function*() {
        yield* Events.publishAfterCommit(topic, { args: [1] })
        return yield* Effect.fail(new Rollback())
      })))
      assert.strictEqual(failed._tag, "Rollback")
      assert.deepStrictEqual(yield* WampSessionMock.published, [])
    }).pipe(Effect.provide(env)))

  it.effect("outside a transaction publishes at once", () =>
    Effect.gen(function*() {
      yield* Events.publishAfterCommit(topic, { kwargs: { n: 1 } })
      assert.deepStrictEqual(yield* WampSessionMock.published, [{ topic, args: [], kwargs: { n: 1 }, options: {} }])
    }).pipe(Effect.provide(env)))

  it.effect("a publish that fails is logged as a warning; the transaction still commits", () => {
    const logged: Array<string> = []
    const capture = Logger.layer([
      Logger.make((options) => {
        const message = Array.isArray(options.message) ? options.message.map(String).join(" ") : String(options.message)
        logged.push(`${options.logLevel} ${message} ${Cause.pretty(options.cause)}`)
      })
    ])
    const refusing = Layer.succeed(WampSession, WampSession.of({
      url: "ws://wampgres.mock/ws",
      realm: "realm1",
      sessionId: Effect.succeed(Option.none()),
      notReady: Effect.succeed([]),
      register: () => Effect.die("unused"),
      call: () => Effect.die("unused"),
      subscribe: () => Effect.die("unused"),
      publish: (t) => Effect.fail(new WampError({ error: "wamp.error.not_authorized", args: [], kwargs: {}, message: `not allowed to publish to ${t}` })),
      publishAll: () => Effect.die("unused")
    }))
    return Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const mock = yield* PgClientMock.PgClientMock
      const result = yield* sql.withTransaction(Effect.as(Events.publishAfterCommit(topic, { args: [1] }), "done"))
      assert.strictEqual(result, "done")
      assert.deepStrictEqual(yield* mock.sqlLog, ["BEGIN", "COMMIT"])
      const warnings = logged.filter((line) => line.startsWith("Warn"))
      assert.strictEqual(warnings.length, 1, logged.join("\n"))
      assert.include(warnings[0], `not allowed to publish to ${topic}`)
    }).pipe(Effect.provide(Layer.mergeAll(PgClientMock.layer({ rules: [] }), refusing, capture)))
  })

  it.effect("uses the Publisher in the context instead of publishing directly", () =>
    Effect.gen(function*() {
      const seen: Array<unknown> = []
      yield* Events.publishAfterCommit(topic, { args: [7] }, { acknowledge: true }).pipe(
        Effect.provideService(Events.Publisher, (t, payload, options) => Effect.sync(() => void seen.push([t, payload, options])))
      )
      assert.deepStrictEqual(seen, [[topic, { args: [7] }, { acknowledge: true }]])
      assert.deepStrictEqual(yield* WampSessionMock.published, [])
    }).pipe(Effect.provide(env)))
})
