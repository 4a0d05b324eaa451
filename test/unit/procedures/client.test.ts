/**
 * The typed client (`Client.call`, `Client.callIdempotent`) over a scripted `WampSession`: the input
 * leaves encoded as kwargs with the call's options and the client span's trace context, the result
 * is decoded with the contract's Schema (a mismatch is `wampgres.error.invalid_result`, bad input
 * `wamp.error.invalid_argument` before anything is sent), a declared error URI comes back as the
 * typed error; `callIdempotent` sends one key with every attempt and calls again only after the
 * failures that leave the outcome unknown (or surely undone), at most `retries` times.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as References from "effect/References"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/testing/TestClock"
import { type Payload, WampSession } from "../../../src/layers/WampSession.js"
import { WampError, wampError } from "../../../src/layers/wamp/Protocol.js"
import * as Client from "../../../src/procedures/Client.js"
import * as Contract from "../../../src/procedures/Contract.js"

class Overdrawn extends Schema.TaggedError<Overdrawn>()("Overdrawn", { balance: Schema.Int, message: Schema.String }) {
  static readonly uri = "com.example.test.error.overdrawn"
}

const withdraw = Contract.make("com.example.test.withdraw", {
  args: { amount: Schema.NumberFromString, idempotency_key: Schema.optional(Schema.String) },
  result: Schema.Struct({ balance: Schema.NumberFromString }),
  errors: [Overdrawn]
})

interface Sent {
  readonly procedure: string
  readonly payload: Partial<Payload> | undefined
  readonly options: Record<string, unknown> | undefined
}

/** A session whose CALLs are answered in turn by `answers` (the last one repeats). */
const session = (answers: ReadonlyArray<Effect.Effect<Payload, WampError>>) => {
  const sent: Array<Sent> = []
  const layer = Layer.succeed(WampSession, WampSession.of({
    url: "ws://wampgres.mock/ws",
    realm: "realm1",
    sessionId: Effect.succeed(Option.none()),
    notReady: Effect.succeed([]),
    register: () => Effect.die("unused"),
    subscribe: () => Effect.die("unused"),
    publish: () => Effect.die("unused"),
    publishAll: () => Effect.die("unused"),
    call: (procedure, payload, options) =>
      Effect.suspend(() => {
        sent.push({ procedure, payload, options })
        return answers[Math.min(sent.length, answers.length) - 1]!
      })
  }))
  return { sent, layer }
}

const ok = Effect.succeed<Payload>({ args: [{ balance: "70" }], kwargs: {} })
const fail = (uri: string) => Effect.fail(wampError(uri, `failed with ${uri}`))

describe("Client.call", () => {
  it.effect("sends the input encoded as kwargs with the options and trace context; decodes the result", () => {
    const s = session([ok])
    return Effect.gen(function*() {
      const result = yield* Client.call(withdraw, { amount: 30 }, { timeout: 1000 })
      assert.deepStrictEqual(result, { balance: 70 })
      assert.strictEqual(s.sent.length, 1)
      const [sent] = s.sent
      assert.strictEqual(sent!.procedure, withdraw.uri)
      assert.deepStrictEqual(sent!.payload, { kwargs: { amount: "30" } })
      assert.strictEqual(sent!.options?.["timeout"], 1000)
      // the client span's W3C trace context, as a custom option
      assert.match(String(sent!.options?.["_traceparent"]), /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/)
    }).pipe(Effect.provide(s.layer))
  })

  it.effect("with tracing off no trace context is sent, and the options are sent as given", () => {
    const s = session([ok])
    return Effect.gen(function*() {
      yield* Client.call(withdraw, { amount: 30 }, { timeout: 1000 })
      yield* Client.call(withdraw, { amount: 30 })
      assert.deepStrictEqual(s.sent.map((sent) => sent.options), [{ timeout: 1000 }, undefined])
    }).pipe(Effect.provide(s.layer), Effect.provideService(References.TracerEnabled, false))
  })

  it.effect("input that does not match the contract fails with invalid_argument naming the field; nothing is sent", () => {
    const s = session([ok])
    return Effect.gen(function*() {
      const error = yield* Effect.flip(Client.call(withdraw, { amount: "x" } as never))
      assert.instanceOf(error, WampError)
      assert.strictEqual((error as WampError).error, "wamp.error.invalid_argument")
      assert.match((error as WampError).message, /^com\.example\.test\.withdraw: amount: /)
      assert.strictEqual(s.sent.length, 0)
    }).pipe(Effect.provide(s.layer))
  })

  it.effect("a result that does not match the contract fails with wampgres.error.invalid_result naming the field", () => {
    const s = session([Effect.succeed({ args: [{ balance: 70 }], kwargs: {} })])
    return Effect.gen(function*() {
      const error = (yield* Effect.flip(Client.call(withdraw, { amount: 30 }))) as WampError
      assert.strictEqual(error.error, "wampgres.error.invalid_result")
      assert.match(error.message, /^com\.example\.test\.withdraw result: balance: /)
    }).pipe(Effect.provide(s.layer))
  })

  it.effect("a declared error URI becomes the typed error; any other stays a WampError", () => {
    const s = session([
      Effect.fail(wampError(Overdrawn.uri, "not enough money", { balance: 10 })),
      fail("wamp.error.not_authorized")
    ])
    return Effect.gen(function*() {
      const typed = yield* Effect.flip(Client.call(withdraw, { amount: 30 }))
      assert.instanceOf(typed, Overdrawn)
      assert.deepStrictEqual([(typed as Overdrawn).balance, (typed as Overdrawn).message], [10, "not enough money"])
      const other = (yield* Effect.flip(Client.call(withdraw, { amount: 30 }))) as WampError
      assert.instanceOf(other, WampError)
      assert.strictEqual(other.error, "wamp.error.not_authorized")
    }).pipe(Effect.provide(s.layer))
  })
})

