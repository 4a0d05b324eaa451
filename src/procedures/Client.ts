/**
 * Typed clients from procedure contracts: `Client.call(getAccount, { id: 1 })` calls the
 * procedure through the `WampSession` (the contract alone is enough: no handler, no SQL), sends the input encoded as kwargs, decodes the result with
 * the declared Schema and turns declared error URIs back into the typed errors.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Tracer from "effect/Tracer"
import { WampSession } from "../layers/WampSession.js"
import { type Payload, WampError, wampError } from "../layers/wamp/Protocol.js"
import type { Contract } from "./Contract.js"
import { describeSchemaError } from "./invoke.js"
import * as Remote from "./Remote.js"
import { formatTraceparent, TRACEPARENT } from "../wamp/traceContext.js"
import { Uri, WampgresUri } from "../wamp/uris.js"

/** The WAMP error for a result that does not match the declared result Schema. */
export const invalidResultUri = WampgresUri.invalidResult

/** Decodes a RESULT payload (args[0]) or an ERROR into the procedure's types. */
export const decodeResult = <I, O, E>(procedure: Contract<I, O, E>) => {
  const decodeOutput = Schema.decodeUnknownEffect(procedure.output)
  return (payload: Payload): Effect.Effect<O, WampError> =>
    Effect.mapError(
      decodeOutput(payload.args[0]),
      (error) => wampError(invalidResultUri, `${procedure.uri} result: ${describeSchemaError(error)}`)
    )
}

/** A WAMP error with a declared URI becomes the typed error (shared with the browser client). */
export const decodeError = Remote.decodeError

/**
 * The call's options with the current span's trace context as `_traceparent` (WAMP's rule for
 * custom attributes: an underscore-prefixed key), when the span is part of an exported trace.
 */
const withTraceContext = (options: Record<string, unknown> | undefined) =>
  Effect.map(Effect.option(Effect.currentSpan), (span) =>
    span._tag === "None" || Context.get(span.value.annotations, Tracer.DisablePropagation)
      ? options
      : { ...options, [TRACEPARENT]: formatTraceparent(span.value.traceId, span.value.spanId, span.value.sampled) })

/** Calls a procedure with typed input, result and errors; in a client span that the call continues. */
export const call = <I, O, E>(
  procedure: Contract<I, O, E>,
  input: I,
  options?: Record<string, unknown>
): Effect.Effect<O, E | WampError, WampSession> => {
  const encodeInput = Schema.encodeUnknownEffect(procedure.input)
  return Effect.gen(function*() {
    const session = yield* WampSession
    const kwargs = yield* Effect.mapError(
      encodeInput(input),
      (error) => wampError(Uri.invalidArgument, `${procedure.uri}: ${describeSchemaError(error)}`)
    )
    const payload = yield* session.call(procedure.uri, { kwargs: isRecord(kwargs) ? kwargs : {} }, yield* withTraceContext(options))
    return yield* decodeResult(procedure)(payload)
  }).pipe(
    Effect.catchTag("WampError", (error: WampError) => decodeError(procedure)(error)),
    Effect.withSpan(procedure.uri, { kind: "client" })
  )
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null

/** A fresh idempotency key (a random UUID) for one state-changing call and its retries. */
export const idempotencyKey = (): string => globalThis.crypto.randomUUID()

/**
 * Failures after which a call may or may not have been done (no answer, connection lost, database
 * gone mid-commit) or was surely not done (no callee registered during a failover): safe to retry
 * with the same idempotency key.
 */
const retryable: ReadonlySet<string> = new Set([
  WampgresUri.timeout,
  WampgresUri.notConnected,
  WampgresUri.session,
  WampgresUri.database,
  Uri.canceled,
  Uri.noSuchProcedure,
  Uri.unavailable
])

export const isRetryable = (error: unknown): error is WampError => error instanceof WampError && retryable.has(error.error)

/**
 * Calls a procedure that takes `idempotency_key` with a new key (or `options.key`), and calls again
 * with the same key after a retryable failure, at most `options.retries` times (default 5): the work
 * is done once, the result is the first call's.
 */
export const callIdempotent = <I extends { readonly idempotency_key?: string | undefined }, O, E>(
  procedure: Contract<I, O, E>,
  input: Omit<I, "idempotency_key">,
  options: { readonly key?: string; readonly retries?: number; readonly call?: Record<string, unknown> } = {}
): Effect.Effect<O, E | WampError, WampSession> => {
  const keyed = { ...input, idempotency_key: options.key ?? idempotencyKey() } as unknown as I
  return call(procedure, keyed, options.call).pipe(
    Effect.retry({
      while: isRetryable,
      times: options.retries ?? 5,
      schedule: Schedule.exponential("100 millis").pipe(Schedule.jittered)
    })
  )
}
