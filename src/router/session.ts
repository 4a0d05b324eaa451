/**
 * One WAMP session on one transport connection: decoding, the handshake (HELLO, WELCOME, ABORT),
 * the GOODBYE exchange, protocol-violation handling, and dispatch of established-session messages
 * to the realm's dealer and broker. Plain synchronous code: no Effect per message.
 *
 * Longer than most modules: a session's whole life is one state machine (opening with its
 * challenges, established with dynamic authorizations pending in order, closing), and its states
 * and transitions read best in one place. Authentication methods are in `auth.ts`, decisions in
 * `authorizer.ts`, routing in `dealer.ts` and `broker.ts`.
 */
import { authenticate, CallFailure, type HelloContext, type Identity, type Step } from "./auth.js"
import { type Decision, DENY, dynamicDecision } from "./authorizer.js"
import type { Subscription } from "./broker.js"
import type { Invocation, Registration } from "./dealer.js"
import { randomId } from "../wamp/ids.js"
import { checkShape, describeValue, isDict, type Message, MessageType } from "../wamp/messages.js"
import { Uri } from "../wamp/uris.js"
import { websocketLimitDefaults } from "./limits.js"
import type { Realm } from "./realm.js"
import type { Serializer } from "../wamp/codecs.js"
import type { Action, AuthMethod } from "./types.js"
import type { RouterMetrics } from "./metrics.js"
import { sessionDetails } from "./meta.js"

/** The connection below a session (a WebSocket today). */
export interface Peer {
  /** Hands a frame to the connection; false when it is no longer open (closing or closed). */
  send(data: string | Uint8Array): boolean
  /** Bytes handed to the connection and not yet taken by the kernel (the current write batch included). */
  readonly bufferedAmount: number
  /** Stops reading from the connection, so that TCP pushes back on the peer. Idempotent. */
  pauseReading(): void
  /** Reads from the connection again. Idempotent. */
  resumeReading(): void
  /**
   * Calls `drained` once every unsent byte has been taken by the kernel (not if the connection
   * closes first). A second call before that replaces the callback.
   */
  awaitDrain(drained: () => void): void
  /** Closes the connection; the transport then calls `Session.closed()`. */
  close(code: number, reason: string): void
}

/** Where the router's few log lines go (the Effect layer routes them to Effect's logger). */
export interface RouterLog {
  debug(message: string): void
  info(message: string): void
  warn(message: string): void
}

/** What a session knows about its transport; `wamp.session.get` reports it. */
export interface TransportInfo {
  readonly type: "websocket"
  readonly protocol: string
  readonly peer: string
  readonly http_headers_received: Readonly<Record<string, string>>
}

export interface SessionContext {
  readonly realms: ReadonlyMap<string, Realm>
  readonly auth: ReadonlyArray<AuthMethod>
  readonly maxMessageSize: number
  readonly log: RouterLog
  readonly flow: FlowControl
  /** Messages in and out are counted here by type. */
  readonly metrics: RouterMetrics
}

/**
 * Backpressure for progressive results. When a progressive RESULT leaves the router toward a
 * caller whose unsent bytes exceed `highWaterMark`, the router stops reading the callee's
 * connection: TCP then pushes back on the callee (its WebSocket's bufferedAmount grows, which a
 * pacing callee such as `Progressive.send` waits on). The callee is read again when the caller's
 * buffer has drained (empty: the kernel's socket buffers keep the pipe full meanwhile), when the
 * call ends or is canceled, or when either session leaves.
 *
 * Trade-off: this is TCP-level backpressure, so while a callee is paused for one slow caller
 * everything else it sends waits too (results for other callers, its publications). So the pause
 * is bounded: a caller that has not drained within `pauseLimitMs` (the `slow_caller_timeout`) has
 * its progressive calls to the paused callees canceled (INTERRUPT to the callee, ERROR to the
 * caller), the callees are read again at once, and the caller pauses no one until it drains.
 */
export interface FlowControl {
  /** Unsent bytes toward a caller above which a callee streaming progressive results to it is paused. */
  readonly highWaterMark: number
  /** The longest a caller's buffer may stay undrained while it keeps callees paused; then its calls to them are canceled. */
  readonly pauseLimitMs: number
}

/**
 * The default: 1 MiB, or 4 maximum-size messages on transports with a small limit, so the
 * mark stays well below the drop limit (16 maximum-size messages, see transport.ts) even after
 * the frames already read from a paused callee's socket are routed.
 */
