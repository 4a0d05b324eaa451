/**
 * A minimal WAMP caller over JSON WebSocket for the ledger tests: progressive results one by one,
 * CANCEL by request id, and leaving abruptly (autobahn-js has no usable progressive-results API with
 * ES6 promises, and cannot drop its connection without GOODBYE).
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import WebSocket from "ws"

const HELLO = 1, WELCOME = 2, ABORT = 3, ERROR = 8, CALL = 48, CANCEL = 49, RESULT = 50

export interface CallHandlers {
  readonly onProgress?: (value: unknown) => void
}

export interface RawCaller {
  /** Sends a CALL; the promise settles with RESULT args[0] or rejects with `{ error, args, kwargs }`. */
  readonly call: (
    procedure: string,
    kwargs: Record<string, unknown>,
    options?: Record<string, unknown>,
    handlers?: CallHandlers
  ) => { readonly requestId: number; readonly result: Promise<unknown> }
  readonly cancel: (requestId: number, mode?: "skip" | "kill" | "killnowait") => void
  /** Drops the TCP connection without GOODBYE (a caller that vanishes). */
  readonly drop: () => void
}

export interface CallFailure {
  readonly error: string
  readonly args: ReadonlyArray<unknown>
  readonly kwargs: Record<string, unknown>
}

/** A caller joined to realm1 at `url`; closed with the scope. */
export const rawCaller = (url: string): Effect.Effect<RawCaller, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<{ socket: WebSocket; caller: RawCaller }, Error>((resume) => {
      const socket = new WebSocket(url, ["wamp.2.json"])
      const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: CallFailure) => void; handlers: CallHandlers }>()
      let next = 1
      const send = (message: ReadonlyArray<unknown>) => socket.send(JSON.stringify(message))
      const caller: RawCaller = {
        call: (procedure, kwargs, options = {}, handlers = {}) => {
          const requestId = next++
          const result = new Promise<unknown>((resolve, reject) => pending.set(requestId, { resolve, reject, handlers }))
          send([CALL, requestId, options, procedure, [], kwargs])
          return { requestId, result }
        },
        cancel: (requestId, mode = "kill") => send([CANCEL, requestId, { mode }]),
        drop: () => socket.terminate()
      }
      socket.on("open", () =>
        send([HELLO, "realm1", {
          roles: { caller: { features: { progressive_call_results: true, call_canceling: true } } }
        }]))
      socket.on("error", (error) => resume(Effect.fail(error)))
      socket.on("message", (data) => {
        const message = JSON.parse(String(data)) as Array<unknown>
        const [type] = message
        if (type === WELCOME) return resume(Effect.succeed({ socket, caller }))
        if (type === ABORT) return resume(Effect.fail(new Error(`ABORT ${JSON.stringify(message)}`)))
        if (type === RESULT) {
          const entry = pending.get(message[1] as number)
          const details = (message[2] ?? {}) as { progress?: boolean }
          const value = (message[3] as Array<unknown> | undefined)?.[0]
          if (entry === undefined) return
          if (details.progress === true) entry.handlers.onProgress?.(value)
          else {
            pending.delete(message[1] as number)
            entry.resolve(value)
          }
        }
        if (type === ERROR && message[1] === CALL) {
          const entry = pending.get(message[2] as number)
          pending.delete(message[2] as number)
          entry?.reject({
            error: message[4] as string,
            args: (message[5] as Array<unknown> | undefined) ?? [],
            kwargs: (message[6] as Record<string, unknown> | undefined) ?? {}
          })
        }
      })
    }).pipe(Effect.timeout("10 seconds"), Effect.mapError((e) => (e instanceof Error ? e : new Error(String(e))))),
    ({ socket }) => Effect.sync(() => socket.terminate())
  ).pipe(Effect.map(({ caller }) => caller))
