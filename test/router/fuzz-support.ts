/**
 * Support for the router's property-based tests: a router whose log is captured, a well-behaved
 * pair of autobahn sessions (a callee and a caller that also subscribes) that must keep working,
 * hostile values, and a raw client that sends a batch and waits until the router has handled it.
 */
import { afterAll, beforeAll, expect } from "@effect/vitest"
import type autobahn from "autobahn"
import fc from "fast-check"
import { type RunningRouter, startRouter } from "../../src/router/index.js"
import type { RouterLog } from "../../src/router/session.js"
import { serializers } from "../../src/wamp/codecs.js"
import type { SerializerName } from "../../src/router/types.js"
import { openAutobahn, type Opened, RawClient, testConfig } from "./support.js"

/** fast-check's seed: FUZZ_SEED reproduces a run; by default one fixed seed keeps the suite deterministic. */
export const fuzzSeed = (): number => {
  const env = process.env["FUZZ_SEED"]
  return env === undefined || env === "" ? 20261129 : Number(env)
}

/** Runs per property: FUZZ_RUNS overrides the default given by the test file. */
export const fuzzRuns = (fallback: number): number => {
  const env = process.env["FUZZ_RUNS"]
  return env === undefined || env === "" ? fallback : Number(env)
}

/** A router whose warnings are kept, so a test can tell "handled" from "caught by the safety net". */
export interface FuzzRouter {
  readonly router: RunningRouter
  readonly warnings: Array<string>
  /** Warnings from the second line of defence (an exception escaped a message's handling) since the last call. */
  internalErrors(): Array<string>
}

export const startFuzzRouter = async (): Promise<FuzzRouter> => {
  const warnings: Array<string> = []
  const log: RouterLog = { debug: () => {}, info: () => {}, warn: (m) => void warnings.push(m) }
  const router = await startRouter(testConfig(), { log })
  let seen = 0
  const internalErrors = (): Array<string> => {
    const fresh = warnings.slice(seen).filter((w) => w.includes("internal error"))
    seen = warnings.length
    return fresh
  }
  return { router, warnings, internalErrors }
}

/** The well-behaved pair: a JSON callee of `com.fuzz.echo` and a msgpack caller subscribed to `com.fuzz.check`. */
export interface Pair {
  readonly callee: Opened
  readonly caller: Opened
  /** Asserts a call and an event still complete (rejects otherwise). */
  check(n: number): Promise<void>
  close(): void
}