export const flowControl = (maxMessageSize: number): FlowControl => ({
  highWaterMark: Math.min(1024 * 1024, 4 * maxMessageSize),
  pauseLimitMs: websocketLimitDefaults.slowCallerTimeout
})

/** Callees paused for one caller, until its buffer drains. */
interface Held {
  readonly callees: Set<Session>
  timer: ReturnType<typeof setTimeout> | undefined
  /** The pause limit passed: pause no one for this caller until it drains. */
  stalled: boolean
}

/** The roles and features this router implements, announced in WELCOME. */
export const ROUTER_ROLES = {
  broker: {
    features: {
      publisher_identification: true,
      publisher_exclusion: true,
      subscriber_blackwhite_listing: true,
      pattern_based_subscription: true,
      session_meta_api: true,
      subscription_meta_api: true
    }
  },
  dealer: {
    features: {
      progressive_call_results: true,
      call_canceling: true,
      call_timeout: true,
      caller_identification: true,
      pattern_based_registration: true,
      shared_registration: true,
      session_meta_api: true,
      registration_meta_api: true
    }
  }
} as const

/** The same without the meta API's features, for a realm whose `enable_meta_api` is false. */
export const ROUTER_ROLES_WITHOUT_META = {
  broker: { features: withoutMeta(ROUTER_ROLES.broker.features) },
  dealer: { features: withoutMeta(ROUTER_ROLES.dealer.features) }
}

function withoutMeta(features: Readonly<Record<string, boolean>>): Record<string, boolean> {
  return Object.fromEntries(Object.entries(features).filter(([name]) => !name.endsWith("_meta_api")))
}

const enum State {
  /** Connected, no session yet (also after a GOODBYE exchange: a new HELLO may follow). */
  Idle,
  /** HELLO received: a challenge is out, or the router waits for an authenticator. */
  Authenticating,
  Established,
  /** The router sent GOODBYE and awaits the reply. */
  ShuttingDown,
  Closed
}

/** An error's message, without running a peer's code (errors come from our own code or the codecs). */
const errorText = (error: unknown): string => (error instanceof Error ? error.message : describeValue(error))

/** A handshake in progress: the realm asked for, HELLO's roles, and the check of AUTHENTICATE once a CHALLENGE is out. */
interface Handshake {
  readonly realm: Realm
  readonly roles: Record<string, unknown>
  verify: ((signature: string) => Step | Promise<Step>) | undefined
}

/** The most messages a session may send while a dynamic authorization of its is pending. */
const MAX_WAITING = 4096

/** The actions a dynamic authorizer decides, by message type. */
const DYNAMIC_ACTIONS: Readonly<Record<number, Action>> = {
  [MessageType.CALL]: "call",
  [MessageType.REGISTER]: "register",
  [MessageType.PUBLISH]: "publish",
  [MessageType.SUBSCRIBE]: "subscribe"
}

const feature = (roles: Record<string, unknown>, role: string, name: string): boolean => {
  const r = roles[role]
  if (!isDict(r)) return false
  const f = r["features"]
  return isDict(f) && f[name] === true
}

export class Session {
  /** 0 until WELCOME. */
  id = 0
  realm: Realm | undefined = undefined
  authid = ""
  authrole = ""
  authmethod = ""
  authprovider = ""
  /** HELLO.Details.roles as the client sent them. */
  roles: Record<string, unknown> = {}
  /** The callee announced call_canceling: it understands INTERRUPT. */
  calleeCancels = false

  /** Registrations this session is a callee of, by registration id. */
  readonly registrations = new Map<number, Registration>()
  /** Subscriptions this session is on, by subscription id. */
  readonly subscriptions = new Map<number, Subscription>()
  /** Pending calls this session made, by its CALL request id. */
  readonly calls = new Map<number, Invocation>()
  /** Pending invocations sent to this session, by INVOCATION request id. */
  readonly invocations = new Map<number, Invocation>()
  /** The next INVOCATION request id; ids below it were issued by this router. */
  nextInvocationId = 1

  #state = State.Idle
  /** While authenticating. */
  #handshake: Handshake | undefined = undefined
  /** The role's dynamic authorizer procedure (undefined for static roles: the dealer and broker decide at once). */
  #authorizer: string | undefined = undefined
  /** Dynamic decisions the authorizer allowed caching, by action and URI. */
  #authorized: Map<string, Decision> | undefined = undefined
  /** Messages received while a dynamic authorization is pending: handled in order once it is decided. */
  #waiting: Array<readonly [Message, boolean]> | undefined = undefined
  /** As a caller: the callees paused because this session reads its progressive results slowly. */
  #held: Held | undefined = undefined
  /** As a callee: the caller this session's connection is paused for. */
  #pausedFor: Session | undefined = undefined

