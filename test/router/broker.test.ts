/**
 * Broker conformance: subscribe/unsubscribe errors, acknowledge, publisher exclusion and
 * identification, black- and whitelisting by session, authid and authrole, and pattern-based
 * subscriptions with the matched topic in EVENT details.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { allowAll, callError, promise, raw, type RawClient, router, session, testConfig } from "./support.js"

const PUBLISH = 16, PUBLISHED = 17, SUBSCRIBE = 32, SUBSCRIBED = 33, UNSUBSCRIBE = 34, UNSUBSCRIBED = 35, EVENT = 36
const ERROR = 8

interface Joined {
  readonly client: RawClient
  readonly id: number
  readonly authid: string
}

const joined = (url: string) =>
  Effect.gen(function*() {
    const client = yield* raw(url)
    const welcome = yield* promise(() => client.hello())
    return { client, id: welcome[1] as number, authid: (welcome[2] as Record<string, string>)["authid"]! } satisfies Joined
  })

const subscribe = (c: RawClient, topic: string, options: Record<string, unknown> = {}, request = 1) =>
  promise(async () => {
    c.send([SUBSCRIBE, request, options, topic])
    const m = await c.next()
    if (m[0] !== SUBSCRIBED) throw new Error(`expected SUBSCRIBED, got ${JSON.stringify(m)}`)
    return m[2] as number
  })

let barrierRequest = 100
/**
 * Proves that `subscriber` got nothing from `publisher` so far, with a positive barrier instead of a
 * silence window: WAMP delivers one publisher's events to one subscriber in the order published,
 * across topics, so the publisher's next event on a barrier topic must be the subscriber's next
 * message (a message that should not have come arrives first and fails the test).
 */
const nothingFrom = (publisher: RawClient, subscriber: RawClient) =>
  Effect.gen(function*() {
    const request = barrierRequest++
    const id = yield* subscribe(subscriber, `com.barrier.b${request}`, {}, request)
    publisher.send([PUBLISH, request, {}, `com.barrier.b${request}`, ["barrier"]])
    expect(yield* promise(() => subscriber.next(10_000))).toEqual([EVENT, id, expect.any(Number), {}, ["barrier"]])
  })

describe("subscriptions", () => {
  it.live("SUBSCRIBE answers SUBSCRIBED with the same id for the same topic; UNSUBSCRIBE stops events", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const a = yield* joined(r.url)
      const b = yield* joined(r.url)
      const p = yield* joined(r.url)
      const idA = yield* subscribe(a.client, "com.example.t")
      const idB = yield* subscribe(b.client, "com.example.t")
      expect(idA).toBe(idB)
      a.client.send([UNSUBSCRIBE, 2, idA])
      expect(yield* promise(() => a.client.next())).toEqual([UNSUBSCRIBED, 2])
      p.client.send([PUBLISH, 1, {}, "com.example.t", ["x"]])
      const event = yield* promise(() => b.client.next())
      expect(event[0]).toBe(EVENT)
      expect(event[1]).toBe(idB)
      expect(event.slice(3)).toEqual([{}, ["x"]])
      yield* nothingFrom(p.client, a.client)
    }))

  it.live("UNSUBSCRIBE of an unknown subscription fails with wamp.error.no_such_subscription", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const a = yield* joined(r.url)
      a.client.send([UNSUBSCRIBE, 3, 987654])
      expect((yield* promise(() => a.client.next())).slice(0, 5)).toEqual([
        ERROR,
        UNSUBSCRIBE,
        3,
        {},
        "wamp.error.no_such_subscription"
      ])
    }))

  it.live("an invalid topic fails with wamp.error.invalid_uri for SUBSCRIBE and an acknowledged PUBLISH", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const a = yield* joined(r.url)
      a.client.send([SUBSCRIBE, 1, {}, "com.#bad"])
      expect((yield* promise(() => a.client.next())).slice(0, 5)).toEqual([ERROR, SUBSCRIBE, 1, {}, "wamp.error.invalid_uri"])
      a.client.send([PUBLISH, 2, { acknowledge: true }, "com..bad"])
      expect((yield* promise(() => a.client.next())).slice(0, 5)).toEqual([ERROR, PUBLISH, 2, {}, "wamp.error.invalid_uri"])
      // without acknowledge nothing comes back: the answer to the next acknowledged PUBLISH comes first
      a.client.send([PUBLISH, 3, {}, "com..bad"])
      a.client.send([PUBLISH, 4, { acknowledge: true }, "com.example.good"])
      expect((yield* promise(() => a.client.next())).slice(0, 2)).toEqual([PUBLISHED, 4])
    }))

  it.live("PUBLISHED comes only with acknowledge", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const a = yield* joined(r.url)
      a.client.send([PUBLISH, 1, {}, "com.example.t", []])
      a.client.send([PUBLISH, 2, { acknowledge: true }, "com.example.t", []])
      // the first message back answers request 2: request 1 got no PUBLISHED
      const published = yield* promise(() => a.client.next())
      expect(published[0]).toBe(PUBLISHED)
      expect(published[1]).toBe(2)
      expect(published[2]).toBeGreaterThan(0)
    }))
})

