/**
 * Every setting of the service, declared once: its environment variable, how its text is read,
 * its default and its help text. `config` is the one Effect `Config` of the whole service;
 * `src/main.ts` reads it once and passes the values into the layers. `--help` and the README's
 * configuration table are rendered from the same declarations (a test keeps the README in step).
 *
 * A bad value fails with a `ConfigError` whose message names the variable, the value (unless it is
 * a secret) and what is expected, e.g. `DB_POOL_MAX="abc" is not valid: expected an integer >= 1`.
 * An empty variable counts as unset (`DATABASE_URL=` means: no external database).
 *
 * Longer than a module usually is on purpose: the point of the file is that every setting stands in
 * one place, one short declaration each.
 */
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Os from "node:os"
import * as Path from "node:path"
import type { DatabaseTarget, PoolSettings } from "./layers/DatabaseConfig.js"
import type { Mapping } from "./layers/NotifyBridge.js"
import { authMethods, type CredentialSettings } from "./layers/Credentials.js"
import type { WampSessionConfig } from "./layers/WampSession.js"
import type { OutboxSettings } from "./procedures/Outbox.js"
import type { TelemetrySettings } from "./layers/Telemetry.js"
import { type InvokePolicy, invokePolicies } from "./wamp/types.js"

// ---------------------------------------------------------------------------------------------
// declarations

export type Group = "Database" | "WAMP" | "Embedded router" | "Events" | "Logging" | "Observability"

/** One environment variable of the service. */
export interface Setting<A> {
  readonly name: string
  readonly group: Group
  /** What it does, one line. */
  readonly help: string
  /** The default as written in `--help` and the README ("" when there is none). */
  readonly shownDefault: string
  /** The value when unset. */
  readonly defaultValue: A
  /** Secrets are never echoed in error messages. */
  readonly secret: boolean
  /** Reads the variable: its default when unset or empty, a `ConfigError` naming it when invalid. */
  readonly config: Config.Config<A>
}

/** How a variable's text becomes a value: a parser and what it expects, for the error message. */
interface Reader<A> {
  readonly expected: string
  readonly parse: (text: string) => Option.Option<A>
}

const invalid = (name: string, text: string, secret: boolean, expected: string) =>
  new Config.ConfigError(
    new ConfigProvider.SourceError({
      message: `${secret ? name : `${name}=${JSON.stringify(text)}`} is not valid: expected ${expected}`
    })
  )

interface Declaration<A> {
  readonly group: Group
  readonly help: string
  readonly reader: Reader<A>
  readonly secret?: boolean
}

const declare = <A, D = A>(
  name: string,
  declaration: Declaration<A> & { readonly default: D; readonly shownDefault: string }
): Setting<A | D> => {
  const secret = declaration.secret ?? false
  return {
    name,
    group: declaration.group,
    help: declaration.help,
    shownDefault: declaration.shownDefault,
    defaultValue: declaration.default,
    secret,
    config: Config.option(Config.String(name)).pipe(
      Config.mapEffect((text): Effect.Effect<A | D, Config.ConfigError> => {
        if (Option.isNone(text) || text.value.trim().length === 0) return Effect.succeed(declaration.default)
        const parsed = declaration.reader.parse(text.value.trim())
        return Option.isSome(parsed)
          ? Effect.succeed(parsed.value)
          : Effect.fail(invalid(name, text.value, secret, declaration.reader.expected))
      })
    )
  }
}

/** A setting with a default value. */
const withDefault = <A>(name: string, declaration: Declaration<A> & { readonly default: A; readonly shownDefault?: string }) =>
  declare<A>(name, { ...declaration, shownDefault: declaration.shownDefault ?? String(declaration.default) }) as Setting<A>

/** A setting that may be absent; `shownDefault` says what absence means. */
const optional = <A>(name: string, declaration: Declaration<A> & { readonly shownDefault?: string }) =>
  declare<Option.Option<A>, Option.Option<A>>(name, {
    ...declaration,
    reader: { expected: declaration.reader.expected, parse: (text) => Option.map(declaration.reader.parse(text), Option.some) },
    default: Option.none(),
    shownDefault: declaration.shownDefault ?? ""
  }) as Setting<Option.Option<A>>

