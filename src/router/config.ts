/**
 * Reads a Crossbar.io node configuration (version 2, JSON) into the router's normalized
 * {@link RouterConfig}. A small explicit validator rather than a Schema: every problem stops the
 * load with one message that names its JSON path, e.g.
 * `workers[0].transports[0].endpoint.port: expected an integer 0..65535, got "80a"`.
 * What Crossbar accepts but this router does not do (TLS, scram, WSGI, ...) is refused by name
 * instead of being silently dropped; what does not change the router's behaviour (titles,
 * pythonpath, tuning options of Autobahn's WebSocket) is accepted and ignored.
 *
 * Longer than most modules: one section per part of a node configuration (realms, transports,
 * workers), each read top-down like the file it reads. The validation primitives are in
 * `configJson.ts`, the transports' `auth` section in `configAuth.ts`.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { readFile } from "node:fs/promises"
import * as Path from "node:path"
import type {
  Endpoint,
  MatchPolicy,
  PathService,
  Permission,
  Realm,
  Role,
  RealmOptions,
  RouterConfig,
  SerializerName,
  Transport,
  WebSocketOptions
} from "./types.js"
import { realmDefaults, websocketLimitDefaults } from "./limits.js"
import { parseAuth } from "./configAuth.js"
import {
  array,
  boolean,
  type Environment,
  fail,
  index,
  integer,
  Invalid,
  isObject,
  type Json,
  key,
  type KnownNames,
  notSupported,
  object,
  oneOf,
  quoteAll,
  required,
  show,
  string
} from "./configJson.js"

export type { Environment }
import { isValidUri } from "../wamp/uri.js"
import { matchPolicies } from "../wamp/types.js"

/** A validated configuration, plus the workers it names that this process does not run. */
export interface LoadedConfig {
  readonly router: RouterConfig
  /** e.g. `"container (workers[1])"`: Crossbar workers that are not run here (user code runs as clients). */
  readonly skippedWorkers: ReadonlyArray<string>
}

export class RouterConfigError extends Schema.TaggedError<RouterConfigError>()("RouterConfigError", {
  message: Schema.String
}) {}

/** Defaults of a WebSocket service when the configuration leaves them out. */
export const websocketDefaults = {
  serializers: ["json", "msgpack", "cbor"] as ReadonlyArray<SerializerName>,
  maxMessageSize: 1_048_576,
  autoPingInterval: 10_000,
  autoPingTimeout: 5_000
} as const


// ---------------------------------------------------------------------------------------------
// realms, roles and permissions

/** Crossbar's rule for realm names. */
const REALM_NAME = /^[A-Za-z][A-Za-z0-9_\-@.]{2,254}$/

/**
 * Crossbar's "starred" URIs, used when a permission has no `match`: no star is exact, one trailing
 * star a prefix of what precedes it ("*" alone: every URI), any other stars wildcards (stars
 * removed). A URI with empty components (`com..foo`) is a wildcard too, as Crossbar's static
 * authorizer treats it.
 */
const fromStarred = (uri: string): { readonly uri: string; readonly match: MatchPolicy } => {
  const stars = uri.split("*").length - 1
  if (stars === 0) return { uri, match: isValidUri(uri, "exact") ? "exact" : "wildcard" }
  if (stars === 1 && uri.endsWith("*")) return { uri: uri.slice(0, -1), match: "prefix" }
  return { uri: uri.replaceAll("*", ""), match: "wildcard" }
}

