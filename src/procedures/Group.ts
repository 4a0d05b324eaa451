/**
 * A group of procedures registered together: the analogue of Autobahn's `yield self.register(self)`.
 * A group is one file under `src/procedures/` exporting `Group.make(name, [procedures...])`; adding
 * its `.layer` to the composition in `src/main.ts` (one line) registers all of them, again after
 * every reconnect, and unregisters them (after draining calls in flight) on shutdown.
 */
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { type Payload, type Registration, type WampError, WampSession } from "../layers/WampSession.js"
import { invoke } from "./invoke.js"
import type * as Procedure from "./Procedure.js"

export interface Group<Procs extends ReadonlyArray<Procedure.Any>> {
  readonly name: string
  readonly procedures: Procs
  /** Registers every procedure of the group for the lifetime of the layer. */
  readonly layer: Layer.Layer<never, WampError, WampSession | Procedure.Procedure.Services<Procs[number]>>
}

/** Turns procedures into session registrations whose handlers run with the given services. */
export const registrations = <R>(
  procedures: ReadonlyArray<Procedure.Procedure<any, any, any, R>>,
  context: Context.Context<R>
): ReadonlyArray<Registration> =>
  procedures.map((procedure) => ({
    uri: procedure.uri,
    options: procedure.options,
    // The session forks each call with `context`, which holds R: no per-call provideContext.
    handler: (request) => invoke(procedure, request) as Effect.Effect<Payload, WampError>,
    context: context as Context.Context<never>
  }))

/** Declares a group of procedures. */
export const make = <const Procs extends ReadonlyArray<Procedure.Any>>(name: string, procedures: Procs): Group<Procs> => ({
  name,
  procedures,
  layer: Layer.effectDiscard(
    Effect.gen(function*() {
      const context = yield* Effect.context<Procedure.Procedure.Services<Procs[number]>>()
      const session = yield* WampSession
      yield* session.register(registrations(procedures, context))
      yield* Effect.logInfo(`registered ${procedures.length} procedures`)
    }).pipe(Effect.annotateLogs("group", name))
  )
})
