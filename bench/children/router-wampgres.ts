/**
 * Our router, alone in this child process: `Router.layerFromFile` of src/router/index.ts on a
 * Crossbar-style configuration written by the orchestrator (realm1, anonymous, one websocket
 * transport on an ephemeral port). Loaded dynamically so the benchmark builds before the router,
 * from this checkout or from the worktree of another revision (`--service-revision`).
 * argv: configFile [root]
 */
// Deep imports only: the "effect" and "@effect/platform-node" barrels load every module and would
// add about 75 MB to the router's measured RSS.
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { finish, onParentMessage, sendToParent } from "../lib/ipc.js"
import { describeFailure } from "../lib/stats.js"

/** The part of the router's contract (src/router/index.ts) used here. */
interface RouterModule {
  readonly Router: Context.Key<unknown, { readonly url: string }> & {
    readonly layerFromFile: (file: string) => Layer.Layer<unknown, { readonly message: string }>
  }
}

const [configFile, root = process.cwd()] = process.argv.slice(2)

const program = Effect.gen(function*() {
  if (configFile === undefined) return yield* Effect.fail(new Error("usage: router-wampgres.ts <config.json> [root]"))
  const { Router } = yield* Effect.promise(
    () => import(pathToFileURL(join(root, "src/router/index.ts")).href) as Promise<RouterModule>
  )
  // OTEL_EXPORTER_OTLP_ENDPOINT set (a row with tracing on): the router exports its call spans
  const tracing = process.env["OTEL_EXPORTER_OTLP_ENDPOINT"]
    ? (yield* Effect.promise(() =>
      import(pathToFileURL(join(root, "src/router/otlp.ts")).href) as Promise<{ layerFromEnv: Layer.Layer<never, unknown> }>
    )).layerFromEnv
    : Layer.empty
  const context = yield* Layer.build(Router.layerFromFile(configFile).pipe(Layer.provide(tracing)))
  const router = Context.get(context, Router)
  yield* Effect.promise(() => sendToParent({ type: "ready", node: process.version, url: router.url }))
  // Runs until SIGTERM: runMain interrupts, the scope closes, the router closes its sockets.
  return yield* Effect.never
}).pipe(
  Effect.scoped,
  Effect.catchCause((cause) =>
    Cause.hasInterruptsOnly(cause)
      ? Effect.void
      : Effect.sync(() => finish({ type: "failed", message: describeFailure(Cause.squash(cause)) }, 1))
  )
)

// The orchestrator follows "stop" with SIGTERM, which runMain turns into a clean shutdown.
onParentMessage(() => undefined)
NodeRuntime.runMain(program, { disableErrorReporting: true })