// ---------------------------------------------------------------------------------------------
// readers

const text: Reader<string> = { expected: "some text", parse: Option.some }

const integer = (minimum: number, maximum = Number.MAX_SAFE_INTEGER): Reader<number> => ({
  expected: maximum === Number.MAX_SAFE_INTEGER ? `an integer >= ${minimum}` : `an integer from ${minimum} to ${maximum}`,
  parse: (s) => {
    if (!/^[+-]?\d+$/.test(s)) return Option.none()
    const n = Number(s)
    return Number.isSafeInteger(n) && n >= minimum && n <= maximum ? Option.some(n) : Option.none()
  }
})

const duration: Reader<Duration.Duration> = {
  expected: "a duration such as \"5 seconds\" or \"500 millis\"",
  parse: (s) =>
    Option.filter(
      Duration.fromInput(s as Duration.Input),
      (d) => Duration.isFinite(d) && Duration.toMillis(d) >= 0
    )
}

const booleans: Record<string, boolean> = { true: true, false: false, yes: true, no: false, on: true, off: false, "1": true, "0": false }
const boolean: Reader<boolean> = {
  expected: "true or false",
  parse: (s) => Option.fromNullishOr(booleans[s.toLowerCase()])
}

const oneOf = <const L extends string>(values: ReadonlyArray<L>, caseInsensitive = false): Reader<L> => ({
  expected: `one of ${values.join(", ")}`,
  parse: (s) =>
    Option.fromNullishOr(values.find((v) => (caseInsensitive ? v.toLowerCase() === s.toLowerCase() : v === s)))
})

const url = (protocols: ReadonlyArray<string>, example: string): Reader<string> => ({
  expected: `a URL like ${example}`,
  parse: (s) => {
    try {
      return protocols.includes(new URL(s).protocol) ? Option.some(s) : Option.none()
    } catch {
      return Option.none()
    }
  }
})

/** `channel=topic,channel=topic` (empty: none). Throws on a malformed part. */
export const parseMappings = (text: string): ReadonlyArray<Mapping> =>
  text.split(",").map((part) => part.trim()).filter((part) => part.length > 0).map((part) => {
    const [channel, topic, ...rest] = part.split("=").map((s) => s.trim())
    if (channel === undefined || channel.length === 0 || topic === undefined || topic.length === 0 || rest.length > 0) {
      throw new Error(`expected channel=topic, got "${part}"`)
    }
    return { channel, topic }
  })

const mappings: Reader<ReadonlyArray<Mapping>> = {
  expected: "channel=topic pairs separated by commas",
  parse: (s) => {
    try {
      return Option.some(parseMappings(s))
    } catch {
      return Option.none()
    }
  }
}

/** A number from 0 to 1. */
const fraction: Reader<number> = {
  expected: "a number from 0 to 1",
  parse: (s) => {
    const n = Number(s)
    return /^[0-9.]+$/.test(s) && Number.isFinite(n) && n >= 0 && n <= 1 ? Option.some(n) : Option.none()
  }
}

/** OpenTelemetry's standard sampler names. */
const samplers = [
  "always_on",
  "always_off",
  "traceidratio",
  "parentbased_always_on",
  "parentbased_always_off",
  "parentbased_traceidratio"
] as const
type Sampler = (typeof samplers)[number]

const logLevels = ["Trace", "Debug", "Info", "Warn", "Error", "Fatal", "None", "All"] as const satisfies ReadonlyArray<LogLevel.LogLevel>

// ---------------------------------------------------------------------------------------------
// the settings

const seconds = (input: string) => ({ default: Duration.fromInputUnsafe(input as Duration.Input), shownDefault: input })

