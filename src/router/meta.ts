/**
 * The WAMP meta API of one realm: session, registration and subscription meta procedures (answered
 * by the router itself, after the dealer's URI and authorization checks) and meta events.
 */
import type { Broker, Subscription } from "./broker.js"
import type { Dealer, Registration } from "./dealer.js"
import { isDict, isId, type Message, MessageType } from "../wamp/messages.js"
import { Uri } from "../wamp/uris.js"
import type { Session } from "./session.js"
import type { MatchPolicy } from "./types.js"

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

const roleFilter = (args: Args, kwargs: Kwargs): ReadonlyArray<unknown> | undefined => {
  const value = args[0] ?? kwargs["filter_authroles"]
  return Array.isArray(value) ? value : undefined
}

const matchOf = (options: unknown): MatchPolicy => {
  const match = isDict(options) ? options["match"] : undefined
  return match === "prefix" || match === "wildcard" ? match : "exact"
}

const byPolicy = <T extends { readonly id: number; readonly match: MatchPolicy }>(items: Iterable<T>) => {
  const result: Record<MatchPolicy, Array<number>> = { exact: [], prefix: [], wildcard: [] }
  for (const item of items) result[item.match].push(item.id)
  return result
}

export class Meta {
  readonly #procedures: ReadonlyMap<string, (caller: Session, args: Args, kwargs: Kwargs) => Answer>

  constructor(
    private readonly sessions: ReadonlyMap<number, Session>,
    private readonly dealer: Dealer,
    private readonly broker: Broker
  ) {
    const registration = (args: Args): Registration | Answer => {
      const id = args[0]
      const found = isId(id) ? dealer.byId.get(id) : undefined
      return found ?? { error: Uri.noSuchRegistration, message: `no registration with id ${String(id)}` }
    }
    const subscription = (args: Args): Subscription | Answer => {
      const id = args[0]
      const found = isId(id) ? broker.byId.get(id) : undefined
      return found ?? { error: Uri.noSuchSubscription, message: `no subscription with id ${String(id)}` }
    }
    const isAnswer = (x: object): x is Answer => "result" in x || "error" in x
    const withSession = (args: Args, kwargs: Kwargs): Array<Session> => {
      const roles = roleFilter(args, kwargs)
      const out: Array<Session> = []
      for (const s of sessions.values()) if (roles === undefined || roles.includes(s.authrole)) out.push(s)
      return out
    }
    this.#procedures = new Map<string, (caller: Session, args: Args, kwargs: Kwargs) => Answer>([
      ["wamp.session.count", (_c, args, kwargs) => ({ result: withSession(args, kwargs).length })],
      ["wamp.session.list", (_c, args, kwargs) => ({ result: withSession(args, kwargs).map((s) => s.id) })],
      ["wamp.session.get", (_c, args) => {
        const id = args[0]
        const s = isId(id) ? sessions.get(id) : undefined
        return s === undefined
          ? { error: Uri.noSuchSession, message: `no session with id ${String(id)}` }
          : { result: sessionDetails(s) }
      }],
      ["wamp.registration.list", () => ({ result: byPolicy(dealer.byId.values()) })],
      ["wamp.registration.lookup", (_c, args) => {
        const uri = args[0]
        if (typeof uri !== "string") return { error: Uri.invalidArgument, message: "procedure URI expected" }
        return { result: dealer.registrations.get(uri, matchOf(args[1]))?.id ?? null }
      }],
      ["wamp.registration.match", (_c, args) => {
        const uri = args[0]
        if (typeof uri !== "string") return { error: Uri.invalidArgument, message: "procedure URI expected" }
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
        if (typeof uri !== "string") return { error: Uri.invalidArgument, message: "topic URI expected" }
        return { result: broker.subscriptions.get(uri, matchOf(args[1]))?.id ?? null }
      }],
      ["wamp.subscription.match", (_c, args) => {
        const uri = args[0]
        if (typeof uri !== "string") return { error: Uri.invalidArgument, message: "topic URI expected" }
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
