import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { combineRepeats } from "../lib/repeat.js"
import { renderTable } from "../lib/report.js"
import type { RowResult, TargetVerdict } from "../lib/result.js"
import { compareVariants, evaluateTargets, ourCpuPer1k, renderComparisons, renderTargets, verdictOf } from "../lib/targets.js"

const MB = 1024 * 1024

interface Figures {
  /** CPU seconds per 1k calls. */
  readonly router?: number
  readonly comp?: number
  readonly rssMb?: number
  readonly errors?: number
  readonly serializer?: "json" | "msgpack" | undefined
  readonly component?: string
  readonly routerName?: string
  readonly reference?: boolean
  readonly tracing?: boolean
  readonly revision?: string
  readonly label?: string
  readonly exportedBytes?: number
  /** A baseline's own CPU seconds per 1k operations (its client process). */
  readonly client?: number
}

const COMPONENTS: Record<string, string> = {
  echo: "echo",
  "echo@fox-wamp": "echo",
  "echo-x2": "echo",
  "now.v1@autobahn-pg": "autobahn-pg",
  "now.v3@autobahn-pg": "autobahn-pg"
}
const BASELINES = new Set(["sql-pg", "sql-pg-tx", "pgbench", "pgbench-transfer"])

/** A measured row with the figures the targets read. */
const row = (scenario: string, callsPerSecond: number, f: Figures = {}): RowResult => {
  const baseline = BASELINES.has(scenario)
  const serializer = "serializer" in f ? f.serializer : baseline ? undefined : "json"
  const component = f.component ?? (baseline ? undefined : COMPONENTS[scenario] ?? "service")
  return {
    label: f.label ?? `${scenario}${serializer === undefined ? "" : ` ${serializer}`}`,
    scenario,
    description: scenario,
    serializer,
    status: "ok",
    reference: f.reference ?? true,
    settings: {
      inflight: 50,
      warmupMs: 1000,
      durationMs: 1000,
      ...(component === undefined ? {} : { component }),
      ...(baseline ? {} : { router: f.routerName ?? (scenario === "echo@fox-wamp" ? "fox-wamp" : "wampgres") }),
      ...(f.tracing === undefined ? {} : { tracing: f.tracing }),
      ...(f.revision === undefined ? {} : { revision: f.revision })
    },
    load: {
      calls: callsPerSecond,
      ok: callsPerSecond,
      errors: f.errors ?? 0,
      errorSamples: [],
      windowMs: 1000,
      callsPerSecond,
      latency: { count: 100, p50: 1, p90: 2, p99: 3, max: 4, mean: 1.5 },
      finalChecks: []
    },
    roles: baseline ? (f.client === undefined ? {} : { client: { cpuSeconds: 1, cpuPer1k: f.client, peakRss: 50 * MB, instances: 1 } }) : {
      router: { cpuSeconds: 1, cpuPer1k: f.router ?? 0.01, peakRss: 50 * MB, instances: 1 },
      component: { cpuSeconds: 1, cpuPer1k: f.comp ?? 0.01, peakRss: (f.rssMb ?? 100) * MB, instances: 1 }
    },
    ...(f.exportedBytes === undefined ? {} : { tracingExport: { requests: 3, bytes: f.exportedBytes } })
  }
}

const byName = (targets: ReadonlyArray<TargetVerdict>, start: string): TargetVerdict => {
  const found = targets.filter((t) => t.name.startsWith(start))
  if (found.length !== 1) throw new Error(`${found.length} targets start with "${start}": ${targets.map((t) => t.name).join(" | ")}`)
  return found[0] as TargetVerdict
}

/** A run where every performance target is exactly at its limit (so each one is met). */
const atTheLimits = (): Array<RowResult> => [
  row("echo", 30_000, { router: 0.007 }),
  row("echo@fox-wamp", 20_000, { router: 0.02 }),
  row("now.v1", 20_000, { comp: 0.009, rssMb: 129 }),
  row("now.v3", 10_000, { comp: 0.018, rssMb: 100 }),
  row("ledger.transfer", 700, { comp: 1, rssMb: 120 }),
  row("sql-pg", 40_000),
  row("pgbench-transfer", 1_000),
  row("now.v1@autobahn-pg", 10_000, { rssMb: 500 }),
  row("now.v3@autobahn-pg", 5_000, { rssMb: 500 })
]

