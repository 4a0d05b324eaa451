/**
 * Scale-out: several instances of the component register the same procedures as a shared
 * registration (`WAMP_INVOKE`, the session's `invoke` setting), and the router spreads the calls
 * over them. Real parts: the embedded router, two component sessions, the run's PostgreSQL.
 */
import { assert, layer } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import type { InvokePolicy } from "../../src/layers/WampSession.js"
import { WampSession } from "../../src/layers/WampSession.js"
import * as Group from "../../src/procedures/Group.js"
import { NowGroup } from "../../src/procedures/now/index.js"
import * as Procedure from "../../src/procedures/Procedure.js"
import { Router } from "../../src/router/index.js"
import { callRaw, clientSession, componentLayer, TestDatabase, TestRouter } from "../support/index.js"

const WHOAMI = "com.example.test.scaleout.whoami"

/** The same procedure in every instance; each answers with its own name. */
const whoami = (instance: string) =>
  Procedure.make(WHOAMI, { result: Schema.String, handler: () => Effect.succeed(instance) })

/** One component instance (its own session; `Layer.fresh` so the groups are not shared between builds). */
const instance = (name: string, invoke: InvokePolicy) =>
  componentLayer(Layer.fresh(Layer.mergeAll(Group.make(name, [whoami(name)]).layer, NowGroup.layer)), { invoke })

/** Starts a layer in a scope of its own; `stop` ends it. */
const start = <A, E, R>(layer_: Layer.Layer<A, E, R>) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(layer_, scope)
    return { context, stop: Scope.close(scope, Exit.void) }
  })

const sessionIdOf = (context: Context.Context<WampSession>) =>
  Effect.map(Context.get(context, WampSession).sessionId, Option.getOrThrow)

const Env = Layer.mergeAll(TestDatabase.layer, TestRouter.layer())

layer(Env, { excludeTestServices: true, timeout: "60 seconds" })("scale-out (WAMP_INVOKE)", (it) => {
  it.effect("two instances with roundrobin both register; the router lists both and alternates calls between them", () =>
    Effect.gen(function*() {
      const router = yield* Router
      const a = yield* start(instance("a", "roundrobin"))
      const b = yield* start(instance("b", "roundrobin"))
      const caller = yield* clientSession(router.url)

      // The router sees one shared registration with both sessions as callees.
      for (const uri of [WHOAMI, "com.example.now.v1", "com.example.now.v3"]) {
        const id = (yield* callRaw(caller, "wamp.registration.lookup", { args: [uri] })).args[0]
        assert.isNumber(id, `${uri} is registered`)
        const registration = (yield* callRaw(caller, "wamp.registration.get", { args: [id] })).args[0] as { invoke: string }
        assert.strictEqual(registration.invoke, "roundrobin")
        const callees = (yield* callRaw(caller, "wamp.registration.list_callees", { args: [id] })).args[0]
        assert.sameMembers(callees as Array<number>, [yield* sessionIdOf(a.context), yield* sessionIdOf(b.context)])
      }

      // Round-robin: consecutive calls alternate between the two instances.
      const served: Array<string> = []
      for (let i = 0; i < 6; i++) served.push((yield* callRaw(caller, WHOAMI)).args[0] as string)
      assert.sameMembers([...new Set(served)], ["a", "b"])
      for (let i = 1; i < served.length; i++) assert.notStrictEqual(served[i], served[i - 1], `call ${i} went to the same instance`)

      // The service's own procedures answer from both instances too (each with its own pool use).
      const nows = yield* Effect.forEach([1, 2, 3, 4], () => callRaw(caller, "com.example.now.v1"), { concurrency: 4 })
      for (const now of nows) assert.match(now.args[0] as string, /^\d{4}-\d{2}-\d{2} /)

      // One instance leaving: the other serves every call alone.
      yield* a.stop
      for (let i = 0; i < 3; i++) assert.strictEqual((yield* callRaw(caller, WHOAMI)).args[0], "b")
      yield* b.stop
    }))

  it.effect("with the default (single) a second instance cannot register the same procedures", () =>
    Effect.gen(function*() {
      const router = yield* Router
      const a = yield* start(instance("a", "single"))
      const second = yield* Effect.exit(start(instance("b", "single")))
      assert.isTrue(Exit.isFailure(second), "the second instance must fail to start")
      if (Exit.isFailure(second)) {
        const error = Cause.findErrorOption(second.cause)
        assert.isTrue(Option.isSome(error))
        if (Option.isSome(error)) {
          assert.strictEqual((error.value as { error?: unknown }).error, "wamp.error.procedure_already_exists")
        }
      }
      const caller = yield* clientSession(router.url)
      assert.strictEqual((yield* callRaw(caller, WHOAMI)).args[0], "a")
      yield* a.stop
    }))

  it.effect("a procedure's own invoke option wins over the session's policy", () =>
    Effect.gen(function*() {
      const router = yield* Router
      const pinned = Procedure.make("com.example.test.scaleout.pinned", {
        result: Schema.String,
        options: { invoke: "first" },
        handler: () => Effect.succeed("pinned")
      })
      const c = yield* start(componentLayer(Group.make("pinned", [pinned]).layer, { invoke: "roundrobin" }))
      const caller = yield* clientSession(router.url)
      const id = (yield* callRaw(caller, "wamp.registration.lookup", { args: [pinned.uri] })).args[0]
      const registration = (yield* callRaw(caller, "wamp.registration.get", { args: [id] })).args[0] as { invoke: string }
      assert.strictEqual(registration.invoke, "first")
      yield* c.stop
    }))
})