export const DATABASE_URL = optional("DATABASE_URL", {
  group: "Database",
  help: "postgres://user:password@host:port/db (Unix socket: ?host=/var/run/postgresql); set: no embedded PostgreSQL",
  reader: url(["postgres:", "postgresql:"], "postgres://user:password@host:5432/db"),
  secret: true
})
export const DATABASE_DIRECT_URL = optional("DATABASE_DIRECT_URL", {
  group: "Database",
  help: "a direct connection (no pooler) for what needs a session of its own (LISTEN), when DATABASE_URL goes through PgBouncer",
  reader: url(["postgres:", "postgresql:"], "postgres://user:password@host:5432/db"),
  secret: true
})
export const PGHOST = optional("PGHOST", {
  group: "Database",
  help: "libpq-style host instead of DATABASE_URL (a directory means its Unix socket); set: no embedded PostgreSQL",
  reader: text
})
export const PGPORT = withDefault("PGPORT", { group: "Database", help: "port, with PGHOST", reader: integer(1, 65535), default: 5432 })
export const PGDATABASE = optional("PGDATABASE", { group: "Database", help: "database, with PGHOST", reader: text, shownDefault: "the user" })
export const PGUSER = optional("PGUSER", { group: "Database", help: "user, with PGHOST", reader: text, shownDefault: "the OS user" })
export const PGPASSWORD = optional("PGPASSWORD", { group: "Database", help: "password, with PGHOST", reader: text, secret: true })
export const DB_POOL_MIN = withDefault("DB_POOL_MIN", {
  group: "Database",
  help: "connections kept open (adbapi cp_min)",
  reader: integer(0),
  default: 3
})
export const DB_POOL_MAX = withDefault("DB_POOL_MAX", {
  group: "Database",
  help: "connections at most (adbapi cp_max)",
  reader: integer(1),
  default: 10
})
export const DB_CONNECT_TIMEOUT = withDefault("DB_CONNECT_TIMEOUT", {
  group: "Database",
  help: "one connection attempt",
  reader: duration,
  ...seconds("5 seconds")
})
export const DB_STARTUP_TIMEOUT = withDefault("DB_STARTUP_TIMEOUT", {
  group: "Database",
  help: "the health query must succeed within this at start-up, else start-up fails naming the database",
  reader: duration,
  ...seconds("20 seconds")
})
export const DB_HEALTH_QUERY = withDefault("DB_HEALTH_QUERY", {
  group: "Database",
  help: "health query (adbapi cp_good_sql)",
  reader: text,
  default: "SELECT 1"
})
export const DB_MULTIPLEX = withDefault("DB_MULTIPLEX", {
  group: "Database",
  help: "pipeline single statements of many calls on shared connections; from DB_POOL_MAX=4, transactions run on lanes (BEGIN and COMMIT share writes with statements) on three quarters of the connections",
  reader: boolean,
  default: true
})
export const DB_APPLICATION_NAME = withDefault("DB_APPLICATION_NAME", {
  group: "Database",
  help: "application_name in pg_stat_activity",
  reader: text,
  default: "wampgres"
})
export const DB_TRANSACTION_POOLER = withDefault("DB_TRANSACTION_POOLER", {
  group: "Database",
  help: "true when DATABASE_URL is a pooler in transaction mode (PgBouncer): no named prepared statements, no pipelining",
  reader: boolean,
  default: false
})
export const WAMPGRES_DATA_DIR = withDefault("WAMPGRES_DATA_DIR", {
  group: "Database",
  help: "the embedded PostgreSQL lives in <dir>/postgres",
  reader: text,
  default: ".data"
})
export const EMBEDDED_PG_TCP = withDefault("EMBEDDED_PG_TCP", {
  group: "Database",
  help: "the embedded PostgreSQL also listens on TCP 127.0.0.1 (default: its Unix socket only)",
  reader: boolean,
  default: false
})
export const WAMP_URL = optional("WAMP_URL", {
  group: "WAMP",
  help: "router WebSocket URL; set: no embedded router",
  reader: url(["ws:", "wss:"], "ws://127.0.0.1:8080/ws"),
  shownDefault: "the embedded router"
})
export const WAMP_AUTHMETHOD = optional("WAMP_AUTHMETHOD", {
  group: "WAMP",
  help: `how the component authenticates: ${authMethods.join(", ")} (the secret or key from WAMP_SECRET_FILE)`,
  reader: oneOf(authMethods),
  shownDefault: "cryptosign with the embedded router, else anonymous"
})
export const WAMP_AUTHID = withDefault("WAMP_AUTHID", {
  group: "WAMP",
  help: "the component's authid (cryptosign: also the principal in .crossbar/config.json)",
  reader: text,
  default: "wampgres"
})
export const WAMP_SECRET_FILE = optional("WAMP_SECRET_FILE", {
  group: "WAMP",
  help: "file with the ticket, the WAMP-CRA secret or the cryptosign key (\"private-key-ed25519: <hex>\"); never the secret itself",
  reader: text,
  shownDefault: "cryptosign: <WAMPGRES_DATA_DIR>/component.key, created at first start (0600)"
})
export const WAMP_REALM = withDefault("WAMP_REALM", { group: "WAMP", help: "realm to join", reader: text, default: "realm1" })
export const WAMP_SERIALIZER = withDefault("WAMP_SERIALIZER", {
  group: "WAMP",
  help: "json or msgpack (JSON with the spec's binary convention, msgpack via msgpackr)",
  reader: oneOf(["json", "msgpack"] as const),
  default: "json" as "json" | "msgpack"
})
export const WAMP_INVOKE = withDefault("WAMP_INVOKE", {
  group: "WAMP",
  help: `invocation policy (${invokePolicies.join(", ")}) of procedures that declare none: shared registrations for scale-out`,
  reader: oneOf(invokePolicies),
  default: "single" as InvokePolicy
})
export const WAMP_JOIN_TIMEOUT = withDefault("WAMP_JOIN_TIMEOUT", {
  group: "WAMP",
  help: "first join at start-up",
  reader: duration,
  ...seconds("15 seconds")
})
export const WAMP_REQUEST_TIMEOUT = withDefault("WAMP_REQUEST_TIMEOUT", {
  group: "WAMP",
  help: "bound on every register/call/publish request",
  reader: duration,
  ...seconds("10 seconds")
})
export const WAMP_DRAIN_TIMEOUT = withDefault("WAMP_DRAIN_TIMEOUT", {
  group: "WAMP",
  help: "time calls in flight get at shutdown before they are canceled (rolled back)",
  reader: duration,
  ...seconds("3 seconds")
})
export const WAMP_MAX_RETRY_DELAY = withDefault("WAMP_MAX_RETRY_DELAY", {
  group: "WAMP",
  help: "longest pause between reconnect attempts (backoff from 0.2 s, no retry limit)",
  reader: duration,
  ...seconds("5 seconds")
})
export const ROUTER_CONFIG = withDefault("ROUTER_CONFIG", {
  group: "Embedded router",
  help: "Crossbar.io configuration of the embedded router",
  reader: text,
  default: ".crossbar/config.json"
})
export const ROUTER_PORT = optional("ROUTER_PORT", {
  group: "Embedded router",
  help: "overrides the port of the configuration's first transport; 0 = any free port",
  reader: integer(0, 65535),
  shownDefault: "from the configuration (8080)"
})
export const ROUTER_INTERFACE = optional("ROUTER_INTERFACE", {
  group: "Embedded router",
  help: "overrides the address the configuration's first transport binds; 0.0.0.0 = all IPv4 interfaces",
  reader: text,
  shownDefault: "from the configuration (127.0.0.1)"
})
export const NOTIFY_BRIDGE = withDefault("NOTIFY_BRIDGE", {
  group: "Events",
  help: "more PostgreSQL NOTIFY channels published as WAMP events: channel=topic,channel=topic",
  reader: mappings,
  default: [] as ReadonlyArray<Mapping>,
  shownDefault: "none"
})
export const OUTBOX_RETENTION = withDefault("OUTBOX_RETENTION", {
  group: "Events",
  help: "published outbox events are kept this long for wampgres.outbox.replay (subscribers that saw a gap in _seq)",
  reader: duration,
  ...seconds("24 hours")
})
export const OUTBOX_POLL_INTERVAL = withDefault("OUTBOX_POLL_INTERVAL", {
  group: "Events",
  help: "the outbox relay looks for committed events at least this often (NOTIFY wakes it sooner)",
  reader: duration,
  ...seconds("1 second")
})
export const IDEMPOTENCY_RETENTION = withDefault("IDEMPOTENCY_RETENTION", {
  group: "Events",
  help: "outcomes of calls made with an idempotency key are kept this long: a retry within it gets the original outcome",
  reader: duration,
  ...seconds("24 hours")
})
export const LOG_LEVEL = withDefault("LOG_LEVEL", {
  group: "Logging",
  help: "Trace, Debug, Info, Warn, Error or None; Debug shows PostgreSQL's log, autobahn's messages, start-up errors in detail",
  reader: oneOf(logLevels, true),
  default: "Info" as LogLevel.LogLevel
})

