/**
 * A slow caller delays only its own call. Two callers call one streaming procedure; caller A stops
 * reading its socket, caller B keeps reading. The router stops reading the callee once A is behind
 * (backpressure), which would hold B's results back too; after the slow caller timeout A's call is
 * canceled (INTERRUPT to the callee, an ERROR queued for A), the callee is read again and B's call
 * completes. Observed from outside only: what the callee receives and what B receives.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type { RouterConfig } from "../../src/router/types.js"
import { openRealm, promise, raw, type RawClient, router, websocketOptions } from "./support.js"

const ERROR = 8, CALL = 48, RESULT = 50, REGISTER = 64, REGISTERED = 65, INVOCATION = 68, INTERRUPT = 69, YIELD = 70
const PROCEDURE = "com.example.stream"
/** 128 KiB messages: the router's high-water mark toward a caller is then 512 KiB. */
const MAX_MESSAGE_SIZE = 128 * 1024
const CHUNK = "x".repeat(60_000)
/** B's stream; A's stream never ends on its own. */
const B_CHUNKS = 60
/** The callee sends while its own unsent bytes are below this, like a pacing streamer (Progressive.send). */
const CALLEE_MARK = 256 * 1024

const config = (slowCallerTimeout?: number): RouterConfig => ({
  realms: [openRealm],
  transports: [{
    type: "websocket",
    endpoint: { port: 0, interface: "127.0.0.1" },
    options: websocketOptions({ maxMessageSize: MAX_MESSAGE_SIZE, ...(slowCallerTimeout === undefined ? {} : { slowCallerTimeout }) })
  }]
})

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * A callee that streams progressive results to every invocation at once, pacing on its socket's
 * unsent bytes, until the invocation's chunk count (`[n]` as the call's argument; 0 = endless) or
 * an INTERRUPT. Records the INTERRUPTs it gets.
 */
const streamingCallee = (url: string) =>
  Effect.gen(function*() {
    const client = yield* raw(url)
    yield* promise(() => client.hello())
    client.send([REGISTER, 1, {}, PROCEDURE])
    expect((yield* promise(() => client.next()))[0]).toBe(REGISTERED)
    const interrupts: Array<{ readonly message: Array<unknown>; readonly at: number }> = []
    const stopped = new Set<number>()
    let closed = false
    client.closed.then(() => (closed = true))
    const stream = async (id: number, chunks: number) => {
      for (let i = 0; chunks === 0 || i < chunks; i++) {
        while (client.ws.bufferedAmount > CALLEE_MARK && !stopped.has(id) && !closed) await sleep(1)
        if (stopped.has(id) || closed) return
        client.send([YIELD, id, { progress: true }, [i, CHUNK]])
        if (i % 8 === 7) await sleep(0)
      }
      client.send([YIELD, id, {}, [chunks]])
    }
    void (async () => {
      while (!closed) {
        const m = await client.next(120_000).catch(() => undefined)
        if (m === undefined) return
        if (m[0] === INVOCATION) void stream(m[1] as number, (m[4] as Array<number>)[0]!)
        else if (m[0] === INTERRUPT) {
          stopped.add(m[1] as number)
          interrupts.push({ message: m, at: Date.now() })
        }
      }
    })()
    return { client, interrupts }
  })

/** Reads B's call to the end: progressive results in order, then the final result. */
const readStream = (client: RawClient, request: number, chunks: number) =>
  promise(async () => {
    let bytes = 0
    for (let i = 0; i < chunks; i++) {
      const m = await client.next(30_000)
      if (m[0] !== RESULT || m[1] !== request || (m[3] as Array<unknown>)[0] !== i) {
        throw new Error(`B's result ${i}: got ${JSON.stringify(m).slice(0, 100)}`)
      }
      bytes += ((m[3] as Array<unknown>)[1] as string).length
    }
    const last = await client.next(30_000)
    expect(last).toEqual([RESULT, request, {}, [chunks]])
    return bytes
  })

/** Waits until `check` holds, polling; fails after `timeoutMs`. */
const until = (what: string, check: () => boolean, timeoutMs = 20_000) =>
  promise(async () => {
    const started = Date.now()
    while (!check()) {
      if (Date.now() - started > timeoutMs) throw new Error(`not within ${timeoutMs} ms: ${what}`)
      await sleep(5)
    }
  })