describe("publisher exclusion and identification", () => {
  it.live("the publisher gets its own event only with exclude_me: false", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const a = yield* joined(r.url)
      yield* subscribe(a.client, "com.example.t")
      a.client.send([PUBLISH, 1, {}, "com.example.t", [1]])
      a.client.send([PUBLISH, 2, { exclude_me: false }, "com.example.t", [2]])
      // the first event is the second publication's: the first one was not sent to its publisher
      expect((yield* promise(() => a.client.next())).slice(4)).toEqual([[2]])
    }))

  it.live("disclose_me gives subscribers the publisher's session id, authid and authrole (autobahn)", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const sub = yield* session(r.url)
      const pub = yield* session(r.url)
      let resolveDetails: (d: Record<string, unknown>) => void = () => {}
      const got = new Promise<Record<string, unknown>>((resolve) => (resolveDetails = resolve))
      yield* promise(() =>
        sub.session.subscribe("com.example.t", (_a, _k, details) =>
          resolveDetails({ publisher: details.publisher, authrole: details.publisher_authrole }))
      )
      yield* promise(async () => pub.session.publish("com.example.t", [], {}, { disclose_me: true, acknowledge: true }))
      expect(yield* promise(() => got)).toEqual({ publisher: pub.session.id, authrole: "anonymous" })
    }))

  it.live("without disclosure EVENT details carry no publisher", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const a = yield* joined(r.url)
      const b = yield* joined(r.url)
      yield* subscribe(a.client, "com.example.t")
      b.client.send([PUBLISH, 1, {}, "com.example.t"])
      expect((yield* promise(() => a.client.next()))[3]).toEqual({})
    }))

  it.live("a permission with disclose.publisher discloses without disclose_me", () =>
    Effect.gen(function*() {
      const r = yield* router(testConfig({
        realms: [{ name: "realm1", roles: [{ name: "anonymous", permissions: [allowAll("", "prefix", true)] }] }]
      }))
      const a = yield* joined(r.url)
      const b = yield* joined(r.url)
      yield* subscribe(a.client, "com.example.t")
      b.client.send([PUBLISH, 1, {}, "com.example.t"])
      const details = (yield* promise(() => a.client.next()))[3] as Record<string, unknown>
      expect(details).toEqual({ publisher: b.id, publisher_authid: b.authid, publisher_authrole: "anonymous" })
    }))
})