export const LOG_FORMAT = withDefault("LOG_FORMAT", {
  group: "Logging",
  help: "text, or json: one JSON object per line with the trace and span ids when there is a trace",
  reader: oneOf(["text", "json"] as const),
  default: "text" as "text" | "json"
})
export const OTEL_EXPORTER_OTLP_ENDPOINT = optional("OTEL_EXPORTER_OTLP_ENDPOINT", {
  group: "Observability",
  help: "OTLP/HTTP collector base URL (traces go to <url>/v1/traces); set: tracing on",
  reader: url(["http:", "https:"], "http://127.0.0.1:4318"),
  shownDefault: "tracing off"
})
export const OTEL_EXPORTER_OTLP_PROTOCOL = withDefault("OTEL_EXPORTER_OTLP_PROTOCOL", {
  group: "Observability",
  help: "http/protobuf or http/json",
  reader: oneOf(["http/protobuf", "http/json"] as const),
  default: "http/protobuf" as "http/protobuf" | "http/json"
})
export const OTEL_SERVICE_NAME = withDefault("OTEL_SERVICE_NAME", {
  group: "Observability",
  help: "service.name of the traces (OTEL_RESOURCE_ATTRIBUTES adds more)",
  reader: text,
  default: "wampgres"
})
export const OTEL_SDK_DISABLED = withDefault("OTEL_SDK_DISABLED", {
  group: "Observability",
  help: "true: no tracing even with an endpoint",
  reader: boolean,
  default: false
})
export const OTEL_TRACES_SAMPLER = withDefault("OTEL_TRACES_SAMPLER", {
  group: "Observability",
  help: `${samplers.join(", ")}: which new traces are kept (a caller's _traceparent decides for its own)`,
  reader: oneOf(samplers),
  default: "parentbased_always_on" as Sampler
})
export const OTEL_TRACES_SAMPLER_ARG = withDefault("OTEL_TRACES_SAMPLER_ARG", {
  group: "Observability",
  help: "the share of new traces kept by the traceidratio samplers, 0 to 1",
  reader: fraction,
  default: 1
})
export const METRICS_PORT = optional("METRICS_PORT", {
  group: "Observability",
  help: "port of the component's HTTP listener: /metrics (Prometheus), /health, /ready; 0 = any free port",
  reader: integer(0, 65535),
  shownDefault: "no listener"
})
export const METRICS_HOST = withDefault("METRICS_HOST", {
  group: "Observability",
  help: "interface of that listener",
  reader: text,
  default: "127.0.0.1"
})

