import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { readdirSync, readFileSync } from "node:fs"
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { runRow } from "../lib/runner.js"
import { rowsFor } from "../lib/scenarios.js"
import { scenario, shortRun } from "./support.js"

const options = shortRun(2)

/** Live child processes of this test process, from /proc (field 4 of stat is the parent pid). */
const liveChildren = (): Array<number> =>
  readdirSync("/proc").filter((d) => /^\d+$/.test(d)).filter((d) => {
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8")
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      return Number(fields[1]) === process.pid && fields[0] !== "Z"
    } catch {
      return false
    }
  }).map(Number)


describe("one row end to end (real processes, real sockets)", () => {
  it.live("echo through fox-wamp: checked calls, CPU and peak RSS for every role, nothing left running", () =>
    Effect.gen(function*() {
      const [row] = rowsFor([scenario("echo@fox-wamp")], ["json"])
      const phases: Array<string> = []
      const result = yield* runRow(row!, {
        options,
        database: undefined,
        runId: "test",
        routerConfigFile: "unused",
        onProgress: (progress) => progress._tag === "Phase" && phases.push(progress.phase)
      })
      expect(result.status, result.reason).toBe("ok")
      expect(phases).toEqual(["warmup", "measure", "drain"])
      expect(result.load!.errors).toBe(0)
      expect(result.load!.ok).toBeGreaterThan(100)
      expect(result.load!.callsPerSecond).toBeCloseTo((result.load!.ok * 1000) / result.load!.windowMs, 6)
      for (const role of ["router", "component", "client"] as const) {
        const figures = result.roles?.[role]
        expect(figures?.cpuPer1k, role).toBeGreaterThan(0)
        expect(figures?.peakRss, role).toBeGreaterThan(20 * 1024 * 1024)
      }
      expect(liveChildren()).toEqual([])
    }))

  it.live("a msgpack row on fox-wamp is unavailable with the reason, not measured", () =>
    Effect.gen(function*() {
      const [row] = rowsFor([scenario("echo@fox-wamp")], ["msgpack"])
      const result = yield* runRow(row!, {
        options,
        database: undefined,
        runId: "test",
        routerConfigFile: "unused",
        onProgress: () => undefined
      })
      expect(result).toMatchObject({ status: "unavailable", reason: "fox-wamp speaks only wamp.2.json" })
      expect(result.load).toBeUndefined()
    }))

  it.live("our router, when built, runs the same echo row", () =>
    Effect.gen(function*() {
      const s = scenario("echo")
      if (s.kind !== "wamp" || s.available("json") !== undefined) return
      const dir = yield* Effect.promise(() => mkdtemp(join(tmpdir(), "bench-test-")))
      const config = join(dir, "router.json")
      yield* Effect.promise(() =>
        writeFile(config, JSON.stringify({
          version: 2,
          workers: [{
            type: "router",
            realms: [{ name: "realm1", roles: [{ name: "anonymous", permissions: [{ uri: "*", allow: { call: true, register: true, publish: true, subscribe: true } }] }] }],
            transports: [{ type: "websocket", endpoint: { type: "tcp", port: 0, interface: "127.0.0.1" } }]
          }]
        }))
      )
      const [row] = rowsFor([s], ["msgpack"])
      const result = yield* runRow(row!, { options, database: undefined, runId: "test", routerConfigFile: config, onProgress: () => undefined }).pipe(
        Effect.ensuring(Effect.promise(() => rm(dir, { recursive: true, force: true })))
      )
      expect(result.status, result.reason).toBe("ok")
      expect(result.load!.errors).toBe(0)
      expect(result.roles?.router?.cpuPer1k).toBeGreaterThan(0)
      expect(liveChildren()).toEqual([])
    }))
})
