/**
 * The serializers against independent implementations (autobahn's JSON, msgpack5 and cbor
 * serializers): what one encodes the other decodes, byte arrays included, and JSON follows the
 * spec's binary convention ("\u0000" + base64). A strict reference decoder checks the wire type of
 * every item: integers as msgpack/CBOR integers (never floats), strings as strings, bytes as bytes.
 */
import { describe, expect, it } from "@effect/vitest"
import autobahn from "autobahn"
import * as fc from "fast-check"
import { JsonSerializer, MsgpackSerializer } from "../../src/layers/wamp/serializers.js"
import { serializerForProtocol, serializers } from "../../src/wamp/codecs.js"
import type { SerializerName } from "../../src/router/types.js"

const peers: Record<SerializerName, () => autobahn.Serializer> = {
  json: () => new autobahn.serializer.JSONSerializer(),
  msgpack: () => new autobahn.serializer.MsgpackSerializer!(),
  cbor: () => new autobahn.serializer.CBORSerializer!()
}

// 2^52 + 3: an id that needs 64 bits (autobahn's cbor decodes only 2^53 itself as a bigint)
const sample = [48, 4503599627370499, { receive_progress: true, nested: { a: [1, 2.5, null] } }, "com.example.p", [
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

  it("refuses CBOR tags that build objects from a peer's data (27 generic object, 28/29 shared values)", () => {
    // [16, tag 27 ["RegExp", "a+"]]
    const genericObject = Buffer.from([0x82, 0x10, 0xd8, 0x1b, 0x82, 0x66, ...Buffer.from("RegExp"), 0x62, 0x61, 0x2b])
    expect(() => serializers.cbor.decode(genericObject)).toThrow(/tag 27/)
    // tag 28 around [1], and tag 29 referring to it: a value sharing pair
    expect(() => serializers.cbor.decode(Buffer.from([0x82, 0xd8, 0x1c, 0x81, 0x01, 0xd8, 0x1d, 0x00]))).toThrow(/tag 28/)
    expect(() => serializers.cbor.decode(Buffer.from([0x81, 0xd8, 0x1d, 0x00]))).toThrow(/tag 29/)
    // a plain CBOR array still decodes
    expect(serializers.cbor.decode(Buffer.from([0x82, 0x10, 0x01]))).toEqual([16, 1])
  })
})

/**
 * A strict reference decoder for the tests: it keeps the wire type of every item (an integer is an
 * `int` with a bigint value, a float a `float`), as Autobahn|Python's msgpack and cbor2 do.
 */
type Wire =
  | { readonly t: "int"; readonly v: bigint }
  | { readonly t: "float"; readonly v: number }
  | { readonly t: "str"; readonly v: string }
  | { readonly t: "bytes"; readonly v: Buffer }
  | { readonly t: "nil" }
  | { readonly t: "bool"; readonly v: boolean }
  | { readonly t: "array"; readonly v: ReadonlyArray<Wire> }
  | { readonly t: "map"; readonly v: ReadonlyArray<readonly [Wire, Wire]> }

const strictMsgpack = (bytes: Buffer): Wire => {
  let at = 0
  const n = (size: number): number => {
    const v = bytes.readUIntBE(at, size)
    at += size
    return v
  }
  const str = (length: number): Wire => ({ t: "str", v: bytes.toString("utf8", at, (at += length)) })
  const bin = (length: number): Wire => ({ t: "bytes", v: Buffer.from(bytes.subarray(at, (at += length))) })
  const items = (count: number): Wire => ({ t: "array", v: Array.from({ length: count }, () => item()) })
  const pairs = (count: number): Wire => ({ t: "map", v: Array.from({ length: count }, () => [item(), item()] as const) })
  const item = (): Wire => {
    const b = bytes[at++]!
    if (b <= 0x7f) return { t: "int", v: BigInt(b) }
    if (b >= 0xe0) return { t: "int", v: BigInt(b - 0x100) }
    if (b <= 0x8f) return pairs(b & 0x0f)
    if (b <= 0x9f) return items(b & 0x0f)
    if (b <= 0xbf) return str(b & 0x1f)
    const big = (read: (at: number) => bigint): Wire => {
      const v = read(at)
      at += 8
      return { t: "int", v }
    }
    switch (b) {
      case 0xc0: return { t: "nil" }
      case 0xc2: return { t: "bool", v: false }
      case 0xc3: return { t: "bool", v: true }
      case 0xc4: return bin(n(1))
      case 0xc5: return bin(n(2))
      case 0xc6: return bin(n(4))
      case 0xca: return { t: "float", v: bytes.readFloatBE((at += 4) - 4) }
      case 0xcb: return { t: "float", v: bytes.readDoubleBE((at += 8) - 8) }
      case 0xcc: return { t: "int", v: BigInt(n(1)) }
      case 0xcd: return { t: "int", v: BigInt(n(2)) }
      case 0xce: return { t: "int", v: BigInt(n(4)) }
      case 0xcf: return big((i) => bytes.readBigUInt64BE(i))
      case 0xd0: return { t: "int", v: BigInt(bytes.readInt8((at += 1) - 1)) }
      case 0xd1: return { t: "int", v: BigInt(bytes.readInt16BE((at += 2) - 2)) }
      case 0xd2: return { t: "int", v: BigInt(bytes.readInt32BE((at += 4) - 4)) }
      case 0xd3: return big((i) => bytes.readBigInt64BE(i))
      case 0xd9: return str(n(1))
      case 0xda: return str(n(2))
      case 0xdb: return str(n(4))
      case 0xdc: return items(n(2))
      case 0xdd: return items(n(4))
      case 0xde: return pairs(n(2))
      case 0xdf: return pairs(n(4))
      default: throw new Error(`strict msgpack: type byte 0x${b.toString(16)} is not part of WAMP's data model`)
    }
  }
  const value = item()
  if (at !== bytes.length) throw new Error("strict msgpack: trailing bytes")
  return value
}

