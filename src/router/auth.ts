/**
 * Authentication of a HELLO against the methods a transport offers, as Crossbar.io does it:
 * anonymous, ticket, WAMP-CRA (plain or salted secrets) and WAMP-cryptosign (Ed25519), each from
 * static principals in the configuration or from a dynamic authenticator procedure.
 *
 * Every failure looks the same to the client (wamp.error.not_authorized, "authentication
 * failed"), whether the authid is unknown, the secret wrong or the realm not the principal's: an
 * unknown authid still gets a challenge (from a dummy secret or key) that it cannot answer.
 * Secrets are compared in constant time and never appear in messages or logs.
 */
import { createHmac, createPublicKey, pbkdf2, pbkdf2Sync, randomBytes, timingSafeEqual, verify } from "node:crypto"
import { describeValue, isDict } from "../wamp/messages.js"
import { isValidUri } from "../wamp/uri.js"
import { Uri } from "../wamp/uris.js"
import type { AuthMethod, ChallengeMethodName, CraUser, Grant } from "./types.js"

export interface Identity {
  readonly authid: string
  readonly authrole: string
  readonly authmethod: string
  readonly authprovider: string
}

/** What the router does next in a handshake. */
export type Step =
  | { readonly _tag: "welcome"; readonly identity: Identity }
  | { readonly _tag: "abort"; readonly reason: string; readonly message: string }
  | {
    readonly _tag: "challenge"
    readonly authmethod: ChallengeMethodName
    readonly extra: Record<string, unknown>
    /** Checks AUTHENTICATE.Signature (its shape was checked: a string of bounded length). */
    readonly verify: (signature: string) => Step | Promise<Step>
  }

/** A procedure call made by the router failed: the callee's (or the dealer's) error URI and args. */
export class CallFailure {
  constructor(readonly error: string, readonly args: ReadonlyArray<unknown>) {}
}

/** What authentication needs from the session and the router. */
export interface HelloContext {
  /** The realm the client asked for. */
  readonly realm: string
  /** The session id WELCOME will carry (WAMP-CRA's challenge names it). */
  readonly session: number
  /** The transport's details, passed to dynamic authenticators. */
  readonly transport: Readonly<Record<string, unknown>>
  /** Calls `procedure` on `realm` as the router; resolves with the first result argument, rejects with a {@link CallFailure}. */
  readonly call: (realm: string, procedure: string, args: ReadonlyArray<unknown>) => Promise<unknown>
  /** Where a dynamic authenticator that misbehaves is reported (never with secrets). */
  readonly warn: (message: string) => void
}

const FAILED: Step = Object.freeze({ _tag: "abort", reason: Uri.notAuthorized, message: "authentication failed" })

/** Crossbar-like anonymous authid: a random serial such as "N4Y7-5CWL-XJ3C-9LGQ-KH7P-RA6E". */
const anonymousAuthid = (): string => {
  const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
  const bytes = randomBytes(24)
  let out = ""
  for (let i = 0; i < 24; i++) {
    if (i > 0 && i % 4 === 0) out += "-"
    out += alphabet[bytes[i]! % alphabet.length]
  }
  return out
}

// ---------------------------------------------------------------------------------------------
// primitives

/** Constant-time equality of two strings of any length: their SHA-256 digests are compared. */
export const sameSecret = (a: string, b: string): boolean =>
  timingSafeEqual(createHmac("sha256", DIGEST_KEY).update(a).digest(), createHmac("sha256", DIGEST_KEY).update(b).digest())

/** A per-process key: digests of secrets are of no use outside this process. */
const DIGEST_KEY = randomBytes(32)

/** Autobahn's and Crossbar's salted WAMP-CRA key: PBKDF2-HMAC-SHA256, base64 (the text is the HMAC key). */
export const deriveCraKey = (secret: string, salt: string, iterations: number, keylen: number): string =>
  pbkdf2Sync(secret, salt, iterations, keylen, "sha256").toString("base64")

/** {@link deriveCraKey} off the event loop (a dynamic authenticator may ask for many iterations). */
const deriveCraKeyAsync = (secret: string, salt: string, iterations: number, keylen: number): Promise<string> =>
  new Promise((resolve, reject) =>
    pbkdf2(secret, salt, iterations, keylen, "sha256", (error, key) => (error === null ? resolve(key.toString("base64")) : reject(error)))
  )

