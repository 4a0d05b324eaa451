/**
 * The component's WAMP credentials: anonymous, a ticket, a WAMP-CRA secret, or an Ed25519 key for
 * cryptosign, read from files (never from the command line), and the autobahn connection options
 * that present them through autobahn's own challenge handling (`onchallenge` with
 * `autobahn.auth_cra` and `autobahn.auth_cryptosign`). autobahn runs the handshake again on every
 * reconnect with the same options.
 *
 * At first start the service creates its cryptosign key in the data directory: a file only its
 * owner may read (0600) in a directory only its owner may enter (0700). The key file uses the
 * format of Autobahn|Python's key files (`private-key-ed25519: <hex seed>`), so the same file
 * works with `CryptosignKey.from_keyfile`.
 */
import autobahn from "autobahn"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { createPrivateKey, createPublicKey, randomBytes } from "node:crypto"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"

export const authMethods = ["anonymous", "ticket", "wampcra", "cryptosign"] as const
export type AuthMethod = (typeof authMethods)[number]

/** An Ed25519 key: the public key in hex (for a router's `authorized_keys`) and the private seed. */
export interface CryptosignKey {
  readonly publicKey: string
  readonly seed: Redacted.Redacted<Uint8Array>
}

export type ComponentCredentials =
  | { readonly method: "anonymous" }
  | { readonly method: "ticket"; readonly authid: string; readonly ticket: Redacted.Redacted<string> }
  | { readonly method: "wampcra"; readonly authid: string; readonly secret: Redacted.Redacted<string> }
  | { readonly method: "cryptosign"; readonly authid: string | undefined; readonly key: CryptosignKey }

export class CredentialsError extends Schema.TaggedError<CredentialsError>()("CredentialsError", {
  message: Schema.String
}) {}

// ---------------------------------------------------------------------------------------------
// keys

const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex")

/** The public key (hex) of an Ed25519 seed. */
export const publicKeyOf = (seed: Uint8Array): string => {
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: "der", type: "pkcs8" })
  return createPublicKey(key).export({ format: "der", type: "spki" }).subarray(12).toString("hex")
}

/**
 * The seed in a key file: a `private-key-ed25519: <hex>` line (Autobahn|Python's key file), or
 * the file is just the hex seed (32 bytes) or a tweetnacl secret key (64 bytes: seed, public key).
 */
export const parseKeyFile = (text: string): Uint8Array | undefined => {
  const tagged = /^private-key-ed25519:\s*([0-9a-fA-F]+)\s*$/m.exec(text)
  const hex = tagged?.[1] ?? text.trim()
  if (!/^[0-9a-fA-F]{64}([0-9a-fA-F]{64})?$/.test(hex)) return undefined
  return new Uint8Array(Buffer.from(hex.slice(0, 64), "hex"))
}

const keyFileText = (seed: Uint8Array, publicKey: string): string =>
  [
    // Autobahn's format: comment lines up to the first empty line, then "tag: value" lines
    "The wampgres component's Ed25519 key for WAMP-cryptosign. Keep it private.",
    "The router admits its public key (a principal's authorized_keys).",
    "",
    `created-at: ${new Date().toISOString()}`,
    `public-key-ed25519: ${publicKey}`,
    `private-key-ed25519: ${Buffer.from(seed).toString("hex")}`,
    ""
  ].join("\n")

const failure = (file: string, what: string) => (error: unknown) =>
  new CredentialsError({ message: `${file}: ${what}: ${error instanceof Error ? error.message : String(error)}` })

/** Warns when a secret's file may be read by others than its owner. */
const checkPrivate = Effect.fn("Credentials.checkPrivate")(function*(file: string) {
  const stat = yield* Effect.tryPromise({ try: () => Fs.stat(file), catch: failure(file, "cannot read") })
  if ((stat.mode & 0o077) !== 0) {
    yield* Effect.logWarning(`${file} may be read by others (mode ${(stat.mode & 0o777).toString(8)}): chmod 600 ${file}`)
  }
})

/** Reads a cryptosign key file. */
export const readKey = Effect.fn("Credentials.readKey")(function*(file: string) {
  const text = yield* Effect.tryPromise({ try: () => Fs.readFile(file, "utf8"), catch: failure(file, "cannot read the key") })
  const seed = parseKeyFile(text)
  if (seed === undefined) {
    return yield* new CredentialsError({
      message: `${file}: not an Ed25519 key (expected a line "private-key-ed25519: <64 hex digits>", or the hex seed alone)`
    })
  }
  yield* checkPrivate(file)
  return { publicKey: publicKeyOf(seed), seed: Redacted.make(seed) } satisfies CryptosignKey
})

/**
 * The key in `file`, created when it does not exist yet: a new random seed, written to a file of
 * mode 0600 in a directory of mode 0700 (created too).
 */
