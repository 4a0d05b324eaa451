/**
 * What a WAMP session exchanges with the code that uses it: payloads, the invocation a handler
 * gets, registration options, and the `WampError` every failure becomes. Types and one error class
 * only (no autobahn, no Node): procedure contracts import it, and so can a browser client.
 */
import type * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { InvokePolicy, MatchPolicy } from "../../wamp/types.js"

/** A WAMP error: a failure a peer reported with an error URI, or a local one under `wampgres.error.*`. */
export class WampError extends Schema.TaggedError<WampError>()("WampError", {
  /** The WAMP error URI, e.g. `wamp.error.no_such_procedure`. */
  error: Schema.String,
  args: Schema.Array(Schema.Unknown),
  kwargs: Schema.Record(Schema.String, Schema.Unknown),
  message: Schema.String
}) {}

/** A WAMP error with a human-readable message as its first positional argument (the usual convention). */
export const wampError = (error: string, message: string, kwargs: Record<string, unknown> = {}): WampError =>
  new WampError({ error, args: [message], kwargs, message })

/** Positional and keyword payload of a RESULT, YIELD or EVENT. */
export interface Payload {
  readonly args: ReadonlyArray<unknown>
  readonly kwargs: Readonly<Record<string, unknown>>
}

/** What a procedure handler gets for one INVOCATION. */
export interface InvocationRequest extends Payload {
  /** The procedure URI called (for pattern registrations: the concrete URI). */
  readonly procedure: string
  /** Caller identification, when disclosed. */
  readonly caller: number | undefined
  readonly callerAuthid: string | undefined
  readonly callerAuthrole: string | undefined
  /** Present when the caller asked for progressive results: sends one progressive YIELD. */
  readonly progress: ((payload: Payload) => Effect.Effect<void>) | undefined
  /** Bytes queued on the WebSocket and not yet sent: pace progressive results by it. */
  readonly bufferedAmount: () => number
}

/** Registration options as WAMP defines them (`match`, `invoke`, `disclose_caller`, ...). */
export interface RegisterOptions {
  readonly match?: MatchPolicy
  readonly invoke?: InvokePolicy
  readonly disclose_caller?: boolean
  readonly [option: string]: unknown
}

/**
 * One procedure as the session sees it: a URI, options, and a handler whose fibers run with
 * `context` (the services it requires, `R`): a group passes its services once instead of providing
 * them to every call (a context merge per INVOCATION).
 */
export interface Registration<R = never> {
  readonly uri: string
  readonly options?: RegisterOptions | undefined
  /** Fails only with `WampError`, which becomes the ERROR sent back to the caller. */
  readonly handler: (request: InvocationRequest) => Effect.Effect<Payload, WampError, R>
  readonly context: Context.Context<R>
}

export interface EventMessage extends Payload {
  readonly topic: string
  readonly publication: number
  readonly publisher: number | undefined
}