const parsePermission = (value: unknown, path: string): Permission => {
  const obj = object(value, path, ["uri", "match", "allow", "disclose", "cache"])
  const written = string(required(obj, "uri", path), key(path, "uri"))
  const { match, uri } = obj["match"] === undefined
    ? fromStarred(written)
    : { match: oneOf(obj["match"], key(path, "match"), matchPolicies), uri: written }
  if (obj["match"] !== undefined && written.includes("*")) {
    // Crossbar would keep the "*" as a literal character: a permission that silently never matches
    fail(key(path, "uri"), `"*" only has a meaning without "match" (Crossbar's starred URIs); with "match": "${match}" write the URI without it`)
  }
  if (!isValidUri(uri, match)) {
    fail(key(path, "uri"), `${JSON.stringify(written)} is not a valid WAMP URI for match "${match}"`)
  }
  const allowPath = key(path, "allow")
  const allow = obj["allow"] === undefined ? {} : object(obj["allow"], allowPath, ["call", "register", "publish", "subscribe"])
  const disclosePath = key(path, "disclose")
  const disclose = obj["disclose"] === undefined ? {} : object(obj["disclose"], disclosePath, ["caller", "publisher"])
  boolean(obj["cache"], key(path, "cache"), false) // accepted: this router caches every decision
  return {
    uri,
    match,
    allow: {
      call: boolean(allow["call"], key(allowPath, "call"), false),
      register: boolean(allow["register"], key(allowPath, "register"), false),
      publish: boolean(allow["publish"], key(allowPath, "publish"), false),
      subscribe: boolean(allow["subscribe"], key(allowPath, "subscribe"), false)
    },
    disclose: {
      caller: boolean(disclose["caller"], key(disclosePath, "caller"), false),
      publisher: boolean(disclose["publisher"], key(disclosePath, "publisher"), false)
    }
  }
}

const parseRole = (value: unknown, path: string): Role => {
  const obj = object(value, path, ["name", "id", "permissions", "authorizer"])
  const name = string(required(obj, "name", path), key(path, "name"))
  if (name === "") fail(key(path, "name"), "expected a non-empty role name")
  const authorizer = obj["authorizer"] === undefined ? undefined : string(obj["authorizer"], key(path, "authorizer"))
  if (authorizer !== undefined && !isValidUri(authorizer, "exact")) {
    fail(key(path, "authorizer"), `${show(authorizer)} is not a valid procedure URI`)
  }
  const permissionsPath = key(path, "permissions")
  if (authorizer !== undefined && obj["permissions"] !== undefined) {
    fail(permissionsPath, `a role has either "permissions" (static) or an "authorizer" (dynamic), not both`)
  }
  const permissions = obj["permissions"] === undefined ? [] : array(obj["permissions"], permissionsPath)
  return { name, permissions: permissions.map((p, i) => parsePermission(p, index(permissionsPath, i))), authorizer }
}

const parseRealm = (value: unknown, path: string): Realm => {
  const obj = object(value, path, ["name", "id", "roles", "options", "store"])
  const name = string(required(obj, "name", path), key(path, "name"))
  if (!REALM_NAME.test(name)) {
    fail(key(path, "name"), `invalid realm name ${show(name)} (3 to 255 letters, digits, "_", "-", "@" or ".", starting with a letter)`)
  }
  const options = parseRealmOptions(obj["options"], key(path, "options"))
  if (obj["store"] !== undefined) notSupported(key(path, "store"), "an event store (\"store\")")
  const rolesPath = key(path, "roles")
  const roles = (obj["roles"] === undefined ? [] : array(obj["roles"], rolesPath)).map((r, i) => parseRole(r, index(rolesPath, i)))
  roles.forEach((role, i) => {
    const first = roles.findIndex((r) => r.name === role.name)
    if (first !== i) fail(key(index(rolesPath, i), "name"), `duplicate role name "${role.name}" (also ${index(rolesPath, first)})`)
  })
  return { name, roles, options }
}

/** The longest limit in milliseconds a configuration may set (24 h). */
const MAX_MS = 24 * 60 * 60 * 1000
/** The largest count limit a configuration may set. */
const MAX_COUNT = 1_000_000

/**
 * Crossbar's realm options (`enable_meta_api`; this router always checks URIs loosely) and the
 * router's per-session limits.
 */
