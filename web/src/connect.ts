/**
 * What both pages share: the autobahn connection to the router that served the page (same host,
 * path /ws, realm from ?realm=, default realm1), shown in #connection-state, and small DOM helpers.
 */
import * as Remote from "../../src/procedures/Remote.js"

/** The global of /autobahn/autobahn.min.js. */
declare const autobahn: Remote.AutobahnModule

export interface Connected {
  readonly session: Remote.AutobahnSession
  readonly client: Remote.RemoteClient
}

const params = new URLSearchParams(location.search)
export const realm = params.get("realm") ?? "realm1"
export const url = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/ws`

/** Sets the connection indicator: data-state is what tests and styles read. */
export const setState = (state: "connecting" | "connected" | "closed", detail = ""): void => {
  const element = document.getElementById("connection-state")!
  element.dataset["state"] = state
  element.textContent = detail === "" ? state : `${state}: ${detail}`
}

/**
 * Connects and calls `onJoin` with the session and a typed client on every join (again after a
 * reconnect); progressive results need autobahn's deferreds with progress (`progressDeferred`).
 */
export const connect = (onJoin: (connected: Connected) => void): void => {
  let current: Remote.AutobahnSession | undefined
  const connection = new autobahn.Connection({ url, realm, use_deferred: Remote.progressDeferred, max_retry_delay: 5 })
  connection.onopen = (session) => {
    current = session
    setState("connected", `${realm} at ${url}`)
    onJoin({ session, client: Remote.make(autobahn, () => current!) })
  }
  connection.onclose = (reason, details) => {
    setState(reason === "lost" || reason === "unreachable" ? "connecting" : "closed", details.message ?? details.reason ?? reason)
    return false
  }
  setState("connecting", url)
  connection.open()
}

/** Creates an element with text and attributes. */
export const element = <K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Record<string, string> = {},
  text?: string
): HTMLElementTagNameMap[K] => {
  const created = document.createElement(tag)
  for (const [name, value] of Object.entries(attributes)) created.setAttribute(name, value)
  if (text !== undefined) created.textContent = text
  return created
}

/** A WAMP error's URI and message, from autobahn's rejection or a WampError. */
export const describeError = (error: unknown): { readonly uri: string; readonly message: string; readonly kwargs: unknown } => {
  const e = error as { error?: unknown; args?: ReadonlyArray<unknown>; kwargs?: unknown; message?: unknown }
  const uri = typeof e.error === "string" ? e.error : "error"
  const message = typeof e.args?.[0] === "string" ? e.args[0] : typeof e.message === "string" ? e.message : String(error)
  return { uri, message, kwargs: e.kwargs ?? {} }
}
