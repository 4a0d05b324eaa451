/**
 * Calls in flight: each INVOCATION forks the procedure's handler as a fiber, linked into its
 * procedure's list until it ends; an INTERRUPT interrupts it; draining lets them finish for a
 * while, then interrupts the stragglers. This is the hot path: per call, one fiber, one list node,
 * one promise, no hash-table work.
 */
import autobahn from "autobahn"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import type * as Context from "effect/Context"
import * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"
import { parseTraceparent, TRACEPARENT } from "../../wamp/traceContext.js"
import { Uri } from "../../wamp/uris.js"
import * as Metrics from "../Metrics.js"
import { sampleNew } from "../Telemetry.js"
import * as CallCanceling from "./callCanceling.js"
import * as Failure from "./Failure.js"
import type { InvocationRequest, Payload, RegisterOptions, Registration, WampError } from "./Protocol.js"

/** One registered procedure, its autobahn registration, and its calls in flight. */
export interface ProcedureEntry {
  readonly uri: string
  readonly options: RegisterOptions | undefined
  /** Forks one call's fiber, with the registration's services; `on` and `requestId` name it in its span. */
  readonly start: (request: InvocationRequest, on: autobahn.Session, requestId: number | undefined) => Fiber.Fiber<Payload, WampError>
  /** Invocations by outcome and handler latency, recorded in the registry of `context`. */
  readonly metrics: Metrics.InvocationMetrics
  readonly context: Context.Context<never>
  /** The session it is registered on, and autobahn's handle (undefined while the REGISTER is pending). */
  session: autobahn.Session | undefined
  handle: autobahn.Registration | undefined
  /** Shutting down: new calls are refused with `wamp.error.unavailable`. */
  closing: boolean
  /** Calls in flight: a linked list, so a call costs no hash-table insert/delete (see `InFlight`). */
  inflight: InFlight | undefined
  inflightCount: number
}

/**
 * A registration as an entry; its handler's requirements are satisfied by its own context here.
 * With `tracing`, each call runs in a span named after the procedure (see `traced`); without, the
 * call path has no span at all.
 */
export const entry = <R>(registration: Registration<R>, tracing = 0): ProcedureEntry => {
  const runFork = Effect.runForkWith(registration.context)
  const { handler, uri } = registration
  return {
    uri,
    options: registration.options,
    start: tracing > 0
      ? (request, on, requestId) =>
        runFork(traced(uri, handler(request), request, on, requestId, CallCanceling.currentDetails(on)?.[TRACEPARENT], tracing))
      : (request) => runFork(handler(request)),
    metrics: Metrics.invocations(uri),
    context: registration.context as Context.Context<never>,
    session: undefined,
    handle: undefined,
    closing: false,
    inflight: undefined,
    inflightCount: 0
  }
}

/** How a call ended, for its span and the metrics. */
const outcomeOf = (exit: Exit.Exit<Payload, WampError>): string =>
  Exit.isSuccess(exit)
    ? "ok"
    : Cause.hasInterruptsOnly(exit.cause)
    ? "canceled"
    : Option.match(Cause.findErrorOption(exit.cause), { onNone: () => Uri.runtimeError, onSome: (e) => e.error })

const setOutcome = (exit: Exit.Exit<Payload, WampError>) => Effect.annotateCurrentSpan("wamp.outcome", outcomeOf(exit))

/**
 * One call in a span named after the procedure: the WAMP session, the INVOCATION's request id,
 * the caller (when disclosed) and the outcome as attributes; a child of the router's call span
 * when the INVOCATION carries `_traceparent`.
 */
