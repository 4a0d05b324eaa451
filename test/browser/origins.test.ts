/**
 * allowed_origins as a browser meets it: headless Chromium opens a WebSocket to the router from a
 * page of an allowed origin and from a page of another origin. The router's web transport serves
 * the page itself, on 127.0.0.1; the same page loaded as http://localhost is another origin.
 */
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import * as Path from "node:path"
import type { Page } from "playwright-core"
import { startRouter } from "../../src/router/index.js"
import type { PathService, RouterConfig, WebSocketOptions } from "../../src/router/types.js"
import { websocketOptions } from "../router/support.js"
import { Chromium, openPage } from "./chromium.js"

const websocket = (overrides: Partial<WebSocketOptions>): PathService => ({ type: "websocket", options: websocketOptions(overrides) })

/** A web transport on 127.0.0.1: the page on "/", "/ws" only for 127.0.0.1 pages, "/open" for every page. */
const config = (directory: string): RouterConfig => ({
  realms: [{ name: "realm1", roles: [{ name: "anonymous", permissions: [] }] }],
  transports: [{
    type: "web",
    endpoint: { port: 0, interface: "127.0.0.1" },
    paths: new Map<string, PathService>([
      ["/", { type: "static", directory }],
      ["/ws", websocket({ allowedOrigins: ["http://127.0.0.1:*"] })],
      ["/open", websocket({})]
    ])
  }]
})

const site = Effect.acquireRelease(
  Effect.promise(async () => {
    const directory = await mkdtemp(Path.join(tmpdir(), "wampgres-origins-"))
    await writeFile(Path.join(directory, "index.html"), "<!doctype html><title>origins</title><p>origins</p>")
    const router = await startRouter(config(directory))
    return { directory, router, port: router.listening[0]!.port }
  }),
  ({ directory, router }) => Effect.promise(() => router.close().then(() => rm(directory, { recursive: true, force: true })))
)

/** Opens a WebSocket from the page: "open", or "refused" when the upgrade fails. */
const connectFrom = (page: Page, url: string) =>
  Effect.promise(() =>
    page.evaluate((target) =>
      new Promise<string>((resolve) => {
        const ws = new WebSocket(target, ["wamp.2.json"])
        ws.onopen = () => {
          ws.close()
          resolve("open")
        }
        ws.onerror = () => resolve("refused")
      }), url)
  )

layer(Chromium.layer, { timeout: "60 seconds" })("allowed_origins in a browser", (it) => {
  it.effect("a page of an allowed origin connects; a page of another origin is refused", () =>
    Effect.gen(function*() {
      const browser = yield* Chromium
      const { port } = yield* site
      const own = yield* openPage(browser)
      yield* Effect.promise(() => own.page.goto(`http://127.0.0.1:${port}/`))
      assert.strictEqual(yield* connectFrom(own.page, `ws://127.0.0.1:${port}/ws`), "open")

      const other = yield* openPage(browser)
      yield* Effect.promise(() => other.page.goto(`http://localhost:${port}/`))
      assert.strictEqual(yield* Effect.promise(() => other.page.evaluate(() => location.origin)), `http://localhost:${port}`)
      assert.strictEqual(yield* connectFrom(other.page, `ws://127.0.0.1:${port}/ws`), "refused")
      // the same page may use a path without allowed_origins: the refusal is the option's doing
      assert.strictEqual(yield* connectFrom(other.page, `ws://127.0.0.1:${port}/open`), "open")
    }).pipe(Effect.scoped))
})