const parseRealmOptions = (value: unknown, path: string): RealmOptions => {
  const options = value === undefined ? {} : object(value, path, [
    "enable_meta_api",
    "bridge_meta_api",
    "event_dispatching_chunk_size",
    "uri_check",
    "max_registrations_per_session",
    "max_subscriptions_per_session",
    "max_calls_in_flight_per_session"
  ])
  if (options["uri_check"] !== undefined && options["uri_check"] !== "loose") {
    fail(key(path, "uri_check"), `only "loose" URI checking is supported, got ${show(options["uri_check"])}`)
  }
  const count = (name: string, fallback: number): number => integer(options[name], key(path, name), 1, MAX_COUNT, fallback)
  return {
    enableMetaApi: boolean(options["enable_meta_api"], key(path, "enable_meta_api"), realmDefaults.enableMetaApi),
    maxRegistrationsPerSession: count("max_registrations_per_session", realmDefaults.maxRegistrationsPerSession),
    maxSubscriptionsPerSession: count("max_subscriptions_per_session", realmDefaults.maxSubscriptionsPerSession),
    maxCallsInFlightPerSession: count("max_calls_in_flight_per_session", realmDefaults.maxCallsInFlightPerSession)
  }
}

// ---------------------------------------------------------------------------------------------
// transports

const parseEndpoint = (value: unknown, path: string): Endpoint => {
  if (isObject(value) && value["host"] !== undefined) {
    fail(path, `"host" is not a listening option (use "interface" to choose the address to bind)`)
  }
  const obj = object(value, path, ["type", "port", "interface", "version", "backlog", "shared", "tls", "max_connections"])
  const type = string(required(obj, "type", path), key(path, "type"))
  if (type === "unix") notSupported(key(path, "type"), "a Unix socket endpoint")
  if (type !== "tcp") fail(key(path, "type"), `expected "tcp", got ${show(type)}`)
  if (obj["tls"] !== undefined) fail(key(path, "tls"), "TLS is not supported yet (put a TLS-terminating proxy in front)")
  if (obj["version"] !== undefined && obj["version"] !== 4 && obj["version"] !== 6) {
    fail(key(path, "version"), `expected 4 or 6, got ${show(obj["version"])}`)
  }
  if (obj["backlog"] !== undefined) integer(obj["backlog"], key(path, "backlog"), 1, 65535)
  boolean(obj["shared"], key(path, "shared"), false)
  const port = integer(required(obj, "port", path), key(path, "port"), 0, 65535)
  const iface = obj["interface"] === undefined ? undefined : string(obj["interface"], key(path, "interface"))
  const maxConnections = integer(obj["max_connections"], key(path, "max_connections"), 1, MAX_COUNT, websocketLimitDefaults.maxConnections)
  return { port, interface: iface, maxConnections }
}

/**
 * Crossbar's (Autobahn's) WebSocket options: the ones this router uses (sizes, pings, origins, the
 * opening handshake) and its own `slow_caller_timeout`; the rest accepted and ignored.
 */
const WEBSOCKET_OPTIONS = [
  "slow_caller_timeout",
  "max_message_size",
  "auto_ping_interval",
  "auto_ping_timeout",
  "allowed_origins",
  "allow_null_origin",
  "external_port",
  "enable_hixie76",
  "enable_hybi10",
  "enable_rfc6455",
  "open_handshake_timeout",
  "close_handshake_timeout",
  "enable_webstatus",
  "validate_utf8",
  "mask_server_frames",
  "require_masked_client_frames",
  "apply_mask",
  "max_frame_size",
  "auto_fragment_size",
  "fail_by_drop",
  "echo_close_codereason",
  "tcp_nodelay",
  "auto_ping_size",
  "auto_ping_restart_on_any_traffic",
  "enable_flash_policy",
  "flash_policy",
  "compression",
  "require_websocket_subprotocol",
  "show_server_version"
]

