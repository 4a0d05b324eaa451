/**
 * The WAMP session: one autobahn connection as a scoped resource (Autobahn|Python's
 * `ApplicationRunner` + `ApplicationSession`, Effect-style), assembled from its parts:
 *
 * - `wamp/Connection.ts`: joins `WAMP_REALM` at `WAMP_URL` within `WAMP_JOIN_TIMEOUT` (or the layer
 *   fails with the reason), reconnects on a Schedule (no retry limit, delay capped by
 *   `WAMP_MAX_RETRY_DELAY`), leaves with GOODBYE when the scope closes;
 * - `wamp/Registry.ts`: registrations and subscriptions for the lifetime of their scope, made again
 *   after every rejoin; on shutdown, procedures stop taking calls, drain (`WAMP_DRAIN_TIMEOUT`) and
 *   are unregistered;
 * - `wamp/Invocation.ts`: calls in flight, INTERRUPT (call canceling) and draining;
 * - `wamp/Failure.ts`: where a failure becomes a WAMP error;
 * - scale-out: `WAMP_INVOKE` is the invocation policy of every registration without its own;
 * - Effect-typed `call`, `publish` and `subscribe`; every autobahn promise is bounded by
 *   `WAMP_REQUEST_TIMEOUT` (autobahn never rejects pending requests when its transport dies).
 */
import autobahn from "autobahn"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import { invokePolicies } from "../wamp/types.js"
import { eventsPublished } from "./Metrics.js"
import * as Connection from "./wamp/Connection.js"
import * as Failure from "./wamp/Failure.js"
import type { EventMessage, Payload, Registration, WampError } from "./wamp/Protocol.js"
import * as Registry from "./wamp/Registry.js"
import type { WampSessionConfig } from "./wamp/SessionConfig.js"

export * from "./wamp/Protocol.js"
export * from "./wamp/SessionConfig.js"
export type { InvokePolicy } from "../wamp/types.js"
export { invokePolicies }

export class WampSession extends Context.Service<WampSession, {
  readonly url: string
  readonly realm: string
  /** The current WAMP session id, `None` while disconnected. */
  readonly sessionId: Effect.Effect<Option.Option<number>>
  /** Why the session cannot take calls now (not joined, procedures not registered); empty: ready. */
  readonly notReady: Effect.Effect<ReadonlyArray<string>>
  /**
   * Registers procedures for the lifetime of the current scope (see the module comment). Fails when
   * any of them cannot be registered (e.g. `wamp.error.procedure_already_exists`); then none is kept.
   */
  readonly register: <R>(registrations: ReadonlyArray<Registration<R>>) => Effect.Effect<void, WampError, Scope.Scope>
  /** Calls a procedure; waits for a (re)join up to the request timeout. */
  readonly call: (
    procedure: string,
    payload?: Partial<Payload>,
    options?: Record<string, unknown>
  ) => Effect.Effect<Payload, WampError>
  /** Publishes an event; with `{ acknowledge: true }` waits for the router's PUBLISHED. */
  readonly publish: (
    topic: string,
    payload?: Partial<Payload>,
    options?: Record<string, unknown>
  ) => Effect.Effect<void, WampError>
  /**
   * Publishes events back to back, in order, and waits for every acknowledgement (of those published
   * with `{ acknowledge: true }`) within one request timeout: one outcome per event, in order. For
   * batches (the outbox relay): no fiber or timer per event.
   */
  readonly publishAll: (events: ReadonlyArray<Publication>) => Effect.Effect<ReadonlyArray<Exit.Exit<void, WampError>>>
  /** Subscribes for the lifetime of the current scope; kept across rejoins. */
  readonly subscribe: (
    topic: string,
    handler: (event: EventMessage) => Effect.Effect<void>,
    options?: Record<string, unknown>
  ) => Effect.Effect<void, WampError, Scope.Scope>
}>()("wampgres/layers/WampSession") {
  /** A session with the given settings. */
  static readonly layer = (settings: WampSessionConfig): Layer.Layer<WampSession, WampError> =>
    Layer.effect(WampSession, make(settings))
}

/** One event for `publishAll`. */
export interface Publication {
  readonly topic: string
  readonly payload?: Partial<Payload> | undefined
  readonly options?: Record<string, unknown> | undefined
}

/**
 * A `publishAll` made of single `publish`es, started back to back (for sessions that have no cheaper
 * way: the test kit's, test doubles).
 */
