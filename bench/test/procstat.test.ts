import { describe, expect, it } from "@effect/vitest"
import { clockTicks, cpuSeconds, memory } from "../lib/procstat.js"

describe("/proc readings", () => {
  it("CPU seconds of this process grow while it computes", () => {
    const before = cpuSeconds(process.pid)
    const until = Date.now() + 300
    let x = 0
    while (Date.now() < until) x += Math.sqrt(x + 1)
    const after = cpuSeconds(process.pid)
    expect(before).toBeTypeOf("number")
    expect(after).toBeTypeOf("number")
    // 300 ms busy: at least 0.1 s of CPU even on a crowded machine.
    expect((after ?? 0) - (before ?? 0)).toBeGreaterThanOrEqual(0.1)
    expect(x).toBeGreaterThan(0)
  })

  it("peak RSS is at least the current RSS and plausible for Node", () => {
    const m = memory(process.pid)
    expect(m).toBeDefined()
    expect(m!.peakRss).toBeGreaterThanOrEqual(m!.rss)
    expect(m!.rss).toBeGreaterThan(10 * 1024 * 1024)
  })

  it("a process that does not exist has no figures", () => {
    expect(cpuSeconds(2 ** 22 + 12345)).toBeUndefined()
    expect(memory(2 ** 22 + 12345)).toBeUndefined()
    expect(clockTicks()).toBeGreaterThan(0)
  })
})
