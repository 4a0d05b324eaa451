/** `npm run bench` refuses wrong variant flags before it starts anything, naming the flag (exit code 2). */
import { describe, expect, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"

const bench = (...args: Array<string>) =>
  spawnSync(process.execPath, ["--import", "tsx", "bench/run.ts", ...args], { encoding: "utf8", timeout: 60_000 })

describe("bench flags", () => {
  it("--tracing takes off, on, or both", () => {
    const unknown = bench("--tracing=sometimes", "--scenarios", "echo")
    expect(unknown.status).toBe(2)
    expect(unknown.stderr).toContain('--tracing: unknown variant "sometimes" (off, on)')
    const twice = bench("--tracing=on,on", "--scenarios", "echo")
    expect(twice.status).toBe(2)
    expect(twice.stderr).toContain('--tracing: "on" given twice')
  })

  it("--service-revision must name a commit", () => {
    const result = bench("--service-revision", "no-such-revision-of-wampgres", "--scenarios", "echo")
    expect(result.status).toBe(2)
    expect(result.stderr).toContain('"no-such-revision-of-wampgres" is not a commit of this repository')
  })

  it("--repeat must be at least 1", () => {
    const result = bench("--repeat", "0", "--scenarios", "echo")
    expect(result.status).toBe(2)
    expect(result.stderr).toContain("--repeat must be at least 1")
  })

  it("--list shows the new rows", () => {
    const result = bench("--list")
    expect(result.status).toBe(0)
    for (const id of ["now.v1@autobahn-pg", "now.v3@autobahn-pg", "pgbench-transfer"]) expect(result.stdout).toContain(id)
  })
})
