/**
 * The serializers against independent implementations (autobahn's JSON, msgpack5 and cbor
 * serializers): what one encodes the other decodes, byte arrays included, and JSON follows the
 * spec's binary convention ("\u0000" + base64).
 */
import { describe, expect, it } from "@effect/vitest"
import autobahn from "autobahn"
import { serializerForProtocol, serializers } from "../../src/wamp/codecs.js"
import type { SerializerName } from "../../src/router/types.js"

const peers: Record<SerializerName, () => autobahn.Serializer> = {
  json: () => new autobahn.serializer.JSONSerializer(),
  msgpack: () => new autobahn.serializer.MsgpackSerializer!(),
  cbor: () => new autobahn.serializer.CBORSerializer!()
}

const sample = [48, 9007199254740992, { receive_progress: true, nested: { a: [1, 2.5, null] } }, "com.example.p", [
  "text é ✓",
  -17,
  true,
  false,
  null
], { k: { deep: ["x"] } }]

describe.each(["json", "msgpack", "cbor"] as const)("%s serializer", (name) => {
  const ours = serializers[name]

  it("round-trips a message through the independent implementation both ways", async () => {
    const peer = peers[name]()
    const encoded = ours.encode(sample, false)
    const decodedByPeer = await peer.unserialize(typeof encoded === "string" ? encoded : Buffer.from(encoded))
    expect(decodedByPeer).toEqual(sample)
    const fromPeer = await peer.serialize(sample)
    const decoded = ours.decode(typeof fromPeer === "string" ? Buffer.from(fromPeer) : Buffer.from(fromPeer as Uint8Array))
    expect(decoded).toEqual(sample)
  })

  it("carries byte arrays as bytes", () => {
    const bytes = Buffer.from([0, 1, 2, 250, 255])
    const message = [36, 1, 2, {}, [bytes], { b: new Uint8Array([7]) }]
    const encoded = ours.encode(message, true)
    const decoded = ours.decode(typeof encoded === "string" ? Buffer.from(encoded) : Buffer.from(encoded)) as Array<unknown>
    expect(Buffer.from((decoded[4] as Array<Uint8Array>)[0]!)).toEqual(bytes)
    expect(Buffer.from((decoded[5] as Record<string, Uint8Array>)["b"]!)).toEqual(Buffer.from([7]))
  })

  it("names its subprotocol", () => {
    expect(ours.protocol).toBe(`wamp.2.${name}`)
    expect(serializerForProtocol(ours.protocol)).toBe(name)
  })
})

describe("JSON binary convention", () => {
  it("encodes bytes as a string of NUL followed by base64 and decodes such strings to bytes", () => {
    const json = serializers.json
    expect(json.encode([1, [new Uint8Array([1, 2, 3])]], true)).toBe(JSON.stringify([1, ["\u0000AQID"]]))
    const decoded = json.decode(Buffer.from(JSON.stringify([1, ["\u0000AQID", "plain"]]))) as [number, [Uint8Array, string]]
    expect(json.lastHoldsBinary).toBe(true)
    expect(Buffer.from(decoded[1][0])).toEqual(Buffer.from([1, 2, 3]))
    expect(decoded[1][1]).toBe("plain")
    json.decode(Buffer.from(JSON.stringify([1, ["no bytes here"]])))
    expect(json.lastHoldsBinary).toBe(false)
  })

  it("rejects undecodable input by throwing", () => {
    expect(() => serializers.json.decode(Buffer.from("[1,"))).toThrow()
    expect(() => serializers.msgpack.decode(Buffer.from([0x93, 0x01]))).toThrow()
    expect(() => serializers.cbor.decode(Buffer.from([0x83, 0x01]))).toThrow()
  })
})