describe("subscriber black- and whitelisting", () => {
  const three = Effect.gen(function*() {
    const r = yield* router()
    const subs = [yield* joined(r.url), yield* joined(r.url), yield* joined(r.url)]
    for (const s of subs) yield* subscribe(s.client, "com.example.t")
    const publisher = yield* joined(r.url)
    /**
     * Publishes with `options`, then an event for all as a barrier (events from one publisher arrive
     * in order); returns which of the three subscribers received the first event before the barrier.
     */
    const receivers = (options: Record<string, unknown>) =>
      Effect.gen(function*() {
        publisher.client.send([PUBLISH, 1, { ...options, acknowledge: true }, "com.example.t", ["e"]])
        expect((yield* promise(() => publisher.client.next()))[0]).toBe(PUBLISHED)
        publisher.client.send([PUBLISH, 2, {}, "com.example.t", ["barrier"]])
        const got: Array<number> = []
        for (let i = 0; i < subs.length; i++) {
          let args = (yield* promise(() => subs[i]!.client.next(10_000)))[4]
          if (JSON.stringify(args) === JSON.stringify(["e"])) {
            got.push(i)
            args = (yield* promise(() => subs[i]!.client.next(10_000)))[4]
          }
          expect(args).toEqual(["barrier"])
        }
        return got
      })
    return { subs, receivers }
  })

  it.live("exclude and eligible select by session id", () =>
    Effect.gen(function*() {
      const { subs, receivers } = yield* three
      expect(yield* receivers({ exclude: [subs[0]!.id] })).toEqual([1, 2])
      expect(yield* receivers({ eligible: [subs[0]!.id, subs[2]!.id] })).toEqual([0, 2])
      expect(yield* receivers({ eligible: [subs[0]!.id, subs[2]!.id], exclude: [subs[2]!.id] })).toEqual([0])
    }))

  it.live("exclude_authid and eligible_authid select by authid", () =>
    Effect.gen(function*() {
      const { subs, receivers } = yield* three
      expect(yield* receivers({ exclude_authid: [subs[1]!.authid] })).toEqual([0, 2])
      expect(yield* receivers({ eligible_authid: [subs[1]!.authid] })).toEqual([1])
    }))

  it.live("exclude_authrole and eligible_authrole select by authrole", () =>
    Effect.gen(function*() {
      const { receivers } = yield* three
      expect(yield* receivers({ exclude_authrole: ["anonymous"] })).toEqual([])
      expect(yield* receivers({ eligible_authrole: ["anonymous"] })).toEqual([0, 1, 2])
      expect(yield* receivers({ eligible_authrole: ["admin"] })).toEqual([])
    }))
})

describe("pattern-based subscriptions", () => {
  it.live("prefix and wildcard subscriptions receive matching events with the topic in details", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const exact = yield* joined(r.url)
      const prefix = yield* joined(r.url)
      const wildcard = yield* joined(r.url)
      const p = yield* joined(r.url)
      const exactId = yield* subscribe(exact.client, "com.example.a.b")
      const prefixId = yield* subscribe(prefix.client, "com.example", { match: "prefix" })
      const wildcardId = yield* subscribe(wildcard.client, "com..a.b", { match: "wildcard" })
      p.client.send([PUBLISH, 1, {}, "com.example.a.b", [1], { k: 1 }])
      expect(yield* promise(() => exact.client.next())).toEqual([EVENT, exactId, expect.any(Number), {}, [1], { k: 1 }])
      expect(yield* promise(() => prefix.client.next())).toEqual([
        EVENT,
        prefixId,
        expect.any(Number),
        { topic: "com.example.a.b" },
        [1],
        { k: 1 }
      ])
      expect(yield* promise(() => wildcard.client.next())).toEqual([
        EVENT,
        wildcardId,
        expect.any(Number),
        { topic: "com.example.a.b" },
        [1],
        { k: 1 }
      ])
      p.client.send([PUBLISH, 2, {}, "com.example.zzz"])
      expect((yield* promise(() => prefix.client.next()))[3]).toEqual({ topic: "com.example.zzz" })
      // a later publication all three match is the next event of the two that com.example.zzz misses
      p.client.send([PUBLISH, 3, {}, "com.example.a.b", ["barrier"]])
      expect((yield* promise(() => exact.client.next(10_000)))[4]).toEqual(["barrier"])
      expect((yield* promise(() => wildcard.client.next(10_000)))[4]).toEqual(["barrier"])
    }))

  it.live("autobahn receives pattern events with details.topic", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const sub = yield* session(r.url, { serializer: "msgpack" })
      const pub = yield* session(r.url, { serializer: "cbor" })
      let resolveTopic: (t: string) => void = () => {}
      const topic = new Promise<string>((resolve) => (resolveTopic = resolve))
      yield* promise(() => sub.session.subscribe("com.example", (_a, _k, d) => resolveTopic(d.topic), { match: "prefix" }))
      yield* promise(async () => pub.session.publish("com.example.deep.topic", [1], {}, { acknowledge: true }))
      expect(yield* promise(() => topic)).toBe("com.example.deep.topic")
    }))

  it.live("subscribing with an unknown match policy fails with wamp.error.invalid_argument", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const s = yield* session(r.url)
      const error = yield* callError(() => s.session.subscribe("com.example", () => {}, { match: "fuzzy" }))
      expect(error.error).toBe("wamp.error.invalid_argument")
    }))
})

