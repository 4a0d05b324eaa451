/**
 * `Group.make(...).layer`: registers every procedure of the group in one `register` (URI and
 * options as declared), with the services the handlers require passed once as the registration's
 * context; procedures declared `asCaller` run with the caller's identity, mapped through the group's
 * role map (a caller whose authrole the map lacks is refused with `wamp.error.not_authorized`
 * before the handler runs); the others run as the procedure's own `run`. It logs how many it
 * registered, annotated with the group's name.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as References from "effect/References"
import * as Schema from "effect/Schema"
import { WampSession } from "../../../src/layers/WampSession.js"
import type { InvocationRequest, Registration } from "../../../src/layers/wamp/Protocol.js"
import * as Caller from "../../../src/procedures/Caller.js"
import * as Group from "../../../src/procedures/Group.js"
import { request } from "../../../src/procedures/invoke.js"
import * as Procedure from "../../../src/procedures/Procedure.js"

class Greeting extends Context.Service<Greeting, string>()("test/Greeting") {}

const hello = Procedure.make("com.example.test.hello", {
  args: { name: Schema.String },
  result: Schema.String,
  options: { invoke: "roundrobin" },
  handler: ({ name }) => Effect.map(Effect.service(Greeting), (greeting) => `${greeting}, ${name}`)
})
const whoami = Procedure.make("com.example.test.whoami", {
  result: Schema.Struct({ authid: Schema.String, role: Schema.NullOr(Schema.String) }),
  asCaller: true,
  handler: () =>
    Effect.map(Effect.service(Caller.Caller), (identity) => ({ authid: identity?.authid ?? "nobody", role: identity?.role ?? null }))
})

/** A session that records what is registered (and nothing else). */
const recording = () => {
  const calls: Array<ReadonlyArray<Registration<Greeting>>> = []
  const layer = Layer.succeed(WampSession, WampSession.of({
    url: "ws://wampgres.mock/ws",
    realm: "realm1",
    sessionId: Effect.succeed(Option.none()),
    notReady: Effect.succeed([]),
    register: (registrations) => Effect.sync(() => void calls.push(registrations as unknown as ReadonlyArray<Registration<Greeting>>)),
    call: () => Effect.die("unused"),
    subscribe: () => Effect.die("unused"),
    publish: () => Effect.die("unused"),
    publishAll: () => Effect.die("unused")
  }))
  return { calls, layer }
}

const capture = (lines: Array<string>) =>
  Logger.layer([
    Logger.make((options) => {
      const message = Array.isArray(options.message) ? options.message.map(String).join(" ") : String(options.message)
      const group = options.fiber.getRef(References.CurrentLogAnnotations)["group"]
      lines.push(`${options.logLevel} ${String(group)}: ${message}`)
    })
  ])

const as = (authrole: string): InvocationRequest => ({
  ...request(whoami.uri),
  caller: 7,
  callerAuthid: "ada",
  callerAuthrole: authrole
})

/** Builds the group's layer; returns what it registered and logged. */
const registered = (group: Group.Group<Greeting>) =>
  Effect.gen(function*() {
    const session = recording()
    const lines: Array<string> = []
    yield* Layer.build(group.layer).pipe(
      Effect.provide(Layer.mergeAll(session.layer, Layer.succeed(Greeting, "Hello"), capture(lines)))
    )
    assert.strictEqual(session.calls.length, 1)
    return { registrations: session.calls[0]!, lines }
  })

const runAs = (registration: Registration<Greeting>, call: InvocationRequest) =>
  registration.handler(call).pipe(Effect.provideContext(registration.context))

describe("Group.make", () => {
  it.effect("registers every procedure at once, with its URI, options and the handlers' services", () =>
    Effect.gen(function*() {
      const group = Group.make("greetings", [hello, whoami], { roles: { user: "app_user" } })
      assert.strictEqual(group.name, "greetings")
      assert.deepStrictEqual(group.procedures, [hello, whoami])
      const { registrations, lines } = yield* registered(group)
      assert.deepStrictEqual(registrations.map((r) => [r.uri, r.options]), [
        [hello.uri, { invoke: "roundrobin" }],
        [whoami.uri, { disclose_caller: true }]
      ])
      // the context carries the service the handler requires
      const answer = yield* runAs(registrations[0]!, request(hello.uri, { kwargs: { name: "ada" } }))
      assert.deepStrictEqual(answer.args, ["Hello, ada"])
      // a procedure that does not run as its caller is run as it is
      assert.strictEqual(registrations[0]!.handler, hello.run)
      assert.deepStrictEqual(lines.filter((l) => l.includes("registered")), ["Info greetings: registered 2 procedures"])
    }).pipe(Effect.scoped))

  it.effect("an asCaller procedure runs as the caller, its authrole mapped to the group's database role", () =>
    Effect.gen(function*() {
      const { registrations } = yield* registered(Group.make("greetings", [hello, whoami], { roles: { user: "app_user" } }))
      const answer = yield* runAs(registrations[1]!, as("user"))
      assert.deepStrictEqual(answer.args, [{ authid: "ada", role: "app_user" }])
      const refused = yield* Effect.flip(runAs(registrations[1]!, as("guest")))
      assert.strictEqual(refused.error, "wamp.error.not_authorized")
      assert.include(refused.message, `role "guest" may not call ${whoami.uri}`)
    }).pipe(Effect.scoped))

  it.effect("without a role map an asCaller procedure runs as the caller under the service's role", () =>
    Effect.gen(function*() {
      const { registrations } = yield* registered(Group.make("greetings", [whoami]))
      const answer = yield* runAs(registrations[0]!, as("guest"))
      assert.deepStrictEqual(answer.args, [{ authid: "ada", role: null }])
    }).pipe(Effect.scoped))
})
