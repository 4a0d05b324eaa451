/**
 * The WAMP meta API of one realm: session, registration and subscription meta procedures (answered
 * by the router itself, after the dealer's URI and authorization checks) and meta events.
 */
import type { Broker, Subscription } from "./broker.js"
import type { Dealer, Registration } from "./dealer.js"
import { describeValue, isDict, isId, isString, type Message, MAX_LIST_LENGTH, MessageType } from "../wamp/messages.js"
import { Uri } from "../wamp/uris.js"
import type { Session } from "./session.js"
import type { MatchPolicy } from "./types.js"
import { isValidUri } from "../wamp/uri.js"

type Args = ReadonlyArray<unknown>
type Kwargs = Readonly<Record<string, unknown>>

/** A meta procedure's answer: RESULT args, or an ERROR URI with a message. */
type Answer = { readonly result: unknown } | { readonly error: string; readonly message: string }

/** Session details as Crossbar's `wamp.session.get` and `on_join` report them. */
export const sessionDetails = (s: Session): Record<string, unknown> => ({
  session: s.id,
  authid: s.authid,
  authrole: s.authrole,
  authmethod: s.authmethod,
  authprovider: s.authprovider,
  authextra: {},
  transport: s.transport
})

/*
 * Meta procedure arguments are checked before use: a value of the wrong type, or out of range, is
 * answered with wamp.error.invalid_argument (the call fails, the session stays), as Crossbar does
 * for application-level arguments. An id of the right type that names nothing gets the spec's
 * no_such_* error.
 */

const invalid = (message: string): Answer => ({ error: Uri.invalidArgument, message })

/** The optional authrole filter of wamp.session.count/list: a list of strings, or an error. */
const roleFilter = (args: Args, kwargs: Kwargs): ReadonlyArray<string> | undefined | Answer => {
  const value = args[0] ?? kwargs["filter_authroles"]
  if (value == null) return undefined
  if (!Array.isArray(value) || value.length > MAX_LIST_LENGTH || !value.every(isString)) {
    return invalid(`filter_authroles must be a list of at most ${MAX_LIST_LENGTH} strings, not ${describeValue(value)}`)
  }
  return value
}

/** The match policy of a lookup's options ({match?: string}), or an error. */
const matchOf = (options: unknown): MatchPolicy | Answer => {
  if (options == null) return "exact"
  if (!isDict(options)) return invalid(`lookup options must be a dictionary, not ${describeValue(options)}`)
  const match = options["match"] ?? "exact"
  return match === "exact" || match === "prefix" || match === "wildcard"
    ? match
    : invalid(`unknown match policy ${describeValue(match)}`)
}

/** The GOODBYE of a killed session: kwargs (or args after the target) `reason` (a URI) and `message`. */
const killReason = (reason: unknown, message: unknown): { readonly reason: string; readonly message: string } | Answer => {
  if (reason != null && (typeof reason !== "string" || !isValidUri(reason, "exact"))) {
    return invalid(`reason must be a URI, not ${describeValue(reason)}`)
  }
  if (message != null && typeof message !== "string") return invalid(`message must be a string, not ${describeValue(message)}`)
  return { reason: reason ?? Uri.closeKilled, message: message ?? "" }
}

const isAnswer = (x: unknown): x is Answer => typeof x === "object" && x !== null && ("result" in x || "error" in x)

const byPolicy = <T extends { readonly id: number; readonly match: MatchPolicy }>(items: Iterable<T>) => {
  const result: Record<MatchPolicy, Array<number>> = { exact: [], prefix: [], wildcard: [] }
  for (const item of items) result[item.match].push(item.id)
  return result
}

export class Meta {
  readonly #procedures: ReadonlyMap<string, (caller: Session, args: Args, kwargs: Kwargs) => Answer>