describe("Client.isRetryable", () => {
  it("is true for the failures that leave a call's outcome unknown or surely undone, only for WampErrors", () => {
    for (
      const uri of [
        "wampgres.error.timeout",
        "wampgres.error.not_connected",
        "wampgres.error.session",
        "wampgres.error.database",
        "wamp.error.canceled",
        "wamp.error.no_such_procedure",
        "wamp.error.unavailable"
      ]
    ) assert.isTrue(Client.isRetryable(wampError(uri, "x")), uri)
    for (const uri of ["wamp.error.not_authorized", "wamp.error.invalid_argument", "wampgres.error.invalid_result", Overdrawn.uri]) {
      assert.isFalse(Client.isRetryable(wampError(uri, "x")), uri)
    }
    assert.isFalse(Client.isRetryable(new Error("wampgres.error.timeout")))
    assert.isFalse(Client.isRetryable({ error: "wampgres.error.timeout" }))
  })
})

describe("Client.callIdempotent", () => {
  const keysOf = (sent: ReadonlyArray<Sent>) => sent.map((s) => (s.payload?.kwargs as Record<string, unknown>)["idempotency_key"])

  it.effect("retries a retryable failure with the same fresh key, after a backoff", () => {
    const s = session([fail("wampgres.error.timeout"), fail("wamp.error.unavailable"), ok])
    return Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(Client.callIdempotent(withdraw, { amount: 30 }))
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(yield* Fiber.join(fiber), { balance: 70 })
      const keys = keysOf(s.sent)
      assert.strictEqual(keys.length, 3)
      assert.match(String(keys[0]), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
      assert.deepStrictEqual(new Set(keys).size, 1)
      // no attempt before the backoff
      const again = session([fail("wampgres.error.timeout"), ok])
      const waiting = yield* Effect.forkChild(Client.callIdempotent(withdraw, { amount: 30 }).pipe(Effect.provide(again.layer)))
      yield* TestClock.adjust("10 millis")
      assert.strictEqual(again.sent.length, 1)
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(waiting)
      assert.strictEqual(again.sent.length, 2)
      // a new call, a new key
      const other = session([ok])
      yield* Client.callIdempotent(withdraw, { amount: 30 }).pipe(Effect.provide(other.layer))
      assert.notStrictEqual(keysOf(other.sent)[0], keys[0])
    }).pipe(Effect.provide(s.layer))
  })

  it.effect("gives up after 5 retries by default, or after options.retries, with the key given", () => {
    const always = session([fail("wampgres.error.database")])
    const twice = session([fail("wampgres.error.database")])
    return Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(Effect.flip(Client.callIdempotent(withdraw, { amount: 30 }).pipe(Effect.provide(always.layer))))
      yield* TestClock.adjust("1 hour")
      assert.strictEqual(((yield* Fiber.join(fiber)) as WampError).error, "wampgres.error.database")
      assert.strictEqual(always.sent.length, 6)

      const limited = yield* Effect.forkChild(Effect.flip(
        Client.callIdempotent(withdraw, { amount: 30 }, { key: "k-1", retries: 2, call: { timeout: 5 } }).pipe(Effect.provide(twice.layer))
      ))
      yield* TestClock.adjust("1 hour")
      yield* Fiber.join(limited)
      assert.deepStrictEqual(keysOf(twice.sent), ["k-1", "k-1", "k-1"])
      assert.strictEqual(twice.sent[0]!.options?.["timeout"], 5)
    })
  })

  it.effect("does not retry a failure that may not be retried", () => {
    const s = session([Effect.fail(wampError(Overdrawn.uri, "not enough money", { balance: 10 })), ok])
    return Effect.gen(function*() {
      const error = yield* Effect.flip(Client.callIdempotent(withdraw, { amount: 30 }))
      assert.instanceOf(error, Overdrawn)
      assert.strictEqual(s.sent.length, 1)
    }).pipe(Effect.provide(s.layer))
  })
})

describe("Client.idempotencyKey", () => {
  it("is a fresh random UUID each time", () => {
    const keys = new Set(Array.from({ length: 100 }, () => Client.idempotencyKey()))
    assert.strictEqual(keys.size, 100)
  })
})
