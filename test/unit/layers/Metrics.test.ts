/** The component's per-call metrics are recorded only while a listener serves them. */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as Metrics from "../../../src/layers/Metrics.js"

describe("Metrics.recording", () => {
  it.effect("is on while at least one listener's scope is open, off after the last closes", () =>
    Effect.gen(function*() {
      assert.isFalse(Metrics.recording())
      const first = yield* Scope.make()
      const second = yield* Scope.make()
      yield* Scope.provide(Metrics.recordWhileScoped, first)
      yield* Scope.provide(Metrics.recordWhileScoped, second)
      assert.isTrue(Metrics.recording())
      yield* Scope.close(first, Exit.void)
      assert.isTrue(Metrics.recording())
      yield* Scope.close(second, Exit.void)
      assert.isFalse(Metrics.recording())
    }))
})
