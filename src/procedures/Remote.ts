/**
 * A typed WAMP client from procedure and topic contracts, for browsers and Node: it imports only
 * contracts, Effect and the protocol types (no server code, no Node built-in, not even autobahn:
 * the autobahn-js module is passed in, the npm package in Node, the global `autobahn` of
 * `autobahn.min.js` in a browser).
 *
 * ```ts
 * const client = yield* Remote.connect(autobahn, { url, realm: "realm1" })
 * const account = yield* client.call(Ledger.getAccount, { id: 1 })        // Effect<Account, NoSuchAccount | WampError>
 * yield* Stream.runForEach(client.stream(Ledger.history, { account: 1 }), (t) => Console.log(t))  // interrupt = CANCEL
 * for await (const t of client.iterate(Ledger.history, { account: 1 })) {} // break = CANCEL
 * yield* Stream.runForEach(client.subscribe(Ledger.onTransfer), (t) => Console.log(t))
 * ```
 *
 * Errors the contract declares come back as their tagged error classes (matched by URI); any other
 * error is a `WampError`. Every call's options pass through (`callOptions` in `connect`/`make`
 * adds options to every call, e.g. trace context).
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import * as SchemaAST from "effect/SchemaAST"
import * as Stream from "effect/Stream"
import type * as Scope from "effect/Scope"
import { WampError, wampError } from "../layers/wamp/Protocol.js"
import { Uri, WampgresUri } from "../wamp/uris.js"
import type { Contract, Topic } from "./Contract.js"

/** A call's pending answer as autobahn returns it, with `cancel` and (with `progressDeferred`) progress. */
export interface PendingCall extends PromiseLike<unknown> {
  cancel?: (options?: { readonly mode?: string }) => void
  onProgress?: (listener: (value: unknown) => void) => void
}

/** The parts of an autobahn-js session this client uses. */
export interface AutobahnSession {
  readonly isOpen?: boolean
  call(procedure: string, args?: Array<unknown>, kwargs?: Record<string, unknown>, options?: Record<string, unknown>): PendingCall
  subscribe(
    topic: string,
    handler: (args: Array<unknown> | undefined, kwargs: Record<string, unknown> | undefined, details: unknown) => void,
    options?: Record<string, unknown>
  ): PromiseLike<unknown>
  unsubscribe(subscription: unknown): PromiseLike<unknown>
}

export interface AutobahnConnection {
  onopen: ((session: AutobahnSession, details: unknown) => void) | null
  onclose: ((reason: string, details: { readonly reason?: string; readonly message?: string }) => boolean | void) | null
  open(): void
  close(): void
}

/** The autobahn-js module: the npm package's default export in Node, `window.autobahn` in a browser. */
export interface AutobahnModule {
  readonly Connection: new(options: Record<string, unknown>) => AutobahnConnection
  /** `autobahn.Result`: a result with kwargs or several positional values. */
  readonly Result: new(...args: Array<never>) => { readonly args: Array<unknown>; readonly kwargs: Record<string, unknown> }
}

/** Options added to every call (e.g. trace context); a function is asked at each call. */
export type CallOptions = Record<string, unknown> | (() => Record<string, unknown>)

export interface RemoteClient {
  /** The session calls go through (changes on reconnect). */
  readonly session: () => AutobahnSession
  /** Calls a procedure: typed input, result and declared errors. */
  readonly call: <I, O, E>(contract: Contract<I, O, E>, input: I, options?: Record<string, unknown>) => Effect.Effect<O, E | WampError>
  /**
   * Calls a streaming procedure with `receive_progress`: its progressive results, decoded; the
   * stream ends with the final result. Interrupting the stream sends CANCEL (mode kill: autobahn keeps the call until its final answer, so progressive results already on the way are not protocol violations).
   */
  readonly stream: <I, O, E, P>(
    contract: Contract<I, O, E> & { readonly progress: Schema.Codec<P, unknown, never, never> },
    input: I,
    options?: Record<string, unknown>
  ) => Stream.Stream<P, E | WampError>
  /** `stream` for code without Effect: leaving the loop early (break, throw) sends CANCEL. */
  readonly iterate: <I, O, E, P>(
    contract: Contract<I, O, E> & { readonly progress: Schema.Codec<P, unknown, never, never> },
    input: I,
    options?: Record<string, unknown>
  ) => AsyncIterable<P>
  /** A topic's events, decoded (an event that does not match the Schema is skipped); unsubscribes when the stream ends. */
  readonly subscribe: <T>(topic: Topic<T>, options?: Record<string, unknown>) => Stream.Stream<T, WampError>
}

/**
 * autobahn's deferred factory (`use_deferred`) with progressive results: autobahn calls `notify`
 * for each one (its ES6 deferred has none), and the pending call's `onProgress` receives them.
 */
