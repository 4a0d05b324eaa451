/**
 * Interop with Autobahn|Python (Debian's python3-autobahn), through the router run from the seed's
 * own Crossbar configuration, on each serializer: Python as caller, callee, publisher and
 * subscriber, with Python and autobahn-js peers on the other side. Every value crosses as its own
 * type: integers (ids, payload values up to 2^53) as int, floats as float, strings as str, byte
 * arrays as bytes; errors keep their args and kwargs; progressive results and shared registrations
 * work both ways.
 *
 * Runs wherever python3-autobahn is installed (.ci/run installs it); skipped elsewhere, except in CI.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import autobahn from "autobahn"
import * as Effect from "effect/Effect"
import { loadRouterConfig } from "../../src/router/config.js"
import { type RunningRouter, startRouter } from "../../src/router/index.js"
import { withPort } from "../../src/layers/EmbeddedRouter.js"
import type { SerializerName } from "../../src/wamp/types.js"
import { RawClient } from "../router/support.js"
import { openJs, seedConfig } from "./autobahn-js.js"
import { autobahnPythonMissing, PythonProcess, typed } from "./python.js"

const missing = autobahnPythonMissing()
if (missing !== undefined && process.env["CI"]) {
  throw new Error(`Autobahn|Python is required in CI (.ci/run installs python3-autobahn): ${missing}`)
}

/** The payload both sides send (client.py's SAMPLE_ARGS and SAMPLE_KWARGS). */
const SAMPLE_ARGS = [2 ** 40 + 5, 2 ** 53, -(2 ** 40), 7, 2.5, "text é ✓", Buffer.from([0, 1, 0xfe, 0xff]), [1, "a", 0.25], { k: 2 ** 33 }]
const SAMPLE_KWARGS = { big: 2 ** 52 + 1, f: -0.5, s: "x", b: Buffer.from([0xff, 0]) }
const ERROR_URI = "com.example.interop.error"

/** The JS callee with client.py's callee contract (echo, fail, progress, values). */
const registerJsCallee = async (session: autobahn.Session, prefix: string): Promise<void> => {
  await session.register(`${prefix}.echo`, (args, kwargs) => new autobahn.Result(args, kwargs))
  await session.register(`${prefix}.fail`, () => {
    throw new autobahn.Error(ERROR_URI, SAMPLE_ARGS, SAMPLE_KWARGS)
  })
  await session.register(`${prefix}.progress`, (args, _kwargs, details) => {
    const n = args![0] as number
    for (let i = 1; i <= n; i++) details!.progress!([i, 2 ** 40 + i], { step: 0.5 })
    return new autobahn.Result(["done"], { count: n })
  })
  await session.register(`${prefix}.values`, () => new autobahn.Result(SAMPLE_ARGS, SAMPLE_KWARGS))
}

let router: RunningRouter
let sequence = 0
const uniquePrefix = (what: string): string => `com.example.interop.${what}${++sequence}`

const python = (role: string, serializer: SerializerName, prefix: string, extra: ReadonlyArray<string> = []): PythonProcess =>
  PythonProcess.start(
    "client.py",
    [role, "--url", router.url, "--realm", "realm1", "--serializer", serializer, "--prefix", prefix, ...extra],
    `python ${role} (${serializer})`
  )

/** Stops the processes (SIGTERM) whatever the test's outcome. */
const running: Array<PythonProcess> = []
const started = (p: PythonProcess): PythonProcess => {
  running.push(p)
  return p
}

