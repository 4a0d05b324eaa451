/**
 * The browser page in headless Chromium, loaded from the embedded router (project configuration,
 * free port) with the now component registered on a real WAMP session and a real PostgreSQL
 * database (test/support): it shows the database time from all four procedures, reports a failure
 * in its row, calls again on demand, and follows the connection through a router restart.
 */
import { assert, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import type { Page } from "playwright-core"
import { NowGroup } from "../../src/procedures/now/index.js"
import { Router } from "../../src/router/index.js"
import { componentLayer, TestDatabase, TestRouter } from "../support/index.js"
import { Chromium, openPage, screenshot } from "./chromium.js"

const procedures = NowGroup.procedures.map((procedure) => procedure.uri)

interface Row {
  readonly procedure: string
  readonly status: string
  readonly result: string
}

const rowsOf = (page: Page): Effect.Effect<ReadonlyArray<Row>> =>
  Effect.promise(() =>
    page.$$eval("#procedure-rows tr", (trs) =>
      trs.map((tr) => ({
        procedure: (tr as HTMLElement).dataset.procedure ?? "",
        status: (tr as HTMLElement).dataset.status ?? "",
        result: tr.querySelector(".result")?.textContent ?? ""
      })))
  )

/** Waits until every row has its answer (ok or error), and returns the rows. */
const settledRows = (page: Page, timeout = 10_000): Effect.Effect<ReadonlyArray<Row>> =>
  Effect.andThen(
    Effect.promise(() =>
      page.waitForFunction(() => {
        const rows = Array.from(document.querySelectorAll<HTMLElement>("#procedure-rows tr"))
        return rows.length > 0 && rows.every((tr) => tr.dataset.status === "ok" || tr.dataset.status === "error")
      }, undefined, { timeout })
    ),
    rowsOf(page)
  )

const waitForConnection = (page: Page, state: string, timeout = 15_000): Effect.Effect<void> =>
  Effect.asVoid(Effect.promise(() =>
    page.waitForFunction(
      (expected) => document.getElementById("connection-state")?.dataset.state === expected,
      state,
      { timeout }
    )
  ))

/** A timestamp as PostgreSQL renders `now()::text` ("2026-11-25 19:40:00.123456+00"), close to now. */
const assertRecentTimestamp = (text: string, label: string) => {
  assert.match(text, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?[+-]\d\d(:\d\d)?$/, `${label}: "${text}"`)
  const parsed = Date.parse(text.replace(" ", "T").replace(/([+-]\d\d)$/, "$1:00"))
  assert.isBelow(Math.abs(Date.now() - parsed), 5 * 60_000, `${label}: ${text} is not the current time`)
}

/**
 * The router (on `port`, 0 = free) with the now component, in a scope of its own so a test can stop
 * it; it is stopped with the test's scope anyway.
 */
const serve = (port = 0) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
    const context = yield* Layer.buildWithScope(
      componentLayer(NowGroup.layer).pipe(Layer.provideMerge(TestRouter.layer({ port }))),
      scope
    )
    const router = Context.get(context, Router)
    const httpPort = router.listening[0]?.port ?? 0
    return { port: httpPort, baseUrl: `http://127.0.0.1:${httpPort}`, stop: Scope.close(scope, Exit.void) }
  })

const goto = (page: Page, url: string) => Effect.promise(() => page.goto(url, { waitUntil: "load" }))