export const progressDeferred = () => {
  const listeners: Array<(value: unknown) => void> = []
  let resolve!: (value: unknown) => void
  let reject!: (reason: unknown) => void
  const promise = Object.assign(
    new Promise<unknown>((ok, fail) => {
      resolve = ok
      reject = fail
    }),
    { onProgress: (listener: (value: unknown) => void) => void listeners.push(listener) }
  )
  return { promise, resolve, reject, notify: (value: unknown) => listeners.forEach((listener) => listener(value)) }
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null

/** An autobahn rejection (an `autobahn.Error`, a thrown string, an Error) as a `WampError`. */
export const toWampError = (cause: unknown): WampError => {
  if (cause instanceof WampError) return cause
  if (isRecord(cause) && typeof cause["error"] === "string") {
    const args = Array.isArray(cause["args"]) ? cause["args"] : []
    const kwargs = isRecord(cause["kwargs"]) ? cause["kwargs"] : {}
    return new WampError({ error: cause["error"], args, kwargs, message: typeof args[0] === "string" ? args[0] : cause["error"] })
  }
  if (cause instanceof Error && cause.message === "Cancelled") return wampError(Uri.canceled, "call canceled by the caller")
  return wampError(WampgresUri.session, cause instanceof Error ? cause.message : String(cause))
}

/** The `_tag` literal of a TaggedError class, read from its encoded form (WAMP kwargs do not carry it). */
const tagOf = (schema: Schema.Top): string | undefined => {
  const encoded = SchemaAST.toEncoded(schema.ast)
  if (!SchemaAST.isObjects(encoded)) return undefined
  const signature = encoded.propertySignatures.find((property) => property.name === "_tag")
  return signature !== undefined && SchemaAST.isLiteral(signature.type) && typeof signature.type.literal === "string"
    ? signature.type.literal
    : undefined
}

/** A WAMP error with a declared URI becomes the typed error; other errors stay `WampError`. */
export const decodeError = <I, O, E>(contract: Contract<I, O, E>) => (error: WampError): Effect.Effect<never, E | WampError> => {
  const declared = contract.errors.find((schema) => schema.uri === error.error)
  if (declared === undefined) return Effect.fail(error)
  return Schema.decodeUnknownEffect(declared)({ ...error.kwargs, _tag: tagOf(declared), message: error.args[0] }, {
    onExcessProperty: "ignore"
  }).pipe(
    Effect.matchEffect({
      onFailure: () => Effect.fail(error),
      onSuccess: (typed) => Effect.fail(typed)
    })
  )
}

const decodeWith = <A>(schema: Schema.Codec<A, unknown, never, never>, what: string) => {
  const decode = Schema.decodeUnknownEffect(schema)
  return (value: unknown): Effect.Effect<A, WampError> =>
    Effect.mapError(decode(value), (error) => wampError(WampgresUri.invalidResult, `${what}: ${error.message}`))
}

const encodeInput = <I, O, E>(contract: Contract<I, O, E>, input: I): Effect.Effect<Record<string, unknown>, WampError> =>
  Schema.encodeUnknownEffect(contract.input)(input).pipe(
    Effect.map((kwargs) => (isRecord(kwargs) ? kwargs : {})),
    Effect.mapError((error) => wampError(Uri.invalidArgument, `${contract.uri}: ${error.message}`))
  )

/** A typed client over an autobahn session (streaming needs the connection's `use_deferred: progressDeferred`). */
export const make = (
  autobahn: AutobahnModule,
  session: () => AutobahnSession,
  callOptions: CallOptions = {},
  /** True once the connection is closing: no more requests (autobahn would never answer them). */
  closing: () => boolean = () => false
): RemoteClient => {
  const optionsOf = (options: Record<string, unknown> | undefined) => ({
    ...(typeof callOptions === "function" ? callOptions() : callOptions),
    ...options
  })
  /** args[0] of a result (autobahn hands a single positional value over as is). */
  const firstArg = (value: unknown): unknown => value instanceof autobahn.Result ? value.args[0] : value

  /**
   * Starts a call; a synchronous throw (e.g. "session not open") becomes a rejected call. Once the
   * connection is closing, a call would be sent while the session waits for its GOODBYE and never be
   * answered: it is refused at once instead.
   */
  const start = (uri: string, kwargs: Record<string, unknown>, options: Record<string, unknown>): PendingCall => {
    if (closing()) return Promise.reject(new Error("session not open"))
    try {
      return session().call(uri, [], kwargs, options)
    } catch (cause) {
      return Promise.reject(cause)
    }
  }

  const call = <I, O, E>(contract: Contract<I, O, E>, input: I, options?: Record<string, unknown>): Effect.Effect<O, E | WampError> =>
    Effect.gen(function*() {
      const kwargs = yield* encodeInput(contract, input)
      const result = yield* Effect.callback<unknown, WampError>((resume) => {
        const pending = start(contract.uri, kwargs, optionsOf(options))
        pending.then((value) => resume(Effect.succeed(value)), (cause) => resume(Effect.fail(toWampError(cause))))
        return Effect.sync(() => pending.cancel?.({ mode: "kill" }))
      })
      return yield* decodeWith(contract.output, `${contract.uri} result`)(firstArg(result))
    }).pipe(Effect.catchTag("WampError", decodeError(contract)))

  const stream = <I, O, E, P>(
    contract: Contract<I, O, E> & { readonly progress: Schema.Codec<P, unknown, never, never> },
    input: I,
    options?: Record<string, unknown>
  ): Stream.Stream<P, E | WampError> =>
    Stream.callback<unknown, WampError>((queue) =>
      Effect.gen(function*() {
        const kwargs = yield* encodeInput(contract, input)
        let done = false
        const pending = start(contract.uri, kwargs, { ...optionsOf(options), receive_progress: true })
        pending.onProgress?.((value) => void Queue.offerUnsafe(queue, firstArg(value)))
        pending.then(
          () => {
            done = true
            Queue.endUnsafe(queue)
          },
          (cause) => {
            done = true
            Queue.failCauseUnsafe(queue, Cause.fail(toWampError(cause)))
          }
        )
        // the stream ended early (interrupted, or its reader stopped): CANCEL the call
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => {
            if (!done) pending.cancel?.({ mode: "kill" })
          })
        )
      })
    ).pipe(
      Stream.mapEffect(decodeWith(contract.progress, `${contract.uri} progressive result`)),
      Stream.catchTag("WampError", (error: WampError) => Stream.fromEffect(decodeError(contract)(error)))
    )

  const subscribe = <T>(topic: Topic<T>, options?: Record<string, unknown>): Stream.Stream<T, WampError> => {
    const decode = Schema.decodeUnknownOption(topic.payload)
    return Stream.callback<T, WampError>((queue) =>
      Effect.acquireRelease(
        Effect.tryPromise({
          try: () =>
            Promise.resolve(session().subscribe(topic.uri, (args) => {
              const event = decode(args?.[0])
              if (event._tag === "Some") Queue.offerUnsafe(queue, event.value)
            }, options)),
          catch: toWampError
        }),
        // autobahn never settles a request whose connection closed: unsubscribe only while open, bounded
        (subscription) =>
          closing() || session().isOpen === false
            ? Effect.void
            : Effect.promise(() => Promise.resolve(session().unsubscribe(subscription)).catch(() => undefined)).pipe(
              Effect.timeoutOption("5 seconds")
            )
      )
    )
  }

  return {
    session,
    call,
    stream,
    iterate: (contract, input, options) => Stream.toAsyncIterable(stream(contract, input, options)),
    subscribe
  }
}

