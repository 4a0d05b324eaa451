/** Shape checks of the messages a router receives (the spec's message formats). */
import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { checkShape, describeValue, isId, MAX_LIST_LENGTH, MessageType } from "../../src/wamp/messages.js"

describe("checkShape", () => {
  it.each([
    [[MessageType.HELLO, "realm1", { roles: {} }]],
    [[MessageType.GOODBYE, {}, "wamp.close.close_realm"]],
    [[MessageType.CALL, 1, {}, "com.p"]],
    [[MessageType.CALL, 1, {}, "com.p", []]],
    [[MessageType.CALL, 1, {}, "com.p", [1], { a: 1 }]],
    [[MessageType.YIELD, 1, {}]],
    [[MessageType.YIELD, 1, { progress: true }, [1], {}]],
    [[MessageType.ERROR, MessageType.INVOCATION, 1, {}, "com.error", [], {}]],
    [[MessageType.PUBLISH, 1, {}, "com.t", [], {}]],
    [[MessageType.SUBSCRIBE, 1, { match: "prefix" }, "com"]],
    [[MessageType.UNSUBSCRIBE, 1, 2]],
    [[MessageType.REGISTER, 1, {}, "com.p"]],
    [[MessageType.UNREGISTER, 1, 2]],
    [[MessageType.CANCEL, 1, { mode: "kill" }]],
    [[MessageType.CALL, 2 ** 53, { timeout: 0, receive_progress: true, disclose_me: false }, "com.p"]],
    [[MessageType.CALL, 1, { timeout: null, receive_progress: null }, "com.p"]],
    [[MessageType.PUBLISH, 1, { acknowledge: true, exclude: [1, 2], eligible_authrole: ["a"], retain: false }, "com.t"]],
    [[MessageType.REGISTER, 1, { match: "wildcard", invoke: "roundrobin", unknown_option: {} }, "com..p"]],
    [[MessageType.REGISTER, 1, { disclose_caller: true }, "com.p"]],
    [[MessageType.HELLO, "realm1", { roles: { callee: { features: {} } }, authmethods: ["anonymous"], authid: "joe", authextra: {} }]],
    [[MessageType.YIELD, 1, { progress: false }]]
  ])("accepts %j", (m) => expect(checkShape(m)).toBeUndefined())

  it.each([
    [[MessageType.HELLO, "realm1"]],
    [[MessageType.HELLO, 1, {}]],
    [[MessageType.CALL, 1.5, {}, "com.p"]],
    [[MessageType.CALL, -1, {}, "com.p"]],
    [[MessageType.CALL, 2 ** 53 + 2, {}, "com.p"]],
    [[MessageType.CALL, 1, [], "com.p"]],
    [[MessageType.CALL, 1, {}, 5]],
    [[MessageType.CALL, 1, {}, "com.p", {}]],
    [[MessageType.CALL, 1, {}, "com.p", [], []]],
    [[MessageType.YIELD, 1]],
    [[MessageType.ERROR, 68, 1, {}]],
    [[MessageType.ERROR, MessageType.INVOCATION, 1, {}, "not a uri"]],
    [[MessageType.ERROR, MessageType.INVOCATION, 1, {}, "com..error"]],
    [[MessageType.ERROR, MessageType.INVOCATION, 1, {}, ""]],
    [[MessageType.PUBLISH, 1, {}, "com.t", [], {}, 1]],
    [[MessageType.SUBSCRIBE, 1, null, "com"]],
    [[MessageType.WELCOME, 1, {}]],
    [[MessageType.INVOCATION, 1, 1, {}]],
    [[99]],
    [["48", 1, {}, "com.p"]],
    [[48.5, 1, {}, "com.p"]],
    [[MessageType.CALL, 0, {}, "com.p"]],
    [[MessageType.UNSUBSCRIBE, 1, 0]],
    [[MessageType.CALL, 1, { timeout: -1 }, "com.p"]],
    [[MessageType.CALL, 1, { timeout: 1.5 }, "com.p"]],
    [[MessageType.CALL, 1, { timeout: "5" }, "com.p"]],
    [[MessageType.CALL, 1, { receive_progress: 1 }, "com.p"]],
    [[MessageType.CALL, 1, { disclose_me: { toString: 1 } }, "com.p"]],
    [[MessageType.PUBLISH, 1, { acknowledge: "yes" }, "com.t"]],
    [[MessageType.PUBLISH, 1, { exclude: [0] }, "com.t"]],
    [[MessageType.PUBLISH, 1, { eligible: 5 }, "com.t"]],
    [[MessageType.PUBLISH, 1, { exclude_authid: [{}] }, "com.t"]],
    [[MessageType.PUBLISH, 1, { eligible_authrole: Array.from({ length: MAX_LIST_LENGTH + 1 }, () => "a") }, "com.t"]],
    [[MessageType.SUBSCRIBE, 1, { match: ["prefix"] }, "com"]],
    [[MessageType.REGISTER, 1, { match: {} }, "com.p"]],
    [[MessageType.REGISTER, 1, { invoke: 1 }, "com.p"]],
    [[MessageType.REGISTER, 1, { disclose_caller: "yes" }, "com.p"]],
    [[MessageType.CANCEL, 1, { mode: { toString: 1 } }]],
    [[MessageType.YIELD, 1, { progress: "true" }]],
    [[MessageType.HELLO, "realm1", {}]],
    [[MessageType.HELLO, "realm1", { roles: { caller: [] } }]],
    [[MessageType.HELLO, "realm1", { roles: { caller: { features: 1 } } }]],
    [[MessageType.HELLO, "realm1", { roles: {}, authmethods: "anonymous" }]],
    [[MessageType.HELLO, "realm1", { roles: {}, authmethods: [{ toString: 1 }] }]],
    [[MessageType.HELLO, "realm1", { roles: {}, authid: 1 }]],
    [[MessageType.HELLO, "realm1", { roles: {}, authrole: {} }]],
    [[MessageType.HELLO, "realm1", { roles: {}, authextra: [] }]]
  ])("rejects %j", (m) => expect(checkShape(m)).toEqual(expect.any(String)))
})

