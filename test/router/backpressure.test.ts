/**
 * Backpressure for progressive results: a callee streaming large progressive YIELDs to a caller
 * that does not read is no longer read by the router once the caller's unsent bytes pass the
 * high-water mark (TCP then pushes back on the callee, whose own bufferedAmount grows), so the
 * router's buffer toward the caller stays bounded and the caller is not dropped; the callee is
 * read again when the caller drains, cancels or leaves, or when the pause limit (the slow caller
 * timeout) passes, which cancels the caller's call. The tests of the pause itself set a long
 * limit (30 s), so that the default of 1 s does not cancel the call while they look.
 *
 * The router runs as one transport over a realm this test holds, so that it can look at the
 * router-side sessions (their unsent bytes, whether they are paused). The router's own figures are
 * never the only evidence: the callee's socket shows how much of the stream the router took (its
 * client library's bufferedAmount, against the bytes the callee wrote), and the caller's socket that
 * it stayed connected and got every result in order (an unpaced router would have buffered the whole
 * stream toward it and dropped it at 16 maximum-size messages).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { Realm } from "../../src/router/realm.js"
import type { Session } from "../../src/router/session.js"
import { flowControl, type FlowControl } from "../../src/router/session.js"
import { startTransport } from "../../src/router/transport.js"
import type { Transport } from "../../src/router/types.js"
import { openRealm, promise, raw, type RawClient, websocketOptions } from "./support.js"

const CALL = 48, CANCEL = 49, RESULT = 50, ERROR = 8, REGISTER = 64, REGISTERED = 65
const INVOCATION = 68, INTERRUPT = 69, YIELD = 70

/** A pause limit longer than any of these tests: they observe the pause itself. */
const PATIENT: Partial<FlowControl> = { pauseLimitMs: 30_000 }

/** A small maximum message size: the router drops a peer with 16 x this unsent (2 MiB). */
const MAX_MESSAGE_SIZE = 128 * 1024
const DROP_LIMIT = 16 * MAX_MESSAGE_SIZE
const HIGH_WATER = flowControl(MAX_MESSAGE_SIZE).highWaterMark
/** Progressive results: 400 of ~60 KB, 24 MB in all, more than the loopback socket buffers hold. */
const CHUNKS = 400
const PAYLOAD = "x".repeat(60_000)
const PROCEDURE = "com.example.stream"

/** A router on an ephemeral port whose realm (and so its sessions) the test can inspect. */
const router = (flow?: Partial<FlowControl>, logged?: Array<string>) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const realm = new Realm(openRealm)
      const transport: Transport = {
        type: "websocket",
        endpoint: { port: 0, interface: "127.0.0.1" },
        options: websocketOptions({ maxMessageSize: MAX_MESSAGE_SIZE })
      }
      const record = (m: string) => void logged?.push(m)
      const log = { debug: () => {}, info: record, warn: record }
      const running = await startTransport(transport, new Map([[realm.name, realm]]), log, flow)
      return { realm, running, url: `ws://127.0.0.1:${running.listening.port}` }
    }),
    ({ realm, running }) =>
      Effect.promise(() => {
        realm.shutdown()
        return running.close()
      })
  )

const joined = (url: string) =>
  Effect.gen(function*() {
    const client = yield* raw(url)
    const welcome = yield* promise(() => client.hello())
    return { client, id: welcome[1] as number }
  })

const sessionOf = (realm: Realm, id: number): Session => {
  const s = realm.sessions.get(id)
  if (s === undefined) throw new Error(`no session ${id} in the realm`)
  return s
}

/** Polls `check` every 5 ms until it holds; fails after `timeoutMs` (generous: the machine may be busy). */
const until = (what: string, check: () => boolean, timeoutMs = 20_000) =>
  promise(() =>
    new Promise<void>((resolve, reject) => {
      const started = Date.now()
      const timer = setInterval(() => {
        if (check()) {
          clearInterval(timer)
          resolve()
        } else if (Date.now() - started > timeoutMs) {
          clearInterval(timer)
          reject(new Error(`not within ${timeoutMs} ms: ${what}`))
        }
      }, 5)
    })
  )

/**
 * A callee and a caller that stops reading; the caller calls with receive_progress and the callee
 * writes every progressive YIELD and the final one at once (ws queues what its socket does not
 * take). Samples the router's unsent bytes toward the caller every millisecond.
 */
