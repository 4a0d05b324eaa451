/**
 * The embedded WAMP router: `startRouter` (plain, for scripts and benchmarks) and the `Router`
 * service whose layers start it in a scope and stop it (GOODBYE to every session, sockets and
 * HTTP servers closed) when the scope closes.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { loadRouterConfig, type RouterConfigError } from "./config.js"
import { RouterMetrics } from "./metrics.js"
import { Realm } from "./realm.js"
import type { CallTracer } from "./tracing.js"
import type { RouterLog } from "./session.js"
import { type Listening, type RunningTransport, startTransport } from "./transport.js"
import type { RouterConfig, Transport } from "./types.js"

export type { Listening } from "./transport.js"
export type { RouterLog } from "./session.js"
export type { CallSpan, CallTracer } from "./tracing.js"
export { fromEffectTracer } from "./tracing.js"

export class RouterError extends Schema.TaggedError<RouterError>()("RouterError", {
  message: Schema.String
}) {}

/** A running router. */
export interface RunningRouter {
  /** ws:// URL of the first WebSocket endpoint, e.g. "ws://127.0.0.1:41234/ws". */
  readonly url: string
  readonly listening: ReadonlyArray<Listening>
  /** GOODBYE to every session, then closes all connections and servers. Idempotent. */
  close(): Promise<void>
}

export interface StartOptions {
  readonly log?: RouterLog
  /** Records a span per call (see tracing.ts); undefined: tracing off. */
  readonly tracer?: CallTracer | undefined
}

const silent: RouterLog = { debug: () => {}, info: () => {}, warn: () => {} }

const urlHost = (host: string): string =>
  host === "0.0.0.0" || host === "::" || host === "" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host

/** Starts every transport of `config`; on failure, closes what already started and rejects. */
export const startRouter = async (config: RouterConfig, options?: StartOptions): Promise<RunningRouter> => {
  const log = options?.log ?? silent
  const realms = new Map<string, Realm>()
  const observers = { metrics: new RouterMetrics(), tracer: options?.tracer }
  for (const realm of config.realms) realms.set(realm.name, new Realm(realm, observers))
  const running: Array<RunningTransport> = []
  const shutdown = async (): Promise<void> => {
    for (const realm of realms.values()) realm.shutdown()
    await Promise.all(running.map((t) => t.close()))
  }
  try {
    for (const transport of config.transports) running.push(await startTransport(transport, realms, log, undefined, observers.metrics))
  } catch (error) {
    await shutdown()
    throw error
  }
  const first = running.find((t) => t.websocketPaths.length > 0)
  const url = first === undefined
    ? ""
    : `ws://${urlHost(first.listening.host)}:${first.listening.port}${first.websocketPaths[0]}`
  let closing: Promise<void> | undefined
  return {
    url,
    listening: running.map((t) => t.listening),
    close: () => (closing ??= shutdown())
  }
}

/** Routes the router's log lines to Effect's logger of the surrounding context. */
const effectLog = Effect.map(Effect.context<never>(), (context): RouterLog => {
  const run = Effect.runForkWith(context)
  return {
    debug: (message) => void run(Effect.logDebug(message).pipe(Effect.annotateLogs("module", "router"))),
    info: (message) => void run(Effect.logInfo(message).pipe(Effect.annotateLogs("module", "router"))),
    warn: (message) => void run(Effect.logWarning(message).pipe(Effect.annotateLogs("module", "router")))
  }
})

/**
 * The span recorder of a router started by `Router.layer`: undefined (tracing off) unless the
 * composition provides one (see `layers/Telemetry.ts`).
 */
export const RouterTracing = Context.Reference<CallTracer | undefined>("wampgres/router/RouterTracing", {
  defaultValue: () => undefined
})

const make = Effect.fnUntraced(function*(config: RouterConfig) {
  const log = yield* effectLog
  const tracer = yield* RouterTracing
  const router = yield* Effect.acquireRelease(
    Effect.tryPromise({
      try: () => startRouter(config, { log, tracer }),
      catch: (error) => new RouterError({ message: `cannot start the router: ${error instanceof Error ? error.message : String(error)}` })
    }),
    (router) => Effect.promise(() => router.close())
  )
  for (const l of router.listening) {
    const host = l.host.includes(":") ? `[${l.host}]` : l.host
    yield* Effect.logInfo(`router listening on ${host}:${l.port} (${l.transport.type})`).pipe(Effect.annotateLogs("module", "router"))
  }
  return Router.of({ listening: router.listening, url: router.url })
})

export class Router extends Context.Service<Router, {
  /** One entry per listening transport, with the real port (config port 0 = ephemeral). */
  readonly listening: ReadonlyArray<{ readonly host: string; readonly port: number; readonly transport: Transport }>
  /** ws:// URL of the first websocket endpoint, e.g. "ws://127.0.0.1:41234/ws". */
  readonly url: string
}>()("wampgres/router/Router") {
  /** Runs the router for the layer's lifetime. */
  static readonly layer = (config: RouterConfig): Layer.Layer<Router, RouterError> => Layer.effect(Router, make(config))

  /** Loads a Crossbar configuration file, names the workers it does not run, and runs the router. */
  static readonly layerFromFile = (file: string): Layer.Layer<Router, RouterError | RouterConfigError> =>
    Layer.effect(
      Router,
      Effect.gen(function*() {
        const loaded = yield* loadRouterConfig(file)
        if (loaded.skippedWorkers.length > 0) {
          yield* Effect.logInfo(
            `not run by the embedded router (start them as separate processes): ${loaded.skippedWorkers.join(", ")}`
          ).pipe(Effect.annotateLogs("module", "router"))
        }
        return yield* make(loaded.router)
      })
    )
}