  constructor(
    private readonly peer: Peer,
    readonly serializer: Serializer,
    readonly transport: TransportInfo,
    private readonly context: SessionContext
  ) {}

  get established(): boolean {
    return this.#state === State.Established
  }

  /** Sends a message; `mayHoldBinary` as in {@link Serializer.encode}. See {@link trySend}. */
  send(message: ReadonlyArray<unknown>, mayHoldBinary: boolean): void {
    this.trySend(message, mayHoldBinary)
  }

  /**
   * Sends a message; false when it was not sent: the session is closed, or the message cannot be
   * encoded with its serializer (a payload from a peer of another serializer: a big integer, a
   * cycle, nesting too deep). Whoever waits for the message must then be answered otherwise.
   */
  trySend(message: ReadonlyArray<unknown>, mayHoldBinary: boolean): boolean {
    if (this.#state === State.Closed) return false
    let data: string | Uint8Array
    try {
      data = this.serializer.encode(message, mayHoldBinary)
    } catch (error) {
      this.context.log.debug(`session ${this.id}: cannot encode message ${String(message[0])} with ${this.serializer.name}: ${errorText(error)}`)
      return false
    }
    if (this.peer.send(data)) {
      this.context.metrics.sent[message[0] as number]!++
      return true
    }
    this.#connectionClosing = true
    return false
  }

  #connectionClosing = false

  /**
   * Nothing can reach this session any more: it has left, or its connection is closing (a send
   * found it no longer open), though the transport has not reported the close yet.
   */
  get isUnreachable(): boolean {
    return this.#connectionClosing || this.#state === State.Closed
  }

  /** Closed: left its realm, nothing more is sent to it. */
  get isClosed(): boolean {
    return this.#state === State.Closed
  }

  /** Sends an already encoded message (the broker encodes an EVENT once per serializer). */
  sendEncoded(data: string | Uint8Array): void {
    if (this.#state !== State.Closed && this.peer.send(data)) this.context.metrics.sent[MessageType.EVENT]!++
  }

  /** Bytes waiting to be sent to this session's peer (an inspection hook; see {@link FlowControl}). */
  get outgoingBytes(): number {
    return this.peer.bufferedAmount
  }

  /** As a callee: whether the router has stopped reading this session's connection. */
  get paused(): boolean {
    return this.#pausedFor !== undefined
  }

  /**
   * Flow control after a progressive result from `callee` was sent to this session (the caller):
   * pauses the callee when this session's unsent bytes are above the high-water mark.
   */
  throttle(callee: Session): void {
    if (callee.#pausedFor !== undefined || this.peer.bufferedAmount <= this.context.flow.highWaterMark) return
    if (this.#state === State.Closed || callee === this) return
    let held = this.#held
    if (held === undefined) {
      held = { callees: new Set(), timer: undefined, stalled: false }
      this.#held = held
      held.timer = setTimeout(() => this.stalled(), this.context.flow.pauseLimitMs)
      this.peer.awaitDrain(() => this.releaseAll())
    }
    if (held.stalled) return
    held.callees.add(callee)
    callee.#pausedFor = this
    callee.peer.pauseReading()
  }

  /** Resumes `callee` if it is paused for this session (its call ended or was canceled). */
  release(callee: Session): void {
    if (callee.#pausedFor !== this) return
    this.#held?.callees.delete(callee)
    callee.#pausedFor = undefined
    callee.peer.resumeReading()
  }

  /** This session's buffer drained, or it leaves: every callee paused for it is resumed. */
  private releaseAll(): void {
    const held = this.#held
    if (held === undefined) return
    this.#held = undefined
    if (held.timer !== undefined) clearTimeout(held.timer)
    this.resume(held.callees)
  }

  private stalled(): void {
    const held = this.#held
    if (held === undefined) return
    held.timer = undefined
    held.stalled = true
    const limit = this.context.flow.pauseLimitMs
    this.context.log.info(
      `session ${this.id}: ${this.peer.bufferedAmount} bytes undrained after ${limit} ms, canceling its calls to ${held.callees.size} paused callee(s)`
    )
    const callees = [...held.callees]
    held.callees.clear()
    for (const callee of callees) this.realm?.dealer.cancelSlowCaller(this, callee, limit)
    this.resume(callees)
  }

  private resume(callees: Iterable<Session>): void {
    for (const callee of callees) {
      callee.#pausedFor = undefined
      callee.peer.resumeReading()
    }
  }

  /** One frame from the transport. */
  receive(data: Buffer): void {
    if (this.#state === State.Closed) return
    if (data.length > this.context.maxMessageSize) {
      return this.abort(
        Uri.payloadSizeExceeded,
        `message of ${data.length} bytes exceeds the maximum message size of ${this.context.maxMessageSize} bytes`,
        1009
      )
    }
    let decoded: unknown
    try {
      decoded = this.serializer.decode(data)
    } catch (error) {
      return this.protocolViolation(`undecodable ${this.serializer.name} message: ${errorText(error)}`)
    }
    if (!Array.isArray(decoded) || decoded.length === 0) {
      return this.protocolViolation("a WAMP message must be a non-empty array")
    }
    // Second line of defence: the shape checks should leave nothing for a handler to trip on, but
    // an exception escaping one message ends this session only, never the router.
    try {
      const problem = checkShape(decoded)
      if (problem !== undefined) return this.protocolViolation(problem)
      this.context.metrics.received[decoded[0] as number]!++
      if (this.#waiting !== undefined) {
        // frames read before the pause, or after flow control resumed the connection: bounded
        if (this.#waiting.length >= MAX_WAITING) {
          return this.abort(Uri.protocolViolation, `more than ${MAX_WAITING} messages sent while an authorization was pending`, 1008)
        }
        this.#waiting.push([decoded, this.serializer.lastHoldsBinary])
        return
      }
      this.dispatch(decoded, this.serializer.lastHoldsBinary)
    } catch (error) {
      this.failed(decoded[0], error)
    }
  }

  /** Handling a message threw: log it once, abort this session, and make sure it is gone. */
  private failed(type: unknown, error: unknown): void {
    this.context.log.warn(
      `session ${this.id}: internal error handling message type ${describeValue(type)}, ending the session: ${errorText(error)}`
    )
    try {
      this.abort(Uri.protocolViolation, "the router could not handle a message of this session", 1011)
    } catch {
      // the abort itself failed midway: drop the connection and what the realm still holds
      this.#state = State.Closed
      try {
        this.realm?.leave(this)
      } catch {
        // the realm is inconsistent for this session only; nothing more can be done for it
      }
      this.realm = undefined
      this.peer.close(1011, Uri.protocolViolation)
    }
  }

  private dispatch(m: Message, binary: boolean): void {
    const type = m[0] as number
    if (this.#state !== State.Established) {
      if (type === MessageType.HELLO && this.#state === State.Idle) return this.hello(m)
      if (type === MessageType.AUTHENTICATE && this.#handshake?.verify !== undefined) return this.authenticated(m[1] as string)
      if (type === MessageType.ABORT) return this.ended("aborted by peer")
      if (type === MessageType.GOODBYE && this.#state === State.ShuttingDown) return this.ended("goodbye")
      if (this.#state === State.ShuttingDown) return
      return this.protocolViolation(`message type ${type} before the session was established`)
    }
    const realm = this.realm!
    if (this.#authorizer !== undefined && DYNAMIC_ACTIONS[type] !== undefined) return this.authorizeDynamically(m, binary)
    switch (type) {
      case MessageType.CALL:
        return realm.dealer.call(this, m, binary)
      case MessageType.YIELD:
        return realm.dealer.yield(this, m, binary)
      case MessageType.ERROR:
        return realm.dealer.error(this, m, binary)
      case MessageType.PUBLISH:
        return realm.broker.publish(this, m, binary)
      case MessageType.REGISTER:
        return realm.dealer.register(this, m)
      case MessageType.UNREGISTER:
        return realm.dealer.unregister(this, m)
      case MessageType.CANCEL:
        return realm.dealer.cancel(this, m)
      case MessageType.SUBSCRIBE:
        return realm.broker.subscribe(this, m)
      case MessageType.UNSUBSCRIBE:
        return realm.broker.unsubscribe(this, m)
      case MessageType.GOODBYE:
        this.send([MessageType.GOODBYE, {}, Uri.goodbyeAndOut], false)
        this.leave()
        this.#state = State.Idle
        return
      case MessageType.HELLO:
        return this.protocolViolation("HELLO received on an established session")
      case MessageType.ABORT:
        this.leave()
        return this.ended("aborted by peer")
      default:
        return this.protocolViolation(`message type ${type} is not valid on an established session`)
    }
  }

  private hello(m: Message): void {
    const realmName = m[1] as string
    const details = m[2] as Record<string, unknown>
    const roles = details["roles"]
    if (!isDict(roles)) return this.protocolViolation("HELLO.Details.roles must be a dictionary")
    const realm = this.context.realms.get(realmName)
    if (realm === undefined) {
      return this.abort(Uri.noSuchRealm, `no realm "${realmName}" exists on this router`)
    }
    let id = randomId()
    while (realm.sessions.has(id)) id = randomId()
    this.id = id
    const handshake: Handshake = { realm, roles, verify: undefined }
    this.#handshake = handshake
    this.#state = State.Authenticating
    const context: HelloContext = {
      realm: realmName,
      session: id,
      transport: this.transport as unknown as Record<string, unknown>,
      call: (on, procedure, args) => {
        const target = this.context.realms.get(on)
        return target === undefined
          ? Promise.reject(new CallFailure(Uri.noSuchRealm, [`no realm "${on}"`]))
          : target.caller.call(procedure, args)
      },
      warn: (message) => this.context.log.warn(`session ${id}: ${message}`)
    }
    this.step(handshake, authenticate(details, this.context.auth, context))
  }

  /** AUTHENTICATE: the answer to the CHALLENGE; one attempt only. */
  private authenticated(signature: string): void {
    const handshake = this.#handshake!
    const verify = handshake.verify!
    handshake.verify = undefined
    this.step(handshake, verify(signature))
  }

  /** The next step of a handshake, once known; a step of a handshake that ended meanwhile is dropped. */
  private step(handshake: Handshake, next: Step | Promise<Step>): void {
    if (next instanceof Promise) {
      next.then(
        (step) => this.step(handshake, step),
        (error: unknown) => this.step(handshake, { _tag: "abort", reason: Uri.notAuthorized, message: `authentication failed: ${errorText(error)}` })
      )
      return
    }
    if (this.#handshake !== handshake || this.#state !== State.Authenticating) return
    try {
      switch (next._tag) {
        case "abort":
          this.#handshake = undefined
          return this.abort(next.reason, next.message)
        case "challenge":
          handshake.verify = next.verify
          this.send([MessageType.CHALLENGE, next.authmethod, next.extra], false)
          return
        case "welcome":
          this.#handshake = undefined
          return this.welcome(handshake.realm, handshake.roles, next.identity)
      }
    } catch (error) {
      this.failed(MessageType.HELLO, error)
    }
  }

  private welcome(realm: Realm, roles: Record<string, unknown>, identity: Identity): void {
    if (!realm.authorizer.hasRole(identity.authrole)) {
      return this.abort(Uri.noSuchRole, `no role "${identity.authrole}" on realm "${realm.name}"`)
    }
    // the id was chosen at HELLO; a session that joined meanwhile may have drawn it too
    while (realm.sessions.has(this.id)) this.id = randomId()
    const id = this.id
    this.authid = identity.authid
    this.authrole = identity.authrole
    this.authmethod = identity.authmethod
    this.authprovider = identity.authprovider
    this.roles = roles
    this.calleeCancels = feature(roles, "callee", "call_canceling")
    this.nextInvocationId = 1
    this.#authorizer = realm.authorizer.dynamicAuthorizer(identity.authrole)
    this.#authorized = undefined
    this.#state = State.Established
    this.send([
      MessageType.WELCOME,
      id,
      {
        realm: realm.name,
        authid: identity.authid,
        authrole: identity.authrole,
        authmethod: identity.authmethod,
        authprovider: identity.authprovider,
        roles: realm.meta === undefined ? ROUTER_ROLES_WITHOUT_META : ROUTER_ROLES
      }
    ], false)
    realm.join(this)
  }

  /**
   * CALL, REGISTER, PUBLISH or SUBSCRIBE of a role with a dynamic authorizer: the router asks the
   * authorizer (session details, uri, action, options) and holds this session's later messages
   * until it answered, so they keep their order. Answers marked `cache` are reused for the session.
   */
  private authorizeDynamically(m: Message, binary: boolean): void {
    const action = DYNAMIC_ACTIONS[m[0] as number]!
    const uri = m[3] as string
    const key = `${action} ${uri}`
    const cached = this.#authorized?.get(key)
    if (cached !== undefined) return this.authorizedDispatch(m, binary, cached)
    const realm = this.realm!
    const authorizer = this.#authorizer!
    this.#waiting = []
    // backpressure while the authorizer thinks: the peer's next messages wait in TCP, not here
    this.peer.pauseReading()
    const decided = (decision: Decision): void => {
      if (this.#pausedFor === undefined) this.peer.resumeReading()
      if (this.realm !== realm || this.#state !== State.Established) {
        this.#waiting = undefined
        return
      }
      const waiting = this.#waiting ?? []
      this.#waiting = undefined
      try {
        this.authorizedDispatch(m, binary, decision)
        for (let i = 0; i < waiting.length; i++) {
          const again = this.#waiting as Array<readonly [Message, boolean]> | undefined
          if (again !== undefined) {
            // another dynamic authorization began: the rest waits for it
            again.push(...waiting.slice(i))
            return
          }
          if ((this.#state as State) === State.Closed) return
          const [next, nextBinary] = waiting[i]!
          this.dispatch(next, nextBinary)
        }
      } catch (error) {
        this.failed(m[0], error)
      }
    }
    realm.caller.call(authorizer, [sessionDetails(this), uri, action, m[2]]).then(
      (answer) => {
        const understood = dynamicDecision(answer)
        if (understood === undefined) {
          this.context.log.warn(`session ${this.id}: authorizer "${authorizer}" answered neither a boolean nor {allow, disclose, cache}: denied`)
          return decided(DENY)
        }
        if (understood.cache) (this.#authorized ??= new Map()).set(key, understood.decision)
        decided(understood.decision)
      },
      (error: unknown) => {
        this.context.log.warn(
          `session ${this.id}: authorizer "${authorizer}" failed (${error instanceof CallFailure ? error.error : errorText(error)}): denied`
        )
        decided(DENY)
      }
    )
  }

  private authorizedDispatch(m: Message, binary: boolean, decision: Decision): void {
    const realm = this.realm!
    switch (m[0]) {
      case MessageType.CALL:
        return realm.dealer.call(this, m, binary, decision)
      case MessageType.REGISTER:
        return realm.dealer.register(this, m, decision)
      case MessageType.PUBLISH:
        return realm.broker.publish(this, m, binary, decision)
      case MessageType.SUBSCRIBE:
        return realm.broker.subscribe(this, m, decision)
    }
  }

  /**
   * wamp.session.kill*: GOODBYE with `reason` (default wamp.close.killed) and `message`, then
   * the connection closes.
   */
  kill(reason: string, message: string): void {
    if (this.#state !== State.Established) return
    this.send([MessageType.GOODBYE, message === "" ? {} : { message }, reason], false)
    this.leave()
    this.#state = State.Closed
    this.peer.close(1000, "killed")
  }

  /** The peer ended the session: nothing it sends after that is read (its realm is gone). */
  private ended(reason: string): void {
    this.#state = State.Closed
    this.peer.close(1000, reason)
  }

  /** Ends the session with ABORT and closes the connection. */
  abort(reason: string, message: string, closeCode = 1000): void {
    if (this.#state === State.Closed) return
    this.send([MessageType.ABORT, { message }, reason], false)
    this.leave()
    this.#state = State.Closed
    this.peer.close(closeCode, reason)
  }

  /** A protocol violation aborts this session only (and removes its registrations and subscriptions). */
  protocolViolation(message: string): void {
    this.context.log.warn(`session ${this.id}: protocol violation: ${message}`)
    this.abort(Uri.protocolViolation, message, 1002)
  }

  /** Router shutdown: GOODBYE to an established session, then close the connection. */
  shutdown(): void {
    if (this.#state === State.Established) {
      this.send([MessageType.GOODBYE, { message: "the router is shutting down" }, Uri.systemShutdown], false)
      this.leave()
    }
    this.#state = State.Closed
    this.peer.close(1001, "router shutdown")
  }

  /** The transport closed: leave the realm (pending calls are canceled, registrations removed). */
  closed(): void {
    this.leave()
    this.#state = State.Closed
  }

  private leave(): void {
    // no callee stays paused for a session that leaves, and a callee that leaves is read again
    this.releaseAll()
    this.#pausedFor?.release(this)
    const realm = this.realm
    if (realm === undefined) return
    this.realm = undefined
    realm.leave(this)
  }
}