export const openPair = async (url: string): Promise<Pair> => {
  const callee = await openAutobahn(url, { serializer: "json" })
  await callee.session.register("com.fuzz.echo", (args: Array<unknown> | undefined) => args?.[0] ?? null)
  const caller = await openAutobahn(url, { serializer: "msgpack" })
  let onEvent: (value: unknown) => void = () => {}
  await caller.session.subscribe("com.fuzz.check", (args: Array<unknown> | undefined) => onEvent(args?.[0]))
  const within = <A>(p: Promise<A>, what: string): Promise<A> =>
    Promise.race([p, new Promise<A>((_, reject) => setTimeout(() => reject(new Error(`${what} did not complete`)), 5000))])
  return {
    callee,
    caller,
    check: async (n) => {
      const result = await within(caller.session.call("com.fuzz.echo", [n]), "the pair's call")
      if (result !== n) throw new Error(`the pair's call returned ${JSON.stringify(result)}, expected ${n}`)
      const event = new Promise<unknown>((resolve) => (onEvent = resolve))
      // the publisher is the callee, so the caller's subscription receives it
      await within(Promise.resolve(callee.session.publish("com.fuzz.check", [n], {}, { acknowledge: true })), "the pair's publication")
      const got = await within(event, "the pair's event")
      if (got !== n) throw new Error(`the pair's event carried ${JSON.stringify(got)}, expected ${n}`)
    },
    close: () => {
      for (const o of [callee, caller]) {
        try {
          o.connection.close()
        } catch {
          // already closed
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Hostile values

/** Objects whose keys shadow Object.prototype's methods, built as data (as a decoder builds them). */
const trapObjects: ReadonlyArray<unknown> = [
  { toString: 1 },
  { valueOf: {}, toString: "x" },
  { toString: { toString: 1 } },
  { constructor: 1, hasOwnProperty: "x", toJSON: 1 },
  JSON.parse("{\"__proto__\": {\"match\": \"prefix\", \"progress\": true}}"),
  { length: 3, 0: 1 },
  { then: 1 }
]

const numbers: ReadonlyArray<number> = [
  0, -0, -1, 0.5, -0.5, 1.5, 2 ** 31, 2 ** 31 - 1, 2 ** 32, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), 2 ** 64,
  1e308, -1e308, Number.MAX_VALUE, Number.MIN_VALUE, Number.EPSILON
]

const longString = "x".repeat(100_000)

/** Nested lists and dictionaries `depth` levels deep. */
const nested = (depth: number, dict: boolean): unknown => {
  let value: unknown = 1
  for (let i = 0; i < depth; i++) value = dict ? { a: value } : [value]
  return value
}

/** Values of every wrong kind: traps, lists, null, odd numbers, long strings, deep nesting, bytes. */
export const hostile: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...trapObjects) },
  { weight: 2, arbitrary: fc.constantFrom(...numbers) },
  fc.double(),
  fc.integer(),
  fc.constantFrom(null, undefined, true, false, "", longString, "wamp.session.get", "exact", "prefix", "kill"),
  fc.string({ maxLength: 12 }),
  fc.constantFrom(nested(40, false), nested(40, true), nested(1500, false), nested(1500, true)),
  fc.constantFrom([], [1, 2, 3], [null], [{}], ["a", "b"], [longString], Array.from({ length: 5000 }, (_, i) => i + 1)),
  fc.constantFrom({}, { a: 1 }, new Uint8Array([0, 1, 2])),
  fc.constantFrom(2n ** 70n, -(2n ** 70n), 2n ** 60n),
  fc.constantFrom(new Date(0), new Map([[1, 2]]), new Set([1]))
)

/** Mostly the valid value, sometimes a hostile one. */
const or = <A>(valid: fc.Arbitrary<A>): fc.Arbitrary<unknown> =>
  fc.oneof({ arbitrary: valid as fc.Arbitrary<unknown>, weight: 6 }, { arbitrary: hostile, weight: 1 })

/** An options/details dictionary of known keys, each absent, valid or hostile; sometimes hostile as a whole. */
const options = (keys: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<unknown> =>
  fc.oneof(
    { weight: 12, arbitrary: fc.record(Object.fromEntries(Object.entries(keys).map(([k, v]) => [k, or(v)])), { requiredKeys: [] }) },
    { weight: 1, arbitrary: fc.constantFrom(...trapObjects) },
    { weight: 1, arbitrary: hostile }
  )

const requestId = or(fc.oneof(fc.integer({ min: 1, max: 5 }), fc.constant(100)))
/** Payload values: hostile ones, and often big integers, which only CBOR can carry to a receiver. */
const payloadValue = fc.oneof({ weight: 3, arbitrary: hostile }, { weight: 1, arbitrary: fc.constantFrom(2n ** 70n, -(2n ** 64n)) })
const wellFormedPayload = fc.oneof(
  fc.constant([] as Array<unknown>),
  fc.tuple(fc.array(payloadValue, { minLength: 1, maxLength: 3 })),
  fc.tuple(fc.array(payloadValue, { maxLength: 3 }), fc.dictionary(fc.constantFrom("a", "toString", "__proto__"), payloadValue, { maxKeys: 2 }))
)
const payload = fc.oneof({ weight: 4, arbitrary: wellFormedPayload }, { weight: 1, arbitrary: fc.tuple(hostile) })

const metaProcedures = [
  "wamp.session.get",
  "wamp.session.count",
  "wamp.session.list",
  "wamp.registration.list",
  "wamp.registration.lookup",
  "wamp.registration.match",
  "wamp.registration.get",
  "wamp.registration.list_callees",
  "wamp.registration.count_callees",
  "wamp.subscription.list",
  "wamp.subscription.lookup",
  "wamp.subscription.match",
  "wamp.subscription.get",
  "wamp.subscription.list_subscribers",
  "wamp.subscription.count_subscribers"
]
/** Procedures a hostile client calls: the pair's, every meta procedure, its own and an unknown one. */
const procedure = fc.oneof(
  { weight: 3, arbitrary: fc.constant("com.fuzz.echo") },
  { weight: 3, arbitrary: fc.constantFrom(...metaProcedures) },
  { weight: 2, arbitrary: fc.constantFrom("com.fuzz.own", "com.fuzz.nothing") }
)
const uri = or(fc.constantFrom("com.fuzz.own", "com.fuzz.topic", "com.fuzz", "com..own", "wamp.x", "bad uri"))
const matchPolicy = fc.constantFrom("exact", "prefix", "wildcard", "other")
const bool = fc.boolean()
const idList = fc.array(or(fc.integer({ min: 1, max: 2 ** 53 })), { maxLength: 4 })
const stringList = fc.array(or(fc.constantFrom("anonymous", "a")), { maxLength: 4 })

const withPayload = (head: fc.Arbitrary<Array<unknown>>, body = payload): fc.Arbitrary<Array<unknown>> =>
  fc.tuple(head, body).map(([h, p]) => [...h, ...p])

/** HELLO with hostile details (the first message of a connection). */
export const hostileHello: fc.Arbitrary<Array<unknown>> = fc.tuple(
  or(fc.constant("realm1")),
  options({
    roles: options({
      caller: options({ features: options({ progressive_call_results: bool }) }),
      callee: options({ features: options({ call_canceling: bool, progressive_call_results: bool }) }),
      publisher: options({}),
      subscriber: options({})
    }),
    authmethods: or(fc.array(or(fc.constantFrom("anonymous", "ticket")), { maxLength: 3 })),
    authid: or(fc.constant("joe")),
    authrole: or(fc.constant("anonymous")),
    authextra: options({})
  })
).map(([realm, details]) => [1, realm, details])

/** One message of every type a router accepts on an established session, fields valid or hostile. */
export const hostileMessage: fc.Arbitrary<unknown> = fc.oneof(
  // well-formed messages carrying hostile payloads to other peers (and serializers)
  {
    weight: 8,
    arbitrary: fc.oneof(
      withPayload(fc.tuple(fc.constant(48), fc.integer({ min: 1000, max: 2 ** 40 }), fc.constantFrom({}, { receive_progress: true }, { timeout: 20 }), procedure), wellFormedPayload),
      withPayload(fc.tuple(fc.constant(16), fc.integer({ min: 1, max: 5 }), fc.constantFrom({}, { acknowledge: true }, { exclude_me: false }), fc.constant("com.fuzz.topic")), wellFormedPayload),
      withPayload(fc.tuple(fc.constant(70), fc.constant(1), fc.constantFrom({}, { progress: true })), wellFormedPayload)
    )
  },
  // every type the router accepts, fields and options valid or hostile
  withPayload(fc.tuple(fc.constant(48), requestId, options({ timeout: fc.integer({ min: 0, max: 50 }), receive_progress: bool, disclose_me: bool }), or(procedure))),
  withPayload(fc.tuple(fc.constant(70), or(fc.constant(1)), options({ progress: bool }))),
  withPayload(fc.tuple(fc.constant(8), or(fc.constant(68)), or(fc.constant(1)), options({ a: bool }), or(fc.constant("com.fuzz.error")))),
  withPayload(fc.tuple(fc.constant(16), requestId, options({
    acknowledge: bool,
    exclude_me: bool,
    disclose_me: bool,
    retain: bool,
    exclude: idList,
    eligible: idList,
    exclude_authid: stringList,
    eligible_authid: stringList,
    exclude_authrole: stringList,
    eligible_authrole: stringList
  }), uri)),
  fc.tuple(fc.constant(32), requestId, options({ match: matchPolicy, get_retained: bool }), uri),
  fc.tuple(fc.constant(34), requestId, or(fc.integer({ min: 1, max: 3 }))),
  fc.tuple(fc.constant(64), requestId, options({ match: matchPolicy, invoke: fc.constantFrom("single", "roundrobin", "random", "first", "last", "x") }), uri),
  fc.tuple(fc.constant(66), requestId, or(fc.integer({ min: 1, max: 3 }))),
  fc.tuple(fc.constant(49), or(fc.constant(100)), options({ mode: fc.constantFrom("skip", "kill", "killnowait", "x") })),
  // messages that end the session however they look (GOODBYE, ABORT, AUTHENTICATE, HELLO)
  fc.oneof(
    fc.tuple(fc.constant(6), options({ message: fc.string() }), or(fc.constant("wamp.close.normal"))),
    fc.tuple(fc.constant(3), options({ message: fc.string() }), or(fc.constant("wamp.close.normal"))),
    fc.tuple(fc.constant(5), or(fc.constant("signature")), options({})),
    fc.tuple(fc.constant(1), or(fc.constant("realm1")), options({ roles: options({}) }))
  ),
  // the message itself hostile, or with elements added or missing (rarer: they test only the shape check)
  { weight: 1, arbitrary: fc.oneof(fc.tuple(hostile), fc.array(hostile, { maxLength: 8 }), hostile) }
)

// ---------------------------------------------------------------------------------------------
// A raw client for one batch

/** A RESULT (not a progressive one) or an ERROR for the CALL with this request id. */
const isFinalAnswer = (m: Array<unknown>, request: number): boolean =>
  (m[0] === 50 && m[1] === request && (m[2] as { progress?: unknown } | undefined)?.progress !== true) ||
  (m[0] === 8 && m[1] === 48 && m[2] === request)

const finalAnswers = (received: ReadonlyArray<Array<unknown>>, request: number): number =>
  received.filter((m) => isFinalAnswer(m, request)).length

/**
 * Request ids of the CALLs in a batch that must get an answer while the session lasts: those to
 * the pair's procedure or to the meta API (the hostile client's own registrations, which it never
 * answers, can catch nothing else).
 */
export const mustAnswer = (batch: ReadonlyArray<unknown>): Array<number> =>
  batch.flatMap((m) =>
    Array.isArray(m) && m[0] === 48 && typeof m[1] === "number" && typeof m[3] === "string" &&
      (m[3] === "com.fuzz.echo" || m[3].startsWith("wamp."))
      ? [m[1]]
      : []
  )

/** The request id of the marker CALL: the router answers it only after handling the whole batch. */
const MARKER = 2 ** 53

export interface Outcome {
  /** The router aborted the session (ABORT received) or closed the connection. */
  readonly ended: boolean
  /** Every message the client received. */
  readonly received: ReadonlyArray<Array<unknown>>
}

/** Encodes a message as the client's serializer would; undefined when it cannot (a bigint for JSON...). */
export const encodable = (serializer: SerializerName, message: unknown): string | Uint8Array | undefined => {
  try {
    return serializers[serializer].encode(message as ReadonlyArray<unknown>, true)
  } catch {
    return undefined
  }
}

/**
 * Opens a client, joins (or sends `hello` instead), registers `com.fuzz.own`, subscribes to
 * `com.fuzz.topic` and leaves a CALL (request 100) to its own procedure pending as INVOCATION 1;
 * then sends `frames` and a marker CALL, and waits for the marker's answer or the session's end.
 */
export const runBatch = async (
  url: string,
  serializer: SerializerName,
  frames: ReadonlyArray<string | Uint8Array>,
  hello?: string | Uint8Array,
  answers: ReadonlyArray<number> = []
): Promise<Outcome> => {
  const client = await RawClient.open(url, serializer)
  const received: Array<Array<unknown>> = []
  let ended = false
  const closed = client.closed.then(() => {
    ended = true
  })
  const next = async (): Promise<Array<unknown> | undefined> => {
    const m = await Promise.race([client.next(5_000).catch(() => undefined), closed.then(() => undefined)])
    if (m !== undefined) received.push(m)
    if (m?.[0] === 3) ended = true
    return m
  }
  const until = async (done: (m: Array<unknown>) => boolean): Promise<boolean> => {
    for (;;) {
      const m = await next()
      if (m === undefined || ended) return false
      if (done(m)) return true
    }
  }
  try {
    if (hello !== undefined) {
      client.sendRaw(typeof hello === "string" ? hello : Buffer.from(hello))
      if (!(await until((m) => m[0] === 2))) return { ended: true, received }
    } else {
      await client.hello()
      client.send([64, 1, {}, "com.fuzz.own"])
      client.send([32, 2, {}, "com.fuzz.topic"])
      client.send([48, 100, { receive_progress: true }, "com.fuzz.own", [1]])
      if (!(await until((m) => m[0] === 68))) throw new Error(`setup failed: ${JSON.stringify(received)}`)
    }
    for (const frame of frames) client.sendRaw(typeof frame === "string" ? frame : Buffer.from(frame))
    client.send([48, MARKER, {}, "wamp.session.count"])
    const answered = await until((m) => (m[0] === 50 && m[1] === MARKER) || (m[0] === 8 && m[2] === MARKER))
    if (!answered && !ended) throw new Error(`no answer to the marker and no end of the session: ${JSON.stringify(received.slice(-3))}`)
    // a session still up gets a final answer to every call that must be answered
    const missing = (): number | undefined => answers.find((id, i) => answers.slice(0, i + 1).filter((x) => x === id).length > finalAnswers(received, id))
    for (let id = missing(); id !== undefined && !ended; id = missing()) {
      const wanted = id
      if (!(await until((m) => isFinalAnswer(m, wanted))) && !ended) throw new Error(`no answer to CALL ${wanted}`)
    }
    return { ended, received }
  } finally {
    client.close()
  }
}

/**
 * The file's fuzz router and well-behaved pair, started before its tests and closed after them, and
 * the check to run after every batch: nothing reached the safety net, and the pair still completes a
 * call and an event.
 */
export const useFuzzRouter = (): { readonly url: () => string; readonly routerIsWell: () => Promise<void> } => {
  let fuzz: FuzzRouter | undefined
  let pair: Pair | undefined
  let checks = 0
  beforeAll(async () => {
    fuzz = await startFuzzRouter()
    pair = await openPair(fuzz.router.url)
  }, 30_000)
  afterAll(async () => {
    pair?.close()
    await fuzz?.router.close()
  })
  return {
    url: () => fuzz!.router.url,
    routerIsWell: async () => {
      expect(fuzz!.internalErrors()).toEqual([])
      await pair!.check(++checks)
    }
  }
}
