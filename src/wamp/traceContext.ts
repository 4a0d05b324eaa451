/**
 * Trace context carried in WAMP messages. The WAMP specification lets peers add custom attributes
 * to a message's options or details when their key starts with an underscore; wampgres carries a
 * W3C `traceparent` under `_traceparent` in CALL.Options (caller → router) and INVOCATION.Details
 * (router → callee), so one trace runs from the caller through the router into the procedure.
 */

/** The custom option / detail key (underscore-prefixed, as the spec asks of custom attributes). */
export const TRACEPARENT = "_traceparent"

/** A span a trace continues from. */
export interface TraceParent {
  /** 32 lowercase hex digits, not all zero. */
  readonly traceId: string
  /** 16 lowercase hex digits, not all zero. */
  readonly spanId: string
  readonly sampled: boolean
}

const FORMAT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/
const ZERO_TRACE = "0".repeat(32)
const ZERO_SPAN = "0".repeat(16)

/** Reads a `traceparent` (version 00); anything else, from any peer, is ignored (undefined). */
export const parseTraceparent = (value: unknown): TraceParent | undefined => {
  if (typeof value !== "string" || value.length !== 55) return undefined
  const match = FORMAT.exec(value)
  if (match === null) return undefined
  const [, traceId, spanId, flags] = match as unknown as [string, string, string, string]
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined
  return { traceId, spanId, sampled: (Number.parseInt(flags, 16) & 1) === 1 }
}

/** Writes a `traceparent` (version 00). */
export const formatTraceparent = (traceId: string, spanId: string, sampled: boolean): string =>
  `00-${traceId.padStart(32, "0")}-${spanId}-${sampled ? "01" : "00"}`