describe.skipIf(missing !== undefined)("Autobahn|Python through the router of the seed's Crossbar configuration", () => {
  beforeAll(async () => {
    const loaded = await Effect.runPromise(loadRouterConfig(seedConfig))
    router = await startRouter(withPort(loaded.router, 0))
  })

  afterAll(async () => {
    await Promise.all(running.map((p) => p.stop()))
    await router?.close()
  })

  /** What the Python caller reports after calling a callee with the echo/fail/progress/values contract. */
  const expectCallerReport = (report: Record<string, unknown>, pythonCallee: boolean): void => {
    const sample = typed([SAMPLE_ARGS, SAMPLE_KWARGS])
    expect(report["session"]).toEqual(["int", expect.stringMatching(/^\d+$/)])
    expect(report["echoed"]).toEqual(sample)
    expect(report["received_by_callee"]).toEqual(pythonCallee ? sample : null)
    expect(report["values"]).toEqual(sample)
    expect(report["failure"]).toEqual({ error: ["str", ERROR_URI], args: typed(SAMPLE_ARGS), kwargs: typed(SAMPLE_KWARGS) })
    expect(report["progress"]).toEqual(typed([1, 2, 3].map((i) => [[i, 2 ** 40 + i], { step: 0.5 }])))
    expect(report["final"]).toEqual(typed([["done"], { count: 3 }]))
    const meta = report["meta"] as Record<string, ReadonlyArray<unknown>>
    expect(meta["sessions"]![0]).toBe("list")
    for (const id of meta["sessions"]![1] as Array<unknown>) expect(id).toEqual(["int", expect.stringMatching(/^\d+$/)])
    expect(meta["me"]).toMatchObject(["dict", { session: report["session"], authid: ["str", expect.any(String)], authrole: ["str", "anonymous"] }])
    expect(meta["registration"]).toEqual(["int", expect.stringMatching(/^\d+$/)])
  }

  describe.each(["json", "msgpack", "cbor"] as const)("on %s", (serializer) => {
    it("a Python caller calls a Python callee: payloads, errors with args/kwargs and progressive results keep their types", async () => {
      const prefix = uniquePrefix("py2py")
      const callee = started(python("callee", serializer, prefix))
      await callee.waitFor((r) => r.event === "ready")
      const caller = started(python("caller", serializer, prefix))
      await caller.succeeds()
      expectCallerReport(await caller.waitFor((r) => r.event === "report"), true)
      await callee.stop()
    })

    it("a Python caller calls an autobahn-js callee", async () => {
      const prefix = uniquePrefix("js-callee")
      const js = await openJs(router.url, serializer)
      try {
        await registerJsCallee(js.session, prefix)
        const caller = started(python("caller", serializer, prefix))
        await caller.succeeds()
        expectCallerReport(await caller.waitFor((r) => r.event === "report"), false)
      } finally {
        await js.close()
      }
    })

    it("an autobahn-js caller calls a Python callee: numbers, strings and bytes arrive as such, errors intact", async () => {
      const prefix = uniquePrefix("js-caller")
      const callee = started(python("callee", serializer, prefix))
      await callee.waitFor((r) => r.event === "ready")
      const js = await openJs(router.url, serializer)
      try {
        const values = (await js.session.call(`${prefix}.values`)) as autobahn.Result
        expect(values.args).toEqual(SAMPLE_ARGS)
        expect(values.kwargs).toEqual(SAMPLE_KWARGS)
        const echoed = (await js.session.call(`${prefix}.echo`, SAMPLE_ARGS, SAMPLE_KWARGS)) as autobahn.Result
        expect(echoed.args).toEqual(SAMPLE_ARGS)
        // what the Python callee received, with Python's types
        expect(echoed.kwargs).toEqual({ ...SAMPLE_KWARGS, received: typed([SAMPLE_ARGS, SAMPLE_KWARGS]) })
        const failure = await js.session.call(`${prefix}.fail`, [1, "two"]).then(
          () => expect.unreachable("the call of .fail succeeded"),
          (error: autobahn.Error) => error
        )
        expect(failure).toMatchObject({ error: ERROR_URI, args: SAMPLE_ARGS, kwargs: SAMPLE_KWARGS })
      } finally {
        await js.close()
      }
      // progressive results from the Python callee to a raw caller on the project's codecs
      const raw = await RawClient.open(router.url, serializer)
      try {
        raw.send([1, "realm1", { roles: { caller: { features: { progressive_call_results: true } } } }])
        expect((await raw.next(10_000))[0]).toBe(2)
        raw.send([48, 1, { receive_progress: true }, `${prefix}.progress`, [3]])
        const results = [await raw.next(10_000), await raw.next(10_000), await raw.next(10_000), await raw.next(10_000)]
        expect(results).toEqual([
          [50, 1, { progress: true }, [1, 2 ** 40 + 1], { step: 0.5 }],
          [50, 1, { progress: true }, [2, 2 ** 40 + 2], { step: 0.5 }],
          [50, 1, { progress: true }, [3, 2 ** 40 + 3], { step: 0.5 }],
          [50, 1, {}, ["done"], { count: 3 }]
        ])
      } finally {
        raw.ws.close()
      }
      await callee.stop()
    })

    it("Python and autobahn-js publishers reach Python and autobahn-js subscribers; ids are ints", async () => {
      const prefix = uniquePrefix("pubsub")
      const subscriber = started(python("subscriber", serializer, prefix, ["--count", "2"]))
      await subscriber.waitFor((r) => r.event === "ready")
      const js = await openJs(router.url, serializer)
      try {
        const jsEvents: Array<[unknown, unknown]> = []
        let jsReceived: () => void = () => {}
        const jsGotOne = new Promise<void>((r) => (jsReceived = r))
        await js.session.subscribe(`${prefix}.topic`, (args, kwargs) => {
          jsEvents.push([args, kwargs])
          jsReceived()
        })

        const publisher = started(python("publisher", serializer, prefix))
        await publisher.succeeds()
        expect(await publisher.waitFor((r) => r.event === "published")).toMatchObject({ publication: ["int", expect.stringMatching(/^\d+$/)] })
        await jsGotOne
        expect(jsEvents).toEqual([[SAMPLE_ARGS, SAMPLE_KWARGS]])

        await js.session.publish(`${prefix}.topic`, SAMPLE_ARGS, SAMPLE_KWARGS, { acknowledge: true, exclude_me: true })
        await subscriber.succeeds()
        const events = subscriber.reports.filter((r) => r.event === "event")
        expect(events).toHaveLength(2)
        for (const event of events) {
          expect(event["publication"]).toEqual(["int", expect.stringMatching(/^\d+$/)])
          expect(event["payload"]).toEqual(typed([SAMPLE_ARGS, SAMPLE_KWARGS]))
        }
        // the meta event for the publisher's join carries its session id as an int
        const joins = subscriber.reports.filter((r) => r.event === "meta")
        expect(joins.length).toBeGreaterThanOrEqual(1)
        expect(joins[0]!["info"]).toMatchObject(["dict", { session: ["int", expect.any(String)], authrole: ["str", "anonymous"] }])
      } finally {
        await js.close()
      }
    })

    it("two Python callees share a registration (invoke roundrobin) and both get calls", async () => {
      const prefix = uniquePrefix("shared")
      const first = started(python("shared-callee", serializer, prefix, ["--name", "first"]))
      await first.waitFor((r) => r.event === "ready")
      const second = started(python("shared-callee", serializer, prefix, ["--name", "second"]))
      await second.waitFor((r) => r.event === "ready")
      const js = await openJs(router.url, serializer)
      try {
        const answers: Array<unknown> = []
        for (let i = 0; i < 4; i++) answers.push(await js.session.call(`${prefix}.shared`))
        expect(answers.sort()).toEqual(["first", "first", "second", "second"])
        expect(first.reports.filter((r) => r.event === "invoked")).toHaveLength(2)
        expect(second.reports.filter((r) => r.event === "invoked")).toHaveLength(2)
      } finally {
        await js.close()
      }
      await Promise.all([first.stop(), second.stop()])
    })
  })
})
