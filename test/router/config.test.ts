import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { RealmAuthorizer } from "../../src/router/authorizer.js"
import { loadRouterConfig, parseRouterConfig, websocketDefaults } from "../../src/router/config.js"
import { originCheck, realmDefaults, websocketLimitDefaults } from "../../src/router/limits.js"
import type { Action } from "../../src/router/types.js"

const fixtures = Path.join(Path.dirname(fileURLToPath(import.meta.url)), "fixtures", "config")
const seedFile = Path.join(fixtures, "seed", "crossbar-config.json")
const ACTIONS: ReadonlyArray<Action> = ["call", "register", "publish", "subscribe"]

const allOf = (call: boolean, register: boolean, publish: boolean, subscribe: boolean) => ({ call, register, publish, subscribe })

describe("loadRouterConfig: the seed's Crossbar configuration", () => {
  it.effect("loads unchanged: realm1, anonymous may do everything, web on 8080 with / and /ws, container skipped", () =>
    Effect.gen(function*() {
      const { router, skippedWorkers } = yield* loadRouterConfig(seedFile)
      expect(router.realms).toEqual([
        {
          name: "realm1",
          roles: [
            {
              name: "anonymous",
              permissions: [
                // "*" without "match" is Crossbar's starred prefix of "": every URI
                { uri: "", match: "prefix", allow: allOf(true, true, true, true), disclose: { caller: false, publisher: false } }
              ]
            }
          ],
          options: realmDefaults
        }
      ])
      expect(router.transports).toHaveLength(1)
      const web = router.transports[0]!
      expect(web.type).toBe("web")
      if (web.type !== "web") return
      expect(web.endpoint).toEqual({ port: 8080, interface: undefined, maxConnections: websocketLimitDefaults.maxConnections })
      expect([...web.paths.keys()]).toEqual(["/", "/ws"])
      // "../hello/web" resolved against the configuration's folder, whether or not it exists
      expect(web.paths.get("/")).toEqual({ type: "static", directory: Path.resolve(fixtures, "hello", "web") })
      expect(web.paths.get("/ws")).toEqual({
        type: "websocket",
        options: {
          serializers: ["json", "msgpack", "cbor"],
          maxMessageSize: 1_048_576,
          autoPingInterval: websocketDefaults.autoPingInterval,
          autoPingTimeout: websocketDefaults.autoPingTimeout,
          auth: [{ type: "anonymous", role: "anonymous" }],
          openHandshakeTimeout: websocketLimitDefaults.openHandshakeTimeout,
          allowedOrigins: undefined,
          allowNullOrigin: false,
          slowCallerTimeout: websocketLimitDefaults.slowCallerTimeout
        }
      })
      expect(skippedWorkers).toEqual(["container (workers[1])"])
      const authorizer = new RealmAuthorizer(router.realms[0]!)
      for (const uri of ["com.example.add2", "wamp.session.count", "x"]) {
        for (const action of ACTIONS) expect(authorizer.authorize("anonymous", uri, action).allow).toBe(true)
      }
    }))

  it.effect("resolves static directories against the folder of the file, however the file is named", () =>
    Effect.gen(function*() {
      const relative = Path.relative(process.cwd(), seedFile)
      const { router } = yield* loadRouterConfig(relative)
      const web = router.transports[0]!
      expect(web.type === "web" && web.paths.get("/")).toEqual({ type: "static", directory: Path.resolve(fixtures, "hello", "web") })
    }))
})