const SERIALIZERS: ReadonlyArray<SerializerName> = ["json", "msgpack", "cbor"]
const KNOWN_UNSUPPORTED_SERIALIZERS = ["ubjson", "flatbuffers"]

const parseSerializers = (value: unknown, path: string): ReadonlyArray<SerializerName> => {
  if (value === undefined) return websocketDefaults.serializers
  const list = array(value, path)
  if (list.length === 0) fail(path, "expected at least one serializer")
  return list.map((s, i) => {
    const at = index(path, i)
    if (typeof s === "string" && KNOWN_UNSUPPORTED_SERIALIZERS.includes(s)) {
      fail(at, `serializer "${s}" is not supported yet (supported: ${quoteAll(SERIALIZERS)})`)
    }
    if (typeof s !== "string" || !(SERIALIZERS as ReadonlyArray<string>).includes(s)) {
      fail(at, `unknown serializer ${show(s)} (supported: ${quoteAll(SERIALIZERS)})`)
    }
    if (list.indexOf(s) !== i) fail(at, `duplicate serializer "${String(s)}"`)
    return s as SerializerName
  })
}

const parseWebSocketService = (obj: Json, path: string, known: KnownNames): WebSocketOptions => {
  const optionsPath = key(path, "options")
  const options = obj["options"] === undefined ? {} : object(obj["options"], optionsPath, WEBSOCKET_OPTIONS)
  boolean(obj["debug"], key(path, "debug"), false)
  if (obj["url"] !== undefined) {
    const url = string(obj["url"], key(path, "url"))
    if (!/^wss?:\/\/[^\s/]+/.test(url) || !URL.canParse(url)) fail(key(path, "url"), `expected a ws:// or wss:// URL, got ${show(url)}`)
  }
  return {
    serializers: parseSerializers(obj["serializers"], key(path, "serializers")),
    maxMessageSize: integer(options["max_message_size"], key(optionsPath, "max_message_size"), 1, 64 * 1024 * 1024, websocketDefaults.maxMessageSize),
    autoPingInterval: integer(options["auto_ping_interval"], key(optionsPath, "auto_ping_interval"), 0, Number.MAX_SAFE_INTEGER, websocketDefaults.autoPingInterval),
    autoPingTimeout: integer(options["auto_ping_timeout"], key(optionsPath, "auto_ping_timeout"), 0, Number.MAX_SAFE_INTEGER, websocketDefaults.autoPingTimeout),
    auth: parseAuth(obj["auth"], key(path, "auth"), known, known.env),
    openHandshakeTimeout: integer(options["open_handshake_timeout"], key(optionsPath, "open_handshake_timeout"), 0, MAX_MS, websocketLimitDefaults.openHandshakeTimeout),
    allowedOrigins: parseAllowedOrigins(options["allowed_origins"], key(optionsPath, "allowed_origins")),
    allowNullOrigin: boolean(options["allow_null_origin"], key(optionsPath, "allow_null_origin"), websocketLimitDefaults.allowNullOrigin),
    slowCallerTimeout: integer(options["slow_caller_timeout"], key(optionsPath, "slow_caller_timeout"), 1, MAX_MS, websocketLimitDefaults.slowCallerTimeout)
  }
}

/**
 * `allowed_origins`: origins such as "https://example.com" or "http://localhost:*" (`*` matches any
 * characters). Left out: every origin; `["*"]` says the same explicitly.
 */
const parseAllowedOrigins = (value: unknown, path: string): ReadonlyArray<string> | undefined => {
  if (value === undefined) return undefined
  const list = array(value, path)
  return list.map((origin, i) => {
    const at = index(path, i)
    const text = string(origin, at)
    if (text === "" || /\s/.test(text)) fail(at, `expected an origin such as "https://example.com" or "http://localhost:*", got ${show(text)}`)
    return text
  })
}

