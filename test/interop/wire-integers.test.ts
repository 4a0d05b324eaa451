/**
 * 64-bit integers from msgpack and CBOR peers through the router: an id beyond 2^53 is a protocol
 * violation (never silently rounded to a valid id), and a payload integer beyond 2^53 reaches
 * subscribers exactly, on every serializer (JSON as its digits).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { promise, raw, router } from "../router/support.js"

/** A hand-encoded frame: `[head..., <64-bit integer>, tail...]` where head and tail are already encoded. */
const frame = (serializer: "msgpack" | "cbor", arrayLength: number, head: string, big: bigint, tail = ""): Buffer => {
  const int = Buffer.alloc(9)
  int[0] = serializer === "msgpack" ? 0xcf : 0x1b
  int.writeBigUInt64BE(big, 1)
  const array = serializer === "msgpack" ? 0x90 + arrayLength : 0x80 + arrayLength
  return Buffer.concat([Buffer.from([array]), Buffer.from(head, "hex"), int, Buffer.from(tail, "hex")])
}

const TOPIC = "com.example.big"
const topicHex = Buffer.from(TOPIC).toString("hex")
const BIG = 2n ** 60n + 1n

describe.each(["msgpack", "cbor"] as const)("64-bit integers from a %s peer", (serializer) => {
  // msgpack: fixstr a0+n, fixmap 80; CBOR: text 60+n, map a0
  const str = serializer === "msgpack" ? (0xa0 + TOPIC.length).toString(16) : (0x60 + TOPIC.length).toString(16)
  const emptyMap = serializer === "msgpack" ? "80" : "a0"
  const call = serializer === "msgpack" ? "30" : "1830" // 48
  const publish = "10" // 16 in both

  it.live("a request id of 2^53 + 1 ends the session as a protocol violation", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const client = yield* raw(r.url, serializer)
      yield* promise(() => client.hello())
      // [CALL, 2^53 + 1, {}, "com.example.big"]
      client.sendRaw(frame(serializer, 4, call, 2n ** 53n + 1n, emptyMap + str + topicHex))
      const abort = yield* promise(() => client.next())
      expect(abort[0]).toBe(3)
      expect(abort[2]).toBe("wamp.error.protocol_violation")
      expect(yield* promise(() => client.closed)).toMatchObject({ code: expect.any(Number) })
    }))

  it.live("an argument of 2^60 + 1 reaches JSON, msgpack and CBOR subscribers exactly", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const subscribers = {
        json: yield* raw(r.url, "json"),
        msgpack: yield* raw(r.url, "msgpack"),
        cbor: yield* raw(r.url, "cbor")
      }
      for (const s of Object.values(subscribers)) {
        yield* promise(() => s.hello())
        s.send([32, 1, {}, TOPIC])
        expect((yield* promise(() => s.next()))[0]).toBe(33)
      }
      const jsonTexts: Array<string> = []
      subscribers.json.ws.on("message", (data: Buffer) => jsonTexts.push(data.toString()))
      const publisher = yield* raw(r.url, serializer)
      yield* promise(() => publisher.hello())
      // [PUBLISH, 1, {}, "com.example.big", [2^60 + 1]]
      const args = (serializer === "msgpack" ? "91" : "81") + frame(serializer, 0, "", BIG).subarray(1).toString("hex")
      publisher.sendRaw(Buffer.from((serializer === "msgpack" ? "95" : "85") + publish + "01" + emptyMap + str + topicHex + args, "hex"))
      for (const [name, s] of Object.entries(subscribers)) {
        const event = yield* promise(() => s.next())
        expect(event[0]).toBe(36)
        // the project's msgpack and CBOR decoders give an exact bigint; JSON.parse a rounded number
        expect(event[4]).toEqual([name === "json" ? Number(BIG) : BIG])
      }
      // the JSON text carries the exact digits
      expect(jsonTexts.at(-1)).toContain(`[${BIG}]`)
    }))
})
