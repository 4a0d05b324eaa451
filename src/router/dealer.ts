/**
 * The dealer: registrations (exact, prefix, wildcard; shared with an invocation policy) and call
 * routing with progressive results, canceling, router-side timeouts and caller disclosure.
 * Payloads (args, kwargs) are forwarded as the same objects, never copied.
 *
 * Longer than most modules: every path a call can take (result, progress, error, cancel, timeout,
 * a callee or caller leaving, an unencodable payload, a slow caller) ends in the same bookkeeping,
 * which stays in one file so that no path can forget it.
 */
import { IdSequence } from "../wamp/ids.js"
import { describeValue, isId, type Message, MessageType } from "../wamp/messages.js"
import { Uri, WampgresUri } from "../wamp/uris.js"
import { realmDefaults } from "./limits.js"
import type { Meta } from "./meta.js"
import type { Session } from "./session.js"
import { type InvokePolicy, invokePolicies, type MatchPolicy, matchPolicies } from "../wamp/types.js"
import type { Decision, RealmAuthorizer } from "./authorizer.js"
import type { RealmOptions } from "./types.js"
import { filterResult, forwardedUri, type Reflected, refuseDescribe } from "./reflection.js"
import { isValidUri, PatternMap } from "../wamp/uri.js"
import { TRACEPARENT } from "../wamp/traceContext.js"
import { CallOutcome, OUTCOME_NAMES, OTHER_PROCEDURE, type ProcedureStats, RouterMetrics } from "./metrics.js"
import type { CallSpan, CallTracer } from "./tracing.js"

export type { InvokePolicy }

export interface Registration {
  readonly id: number
  readonly uri: string
  readonly match: MatchPolicy
  readonly invoke: InvokePolicy
  /** ISO timestamp, as the meta API reports it. */
  readonly created: string
  readonly callees: Array<Session>
  roundRobin: number
  /** A callee asked for the caller's identity (REGISTER.Options.disclose_caller). */
  discloseCaller: boolean
}

export interface Invocation {
  /** INVOCATION request id (callee's scope). */
  readonly id: number
  readonly callee: Session
  /** Undefined once the caller no longer waits (canceled with skip/killnowait, timed out, left). */
  caller: Session | undefined
  /** The caller's CALL request id. */
  readonly request: number
  readonly receiveProgress: boolean
  timer: ReturnType<typeof setTimeout> | undefined
  /** A `wamp.reflection.*` call forwarded to the component: its result is filtered for the caller. */
  readonly reflected: Reflected | undefined
  /** The called procedure's metrics slot, and when the CALL arrived (performance.now(), ms). */
  readonly stats: ProcedureStats
  readonly started: number
  /** The call's span, when tracing is on. */
  readonly span: CallSpan | undefined
}


const INVOKE_POLICIES: ReadonlySet<string> = new Set(invokePolicies)
const MATCH_POLICIES: ReadonlySet<string> = new Set(matchPolicies)
const CANCEL_MODES: ReadonlySet<string> = new Set(["skip", "kill", "killnowait"])

/** The longest router-side call timeout: the longest a Node timer can wait (about 24.8 days). */
export const MAX_CALL_TIMEOUT_MS = 2_147_483_647

/** [ERROR, type, request, {}, uri, [message]?] */
const errorMessage = (type: number, request: unknown, uri: string, message?: string): Message =>
  message === undefined ? [MessageType.ERROR, type, request, {}, uri] : [MessageType.ERROR, type, request, {}, uri, [message]]

export class Dealer {
  readonly registrations = new PatternMap<Registration>()
  readonly byId = new Map<number, Registration>()
  readonly #ids = new IdSequence()
  meta: Meta | undefined = undefined
  /** The realm's per-session limits. */
  limits: RealmOptions = realmDefaults
  /** The router's metrics; calls are counted by procedure and outcome. */
  metrics: RouterMetrics = new RouterMetrics()
  /** Undefined while tracing is off. */
  tracer: CallTracer | undefined = undefined

  constructor(private readonly authorizer: RealmAuthorizer) {}