/** Every setting, in the order of `--help` and the README. */
export const all: ReadonlyArray<Setting<unknown>> = [
  DATABASE_URL,
  DATABASE_DIRECT_URL,
  PGHOST,
  PGPORT,
  PGDATABASE,
  PGUSER,
  PGPASSWORD,
  DB_POOL_MIN,
  DB_POOL_MAX,
  DB_CONNECT_TIMEOUT,
  DB_STARTUP_TIMEOUT,
  DB_HEALTH_QUERY,
  DB_MULTIPLEX,
  DB_APPLICATION_NAME,
  DB_TRANSACTION_POOLER,
  WAMPGRES_DATA_DIR,
  EMBEDDED_PG_TCP,
  WAMP_URL,
  WAMP_AUTHMETHOD,
  WAMP_AUTHID,
  WAMP_SECRET_FILE,
  WAMP_REALM,
  WAMP_SERIALIZER,
  WAMP_INVOKE,
  WAMP_JOIN_TIMEOUT,
  WAMP_REQUEST_TIMEOUT,
  WAMP_DRAIN_TIMEOUT,
  WAMP_MAX_RETRY_DELAY,
  ROUTER_CONFIG,
  ROUTER_PORT,
  ROUTER_INTERFACE,
  NOTIFY_BRIDGE,
  OUTBOX_RETENTION,
  OUTBOX_POLL_INTERVAL,
  IDEMPOTENCY_RETENTION,
  LOG_LEVEL,
  LOG_FORMAT,
  OTEL_EXPORTER_OTLP_ENDPOINT,
  OTEL_EXPORTER_OTLP_PROTOCOL,
  OTEL_SERVICE_NAME,
  OTEL_SDK_DISABLED,
  OTEL_TRACES_SAMPLER,
  OTEL_TRACES_SAMPLER_ARG,
  METRICS_PORT,
  METRICS_HOST
]