describe("targets", () => {
  it("each performance target is read from its rows, and a value exactly at the limit is met", () => {
    const targets = evaluateTargets(atTheLimits())
    const expected: ReadonlyArray<readonly [string, number]> = [
      ["now.v3 calls/s vs now.v1", 0.5],
      ["component CPU per call: now.v3 vs now.v1", 2],
      ["component CPU per now.v1 call", 9],
      ["now.v1 calls/s vs sql-pg", 0.5],
      ["echo calls/s vs fox-wamp", 1.5],
      ["router CPU per echo call vs fox-wamp", 0.35],
      ["component peak RSS", 129],
      ["ledger.transfer calls/s vs pgbench-transfer", 0.7],
      ["now.v1 vs now.v1@autobahn-pg", 2],
      ["now.v3 vs now.v3@autobahn-pg", 2]
    ]
    for (const [name, value] of expected) {
      const target = byName(targets, name)
      expect(target.value, name).toBeCloseTo(value, 9)
      expect(verdictOf(target), name).toBe("met")
    }
    expect(targets.filter((t) => t.topic !== "info" && t.topic !== "tracing")).toHaveLength(expected.length)
  })

  it("just past each limit, the target is not met", () => {
    const rows = atTheLimits().map((r) => {
      const f = (calls: number, roles: { router?: number; comp?: number; rssMb?: number } = {}) =>
        row(r.scenario, calls, { router: r.roles?.router?.cpuPer1k ?? 0, comp: r.roles?.component?.cpuPer1k ?? 0, rssMb: 100, ...roles })
      switch (r.scenario) {
        case "echo":
          return f(29_999, { router: 0.00701 })
        case "now.v1":
          return f(19_999, { comp: 0.00901, rssMb: 130 })
        case "now.v3":
          return f(9_999, { comp: 0.01803 })
        case "ledger.transfer":
          return f(699)
        default:
          return r
      }
    })
    for (const target of evaluateTargets(rows).filter((t) => t.topic === "performance" || t.topic === "memory")) {
      expect(verdictOf(target), target.name).toBe("not met")
    }
  })

  it("ratios use the same serializer on both sides: msgpack when only msgpack was measured", () => {
    const targets = evaluateTargets([
      row("now.v1", 10_000, { serializer: "msgpack" }),
      row("now.v3", 6_000, { serializer: "msgpack" }),
      row("now.v3", 1_000)
    ])
    expect(byName(targets, "now.v3 calls/s vs now.v1")).toMatchObject({ name: "now.v3 calls/s vs now.v1 (msgpack)", value: 0.6, met: true })
  })

  it("a row that is missing or had errors gives no verdict, and says which", () => {
    const targets = evaluateTargets([
      row("echo", 30_000, { errors: 3 }),
      row("echo@fox-wamp", 20_000),
      row("now.v1", 10_000)
    ])
    expect(byName(targets, "echo calls/s")).toMatchObject({ met: undefined, detail: "row echo json had errors" })
    expect(byName(targets, "now.v1 calls/s vs sql-pg")).toMatchObject({ met: undefined, detail: "row sql-pg not measured" })
    expect(byName(targets, "ledger.transfer")).toMatchObject({ met: undefined, detail: "row ledger.transfer json not measured" })
    expect(verdictOf(byName(targets, "echo calls/s"))).toBe("not measured")
  })

  it("a failed final check counts as an error", () => {
    const ledger = row("ledger.transfer", 800)
    const broken: RowResult = {
      ...ledger,
      load: { ...ledger.load!, finalChecks: [{ name: "sum of balances unchanged", ok: false, detail: "off by 1" }] }
    }
    const target = byName(evaluateTargets([broken, row("pgbench-transfer", 1_000)]), "ledger.transfer")
    expect(target).toMatchObject({ met: undefined, detail: "row ledger.transfer json had errors" })
  })

  it("only reference rows count: other variants (tracing on, another revision) never make a target", () => {
    const targets = evaluateTargets([
      row("now.v1", 10_000, { comp: 0.02, rssMb: 120 }),
      row("now.v1", 50_000, { comp: 0.001, rssMb: 400, reference: false, tracing: true }),
      row("now.v3", 1_000, { reference: false })
    ])
    expect(byName(targets, "component CPU per now.v1 call")).toMatchObject({ value: 20, met: false })
    expect(byName(targets, "component peak RSS")).toMatchObject({ value: 120, met: true })
    expect(byName(targets, "now.v3 calls/s").met).toBeUndefined()
  })

  it("the driver's floor is shown for reading: its CPU per transaction over its CPU per statement, and now.v3 against it", () => {
    const targets = evaluateTargets([
      row("sql-pg", 100_000, { client: 0.009 }),
      row("sql-pg-tx", 12_000, { client: 0.072 }),
      row("now.v3", 6_000)
    ])
    expect(byName(targets, "driver alone")).toMatchObject({ informational: true, value: 8, detail: "72.0 µs / 9.0 µs = 8.00" })
    expect(byName(targets, "now.v3 vs sql-pg-tx")).toMatchObject({ informational: true, value: 0.5 })
    expect(byName(targets, "driver alone").met).toBeUndefined()
  })

  it("peak RSS: the largest service row, whatever the other components use", () => {
    const target = byName(
      evaluateTargets([
        row("now.v1", 1, { rssMb: 110 }),
        row("ledger.history", 1, { rssMb: 128 }),
        row("now.v1", 1, { rssMb: 125, serializer: "msgpack" }),
        row("echo", 1, { rssMb: 300 }),
        row("now.v1@autobahn-pg", 1, { rssMb: 300 })
      ]),
      "component peak RSS"
    )
    expect(target).toMatchObject({ value: 128, met: true, detail: "128.0 MB, largest in ledger.history json (3 service rows)" })
  })

  it("property: a verdict is met exactly when the value satisfies the rule, and absent exactly when there is no value", () => {
    const calls = fc.integer({ min: 1, max: 100_000 })
    const cpu = fc.double({ min: 0.0001, max: 1, noNaN: true })
    fc.assert(
      fc.property(
        fc.record({ echo: calls, fox: calls, v1: calls, v3: calls, sqlpg: calls, transfer: calls, pgbench: calls, a1: calls, a3: calls }),
        fc.record({ echoRouter: cpu, foxRouter: cpu, v1Comp: cpu, v3Comp: cpu }),
        fc.integer({ min: 50, max: 200 }),
        fc.subarray(["echo", "echo@fox-wamp", "now.v1", "now.v3", "sql-pg", "ledger.transfer", "pgbench-transfer"]),
        (n, c, rssMb, missing) => {
          const rows = [
            row("echo", n.echo, { router: c.echoRouter }),
            row("echo@fox-wamp", n.fox, { router: c.foxRouter }),
            row("now.v1", n.v1, { comp: c.v1Comp, rssMb }),
            row("now.v3", n.v3, { comp: c.v3Comp, rssMb }),
            row("sql-pg", n.sqlpg),
            row("ledger.transfer", n.transfer, { rssMb }),
            row("pgbench-transfer", n.pgbench),
            row("now.v1@autobahn-pg", n.a1),
            row("now.v3@autobahn-pg", n.a3)
          ].filter((r) => !missing.includes(r.scenario))
          for (const t of evaluateTargets(rows)) {
            if (t.informational === true) {
              expect(t.met).toBeUndefined()
              continue
            }
            if (t.value === undefined) {
              expect(t.met).toBeUndefined()
              continue
            }
            const [op, limit] = t.rule.split(" ") as [string, string]
            const holds = op === ">=" ? t.value >= Number(limit) : op === "<=" ? t.value <= Number(limit) : t.value < Number(limit)
            if (t.topic !== "tracing") expect(t.met, t.name).toBe(holds)
          }
        }
      ),
      { numRuns: 300 }
    )
  })
})

