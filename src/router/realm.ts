/** A realm: its sessions, authorizer, dealer, broker and meta API. */
import { RealmAuthorizer } from "./authorizer.js"
import { Broker } from "./broker.js"
import { RouterCaller } from "./caller.js"
import { Dealer } from "./dealer.js"
import { realmOptions } from "./limits.js"
import { Meta } from "./meta.js"
import type { Session } from "./session.js"
import type { Realm as RealmConfig } from "./types.js"
import { RouterMetrics } from "./metrics.js"
import type { CallTracer } from "./tracing.js"

/** What the router observes its realms with: metrics always, a span recorder when tracing is on. */
export interface Observers {
  readonly metrics: RouterMetrics
  readonly tracer: CallTracer | undefined
}

export class Realm {
  readonly name: string
  readonly authorizer: RealmAuthorizer
  readonly sessions = new Map<number, Session>()
  readonly dealer: Dealer
  readonly broker: Broker
  /** Undefined when the realm's `enable_meta_api` is false: no meta procedures, no meta events. */
  readonly meta: Meta | undefined
  #caller: RouterCaller | undefined = undefined

  constructor(config: RealmConfig, observers: Observers = { metrics: new RouterMetrics(), tracer: undefined }) {
    this.name = config.name
    this.authorizer = new RealmAuthorizer(config)
    this.dealer = new Dealer(this.authorizer)
    this.broker = new Broker(this.authorizer)
    const options = realmOptions(config.options)
    this.dealer.limits = options
    this.dealer.metrics = observers.metrics
    this.dealer.tracer = observers.tracer
    this.broker.limits = options
    this.meta = options.enableMetaApi ? new Meta(this.sessions, this.dealer, this.broker) : undefined
    this.dealer.meta = this.meta
    this.broker.meta = this.meta
  }

  /** The router's own caller on this realm (dynamic authenticators and authorizers). */
  get caller(): RouterCaller {
    return (this.#caller ??= new RouterCaller(this))
  }

  join(session: Session): void {
    session.realm = this
    this.sessions.set(session.id, session)
    this.meta?.joined(session)
  }

  /** Removes every trace of the session: pending calls, registrations, subscriptions. */
  leave(session: Session): void {
    if (!this.sessions.delete(session.id)) return
    this.dealer.leave(session)
    this.broker.leave(session)
    this.meta?.left(session)
  }

  /** Router shutdown: GOODBYE to every session. */
  shutdown(): void {
    for (const session of [...this.sessions.values()]) session.shutdown()
  }
}
