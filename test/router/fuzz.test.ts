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
import { describe, it } from "@effect/vitest"
import fc from "fast-check"
import type { SerializerName } from "../../src/router/types.js"
import {
  encodable,
  fuzzRuns,
  fuzzSeed,
  hostileHello,
  hostileMessage,
  mustAnswer,
  runBatch,
  useFuzzRouter
} from "./fuzz-support.js"

const SERIALIZERS: ReadonlyArray<SerializerName> = ["json", "msgpack", "cbor"]
const HELLO_RUNS = fuzzRuns(100)
const MESSAGE_RUNS = fuzzRuns(300)

const { routerIsWell, url } = useFuzzRouter()

describe.each(SERIALIZERS)("hostile messages over %s", (serializer) => {
  it("a hostile HELLO ends at most its own session", async () => {
    await fc.assert(
      fc.asyncProperty(hostileHello, async (hello) => {
        const frame = encodable(serializer, hello)
        if (frame === undefined) return
        await runBatch(url(), serializer, [], frame)
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
        await runBatch(url(), serializer, frames, undefined, mustAnswer(sent))
        await routerIsWell()
      }),
      { numRuns: MESSAGE_RUNS, seed: fuzzSeed() }
    )
  }, 120_000)
})
