import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { combineRepeats, interleave, median } from "../lib/repeat.js"
import { renderSpread } from "../lib/report.js"
import type { RowResult } from "../lib/result.js"

const MB = 1024 * 1024

/** A measured row: calls/s, router and component CPU s per 1k calls, peak RSS of the component. */
const measured = (label: string, calls: number, router: number, comp: number, f: { rssMb?: number; errors?: number; p50?: number } = {}): RowResult => ({
  label,
  scenario: "now.v1",
  description: "now.v1",
  serializer: "json",
  status: "ok",
  reference: true,
  settings: { inflight: 50, warmupMs: 1000, durationMs: 2000, router: "wampgres", component: "service" },
  load: {
    calls,
    ok: calls - (f.errors ?? 0),
    errors: f.errors ?? 0,
    errorSamples: f.errors === undefined ? [] : [{ message: "boom", count: f.errors }],
    windowMs: 1000,
    callsPerSecond: calls,
    latency: { count: calls, p50: f.p50 ?? 1, p90: 2, p99: 3, max: 4, mean: 1.5 },
    finalChecks: []
  },
  roles: {
    router: { cpuSeconds: router * calls / 1000, cpuPer1k: router, peakRss: 50 * MB, instances: 1 },
    component: { cpuSeconds: comp * calls / 1000, cpuPer1k: comp, peakRss: (f.rssMb ?? 100) * MB, instances: 1 }
  }
})

describe("median", () => {
  it("is the middle value, or the mean of the two middle ones for an even count", () => {
    expect(median([3, 1, 2])).toBe(2)
    expect(median([4, 1, 3, 2])).toBe(2.5)
    expect(median([7])).toBe(7)
    expect(median([])).toBeUndefined()
  })

  it("does not depend on the order of its values, and lies between their min and max", () => {
    // `+ 0` turns -0 into 0: both sort alike, so which one is the middle is not a difference.
    const values = fc.array(fc.double({ min: -1e9, max: 1e9, noNaN: true }).map((x) => x + 0), { minLength: 1, maxLength: 30 })
    fc.assert(
      fc.property(values, fc.func(fc.integer()), (xs, key) => {
        const shuffled = [...xs].map((x, i) => ({ x, k: key(i) })).sort((a, b) => a.k - b.k).map((e) => e.x)
        const m = median(xs) as number
        expect(median(shuffled)).toBe(m)
        expect(m).toBeGreaterThanOrEqual(Math.min(...xs))
        expect(m).toBeLessThanOrEqual(Math.max(...xs))
      }),
      { numRuns: 500 }
    )
  })

  it("leaves its input untouched", () => {
    const xs = [3, 1, 2]
    median(xs)
    expect(xs).toEqual([3, 1, 2])
  })
})

describe("interleave", () => {
  const label = (row: { id: string; v: string }) => `${row.id}/${row.v}`
  const rows = [
    { id: "echo", v: "before" },
    { id: "echo", v: "off" },
    { id: "echo", v: "on" },
    { id: "now.v1", v: "before" },
    { id: "now.v1", v: "off" }
  ]

  it("takes the variants of one scenario in turns (A B C A B C), scenario after scenario", () => {
    const steps = interleave(rows, 2, (r) => r.id).map((s) => `${label(rows[s.row]!)}#${s.repeat}`)
    expect(steps).toEqual([
      "echo/before#1", "echo/off#1", "echo/on#1",
      "echo/before#2", "echo/off#2", "echo/on#2",
      "now.v1/before#1", "now.v1/off#1",
      "now.v1/before#2", "now.v1/off#2"
    ])
  })

  it("with one repeat, is the rows in their order", () => {
    expect(interleave(rows, 1, (r) => r.id)).toEqual(rows.map((_, i) => ({ row: i, repeat: 1 })))
  })

  it("measures every row exactly N times, repeat k of a row before its repeat k+1", () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom("a", "b", "c", "d"), { maxLength: 12 }), fc.integer({ min: 1, max: 5 }), (groups, n) => {
        const steps = interleave(groups, n, (g) => g)
        expect(steps.length).toBe(groups.length * n)
        groups.forEach((_, i) => {
          expect(steps.filter((s) => s.row === i).map((s) => s.repeat)).toEqual(Array.from({ length: n }, (_, k) => k + 1))
        })
        // Within a group, each round measures every member before the next round starts.
        for (const g of new Set(groups)) {
          const rounds = steps.filter((s) => groups[s.row] === g).map((s) => s.repeat)
          expect(rounds).toEqual([...rounds].sort((a, b) => a - b))
        }
      }),
      { numRuns: 300 }
    )
  })
})

