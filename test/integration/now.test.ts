/**
 * com.example.now.v1–v4 end to end: a real autobahn client calls through the embedded router into
 * the component, which queries the test run's real PostgreSQL. Also: argument validation, error URIs
 * of typed errors, SQL failures and defects, and the typed client.
 */
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as SqlClient from "effect/sql/SqlClient"
import * as Tracer from "effect/Tracer"
import { WampSession } from "../../src/layers/WampSession.js"
import * as Client from "../../src/procedures/Client.js"
import * as Events from "../../src/procedures/Events.js"
import * as Group from "../../src/procedures/Group.js"
import { NowGroup, nowV1, nowV3 } from "../../src/procedures/now/index.js"
import * as Procedure from "../../src/procedures/Procedure.js"
import { Router } from "../../src/router/index.js"
import { callRaw, clientSession, componentLayer, TestDatabase, TestRouter } from "../support/index.js"

/** Spans seen by the component, to observe transactions from the outside. */
interface Recorded {
  readonly name: string
  readonly span: Tracer.Span
  readonly parent: Tracer.AnySpan | undefined
  readonly attributes: Map<string, unknown>
}
const recorded: Array<Recorded> = []
const RecordingTracer = Layer.succeed(
  Tracer.Tracer,
  Tracer.make({
    span(options) {
      const span = Tracer.nativeTracer.span(options)
      const entry: Recorded = { name: options.name, span, parent: Option.getOrUndefined(options.parent), attributes: new Map() }
      const attribute = span.attribute.bind(span)
      span.attribute = (key, value) => {
        entry.attributes.set(key, value)
        attribute(key, value)
      }
      recorded.push(entry)
      return span
    }
  })
)

/** Is there a `sql.transaction` span around a statement that ran `SELECT now()` since `from`? */
const nowRanInTransaction = (from: number): boolean => {
  const since = recorded.slice(from)
  const statements = since.filter((s) => String(s.attributes.get("db.query.text") ?? "").includes("SELECT now()"))
  assert.isAbove(statements.length, 0, "the procedure ran no SELECT now() statement")
  return statements.every((s) => since.some((t) => t.name === "sql.transaction" && t.span === s.parent))
}

class NoSuchThing extends Schema.TaggedError<NoSuchThing>()("NoSuchThing", { id: Schema.Int }) {
  static readonly uri = "com.example.test.error.no_such_thing"
}

const lookup = Procedure.make("com.example.test.lookup", {
  args: { id: Schema.Int, label: Schema.optional(Schema.String) },
  positional: ["id"],
  result: Schema.Struct({ id: Schema.Int, label: Schema.String }),
  errors: [NoSuchThing],
  handler: ({ id, label }) => id > 100 ? Effect.fail(new NoSuchThing({ id })) : Effect.succeed({ id, label: label ?? "none" })
})

const brokenSql = Procedure.make("com.example.test.broken_sql", {
  result: Schema.Number,
  transactional: true,
  handler: Effect.fnUntraced(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`SELECT * FROM no_such_table WHERE secret = ${"hunter2"}`
    return 1
  })
})

const defect = Procedure.make("com.example.test.defect", {
  result: Schema.Number,
  handler: () => Effect.die(new Error("stack trace must not leak"))
})

class Refused extends Schema.TaggedError<Refused>()("Refused", {}) {
  static readonly uri = "com.example.test.error.refused"
}

/** Publishes after commit, then commits or fails (rolls back) as asked. */
const announce = Procedure.make("com.example.test.announce", {
  args: { text: Schema.String, commit: Schema.Boolean },
  result: Schema.String,
  errors: [Refused],
  transactional: true,
  handler: Effect.fnUntraced(function*({ commit, text }) {
    yield* Events.publishAfterCommit("com.example.test.on_announce", { args: [text] })
    if (!commit) return yield* new Refused()
    return text
  })
})

const TestGroup = Group.make("test", [lookup, brokenSql, defect, announce])

const Env = componentLayer(Layer.mergeAll(NowGroup.layer, TestGroup.layer)).pipe(
  Layer.provideMerge(TestRouter.layer()),
  Layer.provideMerge(TestDatabase.layer),
  Layer.provide(RecordingTracer)
)

const timestamp = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)?[+-]\d{2}(:\d{2})?$/

