/**
 * Test support for the router conformance tests: a configuration on an ephemeral port, a scoped
 * router, scoped autobahn sessions for each serializer, and a raw WebSocket client for what
 * autobahn cannot send.
 */
import autobahn from "autobahn"
import * as Effect from "effect/Effect"
import { WebSocket } from "ws"
import { type RunningRouter, startRouter } from "../../src/router/index.js"
import { serializers } from "../../src/wamp/codecs.js"
import type { Permission, Realm, RouterConfig, SerializerName, WebSocketOptions } from "../../src/router/types.js"

export const allowAll = (uri = "", match: Permission["match"] = "prefix", disclose = false): Permission => ({
  uri,
  match,
  allow: { call: true, register: true, publish: true, subscribe: true },
  disclose: { caller: disclose, publisher: disclose }
})

/** realm1 where the anonymous role may do everything (the seed config's `*`). */
export const openRealm: Realm = { name: "realm1", roles: [{ name: "anonymous", permissions: [allowAll()] }] }

export const websocketOptions = (overrides?: Partial<WebSocketOptions>): WebSocketOptions => ({
  serializers: ["json", "msgpack", "cbor"],
  maxMessageSize: 1024 * 1024,
  autoPingInterval: 0,
  autoPingTimeout: 0,
  auth: [{ type: "anonymous", role: "anonymous" }],
  ...overrides
})

/** One websocket transport on 127.0.0.1, port 0. */
export const testConfig = (options?: { realms?: ReadonlyArray<Realm>; websocket?: Partial<WebSocketOptions> }): RouterConfig => ({
  realms: options?.realms ?? [openRealm],
  transports: [{ type: "websocket", endpoint: { port: 0, interface: "127.0.0.1" }, options: websocketOptions(options?.websocket) }]
})

/** A router for the test's scope. */
export const router = (config: RouterConfig = testConfig()): Effect.Effect<RunningRouter, never, import("effect/Scope").Scope> =>
  Effect.acquireRelease(Effect.promise(() => startRouter(config)), (r) => Effect.promise(() => r.close()))

const autobahnSerializer = (name: SerializerName): autobahn.Serializer => {
  const s = name === "json"
    ? autobahn.serializer.JSONSerializer
    : name === "msgpack"
    ? autobahn.serializer.MsgpackSerializer
    : autobahn.serializer.CBORSerializer
  if (s === undefined) throw new Error(`autobahn has no ${name} serializer here`)
  return new s()
}

export interface Opened {
  readonly session: autobahn.Session
  readonly connection: autobahn.Connection
  /** Resolves when the connection closes, with autobahn's reason and details. */
  readonly closed: Promise<{ readonly reason: string; readonly details: autobahn.CloseDetails }>
  readonly welcome: Record<string, unknown>
}

/** Opens an autobahn connection; fails with the close reason if the session does not open. */
export const openAutobahn = (
  url: string,
  options?: { serializer?: SerializerName; realm?: string; authmethods?: Array<string> }
): Promise<Opened> =>
  new Promise((resolve, reject) => {
    let onClosed: (value: { reason: string; details: autobahn.CloseDetails }) => void = () => {}
    const closed = new Promise<{ reason: string; details: autobahn.CloseDetails }>((r) => (onClosed = r))
    const connection = new autobahn.Connection({
      realm: options?.realm ?? "realm1",
      transports: [{ type: "websocket", url, serializers: [autobahnSerializer(options?.serializer ?? "json")] }],
      use_es6_promises: true,
      max_retries: 0,
      retry_if_unreachable: false,
      ...(options?.authmethods ? { authmethods: options.authmethods } : {})
    })
    connection.onopen = (session, details) => resolve({ session, connection, closed, welcome: details })
    connection.onclose = (reason, details) => {
      onClosed({ reason, details })
      reject(new Error(`${reason}: ${details.reason ?? ""} ${details.message ?? ""}`))
      return true
    }
    connection.open()
  })

/** An autobahn session for the test's scope, closed (GOODBYE) at the end. */
export const session = (
  url: string,
  options?: { serializer?: SerializerName; realm?: string }
): Effect.Effect<Opened, Error, import("effect/Scope").Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({ try: () => openAutobahn(url, options), catch: (e) => e as Error }),
    (opened) =>
      Effect.promise(async () => {
        try {
          opened.connection.close()
        } catch {
          return
        }
        await Promise.race([opened.closed, new Promise((r) => setTimeout(r, 1000))])
      })
  )