// ---------------------------------------------------------------------------------------------
// the service's configuration, assembled

export interface Settings {
  readonly database: {
    /** `None`: no DATABASE_URL or PGHOST, so an embedded PostgreSQL in `embeddedDataDir`. */
    readonly external: Option.Option<DatabaseTarget>
    /** `DATABASE_DIRECT_URL`: a connection for LISTEN that bypasses the pooler. */
    readonly direct: Option.Option<DatabaseTarget>
    readonly embeddedDataDir: string
    /** The embedded PostgreSQL listens on TCP 127.0.0.1 too. */
    readonly embeddedTcp: boolean
    readonly pool: PoolSettings
  }
  readonly wamp: {
    /** `None`: the embedded router. */
    readonly url: Option.Option<string>
    readonly session: Omit<WampSessionConfig, "url">
    /** The component's credentials, resolved for the embedded router or WAMP_URL. */
    readonly credentials: CredentialSettings
  }
  readonly router: { readonly configFile: string; readonly port: number | undefined; readonly interface?: string | undefined }
  readonly notifyBridge: ReadonlyArray<Mapping>
  readonly outbox: Omit<OutboxSettings, "batchSize">
  readonly idempotencyRetention: Duration.Duration
  readonly logLevel: LogLevel.LogLevel
  readonly telemetry: TelemetrySettings
}

/** Pool settings (`DB_*`). */
export const poolSettings: Config.Config<PoolSettings> = Config.all({
  min: DB_POOL_MIN.config,
  max: DB_POOL_MAX.config,
  connectTimeout: DB_CONNECT_TIMEOUT.config,
  startupTimeout: DB_STARTUP_TIMEOUT.config,
  healthQuery: DB_HEALTH_QUERY.config,
  multiplex: DB_MULTIPLEX.config,
  applicationName: DB_APPLICATION_NAME.config,
  transactionPooler: DB_TRANSACTION_POOLER.config
}).pipe(
  Config.mapEffect((pool) =>
    pool.min <= pool.max
      ? Effect.succeed(pool)
      : Effect.fail(
        new Config.ConfigError(
          new ConfigProvider.SourceError({
            message: `DB_POOL_MIN=${pool.min} is larger than DB_POOL_MAX=${pool.max}: lower DB_POOL_MIN or raise DB_POOL_MAX`
          })
        )
      )
  )
)

/**
 * The external database: from `DATABASE_URL`, or from libpq's variables with libpq's defaults
 * when `PGHOST` is set; `None` when neither is set.
 */
export const externalTarget: Config.Config<Option.Option<DatabaseTarget>> = Config.all({
  url: DATABASE_URL.config,
  host: PGHOST.config,
  port: PGPORT.config,
  database: PGDATABASE.config,
  username: PGUSER.config,
  password: PGPASSWORD.config
}).pipe(
  Config.map(({ database, host, password, port, url, username }): Option.Option<DatabaseTarget> => {
    if (Option.isSome(url)) return Option.some({ _tag: "Url", url: Redacted.make(url.value) })
    if (Option.isNone(host)) return Option.none()
    const user = Option.getOrElse(username, () => Os.userInfo().username)
    return Option.some({
      _tag: "Fields",
      host: host.value,
      port,
      database: Option.getOrElse(database, () => user),
      username: user,
      password: Option.getOrUndefined(Option.map(password, Redacted.make))
    })
  })
)