const streamToSlowCaller = (flow: Partial<FlowControl> = PATIENT, logged?: Array<string>) =>
  Effect.gen(function*() {
    const r = yield* router(flow, logged)
    const callee = yield* joined(r.url)
    callee.client.send([REGISTER, 1, {}, PROCEDURE])
    expect((yield* promise(() => callee.client.next()))[0]).toBe(REGISTERED)
    const caller = yield* joined(r.url)
    const callerSession = sessionOf(r.realm, caller.id)
    const calleeSession = sessionOf(r.realm, callee.id)

    caller.client.ws.pause()
    caller.client.send([CALL, 1, { receive_progress: true }, PROCEDURE, []])
    const invocation = yield* promise(() => callee.client.next())
    expect(invocation[0]).toBe(INVOCATION)
    const id = invocation[1] as number
    for (let i = 0; i < CHUNKS; i++) callee.client.send([YIELD, id, { progress: true }, [i, PAYLOAD]])
    callee.client.send([YIELD, id, {}, [CHUNKS]])
    /** What the callee wrote, as its own client library counts it (the frames are queued at once). */
    const written = callee.client.ws.bufferedAmount

    let maxOutgoing = 0
    const sampler = setInterval(() => {
      maxOutgoing = Math.max(maxOutgoing, callerSession.outgoingBytes)
    }, 1)
    yield* Effect.addFinalizer(() => Effect.sync(() => clearInterval(sampler)))
    /** Bytes of the stream that left the callee's client: at most what the router read, plus kernel buffers. */
    const takenFromCallee = () => written - callee.client.ws.bufferedAmount
    return { r, callee, caller, callerSession, calleeSession, id, written, takenFromCallee, maxOutgoing: () => maxOutgoing }
  })

/**
 * The router paused the callee and its bytes queue up on the callee's socket: seen on the callee's
 * side, the stream stops leaving its client well before its end.
 */
const calleeHeld = (s: {
  readonly calleeSession: Session
  readonly callee: { readonly client: RawClient }
  readonly written: number
  readonly takenFromCallee: () => number
}) =>
  Effect.gen(function*() {
    yield* until("the router pauses the callee", () => s.calleeSession.paused)
    // the stream leaves the callee's client only while the router reads: a bounded part of it has
    // (kernel buffers on both sides of the loopback included), most of it waits in the callee
    expect(s.callee.client.ws.bufferedAmount).toBeGreaterThan(1024 * 1024)
    expect(s.takenFromCallee()).toBeLessThan(s.written - 1024 * 1024)
    expect(s.calleeSession.paused).toBe(true)
  })

/** Every progressive result in order, then the final result. */
const readAll = (caller: RawClient) =>
  promise(async () => {
    for (let i = 0; i < CHUNKS; i++) {
      const m = await caller.next(20_000)
      if (m[0] !== RESULT || m[1] !== 1 || (m[3] as Array<unknown>)[0] !== i) {
        throw new Error(`result ${i}: got ${JSON.stringify(m).slice(0, 80)}`)
      }
      expect(m[2]).toEqual({ progress: true })
    }
    const last = await caller.next(20_000)
    expect(last).toEqual([RESULT, 1, {}, [CHUNKS]])
  })