layer(Layer.merge(TestDatabase.layer, Chromium.layer), { excludeTestServices: true, timeout: 60_000 })(
  "browser page",
  (it) => {
    it.effect("shows four database timestamps and logs no error", () =>
      Effect.gen(function*() {
        const server = yield* serve()
        const watched = yield* openPage(yield* Chromium)
        yield* goto(watched.page, `${server.baseUrl}/`)
        const rows = yield* settledRows(watched.page)
        yield* screenshot(watched.page, "now-v1-v4")

        assert.deepStrictEqual(rows.map((row) => row.procedure), [
          "com.example.now.v1",
          "com.example.now.v2",
          "com.example.now.v3",
          "com.example.now.v4"
        ])
        for (const row of rows) {
          assert.strictEqual(row.status, "ok", `${row.procedure}: ${row.result}`)
          assertRecentTimestamp(row.result, row.procedure)
        }
        yield* waitForConnection(watched.page, "connected")
        assert.deepStrictEqual(watched.errors, [])
        for (const procedure of procedures) {
          assert.isTrue(watched.console.some((line) => line.startsWith(`log: result ${procedure}`)), procedure)
        }
        // AutobahnJS came from the router that served the page.
        const autobahnSrc = yield* Effect.promise(() =>
          watched.page.$eval("script[src*=autobahn]", (script) => (script as HTMLScriptElement).src)
        )
        assert.strictEqual(autobahnSrc, `${server.baseUrl}/autobahn/autobahn.min.js`)
      }))

    it.effect("shows an error row for a procedure that fails, next to one that succeeds", () =>
      Effect.gen(function*() {
        const server = yield* serve()
        const watched = yield* openPage(yield* Chromium)
        yield* goto(watched.page, `${server.baseUrl}/?procedures=com.example.now.v1,com.example.nobody.home`)
        const rows = yield* settledRows(watched.page)
        yield* screenshot(watched.page, "error-row")

        const [ok, failed] = rows
        assert.strictEqual(ok?.status, "ok")
        assertRecentTimestamp(ok?.result ?? "", "com.example.now.v1")
        assert.strictEqual(failed?.procedure, "com.example.nobody.home")
        assert.strictEqual(failed?.status, "error")
        assert.match(failed?.result ?? "", /^wamp\.error\.no_such_procedure/)
        assert.isTrue(
          watched.errors.some((line) => line.includes("com.example.nobody.home")),
          `the failure is logged as an error: ${watched.errors.join("; ")}`
        )
      }))

    it.effect("calls all procedures again when the button is pressed", () =>
      Effect.gen(function*() {
        const server = yield* serve()
        const watched = yield* openPage(yield* Chromium)
        yield* goto(watched.page, `${server.baseUrl}/`)
        const first = yield* settledRows(watched.page)
        yield* Effect.promise(() => watched.page.click("#call-again"))
        // Each row is called again: new database times (microsecond resolution) replace the old ones.
        yield* Effect.promise(() =>
          watched.page.waitForFunction(
            (before) =>
              Array.from(document.querySelectorAll<HTMLElement>("#procedure-rows tr")).every((tr, i) =>
                tr.dataset.status === "ok" && tr.querySelector(".result")?.textContent !== before[i]
              ),
            first.map((row) => row.result),
            { timeout: 10_000 }
          )
        )
        for (const row of yield* rowsOf(watched.page)) assertRecentTimestamp(row.result, row.procedure)
        assert.deepStrictEqual(watched.errors, [])
      }))

    it.effect("shows reconnecting while the router is down, then reconnects and calls again", () =>
      Effect.gen(function*() {
        const server = yield* serve()
        const watched = yield* openPage(yield* Chromium)
        yield* goto(watched.page, `${server.baseUrl}/`)
        const before = yield* settledRows(watched.page)
        yield* waitForConnection(watched.page, "connected")

        yield* server.stop
        yield* waitForConnection(watched.page, "reconnecting")
        yield* screenshot(watched.page, "reconnecting")
        assert.isTrue(yield* Effect.promise(() => watched.page.isDisabled("#call-again")))
        // Restart once the page's next retry is a while off, so the component (retrying every
        // 0.5 s) has registered again before the page calls.
        yield* Effect.promise(() =>
          watched.page.waitForFunction(
            () => Number(document.getElementById("connection-state")?.dataset.retryDelay ?? 0) >= 1.5,
            undefined,
            { timeout: 20_000 }
          )
        )
        yield* serve(server.port)

        yield* waitForConnection(watched.page, "connected", 15_000)
        const after = yield* Effect.promise(() =>
          watched.page.waitForFunction(
            (old) =>
              Array.from(document.querySelectorAll<HTMLElement>("#procedure-rows tr")).every((tr, i) =>
                tr.dataset.status === "ok" && tr.querySelector(".result")?.textContent !== old[i]
              ),
            before.map((row) => row.result),
            { timeout: 10_000 }
          )
        ).pipe(Effect.andThen(rowsOf(watched.page)))
        for (const row of after) assertRecentTimestamp(row.result, row.procedure)
      }), { timeout: 60_000 })
  }
)
