/**
 * The WAMP session: one autobahn connection as a scoped resource (Autobahn|Python's
 * `ApplicationRunner` + `ApplicationSession`, Effect-style).
 *
 * - joins `WAMP_REALM` at `WAMP_URL`, waiting at most `WAMP_JOIN_TIMEOUT`, and fails the layer with
 *   the reason when it cannot;
 * - reconnects with exponential backoff (no retry limit, delay capped by `WAMP_MAX_RETRY_DELAY`);
 *   after every rejoin all registrations and subscriptions are made again, no user code involved;
 * - `register` ties procedures to a scope. When that scope closes (shutdown), the procedures stop
 *   taking calls (new INVOCATIONs get `wamp.error.unavailable`, which lets a router re-route shared
 *   registrations), in-flight calls get `WAMP_DRAIN_TIMEOUT` to finish, stragglers are interrupted
 *   (their transactions roll back), then the procedures are unregistered. Closing the session's own
 *   scope leaves the realm with GOODBYE and cancels any pending reconnect;
 * - scale-out: `WAMP_INVOKE` (single | roundrobin | random | first | last) is the invocation policy
 *   of every registration without its own `options.invoke`, so several instances of the component
 *   can register the same procedures and the router shares the calls among them;
 * - call canceling: an INTERRUPT from the router interrupts the handler's fiber (see
 *   `wamp/callCanceling.ts`), so a canceled call rolls back its transaction / cancels its query;
 * - Effect-typed `call`, `publish` and `subscribe`; every autobahn promise is bounded by
 *   `WAMP_REQUEST_TIMEOUT` (autobahn never rejects pending requests when its transport dies).
 */
import autobahn from "autobahn"
import * as Credentials from "./Credentials.js"
import type { ComponentCredentials } from "./Credentials.js"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Latch from "effect/Latch"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Serializers from "./wamp/serializers.js"
import * as CallCanceling from "./wamp/callCanceling.js"
import { type InvokePolicy, invokePolicies, type MatchPolicy } from "../wamp/types.js"
import { Uri, WampgresUri } from "../wamp/uris.js"
import { sessionDefaults } from "../Settings.js"

/** A WAMP error: a failure a peer reported with an error URI, or a local one under `wampgres.error.*`. */
export class WampError extends Schema.TaggedError<WampError>()("WampError", {
  /** The WAMP error URI, e.g. `wamp.error.no_such_procedure`. */
  error: Schema.String,
  args: Schema.Array(Schema.Unknown),
  kwargs: Schema.Record(Schema.String, Schema.Unknown),
  message: Schema.String
}) {}

/** A WAMP error with a human-readable message as its first positional argument (the usual convention). */
export const wampError = (error: string, message: string, kwargs: Record<string, unknown> = {}): WampError =>
  new WampError({ error, args: [message], kwargs, message })

/** Positional and keyword payload of a RESULT, YIELD or EVENT. */
export interface Payload {
  readonly args: ReadonlyArray<unknown>
  readonly kwargs: Readonly<Record<string, unknown>>
}

/** What a procedure handler gets for one INVOCATION. */
export interface InvocationRequest extends Payload {
  /** The procedure URI called (for pattern registrations: the concrete URI). */
  readonly procedure: string
  /** Caller identification, when disclosed. */
  readonly caller: number | undefined
  readonly callerAuthid: string | undefined
  readonly callerAuthrole: string | undefined
  /** Present when the caller asked for progressive results: sends one progressive YIELD. */
  readonly progress: ((payload: Payload) => Effect.Effect<void>) | undefined
  /** Bytes queued on the WebSocket and not yet sent: pace progressive results by it. */
  readonly bufferedAmount: () => number
}

export { type InvokePolicy, invokePolicies }

/** Registration options as WAMP defines them (`match`, `invoke`, `disclose_caller`, ...). */
export interface RegisterOptions {
  readonly match?: MatchPolicy
  readonly invoke?: InvokePolicy
  readonly disclose_caller?: boolean
  readonly [option: string]: unknown
}

