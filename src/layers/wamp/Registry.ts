/**
 * What the component offers the realm: registrations and subscriptions, kept for the lifetime of
 * their scope and made again after every rejoin, no user code involved. A registration that fails
 * after a rejoin (e.g. the router still holds the previous session's) is retried on a schedule
 * while that session lasts, instead of only being logged.
 *
 * Closing a registration's scope stops it taking calls (new INVOCATIONs get `wamp.error.unavailable`),
 * drains the calls in flight (see `Invocation.drain`), then unregisters.
 */
import type autobahn from "autobahn"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type { Connection } from "./Connection.js"
import * as Invocation from "./Invocation.js"
import type { EventMessage, RegisterOptions, Registration, WampError } from "./Protocol.js"
import type { WampSessionConfig } from "./SessionConfig.js"

interface SubscriptionEntry {
  readonly topic: string
  readonly handler: (event: EventMessage) => Effect.Effect<void>
  readonly options: Record<string, unknown> | undefined
  session: autobahn.Session | undefined
  handle: autobahn.Subscription | undefined
}

export interface Registry {
  /** Registers procedures for the lifetime of the scope; fails (keeping none) when any cannot be. */
  readonly register: <R>(registrations: ReadonlyArray<Registration<R>>) => Effect.Effect<void, WampError, Scope.Scope>
  /** Subscribes for the lifetime of the scope. */
  readonly subscribe: (
    topic: string,
    handler: (event: EventMessage) => Effect.Effect<void>,
    options?: Record<string, unknown>
  ) => Effect.Effect<void, WampError, Scope.Scope>
  /** After a join: INTERRUPT hooked, every registration and subscription made on the new session. */
  readonly onJoin: (on: autobahn.Session, rejoin: boolean) => Effect.Effect<void>
  /** After a close: nothing is registered any more. */
  readonly onClose: () => void
}

/** Delays between attempts to register a procedure again on the same session. */
const registerRetrySchedule = Schedule.min([
  Schedule.exponential(Duration.millis(100), 2),
  Schedule.spaced(Duration.seconds(5))
]).pipe(Schedule.jittered)

