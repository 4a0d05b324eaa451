/**
 * Autobahn|JS sessions that authenticate through autobahn's own challenge handling (onchallenge
 * with autobahn.auth_cra and autobahn.auth_cryptosign), for the authentication tests.
 */
import autobahn from "autobahn"

export type Credentials =
  | { readonly method: "anonymous" }
  | { readonly method: "ticket"; readonly authid: string; readonly ticket: string }
  | { readonly method: "wampcra"; readonly authid: string; readonly secret: string }
  | { readonly method: "cryptosign"; readonly authid?: string; readonly seed: Uint8Array; readonly publicKey: Uint8Array }

export type Attempt =
  | { readonly joined: true; readonly session: autobahn.Session; readonly connection: autobahn.Connection; readonly welcome: Record<string, unknown> }
  | { readonly joined: false; readonly reason: string | null; readonly message: string | null }

/** What a client answers to a CHALLENGE, as autobahn's documentation shows it. */
export const onchallenge = (credentials: Credentials) => (_session: autobahn.Session, method: string, extra: unknown): string => {
  const e = extra as Record<string, unknown>
  switch (credentials.method) {
    case "ticket":
      return credentials.ticket
    case "wampcra": {
      const key = typeof e["salt"] === "string"
        ? autobahn.auth_cra.derive_key(credentials.secret, e["salt"], e["iterations"] as number, e["keylen"] as number)
        : credentials.secret
      return autobahn.auth_cra.sign(key, e["challenge"] as string)
    }
    case "cryptosign": {
      const secretKey = new Uint8Array(64)
      secretKey.set(credentials.seed, 0)
      secretKey.set(credentials.publicKey, 32)
      return autobahn.auth_cryptosign.sign_challenge({ publicKey: credentials.publicKey, secretKey }, { challenge: e["challenge"] as string })
    }
    default:
      throw new Error(`no answer to a ${method} challenge`)
  }
}

/** Opens a session with `credentials`; resolves with the session, or with the ABORT's reason and message. */
export const attempt = (url: string, credentials: Credentials, realm = "realm1"): Promise<Attempt> =>
  new Promise((resolve) => {
    const connection = new autobahn.Connection({
      realm,
      transports: [{ type: "websocket", url, serializers: [new autobahn.serializer.JSONSerializer()] }],
      use_es6_promises: true,
      max_retries: 0,
      retry_if_unreachable: false,
      authmethods: [credentials.method],
      ...("authid" in credentials && credentials.authid !== undefined ? { authid: credentials.authid } : {}),
      ...(credentials.method === "cryptosign" ? { authextra: { pubkey: Buffer.from(credentials.publicKey).toString("hex") } } : {}),
      onchallenge: onchallenge(credentials)
    })
    connection.onopen = (session, welcome) => resolve({ joined: true, session, connection, welcome })
    connection.onclose = (_reason, details) => {
      resolve({ joined: false, reason: details.reason, message: details.message })
      return true
    }
    connection.open()
  })

/** Closes a joined attempt's connection (GOODBYE) and waits a moment for it. */
export const leave = async (a: Attempt): Promise<void> => {
  if (!a.joined) return
  try {
    a.connection.close()
  } catch {
    // already closed
  }
}
