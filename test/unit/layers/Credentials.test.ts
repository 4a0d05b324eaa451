/**
 * The component's credential files and the answers it gives to a router's challenges: key files in
 * the formats they may come in (Autobahn|Python's, a bare hex seed, a tweetnacl secret key), and
 * the signatures, checked by the router's own verification (src/router/auth.ts).
 */
import { assert, describe, it } from "@effect/vitest"
import autobahn from "autobahn"
import * as fc from "fast-check"
import * as Redacted from "effect/Redacted"
import { randomBytes } from "node:crypto"
import * as Credentials from "../../../src/layers/Credentials.js"
import { craSignature, cryptosignValid, deriveCraKey } from "../../../src/router/auth.js"

const seed = new Uint8Array(Buffer.from("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", "hex"))
// RFC 8032, test 1: this seed's public key
const RFC8032_PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"

const fakeSession = undefined as unknown as autobahn.Session

describe("key files", () => {
  it("the public key of a seed is Ed25519's (RFC 8032 test vector)", () => {
    assert.strictEqual(Credentials.publicKeyOf(seed), RFC8032_PUBLIC)
  })

  it("reads Autobahn|Python's key file, a bare hex seed, and a 64-byte tweetnacl secret key", () => {
    const hex = Buffer.from(seed).toString("hex")
    for (const text of [`# comment\npublic-key-ed25519: ${RFC8032_PUBLIC}\nprivate-key-ed25519: ${hex}\n`, `${hex}\n`, `${hex}${RFC8032_PUBLIC}`]) {
      assert.deepStrictEqual(Credentials.parseKeyFile(text), seed)
    }
  })

  it("anything else is no key, and reading never throws (property)", () => {
    fc.assert(fc.property(fc.string({ maxLength: 300 }), (text) => {
      const parsed = Credentials.parseKeyFile(text)
      assert.isTrue(parsed === undefined || parsed.length === 32)
    }))
    assert.isUndefined(Credentials.parseKeyFile("private-key-ed25519: 1234"))
  })
})

describe("answers to challenges", () => {
  it("wampcra, salted or not: the signature the router expects (property, against autobahn's derivation too)", () => {
    fc.assert(fc.property(
      fc.string({ minLength: 1, maxLength: 40 }),
      fc.option(fc.string({ minLength: 1, maxLength: 20 }), { nil: undefined }),
      fc.integer({ min: 1, max: 50 }),
      fc.constantFrom(16, 32, 64),
      fc.string({ maxLength: 200 }),
      (secret, salt, iterations, keylen, challenge) => {
        const options = Credentials.connectionOptions({ method: "wampcra", authid: "svc", secret: Redacted.make(secret) })
        const extra = salt === undefined ? { challenge } : { challenge, salt, iterations, keylen }
        const answer = options.onchallenge!(fakeSession, "wampcra", extra)
        const key = salt === undefined ? secret : deriveCraKey(secret, salt, iterations, keylen)
        assert.strictEqual(answer, craSignature(key, challenge))
        if (salt !== undefined) assert.strictEqual(autobahn.auth_cra.derive_key(secret, salt, iterations, keylen), key)
      }
    ), { numRuns: 100 })
  })

  it("cryptosign: the router verifies the signature of any challenge, and no other key's (property)", () => {
    const key = { publicKey: Credentials.publicKeyOf(seed), seed: Redacted.make(seed) }
    const options = Credentials.connectionOptions({ method: "cryptosign", authid: undefined, key })
    assert.deepStrictEqual(options.authextra, { pubkey: RFC8032_PUBLIC })
    assert.isUndefined(options.authid)
    fc.assert(fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (bytes) => {
      const challenge = Buffer.from(bytes).toString("hex")
      const signature = options.onchallenge!(fakeSession, "cryptosign", { challenge }) as string
      assert.isTrue(cryptosignValid(RFC8032_PUBLIC, challenge, signature))
      assert.isFalse(cryptosignValid(Credentials.publicKeyOf(new Uint8Array(randomBytes(32))), challenge, signature))
    }), { numRuns: 50 })
  })

  it("a ticket is sent as it is; a challenge for another method is refused", () => {
    const options = Credentials.connectionOptions({ method: "ticket", authid: "joe", ticket: Redacted.make("t0p s3cret") })
    assert.deepStrictEqual(options.authmethods, ["ticket"])
    assert.strictEqual(options.onchallenge!(fakeSession, "ticket", {}), "t0p s3cret")
    assert.throws(() => options.onchallenge!(fakeSession, "wampcra", { challenge: "x" }))
  })
})