describe("isId", () => {
  it("accepts exactly the integers 1..2^53 (spec \"IDs\")", () => {
    expect([1, 2 ** 53].every(isId)).toBe(true)
    expect([0, -1, 1.5, 2 ** 53 + 2, Number.NaN, Infinity, "1", 1n, null, {}].some(isId)).toBe(false)
    fc.assert(fc.property(fc.double(), (x) => isId(x) === (Number.isInteger(x) && x >= 1 && x <= 2 ** 53)))
  })
})

describe("checkShape on anything", () => {
  it("returns undefined or a reason, and never throws or runs a value's own methods", () => {
    const trap = fc.constantFrom({ toString: 1, valueOf: {} }, JSON.parse("{\"__proto__\": {\"x\": 1}}"), { toJSON: 1 })
    const value = fc.oneof(fc.anything(), trap)
    fc.assert(
      fc.property(fc.constantFrom(...Object.values(MessageType)), fc.array(value, { maxLength: 7 }), fc.dictionary(fc.string(), value), (type, rest, options) => {
        for (const m of [[type, ...rest], [type, 1, options, "com.p", [], options], [type, "realm1", { roles: options, ...options }]]) {
          const problem = checkShape(m)
          expect(problem === undefined || typeof problem === "string").toBe(true)
        }
      }),
      { numRuns: 2000 }
    )
  })
})

describe("describeValue", () => {
  it("renders a peer's value briefly without calling it", () => {
    expect(describeValue({ toString: 1, valueOf: {} })).toBe("an object")
    expect(describeValue([1])).toBe("a list")
    expect(describeValue(null)).toBe("null")
    expect(describeValue(2n)).toBe("2")
    expect(describeValue("x".repeat(1000)).length).toBeLessThan(100)
  })
})