/** A streams to a caller that stopped reading until the router holds the callee back; then B calls. */
const twoCallers = (slowCallerTimeout?: number) =>
  Effect.gen(function*() {
    const r = yield* router(config(slowCallerTimeout))
    const callee = yield* streamingCallee(r.url)
    const a = yield* raw(r.url)
    yield* promise(() => a.hello())
    const b = yield* raw(r.url)
    yield* promise(() => b.hello())

    a.ws.pause()
    const aCalledAt = Date.now()
    a.send([CALL, 1, { receive_progress: true }, PROCEDURE, [0]])
    // the router no longer reads the callee: its unsent bytes stay above its mark for 100 ms (a
    // socket that is read drains them in well under a millisecond on loopback)
    let aboveSince: number | undefined
    yield* until("the callee is held back", () => {
      if (callee.client.ws.bufferedAmount <= CALLEE_MARK) aboveSince = undefined
      else aboveSince ??= Date.now()
      return aboveSince !== undefined && Date.now() - aboveSince >= 100
    })
    const bCalledAt = Date.now()
    b.send([CALL, 7, { receive_progress: true }, PROCEDURE, [B_CHUNKS]])
    return { callee, a, b, aCalledAt, bCalledAt }
  })

describe("a slow caller delays only its own call (slow_caller_timeout)", () => {
  it.live("with the default (1 s): B's call completes, A's call is interrupted at the callee and fails for A", () =>
    Effect.gen(function*() {
      const { callee, a, b, aCalledAt, bCalledAt } = yield* twoCallers()
      const bytes = yield* readStream(b, 7, B_CHUNKS)
      const bDoneAt = Date.now()
      const bDoneAfter = bDoneAt - bCalledAt
      expect(bytes).toBe(B_CHUNKS * CHUNK.length)
      // bounded by the limit: well below the 30 s the router used to hold a callee for a slow caller
      expect(bDoneAfter).toBeLessThan(1000 + 5000)

      // the callee was told to stop A's invocation, not before the limit
      expect(callee.interrupts).toHaveLength(1)
      const interrupt = callee.interrupts[0]!
      expect(interrupt.message.slice(2)).toEqual([{ mode: "killnowait", reason: "wamp.error.canceled" }])
      expect(interrupt.at - aCalledAt).toBeGreaterThanOrEqual(1000 - 20)
      // B was held back by A until then (one callee connection), and only until then
      expect(bDoneAt).toBeGreaterThanOrEqual(interrupt.at)

      // A, reading again, gets what was routed before the cancel, then the error; its session stays
      a.ws.resume()
      const last = yield* promise(async () => {
        for (;;) {
          const m = await a.next(10_000)
          if (m[0] !== RESULT) return m
        }
      })
      expect(last.slice(0, 5)).toEqual([ERROR, CALL, 1, {}, "wamp.error.canceled"])
      expect(String((last[5] as Array<unknown>)[0])).toContain("not read for 1000 ms")
      a.send([CALL, 2, {}, PROCEDURE, [1]])
      expect(yield* promise(() => a.next(10_000))).toEqual([RESULT, 2, {}, [1]])
    }), 60_000)

  it.live("the limit is configurable: A's call is interrupted no sooner than slow_caller_timeout", () =>
    Effect.gen(function*() {
      const { callee, b, aCalledAt, bCalledAt } = yield* twoCallers(2500)
      yield* readStream(b, 7, B_CHUNKS)
      expect(Date.now() - bCalledAt).toBeLessThan(2500 + 5000)
      expect(callee.interrupts).toHaveLength(1)
      expect(callee.interrupts[0]!.at - aCalledAt).toBeGreaterThanOrEqual(2500 - 20)
    }), 60_000)
})