/** A WAMP-CRA signature: base64 HMAC-SHA256 of the challenge text keyed with the (derived) secret. */
export const craSignature = (key: string, challenge: string): string =>
  createHmac("sha256", key).update(challenge).digest("base64")

/** DER prefix of an Ed25519 SubjectPublicKeyInfo; the 32 key bytes follow. */
const ED25519_SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex")
const HEX_KEY = /^[0-9a-fA-F]{64}$/
const HEX = /^(?:[0-9a-fA-F]{2})*$/

/**
 * Verifies a cryptosign signature of `challenge` (hex) by the key `pubkey` (hex): the signature is
 * 64 bytes, or 96 (the signature followed by the signed challenge, as Autobahn sends it).
 */
export const cryptosignValid = (pubkey: string, challenge: string, signature: string): boolean => {
  if (!HEX_KEY.test(pubkey) || !HEX.test(signature)) return false
  const bytes = Buffer.from(signature, "hex")
  const message = Buffer.from(challenge, "hex")
  if (bytes.length !== 64 && bytes.length !== 64 + message.length) return false
  if (bytes.length > 64 && !timingSafeEqual(bytes.subarray(64), message)) return false
  try {
    const key = createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, Buffer.from(pubkey, "hex")]), format: "der", type: "spki" })
    return verify(null, message, key, bytes.subarray(0, 64))
  } catch {
    return false
  }
}

// ---------------------------------------------------------------------------------------------
// what a dynamic authenticator answers

interface Principal extends Grant {
  readonly authid: string | undefined
}

/** Crossbar's authenticator answer: a role (ticket only) or a dictionary with `role` and the method's secret. */
const principalOf = (answer: unknown): Principal & { readonly fields: Record<string, unknown> } | string => {
  if (typeof answer === "string" && answer !== "") return { role: answer, realm: undefined, authid: undefined, fields: {} }
  if (!isDict(answer)) return `expected a role or a dictionary, got ${describeValue(answer)}`
  const role = answer["role"]
  if (typeof role !== "string" || role === "") return "\"role\" must be a non-empty string"
  const realm = answer["realm"]
  if (realm !== undefined && realm !== null && typeof realm !== "string") return "\"realm\" must be a string"
  const authid = answer["authid"]
  if (authid !== undefined && authid !== null && typeof authid !== "string") return "\"authid\" must be a string"
  return { role, realm: realm ?? undefined, authid: authid ?? undefined, fields: answer }
}

/** Errors the dealer itself gives (no authenticator registered, it left, it timed out): a router-side failure. */
const ROUTER_SIDE = new Set<string>([Uri.noSuchProcedure, Uri.canceled, Uri.invalidPayload, Uri.notAuthorized])

/**
 * Calls the authenticator; undefined when it answered, else the step that ends the handshake: its
 * own error (Crossbar passes an authenticator's ApplicationError on) or, when the router could not
 * reach it, a plain failure with a warning in the log.
 */
const askAuthenticator = async (
  method: { readonly authenticator: string; readonly authenticatorRealm: string | undefined },
  context: HelloContext,
  authid: string | undefined,
  details: Record<string, unknown>
): Promise<{ readonly answer: unknown } | Step> => {
  try {
    const answer = await context.call(method.authenticatorRealm ?? context.realm, method.authenticator, [
      context.realm,
      authid ?? null,
      { ...details, session: context.session, transport: context.transport }
    ])
    return { answer }
  } catch (error) {
    if (error instanceof CallFailure && !ROUTER_SIDE.has(error.error) && isValidUri(error.error, "exact")) {
      const text = error.args[0]
      return { _tag: "abort", reason: error.error, message: typeof text === "string" ? text.slice(0, 500) : "authentication failed" }
    }
    context.warn(
      `dynamic authenticator "${method.authenticator}" failed: ${error instanceof CallFailure ? error.error : describeValue(error)}`
    )
    return FAILED
  }
}

// ---------------------------------------------------------------------------------------------
// the methods

const admit = (context: HelloContext, grant: Grant, authid: string, authmethod: string, provider: string): Step =>
  grant.realm !== undefined && grant.realm !== context.realm
    ? FAILED
    : { _tag: "welcome", identity: { authid, authrole: grant.role, authmethod, authprovider: provider } }

