/**
 * The standalone router: `npm run router -- --config FILE` runs the router workers of a Crossbar
 * configuration until SIGINT/SIGTERM. Workers it does not run (container, guest) are named in one
 * log line.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { Router } from "./index.js"

export class UsageError extends Schema.TaggedError<UsageError>()("UsageError", {
  message: Schema.String
}) {}

/** The value of `--config FILE` or `--config=FILE`. */
export const configArgument = (argv: ReadonlyArray<string>): string | undefined => {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === "--config" || arg === "-c") return argv[i + 1]
    if (arg.startsWith("--config=")) return arg.slice("--config=".length)
  }
  return undefined
}

const program = Effect.gen(function*() {
  const file = configArgument(process.argv.slice(2))
  if (file === undefined || file.length === 0) {
    return yield* new UsageError({ message: "usage: npm run router -- --config FILE (a Crossbar.io node configuration)" })
  }
  const announce = Layer.effectDiscard(Effect.gen(function*() {
    const router = yield* Router
    yield* Effect.logInfo(`WAMP router ready at ${router.url}`)
  }))
  return yield* Layer.launch(announce.pipe(Layer.provideMerge(Router.layerFromFile(file))))
})

NodeRuntime.runMain(program)
