/** Shape checks of the messages a router receives (the spec's message formats). */
import { describe, expect, it } from "@effect/vitest"
import { checkShape, MessageType } from "../../src/wamp/messages.js"

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
    [[MessageType.CANCEL, 1, { mode: "kill" }]]
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
    [[MessageType.PUBLISH, 1, {}, "com.t", [], {}, 1]],
    [[MessageType.SUBSCRIBE, 1, null, "com"]],
    [[MessageType.WELCOME, 1, {}]],
    [[MessageType.INVOCATION, 1, 1, {}]],
    [[99]],
    [["48", 1, {}, "com.p"]]
  ])("rejects %j", (m) => expect(checkShape(m)).toEqual(expect.any(String)))
})