describe("combineRepeats", () => {
  it("a single repeat is the row as measured", () => {
    const one = measured("now.v1 json", 1000, 0.01, 0.02)
    expect(combineRepeats([one])).toBe(one)
  })

  it("reports the medians of calls/s, latency and CPU per role, the largest peak RSS, the sum of errors", () => {
    const repeats = [
      measured("now.v1 json", 9_000, 0.012, 0.020, { rssMb: 90, p50: 1.2 }),
      measured("now.v1 json", 10_000, 0.010, 0.030, { rssMb: 120, p50: 0.9, errors: 2 }),
      measured("now.v1 json", 11_000, 0.011, 0.025, { rssMb: 100, p50: 1.0 })
    ]
    const row = combineRepeats(repeats)
    expect(row.load?.callsPerSecond).toBe(10_000)
    expect(row.load?.latency.p50).toBe(1.0)
    expect(row.load?.errors).toBe(2)
    expect(row.roles?.router?.cpuPer1k).toBe(0.011)
    expect(row.roles?.component?.cpuPer1k).toBe(0.025)
    expect(row.roles?.component?.peakRss).toBe(120 * MB)
    expect(row.spread).toEqual({
      repeats: 3,
      callsPerSecond: { min: 9_000, max: 11_000 },
      routerComponentCpuPer1k: { min: 0.032, max: 0.04 }
    })
    expect(row.repeats).toEqual(repeats)
  })

  it("a failed repeat fails the row and says which one, keeping every repeat", () => {
    const failed: RowResult = { ...measured("now.v1 json", 0, 0, 0), status: "failed", reason: "router exited" }
    const row = combineRepeats([measured("now.v1 json", 10_000, 0.01, 0.02), failed])
    expect(row.status).toBe("failed")
    expect(row.reason).toBe("repeat 2/2: router exited")
    expect(row.repeats?.length).toBe(2)
  })

  it("the median does not depend on the order the repeats ran in", () => {
    const figures = fc.array(
      fc.tuple(fc.integer({ min: 1, max: 100_000 }), fc.double({ min: 0.001, max: 1, noNaN: true }), fc.double({ min: 0.001, max: 1, noNaN: true })),
      { minLength: 1, maxLength: 7 }
    )
    fc.assert(
      fc.property(figures, (fs) => {
        const rows = fs.map(([c, r, k]) => measured("x", c, r, k))
        const a = combineRepeats(rows)
        const b = combineRepeats([...rows].reverse())
        expect(b.load?.callsPerSecond).toBe(a.load?.callsPerSecond)
        expect(b.roles?.router?.cpuPer1k).toBe(a.roles?.router?.cpuPer1k)
        expect(b.roles?.component?.cpuPer1k).toBe(a.roles?.component?.cpuPer1k)
      }),
      { numRuns: 300 }
    )
  })

  it("the spread table shows min-max of calls/s and of router + component CPU", () => {
    const row = combineRepeats([measured("now.v1 json", 9_000, 0.01, 0.02), measured("now.v1 json", 11_000, 0.012, 0.024)])
    const text = renderSpread([row])
    expect(text).toContain("Spread of the 2 repeats")
    expect(text).toContain("9,000-11,000 (±10.0%)")
    expect(text).toContain("0.0300-0.0360 (±9.1%)")
    expect(renderSpread([measured("now.v1 json", 1, 1, 1)])).toBe("")
  })
})