const strictCbor = (bytes: Buffer): Wire => {
  let at = 0
  const item = (): Wire => {
    const b = bytes[at++]!
    const major = b >> 5
    const info = b & 0x1f
    if (b === 0xf4 || b === 0xf5) return { t: "bool", v: b === 0xf5 }
    if (b === 0xf6) return { t: "nil" }
    if (b === 0xf9) throw new Error("strict cbor: half floats are not expected")
    if (b === 0xfa) return { t: "float", v: bytes.readFloatBE((at += 4) - 4) }
    if (b === 0xfb) return { t: "float", v: bytes.readDoubleBE((at += 8) - 8) }
    let argument: bigint
    if (info < 24) argument = BigInt(info)
    else if (info === 24) argument = BigInt(bytes.readUInt8((at += 1) - 1))
    else if (info === 25) argument = BigInt(bytes.readUInt16BE((at += 2) - 2))
    else if (info === 26) argument = BigInt(bytes.readUInt32BE((at += 4) - 4))
    else if (info === 27) argument = bytes.readBigUInt64BE((at += 8) - 8)
    else throw new Error(`strict cbor: initial byte 0x${b.toString(16)} is not part of WAMP's data model`)
    const length = Number(argument)
    switch (major) {
      case 0: return { t: "int", v: argument }
      case 1: return { t: "int", v: -1n - argument }
      case 2: return { t: "bytes", v: Buffer.from(bytes.subarray(at, (at += length))) }
      case 3: return { t: "str", v: bytes.toString("utf8", at, (at += length)) }
      case 4: return { t: "array", v: Array.from({ length }, () => item()) }
      case 5: return { t: "map", v: Array.from({ length }, () => [item(), item()] as const) }
      default: throw new Error(`strict cbor: major type ${major} (tags, simple values) is not part of WAMP's data model`)
    }
  }
  const value = item()
  if (at !== bytes.length) throw new Error("strict cbor: trailing bytes")
  return value
}

const strict: Record<"msgpack" | "cbor", (bytes: Buffer) => Wire> = { msgpack: strictMsgpack, cbor: strictCbor }

/** The wire form a JS value must take: integers in [-2^53, 2^53] as integers, other numbers as floats. */
const expectedWire = (value: unknown): Wire => {
  if (value === null) return { t: "nil" }
  if (typeof value === "boolean") return { t: "bool", v: value }
  if (typeof value === "number") {
    return Number.isInteger(value) && Math.abs(value) <= 2 ** 53 ? { t: "int", v: BigInt(value) } : { t: "float", v: value }
  }
  if (typeof value === "bigint") return { t: "int", v: value }
  if (typeof value === "string") return { t: "str", v: value }
  if (value instanceof Uint8Array) return { t: "bytes", v: Buffer.from(value) }
  if (Array.isArray(value)) return { t: "array", v: value.map(expectedWire) }
  return { t: "map", v: Object.entries(value as object).map(([k, v]) => [{ t: "str", v: k }, expectedWire(v)] as const) }
}

const encodedBytes = (name: SerializerName, message: ReadonlyArray<unknown>): Buffer =>
  Buffer.from(serializers[name].encode(message, true) as Uint8Array)

const ids = [2 ** 32, 2 ** 32 + 1, 2 ** 40 + 7, 2 ** 52 + 3, 2 ** 53 - 1, 2 ** 53]