const ticket = (
  method: Extract<AuthMethod, { readonly type: "ticket" }> | Dynamic,
  authid: string | undefined,
  authextra: Record<string, unknown>,
  context: HelloContext
): Step => ({
  _tag: "challenge",
  authmethod: "ticket",
  extra: {},
  verify: async (signature) => {
    if (method.provider === "static") {
      const principal = authid === undefined ? undefined : method.principals.get(authid)
      // an unknown authid is compared too, with a ticket no one has
      const matches = sameSecret(signature, principal?.ticket ?? DUMMY_SECRET)
      return principal !== undefined && matches ? admit(context, principal, authid!, "ticket", "static") : FAILED
    }
    const asked = await askAuthenticator(method, context, authid, { authmethod: "ticket", authextra, ticket: signature })
    if ("_tag" in asked) return asked
    const principal = principalOf(asked.answer)
    if (typeof principal === "string") return invalidAnswer(method, context, principal)
    return admit(context, principal, principal.authid ?? authid ?? "", "ticket", "dynamic")
  }
})

/** A secret no principal has (per process): unknown authids are checked against it. */
const DUMMY_SECRET = randomBytes(32).toString("base64")

type Dynamic = Extract<AuthMethod, { readonly provider: "dynamic" }>

const invalidAnswer = (method: Dynamic, context: HelloContext, problem: string): Step => {
  context.warn(`dynamic authenticator "${method.authenticator}" answered wrongly: ${problem}`)
  return FAILED
}

/** WAMP-CRA's challenge: Crossbar's JSON text naming the session it is for. */
const craChallenge = (authid: string, authrole: string, provider: string, session: number): string =>
  JSON.stringify({
    authid,
    authrole,
    authmethod: "wampcra",
    authprovider: provider,
    nonce: randomBytes(16).toString("base64"),
    timestamp: new Date().toISOString(),
    session
  })

const craStep = (
  context: HelloContext,
  authid: string,
  user: CraUser,
  provider: string,
  known: boolean
): Step => {
  const challenge = craChallenge(authid, user.role, provider, context.session)
  const extra: Record<string, unknown> = { challenge }
  if (user.salt !== undefined) {
    extra["salt"] = user.salt
    extra["iterations"] = user.iterations
    extra["keylen"] = user.keylen
  }
  return {
    _tag: "challenge",
    authmethod: "wampcra",
    extra,
    verify: async (signature) => {
      const key = user.salt === undefined ? user.secret : await deriveCraKeyAsync(user.secret, user.salt, user.iterations, user.keylen)
      const matches = sameSecret(signature, craSignature(key, challenge))
      return known && matches ? admit(context, user, authid, "wampcra", provider) : FAILED
    }
  }
}

/**
 * The user an unknown authid is challenged as: the first configured user's role and salting, a
 * salt derived from the authid (the same on every attempt, as a real user's), a secret no one has.
 */
const dummyCraUser = (users: ReadonlyMap<string, CraUser>, authid: string): CraUser => {
  const model = users.values().next().value
  return {
    role: model?.role ?? "anonymous",
    realm: undefined,
    secret: DUMMY_SECRET,
    salt: model?.salt === undefined ? undefined : createHmac("sha256", DIGEST_KEY).update(authid).digest("base64").slice(0, model.salt.length || 16),
    iterations: model?.iterations ?? 1000,
    keylen: model?.keylen ?? 32
  }
}

const wampcra = async (
  method: Extract<AuthMethod, { readonly type: "wampcra" }> | Dynamic,
  authid: string | undefined,
  authextra: Record<string, unknown>,
  context: HelloContext
): Promise<Step> => {
  if (authid === undefined) return FAILED
  if (method.provider === "static") {
    const user = method.users.get(authid)
    return craStep(context, authid, user ?? dummyCraUser(method.users, authid), "static", user !== undefined)
  }
  const asked = await askAuthenticator(method, context, authid, { authmethod: "wampcra", authextra })
  if ("_tag" in asked) return asked
  const principal = principalOf(asked.answer)
  if (typeof principal === "string") return invalidAnswer(method, context, principal)
  const { fields } = principal
  const secret = fields["secret"]
  if (typeof secret !== "string" || secret === "") return invalidAnswer(method, context, "\"secret\" must be a non-empty string")
  const salt = fields["salt"]
  if (salt !== undefined && salt !== null && typeof salt !== "string") return invalidAnswer(method, context, "\"salt\" must be a string")
  const count = (name: string, fallback: number, max: number): number | undefined => {
    const value = fields[name]
    if (value === undefined || value === null) return fallback
    return typeof value === "number" && Number.isInteger(value) && value >= 1 && value <= max ? value : undefined
  }
  const iterations = count("iterations", 1000, 10_000_000)
  const keylen = count("keylen", 32, 1024)
  if (iterations === undefined || keylen === undefined) return invalidAnswer(method, context, "\"iterations\" and \"keylen\" must be positive integers")
  const user: CraUser = { role: principal.role, realm: principal.realm, secret, salt: salt ?? undefined, iterations, keylen }
  return craStep(context, principal.authid ?? authid, user, "dynamic", true)
}