const traced = <R>(
  uri: string,
  call: Effect.Effect<Payload, WampError, R>,
  request: InvocationRequest,
  on: autobahn.Session,
  requestId: number | undefined,
  traceparent: unknown,
  ratio: number
): Effect.Effect<Payload, WampError, R> => {
  const parent = parseTraceparent(traceparent)
  const attributes: Record<string, unknown> = {
    "rpc.system": "wamp",
    "wamp.procedure": request.procedure,
    "wamp.session": on.id
  }
  if (requestId !== undefined) attributes["wamp.request"] = requestId
  if (request.caller !== undefined) attributes["wamp.caller"] = request.caller
  if (request.callerAuthid !== undefined) attributes["wamp.caller_authid"] = request.callerAuthid
  return call.pipe(
    Effect.onExit(setOutcome),
    Effect.withSpan(uri, {
      kind: "server",
      attributes,
      // a trace continued from the router keeps its sampled flag; a new one is kept for `ratio`
      ...(parent === undefined ? { sampled: sampleNew(ratio) } : { parent: Tracer.externalSpan(parent) })
    })
  )
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

/** The fiber of an INVOCATION, for INTERRUPT (rare: a scan of the in-flight lists). */
export const findCall = (
  entries: Iterable<ProcedureEntry>,
  on: autobahn.Session,
  requestId: number
): Fiber.Fiber<Payload, WampError> | undefined => {
  for (const entry of entries) {
    for (let call = entry.inflight; call !== undefined; call = call.next) {
      if (call.requestId === requestId && call.session === on) return call.fiber
    }
  }
  return undefined
}

/**
 * The autobahn endpoint of a procedure on one session. Built per (procedure, session); the per-call
 * work is kept small (hot path). `log` runs an effect on the session's runtime (a fiber's defect).
 */
export const endpoint = (
  entry: ProcedureEntry,
  on: autobahn.Session,
  log: (effect: Effect.Effect<void>) => void
): autobahn.Endpoint => {
  const transport = CallCanceling.pacedTransport(on)
  const bufferedAmount = transport === undefined ? () => 0 : () => transport.bufferedAmount()
  const fromCause = Failure.fromCause(entry.uri)
  return (args, kwargs, details) => {
    const requestId = CallCanceling.currentRequest(on)
    if (entry.closing) return Promise.reject(Failure.unavailable())
    const progress = details.progress
    const started = performance.now()
    const fiber = entry.start({
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
    }, on, requestId)
    const call: InFlight = { fiber, session: on, requestId, prev: undefined, next: undefined }
    link(entry, call)
    return new Promise((resolve, reject) => {
      fiber.addObserver((exit) => {
        unlink(entry, call)
        if (Metrics.recording()) {
          entry.metrics.record(
            Exit.isSuccess(exit) ? "ok" : Cause.hasInterruptsOnly(exit.cause) ? "canceled" : "error",
            (performance.now() - started) / 1000,
            entry.context
          )
        }
        if (Exit.isSuccess(exit)) {
          // autobahn only serializes these: no defensive copies.
          resolve(new autobahn.Result(exit.value.args as Array<unknown>, exit.value.kwargs as Record<string, unknown>))
          return
        }
        const failure = Cause.findErrorOption(exit.cause)
        if (Option.isSome(failure)) reject(Failure.toAutobahn(failure.value))
        else if (Cause.hasInterruptsOnly(exit.cause)) reject(Failure.canceled())
        else {
          // A defect of a handler that did not map its own (procedures' handlers do, in `invoke`).
          log(Effect.matchEffect(fromCause(exit.cause), {
            onFailure: (error) => Effect.sync(() => reject(Failure.toAutobahn(error))),
            onSuccess: () => Effect.void
          }))
        }
      })
    })
  }
}

/** Hooks INTERRUPT on a joined session: it interrupts the call's fiber. */
export const interruptOn = (on: autobahn.Session, entries: Iterable<ProcedureEntry>): void =>
  CallCanceling.install(on, (requestId) => {
    const fiber = findCall(entries, on, requestId)
    if (fiber !== undefined) fiber.interruptUnsafe()
  })

/**
 * Stops the procedures taking calls, gives the calls in flight `timeout` to finish, then interrupts
 * the stragglers (their transactions roll back).
 */
export const drain = (entries: ReadonlyArray<ProcedureEntry>, timeout: Duration.Duration): Effect.Effect<void> =>
  Effect.gen(function*() {
    for (const entry of entries) entry.closing = true
    const inflight = entries.flatMap(fibersOf)
    if (inflight.length === 0) return
    yield* Effect.logInfo(`Draining ${inflight.length} call(s) in flight`)
    const finished = yield* Fiber.awaitAll(inflight).pipe(Effect.timeoutOption(timeout))
    if (Option.isNone(finished)) {
      yield* Effect.logWarning(
        `Drain time ${Duration.format(timeout)} over: canceling ${entries.reduce((n, e) => n + e.inflightCount, 0)} call(s)`
      )
      yield* Fiber.interruptAll(entries.flatMap(fibersOf))
    }
  })
