/**
 * A group of procedures registered together: the analogue of Autobahn's `yield self.register(self)`.
 * Its `.layer`, added to the composition in `src/main.ts` (one line), registers all of them, again
 * after every reconnect, and unregisters them (after draining calls in flight) on shutdown. The
 * layer requires what the handlers require (`R`), no more, no less.
 *
 * Either from procedures declared with their handlers:
 *
 * ```ts
 * export const NowGroup = Group.make("now", [nowV1, nowV2])
 * ```
 *
 * or from a module of contracts, each implemented by its handler (checked against it):
 *
 * ```ts
 * import * as Ledger from "./contract.js"
 * export const LedgerGroup = Group.make("ledger", [
 *   Procedure.implement(Ledger.openAccount, openAccount),
 *   Procedure.implement(Ledger.getAccount, getAccount)
 * ])
 * ```
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { WampSession } from "../layers/WampSession.js"
import type { WampError } from "../layers/wamp/Protocol.js"
import * as Caller from "./Caller.js"
import type * as Procedure from "./Procedure.js"

export interface Group<R> {
  readonly name: string
  readonly procedures: ReadonlyArray<Procedure.Any & Procedure.Runnable<R>>
  /** Registers every procedure of the group for the lifetime of the layer. */
  readonly layer: Layer.Layer<never, WampError, WampSession | R>
}

export interface Options {
  /**
   * WAMP authrole → PostgreSQL role the `asCaller` procedures of the group run as (`SET LOCAL ROLE`);
   * a caller with another authrole is refused with `wamp.error.not_authorized`. Without it, they run
   * as the service's role, with the caller's identity in settings only.
   */
  readonly roles?: Caller.RoleMap
}

/** The call path a session runs: for `asCaller` procedures, with the caller's identity (or its refusal). */
const callPath = <R>(procedure: Procedure.Runnable<R> & { readonly asCaller: boolean }, roles: Caller.RoleMap | undefined) =>
  procedure.asCaller ? (call: Parameters<typeof procedure.run>[0]) => Caller.provide(call, roles, procedure.run(call)) : procedure.run

/** Declares a group of procedures; `R` is the union of what their handlers require. */
export const make = <R>(
  name: string,
  procedures: ReadonlyArray<Procedure.Any & Procedure.Runnable<R>>,
  options: Options = {}
): Group<R> => ({
  name,
  procedures,
  layer: Layer.effectDiscard(
    Effect.gen(function*() {
      // The session forks each call with `context`, which holds R: no per-call provideContext.
      const context = yield* Effect.context<R>()
      const session = yield* WampSession
      yield* session.register(procedures.map((procedure) => ({
        uri: procedure.uri,
        options: procedure.options,
        handler: callPath(procedure, options.roles),
        context
      })))
      yield* Effect.logInfo(`registered ${procedures.length} procedures`)
    }).pipe(Effect.annotateLogs("group", name))
  )
})