describe("backpressure toward slow callers (progressive results)", () => {
  it.live("a caller that stops reading pauses the callee: the router buffers a bounded amount, then all results arrive in order", () =>
    Effect.gen(function*() {
      const s = yield* streamToSlowCaller()
      // the router no longer takes the callee's bytes: they stay queued on the callee's socket
      yield* calleeHeld(s)
      // a second look at the callee's socket, after a round trip through the router on another
      // connection (a positive barrier: the router's event loop has run since): still held
      const probe = yield* joined(s.r.url)
      probe.client.send([CALL, 2, {}, "wamp.session.count", []])
      expect((yield* promise(() => probe.client.next(10_000)))[0]).toBe(RESULT)
      expect(s.callee.client.ws.bufferedAmount).toBeGreaterThan(1024 * 1024)
      // bounded, as the router counts it: the mark, plus what it had already read from the callee's socket
      expect(s.maxOutgoing()).toBeGreaterThan(HIGH_WATER)
      expect(s.maxOutgoing()).toBeLessThan(HIGH_WATER + 4 * PAYLOAD.length)
      expect(s.maxOutgoing()).toBeLessThan(DROP_LIMIT)
      expect(s.caller.client.ws.readyState).toBe(s.caller.client.ws.OPEN)

      // independently: the caller, never dropped, reads every result in order, and the callee's
      // socket empties only as the caller reads
      s.caller.client.ws.resume()
      yield* readAll(s.caller.client)
      expect(s.takenFromCallee()).toBe(s.written)
      expect(s.calleeSession.paused).toBe(false)
      expect(s.callee.client.ws.bufferedAmount).toBe(0)
      expect(s.maxOutgoing()).toBeLessThan(HIGH_WATER + 4 * PAYLOAD.length)
    }), 30_000)

  it.live("the caller leaving resumes the callee, which then serves other callers", () =>
    Effect.gen(function*() {
      const s = yield* streamToSlowCaller()
      yield* calleeHeld(s)
      s.caller.client.close()
      // INTERRUPT for the abandoned call, then the router reads (and drops) the rest of the stream
      expect((yield* promise(() => s.callee.client.next()))).toEqual([INTERRUPT, s.id, { mode: "killnowait", reason: "wamp.error.canceled" }])
      yield* until("the callee is read to the end", () => !s.calleeSession.paused && s.callee.client.ws.bufferedAmount === 0)

      const other = yield* joined(s.r.url)
      other.client.send([CALL, 7, {}, PROCEDURE, []])
      const invocation = yield* promise(() => s.callee.client.next())
      expect(invocation[0]).toBe(INVOCATION)
      s.callee.client.send([YIELD, invocation[1], {}, ["done"]])
      expect(yield* promise(() => other.client.next())).toEqual([RESULT, 7, {}, ["done"]])
    }), 30_000)

  it.live("canceling the call resumes the callee", () =>
    Effect.gen(function*() {
      const s = yield* streamToSlowCaller()
      yield* calleeHeld(s)
      s.caller.client.send([CANCEL, 1, { mode: "killnowait" }])
      expect((yield* promise(() => s.callee.client.next()))[0]).toBe(INTERRUPT)
      yield* until("the callee is read to the end", () => !s.calleeSession.paused && s.callee.client.ws.bufferedAmount === 0)
      expect(s.maxOutgoing()).toBeLessThan(HIGH_WATER + 4 * PAYLOAD.length)
      // the caller, reading again, gets the results routed before the cancel, then the cancel error
      s.caller.client.ws.resume()
      const last = yield* promise(async () => {
        for (;;) {
          const m = await s.caller.client.next(20_000)
          if (m[0] !== RESULT) return m
        }
      })
      expect(last.slice(0, 5)).toEqual([ERROR, CALL, 1, {}, "wamp.error.canceled"])
    }), 30_000)

  it.live("a caller that never drains holds the callee only for the pause limit: then its call is canceled and the callee read again", () =>
    Effect.gen(function*() {
      const logged: Array<string> = []
      const s = yield* streamToSlowCaller({ pauseLimitMs: 300 }, logged)
      yield* calleeHeld(s)
      expect((yield* promise(() => s.callee.client.next()))).toEqual([INTERRUPT, s.id, { mode: "killnowait", reason: "wamp.error.canceled" }])
      expect(logged).toEqual([
        expect.stringMatching(new RegExp(`^session ${s.caller.id}: \\d+ bytes undrained after 300 ms, canceling its calls to 1 paused callee\\(s\\)$`))
      ])
      yield* until("the callee is read to the end", () => !s.calleeSession.paused && s.callee.client.ws.bufferedAmount === 0)
      // the rest of the stream was dropped, not queued for the caller: it stays, with a bounded buffer
      expect(s.r.realm.sessions.has(s.caller.id)).toBe(true)
      expect(s.maxOutgoing()).toBeLessThan(HIGH_WATER + 4 * PAYLOAD.length)
      s.caller.client.ws.resume()
      const last = yield* promise(async () => {
        for (;;) {
          const m = await s.caller.client.next(20_000)
          if (m[0] !== RESULT) return m
        }
      })
      expect(last.slice(0, 5)).toEqual([ERROR, CALL, 1, {}, "wamp.error.canceled"])
    }), 30_000)

  it.live("a caller behind on two callees' streams holds both, and both resume when it drains", () =>
    Effect.gen(function*() {
      const r = yield* router(PATIENT)
      const x = yield* joined(r.url)
      const y = yield* joined(r.url)
      x.client.send([REGISTER, 1, {}, PROCEDURE])
      y.client.send([REGISTER, 1, {}, `${PROCEDURE}.other`])
      expect((yield* promise(() => x.client.next()))[0]).toBe(REGISTERED)
      expect((yield* promise(() => y.client.next()))[0]).toBe(REGISTERED)
      const caller = yield* joined(r.url)
      caller.client.ws.pause()
      caller.client.send([CALL, 1, { receive_progress: true }, PROCEDURE, []])
      caller.client.send([CALL, 2, { receive_progress: true }, `${PROCEDURE}.other`, []])
      const toX = (yield* promise(() => x.client.next()))[1]
      const toY = (yield* promise(() => y.client.next()))[1]
      const chunks = 100
      for (let i = 0; i < chunks; i++) {
        x.client.send([YIELD, toX, { progress: true }, [i, PAYLOAD]])
        y.client.send([YIELD, toY, { progress: true }, [i, PAYLOAD]])
      }
      x.client.send([YIELD, toX, {}, ["x"]])
      y.client.send([YIELD, toY, {}, ["y"]])
      yield* until("the router holds both callees", () => sessionOf(r.realm, x.id).paused && sessionOf(r.realm, y.id).paused)
      caller.client.ws.resume()
      // every result of both calls arrives, each call's in order, then its final result
      const next = new Map([[1, 0], [2, 0]])
      const finals = new Map<number, Array<unknown>>()
      yield* promise(async () => {
        while (finals.size < 2) {
          const m = await caller.client.next(20_000)
          const request = m[1] as number
          if (m[0] !== RESULT) throw new Error(`unexpected ${JSON.stringify(m).slice(0, 80)}`)
          if ((m[2] as Record<string, unknown>)["progress"] === true) {
            expect((m[3] as Array<unknown>)[0]).toBe(next.get(request))
            next.set(request, next.get(request)! + 1)
          } else finals.set(request, m[3] as Array<unknown>)
        }
      })
      expect([...next.values()]).toEqual([chunks, chunks])
      expect([finals.get(1), finals.get(2)]).toEqual([["x"], ["y"]])
    }), 60_000)

  it.live("once its pause limit passed, a caller that has not drained holds no callee back", () =>
    Effect.gen(function*() {
      const s = yield* streamToSlowCaller({ pauseLimitMs: 300 })
      yield* calleeHeld(s)
      expect((yield* promise(() => s.callee.client.next()))).toEqual([INTERRUPT, s.id, { mode: "killnowait", reason: "wamp.error.canceled" }])
      yield* until("the callee is read to the end", () => !s.calleeSession.paused && s.callee.client.ws.bufferedAmount === 0)
      // still not reading, the caller calls again: its results pile up (below the drop limit), the callee is not held
      s.caller.client.send([CALL, 2, { receive_progress: true }, PROCEDURE, []])
      const invocation = yield* promise(() => s.callee.client.next())
      expect(invocation[0]).toBe(INVOCATION)
      const more = 10
      for (let i = 0; i < more; i++) s.callee.client.send([YIELD, invocation[1], { progress: true }, [i, PAYLOAD]])
      s.callee.client.send([YIELD, invocation[1], {}, ["again"]])
      // behind that stream on the callee's connection, its answer to another caller gets through
      const other = yield* joined(s.r.url)
      other.client.send([CALL, 7, {}, PROCEDURE, []])
      const served = yield* promise(() => s.callee.client.next())
      expect(served[0]).toBe(INVOCATION)
      s.callee.client.send([YIELD, served[1], {}, ["served"]])
      expect(yield* promise(() => other.client.next(20_000))).toEqual([RESULT, 7, {}, ["served"]])
      expect(s.calleeSession.paused).toBe(false)
      s.caller.client.ws.resume()
      const last = yield* promise(async () => {
        for (;;) {
          const m = await s.caller.client.next(20_000)
          if (m[1] === 2 && (m[2] as Record<string, unknown>)["progress"] !== true) return m
        }
      })
      expect(last).toEqual([RESULT, 2, {}, ["again"]])
    }), 30_000)

  it("the default pause limit is at most 1 s", () => {
    expect(flowControl(MAX_MESSAGE_SIZE).pauseLimitMs).toBeLessThanOrEqual(1000)
  })
})
