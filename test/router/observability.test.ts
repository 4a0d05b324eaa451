/**
 * The router's observability: `/health` on web transports, Prometheus metrics on a configured
 * `metrics` path (sessions by realm, messages by type, calls by procedure and outcome with a
 * latency histogram), and a span per call whose trace context reaches the callee as the
 * INVOCATION's `_traceparent` detail, continuing the caller's `_traceparent` option.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { type RunningRouter, startRouter } from "../../src/router/index.js"
import { MAX_PROCEDURE_LABELS, RouterMetrics } from "../../src/router/metrics.js"
import { type CallTracer, fromEffectTracer } from "../../src/router/tracing.js"
import * as Clock from "effect/Clock"
import * as Tracer from "effect/Tracer"
import type { RouterConfig } from "../../src/router/types.js"
import { parseTraceparent } from "../../src/wamp/traceContext.js"
import { openRealm, promise, raw, websocketOptions } from "./support.js"

const CALL = 48, RESULT = 50, ERROR = 8, REGISTER = 64, REGISTERED = 65, INVOCATION = 68, YIELD = 70

const webConfig: RouterConfig = {
  realms: [openRealm],
  transports: [{
    type: "web",
    endpoint: { port: 0, interface: "127.0.0.1" },
    paths: new Map([["/ws", { type: "websocket", options: websocketOptions() }], ["/metrics", { type: "metrics" }]])
  }]
}

interface Recorded {
  readonly procedure: string
  readonly parent: unknown
  readonly traceparent: string
  outcome: string | undefined
}

const recorder = () => {
  const spans: Array<Recorded> = []
  let n = 0
  const tracer: CallTracer = {
    start(procedure, _session, _authid, _request, parent) {
      n++
      const span: Recorded = {
        procedure,
        parent,
        traceparent: `00-${"a".repeat(32)}-${n.toString(16).padStart(16, "0")}-01`,
        outcome: undefined
      }
      spans.push(span)
      return { traceparent: span.traceparent, end: (outcome) => void (span.outcome = outcome) }
    }
  }
  return { spans, tracer }
}

const running = (tracer?: CallTracer) =>
  Effect.acquireRelease(
    Effect.promise(() => startRouter(webConfig, { tracer })),
    (r: RunningRouter) => Effect.promise(() => r.close())
  )

const base = (r: RunningRouter) => `http://127.0.0.1:${r.listening[0]!.port}`

const scrape = (r: RunningRouter) => promise(() => fetch(`${base(r)}/metrics`).then((res) => res.text()))

/** The value of one sample line, 0 when absent. */
const sample = (text: string, series: string): number => {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `))
  return line === undefined ? 0 : Number(line.slice(series.length + 1))
}

/** A callee registered for `procedure` that answers every INVOCATION (errors for args ["fail"]). */
const callee = (url: string, procedure: string) =>
  Effect.gen(function*() {
    const client = yield* raw(url)
    yield* promise(() => client.hello())
    client.send([REGISTER, 1, {}, procedure])
    expect((yield* promise(() => client.next()))[0]).toBe(REGISTERED)
    const invocations: Array<Array<unknown>> = []
    const answer = async (): Promise<void> => {
      for (;;) {
        const m = await client.next(60_000).catch(() => undefined)
        if (m === undefined) return
        if (m[0] !== INVOCATION) continue
        invocations.push(m)
        const args = m[4] as Array<unknown> | undefined
        client.send(args?.[0] === "fail" ? [ERROR, INVOCATION, m[1], {}, "com.example.failed"] : [YIELD, m[1], {}, ["ok"]])
      }
    }
    void answer()
    return invocations
  })

describe("router observability", () => {
  it.live("counts each EVENT sent, once per receiver, and each PUBLISH received", () =>
    Effect.gen(function*() {
      const r = yield* running()
      const subscribers = [yield* raw(r.url), yield* raw(r.url)]
      for (const s of subscribers) {
        yield* promise(() => s.hello())
        s.send([32, 1, {}, "com.example.counted"])
        expect((yield* promise(() => s.next()))[0]).toBe(33)
      }
      const publisher = yield* raw(r.url)
      yield* promise(() => publisher.hello())
      const before = yield* scrape(r)
      for (let i = 0; i < 3; i++) publisher.send([16, i + 1, {}, "com.example.counted", [i]])
      for (const s of subscribers) {
        for (let i = 0; i < 3; i++) expect((yield* promise(() => s.next(10_000)))[4]).toEqual([i])
      }
      const after = yield* scrape(r)
      const delta = (series: string) => sample(after, series) - sample(before, series)
      expect(delta(`wampgres_router_messages_sent_total{type="EVENT"}`)).toBe(6)
      expect(delta(`wampgres_router_messages_received_total{type="PUBLISH"}`)).toBe(3)
    }).pipe(Effect.scoped))

  it.live("answers /health on a web transport", () =>
    Effect.gen(function*() {
      const r = yield* running()
      const res = yield* promise(() => fetch(`${base(r)}/health`))
      expect(res.status).toBe(200)
      expect(yield* promise(() => res.text())).toBe("ok\n")
    }).pipe(Effect.scoped))

  it.live("counts calls, errors, messages and sessions exactly", () =>
    Effect.gen(function*() {
      const r = yield* running()
      yield* callee(r.url, "com.example.echo")
      const caller = yield* raw(r.url)
      yield* promise(() => caller.hello())
      const before = yield* scrape(r)
      const calls = 7, errors = 3
      for (let i = 0; i < calls + errors; i++) {
        caller.send([CALL, i + 1, {}, "com.example.echo", [i < calls ? "hi" : "fail"]])
        const answer = yield* promise(() => caller.next(10_000))
        expect(answer[0]).toBe(i < calls ? RESULT : ERROR)
      }
      caller.send([CALL, 99, {}, "com.example.nobody"])
      expect((yield* promise(() => caller.next()))[0]).toBe(ERROR)
      const after = yield* scrape(r)
      const delta = (series: string) => sample(after, series) - sample(before, series)
      expect(delta(`wampgres_router_calls_total{procedure="com.example.echo",outcome="ok"}`)).toBe(calls)
      expect(delta(`wampgres_router_calls_total{procedure="com.example.echo",outcome="error"}`)).toBe(errors)
      expect(delta(`wampgres_router_calls_total{procedure="com.example.nobody",outcome="rejected"}`)).toBe(1)
      expect(delta(`wampgres_router_call_duration_seconds_count{procedure="com.example.echo"}`)).toBe(calls + errors)
      expect(delta(`wampgres_router_call_duration_seconds_bucket{procedure="com.example.echo",le="+Inf"}`)).toBe(calls + errors)
      // seconds, measured from each CALL to its answer: positive, and far below a minute in all
      const seconds = delta(`wampgres_router_call_duration_seconds_sum{procedure="com.example.echo"}`)
      expect(seconds).toBeGreaterThan(0)
      expect(seconds).toBeLessThan(60)
      expect(delta(`wampgres_router_messages_received_total{type="CALL"}`)).toBe(calls + errors + 1)
      expect(delta(`wampgres_router_messages_sent_total{type="RESULT"}`)).toBe(calls)
      expect(delta(`wampgres_router_messages_sent_total{type="INVOCATION"}`)).toBe(calls + errors)
      expect(sample(after, `wampgres_router_sessions{realm="realm1"}`)).toBe(2)
      expect(after).toContain("# TYPE wampgres_router_call_duration_seconds histogram")
    }).pipe(Effect.scoped))

  it.live("continues the caller's trace and hands the router span to the callee", () =>
    Effect.gen(function*() {
      const { spans, tracer } = recorder()
      const r = yield* running(tracer)
      const invocations = yield* callee(r.url, "com.example.echo")
      const caller = yield* raw(r.url)
      yield* promise(() => caller.hello())
      const incoming = `00-${"1".repeat(32)}-${"2".repeat(16)}-01`
      caller.send([CALL, 1, { _traceparent: incoming }, "com.example.echo", ["hi"]])
      expect((yield* promise(() => caller.next(10_000)))[0]).toBe(RESULT)
      caller.send([CALL, 2, { _traceparent: "garbage" }, "com.example.echo", ["fail"]])
      expect((yield* promise(() => caller.next(10_000)))[0]).toBe(ERROR)
      expect(spans.map((s) => [s.procedure, s.parent, s.outcome])).toEqual([
        ["com.example.echo", incoming, "ok"],
        ["com.example.echo", "garbage", "error"]
      ])
      const details = invocations.map((m) => (m[3] as Record<string, unknown>)["_traceparent"])
      expect(details).toEqual(spans.map((s) => s.traceparent))
      expect(parseTraceparent(details[0])).toBeDefined()
    }).pipe(Effect.scoped))

  it.live("without a tracer the INVOCATION carries no trace context", () =>
    Effect.gen(function*() {
      const r = yield* running()
      const invocations = yield* callee(r.url, "com.example.echo")
      const caller = yield* raw(r.url)
      yield* promise(() => caller.hello())
      caller.send([CALL, 1, { _traceparent: `00-${"1".repeat(32)}-${"2".repeat(16)}-01` }, "com.example.echo"])
      expect((yield* promise(() => caller.next(10_000)))[0]).toBe(RESULT)
      expect(invocations[0]![3]).toEqual({})
    }).pipe(Effect.scoped))

  it("bounds the procedure labels", () => {
    const metrics = new RouterMetrics()
    for (let i = 0; i < MAX_PROCEDURE_LABELS + 50; i++) metrics.rejected(`com.example.p${i}`)
    const text = metrics.render([])
    const labels = new Set([...text.matchAll(/procedure="([^"]+)"/g)].map((m) => m[1]))
    expect(labels.size).toBe(MAX_PROCEDURE_LABELS + 1)
    expect(sample(text, `wampgres_router_calls_total{procedure="_other",outcome="rejected"}`)).toBe(50)
  })

  it("with an Effect tracer: new traces kept for the configured share, a caller's flag kept as sent", () => {
    const made: Array<Tracer.Span> = []
    const tracer = Tracer.make({
      span(options) {
        const span = Tracer.nativeTracer.span(options)
        made.push(span)
        return span
      }
    })
    const nanos = { currentTimeMillisUnsafe: () => 0, currentTimeNanosUnsafe: () => 1_000_000n } as unknown as Clock.Clock
    const none = fromEffectTracer(tracer, nanos, 0)
    const all = fromEffectTracer(tracer, nanos, 1)
    const fresh = none.start("com.example.p", 1, "a", 1, undefined)
    expect(parseTraceparent(fresh.traceparent)?.sampled).toBe(false)
    expect(parseTraceparent(all.start("com.example.p", 1, "a", 2, undefined).traceparent)?.sampled).toBe(true)
    const kept = `00-${"1".repeat(32)}-${"2".repeat(16)}-01`
    const continued = parseTraceparent(none.start("com.example.p", 1, "a", 3, kept).traceparent)
    expect(continued).toMatchObject({ traceId: "1".repeat(32), sampled: true })
    const dropped = `00-${"1".repeat(32)}-${"2".repeat(16)}-00`
    expect(parseTraceparent(all.start("com.example.p", 1, "a", 4, dropped).traceparent)?.sampled).toBe(false)
    fresh.end("ok")
    expect(made.map((s) => s.sampled)).toEqual([false, true, true, false])
    expect(made[0]!.status._tag).toBe("Ended")
  })
})
