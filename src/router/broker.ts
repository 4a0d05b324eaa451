/**
 * The broker: subscriptions (exact, prefix, wildcard) and event dispatch with acknowledgement,
 * publisher exclusion and identification, and subscriber black- and whitelisting. An EVENT is
 * encoded once per subscription and serializer, then the same bytes go to every receiver.
 */
import { IdSequence, randomId } from "../wamp/ids.js"
import { describeValue, type Message, MessageType } from "../wamp/messages.js"
import { Uri, WampgresUri } from "../wamp/uris.js"
import { realmDefaults } from "./limits.js"
import type { Meta } from "./meta.js"
import type { Session } from "./session.js"
import { type MatchPolicy, matchPolicies, type SerializerName } from "../wamp/types.js"
import type { Decision, RealmAuthorizer } from "./authorizer.js"
import type { RealmOptions } from "./types.js"
import { isValidUri, PatternMap } from "../wamp/uri.js"

export interface Subscription {
  readonly id: number
  readonly uri: string
  readonly match: MatchPolicy
  readonly created: string
  readonly subscribers: Set<Session>
}

const MATCH_POLICIES: ReadonlySet<string> = new Set(matchPolicies)

const errorMessage = (type: number, request: unknown, uri: string, message?: string): Message =>
  message === undefined ? [MessageType.ERROR, type, request, {}, uri] : [MessageType.ERROR, type, request, {}, uri, [message]]

/** Black- and whitelists of a PUBLISH (undefined = no list). */
interface Filters {
  readonly exclude: ReadonlyArray<unknown> | undefined
  readonly eligible: ReadonlyArray<unknown> | undefined
  readonly excludeAuthid: ReadonlyArray<unknown> | undefined
  readonly eligibleAuthid: ReadonlyArray<unknown> | undefined
  readonly excludeAuthrole: ReadonlyArray<unknown> | undefined
  readonly eligibleAuthrole: ReadonlyArray<unknown> | undefined
}

const list = (value: unknown): ReadonlyArray<unknown> | undefined => (Array.isArray(value) ? value : undefined)

const filtersOf = (options: Record<string, unknown>): Filters | undefined => {
  const exclude = list(options["exclude"])
  const eligible = list(options["eligible"])
  const excludeAuthid = list(options["exclude_authid"])
  const eligibleAuthid = list(options["eligible_authid"])
  const excludeAuthrole = list(options["exclude_authrole"])
  const eligibleAuthrole = list(options["eligible_authrole"])
  if (!exclude && !eligible && !excludeAuthid && !eligibleAuthid && !excludeAuthrole && !eligibleAuthrole) return undefined
  return { exclude, eligible, excludeAuthid, eligibleAuthid, excludeAuthrole, eligibleAuthrole }
}

const passes = (f: Filters, s: Session): boolean =>
  (f.exclude === undefined || !f.exclude.includes(s.id)) &&
  (f.eligible === undefined || f.eligible.includes(s.id)) &&
  (f.excludeAuthid === undefined || !f.excludeAuthid.includes(s.authid)) &&
  (f.eligibleAuthid === undefined || f.eligibleAuthid.includes(s.authid)) &&
  (f.excludeAuthrole === undefined || !f.excludeAuthrole.includes(s.authrole)) &&
  (f.eligibleAuthrole === undefined || f.eligibleAuthrole.includes(s.authrole))

export class Broker {
  readonly subscriptions = new PatternMap<Subscription>()
  readonly byId = new Map<number, Subscription>()
  readonly #ids = new IdSequence()
  meta: Meta | undefined = undefined
  /** The realm's per-session limits. */
  limits: RealmOptions = realmDefaults

  constructor(private readonly authorizer: RealmAuthorizer) {}

