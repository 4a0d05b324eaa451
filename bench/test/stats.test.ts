import { describe, expect, it } from "@effect/vitest"
import { describeFailure, ErrorTally, LatencyRecorder, percentile, summarize } from "../lib/stats.js"

describe("latency statistics", () => {
  it("percentiles are nearest-rank over sorted samples", () => {
    const sorted = Float64Array.from({ length: 100 }, (_, i) => i + 1) // 1..100
    expect(percentile(sorted, 50)).toBe(50)
    expect(percentile(sorted, 90)).toBe(90)
    expect(percentile(sorted, 99)).toBe(99)
    expect(percentile(sorted, 100)).toBe(100)
    expect(percentile(Float64Array.of(7), 50)).toBe(7)
    expect(percentile(new Float64Array(0), 50)).toBeNaN()
  })

  it("summarize sorts its input and reports max and mean", () => {
    const s = summarize(Float64Array.of(5, 1, 4, 2, 3))
    expect(s).toEqual({ count: 5, p50: 3, p90: 5, p99: 5, max: 5, mean: 3 })
  })

  it("the recorder grows beyond its initial capacity without losing samples", () => {
    const recorder = new LatencyRecorder()
    for (let i = 0; i < 200_000; i++) recorder.record(i % 1000)
    const s = recorder.summary()
    expect(s.count).toBe(200_000)
    expect(s.max).toBe(999)
    expect(s.p50).toBe(499)
  })

  it("the error tally counts every failure but keeps only a few distinct messages", () => {
    const tally = new ErrorTally(2)
    for (const m of ["a", "b", "a", "c", "c"]) tally.add(m)
    expect(tally.count).toBe(5)
    expect(tally.samples()).toEqual([{ message: "a", count: 2 }, { message: "b", count: 1 }])
  })

  it("describes WAMP errors by URI and arguments", () => {
    expect(describeFailure({ error: "wamp.error.no_such_procedure", args: ["x"] })).toBe('wamp.error.no_such_procedure ["x"]')
    expect(describeFailure("session not open")).toBe("session not open")
    expect(describeFailure(new Error("boom"))).toBe("boom")
  })
})