export interface ConnectOptions {
  readonly url: string
  readonly realm: string
  /** Options added to every call (e.g. trace context). */
  readonly callOptions?: CallOptions
  /** Further autobahn `Connection` options (serializers, max_retries, authmethods, ...). */
  readonly connection?: Record<string, unknown>
}

/**
 * Opens an autobahn connection for the scope and joins the realm: the client follows the session
 * across reconnects; the connection closes with the scope.
 */
export const connect = (autobahn: AutobahnModule, options: ConnectOptions): Effect.Effect<RemoteClient, WampError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<{ connection: AutobahnConnection; current: { session: AutobahnSession; closing: boolean } }, WampError>((resume) => {
      const connection = new autobahn.Connection({
        url: options.url,
        realm: options.realm,
        use_deferred: progressDeferred,
        max_retries: 0,
        ...options.connection
      })
      let current: { session: AutobahnSession; closing: boolean } | undefined
      connection.onopen = (session) => {
        if (current !== undefined) {
          current.session = session
          return
        }
        current = { session, closing: false }
        resume(Effect.succeed({ connection, current }))
      }
      connection.onclose = (reason, details) => {
        if (current === undefined) resume(Effect.fail(wampError(WampgresUri.notConnected, `cannot join ${options.realm} at ${options.url}: ${details?.message ?? details?.reason ?? reason}`)))
        return false
      }
      connection.open()
    }),
    ({ connection, current }) =>
      Effect.sync(() => {
        current.closing = true
        try {
          connection.close()
        } catch {
          // already closed
        }
      })
  ).pipe(Effect.map(({ current }) => make(autobahn, () => current.session, options.callOptions, () => current.closing)))