  /** `given`: a decision already taken (a dynamic authorizer's answer, or the router's own call). */
  register(session: Session, m: Message, given?: Decision): void {
    const request = m[1]
    const options = m[2] as Record<string, unknown>
    const procedure = m[3] as string
    const match = options["match"] ?? "exact"
    const invoke = options["invoke"] ?? "single"
    if (typeof match !== "string" || !MATCH_POLICIES.has(match)) {
      return session.send(errorMessage(MessageType.REGISTER, request, Uri.invalidArgument, `unknown match policy ${describeValue(match)}`), false)
    }
    if (typeof invoke !== "string" || !INVOKE_POLICIES.has(invoke)) {
      return session.send(errorMessage(MessageType.REGISTER, request, Uri.invalidArgument, `unknown invocation policy ${describeValue(invoke)}`), false)
    }
    const policy = match as MatchPolicy
    if (!isValidUri(procedure, policy) || procedure.startsWith("wamp.")) {
      return session.send(
        errorMessage(MessageType.REGISTER, request, Uri.invalidUri, `invalid procedure URI "${procedure}" for match "${policy}"`),
        false
      )
    }
    if (!(given ?? this.authorizer.authorize(session.authrole, procedure, "register")).allow) {
      return session.send(
        errorMessage(MessageType.REGISTER, request, Uri.notAuthorized, `session is not authorized to register procedure "${procedure}"`),
        false
      )
    }
    let registration = this.registrations.get(procedure, policy)
    if (registration !== undefined) {
      if (registration.invoke === "single" || registration.invoke !== invoke || registration.callees.includes(session)) {
        return session.send(
          errorMessage(MessageType.REGISTER, request, Uri.procedureAlreadyExists, `procedure "${procedure}" is already registered` +
            (registration.invoke !== invoke ? ` with invocation policy "${registration.invoke}"` : "")),
          false
        )
      }
      if (this.atRegistrationLimit(session, request)) return
      registration.callees.push(session)
      if (options["disclose_caller"] === true) registration.discloseCaller = true
      session.registrations.set(registration.id, registration)
      session.send([MessageType.REGISTERED, request, registration.id], false)
      this.meta?.registered(session, registration, false)
      return
    }
    if (this.atRegistrationLimit(session, request)) return
    registration = {
      id: this.#ids.next(),
      uri: procedure,
      match: policy,
      invoke: invoke as InvokePolicy,
      created: new Date().toISOString(),
      callees: [session],
      roundRobin: 0,
      discloseCaller: options["disclose_caller"] === true
    }
    this.registrations.set(procedure, policy, registration)
    this.byId.set(registration.id, registration)
    session.registrations.set(registration.id, registration)
    session.send([MessageType.REGISTERED, request, registration.id], false)
    this.meta?.registered(session, registration, true)
  }

  /** Answers a REGISTER that would pass max_registrations_per_session with an ERROR. */
  private atRegistrationLimit(session: Session, request: unknown): boolean {
    if (session.registrations.size < this.limits.maxRegistrationsPerSession) return false
    session.send(
      errorMessage(MessageType.REGISTER, request, WampgresUri.limitExceeded, `session has ${session.registrations.size} registrations, the realm's max_registrations_per_session`),
      false
    )
    return true
  }

  unregister(session: Session, m: Message): void {
    const request = m[1]
    const registration = session.registrations.get(m[2] as number)
    if (registration === undefined) {
      return session.send(errorMessage(MessageType.UNREGISTER, request, Uri.noSuchRegistration), false)
    }
    this.removeCallee(session, registration)
    session.send([MessageType.UNREGISTERED, request], false)
  }

  private removeCallee(session: Session, registration: Registration): void {
    session.registrations.delete(registration.id)
    const at = registration.callees.indexOf(session)
    if (at >= 0) registration.callees.splice(at, 1)
    const deleted = registration.callees.length === 0
    if (deleted) {
      this.registrations.delete(registration.uri, registration.match)
      this.byId.delete(registration.id)
    }
    this.meta?.unregistered(session, registration, deleted)
  }