describe("what the broker answers, message by message", () => {
  const onlyPublisher = (uri: string, publish: boolean, subscribe: boolean) =>
    testConfig({
      realms: [{
        name: "realm1",
        roles: [{
          name: "anonymous",
          permissions: [{ uri, match: "prefix", allow: { call: false, register: false, publish, subscribe }, disclose: { caller: false, publisher: false } }]
        }]
      }]
    })

  it.live("errors carry a readable message naming the topic or the value that was refused", () =>
    Effect.gen(function*() {
      const r = yield* router(onlyPublisher("com.open", true, true))
      const a = yield* joined(r.url)
      a.client.send([SUBSCRIBE, 1, { match: "fuzzy" }, "com.open.t"])
      const policy = yield* promise(() => a.client.next())
      expect(policy.slice(0, 5)).toEqual([ERROR, SUBSCRIBE, 1, {}, "wamp.error.invalid_argument"])
      expect(policy[5]).toEqual([expect.stringContaining("fuzzy")])
      a.client.send([SUBSCRIBE, 2, {}, "com.#bad"])
      expect((yield* promise(() => a.client.next()))[5]).toEqual([expect.stringMatching(/"com\.#bad".*"exact"/)])
      a.client.send([SUBSCRIBE, 3, {}, "org.closed"])
      const denied = yield* promise(() => a.client.next())
      expect(denied.slice(0, 5)).toEqual([ERROR, SUBSCRIBE, 3, {}, "wamp.error.not_authorized"])
      expect(denied[5]).toEqual([expect.stringContaining("\"org.closed\"")])
      a.client.send([PUBLISH, 4, { acknowledge: true }, "com..bad"])
      expect((yield* promise(() => a.client.next()))[5]).toEqual([expect.stringContaining("\"com..bad\"")])
      a.client.send([PUBLISH, 5, { acknowledge: true }, "org.closed"])
      const unpublished = yield* promise(() => a.client.next())
      expect(unpublished.slice(0, 5)).toEqual([ERROR, PUBLISH, 5, {}, "wamp.error.not_authorized"])
      expect(unpublished[5]).toEqual([expect.stringContaining("\"org.closed\"")])
      // the spec's no_such_subscription carries no message: exactly five elements
      a.client.send([UNSUBSCRIBE, 6, 987654])
      expect(yield* promise(() => a.client.next())).toEqual([ERROR, UNSUBSCRIBE, 6, {}, "wamp.error.no_such_subscription"])
    }))

  it.live("an unauthorized PUBLISH without acknowledge gets no answer at all", () =>
    Effect.gen(function*() {
      const r = yield* router(onlyPublisher("com.open", true, true))
      const a = yield* joined(r.url)
      a.client.send([PUBLISH, 1, {}, "org.closed", ["x"]])
      a.client.send([PUBLISH, 2, { acknowledge: true }, "com.open.t"])
      expect((yield* promise(() => a.client.next())).slice(0, 2)).toEqual([PUBLISHED, 2])
    }))

  it.live("clients cannot publish to wamp.* topics (the router's own) nor to a URI ending with a dot", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const a = yield* joined(r.url)
      for (const [request, topic] of [[1, "wamp.session.on_join"], [2, "com.example."]] as const) {
        a.client.send([PUBLISH, request, { acknowledge: true }, topic, []])
        const answer = yield* promise(() => a.client.next())
        expect(answer.slice(0, 5)).toEqual([ERROR, PUBLISH, request, {}, "wamp.error.invalid_uri"])
        expect(answer[5]).toEqual([expect.stringContaining(`"${topic}"`)])
      }
    }))

  it.live("an EVENT carries exactly the payload published: none, args only, or args and kwargs", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const s = yield* joined(r.url)
      const p = yield* joined(r.url)
      const id = yield* subscribe(s.client, "com.example.t")
      p.client.send([PUBLISH, 1, {}, "com.example.t"])
      p.client.send([PUBLISH, 2, {}, "com.example.t", ["a"]])
      p.client.send([PUBLISH, 3, {}, "com.example.t", [], { k: 1 }])
      expect(yield* promise(() => s.client.next())).toEqual([EVENT, id, expect.any(Number), {}])
      expect(yield* promise(() => s.client.next())).toEqual([EVENT, id, expect.any(Number), {}, ["a"]])
      expect(yield* promise(() => s.client.next())).toEqual([EVENT, id, expect.any(Number), {}, [], { k: 1 }])
    }))

  it.live("a pattern subscriber of a disclosed publication gets both the publisher and the topic", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const s = yield* joined(r.url)
      const p = yield* joined(r.url)
      const id = yield* subscribe(s.client, "com.example", { match: "prefix" })
      p.client.send([PUBLISH, 1, { disclose_me: true }, "com.example.deep", [1]])
      expect(yield* promise(() => s.client.next())).toEqual([
        EVENT,
        id,
        expect.any(Number),
        { publisher: p.id, publisher_authid: p.authid, publisher_authrole: "anonymous", topic: "com.example.deep" },
        [1]
      ])
    }))
})