describe("loadRouterConfig: a configuration using more of Crossbar's options", () => {
  it.effect("normalizes starred URIs, defaults, paths, endpoints and auth", () =>
    Effect.gen(function*() {
      const { router, skippedWorkers } = yield* loadRouterConfig(Path.join(fixtures, "full.json"))
      const [frontend, backend] = router.realms[0]!.roles
      expect(router.realms.map((r) => r.name)).toEqual(["realm1", "realm2"])
      expect(frontend!.permissions.map((p) => [p.uri, p.match])).toEqual([
        ["com.example.", "prefix"],
        ["com.example..update", "wildcard"],
        ["com.example.admin", "prefix"]
      ])
      expect(frontend!.permissions[0]!.allow).toEqual(allOf(true, false, false, true))
      expect(frontend!.permissions[0]!.disclose).toEqual({ caller: true, publisher: false })
      expect(frontend!.permissions[2]!.allow).toEqual(allOf(false, false, false, false))
      expect(backend!.permissions.map((p) => [p.uri, p.match])).toEqual([
        ["com.example.add2", "exact"],
        ["com.example..status", "wildcard"]
      ])
      expect(backend!.permissions[0]!.disclose).toEqual({ caller: false, publisher: true })

      const [web, plain] = router.transports
      if (web?.type !== "web" || plain?.type !== "websocket") throw new Error("expected a web and a websocket transport")
      expect(web.endpoint).toEqual({ port: 0, interface: "127.0.0.1", maxConnections: websocketLimitDefaults.maxConnections })
      expect([...web.paths.keys()]).toEqual(["/", "/ws", "/assets"])
      expect(web.paths.get("/")).toEqual({ type: "static", directory: Path.join(fixtures, "web") })
      expect(web.paths.get("/assets")).toEqual({ type: "static", directory: "/srv/assets" })
      expect(web.paths.get("/ws")).toEqual({
        type: "websocket",
        options: {
          serializers: ["cbor", "json"],
          maxMessageSize: 65536,
          autoPingInterval: 0,
          autoPingTimeout: 2000,
          auth: [{ type: "anonymous", role: "frontend" }],
          openHandshakeTimeout: websocketLimitDefaults.openHandshakeTimeout,
          allowedOrigins: undefined,
          allowNullOrigin: false,
          slowCallerTimeout: websocketLimitDefaults.slowCallerTimeout
        }
      })
      expect(plain.endpoint).toEqual({ port: 9001, interface: undefined, maxConnections: websocketLimitDefaults.maxConnections })
      expect(plain.options.serializers).toEqual(["json", "msgpack", "cbor"])
      expect(skippedWorkers).toEqual(["router component (workers[0].components[0])", "guest (workers[1])", "container (workers[2])"])

      const authorizer = new RealmAuthorizer(router.realms[0]!)
      expect(authorizer.authorize("frontend", "com.example.add2", "call")).toEqual({ allow: true, disclose: true })
      expect(authorizer.authorize("frontend", "com.example.admin.reset", "call").allow).toBe(false)
      expect(authorizer.authorize("backend", "com.example.add2", "publish")).toEqual({ allow: true, disclose: true })
      expect(authorizer.authorize("backend", "com.example.x.status", "publish").allow).toBe(true)
      expect(authorizer.authorize("backend", "com.example.x.status", "subscribe").allow).toBe(false)
    }))
})

/** A small valid configuration; each error case breaks one thing in a copy of it. */
const minimal = () => ({
  version: 2,
  workers: [
    {
      type: "router",
      realms: [
        {
          name: "realm1",
          roles: [{ name: "anonymous", permissions: [{ uri: "com.example.", match: "prefix", allow: { call: true } }] }]
        }
      ],
      transports: [
        {
          type: "web",
          endpoint: { type: "tcp", port: 8080 },
          paths: {
            "/": { type: "static", directory: "web" },
            ws: { type: "websocket" } as Record<string, unknown>
          }
        }
      ]
    }
  ]
})

type Config = ReturnType<typeof minimal>
type Mutable = Record<string, any>

const failureOf = (json: unknown) =>
  parseRouterConfig(json, "/tmp").pipe(
    Effect.flip,
    Effect.map((error) => {
      expect(error._tag).toBe("RouterConfigError")
      return error.message
    })
  )