export const publishEach = (publish: WampSession["Service"]["publish"]) =>
(events: ReadonlyArray<Publication>): Effect.Effect<ReadonlyArray<Exit.Exit<void, WampError>>> =>
  Effect.forEach(events, (event) => Effect.exit(publish(event.topic, event.payload, event.options)), { concurrency: "unbounded" })

/** Hands one event to autobahn: its promise of the acknowledgement, `undefined` without one; may throw. */
const send = (on: autobahn.Session, { options, payload, topic }: Publication) =>
  on.publish(topic, [...(payload?.args ?? [])], { ...payload?.kwargs }, options ? { ...options } : undefined)

/** A payload as autobahn hands results over: one bare value, or an `autobahn.Result`. */
const toPayload = (value: unknown): Payload =>
  value instanceof autobahn.Result
    ? { args: value.args, kwargs: value.kwargs }
    : value === null || value === undefined
    ? { args: [], kwargs: {} }
    : { args: [value], kwargs: {} }

const make = (settings: WampSessionConfig) =>
  Effect.gen(function*() {
    // The registry needs the connection, which calls the registry back on every join.
    let connection: Connection.Connection | undefined
    const registry = yield* Registry.make(settings, () => connection!)
    connection = yield* Connection.make(settings, registry)
    yield* connection.awaitJoin
    const { request, session } = connection

    const call = (procedure: string, payload?: Partial<Payload>, options?: Record<string, unknown>) =>
      Effect.flatMap(session, (on) =>
        request(
          `call ${procedure}`,
          () => on.call(procedure, [...(payload?.args ?? [])], { ...payload?.kwargs }, options ? { ...options } : undefined)
        )).pipe(Effect.map(toPayload))

    const publish = (topic: string, payload?: Partial<Payload>, options?: Record<string, unknown>) =>
      Effect.flatMap(session, (on) => request(`publish ${topic}`, () => send(on, { topic, payload, options }))).pipe(
        Effect.andThen(Metric.update(eventsPublished, 1))
      )

    const publishAll = (events: ReadonlyArray<Publication>): Effect.Effect<ReadonlyArray<Exit.Exit<void, WampError>>> =>
      events.length === 0 ? Effect.succeed([]) : Effect.flatMap(Effect.exit(session), (joined) => {
        if (Exit.isFailure(joined)) return Effect.succeed(events.map(() => Exit.asVoid(joined)))
        const on = joined.value
        const outcomes: Array<Exit.Exit<void, WampError> | undefined> = new Array(events.length).fill(undefined)
        return Effect.callback<ReadonlyArray<Exit.Exit<void, WampError> | undefined>>((resume) => {
          let pending = events.length
          const settle = (index: number, outcome: Exit.Exit<void, WampError>) => {
            outcomes[index] = outcome
            if (--pending === 0) resume(Effect.succeed(outcomes))
          }
          events.forEach((event, index) => {
            const failed = (cause: unknown) => settle(index, Exit.fail(Failure.fromRejection(`publish ${event.topic}`)(cause)))
            try {
              const acknowledged = send(on, event)
              if (acknowledged === undefined) settle(index, Exit.void)
              else acknowledged.then(() => settle(index, Exit.void), failed)
            } catch (cause) {
              failed(cause)
            }
          })
        }).pipe(
          Effect.timeoutOrElse({ duration: settings.requestTimeout, orElse: () => Effect.succeed(outcomes) }),
          Effect.map((settled) =>
            settled.map((outcome, index) =>
              outcome ?? Exit.fail(Connection.noAnswer(`publish ${events[index]!.topic}`, settings.requestTimeout))
            )
          ),
          Effect.tap((exits) => Metric.update(eventsPublished, exits.filter(Exit.isSuccess).length))
        )
      })

    const current = connection.current
    return WampSession.of({
      url: settings.url,
      realm: settings.realm,
      sessionId: Effect.sync(() => Option.fromNullishOr(current()?.id)),
      notReady: Effect.sync(() => {
        const on = current()
        if (on === undefined || !on.isOpen) return [`not joined to realm ${settings.realm}`]
        const missing = registry.unregistered()
        return missing.length === 0 ? [] : [`not registered: ${missing.join(", ")}`]
      }),
      register: registry.register,
      call,
      publish,
      publishAll,
      subscribe: registry.subscribe
    })
  })