  /** `given`: as in {@link register}. */
  call(caller: Session, m: Message, binary: boolean, given?: Decision): void {
    // option types were checked with the message's shape (checkShape); here only their values
    const request = m[1] as number
    const options = m[2] as Record<string, unknown>
    const procedure = m[3] as string
    const timeout = options["timeout"] as number | null | undefined
    if (timeout != null && timeout > MAX_CALL_TIMEOUT_MS) {
      this.metrics.rejected(procedure)
      return caller.send(
        errorMessage(MessageType.CALL, request, Uri.invalidArgument, `call timeout ${timeout} ms is above the maximum of ${MAX_CALL_TIMEOUT_MS} ms`),
        false
      )
    }
    // Crossbar's order: a bad URI, then authorization, then lookup (so no one learns what exists)
    if (!isValidUri(procedure, "exact")) {
      this.metrics.rejected(OTHER_PROCEDURE)
      return caller.send(errorMessage(MessageType.CALL, request, Uri.invalidUri, `invalid procedure URI "${procedure}"`), false)
    }
    const decision = given ?? this.authorizer.authorize(caller.authrole, procedure, "call")
    if (!decision.allow) {
      this.metrics.rejected(procedure)
      return caller.send(
        errorMessage(MessageType.CALL, request, Uri.notAuthorized, `session is not authorized to call procedure "${procedure}"`),
        false
      )
    }
    if (caller.calls.has(request)) {
      return caller.protocolViolation(`CALL request id ${request} is already in use`)
    }
    let lookup = procedure
    let reflected: Reflected | undefined = undefined
    if (procedure.startsWith("wamp.")) {
      if (this.meta !== undefined && this.meta.call(caller, request, procedure, m)) return
      // wamp.reflection.* is answered by the component's wampgres.reflection.* (see reflection.ts)
      const forward = forwardedUri(procedure)
      if (forward !== undefined) {
        const refused = refuseDescribe(this.authorizer, caller.authrole, forward.name, m[4], m[5])
        if (refused !== undefined) {
          return caller.send(errorMessage(MessageType.CALL, request, refused.error, refused.message), false)
        }
        lookup = forward.target
        reflected = { name: forward.name, role: caller.authrole }
      }
    }
    if (caller.calls.size >= this.limits.maxCallsInFlightPerSession) {
      this.metrics.rejected(procedure)
      return caller.send(
        errorMessage(MessageType.CALL, request, WampgresUri.limitExceeded, `session has ${caller.calls.size} calls in flight, the realm's max_calls_in_flight_per_session`),
        false
      )
    }
    const found = this.registrations.best(lookup)
    if (found === undefined) {
      this.metrics.rejected(procedure)
      return caller.send(
        errorMessage(MessageType.CALL, request, Uri.noSuchProcedure, `no callee registered for procedure "${procedure}"`),
        false
      )
    }
    const registration = found.value
    const callees = registration.callees
    let callee: Session
    switch (registration.invoke) {
      case "single":
      case "first":
        callee = callees[0]!
        break
      case "last":
        callee = callees[callees.length - 1]!
        break
      case "roundrobin":
        callee = callees[registration.roundRobin++ % callees.length]!
        break
      case "random":
        callee = callees[Math.floor(Math.random() * callees.length)]!
        break
    }
    const id = callee.nextInvocationId++
    const receiveProgress = options["receive_progress"] === true
    const details: Record<string, unknown> = {}
    if (registration.match !== "exact") details["procedure"] = procedure
    if (receiveProgress) details["receive_progress"] = true
    if (decision.disclose || registration.discloseCaller || options["disclose_me"] === true) {
      details["caller"] = caller.id
      details["caller_authid"] = caller.authid
      details["caller_authrole"] = caller.authrole
    }
    const span = this.tracer?.start(procedure, caller.id, caller.authid, request, options[TRACEPARENT])
    if (span !== undefined) details[TRACEPARENT] = span.traceparent
    const invocation: Invocation = {
      id,
      callee,
      caller,
      request,
      receiveProgress,
      timer: undefined,
      stats: this.metrics.procedure(registration.uri),
      started: performance.now(),
      span,
      reflected
    }
    if (timeout != null && timeout > 0) {
      details["timeout"] = timeout
      invocation.timer = setTimeout(() => this.timedOut(invocation), timeout)
    }
    caller.calls.set(request, invocation)
    callee.invocations.set(id, invocation)
    const sent = callee.trySend(
      m.length === 4
        ? [MessageType.INVOCATION, id, registration.id, details]
        : m.length === 5
        ? [MessageType.INVOCATION, id, registration.id, details, m[4]]
        : [MessageType.INVOCATION, id, registration.id, details, m[4], m[5]],
      binary
    )
    // a call never waits for an INVOCATION that did not leave
    if (!sent) {
      this.finish(invocation, CallOutcome.error)
      if (callee.isUnreachable) {
        caller.send(errorMessage(MessageType.CALL, request, Uri.canceled, "the callee left"), false)
      } else {
        caller.send(
          errorMessage(MessageType.CALL, request, Uri.invalidPayload, `the call's payload cannot be encoded for the callee (${callee.serializer.name})`),
          false
        )
      }
    }
  }

