/**
 * Authentication of a HELLO against the methods a transport offers. Only anonymous exists today;
 * the outcome type leaves room for challenge-based methods (ticket, wampcra, cryptosign), which
 * would answer `challenge` and finish on AUTHENTICATE.
 */
import { randomBytes } from "node:crypto"
import { describeValue } from "../wamp/messages.js"
import { Uri } from "../wamp/uris.js"
import type { AuthMethod } from "./types.js"

export interface Identity {
  readonly authid: string
  readonly authrole: string
  readonly authmethod: string
  readonly authprovider: string
}

export type AuthOutcome =
  | { readonly _tag: "welcome"; readonly identity: Identity }
  | { readonly _tag: "abort"; readonly reason: string; readonly message: string }

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

/**
 * Picks the first method the client asks for (HELLO.Details.authmethods, default ["anonymous"])
 * that the transport offers, and authenticates with it. The details passed the HELLO shape check
 * (authmethods is absent or a list of strings); the ABORT message names at most a few of them.
 */
export const authenticate = (details: Record<string, unknown>, methods: ReadonlyArray<AuthMethod>): AuthOutcome => {
  const requested = details["authmethods"]
  const asked: ReadonlyArray<unknown> = Array.isArray(requested) ? requested : ["anonymous"]
  for (const name of asked) {
    const method = methods.find((m) => m.type === name)
    if (method === undefined) continue
    switch (method.type) {
      case "anonymous":
        return {
          _tag: "welcome",
          identity: { authid: anonymousAuthid(), authrole: method.role, authmethod: "anonymous", authprovider: "static" }
        }
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
