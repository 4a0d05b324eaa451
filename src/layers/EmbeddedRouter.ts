/**
 * The embedded router from a Crossbar configuration file, with the port of its first web/websocket
 * transport optionally overridden (`ROUTER_PORT`; 0 = an ephemeral port, as tests use).
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { type Environment, loadRouterConfig, type RouterConfigError } from "../router/config.js"
import { fromEffectTracer, Router, type RouterError, RouterTracing } from "../router/index.js"
import { Tracing } from "./Telemetry.js"
import type { RouterConfig } from "../router/types.js"

/** The router's service tag, for code that loads this module on demand. */
export { Router }

export interface EmbeddedRouterOptions {
  /** Path of the Crossbar configuration (`ROUTER_CONFIG` in `src/Settings.ts`). */
  readonly configFile: string
  /** Overrides the first transport's port when set. */
  readonly port?: number | undefined
  /** Overrides the first transport's interface when set (`ROUTER_INTERFACE`). */
  readonly interface?: string | undefined
  /** Environment variables the configuration's `${NAME}` values come from; default: the process's. */
  readonly env?: Environment | undefined
}

/** The configuration with the first transport's port (and, when given, interface) replaced. */
export const withPort = (config: RouterConfig, port: number | undefined, host?: string | undefined): RouterConfig =>
  port === undefined && host === undefined ? config : {
    ...config,
    transports: config.transports.map((transport, index) =>
      index === 0
        ? {
          ...transport,
          endpoint: { ...transport.endpoint, ...(port === undefined ? {} : { port }), ...(host === undefined ? {} : { interface: host }) }
        }
        : transport
    )
  }

/** Runs the router of `configFile` for the layer's lifetime. */
export const layer = (options: EmbeddedRouterOptions): Layer.Layer<Router, RouterError | RouterConfigError> =>
  Layer.unwrap(
    Effect.gen(function*() {
      const loaded = yield* loadRouterConfig(options.configFile, options.env ?? process.env)
      if (loaded.skippedWorkers.length > 0) {
        yield* Effect.logInfo(`not run by the embedded router: ${loaded.skippedWorkers.join(", ")}`)
      }
      // with tracing on, the router records its call spans through the process's tracer
      const ratio = yield* Tracing
      const tracer = ratio > 0 ? fromEffectTracer(yield* Effect.tracer, yield* Effect.clockWith(Effect.succeed), ratio) : undefined
      return Router.layer(withPort(loaded.router, options.port, options.interface)).pipe(Layer.provide(Layer.succeed(RouterTracing, tracer)))
    })
  )