describe("variants: tracing off against the revision before, tracing on against off", () => {
  const before = "80b3971^1 (7b27ea3)"
  const variants = (scenario: string, f: { before: [number, number, number]; off: [number, number, number]; on: [number, number, number] }) => [
    row(scenario, f.before[0], { router: f.before[1], comp: f.before[2], revision: before, tracing: false, reference: false }),
    row(scenario, f.off[0], { router: f.off[1], comp: f.off[2], tracing: false }),
    row(scenario, f.on[0], { router: f.on[1], comp: f.on[2], tracing: true, reference: false, exportedBytes: 1_500_000 })
  ]

  it("CPU per call is our router's, plus the service's when the row runs it", () => {
    expect(ourCpuPer1k(row("now.v1", 1, { router: 0.01, comp: 0.02 }))).toBeCloseTo(0.03, 12)
    expect(ourCpuPer1k(row("echo", 1, { router: 0.01, comp: 0.02 }))).toBeCloseTo(0.01, 12)
    expect(ourCpuPer1k(row("now.v1@autobahn-pg", 1, { router: 0.01, comp: 0.5 }))).toBeCloseTo(0.01, 12)
    expect(ourCpuPer1k(row("echo@fox-wamp", 1, { router: 0.01, comp: 0.02 }))).toBe(0)
  })

  it("states the ratios and the CPU each role adds per call, and the bytes exported per call", () => {
    const rows = variants("now.v1", { before: [10_000, 0.01, 0.02], off: [9_800, 0.0102, 0.0204], on: [5_000, 0.03, 0.06] })
    const [offVsBefore, onVsOff] = compareVariants(rows)
    expect(offVsBefore).toMatchObject({ row: "now.v1 json", kind: "off-vs-before", name: `tracing off / rev ${before}` })
    expect(offVsBefore!.callsRatio).toBeCloseTo(0.98, 9)
    expect(offVsBefore!.cpuRatio).toBeCloseTo(1.02, 9)
    expect(offVsBefore!.routerMicros).toBeCloseTo(0.2, 9)
    expect(offVsBefore!.componentMicros).toBeCloseTo(0.4, 9)
    expect(onVsOff).toMatchObject({ kind: "on-vs-off", name: "tracing on / off" })
    expect(onVsOff!.cpuRatio).toBeCloseTo(0.09 / 0.0306, 9)
    expect(onVsOff!.routerMicros).toBeCloseTo(19.8, 9)
    expect(onVsOff!.componentMicros).toBeCloseTo(39.6, 9)
    expect(onVsOff!.exportBytesPerCall).toBeCloseTo(300, 9)
    const text = renderComparisons(compareVariants(rows))
    expect(text).toContain("x0.980")
    expect(text).toContain("+19.8")
  })

  it("tracing off within 3% of before (CPU per call): met inside, not met outside, per row", () => {
    const targets = evaluateTargets([
      ...variants("now.v1", { before: [10_000, 0.01, 0.02], off: [9_700, 0.0103, 0.0206], on: [5_000, 0.03, 0.06] }),
      ...variants("echo", { before: [20_000, 0.01, 0.01], off: [19_000, 0.0104, 0.01], on: [8_000, 0.03, 0.01] })
    ])
    const tracing = targets.filter((t) => t.topic === "tracing")
    expect(tracing.map((t) => [t.name, verdictOf(t)])).toEqual([
      [`tracing off vs rev ${before}: now.v1 json, CPU per call`, "met"],
      [`tracing off vs rev ${before}: echo json, CPU per call`, "not met"]
    ])
    expect(tracing[0]!.value).toBeCloseTo(1.03, 9)
    expect(tracing[0]!.detail).toBe("router + service CPU per call x1.030; calls/s x0.970 (information)")
  })

  it("judges the cost only: a faster calls/s does not hide a CPU cost above 3%, fewer calls/s at equal CPU is met", () => {
    const cpuUp = evaluateTargets(variants("now.v1", { before: [10_000, 0.01, 0.02], off: [12_000, 0.0104, 0.0208], on: [1, 1, 1] }))
    const slower = evaluateTargets(variants("now.v1", { before: [10_000, 0.01, 0.02], off: [9_000, 0.01, 0.02], on: [1, 1, 1] }))
    expect(verdictOf(cpuUp.find((t) => t.topic === "tracing")!)).toBe("not met")
    const slowerVerdict = slower.find((t) => t.topic === "tracing")!
    expect(verdictOf(slowerVerdict)).toBe("met")
    expect(slowerVerdict.detail).toContain("calls/s x0.900 (information)")
  })

  it("with repeats, the verdict reads the medians and says how many repeats they come from", () => {
    const repeated = (scenario: string, figures: ReadonlyArray<[number, number, number]>, f: { revision?: string; tracing: boolean; reference?: boolean }) =>
      combineRepeats(figures.map(([calls, router, comp]) => row(scenario, calls, { router, comp, ...f })))
    const targets = evaluateTargets([
      // One noisy repeat each side (0.05 before, 0.001 off) does not move the medians.
      repeated("now.v1", [[10_000, 0.01, 0.02], [9_000, 0.05, 0.02], [10_500, 0.01, 0.02]], { revision: before, tracing: false, reference: false }),
      repeated("now.v1", [[9_900, 0.0102, 0.02], [9_800, 0.001, 0.02], [9_700, 0.0102, 0.02]], { tracing: false })
    ])
    const tracing = targets.find((t) => t.topic === "tracing")!
    expect(tracing.value).toBeCloseTo(0.0302 / 0.03, 9)
    expect(verdictOf(tracing)).toBe("met")
    expect(tracing.detail).toContain("medians of 3 repeats")
  })

  it("without a revision row, the tracing target is not measured and says what it needs", () => {
    const targets = evaluateTargets([row("now.v1", 10_000, { tracing: false })])
    expect(targets.filter((t) => t.topic === "tracing")).toEqual([
      expect.objectContaining({ met: undefined, detail: "needs --service-revision <the revision before tracing>" })
    ])
  })

  it("rows of different serializers are never compared with each other", () => {
    const comparisons = compareVariants([
      row("now.v1", 10_000, { tracing: false }),
      row("now.v1", 5_000, { tracing: true, serializer: "msgpack", reference: false })
    ])
    expect(comparisons).toEqual([])
  })
})