describe("the slow caller's cancel touches only its progressive calls to the callees it held", () => {
  const HELD = "com.example.held"
  const OTHER = "com.example.other"

  /**
   * A raw callee of several procedures: streams endless progressive results (pacing on its socket)
   * to invocations of PROCEDURE, holds every other invocation unanswered; records what it receives.
   */
  const callee = (url: string, procedures: ReadonlyArray<string>) =>
    Effect.gen(function*() {
      const client = yield* raw(url)
      yield* promise(() => client.hello())
      const procedureOf = new Map<number, string>()
      for (const [i, procedure] of procedures.entries()) {
        client.send([REGISTER, i + 1, {}, procedure])
        const registered = yield* promise(() => client.next())
        expect(registered[0]).toBe(REGISTERED)
        procedureOf.set(registered[2] as number, procedure)
      }
      const received: Array<Array<unknown>> = []
      const invocations = new Map<string, Array<number>>()
      const stopped = new Set<number>()
      let closed = false
      client.closed.then(() => (closed = true))
      const stream = async (id: number) => {
        for (let i = 0; !stopped.has(id) && !closed; i++) {
          while (client.ws.bufferedAmount > CALLEE_MARK && !stopped.has(id) && !closed) await sleep(1)
          if (stopped.has(id) || closed) return
          client.send([YIELD, id, { progress: true }, [i, CHUNK]])
          if (i % 8 === 7) await sleep(0)
        }
      }
      void (async () => {
        while (!closed) {
          const m = await client.next(120_000).catch(() => undefined)
          if (m === undefined) return
          received.push(m)
          if (m[0] === INVOCATION) {
            const procedure = procedureOf.get(m[2] as number)!
            invocations.set(procedure, [...(invocations.get(procedure) ?? []), m[1] as number])
            if (procedure === PROCEDURE) void stream(m[1] as number)
          } else if (m[0] === INTERRUPT) stopped.add(m[1] as number)
        }
      })()
      const invocationOf = (procedure: string, n = 0) => invocations.get(procedure)?.[n]
      return { client, received, invocationOf }
    })

  it.live("its other calls to the held callee and its progressive calls to other callees go on", () =>
    Effect.gen(function*() {
      const r = yield* router(config())
      const x = yield* callee(r.url, [PROCEDURE, HELD])
      const y = yield* callee(r.url, [OTHER])
      const a = yield* raw(r.url)
      yield* promise(() => a.hello())

      // before A falls behind: a plain call held by X, a progressive call held by Y
      a.send([CALL, 2, {}, HELD, []])
      a.send([CALL, 3, { receive_progress: true }, OTHER, []])
      yield* until("X and Y have their invocations", () => x.invocationOf(HELD) !== undefined && y.invocationOf(OTHER) !== undefined)
      // then A stops reading and calls X's stream: X is held back, and after 1 s the call is canceled
      a.ws.pause()
      a.send([CALL, 1, { receive_progress: true }, PROCEDURE, [0]])
      yield* until("X streams to A", () => x.invocationOf(PROCEDURE) !== undefined)
      const streamed = x.invocationOf(PROCEDURE)!
      yield* until("X is interrupted", () => x.received.some((m) => m[0] === INTERRUPT), 30_000)

      // a later call reaches X and Y after anything the cancel sent them: nothing but the stream's INTERRUPT
      a.send([CALL, 4, {}, HELD, []])
      a.send([CALL, 5, {}, OTHER, []])
      yield* until("the later calls arrive", () => x.invocationOf(HELD, 1) !== undefined && y.invocationOf(OTHER, 1) !== undefined)
      const interrupts = (c: { received: Array<Array<unknown>> }) => c.received.filter((m) => m[0] === INTERRUPT).map((m) => m[1])
      expect(interrupts(x)).toEqual([streamed])
      expect(interrupts(y)).toEqual([])

      // the calls that were not canceled are answered
      x.client.send([YIELD, x.invocationOf(HELD), {}, ["from x"]])
      y.client.send([YIELD, y.invocationOf(OTHER), {}, ["from y"]])
      a.ws.resume()
      const answers = new Map<number, Array<unknown>>()
      yield* promise(async () => {
        while (!answers.has(1) || !answers.has(2) || !answers.has(3)) {
          const m = await a.next(20_000)
          if (m[0] === RESULT && (m[2] as Record<string, unknown>)["progress"] === true) continue
          answers.set(m[m[0] === ERROR ? 2 : 1] as number, m)
        }
      })
      expect(answers.get(1)!.slice(0, 5)).toEqual([ERROR, CALL, 1, {}, "wamp.error.canceled"])
      expect(answers.get(2)).toEqual([RESULT, 2, {}, ["from x"]])
      expect(answers.get(3)).toEqual([RESULT, 3, {}, ["from y"]])
    }), 60_000)
})
