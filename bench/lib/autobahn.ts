/**
 * The small part of autobahn (26.x, no shipped types) the benchmark uses, typed here, plus
 * `openSession`: one joined session with a chosen serializer. The same client serves every router
 * so that router figures compare like with like.
 */
import { createRequire } from "node:module"
import type { Serializer } from "./protocol.js"

export interface AutobahnSerializer {
  readonly SERIALIZER_ID: string
}

/** A call's promise; our deferred factory lets a caller attach a progressive-result handler. */
export interface CallPromise<A> extends Promise<A> {
  onProgress?: (result: unknown) => void
}

export interface Session {
  readonly id: number
  readonly isOpen: boolean
  call(procedure: string, args?: ReadonlyArray<unknown>, kwargs?: Record<string, unknown>, options?: Record<string, unknown>): CallPromise<unknown>
  register(
    procedure: string,
    endpoint: (args: ReadonlyArray<unknown>, kwargs: Record<string, unknown>, details: unknown) => unknown,
    options?: Record<string, unknown>
  ): Promise<unknown>
}

interface Connection {
  onopen: (session: Session, details: unknown) => void
  onclose: (reason: string, details: { readonly reason?: string; readonly message?: string }) => boolean
  open(): void
  close(reason?: string, message?: string): void
}

interface Deferred {
  promise: CallPromise<unknown>
  resolve: (value: unknown) => void
  reject: (reason: unknown) => void
  notify: (value: unknown) => void
}

export interface AutobahnModule {
  readonly Connection: new (options: Record<string, unknown>) => Connection
  readonly Result: new (args: ReadonlyArray<unknown>, kwargs: Record<string, unknown>) => { args: Array<unknown>; kwargs: Record<string, unknown> }
  readonly Error: new (error: string, args?: ReadonlyArray<unknown>, kwargs?: Record<string, unknown>) => object
  readonly serializer: {
    readonly JSONSerializer: new () => AutobahnSerializer
    readonly MsgpackSerializer?: new () => AutobahnSerializer
  }
  log: { warn: (...args: ReadonlyArray<unknown>) => void }
}

const require = createRequire(import.meta.url)

/** Loaded lazily: autobahn logs warnings on import when an optional serializer is missing. */
export const loadAutobahn = (): AutobahnModule => require("autobahn") as AutobahnModule

/**
 * Deferreds like autobahn's ES6 factory, plus `notify`: with `use_es6_promises` autobahn calls
 * `d.notify` on a progressive RESULT and that function does not exist, so progressive calls break.
 */
const deferredFactory = (): Deferred => {
  let resolve!: (value: unknown) => void
  let reject!: (reason: unknown) => void
  const promise: CallPromise<unknown> = new Promise<unknown>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject, notify: (value) => promise.onProgress?.(value) }
}

export const serializerFor = (autobahn: AutobahnModule, name: Serializer): AutobahnSerializer => {
  if (name === "json") return new autobahn.serializer.JSONSerializer()
  const Msgpack = autobahn.serializer.MsgpackSerializer
  if (Msgpack === undefined) throw new Error("autobahn's msgpack serializer is unavailable (msgpack5 missing)")
  return new Msgpack()
}

export interface OpenedSession {
  readonly session: Session
  readonly close: () => Promise<void>
}

/** Opens one session and waits for WELCOME; no automatic reconnect (a drop is a benchmark failure). */
export const openSession = (
  url: string,
  realm: string,
  serializer: Serializer,
  timeoutMs = 10_000
): Promise<OpenedSession> => {
  const autobahn = loadAutobahn()
  return new Promise<OpenedSession>((resolve, reject) => {
    let opened = false
    let closed: (() => void) | undefined
    const connection = new autobahn.Connection({
      realm,
      transports: [{ type: "websocket", url, serializers: [serializerFor(autobahn, serializer)] }],
      use_deferred: deferredFactory,
      max_retries: 0,
      retry_if_unreachable: false
    })
    const timer = setTimeout(() => {
      reject(new Error(`no WELCOME from ${url} within ${timeoutMs} ms`))
      try {
        connection.close()
      } catch {
        // not open yet: nothing to close
      }
    }, timeoutMs)
    connection.onopen = (session) => {
      opened = true
      clearTimeout(timer)
      resolve({
        session,
        close: () =>
          new Promise<void>((done) => {
            closed = done
            try {
              connection.close()
            } catch {
              done()
            }
            setTimeout(done, 2_000).unref()
          })
      })
    }
    connection.onclose = (reason, details) => {
      if (!opened) {
        clearTimeout(timer)
        reject(new Error(`connection to ${url} failed: ${reason} ${details.reason ?? ""} ${details.message ?? ""}`.trim()))
      }
      closed?.()
      return true // never reconnect
    }
    connection.open()
  })
}
