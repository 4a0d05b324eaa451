/**
 * Property: nothing a peer sends stops the router or harms another session. Generated messages of
 * every type the router accepts, with fields and options replaced by hostile values, go over real
 * WebSockets in each serializer. Every message is handled by the checks themselves (the safety net
 * that catches an escaping exception is never needed), every call the session may expect an
 * answer to gets one, and after every batch a well-behaved pair of sessions still completes a
 * call and an event.
 *
 * Reproduce a failure with FUZZ_SEED=<seed> (fast-check prints it); FUZZ_RUNS sets the runs per
 * property (default 100 HELLO batches and 300 message batches per serializer).
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import type { SerializerName } from "../../src/router/types.js"
import {
  encodable,
  type FuzzRouter,
  fuzzRuns,
  fuzzSeed,
  hostileHello,
  hostileMessage,
  mustAnswer,
  openPair,
  type Pair,
  runBatch,
  startFuzzRouter
} from "./fuzz-support.js"

const SERIALIZERS: ReadonlyArray<SerializerName> = ["json", "msgpack", "cbor"]
const HELLO_RUNS = fuzzRuns(100)
const MESSAGE_RUNS = fuzzRuns(300)

let fuzz: FuzzRouter
let pair: Pair
let checks = 0

beforeAll(async () => {
  fuzz = await startFuzzRouter()
  pair = await openPair(fuzz.router.url)
}, 30_000)

afterAll(async () => {
  pair?.close()
  await fuzz?.router.close()
})

/** After a batch: nothing reached the safety net, and the pair still completes a call and an event. */
const routerIsWell = async (): Promise<void> => {
  expect(fuzz.internalErrors()).toEqual([])
  await pair.check(++checks)
}

describe.each(SERIALIZERS)("hostile messages over %s", (serializer) => {
  it("a hostile HELLO ends at most its own session", async () => {
    await fc.assert(
      fc.asyncProperty(hostileHello, async (hello) => {
        const frame = encodable(serializer, hello)
        if (frame === undefined) return
        await runBatch(fuzz.router.url, serializer, [], frame)
        await routerIsWell()
      }),
      { numRuns: HELLO_RUNS, seed: fuzzSeed() }
    )
  }, 60_000)

  it("hostile messages of every type end at most their own session", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(hostileMessage, { minLength: 1, maxLength: 6 }), async (batch) => {
        const sent = batch.filter((m) => encodable(serializer, m) !== undefined)
        const frames = sent.map((m) => encodable(serializer, m)!)
        await runBatch(fuzz.router.url, serializer, frames, undefined, mustAnswer(sent))
        await routerIsWell()
      }),
      { numRuns: MESSAGE_RUNS, seed: fuzzSeed() }
    )
  }, 120_000)
})