/** One procedure as the session sees it: a URI, options and a handler with no requirements left. */
export interface Registration {
  readonly uri: string
  readonly options?: RegisterOptions | undefined
  /** Fails only with `WampError`, which becomes the ERROR sent back to the caller. */
  readonly handler: (request: InvocationRequest) => Effect.Effect<Payload, WampError>
  /**
   * The services the handler's fibers run with (default: the session's own). A group passes its
   * services here once instead of providing them to every call (a context merge per INVOCATION).
   */
  readonly context?: Context.Context<never> | undefined
}

export interface EventMessage extends Payload {
  readonly topic: string
  readonly publication: number
  readonly publisher: number | undefined
}

export interface WampSessionConfig {
  readonly url: string
  readonly realm: string
  readonly joinTimeout: Duration.Duration
  readonly requestTimeout: Duration.Duration
  readonly drainTimeout: Duration.Duration
  readonly maxRetryDelay: Duration.Duration
  readonly serializer: "json" | "msgpack"
  /**
   * The invocation policy of every registration that sets no `options.invoke` of its own. Anything
   * but "single" lets several instances of the component register the same procedures (scale-out).
   */
  readonly invoke: InvokePolicy
  /** How the session authenticates, on every (re)connect; undefined: anonymous. */
  readonly credentials?: ComponentCredentials | undefined
}

/** The settings used when a test or embedding passes only some of them (defaults: `src/Settings.ts`). */
export const defaults = (overrides: Partial<WampSessionConfig> & Pick<WampSessionConfig, "url">): WampSessionConfig => ({
  ...sessionDefaults,
  ...overrides
})