export type Message = Array<unknown>

/** A raw WebSocket WAMP client: sends any message, receives every message in order. */
export class RawClient {
  readonly #inbox: Array<Message> = []
  readonly #waiters: Array<(m: Message) => void> = []
  readonly closed: Promise<{ readonly code: number; readonly reason: string }>

  private constructor(readonly ws: WebSocket, readonly serializer: SerializerName) {
    this.closed = new Promise((resolve) => ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() })))
    ws.on("message", (data: Buffer) => {
      const m = serializers[serializer].decode(data) as Message
      const waiter = this.#waiters.shift()
      if (waiter) waiter(m)
      else this.#inbox.push(m)
    })
  }

  static open(
    url: string,
    serializer: SerializerName = "json",
    protocols?: Array<string>,
    options?: { readonly autoPong?: boolean }
  ): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, protocols ?? [`wamp.2.${serializer}`], { autoPong: options?.autoPong ?? true })
      ws.once("open", () => resolve(new RawClient(ws, serializer)))
      ws.once("error", reject)
    })
  }

  send(message: ReadonlyArray<unknown>): void {
    this.ws.send(serializers[this.serializer].encode(message, true))
  }

  sendRaw(data: string | Buffer): void {
    this.ws.send(data)
  }

  /** The next message; rejects after `timeoutMs`. */
  next(timeoutMs = 2000): Promise<Message> {
    const queued = this.#inbox.shift()
    if (queued) return Promise.resolve(queued)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const at = this.#waiters.indexOf(waiter)
        if (at >= 0) this.#waiters.splice(at, 1)
        reject(new Error(`no message within ${timeoutMs} ms`))
      }, timeoutMs)
      const waiter = (m: Message): void => {
        clearTimeout(timer)
        resolve(m)
      }
      this.#waiters.push(waiter)
    })
  }

  /** Resolves true if no message arrives within `ms`. */
  async silentFor(ms: number): Promise<boolean> {
    try {
      await this.next(ms)
      return false
    } catch {
      return true
    }
  }

  /** HELLO + WELCOME; returns the WELCOME. */
  async hello(realm = "realm1", details: Record<string, unknown> = {}): Promise<Message> {
    this.send([1, realm, { roles: { caller: {}, callee: { features: { call_canceling: true, progressive_call_results: true } }, publisher: {}, subscriber: {} }, ...details }])
    return this.next()
  }

  close(): void {
    this.ws.terminate()
  }
}

/** A raw client for the test's scope. */
export const raw = (
  url: string,
  serializer: SerializerName = "json"
): Effect.Effect<RawClient, Error, import("effect/Scope").Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({ try: () => RawClient.open(url, serializer), catch: (e) => e as Error }),
    (c) => Effect.sync(() => c.close())
  )

export const promise = <A>(f: () => Promise<A>): Effect.Effect<A, Error> =>
  Effect.tryPromise({ try: f, catch: (e) => (e instanceof Error ? e : new Error(String(e))) })

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** The rejection of a promise that must fail (fails the test if it resolves). */
export const rejection = (f: () => Promise<unknown>): Effect.Effect<unknown, Error> =>
  Effect.flatMap(
    Effect.promise(() => f().then((value) => ({ ok: true as const, value }), (error: unknown) => ({ ok: false as const, error }))),
    (r) => (r.ok ? Effect.fail(new Error(`expected a failure, got ${JSON.stringify(r.value)}`)) : Effect.succeed(r.error))
  )

/** The WAMP error URI, args and kwargs of an autobahn call rejection. */
export const callError = (f: () => Promise<unknown>): Effect.Effect<autobahn.Error, Error> =>
  Effect.map(rejection(f), (e) => e as autobahn.Error)

/**
 * Waits until `condition` holds, checking every few milliseconds, with a generous ceiling (the
 * machine may be busy): for state that no event announces. Fails naming `what` at the ceiling.
 */
export const waitUntil = (condition: () => boolean, what = "the condition", timeoutMs = 20_000): Effect.Effect<void, Error> =>
  promise(async () => {
    for (const deadline = Date.now() + timeoutMs; !condition();) {
      if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`)
      await sleep(5)
    }
  })
