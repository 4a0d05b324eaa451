/**
 * Reflection's catalog for any service, beside the ledger's (reflection.test.ts): each transaction
 * policy as described, lists sorted by URI, errors with every procedure that raises them, schemas
 * with shared definitions, errors that are not tagged classes, the answers' messages, and the layer
 * registering the six `wampgres.reflection.*` procedures that answer from the catalog.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Schema from "effect/Schema"
import type { Registration } from "../../../src/layers/wamp/Protocol.js"
import { WampSession } from "../../../src/layers/WampSession.js"
import * as Contract from "../../../src/procedures/Contract.js"
import * as Reflection from "../../../src/procedures/Reflection.js"

class Closed extends Schema.TaggedError<Closed>()("Closed", { id: Schema.Int }) {
  static readonly uri = "com.example.test.error.closed"
}
/** An error Schema that is not a tagged class: no `_tag`, no fields. */
const Plain = Object.assign(Schema.String, { uri: "com.example.test.error.plain" }) as unknown as Contract.ErrorSchema

const Point = Schema.Struct({ x: Schema.Int }).annotate({ identifier: "Point" })

const contracts: ReadonlyArray<Contract.Any> = [
  Contract.make("com.example.test.c", { result: Schema.Int, transactional: { baseDelay: 1 }, errors: [Closed] }),
  Contract.make("com.example.test.a", { result: Schema.Int, transactional: true, errors: [Closed, Plain] }),
  Contract.make("com.example.test.b", { result: Schema.Int, transactional: { retries: 2 }, description: "b" }),
  Contract.make("com.example.test.d", { args: { from: Point, to: Point }, result: Schema.Int })
] as never
const topics: ReadonlyArray<Contract.AnyTopic> = [
  Contract.topic("com.example.test.t2", { payload: Schema.Int }),
  Contract.topic("com.example.test.t1", { payload: Schema.String, description: "one" })
] as never
/** Built in each test, not at import: a failure to build it fails the test, not the file's loading. */
const catalog = (): Reflection.Catalog => Reflection.catalog(contracts, topics)

const ask = (name: Parameters<typeof Reflection.answer>[1], args: Array<unknown> = []) =>
  Reflection.answer(catalog(), name, { args, kwargs: {} })

describe("the catalog of a service", () => {
  it("describes each transaction policy: none, one transaction, retries (5 unless given)", () => {
    const policy = (uri: string) => {
      const { retries, streaming, transactional } = catalog().procedures.get(uri)!
      return { retries, streaming, transactional }
    }
    assert.deepStrictEqual(policy("com.example.test.a"), { transactional: true, retries: 0, streaming: false })
    assert.deepStrictEqual(policy("com.example.test.b"), { transactional: true, retries: 2, streaming: false })
    assert.deepStrictEqual(policy("com.example.test.c"), { transactional: true, retries: 5, streaming: false })
    assert.deepStrictEqual(policy("com.example.test.d"), { transactional: false, retries: 0, streaming: false })
    assert.strictEqual(catalog().procedures.get("com.example.test.d")!.progress, null)
  })

  it.effect("lists procedures, topics and errors sorted by URI; raised_by names every procedure, sorted", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual((yield* ask("procedure.list")).args[0], ["com.example.test.a", "com.example.test.b", "com.example.test.c", "com.example.test.d"])
      assert.deepStrictEqual((yield* ask("topic.list")).args[0], ["com.example.test.t1", "com.example.test.t2"])
      const errors = yield* ask("error.list")
      assert.deepStrictEqual(errors.args[0], ["com.example.test.error.closed", "com.example.test.error.plain"])
      assert.deepStrictEqual(errors.kwargs, {
        raised_by: {
          "com.example.test.error.closed": ["com.example.test.a", "com.example.test.c"],
          "com.example.test.error.plain": ["com.example.test.a"]
        }
      })
    }))

  it.effect("describes a found URI; names the missing one; asks for a URI", () =>
    Effect.gen(function*() {
      assert.strictEqual(((yield* ask("procedure.describe", ["com.example.test.b"])).args[0] as { description: string }).description, "b")
      assert.deepStrictEqual((yield* ask("topic.describe", ["com.example.test.t1"])).args[0], {
        uri: "com.example.test.t1",
        description: "one",
        payload: { $schema: "https://json-schema.org/draft/2020-12/schema", type: "string" }
      })
      const closed = (yield* ask("error.describe", ["com.example.test.error.closed"])).args[0] as Reflection.ErrorDescription
      assert.strictEqual(closed.tag, "Closed")
      assert.deepStrictEqual(closed.procedures, ["com.example.test.a", "com.example.test.c"])
      const missing = yield* Effect.flip(ask("topic.describe", ["com.example.test.none"]))
      assert.deepStrictEqual(missing.args, ["no topic com.example.test.none is declared"])
      assert.deepStrictEqual((yield* Effect.flip(ask("procedure.describe", ["com.example.test.x"]))).args, ["no procedure com.example.test.x is declared"])
      assert.deepStrictEqual((yield* Effect.flip(ask("error.describe", ["com.example.test.x"]))).args, ["no error com.example.test.x is declared"])
      const noUri = yield* Effect.flip(ask("procedure.describe", []))
      assert.deepStrictEqual(noUri.args, ["a URI expected as args[0] (or kwargs uri)"])
    }))

  it("an error Schema that is not a tagged class has no tag and no kwargs", () => {
    const plain = catalog().errors.get("com.example.test.error.plain")!
    assert.strictEqual(plain.tag, null)
    assert.deepStrictEqual(plain.kwargs, Reflection.jsonSchema(Schema.Struct({})))
  })

  it("a Schema used twice is one definition under $defs", () => {
    const kwargs = catalog().procedures.get("com.example.test.d")!.args.kwargs
    assert.deepStrictEqual(Object.keys(kwargs["$defs"] as object), ["Point"])
    assert.strictEqual(Reflection.jsonSchema(Schema.Int)["$defs"], undefined)
  })
})

describe("Reflection.layer", () => {
  it.effect("registers the six wampgres.reflection.* procedures, answering from the catalog", () =>
    Effect.gen(function*() {
      const registered: Array<Registration<unknown>> = []
      const session = WampSession.of({
        url: "ws://test/ws",
        realm: "realm1",
        sessionId: Effect.succeed(1),
        notReady: Effect.succeed([]),
        register: (registrations: ReadonlyArray<Registration<unknown>>) => Effect.sync(() => void registered.push(...registrations)),
        call: () => Effect.die("unused"),
        subscribe: () => Effect.die("unused"),
        publish: () => Effect.die("unused")
      } as never)
      yield* Layer.build(Reflection.layer(contracts, topics)).pipe(
        Effect.provideService(WampSession, session),
        Effect.scoped
      )
      assert.deepStrictEqual(registered.map((r) => r.uri).sort(), [
        "wampgres.reflection.error.describe",
        "wampgres.reflection.error.list",
        "wampgres.reflection.procedure.describe",
        "wampgres.reflection.procedure.list",
        "wampgres.reflection.topic.describe",
        "wampgres.reflection.topic.list"
      ])
      const list = registered.find((r) => r.uri === "wampgres.reflection.topic.list")!
      const answer = yield* (list.handler({ args: [], kwargs: {} } as never) as unknown as Effect.Effect<{ args: ReadonlyArray<unknown> }>)
      assert.deepStrictEqual(answer.args[0], ["com.example.test.t1", "com.example.test.t2"])
    }).pipe(Effect.provide(Logger.layer([]))))
})