  yield(callee: Session, m: Message, binary: boolean): void {
    const id = m[1] as number
    const invocation = callee.invocations.get(id)
    if (invocation === undefined) return this.unknownInvocation(callee, id, "YIELD")
    const progress = (m[2] as Record<string, unknown>)["progress"] === true
    const caller = invocation.caller
    if (progress) {
      if (caller !== undefined && invocation.receiveProgress) {
        if (!caller.trySend(resultMessage(invocation.request, PROGRESS, m, 3), binary)) {
          // the caller cannot get this result: the call ends here, for both sides
          return this.abandon(invocation, caller, "a progressive result")
        }
        // backpressure: stop reading this callee while the caller is behind (see FlowControl)
        caller.throttle(callee)
      }
      return
    }
    this.finish(invocation, CallOutcome.ok)
    if (caller === undefined) return
    const result = invocation.reflected === undefined
      ? resultMessage(invocation.request, EMPTY, m, 3)
      : this.reflectedResult(invocation.reflected, invocation.request, m)
    if (!caller.trySend(result, binary)) this.unencodable(caller, invocation.request, "the result")
  }

  /** A reflection RESULT as the caller may see it (filtered by its role). */
  private reflectedResult(reflected: Reflected, request: number, m: Message): Message {
    const filtered = filterResult(this.authorizer, reflected, m[3], m[4])
    return "error" in filtered
      ? errorMessage(MessageType.CALL, request, filtered.error, filtered.message)
      : [MessageType.RESULT, request, EMPTY, filtered.args]
  }

  /** ERROR from a callee for an INVOCATION: reaches the caller with its URI, args and kwargs. */
  error(callee: Session, m: Message, binary: boolean): void {
    if (m[1] !== MessageType.INVOCATION) {
      return callee.protocolViolation(`ERROR for request type ${String(m[1])} is not valid from a client`)
    }
    const id = m[2] as number
    const invocation = callee.invocations.get(id)
    if (invocation === undefined) return this.unknownInvocation(callee, id, "ERROR")
    const caller = invocation.caller
    this.finish(invocation, CallOutcome.error)
    if (caller === undefined) return
    const sent = caller.trySend(
      m.length === 5
        ? [MessageType.ERROR, MessageType.CALL, invocation.request, {}, m[4]]
        : m.length === 6
        ? [MessageType.ERROR, MessageType.CALL, invocation.request, {}, m[4], m[5]]
        : [MessageType.ERROR, MessageType.CALL, invocation.request, {}, m[4], m[5], m[6]],
      binary
    )
    if (!sent) this.unencodable(caller, invocation.request, "the callee's error")
  }

  /** What the callee answered cannot be encoded for the caller: it gets invalid_payload instead. */
  private unencodable(caller: Session, request: number, what: string): void {
    caller.send(
      errorMessage(MessageType.CALL, request, Uri.invalidPayload, `${what} cannot be encoded for the caller (${caller.serializer.name})`),
      false
    )
  }

  /** A progressive result could not reach the caller: cancel the call at the callee, fail it at the caller. */
  private abandon(invocation: Invocation, caller: Session, what: string): void {
    this.detachCaller(invocation, CallOutcome.error)
    const callee = invocation.callee
    if (callee.invocations.delete(invocation.id) && callee.calleeCancels) {
      callee.send([MessageType.INTERRUPT, invocation.id, { mode: "killnowait", reason: Uri.canceled }], false)
    }
    this.unencodable(caller, invocation.request, what)
  }

  cancel(caller: Session, m: Message): void {
    const request = m[1] as number
    const mode = (m[2] as Record<string, unknown>)["mode"] ?? "killnowait"
    if (typeof mode !== "string" || !CANCEL_MODES.has(mode)) {
      return caller.send(errorMessage(MessageType.CANCEL, request, Uri.invalidArgument, `unknown cancel mode ${describeValue(mode)}`), false)
    }
    const invocation = caller.calls.get(request)
    // the call may have completed already: nothing to do
    if (invocation === undefined) return
    const callee = invocation.callee
    if (mode === "kill" && callee.calleeCancels) {
      // the caller gets the callee's own answer (usually wamp.error.canceled) when it comes
      callee.send([MessageType.INTERRUPT, invocation.id, { mode: "kill", reason: Uri.canceled }], false)
      return
    }
    this.detachCaller(invocation, CallOutcome.canceled)
    if (mode !== "skip" && callee.calleeCancels) {
      callee.invocations.delete(invocation.id)
      callee.send([MessageType.INTERRUPT, invocation.id, { mode: "killnowait", reason: Uri.canceled }], false)
    }
    caller.send(errorMessage(MessageType.CALL, request, Uri.canceled, "call canceled by the caller"), false)
  }