describe("the printed report", () => {
  it("every target line shows its verdict: met, not met, not measured, info", () => {
    const text = renderTargets(evaluateTargets([
      row("now.v1", 20_000, { comp: 0.005 }),
      row("now.v3", 1_000),
      row("echo", 10_000)
    ]))
    expect(text).toMatch(/component CPU per now\.v1 call \(json\), µs\s+<= 9\s+5\.00\s+met/)
    expect(text).toMatch(/now\.v3 calls\/s vs now\.v1 \(json\)\s+>= 0\.5\s+0\.05\s+not met/)
    expect(text).toMatch(/ledger\.transfer calls\/s vs pgbench-transfer\s+>= 0\.7\s+-\s+not measured/)
    expect(text).toMatch(/now\.v1 vs echo \(json\)\s+-\s+2\.00\s+info/)
  })

  it("the table says why a row has no figures, and what a traced row exported", () => {
    const text = renderTable([
      row("echo", 30_000),
      row("now.v1", 2_000, { tracing: true, exportedBytes: 1_000_000, label: "now.v1 json [tracing on]" }),
      {
        label: "echo@fox-wamp msgpack",
        scenario: "echo@fox-wamp",
        description: "",
        serializer: "msgpack",
        status: "unavailable",
        reference: true,
        reason: "fox-wamp speaks only wamp.2.json",
        settings: { inflight: 50, warmupMs: 1, durationMs: 1 }
      }
    ])
    expect(text).toContain("30,000")
    expect(text).toMatch(/echo@fox-wamp msgpack\s+unavailable: fox-wamp speaks only wamp\.2\.json/)
    expect(text).toContain("now.v1 json [tracing on]: OTLP receiver got 3 exports, 1,000,000 bytes in the window (500 B per call)")
  })
})