const errorCases: ReadonlyArray<readonly [string, (c: Config & Mutable) => unknown, string]> = [
  ["an unknown top-level key", (c) => ({ ...c, wokers: [] }), `(top level): unknown key "wokers"`],
  ["an unknown worker key", (c) => (((c.workers[0] as Mutable).realm = []), c), `workers[0]: unknown key "realm"`],
  [
    "an unknown permission key",
    (c) => (((c.workers[0]!.realms[0]!.roles[0]!.permissions[0] as Mutable).alow = { call: true }), c),
    `workers[0].realms[0].roles[0].permissions[0]: unknown key "alow" (expected one of "uri", "match", "allow", "disclose", "cache")`
  ],
  [
    "an unknown action in allow",
    (c) => (((c.workers[0]!.realms[0]!.roles[0]!.permissions[0]!.allow as Mutable).invoke = true), c),
    `workers[0].realms[0].roles[0].permissions[0].allow: unknown key "invoke"`
  ],
  [
    "an unknown endpoint key",
    (c) => (((c.workers[0]!.transports[0]!.endpoint as Mutable).prot = 80), c),
    `workers[0].transports[0].endpoint: unknown key "prot"`
  ],
  [
    "an unknown WebSocket option",
    (c) => ((c.workers[0]!.transports[0]!.paths.ws.options = { max_msg_size: 10 }), c),
    `workers[0].transports[0].paths.ws.options: unknown key "max_msg_size"`
  ],
  [
    "a port that is a string",
    (c) => (((c.workers[0]!.transports[0]!.endpoint as Mutable).port = "80a"), c),
    `workers[0].transports[0].endpoint.port: expected an integer 0..65535, got "80a"`
  ],
  [
    "a port out of range",
    (c) => ((c.workers[0]!.transports[0]!.endpoint.port = 70000), c),
    `workers[0].transports[0].endpoint.port: expected an integer 0..65535, got 70000`
  ],
  [
    "a port that is not an integer",
    (c) => ((c.workers[0]!.transports[0]!.endpoint.port = 80.5), c),
    `workers[0].transports[0].endpoint.port: expected an integer 0..65535, got 80.5`
  ],
  [
    "a missing port",
    (c) => (delete (c.workers[0]!.transports[0]!.endpoint as Mutable).port, c),
    `workers[0].transports[0].endpoint: missing required key "port"`
  ],
  [
    "host on a listening endpoint",
    (c) => (((c.workers[0]!.transports[0]!.endpoint as Mutable).host = "127.0.0.1"), c),
    `workers[0].transports[0].endpoint: "host" is not a listening option (use "interface"`
  ],
  [
    "TLS",
    (c) => (((c.workers[0]!.transports[0]!.endpoint as Mutable).tls = { key: "k", certificate: "c" }), c),
    `workers[0].transports[0].endpoint.tls: TLS is not supported yet (put a TLS-terminating proxy in front)`
  ],
  [
    "a bad match policy",
    (c) => (((c.workers[0]!.realms[0]!.roles[0]!.permissions[0] as Mutable).match = "regex"), c),
    `workers[0].realms[0].roles[0].permissions[0].match: expected one of "exact", "prefix", "wildcard", got "regex"`
  ],
  [
    "a URI invalid for its match policy",
    (c) => (((c.workers[0]!.realms[0]!.roles[0]!.permissions[0] as Mutable).match = "exact"), c),
    `workers[0].realms[0].roles[0].permissions[0].uri: "com.example." is not a valid WAMP URI for match "exact"`
  ],
  [
    "a URI with whitespace",
    (c) => ((c.workers[0]!.realms[0]!.roles[0]!.permissions[0]!.uri = "com.my app."), c),
    `workers[0].realms[0].roles[0].permissions[0].uri: "com.my app." is not a valid WAMP URI for match "prefix"`
  ],
  [
    "a non-boolean allow flag",
    (c) => (((c.workers[0]!.realms[0]!.roles[0]!.permissions[0]!.allow as Mutable).call = "yes"), c),
    `workers[0].realms[0].roles[0].permissions[0].allow.call: expected true or false, got "yes"`
  ],
  [
    "an unknown serializer",
    (c) => ((c.workers[0]!.transports[0]!.paths.ws.serializers = ["json", "xml"]), c),
    `workers[0].transports[0].paths.ws.serializers[1]: unknown serializer "xml" (supported: "json", "msgpack", "cbor")`
  ],
  [
    "a serializer Crossbar knows but this router does not speak",
    (c) => ((c.workers[0]!.transports[0]!.paths.ws.serializers = ["ubjson"]), c),
    `workers[0].transports[0].paths.ws.serializers[0]: serializer "ubjson" is not supported yet`
  ],
  [
    "a ticket principal whose role no realm defines",
    (c) => ((c.workers[0]!.transports[0]!.paths.ws.auth = { ticket: { type: "static", principals: { joe: { ticket: "t", role: "guest" } } } }), c),
    `workers[0].transports[0].paths.ws.auth.ticket.principals.joe.role: role "guest" is not defined in any realm of this router`
  ],
  [
    "a wampcra user without a secret",
    (c) => ((c.workers[0]!.transports[0]!.paths.ws.auth = { anonymous: { type: "static" }, wampcra: { type: "static", users: { joe: { role: "anonymous" } } } }), c),
    `workers[0].transports[0].paths.ws.auth.wampcra.users.joe: missing required key "secret"`
  ],
  [
    "a cryptosign key that is not one",
    (c) => ((c.workers[0]!.transports[0]!.paths.ws.auth = { cryptosign: { type: "static", principals: { alice: { role: "anonymous", authorized_keys: ["xyz"] } } } }), c),
    `workers[0].transports[0].paths.ws.auth.cryptosign.principals.alice.authorized_keys[0]: expected an Ed25519 public key as 64 hexadecimal digits`
  ],
  [
    "an anonymous role no realm defines",
    (c) => ((c.workers[0]!.transports[0]!.paths.ws.auth = { anonymous: { type: "static", role: "guest" } }), c),
    `workers[0].transports[0].paths.ws.auth.anonymous.role: role "guest" is not defined in any realm of this router`
  ],
  ["missing realms", (c) => (delete (c.workers[0] as Mutable).realms, c), `workers[0]: missing required key "realms"`],
  ["no realm", (c) => ((c.workers[0]!.realms = []), c), `workers[0].realms: a router worker needs at least one realm`],
  ["no transport", (c) => ((c.workers[0]!.transports = []), c), `workers[0].transports: a router worker needs at least one transport`],
  [
    "duplicate realm names",
    (c) => (c.workers[0]!.realms.push(c.workers[0]!.realms[0]!), c),
    `workers[0].realms[1].name: duplicate realm name "realm1" (also workers[0].realms[0])`
  ],
  ["a realm name Crossbar refuses", (c) => ((c.workers[0]!.realms[0]!.name = "r 1"), c), `workers[0].realms[0].name: invalid realm name "r 1"`],
  [
    "strict URI checking",
    (c) => (((c.workers[0]!.realms[0] as Mutable).options = { uri_check: "strict" }), c),
    `workers[0].realms[0].options.uri_check: only "loose" URI checking is supported, got "strict"`
  ],
  [
    "an unknown worker option",
    (c) => (((c.workers[0] as Mutable).options = { pythonpath: [".."], cpus: 2 }), c),
    `workers[0].options: unknown key "cpus"`
  ],
  [
    "a bad max_message_size",
    (c) => ((c.workers[0]!.transports[0]!.paths.ws.options = { max_message_size: 0 }), c),
    `workers[0].transports[0].paths.ws.options.max_message_size: expected an integer 1..67108864, got 0`
  ],
  [
    "a static path without directory",
    (c) => (delete (c.workers[0]!.transports[0]!.paths["/"] as Mutable).directory, c),
    `workers[0].transports[0].paths["/"]: missing required key "directory"`
  ],
  ["version 3", (c) => ((c.version = 3), c), `version: expected 2 (Crossbar configuration version 2), got 3`],
  [
    "an unsupported transport",
    (c) => ((c.workers[0]!.transports[0]!.type = "rawsocket"), c),
    `workers[0].transports[0].type: transport type "rawsocket" is not supported yet`
  ],
  [
    "an unsupported path service",
    (c) => (((c.workers[0]!.transports[0]!.paths as Mutable).api = { type: "caller", realm: "realm1", role: "anonymous" }), c),
    `workers[0].transports[0].paths.api.type: path service "caller" is not supported yet`
  ],
  [
    "two keys for the same path",
    (c) => (((c.workers[0]!.transports[0]!.paths as Mutable)["/ws"] = { type: "websocket" }), c),
    `workers[0].transports[0].paths: paths "ws" and "/ws" are the same path "/ws"`
  ],
  ["an unknown worker type", (c) => ((c.workers[0]!.type = "proxy"), c), `workers[0].type: expected "router", "container" or "guest", got "proxy"`],
  ["no router worker", (c) => ((c.workers = []), c), `workers: expected a worker of type "router"`],
  ["a document that is not an object", () => [1, 2], `(top level): expected a JSON object, got an array`],
  [
    "an open_handshake_timeout that is not a number",
    (c) => ((c.workers[0]!.transports[0]!.paths.ws.options = { open_handshake_timeout: "10s" }), c),
    `workers[0].transports[0].paths.ws.options.open_handshake_timeout: expected an integer 0..86400000, got "10s"`
  ],
  [
    "a negative slow_caller_timeout",
    (c) => ((c.workers[0]!.transports[0]!.paths.ws.options = { slow_caller_timeout: -1 }), c),
    `workers[0].transports[0].paths.ws.options.slow_caller_timeout: expected an integer 1..86400000, got -1`
  ],
  [
    "allowed_origins that is a string",
    (c) => ((c.workers[0]!.transports[0]!.paths.ws.options = { allowed_origins: "http://localhost:*" }), c),
    `workers[0].transports[0].paths.ws.options.allowed_origins: expected an array, got "http://localhost:*"`
  ],
  [
    "an empty origin in allowed_origins",
    (c) => ((c.workers[0]!.transports[0]!.paths.ws.options = { allowed_origins: ["http://a.example", ""] }), c),
    `workers[0].transports[0].paths.ws.options.allowed_origins[1]: expected an origin such as "https://example.com"`
  ],
  [
    "a max_connections of 0",
    (c) => (((c.workers[0]!.transports[0]!.endpoint as Mutable).max_connections = 0), c),
    `workers[0].transports[0].endpoint.max_connections: expected an integer 1..1000000, got 0`
  ],
  [
    "enable_meta_api that is not a boolean",
    (c) => (((c.workers[0]!.realms[0] as Mutable).options = { enable_meta_api: "no" }), c),
    `workers[0].realms[0].options.enable_meta_api: expected true or false, got "no"`
  ],
  [
    "a fractional max_calls_in_flight_per_session",
    (c) => (((c.workers[0]!.realms[0] as Mutable).options = { max_calls_in_flight_per_session: 1.5 }), c),
    `workers[0].realms[0].options.max_calls_in_flight_per_session: expected an integer 1..1000000, got 1.5`
  ],
  [
    "an unknown realm option",
    (c) => (((c.workers[0]!.realms[0] as Mutable).options = { max_registrations: 5 }), c),
    `workers[0].realms[0].options: unknown key "max_registrations"`
  ],
  [
    "a metrics path with an option",
    (c) => (((c.workers[0]!.transports[0]!.paths as Mutable).metrics = { type: "metrics", format: "json" }), c),
    `workers[0].transports[0].paths.metrics: unknown key "format"`
  ],
  [
    "an unknown path type",
    (c) => (((c.workers[0]!.transports[0]!.paths as Mutable).stats = { type: "stats" }), c),
    `workers[0].transports[0].paths.stats.type: expected "static", "websocket" or "metrics", got "stats"`
  ],
]

