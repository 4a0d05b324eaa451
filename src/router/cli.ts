/**
 * The standalone router: `npm run router -- --config FILE` runs the router workers of a Crossbar
 * configuration until SIGINT/SIGTERM (exit code 0). Workers it does not run (container, guest) are
 * named in one log line. `--help` prints the usage; a wrong command line or an unusable
 * configuration prints one or two lines (no stack trace) and exits non-zero: 2 for the command
 * line, 1 for the configuration or a port in use.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as RouterOtlp from "./otlp.js"
import { Router } from "./index.js"

export class UsageError extends Schema.TaggedError<UsageError>()("UsageError", {
  message: Schema.String
}) {}

export const usage = `usage: npm run router -- --config FILE

Runs the router workers (realms, roles, transports) of FILE, a Crossbar.io node configuration
(version 2, JSON), e.g. .crossbar/config.json, until SIGINT or SIGTERM.`

/** What the command line asks for: the usage, or a router from a configuration file. */
export type Command =
  | { readonly _tag: "Help" }
  | { readonly _tag: "Run"; readonly configFile: string }

/** Parses `--config FILE`, `--config=FILE`, `-c FILE`, `--help`/`-h`; anything else is a usage error. */
export const parseArguments = (argv: ReadonlyArray<string>): Command | UsageError => {
  let configFile: string | undefined
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === "--help" || arg === "-h") return { _tag: "Help" }
    if (arg === "--config" || arg === "-c") {
      configFile = argv[++i]
      if (configFile === undefined || configFile.length === 0 || configFile.startsWith("-")) {
        return new UsageError({ message: `${arg} needs a FILE` })
      }
    } else if (arg.startsWith("--config=")) {
      configFile = arg.slice("--config=".length)
    } else {
      return new UsageError({ message: `unknown argument ${arg}` })
    }
  }
  if (configFile === undefined || configFile.length === 0) return new UsageError({ message: "--config FILE is required" })
  return { _tag: "Run", configFile }
}

/** One or two lines for a failure the user can fix. */
const describe = (error: unknown): string => {
  if (error instanceof UsageError) return `${error.message}\n${usage.split("\n")[0]} (--help for more)`
  const message = error instanceof Error ? error.message : String(error)
  if (/EADDRINUSE/.test(message)) {
    const port = /:(\d+)\s*$/.exec(message)?.[1] ?? "?"
    return `port ${port} is in use by another program: stop it, or change the transport's endpoint.port in the configuration (0 = any free port)`
  }
  return message
}

const program = Effect.gen(function*() {
  const command = parseArguments(process.argv.slice(2))
  if (command instanceof UsageError) return yield* command
  if (command._tag === "Help") {
    process.stdout.write(`${usage}\n`)
    return
  }
  const announce = Layer.effectDiscard(Effect.gen(function*() {
    const router = yield* Router
    yield* Effect.logInfo(`WAMP router ready at ${router.url}`)
  }))
  return yield* Layer.launch(announce.pipe(Layer.provideMerge(Router.layerFromFile(command.configFile).pipe(Layer.provide(RouterOtlp.layerFromEnv)))))
}).pipe(
  Effect.tapCause((cause) =>
    Cause.hasInterruptsOnly(cause) ? Effect.void : Effect.logError(describe(Option.getOrUndefined(Cause.findErrorOption(cause)) ?? Cause.pretty(cause)))
  )
)

NodeRuntime.runMain(program, {
  disableErrorReporting: true,
  teardown: (exit, onExit) => {
    if (Exit.isSuccess(exit) || Cause.hasInterruptsOnly(exit.cause)) return onExit(0)
    onExit(Option.getOrUndefined(Cause.findErrorOption(exit.cause)) instanceof UsageError ? 2 : 1)
  }
})
