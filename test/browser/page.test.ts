/**
 * The browser page, loaded from the embedded router of a running `src/main.ts`, in headless
 * Chromium: it shows the database time from all four procedures, reports failures in their
 * row, calls again on demand, and follows the connection through a router restart.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"
import type { Page } from "playwright-core"
import { type App, freePort, startApp } from "./app.js"
import { launch, openPage, screenshot } from "./chromium.js"
import { appEnvironment } from "./environment.js"

const procedures = [1, 2, 3, 4].map((v) => `com.example.now.v${v}`)

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

/** Waits until no row is pending or calling, and returns the rows. */
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

const connectionState = (page: Page, state: string, timeout = 15_000): Effect.Effect<void> =>
  Effect.asVoid(Effect.promise(() =>
    page.waitForFunction(
      (expected) => document.getElementById("connection-state")?.dataset.state === expected,
      state,
      { timeout }
    )
  ))

/** A database timestamp as the procedures return it, as a Date, checked to be close to now. */
const assertRecentTimestamp = (text: string, label: string) => {
  const parsed = Date.parse(text.includes("T") ? text : text.replace(" ", "T"))
  assert.isFalse(Number.isNaN(parsed), `${label}: "${text}" is not a timestamp`)
  assert.isBelow(Math.abs(Date.now() - parsed), 5 * 60_000, `${label}: ${text} is not the current time`)
}

/** The app and a browser for one test; both end with the test's scope. */
const setup = Effect.gen(function*() {
  const port = yield* freePort
  const env = yield* appEnvironment
  const app = yield* startApp({ port, env, procedures })
  const browser = yield* launch
  return { app, browser, env }
})

const goto = (page: Page, app: App, query = "") =>
  Effect.promise(() => page.goto(`${app.baseUrl}/${query}`, { waitUntil: "load" }))

describe("browser page", () => {
  it.live("shows four database timestamps and logs no error", () =>
    Effect.gen(function*() {
      const { app, browser } = yield* setup
      const watched = yield* openPage(browser)
      yield* goto(watched.page, app)
      const rows = yield* settledRows(watched.page)
      yield* screenshot(watched.page, "now-v1-v4")

      assert.deepStrictEqual(rows.map((row) => row.procedure), procedures)
      for (const row of rows) {
        assert.strictEqual(row.status, "ok", `${row.procedure}: ${row.result}`)
        assertRecentTimestamp(row.result, row.procedure)
      }
      yield* connectionState(watched.page, "connected")
      assert.deepStrictEqual(watched.errors, [])
      // Each result is also in the console.
      for (const procedure of procedures) {
        assert.isTrue(watched.console.some((line) => line.startsWith(`log: result ${procedure}`)), procedure)
      }
      // AutobahnJS came from the router, not from elsewhere.
      const autobahnSrc = yield* Effect.promise(() =>
        watched.page.$eval("script[src*=autobahn]", (script) => (script as HTMLScriptElement).src)
      )
      assert.strictEqual(autobahnSrc, `${app.baseUrl}/autobahn/autobahn.min.js`)
    }), { timeout: 120_000 })

  it.live("shows an error row for a procedure that fails, next to the ones that succeed", () =>
    Effect.gen(function*() {
      const { app, browser } = yield* setup
      const watched = yield* openPage(browser)
      yield* goto(watched.page, app, "?procedures=com.example.now.v1,com.example.nobody.home")
      const rows = yield* settledRows(watched.page)
      yield* screenshot(watched.page, "error-row")

      const [ok, failed] = rows
      assert.strictEqual(ok?.status, "ok")
      assertRecentTimestamp(ok?.result ?? "", "com.example.now.v1")
      assert.strictEqual(failed?.procedure, "com.example.nobody.home")
      assert.strictEqual(failed?.status, "error")
      assert.include(failed?.result, "wamp.error.no_such_procedure")
      assert.isTrue(
        watched.errors.some((line) => line.includes("com.example.nobody.home")),
        `the failure is logged as an error: ${watched.errors.join("; ")}`
      )
    }), { timeout: 120_000 })

  it.live("calls all procedures again when the button is pressed", () =>
    Effect.gen(function*() {
      const { app, browser } = yield* setup
      const watched = yield* openPage(browser)
      yield* goto(watched.page, app)
      const first = yield* settledRows(watched.page)
      yield* Effect.sleep("20 millis") // the database clock moves on
      yield* Effect.promise(() => watched.page.click("#call-again"))
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
    }), { timeout: 120_000 })

  it.live("shows reconnecting while the router is down and calls again once it is back", () =>
    Effect.gen(function*() {
      const { app, browser, env } = yield* setup
      const watched = yield* openPage(browser)
      yield* goto(watched.page, app)
      yield* settledRows(watched.page)
      yield* connectionState(watched.page, "connected")

      yield* app.stop
      yield* connectionState(watched.page, "reconnecting")
      yield* screenshot(watched.page, "reconnecting")
      assert.isTrue(yield* Effect.promise(() => watched.page.isDisabled("#call-again")))

      // The same port again: the page's autobahn reconnect finds the new router.
      const scope = yield* Scope.Scope
      const restarted = yield* startApp({ port: app.port, env, procedures }).pipe(Scope.provide(scope))
      yield* connectionState(watched.page, "connected", 30_000)
      const rows = yield* settledRows(watched.page)
      for (const row of rows) {
        assert.strictEqual(row.status, "ok", `${row.procedure}: ${row.result}`)
        assertRecentTimestamp(row.result, row.procedure)
      }
      assert.strictEqual(restarted.port, app.port)
    }), { timeout: 180_000 })
})