describe("parseRouterConfig: permissions", () => {
  const permissionsOf = (permissions: ReadonlyArray<unknown>) => {
    const config = minimal()
    ;(config.workers[0]!.realms[0]!.roles[0] as Mutable).permissions = permissions
    return parseRouterConfig(config, "/tmp").pipe(Effect.map(({ router }) => router.realms[0]!.roles[0]!.permissions))
  }

  it.effect("reads Crossbar's starred URIs when there is no match", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [string, string, string]> = [
        ["*", "", "prefix"],
        ["com.example.*", "com.example.", "prefix"],
        ["com.example*", "com.example", "prefix"],
        ["com.*.update", "com..update", "wildcard"],
        ["*.update.*", ".update.", "wildcard"],
        ["com..update", "com..update", "wildcard"],
        ["com.example.add2", "com.example.add2", "exact"]
      ]
      const permissions = yield* permissionsOf(cases.map(([uri]) => ({ uri })))
      expect(permissions.map((p) => [p.uri, p.match])).toEqual(cases.map(([, uri, match]) => [uri, match]))
    }))

  it.effect("keeps the URI as written when match is explicit", () =>
    Effect.gen(function*() {
      const permissions = yield* permissionsOf([
        { uri: "com.example", match: "prefix" },
        { uri: "com..x", match: "wildcard" },
        { uri: "com.x", match: "exact" }
      ])
      expect(permissions.map((p) => [p.uri, p.match])).toEqual([["com.example", "prefix"], ["com..x", "wildcard"], ["com.x", "exact"]])
    }))

  it.effect("missing allow and disclose mean false everywhere", () =>
    Effect.gen(function*() {
      const [permission] = yield* permissionsOf([{ uri: "com.x" }])
      expect(permission!.allow).toEqual(allOf(false, false, false, false))
      expect(permission!.disclose).toEqual({ caller: false, publisher: false })
    }))

  it.effect("refuses a star next to an explicit match, where Crossbar would silently keep it literally", () =>
    Effect.gen(function*() {
      const message = yield* failureOf({
        ...minimal(),
        workers: [{ ...minimal().workers[0]!, realms: [{ name: "realm1", roles: [{ name: "r", permissions: [{ uri: "com.*", match: "prefix" }] }] }] }]
      })
      expect(message).toBe(
        `workers[0].realms[0].roles[0].permissions[0].uri: "*" only has a meaning without "match" (Crossbar's starred URIs); with "match": "prefix" write the URI without it`
      )
    }))
})