export class WampSession extends Context.Service<WampSession, {
  readonly url: string
  readonly realm: string
  /** The current WAMP session id, `None` while disconnected. */
  readonly sessionId: Effect.Effect<Option.Option<number>>
  /**
   * Registers procedures for the lifetime of the current scope (see the module comment). Fails when
   * any of them cannot be registered (e.g. `wamp.error.procedure_already_exists`); then none is kept.
   */
  readonly register: (registrations: ReadonlyArray<Registration>) => Effect.Effect<void, WampError, Scope.Scope>
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

interface ProcedureEntry {
  readonly registration: Registration
  /** Forks a call's fiber with the registration's services. */
  readonly runFork: <A, E>(effect: Effect.Effect<A, E>) => Fiber.Fiber<A, E>
  /** The session it is registered on, and autobahn's handle (undefined while the REGISTER is pending). */
  session: autobahn.Session | undefined
  handle: autobahn.Registration | undefined
  closing: boolean
  /** Calls in flight: a linked list, so a call costs no hash-table insert/delete (see `InFlight`). */
  inflight: InFlight | undefined
  inflightCount: number
}

/**
 * One call in flight, linked into its procedure's list. A list rather than a Set/Map: under load
 * the tables' backing stores were re-allocated on every add/delete and promoted to the old
 * generation (about a third of the promoted bytes in a heap profile of `now.v1`).
 */
interface InFlight {
  readonly fiber: Fiber.Fiber<Payload, WampError>
  readonly session: autobahn.Session
  readonly requestId: number | undefined
  prev: InFlight | undefined
  next: InFlight | undefined
}

const link = (entry: ProcedureEntry, call: InFlight): void => {
  call.next = entry.inflight
  if (entry.inflight !== undefined) entry.inflight.prev = call
  entry.inflight = call
  entry.inflightCount++
}

const unlink = (entry: ProcedureEntry, call: InFlight): void => {
  if (call.prev !== undefined) call.prev.next = call.next
  else entry.inflight = call.next
  if (call.next !== undefined) call.next.prev = call.prev
  call.prev = call.next = undefined
  entry.inflightCount--
}

const fibersOf = (entry: ProcedureEntry): Array<Fiber.Fiber<Payload, WampError>> => {
  const fibers: Array<Fiber.Fiber<Payload, WampError>> = []
  for (let call = entry.inflight; call !== undefined; call = call.next) fibers.push(call.fiber)
  return fibers
}

interface SubscriptionEntry {
  readonly topic: string
  readonly handler: (event: EventMessage) => Effect.Effect<void>
  readonly options: Record<string, unknown> | undefined
  session: autobahn.Session | undefined
  handle: autobahn.Subscription | undefined
}

const localError = (error: string, message: string) => wampError(error, message)

/** Turns what autobahn rejects or throws (an `autobahn.Error`, a string, an Error) into a `WampError`. */
const fromRejection = (what: string) => (cause: unknown): WampError => {
  if (cause instanceof autobahn.Error) {
    const first = cause.args[0]
    return new WampError({
      error: cause.error,
      args: cause.args,
      kwargs: cause.kwargs,
      message: typeof first === "string" ? first : cause.error
    })
  }
  const text = typeof cause === "string" ? cause : cause instanceof Error ? cause.message : String(cause)
  return localError(WampgresUri.session, `${what}: ${text}`)
}

/** A payload as autobahn hands results over: one bare value, or an `autobahn.Result`. */
const toPayload = (value: unknown): Payload =>
  value instanceof autobahn.Result
    ? { args: value.args, kwargs: value.kwargs }
    : value === null || value === undefined
    ? { args: [], kwargs: {} }
    : { args: [value], kwargs: {} }

const make = (settings: WampSessionConfig) =>
  Effect.gen(function*() {
    const context = yield* Effect.context<never>()
    const runFork = Effect.runForkWith(context)
    const timeout = settings.requestTimeout
    const joined = yield* Latch.make(false)
    const procedures = new Set<ProcedureEntry>()
    const subscriptions = new Set<SubscriptionEntry>()
    let current: autobahn.Session | undefined
    let closing = false
    let lastClose = "not connected yet"

    // autobahn's warnings go to console.warn; route them to the logger (debug: reconnects are logged below).
    autobahn.log.warn = (...args: Array<unknown>) => runFork(Effect.logDebug("autobahn", ...args))

    /** Runs an autobahn request bounded by the request timeout. */
    const request = <A>(what: string, thunk: () => Promise<A> | undefined) =>
      Effect.tryPromise({ try: async () => thunk(), catch: fromRejection(what) }).pipe(
        Effect.timeoutOrElse({
          duration: timeout,
          orElse: () => Effect.fail(localError(WampgresUri.timeout, `${what}: no answer within ${Duration.format(timeout)}`))
        })
      )

    /** The joined session, waiting for a (re)join up to the request timeout. */
    const session = Effect.suspend(() =>
      current !== undefined && current.isOpen ? Effect.succeed(current) : joined.await.pipe(
        Effect.andThen(Effect.suspend(() => current !== undefined ? Effect.succeed(current) : Effect.fail(undefined))),
        Effect.eventually,
        Effect.timeoutOrElse({
          duration: timeout,
          orElse: () =>
            Effect.fail(
              localError(WampgresUri.notConnected, `not joined to ${settings.realm} at ${settings.url}: ${lastClose}`)
            )
        })
      )
    )

    /** The fiber of an INVOCATION, for INTERRUPT (rare: a scan of the in-flight lists). */
    const findCall = (on: autobahn.Session, requestId: number): Fiber.Fiber<Payload, WampError> | undefined => {
      for (const entry of procedures) {
        for (let call = entry.inflight; call !== undefined; call = call.next) {
          if (call.requestId === requestId && call.session === on) return call.fiber
        }
      }
      return undefined
    }

    /** One INVOCATION's handler. Built per (procedure, session); the per-call work is kept small (hot path). */
    const endpoint = (entry: ProcedureEntry, on: autobahn.Session): autobahn.Endpoint => {
      const transport = CallCanceling.pacedTransport(on)
      const bufferedAmount = transport === undefined ? () => 0 : () => transport.bufferedAmount()
      const { handler, uri } = entry.registration
      return (args, kwargs, details) => {
        const requestId = CallCanceling.currentRequest(on)
        if (entry.closing) {
          return Promise.reject(new autobahn.Error(Uri.unavailable, ["procedure is shutting down"]))
        }
        const progress = details.progress
        const fiber = entry.runFork(handler({
          args,
          kwargs,
          procedure: details.procedure,
          caller: details.caller,
          callerAuthid: details.caller_authid,
          callerAuthrole: details.caller_authrole,
          progress: progress === null || progress === undefined
            ? undefined
            : (payload) => Effect.sync(() => progress([...payload.args], { ...payload.kwargs })),
          bufferedAmount
        }))
        const call: InFlight = { fiber, session: on, requestId, prev: undefined, next: undefined }
        link(entry, call)
        return new Promise((resolve, reject) => {
          fiber.addObserver((exit) => {
            unlink(entry, call)
            if (Exit.isSuccess(exit)) {
              // autobahn only serializes these: no defensive copies.
              resolve(new autobahn.Result(exit.value.args as Array<unknown>, exit.value.kwargs as Record<string, unknown>))
              return
            }
            const failure = Cause.findErrorOption(exit.cause)
            if (Option.isSome(failure)) {
              reject(new autobahn.Error(failure.value.error, [...failure.value.args], { ...failure.value.kwargs }))
            } else if (Cause.hasInterruptsOnly(exit.cause)) {
              reject(new autobahn.Error(Uri.canceled, ["call canceled"]))
            } else {
              runFork(Effect.logError(`Procedure ${uri} died`, exit.cause))
              reject(new autobahn.Error(Uri.runtimeError, ["internal error"]))
            }
          })
        })
      }
    }

    const registerOn = (on: autobahn.Session, entry: ProcedureEntry) =>
      Effect.suspend(() => {
        if (entry.session === on) return Effect.void
        entry.session = on
        entry.handle = undefined
        const { options, uri } = entry.registration
        return request(
          `register ${uri}`,
          () => on.register(uri, endpoint(entry, on), registerOptions(options))
        ).pipe(
          Effect.tap((handle) => Effect.sync(() => (entry.handle = handle))),
          Effect.tapError(() => Effect.sync(() => (entry.session = undefined))),
          Effect.asVoid
        )
      })

    /** The procedure's own options; its `invoke` defaults to the session's (WAMP_INVOKE). */
    const registerOptions = (options: RegisterOptions | undefined): Record<string, unknown> | undefined =>
      options?.invoke === undefined && settings.invoke !== "single"
        ? { ...options, invoke: settings.invoke }
        : options === undefined
        ? undefined
        : { ...options }

    const subscribeOn = (on: autobahn.Session, entry: SubscriptionEntry) =>
      Effect.suspend(() => {
        if (entry.session === on) return Effect.void
        entry.session = on
        entry.handle = undefined
        return request(`subscribe ${entry.topic}`, () =>
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

    /** After every join: hook call canceling, then restore every registration and subscription. */
    const onJoin = (on: autobahn.Session, rejoin: boolean) =>
      Effect.gen(function*() {
        CallCanceling.install(on, (requestId) => {
          const fiber = findCall(on, requestId)
          if (fiber !== undefined) fiber.interruptUnsafe()
        })
        current = on
        yield* joined.open
        const results = yield* Effect.forEach(
          procedures,
          (entry) => Effect.exit(registerOn(on, entry)),
          { concurrency: "unbounded" }
        )
        yield* Effect.forEach(subscriptions, (entry) => Effect.ignore(subscribeOn(on, entry), { log: "Warn" }), {
          concurrency: "unbounded"
        })
        const failed = results.filter(Exit.isFailure)
        for (const exit of failed) yield* Effect.logError("Registration failed after rejoin", exit.cause)
        yield* Effect.logInfo(
          rejoin
            ? `Rejoined ${settings.realm} (session ${on.id}); registered ${results.length - failed.length} procedures again`
            : `Joined ${settings.realm} at ${settings.url} (session ${on.id})`
        )
      })

    const serializers: Array<autobahn.Serializer> = [new Serializers.JsonSerializer()]
    if (settings.serializer === "msgpack") serializers.unshift(new Serializers.MsgpackSerializer())

    const connection = new autobahn.Connection({
      realm: settings.realm,
      ...(settings.credentials === undefined ? {} : Credentials.connectionOptions(settings.credentials)),
      transports: [{ type: CallCanceling.TRANSPORT_TYPE, url: settings.url, serializers }],
      use_es6_promises: true,
      max_retries: -1,
      initial_retry_delay: 0.2,
      retry_delay_growth: 1.5,
      max_retry_delay: Math.max(0.2, Duration.toSeconds(settings.maxRetryDelay)),
      retry_if_unreachable: true,
      // Rejections of our endpoints are answered as WAMP errors already; autobahn would console.error them.
      on_user_error: () => {},
      on_internal_error: (error, message) => runFork(Effect.logWarning(`autobahn: ${message ?? ""}`, error))
    })
    let joins = 0
    let reopenAttempts = 0
    let reopenTimer: ReturnType<typeof setTimeout> | undefined
    const closed = yield* Latch.make(false)
    connection.onopen = (on) => {
      if (closing) {
        // A retry timer fired after shutdown began (autobahn's close() does not cancel it).
        try {
          on.leave(Uri.closeNormal)
        } catch {
          // already closed
        }
        return
      }
      reopenAttempts = 0
      runFork(onJoin(on, joins++ > 0))
    }
    connection.onclose = (reason, details) => {
      current = undefined
      joined.closeUnsafe()
      lastClose = `${reason}${details.reason ? ` (${details.reason})` : ""}`
      for (const entry of procedures) entry.session = undefined
      for (const entry of subscriptions) entry.session = undefined
      if (closing) {
        closed.openUnsafe()
        return true
      }
      if (details.will_retry) {
        runFork(Effect.logWarning(`WAMP connection ${reason}, reconnecting in ${details.retry_delay?.toFixed(1)}s`))
      } else {
        // autobahn gives up after a GOODBYE from the router (e.g. its shutdown): reopen ourselves.
        const delay = Math.min(Duration.toMillis(settings.maxRetryDelay), 200 * 1.5 ** reopenAttempts++)
        runFork(Effect.logWarning(
          `WAMP connection ${reason}${details.reason ? ` (${details.reason})` : ""}, reconnecting in ${(delay / 1000).toFixed(1)}s`
        ))
        reopenTimer = setTimeout(() => {
          reopenTimer = undefined
          if (closing) return
          try {
            connection.open()
          } catch (error) {
            runFork(Effect.logWarning("WAMP reconnect failed", error))
          }
        }, delay)
      }
      return false
    }

    yield* Effect.acquireRelease(
      Effect.sync(() => connection.open()),
      () =>
        Effect.gen(function*() {
          closing = true
          if (reopenTimer !== undefined) clearTimeout(reopenTimer)
          connection._autoreconnect_reset_timer()
          const wasOpen = current !== undefined && current.isOpen
          try {
            connection.close(Uri.closeNormal)
          } catch {
            // "connection already closed": nothing to do
          }
          connection._autoreconnect_reset_timer()
          if (wasOpen) {
            // Wait for the GOODBYE handshake and the socket close, bounded.
            yield* closed.await.pipe(Effect.timeoutOption(Duration.seconds(2)))
            yield* Effect.logInfo(`Left ${settings.realm} (GOODBYE)`)
          }
        })
    )

    yield* joined.await.pipe(
      Effect.timeoutOrElse({
        duration: settings.joinTimeout,
        orElse: () =>
          Effect.fail(localError(
            WampgresUri.joinTimeout,
            `could not join realm ${settings.realm} at ${settings.url} within ${
              Duration.format(settings.joinTimeout)
            } (last: ${lastClose})`
          ))
      })
    )

    const drain = (entries: ReadonlyArray<ProcedureEntry>) =>
      Effect.gen(function*() {
        for (const entry of entries) entry.closing = true
        const inflight = entries.flatMap(fibersOf)
        if (inflight.length > 0) {
          yield* Effect.logInfo(`Draining ${inflight.length} call(s) in flight`)
          const finished = yield* Fiber.awaitAll(inflight).pipe(Effect.timeoutOption(settings.drainTimeout))
          if (Option.isNone(finished)) {
            yield* Effect.logWarning(
              `Drain time ${Duration.format(settings.drainTimeout)} over: canceling ${
                entries.reduce((n, e) => n + e.inflightCount, 0)
              } call(s)`
            )
            yield* Fiber.interruptAll(entries.flatMap(fibersOf))
          }
        }
        yield* Effect.forEach(entries, (entry) => {
          const { handle, session: on } = entry
          procedures.delete(entry)
          entry.session = undefined
          return handle !== undefined && on !== undefined && on.isOpen
            ? Effect.ignore(request(`unregister ${entry.registration.uri}`, () => on.unregister(handle)), { log: "Warn" })
            : Effect.void
        }, { concurrency: "unbounded", discard: true })
      })

    const register = (registrations: ReadonlyArray<Registration>) =>
      Effect.acquireRelease(
        Effect.gen(function*() {
          const entries: Array<ProcedureEntry> = registrations.map((registration) => ({
            registration,
            runFork: registration.context === undefined ? runFork : Effect.runForkWith(registration.context),
            session: undefined,
            handle: undefined,
            closing: false,
            inflight: undefined,
            inflightCount: 0
          }))
          for (const entry of entries) procedures.add(entry)
          const on = yield* session
          const results = yield* Effect.forEach(entries, (entry) => Effect.exit(registerOn(on, entry)), {
            concurrency: "unbounded"
          })
          const failure = results.find(Exit.isFailure)
          if (failure !== undefined) {
            yield* drain(entries)
            return yield* Effect.failCause(failure.cause)
          }
          return entries
        }),
        drain
      ).pipe(Effect.asVoid)

    const call = (procedure: string, payload?: Partial<Payload>, options?: Record<string, unknown>) =>
      Effect.flatMap(session, (on) =>
        request(
          `call ${procedure}`,
          () => on.call(procedure, [...(payload?.args ?? [])], { ...payload?.kwargs }, options ? { ...options } : undefined)
        )).pipe(Effect.map(toPayload))

    const publish = (topic: string, payload?: Partial<Payload>, options?: Record<string, unknown>) =>
      Effect.flatMap(session, (on) =>
        request(
          `publish ${topic}`,
          () => on.publish(topic, [...(payload?.args ?? [])], { ...payload?.kwargs }, options ? { ...options } : undefined)
        )).pipe(Effect.asVoid)

    const subscribe = (
      topic: string,
      handler: (event: EventMessage) => Effect.Effect<void>,
      options?: Record<string, unknown>
    ) =>
      Effect.acquireRelease(
        Effect.gen(function*() {
          const entry: SubscriptionEntry = { topic, handler, options, session: undefined, handle: undefined }
          subscriptions.add(entry)
          const on = yield* session
          yield* subscribeOn(on, entry).pipe(Effect.tapError(() => Effect.sync(() => subscriptions.delete(entry))))
          return entry
        }),
        (entry) =>
          Effect.suspend(() => {
            subscriptions.delete(entry)
            const { handle, session: on } = entry
            return handle !== undefined && on !== undefined && on.isOpen
              ? Effect.ignore(request(`unsubscribe ${topic}`, () => on.unsubscribe(handle)))
              : Effect.void
          })
      ).pipe(Effect.asVoid)

    return WampSession.of({
      url: settings.url,
      realm: settings.realm,
      sessionId: Effect.sync(() => Option.fromNullishOr(current?.id)),
      register,
      call,
      publish,
      subscribe
    })
  })
