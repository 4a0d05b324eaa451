/**
 * `_traceparent`: what a peer sends is read only when it is a valid W3C traceparent (version 00,
 * non-zero ids); anything else is ignored, never thrown on.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { formatTraceparent, parseTraceparent } from "../../src/wamp/traceContext.js"

const hex = (length: number) =>
  fc.string({ unit: fc.constantFrom(..."0123456789abcdef"), minLength: length, maxLength: length })

describe("traceContext", () => {
  it("reads what it writes", () => {
    fc.assert(
      fc.property(hex(32), hex(16), fc.boolean(), (traceId, spanId, sampled) => {
        fc.pre(/[1-9a-f]/.test(traceId) && /[1-9a-f]/.test(spanId))
        expect(parseTraceparent(formatTraceparent(traceId, spanId, sampled))).toEqual({ traceId, spanId, sampled })
      }),
      { numRuns: 500 }
    )
  })

  it("ignores anything else a peer may send", () => {
    fc.assert(
      fc.property(fc.oneof(fc.anything(), fc.string(), fc.stringMatching(/^[0-9a-f-]{50,60}$/)), (value) => {
        const parsed = parseTraceparent(value)
        if (parsed !== undefined) expect(formatTraceparent(parsed.traceId, parsed.spanId, parsed.sampled).slice(0, 53)).toBe((value as string).slice(0, 53))
      }),
      { numRuns: 2000 }
    )
  })

  it.each([
    ["all-zero trace id", `00-${"0".repeat(32)}-${"1".repeat(16)}-01`],
    ["all-zero span id", `00-${"1".repeat(32)}-${"0".repeat(16)}-01`],
    ["another version", `01-${"1".repeat(32)}-${"1".repeat(16)}-01`],
    ["upper case", `00-${"A".repeat(32)}-${"1".repeat(16)}-01`],
    ["too long", `00-${"1".repeat(32)}-${"1".repeat(16)}-01-extra`]
  ])("rejects %s", (_, value) => {
    expect(parseTraceparent(value)).toBeUndefined()
  })

  it("reads the sampled flag from bit 0", () => {
    expect(parseTraceparent(`00-${"1".repeat(32)}-${"2".repeat(16)}-00`)?.sampled).toBe(false)
    expect(parseTraceparent(`00-${"1".repeat(32)}-${"2".repeat(16)}-03`)?.sampled).toBe(true)
  })
})