describe("parseRouterConfig: limits", () => {
  it.effect("reads every limit with Crossbar's names where Crossbar has them", () =>
    Effect.gen(function*() {
      const c = minimal() as Config & Mutable
      ;(c.workers[0]!.realms[0] as Mutable).options = {
        enable_meta_api: false,
        max_registrations_per_session: 5,
        max_subscriptions_per_session: 6,
        max_calls_in_flight_per_session: 7
      }
      ;(c.workers[0]!.transports[0]!.endpoint as Mutable).max_connections = 50
      c.workers[0]!.transports[0]!.paths.ws.options = {
        open_handshake_timeout: 2500,
        allowed_origins: ["https://*.example.com", "http://localhost:8080"],
        allow_null_origin: true,
        slow_caller_timeout: 250
      }
      const { router } = yield* parseRouterConfig(c, "/tmp")
      expect(router.realms[0]!.options).toEqual({
        enableMetaApi: false,
        maxRegistrationsPerSession: 5,
        maxSubscriptionsPerSession: 6,
        maxCallsInFlightPerSession: 7
      })
      const web = router.transports[0]!
      if (web.type !== "web") throw new Error("expected a web transport")
      expect(web.endpoint.maxConnections).toBe(50)
      expect(web.paths.get("/ws")).toMatchObject({
        type: "websocket",
        options: {
          openHandshakeTimeout: 2500,
          allowedOrigins: ["https://*.example.com", "http://localhost:8080"],
          allowNullOrigin: true,
          slowCallerTimeout: 250
        }
      })
    }))

  it.effect("left out, each limit has its default; open_handshake_timeout 0 turns that limit off", () =>
    Effect.gen(function*() {
      const c = minimal() as Config & Mutable
      c.workers[0]!.transports[0]!.paths.ws.options = { open_handshake_timeout: 0 }
      const { router } = yield* parseRouterConfig(c, "/tmp")
      expect(router.realms[0]!.options).toEqual(realmDefaults)
      expect(realmDefaults).toEqual({
        enableMetaApi: true,
        maxRegistrationsPerSession: 1000,
        maxSubscriptionsPerSession: 1000,
        maxCallsInFlightPerSession: 1000
      })
      const web = router.transports[0]!
      if (web.type !== "web") throw new Error("expected a web transport")
      expect(web.endpoint.maxConnections).toBe(1000)
      const ws = web.paths.get("/ws")
      expect(ws?.type === "websocket" && ws.options).toMatchObject({ openHandshakeTimeout: 0, allowedOrigins: undefined, slowCallerTimeout: 1000 })
    }))

  it.effect("the shipped configuration admits only pages of this machine", () =>
    Effect.gen(function*() {
      // the component's public key comes from the environment (src/main.ts sets it)
      const { router } = yield* loadRouterConfig(Path.join(fixtures, "..", "..", "..", "..", ".crossbar", "config.json"), {
        WAMPGRES_COMPONENT_PUBKEY: "00".repeat(32)
      })
      const web = router.transports[0]!
      const ws = web.type === "web" ? web.paths.get("/ws") : undefined
      if (ws?.type !== "websocket") throw new Error("expected a websocket path /ws")
      const allowed = originCheck(ws.options.allowedOrigins, ws.options.allowNullOrigin ?? false)
      for (const origin of ["http://localhost:8080", "http://127.0.0.1:41234", "http://[::1]:8080", "https://localhost:8443", undefined]) {
        expect(allowed(origin), String(origin)).toBe(true)
      }
      for (const origin of ["https://evil.example", "http://localhost.evil.example:8080", "http://127.0.0.1.evil.example", "null", "http://10.0.0.5:8080"]) {
        expect(allowed(origin), origin).toBe(false)
      }
      expect(ws.options.slowCallerTimeout).toBeLessThanOrEqual(1000)
    }))
})