  constructor(
    sessions: ReadonlyMap<number, Session>,
    dealer: Dealer,
    private readonly broker: Broker
  ) {
    const registration = (args: Args): Registration | Answer => {
      const id = args[0]
      if (!isId(id)) return invalid(`a registration id expected, not ${describeValue(id)}`)
      return dealer.byId.get(id) ?? { error: Uri.noSuchRegistration, message: `no registration with id ${id}` }
    }
    const subscription = (args: Args): Subscription | Answer => {
      const id = args[0]
      if (!isId(id)) return invalid(`a subscription id expected, not ${describeValue(id)}`)
      return broker.byId.get(id) ?? { error: Uri.noSuchSubscription, message: `no subscription with id ${id}` }
    }
    const withSession = (args: Args, kwargs: Kwargs): Array<Session> | Answer => {
      const roles = roleFilter(args, kwargs)
      if (isAnswer(roles)) return roles
      const out: Array<Session> = []
      for (const s of sessions.values()) if (roles === undefined || roles.includes(s.authrole)) out.push(s)
      return out
    }
    /** Kills every session (but the caller) with the given authid or authrole; the ids killed. */
    const killAll = (caller: Session, by: "authid" | "authrole", args: Args, kwargs: Kwargs): Answer => {
      const name = args[0] ?? kwargs[by]
      if (typeof name !== "string") return invalid(`an ${by} expected, not ${describeValue(name)}`)
      const why = killReason(args[1] ?? kwargs["reason"], args[2] ?? kwargs["message"])
      if (isAnswer(why)) return why
      const doomed = [...sessions.values()].filter((s) => s !== caller && s[by] === name)
      for (const s of doomed) s.kill(why.reason, why.message)
      return { result: doomed.map((s) => s.id) }
    }
    this.#procedures = new Map<string, (caller: Session, args: Args, kwargs: Kwargs) => Answer>([
      ["wamp.session.count", (_c, args, kwargs) => {
        const found = withSession(args, kwargs)
        return isAnswer(found) ? found : { result: found.length }
      }],
      ["wamp.session.list", (_c, args, kwargs) => {
        const found = withSession(args, kwargs)
        return isAnswer(found) ? found : { result: found.map((s) => s.id) }
      }],
      ["wamp.session.get", (_c, args) => {
        const id = args[0]
        if (!isId(id)) return invalid(`a session id expected, not ${describeValue(id)}`)
        const s = sessions.get(id)
        return s === undefined
          ? { error: Uri.noSuchSession, message: `no session with id ${id}` }
          : { result: sessionDetails(s) }
      }],
      ["wamp.session.kill", (caller, args, kwargs) => {
        const id = args[0]
        if (!isId(id)) return invalid(`a session id expected, not ${describeValue(id)}`)
        const why = killReason(args[1] ?? kwargs["reason"], args[2] ?? kwargs["message"])
        if (isAnswer(why)) return why
        if (id === caller.id) return invalid("a session cannot kill itself (leave with GOODBYE)")
        const target = sessions.get(id)
        if (target === undefined) return { error: Uri.noSuchSession, message: `no session with id ${id}` }
        target.kill(why.reason, why.message)
        return { result: null }
      }],
      ["wamp.session.kill_by_authid", (caller, args, kwargs) => killAll(caller, "authid", args, kwargs)],
      ["wamp.session.kill_by_authrole", (caller, args, kwargs) => killAll(caller, "authrole", args, kwargs)],
      ["wamp.registration.list", () => ({ result: byPolicy(dealer.byId.values()) })],
      ["wamp.registration.lookup", (_c, args) => {
        const uri = args[0]
        if (typeof uri !== "string") return invalid(`a procedure URI expected, not ${describeValue(uri)}`)
        const match = matchOf(args[1])
        if (isAnswer(match)) return match
        return { result: dealer.registrations.get(uri, match)?.id ?? null }
      }],
      ["wamp.registration.match", (_c, args) => {
        const uri = args[0]
        if (typeof uri !== "string") return invalid(`a procedure URI expected, not ${describeValue(uri)}`)
        return { result: dealer.registrations.best(uri)?.value.id ?? null }
      }],
      ["wamp.registration.get", (_c, args) => {
        const r = registration(args)
        if (isAnswer(r)) return r
        return { result: { id: r.id, created: r.created, uri: r.uri, match: r.match, invoke: r.invoke } }
      }],
      ["wamp.registration.list_callees", (_c, args) => {
        const r = registration(args)
        return isAnswer(r) ? r : { result: r.callees.map((s) => s.id) }
      }],
      ["wamp.registration.count_callees", (_c, args) => {
        const r = registration(args)
        return isAnswer(r) ? r : { result: r.callees.length }
      }],
      ["wamp.subscription.list", () => ({ result: byPolicy(broker.byId.values()) })],
      ["wamp.subscription.lookup", (_c, args) => {
        const uri = args[0]
        if (typeof uri !== "string") return invalid(`a topic URI expected, not ${describeValue(uri)}`)
        const match = matchOf(args[1])
        if (isAnswer(match)) return match
        return { result: broker.subscriptions.get(uri, match)?.id ?? null }
      }],
      ["wamp.subscription.match", (_c, args) => {
        const uri = args[0]
        if (typeof uri !== "string") return invalid(`a topic URI expected, not ${describeValue(uri)}`)
        const ids = broker.subscriptions.matches(uri).map((e) => e.value.id)
        return { result: ids.length > 0 ? ids : null }
      }],
      ["wamp.subscription.get", (_c, args) => {
        const s = subscription(args)
        if (isAnswer(s)) return s
        return { result: { id: s.id, created: s.created, uri: s.uri, match: s.match } }
      }],
      ["wamp.subscription.list_subscribers", (_c, args) => {
        const s = subscription(args)
        return isAnswer(s) ? s : { result: [...s.subscribers].map((x) => x.id) }
      }],
      ["wamp.subscription.count_subscribers", (_c, args) => {
        const s = subscription(args)
        return isAnswer(s) ? s : { result: s.subscribers.size }
      }]
    ])
  }

  /** Answers a CALL to a meta procedure; false when `procedure` is not one. */
  call(caller: Session, request: number, procedure: string, m: Message): boolean {
    const handler = this.#procedures.get(procedure)
    if (handler === undefined) return false
    const args = Array.isArray(m[4]) ? m[4] : []
    const kwargs = isDict(m[5]) ? m[5] : {}
    const answer = handler(caller, args, kwargs)
    if ("result" in answer) {
      caller.send([MessageType.RESULT, request, {}, [answer.result]], false)
    } else {
      caller.send([MessageType.ERROR, MessageType.CALL, request, {}, answer.error, [answer.message]], false)
    }
    return true
  }

  joined(session: Session): void {
    this.broker.publishInternal("wamp.session.on_join", [sessionDetails(session)])
  }

  left(session: Session): void {
    this.broker.publishInternal("wamp.session.on_leave", [session.id, session.authid, session.authrole])
  }

  registered(session: Session, r: Registration, created: boolean): void {
    if (this.broker.subscriptions.size === 0) return
    if (created) {
      this.broker.publishInternal("wamp.registration.on_create", [session.id, { id: r.id, created: r.created, uri: r.uri, match: r.match, invoke: r.invoke }])
    }
    this.broker.publishInternal("wamp.registration.on_register", [session.id, r.id])
  }

  unregistered(session: Session, r: Registration, deleted: boolean): void {
    if (this.broker.subscriptions.size === 0) return
    this.broker.publishInternal("wamp.registration.on_unregister", [session.id, r.id])
    if (deleted) this.broker.publishInternal("wamp.registration.on_delete", [session.id, r.id])
  }

  subscribed(session: Session, s: Subscription, created: boolean): void {
    if (created) {
      this.broker.publishInternal("wamp.subscription.on_create", [session.id, { id: s.id, created: s.created, uri: s.uri, match: s.match }])
    }
    this.broker.publishInternal("wamp.subscription.on_subscribe", [session.id, s.id])
  }

  unsubscribed(session: Session, s: Subscription, deleted: boolean): void {
    if (this.broker.subscriptions.size === 0) return
    this.broker.publishInternal("wamp.subscription.on_unsubscribe", [session.id, s.id])
    if (deleted) this.broker.publishInternal("wamp.subscription.on_delete", [session.id, s.id])
  }
}