const WEBSOCKET_KEYS = ["type", "url", "serializers", "auth", "options", "debug"]
const STATIC_OPTIONS = ["enable_directory_listing", "mime_types", "cache_timeout"]
const PATH_SERVICES_NOT_SUPPORTED = [
  "wsgi", "redirect", "json", "cgi", "longpoll", "publisher", "caller", "webhook", "schemadoc", "path",
  "resource", "upload", "reverseproxy", "nodeinfo", "fileupload", "archive", "wap"
]

const parsePathService = (value: unknown, path: string, baseDir: string, known: KnownNames): PathService => {
  const type = isObject(value) ? value["type"] : undefined
  if (type === "static") {
    const obj = object(value, path, ["type", "directory", "package", "resource", "options"])
    if (obj["package"] !== undefined || obj["resource"] !== undefined) {
      notSupported(key(path, "package"), "serving a Python package's resource (\"package\"/\"resource\")")
    }
    const directory = string(required(obj, "directory", path), key(path, "directory"))
    if (obj["options"] !== undefined) object(obj["options"], key(path, "options"), STATIC_OPTIONS)
    return { type: "static", directory: Path.resolve(baseDir, directory) }
  }
  if (type === "websocket") {
    return { type: "websocket", options: parseWebSocketService(object(value, path, WEBSOCKET_KEYS), path, known) }
  }
  if (type === "metrics") {
    object(value, path, ["type"])
    return { type: "metrics" }
  }
  if (typeof type === "string" && PATH_SERVICES_NOT_SUPPORTED.includes(type)) {
    notSupported(key(path, "type"), `path service "${type}"`)
  }
  if (!isObject(value)) return fail(path, `expected an object, got ${show(value)}`)
  return fail(key(path, "type"), `expected "static", "websocket" or "metrics", got ${show(type)}`)
}

/** Crossbar's path keys: "/" or one segment ("ws"); a leading "/" is tolerated. Normalized to "/ws". */
const PATH_KEY = /^\/?[A-Za-z0-9_-]+$/

const parseWebTransport = (obj: Json, path: string, baseDir: string, known: KnownNames): Transport => {
  object(obj, path, ["type", "id", "endpoint", "paths", "options"])
  const endpoint = parseEndpoint(required(obj, "endpoint", path), key(path, "endpoint"))
  if (obj["options"] !== undefined) {
    object(obj["options"], key(path, "options"), ["access_log", "display_tracebacks", "hsts", "hsts_max_age", "hixie76_aware", "client_timeout"])
  }
  const pathsPath = key(path, "paths")
  const raw = required(obj, "paths", path)
  if (!isObject(raw)) return fail(pathsPath, `expected an object, got ${show(raw)}`)
  const paths = new Map<string, PathService>()
  const origin = new Map<string, string>()
  for (const name of Object.keys(raw)) {
    if (name !== "/" && !PATH_KEY.test(name)) {
      fail(pathsPath, `invalid path ${show(name)} (expected "/" or one path segment such as "ws")`)
    }
    const normalized = name === "/" ? "/" : `/${name.replace(/^\//, "")}`
    const other = origin.get(normalized)
    if (other !== undefined) fail(pathsPath, `paths ${show(other)} and ${show(name)} are the same path "${normalized}"`)
    origin.set(normalized, name)
    paths.set(normalized, parsePathService(raw[name], key(pathsPath, name), baseDir, known))
  }
  if (paths.size === 0) fail(pathsPath, "expected at least one path")
  return { type: "web", endpoint, paths }
}