describe("integers on the wire", () => {
  it.each(ids)("msgpack writes the id %d as uint64 (0xcf), never as float64 (0xcb)", (id) => {
    const bytes = encodedBytes("msgpack", [id])
    expect(bytes[1]).toBe(0xcf)
    expect(bytes.readBigUInt64BE(2)).toBe(BigInt(id))
    expect(serializers.msgpack.decode(bytes)).toEqual([id])
  })

  it.each(ids)("msgpack writes -%d as int64 (0xd3)", (id) => {
    const bytes = encodedBytes("msgpack", [-id])
    expect(bytes[1]).toBe(0xd3)
    expect(bytes.readBigInt64BE(2)).toBe(BigInt(-id))
    expect(serializers.msgpack.decode(bytes)).toEqual([-id])
  })

  it.each(ids)("CBOR writes the id %d as major type 0 (0x1b), never as major type 7", (id) => {
    const bytes = encodedBytes("cbor", [id])
    expect(bytes[1]).toBe(0x1b)
    expect(bytes.readBigUInt64BE(2)).toBe(BigInt(id))
    expect(serializers.cbor.decode(bytes)).toEqual([id])
  })

  // -2^32 still fits CBOR's 32-bit argument (-1 - n with n = 2^32 - 1)
  it.each(ids.filter((id) => id > 2 ** 32))("CBOR writes -%d as major type 1 (0x3b)", (id) => {
    const bytes = encodedBytes("cbor", [-id])
    expect(bytes[1]).toBe(0x3b)
    expect(bytes.readBigUInt64BE(2)).toBe(BigInt(id) - 1n)
    expect(serializers.cbor.decode(bytes)).toEqual([-id])
  })

  it("keeps small integers in their shortest forms and non-integers as float64", () => {
    expect(encodedBytes("msgpack", [1, 200, 70000, 2 ** 32 - 1, -5, -(2 ** 31)]).toString("hex")).toBe("9601ccc8ce00011170ceffffffff" + "fbd280000000")
    expect(encodedBytes("msgpack", [1.5])[1]).toBe(0xcb)
    expect(encodedBytes("msgpack", [2 ** 53 + 2])[1]).toBe(0xcb)
    expect(encodedBytes("cbor", [1, 200, 70000, -5])).toEqual(Buffer.from("840118c81a0001117024", "hex"))
    expect(encodedBytes("cbor", [1.5])[1]).toBe(0xfb)
    expect(encodedBytes("cbor", [-(2 ** 60)])[1]).toBe(0xfb)
  })

  it("rewrites a float64 only where an item starts, not inside strings or byte arrays that hold 0xcb/0xfb", () => {
    const tricky = [Buffer.from([0xcb, 0x43, 0x30, 0, 0, 0, 0, 0, 0]), "\u00cb\u00fb", 2 ** 52 + 1, 0.25]
    for (const name of ["msgpack", "cbor"] as const) {
      expect(strict[name](encodedBytes(name, tricky))).toEqual(expectedWire(tricky))
      expect(serializers[name].decode(encodedBytes(name, tricky))).toEqual(tricky)
    }
  })

  it("decodes 64-bit integers beyond 2^53 as exact bigints (never a valid id), within as numbers", () => {
    expect(serializers.msgpack.decode(Buffer.from("92cf0020000000000001d3ffdfffffffffffff", "hex"))).toEqual([2n ** 53n + 1n, -(2n ** 53n) - 1n])
    expect(serializers.msgpack.decode(Buffer.from("91cf0000000100000000", "hex"))).toEqual([2 ** 32])
    expect(serializers.cbor.decode(Buffer.from("821b00200000000000013b0020000000000000", "hex"))).toEqual([2n ** 53n + 1n, -(2n ** 53n) - 1n])
    expect(serializers.cbor.decode(Buffer.from("821b00200000000000003b001fffffffffffff", "hex"))).toEqual([2 ** 53, -(2 ** 53)])
    expect(serializers.cbor.decode(Buffer.from("a1616b1b0000000100000000", "hex"))).toEqual({ k: 2 ** 32 })
  })

  it("writes such a bigint to JSON as its exact digits", () => {
    const decoded = serializers.msgpack.decode(Buffer.from("9310cf7fffffffffffffff80", "hex")) as ReadonlyArray<unknown>
    expect(serializers.json.encode(decoded, serializers.msgpack.lastHoldsBinary)).toBe("[16,9223372036854775807,{}]")
  })
})

/** Values of WAMP's data model: null, booleans, numbers, strings, byte arrays, lists and string-keyed dicts. */
const wampValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.constant(null),
    fc.boolean(),
    fc.maxSafeInteger(),
    fc.integer({ min: -(2 ** 31), max: 2 ** 32 }),
    fc.constantFrom(2 ** 53, -(2 ** 53), 2 ** 32, -(2 ** 32) - 1),
    fc.double({ noDefaultInfinity: false }),
    fc.string({ unit: "binary" }),
    fc.uint8Array({ maxLength: 40 }).map((bytes) => Buffer.from(bytes)),
    fc.array(tie("value"), { maxLength: 6 }),
    fc.dictionary(fc.string({ unit: "binary", maxLength: 8 }), tie("value"), { maxKeys: 6 })
  )
})).value

