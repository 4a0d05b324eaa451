/**
 * What a person reads when the service cannot start: one or two lines that say what is wrong,
 * with the offending value where it is not a secret, and what to do about it. The stack trace is
 * for `LOG_LEVEL=Debug` only (`src/main.ts` logs the whole cause at debug level).
 */
import * as Cause from "effect/Cause"
import * as Option from "effect/Option"

const seeDetails = "LOG_LEVEL=Debug shows the details"

/** The failure's `_tag` and `message`, whatever class it is. */
const tagged = (error: unknown): { readonly tag: string; readonly message: string } => {
  if (typeof error === "object" && error !== null) {
    const tag = "_tag" in error && typeof error._tag === "string" ? error._tag : error.constructor.name
    const message = "message" in error && typeof error.message === "string" ? error.message : String(error)
    return { tag, message }
  }
  return { tag: typeof error, message: String(error) }
}

/** The port of a `listen EADDRINUSE: address already in use :::8080` message. */
const portOf = (message: string): string | undefined => /:(\d+)\s*$/.exec(message)?.[1]

/** The first line of a multi-line message, plus the last line of an attached server log. */
const headline = (message: string): string => {
  const [first, ...rest] = message.split("\n")
  const logAt = rest.indexOf("--- server log ---")
  const lastLog = logAt >= 0 ? rest.slice(logAt + 1).filter((line) => line.trim() !== "").at(-1) : undefined
  return lastLog === undefined ? first ?? message : `${first} (server log: ${lastLog.trim()})`
}

/** One expected failure, described. */
export const describeError = (error: unknown): string => {
  const { message, tag } = tagged(error)
  switch (tag) {
    case "RouterError": {
      if (/EADDRINUSE/.test(message)) {
        const port = portOf(message)
        return `The embedded router cannot listen on port ${port ?? "(see below)"}: it is in use by another program.\n` +
          `Stop that program, or choose another port with ROUTER_PORT=<port> (0 = any free port).`
      }
      if (/EACCES/.test(message)) {
        return `The embedded router may not listen on port ${portOf(message) ?? "(see below)"}: ports below 1024 need privileges.\n` +
          `Choose another port with ROUTER_PORT=<port> (0 = any free port).`
      }
      return `The embedded router cannot start: ${message}\n${seeDetails}.`
    }
    case "RouterConfigError":
      return `The router configuration is unusable: ${message}\n` +
        `Fix the file, point ROUTER_CONFIG at another Crossbar.io configuration, or set WAMP_URL to use an external router.`
    case "CredentialsError":
      return `The component's credentials are unusable: ${message}\n` +
        `Check WAMP_AUTHMETHOD, WAMP_AUTHID and WAMP_SECRET_FILE (see the README's "Authentication").`
    case "DatabaseUnavailable":
      return `${message}\n` +
        `Check DATABASE_URL or PGHOST/PGPORT/PGUSER (unset both for the embedded PostgreSQL); DB_STARTUP_TIMEOUT is how long start-up waits.`
    case "EmbeddedPostgresError":
      return `${headline(message)}\n` +
        `WAMPGRES_DATA_DIR is where its data lives (remove a broken <dir>/postgres to start afresh); ${seeDetails}.`
    case "WampError":
      return /join/.test(message)
        ? `The component ${message}.\nCheck WAMP_URL and WAMP_REALM (unset WAMP_URL for the embedded router)` +
          `${/not_authorized|authentication/.test(message) ? ", and WAMP_AUTHMETHOD, WAMP_AUTHID, WAMP_SECRET_FILE against the router's auth configuration" : ""}` +
          `; WAMP_JOIN_TIMEOUT is how long start-up waits.`
        : `WAMP: ${message}\n${seeDetails}.`
    default:
      return `${tag}: ${headline(message)}\n${seeDetails}.`
  }
}

/** The first failure of a cause, described; a defect says it is one. */
export const describeStartupFailure = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.findErrorOption(cause)
  if (Option.isSome(error)) return describeError(error.value)
  const defect = Cause.findDefect(cause)
  const { message } = tagged(defect._tag === "Success" ? defect.success : Cause.pretty(cause))
  return `wampgres stopped on an unexpected error (a bug): ${headline(message)}\n${seeDetails}.`
}