/** The session settings (`WAMP_*` but the URL). */
export const sessionSettings: Config.Config<Omit<WampSessionConfig, "url">> = Config.all({
  realm: WAMP_REALM.config,
  joinTimeout: WAMP_JOIN_TIMEOUT.config,
  requestTimeout: WAMP_REQUEST_TIMEOUT.config,
  drainTimeout: WAMP_DRAIN_TIMEOUT.config,
  maxRetryDelay: WAMP_MAX_RETRY_DELAY.config,
  serializer: WAMP_SERIALIZER.config,
  invoke: WAMP_INVOKE.config
})

/** Tracing, metrics, health and the log format (`OTEL_*`, `METRICS_*`, `LOG_FORMAT`). */
export const telemetrySettings: Config.Config<TelemetrySettings> = Config.all({
  endpoint: OTEL_EXPORTER_OTLP_ENDPOINT.config,
  protocol: OTEL_EXPORTER_OTLP_PROTOCOL.config,
  serviceName: OTEL_SERVICE_NAME.config,
  disabled: OTEL_SDK_DISABLED.config,
  sampler: OTEL_TRACES_SAMPLER.config,
  samplerArg: OTEL_TRACES_SAMPLER_ARG.config,
  metricsPort: METRICS_PORT.config,
  metricsHost: METRICS_HOST.config,
  logFormat: LOG_FORMAT.config
}).pipe(
  Config.map((t): TelemetrySettings => ({
    tracing: Option.flatMap(t.endpoint, (endpoint) => {
      const ratio = t.sampler.endsWith("always_off") ? 0 : t.sampler.endsWith("traceidratio") ? t.samplerArg : 1
      return t.disabled || ratio === 0
        ? Option.none()
        : Option.some({ endpoint, protocol: t.protocol, serviceName: t.serviceName, ratio })
    }),
    listener: Option.map(t.metricsPort, (port) => ({ port, host: t.metricsHost })),
    logFormat: t.logFormat
  }))
)

/** The whole configuration of the service, read once by `src/main.ts`. */
export const config: Config.Config<Settings> = Config.all({
  external: externalTarget,
  direct: DATABASE_DIRECT_URL.config,
  dataDir: WAMPGRES_DATA_DIR.config,
  embeddedTcp: EMBEDDED_PG_TCP.config,
  pool: poolSettings,
  url: WAMP_URL.config,
  session: sessionSettings,
  authmethod: WAMP_AUTHMETHOD.config,
  authid: WAMP_AUTHID.config,
  secretFile: WAMP_SECRET_FILE.config,
  routerConfig: ROUTER_CONFIG.config,
  routerPort: ROUTER_PORT.config,
  routerInterface: ROUTER_INTERFACE.config,
  notifyBridge: NOTIFY_BRIDGE.config,
  outboxRetention: OUTBOX_RETENTION.config,
  outboxPollInterval: OUTBOX_POLL_INTERVAL.config,
  idempotencyRetention: IDEMPOTENCY_RETENTION.config,
  logLevel: LOG_LEVEL.config,
  telemetry: telemetrySettings
}).pipe(
  Config.map((s): Settings => ({
    database: {
      external: s.external,
      direct: Option.map(s.direct, (url): DatabaseTarget => ({ _tag: "Url", url: Redacted.make(url) })),
      embeddedDataDir: Path.resolve(s.dataDir, "postgres"),
      embeddedTcp: s.embeddedTcp,
      pool: s.pool
    },
    wamp: {
      url: s.url,
      session: s.session,
      credentials: {
        // the embedded router's configuration admits the component by its key; an external router: as configured
        method: Option.getOrElse(s.authmethod, () => (Option.isNone(s.url) ? "cryptosign" : "anonymous")),
        authid: s.authid,
        secretFile: Option.getOrUndefined(s.secretFile),
        defaultKeyFile: Path.resolve(s.dataDir, "component.key")
      }
    },
    router: {
      configFile: s.routerConfig,
      port: Option.getOrUndefined(s.routerPort),
      ...(Option.isSome(s.routerInterface) ? { interface: s.routerInterface.value } : {})
    },
    notifyBridge: s.notifyBridge,
    outbox: { retention: s.outboxRetention, pollInterval: s.outboxPollInterval },
    idempotencyRetention: s.idempotencyRetention,
    logLevel: s.logLevel,
    telemetry: s.telemetry
  }))
)