const sameValue = (decoded: unknown, original: unknown): void => {
  if (original instanceof Uint8Array) {
    expect(decoded).toBeInstanceOf(Uint8Array)
    expect(Buffer.from(decoded as Uint8Array)).toEqual(Buffer.from(original))
  } else if (typeof original === "number") {
    // -0 is an integer 0 on the wire
    expect(Object.is(original, -0) ? decoded === 0 : Object.is(decoded, original)).toBe(true)
  } else if (Array.isArray(original)) {
    expect(Array.isArray(decoded)).toBe(true)
    expect((decoded as Array<unknown>).length).toBe(original.length)
    original.forEach((v, i) => sameValue((decoded as Array<unknown>)[i], v))
  } else if (original !== null && typeof original === "object") {
    expect(Object.keys(decoded as object).sort()).toEqual(Object.keys(original).sort())
    for (const [k, v] of Object.entries(original)) sameValue((decoded as Record<string, unknown>)[k], v)
  } else {
    expect(decoded).toBe(original)
  }
}

describe.each(["msgpack", "cbor"] as const)("%s properties", (name) => {
  it("any safe integer, and ±2^53, travels as an integer and reads back exactly", () => {
    fc.assert(
      fc.property(fc.oneof(fc.maxSafeInteger(), fc.constantFrom(2 ** 53, -(2 ** 53))), (n) => {
        const bytes = encodedBytes(name, [n])
        const wire = strict[name](bytes) as { t: "array"; v: ReadonlyArray<Wire> }
        expect(wire.v[0]).toEqual({ t: "int", v: BigInt(n) })
        expect(serializers[name].decode(bytes)).toEqual([n])
      }),
      { numRuns: 2000 }
    )
  })

  it("any non-integer stays a float and reads back identically", () => {
    fc.assert(
      fc.property(fc.double().filter((d) => !Number.isInteger(d)), (d) => {
        const bytes = encodedBytes(name, [d])
        expect(strict[name](bytes)).toEqual({ t: "array", v: [{ t: "float", v: d }] })
        expect(Object.is((serializers[name].decode(bytes) as Array<number>)[0], d)).toBe(true)
      }),
      { numRuns: 1000 }
    )
  })

  it("any string stays a string and any byte array a byte array", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), fc.uint8Array(), (s, b) => {
        const bytes = encodedBytes(name, [s, Buffer.from(b)])
        expect(strict[name](bytes)).toEqual({ t: "array", v: [{ t: "str", v: s }, { t: "bytes", v: Buffer.from(b) }] })
      }),
      { numRuns: 1000 }
    )
  })

  it("any message of WAMP's data model keeps every item's type on the wire and round-trips", () => {
    fc.assert(
      fc.property(fc.array(wampValue, { maxLength: 7 }), (message) => {
        const bytes = encodedBytes(name, message)
        expect(strict[name](bytes)).toEqual(expectedWire(message))
        sameValue(serializers[name].decode(bytes), message)
      }),
      { numRuns: 1000 }
    )
  })
})

describe("JSON properties", () => {
  it("byte arrays anywhere travel as \"\\u0000\" + base64 and come back as bytes; other values unchanged", () => {
    fc.assert(
      fc.property(fc.array(wampValue, { maxLength: 7 }), (message) => {
        const text = serializers.json.encode(message, true) as string
        const plain = JSON.parse(text) as unknown
        const walk = (original: unknown, parsed: unknown): void => {
          if (original instanceof Uint8Array) expect(parsed).toBe("\u0000" + Buffer.from(original).toString("base64"))
          else if (Array.isArray(original)) original.forEach((v, i) => walk(v, (parsed as Array<unknown>)[i]))
          else if (original !== null && typeof original === "object") {
            for (const [k, v] of Object.entries(original)) walk(v, (parsed as Record<string, unknown>)[k])
          }
        }
        walk(message, plain)
      }),
      { numRuns: 500 }
    )
  })
})

describe("the component's autobahn serializers", () => {
  it("write a bigint (a 64-bit integer beyond 2^53 from a msgpack or CBOR peer) to JSON as its exact digits", () => {
    const json = new JsonSerializer()
    expect(json.serialize([70, 1, {}, [2n ** 60n + 1n, 2.5]])).toBe("[70,1,{},[1152921504606846977,2.5]]")
    const msgpack = new MsgpackSerializer()
    expect(msgpack.unserialize(Buffer.from(msgpack.serialize([70, 1, {}, [2n ** 60n + 1n, 2 ** 53]]) as Uint8Array))).toEqual([70, 1, {}, [2n ** 60n + 1n, 2 ** 53]])
  })
})