  /**
   * A caller kept `callee` paused longer than its slow caller timeout (see FlowControl): its
   * progressive calls to that callee are canceled on both sides, which resumes the callee.
   */
  cancelSlowCaller(caller: Session, callee: Session, timeoutMs: number): void {
    for (const invocation of caller.calls.values()) {
      if (invocation.callee !== callee || !invocation.receiveProgress) continue
      this.detachCaller(invocation, CallOutcome.canceled)
      if (callee.invocations.delete(invocation.id) && callee.calleeCancels) {
        callee.send([MessageType.INTERRUPT, invocation.id, { mode: "killnowait", reason: Uri.canceled }], false)
      }
      caller.send(
        errorMessage(MessageType.CALL, invocation.request, Uri.canceled, `call canceled: its progressive results were not read for ${timeoutMs} ms while the callee waited`),
        false
      )
    }
  }

  /** The router-side timeout (CALL.Options.timeout, ms): cancel both sides. */
  private timedOut(invocation: Invocation): void {
    invocation.timer = undefined
    const caller = invocation.caller
    if (caller === undefined) return
    this.detachCaller(invocation, CallOutcome.timeout)
    const callee = invocation.callee
    if (callee.invocations.delete(invocation.id) && callee.calleeCancels) {
      callee.send([MessageType.INTERRUPT, invocation.id, { mode: "killnowait", reason: Uri.timeout }], false)
    }
    caller.send(errorMessage(MessageType.CALL, invocation.request, Uri.canceled, "call timed out"), false)
  }

  /** A late YIELD/ERROR for an invocation this router issued is dropped; any other id is a violation. */
  private unknownInvocation(callee: Session, id: number, what: string): void {
    if (isId(id) && id >= 1 && id < callee.nextInvocationId) return
    callee.protocolViolation(`${what} for unknown INVOCATION request id ${id}`)
  }

  private finish(invocation: Invocation, outcome: CallOutcome): void {
    invocation.callee.invocations.delete(invocation.id)
    this.detachCaller(invocation, outcome)
  }

  /** The caller no longer waits: the call is counted with its outcome and its span ends. */
  private detachCaller(invocation: Invocation, outcome: CallOutcome): void {
    if (invocation.timer !== undefined) {
      clearTimeout(invocation.timer)
      invocation.timer = undefined
    }
    const caller = invocation.caller
    if (caller !== undefined) {
      invocation.stats.completed(outcome, (performance.now() - invocation.started) / 1000)
      invocation.span?.end(OUTCOME_NAMES[outcome])
      caller.calls.delete(invocation.request)
      invocation.caller = undefined
      // a callee paused for this caller is read again: its pending results for this call are dropped
      caller.release(invocation.callee)
    }
  }

  /** A session left: its pending calls are canceled at the callees, its invocations fail at the callers. */
  leave(session: Session): void {
    for (const invocation of session.calls.values()) {
      this.detachCaller(invocation, CallOutcome.canceled)
      const callee = invocation.callee
      if (callee.invocations.delete(invocation.id) && callee.calleeCancels && callee !== session) {
        callee.send([MessageType.INTERRUPT, invocation.id, { mode: "killnowait", reason: Uri.canceled }], false)
      }
    }
    session.calls.clear()
    for (const invocation of session.invocations.values()) {
      const caller = invocation.caller
      this.detachCaller(invocation, CallOutcome.canceled)
      if (caller !== undefined && caller !== session) {
        caller.send(errorMessage(MessageType.CALL, invocation.request, Uri.canceled, "the callee left"), false)
      }
    }
    session.invocations.clear()
    for (const registration of [...session.registrations.values()]) this.removeCallee(session, registration)
  }
}

const EMPTY: Readonly<Record<string, unknown>> = Object.freeze({})
const PROGRESS: Readonly<Record<string, unknown>> = Object.freeze({ progress: true })

/** [RESULT, request, details, args?, kwargs?] from a YIELD's payload at `from`. */
const resultMessage = (request: number, details: Readonly<Record<string, unknown>>, m: Message, from: number): Message =>
  m.length === from
    ? [MessageType.RESULT, request, details]
    : m.length === from + 1
    ? [MessageType.RESULT, request, details, m[from]]
    : [MessageType.RESULT, request, details, m[from], m[from + 1]]
