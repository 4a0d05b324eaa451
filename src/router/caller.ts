/**
 * The router's own caller on a realm: dynamic authenticators and authorizers are procedures that
 * clients register, and the router calls them through the realm's dealer like any caller, with
 * a router-side timeout. It is not one of the realm's sessions (the meta API does not list it).
 */
import { randomId } from "../wamp/ids.js"
import { isDict, type Message, MessageType } from "../wamp/messages.js"
import { serializers } from "../wamp/codecs.js"
import { Uri } from "../wamp/uris.js"
import { type Decision, ALLOW } from "./authorizer.js"
import { CallFailure } from "./auth.js"
import type { Realm } from "./realm.js"
import { flowControl, type Peer, Session } from "./session.js"
import { RouterMetrics } from "./metrics.js"

/** How long the router waits for an authenticator's or authorizer's answer. */
export const ROUTER_CALL_TIMEOUT_MS = 5_000

const detached: Peer = {
  send: () => true,
  bufferedAmount: 0,
  pauseReading: () => {},
  resumeReading: () => {},
  awaitDrain: () => {},
  close: () => {}
}

const silent = { debug: () => {}, info: () => {}, warn: () => {} }

interface Pending {
  readonly resolve: (value: unknown) => void
  readonly reject: (failure: CallFailure) => void
}

export class RouterCaller extends Session {
  #nextRequest = 1
  readonly #pending = new Map<number, Pending>()

  constructor(private readonly target: Realm) {
    super(
      detached,
      serializers.json,
      { type: "websocket", protocol: "internal", peer: "router", http_headers_received: {} },
      {
        realms: new Map(),
        auth: [],
        maxMessageSize: Number.MAX_SAFE_INTEGER,
        log: silent,
        flow: flowControl(1024 * 1024),
        // the router's own calls (authenticators, authorizers) are not peers' traffic: counted apart
        metrics: new RouterMetrics()
      }
    )
    this.id = randomId()
    this.authid = "router"
    this.authrole = "trusted"
    this.authmethod = "trusted"
    this.authprovider = "router"
  }

  /** Calls `procedure` with `args`; the first result argument, or a {@link CallFailure}. */
  call(procedure: string, args: ReadonlyArray<unknown>, decision: Decision = ALLOW): Promise<unknown> {
    const request = this.#nextRequest++
    return new Promise((resolve, reject) => {
      this.#pending.set(request, { resolve, reject })
      this.target.dealer.call(this, [MessageType.CALL, request, { timeout: ROUTER_CALL_TIMEOUT_MS }, procedure, [...args]], false, decision)
    })
  }

  /** The dealer's answers arrive here instead of on a connection. */
  override trySend(message: ReadonlyArray<unknown>): boolean {
    const m = message as Message
    if (m[0] === MessageType.RESULT) {
      const pending = this.take(m[1])
      pending?.resolve(Array.isArray(m[3]) ? m[3][0] : isDict(m[4]) ? m[4] : null)
    } else if (m[0] === MessageType.ERROR) {
      const pending = this.take(m[2])
      pending?.reject(new CallFailure(typeof m[4] === "string" ? m[4] : Uri.runtimeError, Array.isArray(m[5]) ? m[5] : []))
    }
    return true
  }

  private take(request: unknown): Pending | undefined {
    if (typeof request !== "number") return undefined
    const pending = this.#pending.get(request)
    this.#pending.delete(request)
    return pending
  }
}
