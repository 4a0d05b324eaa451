/**
 * autobahn writes its connection warnings ("connection closed", "auto-reconnect disabled!", ...)
 * with `console.warn`, through the `warn` of its log module. Those lines bypass the service's log
 * format (one JSON object per line with `LOG_FORMAT=json`), land on stderr at any moment of a
 * shutdown, and say what `Connection` logs itself in its own words. Here they are routed to
 * Effect's logger at Debug level instead, while a connection made by this module's user is open.
 */
import { createRequire } from "node:module"
import { format } from "node:util"

/** autobahn's log module (CommonJS): its `warn` is looked up at every call. */
const autobahnLog = createRequire(import.meta.url)("autobahn/lib/log.js") as { warn: (...args: Array<unknown>) => void }

let sink: ((message: string) => void) | undefined

autobahnLog.warn = (...args) => sink?.(format(...args))

/**
 * Sends autobahn's warnings to `log` until the returned function is called (the latest caller
 * wins: they are the same words for every connection of the process).
 */
export const route = (log: (message: string) => void): () => void => {
  sink = log
  return () => {
    if (sink === log) sink = undefined
  }
}