layer(Env, { excludeTestServices: true, timeout: "60 seconds" })("com.example.now", (it) => {
  it.effect("v1–v4 return the database's now() as strings", () =>
    Effect.gen(function*() {
      const router = yield* Router
      const sql = yield* SqlClient.SqlClient
      const session = yield* clientSession(router.url)
      const [before] = yield* sql<{ t: Date }>`SELECT clock_timestamp() AS t`
      const results: Array<string> = []
      for (const v of [1, 2, 3, 4]) {
        const result = yield* callRaw(session, `com.example.now.v${v}`)
        assert.deepStrictEqual(result.kwargs, {})
        assert.strictEqual(result.args.length, 1)
        const value = result.args[0]
        assert.isString(value)
        assert.match(value as string, timestamp)
        results.push(value as string)
      }
      const [after] = yield* sql<{ t: Date }>`SELECT clock_timestamp() AS t`
      // The database's clock, not the component's: each lies between two database readings.
      const parsed = yield* Effect.forEach(results, (text) => Effect.map(sql<{ t: Date }>`SELECT ${text}::timestamptz AS t`, (rows) => rows[0]!.t))
      for (const t of parsed) {
        assert.isAtLeast(t.getTime(), before!.t.getTime() - 1)
        assert.isAtMost(t.getTime(), after!.t.getTime() + 1)
      }
      for (let i = 1; i < parsed.length; i++) assert.isAtLeast(parsed[i]!.getTime(), parsed[i - 1]!.getTime())
    }))

  it.effect("v3 and v4 run their query inside a transaction, v1 and v2 do not", () =>
    Effect.gen(function*() {
      const router = yield* Router
      const session = yield* clientSession(router.url)
      for (const [v, transactional] of [[1, false], [2, false], [3, true], [4, true]] as const) {
        const from = recorded.length
        yield* callRaw(session, `com.example.now.v${v}`)
        assert.strictEqual(nowRanInTransaction(from), transactional, `com.example.now.v${v}`)
      }
    }))

  it.effect("arguments the procedure does not take fail with wamp.error.invalid_argument", () =>
    Effect.gen(function*() {
      const router = yield* Router
      const session = yield* clientSession(router.url)
      const positional = yield* Effect.flip(callRaw(session, "com.example.now.v1", { args: [1] }))
      assert.strictEqual(positional.error, "wamp.error.invalid_argument")
      const keyword = yield* Effect.flip(callRaw(session, "com.example.now.v2", { kwargs: { tz: "UTC" } }))
      assert.strictEqual(keyword.error, "wamp.error.invalid_argument")
      assert.include(keyword.message, "tz")
    }))

  it.effect("arguments arrive positionally or as keywords; bad ones name the field", () =>
    Effect.gen(function*() {
      const router = yield* Router
      const session = yield* clientSession(router.url)
      const byPosition = yield* callRaw(session, lookup.uri, { args: [7] })
      assert.deepStrictEqual(byPosition.args, [{ id: 7, label: "none" }])
      const byKeyword = yield* callRaw(session, lookup.uri, { kwargs: { id: 8, label: "x" } })
      assert.deepStrictEqual(byKeyword.args, [{ id: 8, label: "x" }])
      const wrongType = yield* Effect.flip(callRaw(session, lookup.uri, { args: ["seven"] }))
      assert.strictEqual(wrongType.error, "wamp.error.invalid_argument")
      assert.match(wrongType.message, /^id: /)
      const missing = yield* Effect.flip(callRaw(session, lookup.uri, { kwargs: { label: "x" } }))
      assert.strictEqual(missing.error, "wamp.error.invalid_argument")
      assert.match(missing.message, /^id: /)
      const wrongLabel = yield* Effect.flip(callRaw(session, lookup.uri, { kwargs: { id: 1, label: 5 } }))
      assert.match(wrongLabel.message, /^label: /)
    }))

  it.effect("a typed error reaches the caller with its URI and its fields as kwargs", () =>
    Effect.gen(function*() {
      const router = yield* Router
      const session = yield* clientSession(router.url)
      const error = yield* Effect.flip(callRaw(session, lookup.uri, { args: [101] }))
      assert.strictEqual(error.error, NoSuchThing.uri)
      assert.deepStrictEqual(error.kwargs, { id: 101 })
    }))

  it.effect("an SQL failure is wampgres.error.database without SQL text or parameters", () =>
    Effect.gen(function*() {
      const router = yield* Router
      const session = yield* clientSession(router.url)
      const error = yield* Effect.flip(callRaw(session, brokenSql.uri))
      assert.strictEqual(error.error, "wampgres.error.database")
      assert.deepStrictEqual(error.kwargs, { sqlstate: "42P01" })
      const everything = JSON.stringify([error.args, error.kwargs])
      for (const leak of ["no_such_table", "hunter2", "SELECT"]) assert.notInclude(everything, leak)
    }))

  it.effect("a defect is wamp.error.runtime_error without a stack trace", () =>
    Effect.gen(function*() {
      const router = yield* Router
      const session = yield* clientSession(router.url)
      const error = yield* Effect.flip(callRaw(session, defect.uri))
      assert.strictEqual(error.error, "wamp.error.runtime_error")
      assert.notInclude(JSON.stringify([error.args, error.kwargs]), "stack trace must not leak")
    }))

  it.effect("events published in a transaction are sent after COMMIT, never after ROLLBACK", () =>
    Effect.gen(function*() {
      const router = yield* Router
      const subscriber = yield* clientSession(router.url)
      const caller = yield* clientSession(router.url)
      const seen: Array<unknown> = []
      yield* Effect.promise(() => subscriber.subscribe("com.example.test.on_announce", (args) => void seen.push(args[0])))
      const refused = yield* Effect.flip(callRaw(caller, announce.uri, { kwargs: { text: "rolled back", commit: false } }))
      assert.strictEqual(refused.error, Refused.uri)
      yield* callRaw(caller, announce.uri, { kwargs: { text: "committed", commit: true } })
      // The committed event arrives; the rolled-back one, sent before it if at all, never did.
      for (let i = 0; i < 50 && seen.length === 0; i++) yield* Effect.sleep("20 millis")
      assert.deepStrictEqual(seen, ["committed"])
    }))

  it.effect("the typed client decodes results and declared errors from the same declaration", () =>
    Effect.gen(function*() {
      // The component's own session serves as a client here: it is a WampSession like any other.
      const now = yield* Client.call(nowV3, {})
      assert.match(now, timestamp)
      const found = yield* Client.call(lookup, { id: 3, label: "three" })
      assert.deepStrictEqual(found, { id: 3, label: "three" })
      const missing = yield* Effect.flip(Client.call(lookup, { id: 404 }))
      assert.instanceOf(missing, NoSuchThing)
      assert.strictEqual((missing as NoSuchThing).id, 404)
      assert.match(yield* Client.call(nowV1, {}), timestamp)
      const wamp = yield* WampSession
      const unknown = yield* Effect.flip(wamp.call("com.example.no_such_procedure"))
      assert.strictEqual(unknown.error, "wamp.error.no_such_procedure")
    }))
})
