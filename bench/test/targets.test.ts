import { describe, expect, it } from "@effect/vitest"
import { evaluateTargets, renderTable } from "../lib/report.js"
import type { RowResult } from "../lib/result.js"

const MB = 1024 * 1024

/** A measured row with the figures the targets read. */
const row = (
  scenario: string,
  callsPerSecond: number,
  figures: { routerCpuPer1k?: number; componentPeakMb?: number; errors?: number; component?: string } = {}
): RowResult => ({
  label: `${scenario} json`,
  scenario,
  description: scenario,
  serializer: "json",
  status: "ok",
  settings: { inflight: 50, warmupMs: 1000, durationMs: 1000, ...(figures.component ? { component: figures.component } : {}) },
  load: {
    calls: 100,
    ok: 100,
    errors: figures.errors ?? 0,
    errorSamples: [],
    windowMs: 1000,
    callsPerSecond,
    latency: { count: 100, p50: 1, p90: 2, p99: 3, max: 4, mean: 1.5 },
    finalChecks: []
  },
  roles: {
    router: { cpuSeconds: 1, cpuPer1k: figures.routerCpuPer1k, peakRss: 50 * MB, instances: 1 },
    component: { cpuSeconds: 1, cpuPer1k: 0.01, peakRss: (figures.componentPeakMb ?? 60) * MB, instances: 1 }
  }
})

describe("targets", () => {
  it("compares our router with fox-wamp and the service rows with echo", () => {
    const targets = evaluateTargets([
      row("echo", 30_000, { routerCpuPer1k: 0.01 }),
      row("echo@fox-wamp", 20_000, { routerCpuPer1k: 0.04 }),
      row("now.v1", 15_000, { component: "service", componentPeakMb: 120 }),
      row("now.v3", 5_000, { component: "service", componentPeakMb: 160 })
    ])
    const byName = Object.fromEntries(targets.map((t) => [t.name.split(" ")[0] + " " + t.rule, t]))
    expect(byName["router <= 0.5"]).toMatchObject({ value: 0.25, met: true })
    expect(byName["echo >= 1.5"]).toMatchObject({ value: 1.5, met: true })
    expect(byName["now.v1 >= 0.6"]).toMatchObject({ value: 0.5, met: false })
    expect(byName["now.v3 >= 0.4"]).toMatchObject({ met: false })
    expect(byName["component < 150 MB"]).toMatchObject({ value: 160, met: false })
  })

  it("adds scale-out and baseline ratios for reading, without a verdict", () => {
    const targets = evaluateTargets([row("echo", 20_000), row("echo-x2", 30_000), row("now.v1", 10_000), row("now.v1-x2", 12_000)])
    const scaleOut = targets.filter((t) => t.name.startsWith("scale-out"))
    expect(scaleOut.map((t) => [t.value, t.met, t.informational])).toEqual([[1.5, undefined, true], [1.2, undefined, true]])
  })

  it("gives no verdict when a row is missing or had errors", () => {
    const targets = evaluateTargets([
      row("echo", 30_000, { routerCpuPer1k: 0.01, errors: 3 }),
      row("echo@fox-wamp", 20_000, { routerCpuPer1k: 0.04 })
    ])
    for (const t of targets) expect(t.met).toBeUndefined()
    expect(targets[0]?.detail).toContain("had errors")
    expect(targets[2]?.detail).toContain("not measured")
  })

  it("the table says why a row has no figures", () => {
    const text = renderTable([
      row("echo", 30_000),
      {
        label: "echo@fox-wamp msgpack",
        scenario: "echo@fox-wamp",
        description: "",
        serializer: "msgpack",
        status: "unavailable",
        reason: "fox-wamp speaks only wamp.2.json",
        settings: { inflight: 50, warmupMs: 1, durationMs: 1 }
      }
    ])
    expect(text).toContain("30,000")
    expect(text).toContain("echo@fox-wamp msgpack  unavailable: fox-wamp speaks only wamp.2.json")
  })
})