describe("parseRouterConfig: errors name the JSON path", () => {
  it.effect("a metrics path is a path service of a web transport", () =>
    Effect.gen(function*() {
      const c = minimal() as Config & Mutable
      ;(c.workers[0]!.transports[0]!.paths as Mutable).metrics = { type: "metrics" }
      const { router } = yield* parseRouterConfig(c, "/tmp")
      const web = router.transports[0]!
      expect(web.type === "web" && web.paths.get("/metrics")).toEqual({ type: "metrics" })
    }))

  it.effect("the minimal configuration used below is valid", () =>
    Effect.gen(function*() {
      const { router } = yield* parseRouterConfig(minimal(), "/tmp")
      expect(router.realms[0]!.name).toBe("realm1")
    }))

  for (const [name, mutate, expected] of errorCases) {
    it.effect(name, () =>
      Effect.gen(function*() {
        const message = yield* failureOf(mutate(minimal() as Config & Mutable))
        expect(message.startsWith(expected), `${message}\n  should start with\n${expected}`).toBe(true)
      }))
  }

  it.effect("invalid JSON names the file and the line", () =>
    Effect.gen(function*() {
      const file = Path.join(fixtures, "bad-syntax.json")
      const error = yield* Effect.flip(loadRouterConfig(file))
      expect(error._tag).toBe("RouterConfigError")
      expect(error.message).toContain(`${file}: invalid JSON: `)
      expect(error.message).toMatch(/line 4 column \d+/)
    }))

  it.effect("a missing file is a RouterConfigError naming the file", () =>
    Effect.gen(function*() {
      const file = Path.join(fixtures, "does-not-exist.json")
      const error = yield* Effect.flip(loadRouterConfig(file))
      expect(error.message).toContain(`${file}: cannot read the configuration`)
    }))

  it.effect("errors from a file name the file before the JSON path", () =>
    Effect.gen(function*() {
      const file = Path.join(fixtures, "bad-port.json")
      const error = yield* Effect.flip(loadRouterConfig(file))
      expect(error.message).toBe(`${file}: workers[0].transports[0].endpoint.port: expected an integer 0..65535, got "80a"`)
    }))
})
