/**
 * The seed document's Python database component (Twisted adbapi + psycopg2, in
 * python/seed/adbapi_component.py, unchanged apart from its connection settings) joins the router
 * run from the seed's own Crossbar configuration with ApplicationRunner's default serializers
 * (binary first), registers com.example.now.v1..v3 and answers autobahn-js callers on every
 * serializer with the current time of the test's PostgreSQL.
 *
 * Runs wherever python3-autobahn, python3-twisted and python3-psycopg2 are installed (.ci/run
 * installs them); skipped elsewhere, except in CI.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import autobahn from "autobahn"
import * as Effect from "effect/Effect"
import * as Crypto from "node:crypto"
import { withPort } from "../../src/layers/EmbeddedRouter.js"
import { loadRouterConfig } from "../../src/router/config.js"
import { type RunningRouter, startRouter } from "../../src/router/index.js"
import { asSuperuser, postgresInfo } from "../support/index.js"
import { openJs, seedConfig } from "./autobahn-js.js"
import { autobahnPythonMissing, PythonProcess } from "./python.js"

const missing = autobahnPythonMissing()
if (missing !== undefined && process.env["CI"]) {
  throw new Error(`Autobahn|Python is required in CI (.ci/run installs python3-autobahn): ${missing}`)
}

/** psycopg2's text for a timestamptz, as the seed's `"{0}".format(rows[0][0])` gives it. */
const PSYCOPG_TIMESTAMP = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?)([+-]\d\d:\d\d)$/

const parseTimestamp = (text: string): number => {
  const match = PSYCOPG_TIMESTAMP.exec(text)
  if (match === null) throw new Error(`not a psycopg2 timestamp: ${text}`)
  return Date.parse(`${match[1]}T${match[2]}${match[3]}`)
}

describe.skipIf(missing !== undefined)("the seed's adbapi database component through the seed's router", () => {
  const database = `seed_${Crypto.randomBytes(6).toString("hex")}`
  let router: RunningRouter
  let component: PythonProcess

  beforeAll(async () => {
    await Effect.runPromise(asSuperuser((sql) => sql.unsafe(`CREATE DATABASE "${database}"`)))
    const loaded = await Effect.runPromise(loadRouterConfig(seedConfig))
    router = await startRouter(withPort(loaded.router, 0))
    const pg = postgresInfo()
    component = PythonProcess.start("seed/adbapi_component.py", [], "seed adbapi component", {
      // The cluster listens on its Unix socket only; libpq takes the directory as the host.
      SEED_PG_HOST: pg.socketDir ?? pg.host,
      SEED_PG_PORT: String(pg.port),
      SEED_PG_DATABASE: database,
      SEED_PG_USER: pg.user,
      SEED_PG_PASSWORD: pg.password,
      SEED_ROUTER_URL: router.url,
      SEED_ROUTER_REALM: "realm1"
    })
    await component.waitFor((r) => r.event === "output" && /registered 3 procedures/.test(String(r["line"])), 90_000)
  }, 120_000)

  afterAll(async () => {
    await component?.stop()
    await router?.close()
    await Effect.runPromise(Effect.ignore(asSuperuser((sql) => sql.unsafe(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`))))
  })

  it("joins with a binary serializer, ApplicationRunner's default", async () => {
    const js = await openJs(router.url, "json")
    try {
      const registration = await js.session.call("wamp.registration.lookup", ["com.example.now.v1"])
      const [callee] = (await js.session.call("wamp.registration.list_callees", [registration])) as Array<number>
      const info = (await js.session.call("wamp.session.get", [callee])) as { transport: { protocol: string } }
      // autobahn offers cbor, msgpack, (ubjson,) json in that order
      expect(info.transport.protocol).toBe("wamp.2.cbor")
    } finally {
      await js.close()
    }
  })

  it.each(["json", "msgpack", "cbor"] as const)("answers com.example.now.v1..v3 to an autobahn-js caller on %s with the database's current time", async (serializer) => {
    const js = await openJs(router.url, serializer)
    try {
      const before = Date.now()
      const answers: Array<string> = []
      for (const version of [1, 2, 3]) answers.push((await js.session.call(`com.example.now.v${version}`)) as string)
      const after = Date.now()
      for (const answer of answers) {
        expect(answer).toMatch(PSYCOPG_TIMESTAMP)
        // now() is the transaction's start: within the calls' window (PostgreSQL and the test share a clock)
        const at = parseTimestamp(answer)
        expect(at).toBeGreaterThanOrEqual(before - 1000)
        expect(at).toBeLessThanOrEqual(after + 1000)
      }
      const sorted = [...answers].map(parseTimestamp)
      expect(sorted).toEqual([...sorted].sort((a, b) => a - b))
    } finally {
      await js.close()
    }
  })

  it("queries the test's database: its pool's backends are the ones it announced", async () => {
    const announced = component.reports
      .filter((r) => r.event === "output")
      .map((r) => /New DB connection created \(backend PID (\d+)\)/.exec(String(r["line"]))?.[1])
      .filter((pid): pid is string => pid !== undefined)
      .map(Number)
    expect(announced.length).toBeGreaterThanOrEqual(1)
    const backends = await Effect.runPromise(
      asSuperuser((sql) => sql.unsafe<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE datname = '${database}'`))
    )
    expect(backends.map((b) => b.pid)).toEqual(expect.arrayContaining(announced))
  })

  it("leaves the realm cleanly on SIGTERM", async () => {
    await component.stop()
    const js = await openJs(router.url, "json")
    try {
      const failure = await js.session.call("com.example.now.v1").then(
        () => expect.unreachable("com.example.now.v1 still answers"),
        (error: autobahn.Error) => error.error
      )
      expect(failure).toBe("wamp.error.no_such_procedure")
    } finally {
      await js.close()
    }
  })
})