const parseTransport = (value: unknown, path: string, baseDir: string, known: KnownNames): Transport => {
  if (!isObject(value)) return fail(path, `expected an object, got ${show(value)}`)
  const type = required(value, "type", path)
  switch (type) {
    case "web":
      return parseWebTransport(value, path, baseDir, known)
    case "websocket": {
      const obj = object(value, path, ["type", "id", "endpoint", ...WEBSOCKET_KEYS.filter((k) => k !== "type")])
      return {
        type: "websocket",
        endpoint: parseEndpoint(required(obj, "endpoint", path), key(path, "endpoint")),
        options: parseWebSocketService(obj, path, known)
      }
    }
    case "rawsocket":
    case "universal":
    case "mqtt":
    case "flashpolicy":
    case "websocket.testee":
    case "stream.testee":
      return notSupported(key(path, "type"), `transport type "${type}"`)
    default:
      return fail(key(path, "type"), `expected "web" or "websocket", got ${show(type)}`)
  }
}

// ---------------------------------------------------------------------------------------------
// workers and the document

const WORKER_OPTIONS = ["title", "reactor", "python", "pythonpath", "cpu_affinity", "env", "expose_controller", "expose_shared"]

/** A native worker's process options: checked for shape, then ignored (nothing here runs Python). */
const checkWorkerOptions = (value: unknown, path: string): void => {
  if (value === undefined) return
  const obj = object(value, path, WORKER_OPTIONS)
  if (obj["title"] !== undefined) string(obj["title"], key(path, "title"))
  if (obj["python"] !== undefined) string(obj["python"], key(path, "python"))
  if (obj["pythonpath"] !== undefined) {
    array(obj["pythonpath"], key(path, "pythonpath")).forEach((p, i) => string(p, index(key(path, "pythonpath"), i)))
  }
  if (obj["cpu_affinity"] !== undefined) {
    array(obj["cpu_affinity"], key(path, "cpu_affinity")).forEach((c, i) => integer(c, index(key(path, "cpu_affinity"), i), 0, 4096))
  }
  if (obj["env"] !== undefined) {
    const envPath = key(path, "env")
    const env = object(obj["env"], envPath, ["inherit", "vars"])
    if (env["inherit"] !== undefined && typeof env["inherit"] !== "boolean") {
      array(env["inherit"], key(envPath, "inherit")).forEach((v, i) => string(v, index(key(envPath, "inherit"), i)))
    }
    if (env["vars"] !== undefined) {
      const vars = env["vars"]
      if (!isObject(vars)) fail(key(envPath, "vars"), `expected an object, got ${show(vars)}`)
      for (const [name, v] of Object.entries(vars as Json)) string(v, key(key(envPath, "vars"), name))
    }
  }
}

const parseRouterWorker = (obj: Json, path: string, baseDir: string, skipped: Array<string>, env: Environment): RouterConfig => {
  object(obj, path, ["type", "id", "options", "manhole", "realms", "transports", "components"])
  checkWorkerOptions(obj["options"], key(path, "options"))
  if (obj["manhole"] !== undefined) notSupported(key(path, "manhole"), "a manhole")

  const realmsPath = key(path, "realms")
  const realmValues = array(required(obj, "realms", path), realmsPath)
  if (realmValues.length === 0) fail(realmsPath, "a router worker needs at least one realm")
  const realms = realmValues.map((r, i) => parseRealm(r, index(realmsPath, i)))
  realms.forEach((realm, i) => {
    const first = realms.findIndex((r) => r.name === realm.name)
    if (first !== i) fail(key(index(realmsPath, i), "name"), `duplicate realm name "${realm.name}" (also ${index(realmsPath, first)})`)
  })
  const known: KnownNames = {
    roles: new Set(realms.flatMap((realm) => realm.roles.map((role) => role.name))),
    realms: new Set(realms.map((realm) => realm.name)),
    env
  }

  const transportsPath = key(path, "transports")
  const transportValues = array(required(obj, "transports", path), transportsPath)
  if (transportValues.length === 0) fail(transportsPath, "a router worker needs at least one transport")
  const transports = transportValues.map((t, i) => parseTransport(t, index(transportsPath, i), baseDir, known))

  if (obj["components"] !== undefined) {
    const componentsPath = key(path, "components")
    array(obj["components"], componentsPath).forEach((_, i) => skipped.push(`router component (${index(componentsPath, i)})`))
  }
  return { realms, transports }
}