  /** `given`: a decision already taken (a dynamic authorizer's answer). */
  subscribe(session: Session, m: Message, given?: Decision): void {
    const request = m[1]
    const match = (m[2] as Record<string, unknown>)["match"] ?? "exact"
    const topic = m[3] as string
    if (typeof match !== "string" || !MATCH_POLICIES.has(match)) {
      return session.send(errorMessage(MessageType.SUBSCRIBE, request, Uri.invalidArgument, `unknown match policy ${describeValue(match)}`), false)
    }
    const policy = match as MatchPolicy
    if (!isValidUri(topic, policy)) {
      return session.send(
        errorMessage(MessageType.SUBSCRIBE, request, Uri.invalidUri, `invalid topic URI "${topic}" for match "${policy}"`),
        false
      )
    }
    if (!(given ?? this.authorizer.authorize(session.authrole, topic, "subscribe")).allow) {
      return session.send(
        errorMessage(MessageType.SUBSCRIBE, request, Uri.notAuthorized, `session is not authorized to subscribe to topic "${topic}"`),
        false
      )
    }
    let subscription = this.subscriptions.get(topic, policy)
    if (session.subscriptions.size >= this.limits.maxSubscriptionsPerSession && !subscription?.subscribers.has(session)) {
      return session.send(
        errorMessage(MessageType.SUBSCRIBE, request, WampgresUri.limitExceeded, `session has ${session.subscriptions.size} subscriptions, the realm's max_subscriptions_per_session`),
        false
      )
    }
    let created = false
    if (subscription === undefined) {
      subscription = { id: this.#ids.next(), uri: topic, match: policy, created: new Date().toISOString(), subscribers: new Set() }
      this.subscriptions.set(topic, policy, subscription)
      this.byId.set(subscription.id, subscription)
      created = true
    }
    // subscribing twice answers the same subscription id (spec)
    const isNew = !subscription.subscribers.has(session)
    subscription.subscribers.add(session)
    session.subscriptions.set(subscription.id, subscription)
    session.send([MessageType.SUBSCRIBED, request, subscription.id], false)
    if (isNew) this.meta?.subscribed(session, subscription, created)
  }

  unsubscribe(session: Session, m: Message): void {
    const request = m[1]
    const subscription = session.subscriptions.get(m[2] as number)
    if (subscription === undefined) {
      return session.send(errorMessage(MessageType.UNSUBSCRIBE, request, Uri.noSuchSubscription), false)
    }
    this.removeSubscriber(session, subscription)
    session.send([MessageType.UNSUBSCRIBED, request], false)
  }

  private removeSubscriber(session: Session, subscription: Subscription): void {
    session.subscriptions.delete(subscription.id)
    subscription.subscribers.delete(session)
    const deleted = subscription.subscribers.size === 0
    if (deleted) {
      this.subscriptions.delete(subscription.uri, subscription.match)
      this.byId.delete(subscription.id)
    }
    this.meta?.unsubscribed(session, subscription, deleted)
  }

  /** `given`: as in {@link subscribe}. */
  publish(publisher: Session, m: Message, binary: boolean, given?: Decision): void {
    const request = m[1]
    const options = m[2] as Record<string, unknown>
    const topic = m[3] as string
    const acknowledge = options["acknowledge"] === true
    // errors reach the publisher only when it asked for an acknowledgement (spec)
    if (!isValidUri(topic, "exact") || topic.startsWith("wamp.")) {
      if (acknowledge) {
        publisher.send(errorMessage(MessageType.PUBLISH, request, Uri.invalidUri, `invalid topic URI "${topic}"`), false)
      }
      return
    }
    const decision = given ?? this.authorizer.authorize(publisher.authrole, topic, "publish")
    if (!decision.allow) {
      if (acknowledge) {
        publisher.send(
          errorMessage(MessageType.PUBLISH, request, Uri.notAuthorized, `session is not authorized to publish to topic "${topic}"`),
          false
        )
      }
      return
    }
    const publication = randomId()
    let publisherDetails: Record<string, unknown> | undefined
    if (decision.disclose || options["disclose_me"] === true) {
      publisherDetails = { publisher: publisher.id, publisher_authid: publisher.authid, publisher_authrole: publisher.authrole }
    }
    const exclude = options["exclude_me"] === false ? undefined : publisher
    this.dispatch(topic, publication, publisherDetails, m, 4, binary, exclude, filtersOf(options))
    if (acknowledge) publisher.send([MessageType.PUBLISHED, request, publication], false)
  }

  /** Publishes from the router itself (meta events): no authorization, nobody excluded. */
  publishInternal(topic: string, args: ReadonlyArray<unknown>): void {
    if (this.subscriptions.size === 0) return
    this.dispatch(topic, randomId(), undefined, [MessageType.PUBLISH, 0, {}, topic, args], 4, false, undefined, undefined)
  }

  /** Sends EVENTs for a publication whose payload sits at `m[from]` (args) and `m[from + 1]` (kwargs). */
  private dispatch(
    topic: string,
    publication: number,
    publisherDetails: Record<string, unknown> | undefined,
    m: Message,
    from: number,
    binary: boolean,
    exclude: Session | undefined,
    filters: Filters | undefined
  ): void {
    if (this.subscriptions.size === 0) return
    for (const { value: subscription } of this.subscriptions.matches(topic)) {
      let details: Record<string, unknown>
      if (subscription.match === "exact") {
        details = publisherDetails ?? {}
      } else {
        details = publisherDetails === undefined ? { topic } : { ...publisherDetails, topic }
      }
      const event: Message = m.length === from
        ? [MessageType.EVENT, subscription.id, publication, details]
        : m.length === from + 1
        ? [MessageType.EVENT, subscription.id, publication, details, m[from]]
        : [MessageType.EVENT, subscription.id, publication, details, m[from], m[from + 1]]
      // one encoding per serializer, shared by every receiver of this subscription
      const encoded: Partial<Record<SerializerName, string | Uint8Array>> = {}
      for (const subscriber of subscription.subscribers) {
        if (subscriber === exclude) continue
        if (filters !== undefined && !passes(filters, subscriber)) continue
        const serializer = subscriber.serializer
        let data = encoded[serializer.name]
        if (data === undefined) {
          try {
            data = serializer.encode(event, binary)
          } catch {
            continue
          }
          encoded[serializer.name] = data
        }
        subscriber.sendEncoded(data)
      }
    }
  }

  /** A session left: remove it from its subscriptions. */
  leave(session: Session): void {
    for (const subscription of [...session.subscriptions.values()]) this.removeSubscriber(session, subscription)
  }
}