/** `connection` is asked for lazily: the registry exists before the connection joins. */
export const make = (settings: WampSessionConfig, connection: () => Connection): Effect.Effect<Registry> =>
  Effect.gen(function*() {
    const runFork = Effect.runForkWith(yield* Effect.context<never>())
    const log = (effect: Effect.Effect<void>) => void runFork(effect)
    const procedures = new Set<Invocation.ProcedureEntry>()
    const subscriptions = new Set<SubscriptionEntry>()

    /** The procedure's own options; its `invoke` defaults to the session's (WAMP_INVOKE). */
    const registerOptions = (options: RegisterOptions | undefined): Record<string, unknown> | undefined =>
      options?.invoke === undefined && settings.invoke !== "single"
        ? { ...options, invoke: settings.invoke }
        : options === undefined
        ? undefined
        : { ...options }

    const registerOn = (on: autobahn.Session, entry: Invocation.ProcedureEntry) =>
      Effect.suspend(() => {
        if (entry.session === on) return Effect.void
        entry.session = on
        entry.handle = undefined
        return connection().request(
          `register ${entry.uri}`,
          () => on.register(entry.uri, Invocation.endpoint(entry, on, log), registerOptions(entry.options))
        ).pipe(
          Effect.tap((handle) => Effect.sync(() => (entry.handle = handle))),
          Effect.tapError(() => Effect.sync(() => (entry.session = undefined))),
          Effect.asVoid
        )
      })

    const subscribeOn = (on: autobahn.Session, entry: SubscriptionEntry) =>
      Effect.suspend(() => {
        if (entry.session === on) return Effect.void
        entry.session = on
        entry.handle = undefined
        return connection().request(`subscribe ${entry.topic}`, () =>
          on.subscribe(entry.topic, (args, kwargs, details) => {
            runFork(entry.handler({
              args: args ?? [],
              kwargs: kwargs ?? {},
              topic: details.topic,
              publication: details.publication,
              publisher: details.publisher
            }))
          }, entry.options === undefined ? undefined : { ...entry.options })).pipe(
            Effect.tap((handle) => Effect.sync(() => (entry.handle = handle))),
            Effect.tapError(() => Effect.sync(() => (entry.session = undefined))),
            Effect.asVoid
          )
      })

    /** Registers a procedure again after a rejoin, retrying while `on` is still the session. */
    const registerAgain = (on: autobahn.Session, entry: Invocation.ProcedureEntry) =>
      registerOn(on, entry).pipe(
        Effect.tapError((error) => Effect.logWarning(`Registering ${entry.uri} again failed (${error.error}); retrying`)),
        Effect.retry({
          schedule: registerRetrySchedule,
          while: () => on.isOpen && procedures.has(entry) && !entry.closing
        })
      )

    const onJoin = (on: autobahn.Session, rejoin: boolean) =>
      Effect.gen(function*() {
        Invocation.interruptOn(on, procedures)
        const results = yield* Effect.forEach(procedures, (entry) => Effect.exit(registerOn(on, entry)), {
          concurrency: "unbounded"
        })
        yield* Effect.forEach(subscriptions, (entry) => Effect.ignore(subscribeOn(on, entry), { log: "Warn" }), {
          concurrency: "unbounded",
          discard: true
        })
        const failed = [...procedures].filter((entry) => entry.session !== on)
        for (const exit of results.filter(Exit.isFailure)) {
          yield* Effect.logError("Registration failed after rejoin", exit.cause)
        }
        // Not awaited: the session is usable while a stubborn registration is retried.
        for (const entry of failed) runFork(Effect.ignore(registerAgain(on, entry), { log: "Error" }))
        yield* Effect.logInfo(
          rejoin
            ? `Rejoined ${settings.realm} (session ${on.id}); registered ${results.length - failed.length} procedures again`
            : `Joined ${settings.realm} at ${settings.url} (session ${on.id})`
        )
      })

    const onClose = () => {
      for (const entry of procedures) entry.session = undefined
      for (const entry of subscriptions) entry.session = undefined
    }

    /** Drains, then unregisters (while the session is open) and forgets the procedures. */
    const release = (entries: ReadonlyArray<Invocation.ProcedureEntry>) =>
      Effect.andThen(
        Invocation.drain(entries, settings.drainTimeout),
        Effect.forEach(entries, (entry) => {
          const { handle, session: on } = entry
          procedures.delete(entry)
          entry.session = undefined
          return handle !== undefined && on !== undefined && on.isOpen
            ? Effect.ignore(connection().request(`unregister ${entry.uri}`, () => on.unregister(handle)), { log: "Warn" })
            : Effect.void
        }, { concurrency: "unbounded", discard: true })
      )

    const register = <R>(registrations: ReadonlyArray<Registration<R>>) =>
      Effect.acquireRelease(
        Effect.gen(function*() {
          const entries = registrations.map(Invocation.entry)
          for (const entry of entries) procedures.add(entry)
          const on = yield* connection().session
          const results = yield* Effect.forEach(entries, (entry) => Effect.exit(registerOn(on, entry)), {
            concurrency: "unbounded"
          })
          const failure = results.find(Exit.isFailure)
          if (failure !== undefined) {
            yield* release(entries)
            return yield* Effect.failCause(failure.cause)
          }
          return entries
        }),
        release
      ).pipe(Effect.asVoid)

    const subscribe = (
      topic: string,
      handler: (event: EventMessage) => Effect.Effect<void>,
      options?: Record<string, unknown>
    ) =>
      Effect.acquireRelease(
        Effect.gen(function*() {
          const entry: SubscriptionEntry = { topic, handler, options, session: undefined, handle: undefined }
          subscriptions.add(entry)
          const on = yield* connection().session
          yield* subscribeOn(on, entry).pipe(Effect.tapError(() => Effect.sync(() => subscriptions.delete(entry))))
          return entry
        }),
        (entry) =>
          Effect.suspend(() => {
            subscriptions.delete(entry)
            const { handle, session: on } = entry
            return handle !== undefined && on !== undefined && on.isOpen
              ? Effect.ignore(connection().request(`unsubscribe ${topic}`, () => on.unsubscribe(handle)))
              : Effect.void
          })
      ).pipe(Effect.asVoid)

    return { register, subscribe, onJoin, onClose }
  })