/**
 * Reads every setting and reports all invalid ones at once (a message per line), rather than the
 * first only.
 */
export const load: Effect.Effect<Settings, Config.ConfigError> = Effect.gen(function*() {
  const problems: Array<string> = []
  for (const setting of all) {
    const result = yield* Effect.result(setting.config)
    if (result._tag === "Failure") problems.push(messageOf(result.failure))
  }
  if (problems.length > 0) {
    return yield* Effect.fail(new Config.ConfigError(new ConfigProvider.SourceError({ message: problems.join("\n") })))
  }
  return yield* config
})

/** A `ConfigError`'s message without the wrapping (`SourceError: ...`, `SchemaError(...)`). */
export const messageOf = (error: Config.ConfigError): string => error.cause.message

/** The defaults of the session settings, for tests and embeddings that set only some. */
export const sessionDefaults: Omit<WampSessionConfig, "url"> = {
  realm: WAMP_REALM.defaultValue,
  joinTimeout: WAMP_JOIN_TIMEOUT.defaultValue,
  requestTimeout: WAMP_REQUEST_TIMEOUT.defaultValue,
  drainTimeout: WAMP_DRAIN_TIMEOUT.defaultValue,
  maxRetryDelay: WAMP_MAX_RETRY_DELAY.defaultValue,
  serializer: WAMP_SERIALIZER.defaultValue,
  invoke: WAMP_INVOKE.defaultValue
}

// ---------------------------------------------------------------------------------------------
// rendered for people

const groupNotes: Record<Group, string> = {
  Database: "set DATABASE_URL or PGHOST to use an external PostgreSQL instead of the embedded one",
  WAMP: "set WAMP_URL to use an external router (e.g. Crossbar.io) instead of the embedded one",
  "Embedded router": "only when WAMP_URL is not set",
  Events: "the transactional outbox, idempotent calls and extra LISTEN/NOTIFY bridges",
  Logging: "",
  Observability: "the OpenTelemetry variables keep their standard meaning; off when unset"
}

/** `npm start -- --help`. */
export const help = (): string => {
  const width = Math.max(...all.map((s) => s.name.length)) + 2
  const lines: Array<string> = []
  let group: Group | undefined
  for (const setting of all) {
    if (setting.group !== group) {
      group = setting.group
      lines.push(`  ${group}${groupNotes[group] === "" ? "" : ` (${groupNotes[group]})`}`)
    }
    const shown = setting.shownDefault === "" ? "" : `  [default: ${setting.shownDefault}]`
    lines.push(`    ${setting.name.padEnd(width)}${setting.help}${shown}`)
  }
  return `wampgres: WAMP procedures doing PostgreSQL database programming, Effect-native.

Usage: npm start   (supervisors: node_modules/.bin/node --import tsx src/main.ts)
       npm start -- --help

With no configuration: embedded PostgreSQL + embedded WAMP router + the component.

Environment variables (an empty one counts as unset; durations like "5 seconds" or "500 millis"):
${lines.join("\n")}
`
}

/** The README's configuration table. */
export const markdownTable = (): string => {
  const cell = (s: string) => s.replaceAll("|", "\\|").replaceAll("<", "&lt;").replaceAll(">", "&gt;")
  const rows = all.map((s) =>
    `| \`${s.name}\` | ${s.shownDefault === "" ? "–" : cell(s.shownDefault)} | ${cell(s.help)} |`
  )
  return ["| variable | default | meaning |", "|---|---|---|", ...rows].join("\n")
}
