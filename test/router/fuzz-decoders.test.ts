/**
 * Property: no frame a peer sends stops the router. Raw bytes go to each serializer's decoder,
 * in process and over real WebSockets (before and after HELLO): random bytes, truncated and
 * bit-flipped encodings of real messages, and length headers that promise far more than the
 * frame holds. A bad frame ends its own session with a protocol violation; after every batch a
 * well-behaved pair still completes a call and an event.
 *
 * Reproduce a failure with FUZZ_SEED=<seed>; FUZZ_RUNS sets the runs per WebSocket property
 * (default 100 per serializer and phase; the in-process properties run five times as many).
 */
import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { serializers } from "../../src/wamp/codecs.js"
import type { SerializerName } from "../../src/router/types.js"
import { encodable, fuzzRuns, fuzzSeed, hostile, runBatch, useFuzzRouter } from "./fuzz-support.js"

const SERIALIZERS: ReadonlyArray<SerializerName> = ["json", "msgpack", "cbor"]
const SOCKET_RUNS = fuzzRuns(100)
const DECODE_RUNS = 5 * SOCKET_RUNS

const bytes = (...values: ReadonlyArray<number>): Uint8Array => Uint8Array.from(values)
const concat = (...parts: ReadonlyArray<Uint8Array>): Uint8Array => Uint8Array.from(parts.flatMap((p) => [...p]))
const text = (s: string): Uint8Array => new TextEncoder().encode(s)

/** Headers that announce (far) more than follows: strings, byte strings, lists, maps, extensions. */
const hugeHeaders: { readonly [S in SerializerName]: ReadonlyArray<Uint8Array> } = {
  json: [text("[48, 1, {}, \""), text("[".repeat(20_000)), text("[1e999999, 1, {}]"), text("[\"\\u0000!!!notbase64\"]"), text("\"\\ud800\""), bytes(0xff, 0xfe, 0x5b)],
  msgpack: [
    bytes(0xdb, 0xff, 0xff, 0xff, 0xf0, 0x61), // str 32, 4 GiB
    bytes(0xc6, 0xff, 0xff, 0xff, 0xff, 0x00), // bin 32
    bytes(0xdd, 0xff, 0xff, 0xff, 0xff, 0x01), // array 32
    bytes(0xdf, 0x7f, 0xff, 0xff, 0xff, 0xa1, 0x61), // map 32
    bytes(0xc9, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00), // ext 32
    bytes(0x94, 0x30, 0x01, 0x80, 0xdb, 0x7f, 0xff, 0xff, 0xff) // a CALL whose URI claims 2 GiB
  ],
  cbor: [
    bytes(0x5b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00), // bytes, 2^63
    bytes(0x7b, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x61), // text, 4 GiB
    bytes(0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), // array, 2^64 - 1
    bytes(0xbb, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x61), // map
    bytes(0x9f, 0x9f, 0x9f, 0x01), // unterminated indefinite lists
    bytes(0xd8, 0x1c, 0x9f, 0xd8, 0x1d, 0x00), // shared reference to itself
    bytes(0xd8, 0x1b, 0x82, 0x69, ...text("constructor"), 0x01), // generic object naming a prototype key
    bytes(0x84, 0x18, 0x30, 0x01, 0xa0, 0x7a, 0xff, 0xff, 0xff, 0xff) // a CALL whose URI claims 4 GiB
  ]
}

/** Real messages to truncate and flip bits in. */
const message = fc.tuple(fc.constantFrom(48, 16, 64, 32, 70, 8), fc.integer({ min: 1, max: 3 }), fc.constantFrom({}, { timeout: 5 }), fc.constantFrom("com.fuzz.echo", "com.fuzz.topic"), fc.array(hostile, { maxLength: 3 }))

const frame = (serializer: SerializerName): fc.Arbitrary<Uint8Array> => {
  const encoded = message
    .map((m) => encodable(serializer, m))
    .filter((e): e is string | Uint8Array => e !== undefined)
    .map((e) => (typeof e === "string" ? text(e) : Uint8Array.from(e)))
    .filter((e) => e.length > 1)
  return fc.oneof(
    fc.uint8Array({ maxLength: 64 }),
    // truncated
    encoded.chain((e) => fc.integer({ min: 0, max: e.length - 1 }).map((n) => e.slice(0, n))),
    // a byte changed
    encoded.chain((e) =>
      fc.tuple(fc.integer({ min: 0, max: e.length - 1 }), fc.integer({ min: 0, max: 255 })).map(([at, b]) => {
        const copy = Uint8Array.from(e)
        copy[at] = b
        return copy
      })
    ),
    // a header promising far more than follows, alone or after the start of a real message
    fc.tuple(fc.constantFrom(...hugeHeaders[serializer]), fc.uint8Array({ maxLength: 16 })).map(([h, tail]) => concat(h, tail)),
    encoded.chain((e) =>
      fc.tuple(fc.integer({ min: 1, max: e.length }), fc.constantFrom(...hugeHeaders[serializer])).map(([n, h]) => concat(e.slice(0, n), h))
    )
  )
}

describe.each(SERIALIZERS)("%s decoder", (serializer) => {
  it("returns a value or throws, quickly, for any bytes", () => {
    fc.assert(
      fc.property(frame(serializer), (data) => {
        const started = performance.now()
        try {
          serializers[serializer].decode(Buffer.from(data))
        } catch {
          // a bad frame: the session answers it with a protocol violation
        }
        expect(performance.now() - started).toBeLessThan(1000)
      }),
      { numRuns: DECODE_RUNS, seed: fuzzSeed() }
    )
  })
})

const { routerIsWell, url } = useFuzzRouter()

describe.each(SERIALIZERS)("raw frames over %s", (serializer) => {
  it("a bad first frame ends at most its own connection", async () => {
    await fc.assert(
      fc.asyncProperty(frame(serializer), async (data) => {
        await runBatch(url(), serializer, [], data)
        await routerIsWell()
      }),
      { numRuns: SOCKET_RUNS, seed: fuzzSeed() }
    )
  }, 60_000)

  it("bad frames in an established session end at most that session", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(frame(serializer), { minLength: 1, maxLength: 3 }), async (frames) => {
        const outcome = await runBatch(url(), serializer, frames)
        // an undecodable frame is a protocol violation of that session
        const abort = outcome.received.find((m) => m[0] === 3)
        if (abort !== undefined) expect(abort[2]).toMatch(/^wamp\.error\.(protocol_violation|payload_size_exceeded)$/)
        await routerIsWell()
      }),
      { numRuns: SOCKET_RUNS, seed: fuzzSeed() }
    )
  }, 60_000)
})
