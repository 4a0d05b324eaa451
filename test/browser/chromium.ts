/**
 * Headless Debian Chromium driven by playwright-core, as scoped resources, and a page that
 * collects every console error and uncaught page error.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { existsSync, mkdirSync } from "node:fs"
import * as Path from "node:path"
import { type Browser, chromium, type Page } from "playwright-core"

export const chromiumPath = "/usr/bin/chromium"

/** Where screenshots are kept (git-ignored). */
export const artifactDir = Path.resolve(import.meta.dirname, "../../test-results/browser")

const launchArgs = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run"
]

/** Launches Chromium for the scope; it is closed with the scope. */
export const launch: Effect.Effect<Browser, Error, Scope.Scope> = Effect.acquireRelease(
  Effect.tryPromise({
    try: () => {
      if (!existsSync(chromiumPath)) {
        throw new Error(`${chromiumPath} is missing: install Debian's chromium (apt-get install -y chromium)`)
      }
      return chromium.launch({ executablePath: chromiumPath, args: launchArgs, timeout: 30_000 })
    },
    catch: (cause) => cause instanceof Error ? cause : new Error(String(cause))
  }),
  (browser) => Effect.promise(() => browser.close())
)

/** One browser shared by the tests of a file. */
export class Chromium extends Context.Service<Chromium, Browser>()("wampgres/test/browser/Chromium") {
  static readonly layer = Layer.effect(Chromium, launch)
}

/** A page with what it reported: console messages at level error, and uncaught exceptions. */
export interface WatchedPage {
  readonly page: Page
  readonly errors: Array<string>
  readonly console: Array<string>
}

/** Opens a fresh context and page for the scope, recording console output and page errors. */
export const openPage = (browser: Browser): Effect.Effect<WatchedPage, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const context = await browser.newContext({ viewport: { width: 1100, height: 520 } })
      const page = await context.newPage()
      const watched: WatchedPage = { page, errors: [], console: [] }
      page.on("console", (message) => {
        watched.console.push(`${message.type()}: ${message.text()}`)
        if (message.type() === "error") watched.errors.push(`console.error: ${message.text()}`)
      })
      page.on("pageerror", (error) => watched.errors.push(`pageerror: ${error.message}`))
      return watched
    }),
    ({ page }) => Effect.promise(() => page.context().close())
  )

/** Saves a full-page screenshot as `test-results/browser/<name>.png` and returns its path. */
export const screenshot = (page: Page, name: string): Effect.Effect<string> =>
  Effect.promise(async () => {
    mkdirSync(artifactDir, { recursive: true })
    const path = Path.join(artifactDir, `${name}.png`)
    await page.screenshot({ path, fullPage: true })
    return path
  })