export const ensureKey = Effect.fn("Credentials.ensureKey")(function*(file: string) {
  const exists = yield* Effect.promise(() => Fs.access(file).then(() => true, () => false))
  if (!exists) {
    const seed = new Uint8Array(randomBytes(32))
    const publicKey = publicKeyOf(seed)
    yield* Effect.tryPromise({
      try: async () => {
        await Fs.mkdir(Path.dirname(file), { recursive: true, mode: 0o700 })
        // "wx": never overwrite a key another process created meanwhile
        await Fs.writeFile(file, keyFileText(seed, publicKey), { mode: 0o600, flag: "wx" })
      },
      catch: failure(file, "cannot create the component's key")
    }).pipe(
      Effect.catchIf(
        (error) => error.message.includes("EEXIST"),
        () => Effect.void
      )
    )
    yield* Effect.logInfo(`created the component's cryptosign key ${file} (public key ${publicKey})`)
  }
  return yield* readKey(file)
})

/** A ticket or WAMP-CRA secret: the file's text without its final line break. */
export const readSecret = Effect.fn("Credentials.readSecret")(function*(file: string) {
  const text = yield* Effect.tryPromise({ try: () => Fs.readFile(file, "utf8"), catch: failure(file, "cannot read the secret") })
  const secret = text.replace(/\r?\n$/, "")
  if (secret === "") return yield* new CredentialsError({ message: `${file}: the secret file is empty` })
  yield* checkPrivate(file)
  return Redacted.make(secret)
})

// ---------------------------------------------------------------------------------------------
// from the settings

export interface CredentialSettings {
  readonly method: AuthMethod
  readonly authid: string
  /** The ticket, the WAMP-CRA secret or the cryptosign key; undefined: `defaultKeyFile` (cryptosign only). */
  readonly secretFile: string | undefined
  /** The cryptosign key created at first start. */
  readonly defaultKeyFile: string
}

/** Reads (and for the default cryptosign key, creates) what the settings name. */
export const load = Effect.fn("Credentials.load")(function*(settings: CredentialSettings) {
  switch (settings.method) {
    case "anonymous":
      return { method: "anonymous" } satisfies ComponentCredentials
    case "ticket":
    case "wampcra": {
      if (settings.secretFile === undefined) {
        return yield* new CredentialsError({ message: `WAMP_AUTHMETHOD=${settings.method} needs WAMP_SECRET_FILE: a file with the ${settings.method === "ticket" ? "ticket" : "secret"}` })
      }
      const secret = yield* readSecret(settings.secretFile)
      return settings.method === "ticket"
        ? { method: "ticket", authid: settings.authid, ticket: secret } satisfies ComponentCredentials
        : { method: "wampcra", authid: settings.authid, secret } satisfies ComponentCredentials
    }
    case "cryptosign": {
      const key = settings.secretFile === undefined ? yield* ensureKey(settings.defaultKeyFile) : yield* readKey(settings.secretFile)
      return { method: "cryptosign", authid: settings.authid, key } satisfies ComponentCredentials
    }
  }
})

// ---------------------------------------------------------------------------------------------
// for autobahn

export type AuthOptions = Pick<autobahn.ConnectionOptions, "authmethods" | "authid" | "authextra" | "onchallenge">

const challengeText = (extra: unknown, name: string): string => {
  const value = typeof extra === "object" && extra !== null ? (extra as Record<string, unknown>)[name] : undefined
  if (typeof value !== "string") throw new Error(`the router's challenge has no ${name}`)
  return value
}

/**
 * The autobahn connection options that authenticate with `credentials`: authmethods, authid,
 * authextra (the cryptosign public key) and onchallenge, which answers the router's CHALLENGE on
 * every (re)connect.
 */
export const connectionOptions = (credentials: ComponentCredentials): AuthOptions => {
  switch (credentials.method) {
    case "anonymous":
      return { authmethods: ["anonymous"] }
    case "ticket":
      return {
        authmethods: ["ticket"],
        authid: credentials.authid,
        onchallenge: (_session, method) => {
          if (method !== "ticket") throw new Error(`asked for ${method}, configured for ticket`)
          return Redacted.value(credentials.ticket)
        }
      }
    case "wampcra":
      return {
        authmethods: ["wampcra"],
        authid: credentials.authid,
        onchallenge: (_session, method, extra) => {
          if (method !== "wampcra") throw new Error(`asked for ${method}, configured for wampcra`)
          const e = extra as Record<string, unknown>
          const secret = Redacted.value(credentials.secret)
          const key = typeof e["salt"] === "string"
            ? autobahn.auth_cra.derive_key(secret, e["salt"], e["iterations"] as number | undefined, e["keylen"] as number | undefined)
            : secret
          return autobahn.auth_cra.sign(key, challengeText(extra, "challenge"))
        }
      }
    case "cryptosign": {
      const publicKey = new Uint8Array(Buffer.from(credentials.key.publicKey, "hex"))
      return {
        authmethods: ["cryptosign"],
        ...(credentials.authid === undefined ? {} : { authid: credentials.authid }),
        authextra: { pubkey: credentials.key.publicKey },
        onchallenge: (_session, method, extra) => {
          if (method !== "cryptosign") throw new Error(`asked for ${method}, configured for cryptosign`)
          // tweetnacl's secret key: the seed, then the public key
          const secretKey = new Uint8Array(64)
          secretKey.set(Redacted.value(credentials.key.seed), 0)
          secretKey.set(publicKey, 32)
          return autobahn.auth_cryptosign.sign_challenge({ publicKey, secretKey }, { challenge: challengeText(extra, "challenge") })
        }
      }
    }
  }
}
