/**
 * The settings of the service (src/Settings.ts): every variable is read with its default when unset
 * or empty, a bad value fails with a message naming the variable, its value (never a secret's) and
 * what is expected, and `--help` and the README's table are the same declarations.
 */
import { assert, describe, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as fc from "fast-check"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Settings from "../../src/Settings.js"

const withEnv = (env: Record<string, string>) =>
  Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env }))

/** Reads all settings from `env`; the error message when they are invalid. */
const load = (env: Record<string, string>) => Settings.load.pipe(withEnv(env))
const loadError = (env: Record<string, string>) =>
  load(env).pipe(Effect.flip, Effect.map(Settings.messageOf))

const readme = Fs.readFileSync(Path.resolve(import.meta.dirname, "../../README.md"), "utf8")

describe("Settings", () => {
  it.effect("with no variables: the embedded PostgreSQL and router, and every documented default", () =>
    Effect.gen(function*() {
      const s = yield* load({})
      assert.isTrue(Option.isNone(s.database.external))
      assert.strictEqual(s.database.embeddedDataDir, Path.resolve(".data", "postgres"))
      assert.deepStrictEqual({ ...s.database.pool, connectTimeout: undefined, startupTimeout: undefined }, {
        min: 3,
        max: 10,
        connectTimeout: undefined,
        startupTimeout: undefined,
        healthQuery: "SELECT 1",
        multiplex: true,
        applicationName: "wampgres",
        transactionPooler: false
      })
      assert.strictEqual(Duration.toMillis(s.database.pool.startupTimeout), 20_000)
      assert.isTrue(Option.isNone(s.wamp.url))
      assert.deepStrictEqual(s.wamp.session, Settings.sessionDefaults)
      assert.deepStrictEqual(s.router, { configFile: ".crossbar/config.json", port: undefined })
      assert.deepStrictEqual(s.notifyBridge, [])
      assert.strictEqual(s.logLevel, "Info")
    }))

  it.effect("an empty variable counts as unset", () =>
    Effect.gen(function*() {
      const s = yield* load({ DATABASE_URL: "", PGHOST: "", WAMP_URL: "", DB_POOL_MAX: " " })
      assert.isTrue(Option.isNone(s.database.external))
      assert.isTrue(Option.isNone(s.wamp.url))
      assert.strictEqual(s.database.pool.max, 10)
    }))

  it.effect("values are read into the layers' settings", () =>
    Effect.gen(function*() {
      const s = yield* load({
        PGHOST: "/var/run/postgresql",
        PGUSER: "svc",
        DB_POOL_MIN: "1",
        DB_POOL_MAX: "4",
        DB_MULTIPLEX: "false",
        WAMP_URL: "ws://router:8080/ws",
        WAMP_INVOKE: "roundrobin",
        WAMP_JOIN_TIMEOUT: "500 millis",
        ROUTER_PORT: "0",
        NOTIFY_BRIDGE: "a=com.x.a, b=com.x.b",
        LOG_LEVEL: "debug"
      })
      assert.deepStrictEqual(Option.getOrThrow(s.database.external), {
        _tag: "Fields",
        host: "/var/run/postgresql",
        port: 5432,
        database: "svc",
        username: "svc",
        password: undefined
      })
      assert.deepStrictEqual([s.database.pool.min, s.database.pool.max, s.database.pool.multiplex], [1, 4, false])
      assert.deepStrictEqual(s.wamp.url, Option.some("ws://router:8080/ws"))
      assert.strictEqual(s.wamp.session.invoke, "roundrobin")
      assert.strictEqual(Duration.toMillis(s.wamp.session.joinTimeout), 500)
      assert.strictEqual(s.router.port, 0)
      assert.deepStrictEqual(s.notifyBridge, [{ channel: "a", topic: "com.x.a" }, { channel: "b", topic: "com.x.b" }])
      assert.strictEqual(s.logLevel, "Debug")
    }))

  it.effect("DATABASE_URL wins over PGHOST and stays redacted", () =>
    Effect.gen(function*() {
      const s = yield* load({ DATABASE_URL: "postgres://app:secret@db/app", PGHOST: "elsewhere" })
      const target = Option.getOrThrow(s.database.external)
      assert.strictEqual(target._tag, "Url")
      if (target._tag === "Url") assert.strictEqual(Redacted.value(target.url), "postgres://app:secret@db/app")
      assert.notInclude(String(target), "secret")
    }))

  it.effect("a bad value names the variable, the value and what is expected, on one line", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* loadError({ DB_POOL_MAX: "abc" }), `DB_POOL_MAX="abc" is not valid: expected an integer >= 1`)
      assert.strictEqual(
        yield* loadError({ WAMP_JOIN_TIMEOUT: "soon" }),
        `WAMP_JOIN_TIMEOUT="soon" is not valid: expected a duration such as "5 seconds" or "500 millis"`
      )
      assert.strictEqual(yield* loadError({ WAMP_SERIALIZER: "xml" }), `WAMP_SERIALIZER="xml" is not valid: expected one of json, msgpack`)
      assert.strictEqual(yield* loadError({ ROUTER_PORT: "70000" }), `ROUTER_PORT="70000" is not valid: expected an integer from 0 to 65535`)
      assert.strictEqual(
        yield* loadError({ NOTIFY_BRIDGE: "a=b=c" }),
        `NOTIFY_BRIDGE="a=b=c" is not valid: expected channel=topic pairs separated by commas`
      )
      assert.strictEqual(
        yield* loadError({ DB_POOL_MIN: "5", DB_POOL_MAX: "2" }),
        "DB_POOL_MIN=5 is larger than DB_POOL_MAX=2: lower DB_POOL_MIN or raise DB_POOL_MAX"
      )
    }))

  it.effect("tracing: on with an OTLP endpoint, off when disabled or never sampling; the sampler's share", () =>
    Effect.gen(function*() {
      const tracing = (env: Record<string, string>) => Effect.map(load(env), (s) => Option.getOrUndefined(s.telemetry.tracing))
      const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318" }
      assert.isUndefined(yield* tracing({}))
      assert.deepStrictEqual(yield* tracing(endpoint), {
        endpoint: "http://127.0.0.1:4318",
        protocol: "http/protobuf",
        serviceName: "wampgres",
        ratio: 1
      })
      assert.isUndefined(yield* tracing({ ...endpoint, OTEL_SDK_DISABLED: "true" }))
      assert.isUndefined(yield* tracing({ ...endpoint, OTEL_TRACES_SAMPLER: "always_off" }))
      assert.strictEqual((yield* tracing({ ...endpoint, OTEL_TRACES_SAMPLER: "parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG: "0.25" }))?.ratio, 0.25)
      assert.strictEqual((yield* tracing({ ...endpoint, OTEL_TRACES_SAMPLER_ARG: "0.25" }))?.ratio, 1)
      assert.strictEqual(
        yield* loadError({ OTEL_TRACES_SAMPLER_ARG: "2" }),
        `OTEL_TRACES_SAMPLER_ARG="2" is not valid: expected a number from 0 to 1`
      )
      assert.strictEqual(
        yield* loadError({ OTEL_EXPORTER_OTLP_ENDPOINT: "ftp://x" }),
        `OTEL_EXPORTER_OTLP_ENDPOINT="ftp://x" is not valid: expected a URL like http://127.0.0.1:4318`
      )
    }))

  it.effect("every invalid setting is reported at once, one per line", () =>
    Effect.gen(function*() {
      const message = yield* loadError({ DB_POOL_MAX: "abc", WAMP_SERIALIZER: "xml", LOG_LEVEL: "loud" })
      assert.deepStrictEqual(message.split("\n").map((line) => line.split("=")[0]), ["DB_POOL_MAX", "WAMP_SERIALIZER", "LOG_LEVEL"])
    }))

  it.effect("a secret's value is never shown", () =>
    Effect.gen(function*() {
      const message = yield* loadError({ DATABASE_URL: "mysql://app:hunter2@db/app" })
      assert.strictEqual(message, "DATABASE_URL is not valid: expected a URL like postgres://user:password@host:5432/db")
    }))

  it.effect("integers: any in range is read as itself, anything else is refused naming the value (property)", () =>
    Effect.sync(() => {
      fc.assert(fc.property(fc.integer({ min: -100_000, max: 100_000 }), (n) => {
        const result = Effect.runSync(Effect.result(load({ ROUTER_PORT: String(n) })))
        if (n >= 0 && n <= 65535) return result._tag === "Success" && result.success.router.port === n
        return result._tag === "Failure" && Settings.messageOf(result.failure).startsWith(`ROUTER_PORT="${n}" is not valid`)
      }), { numRuns: 300 })
      fc.assert(fc.property(fc.string({ minLength: 1 }).filter((s) => !/^\s*[+-]?\d+\s*$/.test(s) && s.trim() !== ""), (junk) => {
        const result = Effect.runSync(Effect.result(load({ DB_POOL_MIN: junk })))
        return result._tag === "Failure" && Settings.messageOf(result.failure) === `DB_POOL_MIN=${JSON.stringify(junk)} is not valid: expected an integer >= 0`
      }), { numRuns: 300 })
    }))

  it("--help lists every setting with its help text and default", () => {
    const help = Settings.help()
    for (const setting of Settings.all) {
      const line = help.split("\n").find((l) => l.trim().startsWith(`${setting.name} `))
      assert.isDefined(line, setting.name)
      assert.include(line, setting.help)
      if (setting.shownDefault !== "") assert.include(line, `[default: ${setting.shownDefault}]`)
    }
  })

  it("the README's configuration table is the settings' table (regenerate it from Settings.markdownTable())", () => {
    const start = readme.indexOf("| variable | default | meaning |")
    const end = readme.indexOf("\n\n", start)
    assert.isAbove(start, 0, "README.md has no configuration table")
    assert.strictEqual(readme.slice(start, end), Settings.markdownTable())
  })
})