const cryptosignStep = (
  context: HelloContext,
  authid: string,
  grant: Grant,
  pubkey: string,
  provider: string,
  known: boolean
): Step => {
  const challenge = randomBytes(32).toString("hex")
  return {
    _tag: "challenge",
    authmethod: "cryptosign",
    extra: { challenge, channel_binding: null },
    verify: (signature) => {
      const valid = cryptosignValid(pubkey, challenge, signature)
      return known && valid ? admit(context, grant, authid, "cryptosign", provider) : FAILED
    }
  }
}

const cryptosign = async (
  method: Extract<AuthMethod, { readonly type: "cryptosign" }> | Dynamic,
  authid: string | undefined,
  authextra: Record<string, unknown>,
  context: HelloContext
): Promise<Step> => {
  const given = authextra["pubkey"]
  if (typeof given !== "string" || !HEX_KEY.test(given)) {
    return { _tag: "abort", reason: Uri.notAuthorized, message: "cryptosign needs the client's public key in HELLO.Details.authextra.pubkey (64 hexadecimal digits)" }
  }
  const pubkey = given.toLowerCase()
  if (method.provider === "static") {
    let name = authid
    if (name === undefined) {
      for (const [id, principal] of method.principals) {
        if (principal.authorizedKeys.includes(pubkey)) name = id
      }
    }
    const principal = name === undefined ? undefined : method.principals.get(name)
    const known = principal !== undefined && principal.authorizedKeys.includes(pubkey)
    const grant: Grant = principal ?? { role: method.principals.values().next().value?.role ?? "anonymous", realm: undefined }
    return cryptosignStep(context, name ?? pubkey, grant, pubkey, "static", known)
  }
  const asked = await askAuthenticator(method, context, authid, { authmethod: "cryptosign", authextra })
  if ("_tag" in asked) return asked
  const principal = principalOf(asked.answer)
  if (typeof principal === "string") return invalidAnswer(method, context, principal)
  const answered = principal.fields["pubkey"]
  if (typeof answered !== "string" || !HEX_KEY.test(answered)) {
    return invalidAnswer(method, context, "\"pubkey\" must be 64 hexadecimal digits")
  }
  // the challenge is signed with the client's key; only the key the authenticator names admits
  return cryptosignStep(context, principal.authid ?? authid ?? pubkey, principal, pubkey, "dynamic", answered.toLowerCase() === pubkey)
}

/**
 * Picks the first method the client asks for (HELLO.Details.authmethods, default ["anonymous"])
 * that the transport offers, and starts it. The details passed the HELLO shape check (authmethods
 * is absent or a list of strings, authid a string, authextra a dictionary).
 */
export const authenticate = (
  details: Record<string, unknown>,
  methods: ReadonlyArray<AuthMethod>,
  context: HelloContext
): Step | Promise<Step> => {
  const requested = details["authmethods"]
  const asked: ReadonlyArray<unknown> = Array.isArray(requested) ? requested : ["anonymous"]
  const authid = typeof details["authid"] === "string" ? details["authid"] : undefined
  const authextra = isDict(details["authextra"]) ? details["authextra"] : {}
  for (const name of asked) {
    const method = methods.find((m) => m.type === name)
    if (method === undefined) continue
    switch (method.type) {
      case "anonymous":
        return {
          _tag: "welcome",
          identity: { authid: anonymousAuthid(), authrole: method.role, authmethod: "anonymous", authprovider: "static" }
        }
      case "ticket":
        return ticket(method, authid, authextra, context)
      case "wampcra":
        return wampcra(method, authid, authextra, context)
      case "cryptosign":
        return cryptosign(method, authid, authextra, context)
    }
  }
  return {
    _tag: "abort",
    reason: Uri.noAuthMethod,
    message: `cannot authenticate using any of the offered authmethods [${asked.slice(0, 8).map(describeValue).join(", ")}` +
      `${asked.length > 8 ? ", ..." : ""}]; ` +
      `this transport offers [${methods.map((m) => m.type).join(", ")}]`
  }
}
