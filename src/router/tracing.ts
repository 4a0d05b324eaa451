/**
 * The router's span recorder: one span per call, from CALL received to the caller's answer sent.
 * The router stays plain synchronous code; when tracing is off it holds no recorder and a call
 * pays a single `undefined` check. When on, spans go to an Effect `Tracer` (the OTLP exporter of
 * the process), continuing the caller's trace when its CALL carries `_traceparent`, and the
 * INVOCATION carries the router span's own `traceparent` on to the callee.
 */
import type * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"
import { formatTraceparent, parseTraceparent } from "../wamp/traceContext.js"

/** One call's span. */
export interface CallSpan {
  /** The W3C traceparent naming this span, sent on in INVOCATION.Details. */
  readonly traceparent: string
  /** Ends the span with the call's outcome ("ok", "error", "canceled", "timeout"). */
  end(outcome: string): void
}

export interface CallTracer {
  /** Starts a call's span; `traceparent` is the caller's `_traceparent` option, unchecked. */
  start(procedure: string, session: number, authid: string, request: number, traceparent: unknown): CallSpan
}

/**
 * A recorder whose spans are made and exported by an Effect `Tracer` (e.g. `OtlpTracer`), timed
 * by Effect's `clock` so that they line up with the component's spans in the same process. New
 * traces are kept for a share `ratio` of calls (OpenTelemetry's parent-based ratio sampling).
 */
export const fromEffectTracer = (tracer: Tracer.Tracer, clock: Clock.Clock, ratio = 1): CallTracer => {
  const nowNanos = () => clock.currentTimeNanosUnsafe()
  return {
    start(procedure, session, authid, request, traceparent) {
      const parent = parseTraceparent(traceparent)
      const span = tracer.span({
        name: procedure,
        parent: parent === undefined ? Option.none() : Option.some(Tracer.externalSpan(parent)),
        annotations: Context.empty(),
        links: [],
        startTime: nowNanos(),
        kind: "server",
        root: parent === undefined,
        // a caller's trace keeps its flag; a new one is kept for a share `ratio` (the flag travels on)
        sampled: parent?.sampled ?? (ratio >= 1 || Math.random() < ratio)
      })
      span.attribute("rpc.system", "wamp")
      span.attribute("wamp.role", "router")
      span.attribute("wamp.procedure", procedure)
      span.attribute("wamp.session", session)
      span.attribute("wamp.authid", authid)
      span.attribute("wamp.request", request)
      return {
        traceparent: formatTraceparent(span.traceId, span.spanId, span.sampled),
        end(outcome) {
          span.attribute("wamp.outcome", outcome)
          span.end(nowNanos(), outcome === "ok" ? Exit.void : Exit.fail(outcome))
        }
      }
    }
  }
}