describe("a subscription's life in the subscription meta events", () => {
  const META = ["on_create", "on_subscribe", "on_unsubscribe", "on_delete"] as const

  /**
   * A raw session subscribed to the four subscription meta topics; `next()` is the next meta event
   * about another session, as [name, args] (events about the watcher's own subscriptions are skipped).
   */
  const watcher = (url: string) =>
    Effect.gen(function*() {
      const w = yield* joined(url)
      const names = new Map<number, string>()
      for (const [i, name] of META.entries()) {
        w.client.send([SUBSCRIBE, 50 + i, {}, `wamp.subscription.${name}`])
        for (;;) {
          const m = yield* promise(() => w.client.next())
          if (m[0] === SUBSCRIBED && m[1] === 50 + i) {
            names.set(m[2] as number, name)
            break
          }
        }
      }
      const next = (): Effect.Effect<readonly [string, Array<unknown>], Error> =>
        Effect.flatMap(promise(() => w.client.next(10_000)), (m) => {
          const args = m[4] as Array<unknown>
          return m[0] === EVENT && args[0] === w.id ? next() : Effect.succeed([names.get(m[1] as number)!, args] as const)
        })
      return { next }
    })

  it.live("created once, subscribed once per session, deleted with its last subscriber; a later one is new", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const w = yield* watcher(r.url)
      const a = yield* joined(r.url)
      const b = yield* joined(r.url)
      const t = yield* subscribe(a.client, "com.example.t", {}, 1)
      expect(yield* w.next()).toEqual(["on_create", [a.id, { id: t, created: expect.any(String), uri: "com.example.t", match: "exact" }]])
      expect(yield* w.next()).toEqual(["on_subscribe", [a.id, t]])
      // subscribing again is no new subscriber: the next event is b's
      expect(yield* subscribe(a.client, "com.example.t", {}, 2)).toBe(t)
      expect(yield* subscribe(b.client, "com.example.t", {}, 1)).toBe(t)
      expect(yield* w.next()).toEqual(["on_subscribe", [b.id, t]])
      a.client.send([UNSUBSCRIBE, 3, t])
      expect(yield* promise(() => a.client.next())).toEqual([UNSUBSCRIBED, 3])
      expect(yield* w.next()).toEqual(["on_unsubscribe", [a.id, t]])
      b.client.send([UNSUBSCRIBE, 2, t])
      expect(yield* promise(() => b.client.next())).toEqual([UNSUBSCRIBED, 2])
      expect(yield* w.next()).toEqual(["on_unsubscribe", [b.id, t]])
      expect(yield* w.next()).toEqual(["on_delete", [b.id, t]])
      const again = yield* subscribe(a.client, "com.example.t", {}, 4)
      expect(again).not.toBe(t)
      expect(yield* w.next()).toEqual(["on_create", [a.id, expect.objectContaining({ id: again, uri: "com.example.t" })]])
    }))

  it.live("a subscriber whose connection drops leaves its subscriptions: they are deleted and get no more events", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const w = yield* watcher(r.url)
      const a = yield* joined(r.url)
      const t = yield* subscribe(a.client, "com.example.t")
      expect((yield* w.next())[0]).toBe("on_create")
      expect((yield* w.next())[0]).toBe("on_subscribe")
      a.client.close()
      expect(yield* w.next()).toEqual(["on_unsubscribe", [a.id, t]])
      expect(yield* w.next()).toEqual(["on_delete", [a.id, t]])
    }))
})