const SKIPPED_WORKERS = ["container", "guest"]

const parseDocument = (json: unknown, baseDir: string, env: Environment): LoadedConfig => {
  if (!isObject(json)) return fail("", `expected a JSON object, got ${show(json)}`)
  const root = object(json, "", ["$schema", "version", "controller", "workers"])
  if (root["version"] !== undefined && root["version"] !== 2) {
    fail("version", `expected 2 (Crossbar configuration version 2), got ${show(root["version"])}`)
  }
  // accepted and ignored: the controller only matters to Crossbar's node management
  if (root["controller"] !== undefined && !isObject(root["controller"])) {
    fail("controller", `expected an object, got ${show(root["controller"])}`)
  }
  const workers = array(required(root, "workers", ""), "workers")
  const skipped: Array<string> = []
  let router: RouterConfig | undefined
  let routerPath = ""
  workers.forEach((worker, i) => {
    const path = index("workers", i)
    if (!isObject(worker)) return fail(path, `expected an object, got ${show(worker)}`)
    const type = required(worker, "type", path)
    if (type === "router") {
      if (router !== undefined) fail(path, `only one router worker is supported (the first is ${routerPath})`)
      router = parseRouterWorker(worker, path, baseDir, skipped, env)
      routerPath = path
    } else if (typeof type === "string" && SKIPPED_WORKERS.includes(type)) {
      skipped.push(`${type} (${path})`)
    } else {
      fail(key(path, "type"), `expected "router", "container" or "guest", got ${show(type)}`)
    }
  })
  if (router === undefined) return fail("workers", "expected a worker of type \"router\"")
  return { router, skippedWorkers: skipped }
}

const message = (invalid: Invalid): string => `${invalid.path === "" ? "(top level)" : invalid.path}: ${invalid.problem}`

/**
 * Validates a parsed Crossbar configuration. `baseDir` is the folder relative static directories
 * are resolved against (Crossbar's node directory; for a file, the file's folder).
 */
export const parseRouterConfig = (
  json: unknown,
  baseDir: string,
  env: Environment = process.env
): Effect.Effect<LoadedConfig, RouterConfigError> =>
  Effect.try({
    try: () => parseDocument(json, baseDir, env),
    catch: (error) =>
      new RouterConfigError({ message: error instanceof Invalid ? message(error) : `invalid configuration: ${String(error)}` })
  })

/** Where a JSON syntax error is, as "line L, column C", from the position in the parser's message. */
const locate = (text: string, error: unknown): string => {
  const detail = error instanceof Error ? error.message : String(error)
  if (/line \d+ column \d+/.test(detail)) return detail
  const position = /position (\d+)/.exec(detail)
  if (position === null) return detail
  const before = text.slice(0, Number(position[1]))
  const line = before.split("\n").length
  const column = before.length - before.lastIndexOf("\n")
  return `${detail} (line ${line} column ${column})`
}

/** Reads, parses and validates a Crossbar configuration file (JSON). */
export const loadRouterConfig = Effect.fn("loadRouterConfig")(
  function*(file: string, env: Environment = process.env): Effect.fn.Return<LoadedConfig, RouterConfigError> {
    const text = yield* Effect.tryPromise({
      try: () => readFile(file, "utf8"),
      catch: (error) =>
        new RouterConfigError({ message: `${file}: cannot read the configuration: ${error instanceof Error ? error.message : String(error)}` })
    })
    const json = yield* Effect.try({
      try: (): unknown => JSON.parse(text),
      catch: (error) => new RouterConfigError({ message: `${file}: invalid JSON: ${locate(text, error)}` })
    })
    return yield* parseRouterConfig(json, Path.dirname(Path.resolve(file)), env).pipe(
      Effect.mapError((error) => new RouterConfigError({ message: `${file}: ${error.message}` }))
    )
  }
)
