/**
 * `web` transports: static directories mounted on paths (index.html for "/", content types, no
 * escape from the directory), a static path below "/" next to it, and a WebSocket path.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { request } from "node:http"
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import * as path from "node:path"
import type { RouterConfig } from "../../src/router/types.js"
import * as fc from "fast-check"
import { directoryRedirect } from "../../src/router/static.js"
import { openRealm, promise, RawClient, router, session, websocketOptions } from "./support.js"

interface Reply {
  readonly status: number
  readonly type: string | undefined
  readonly location: string | undefined
  readonly body: string
}

/** A GET (or other method) with the path sent exactly as written (fetch would normalize ".."). */
const get = (port: number, rawPath: string, method = "GET"): Promise<Reply> =>
  new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: rawPath, method }, (res) => {
      const chunks: Array<Buffer> = []
      res.on("data", (c: Buffer) => chunks.push(c))
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          type: res.headers["content-type"],
          location: res.headers["location"],
          body: Buffer.concat(chunks).toString("utf8")
        }))
    })
    req.on("error", reject)
    req.end()
  })

const site = Effect.acquireRelease(
  promise(async () => {
    const root = await mkdtemp(path.join(tmpdir(), "wampgres-web-"))
    const web = path.join(root, "web")
    const lib = path.join(root, "lib")
    await mkdir(path.join(web, "sub"), { recursive: true })
    await mkdir(path.join(web, "evil.example"))
    await writeFile(path.join(web, "evil.example", "index.html"), "<p>a directory named like a host</p>")
    await mkdir(lib)
    await writeFile(path.join(web, "index.html"), "<h1>home</h1>")
    await writeFile(path.join(web, "app.js"), "export const x = 1")
    await writeFile(path.join(web, "style.css"), "body {}")
    await writeFile(path.join(web, "sub", "index.html"), "<p>sub</p>")
    await writeFile(path.join(lib, "autobahn.min.js"), "/* autobahn */")
    await writeFile(path.join(root, "secret.txt"), "top secret")
    await symlink(path.join(root, "secret.txt"), path.join(web, "escape.txt"))
    return { root, web, lib }
  }),
  ({ root }) => Effect.promise(() => rm(root, { recursive: true, force: true }))
)

const webConfig = (web: string, lib: string): RouterConfig => ({
  realms: [openRealm],
  transports: [{
    type: "web",
    endpoint: { port: 0, interface: "127.0.0.1" },
    paths: new Map([
      ["/", { type: "static", directory: web }],
      ["/autobahn", { type: "static", directory: lib }],
      ["/ws", { type: "websocket", options: websocketOptions() }]
    ])
  }]
})

describe("web transport", () => {
  it.live("serves index.html for / and files with their content types", () =>
    Effect.gen(function*() {
      const { web, lib } = yield* site
      const r = yield* router(webConfig(web, lib))
      const port = r.listening[0]!.port
      const home = yield* promise(() => get(port, "/"))
      expect(home).toMatchObject({ status: 200, type: "text/html; charset=utf-8", body: "<h1>home</h1>" })
      expect(yield* promise(() => get(port, "/app.js"))).toMatchObject({ status: 200, type: "text/javascript; charset=utf-8" })
      expect(yield* promise(() => get(port, "/style.css"))).toMatchObject({ status: 200, type: "text/css; charset=utf-8" })
      expect(yield* promise(() => get(port, "/sub"))).toMatchObject({ status: 301, location: "./sub/" })
      expect(yield* promise(() => get(port, "/sub/"))).toMatchObject({ status: 200, body: "<p>sub</p>" })
      expect((yield* promise(() => get(port, "/missing.html"))).status).toBe(404)
      expect((yield* promise(() => get(port, "/app.js", "POST"))).status).toBe(405)
      const head = yield* promise(() => get(port, "/app.js", "HEAD"))
      expect(head).toMatchObject({ status: 200, body: "" })
    }))

  it.live("a static path mounted below / serves its own directory", () =>
    Effect.gen(function*() {
      const { web, lib } = yield* site
      const r = yield* router(webConfig(web, lib))
      const port = r.listening[0]!.port
      expect(yield* promise(() => get(port, "/autobahn/autobahn.min.js"))).toMatchObject({
        status: 200,
        type: "text/javascript; charset=utf-8",
        body: "/* autobahn */"
      })
      expect((yield* promise(() => get(port, "/autobahnx/autobahn.min.js"))).status).toBe(404)
    }))

  it.live("no path leaves the directory: .., encoded .., encoded slashes, symlinks", () =>
    Effect.gen(function*() {
      const { web, lib } = yield* site
      const r = yield* router(webConfig(web, lib))
      const port = r.listening[0]!.port
      for (const p of ["/../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt", "/sub/../../secret.txt", "/escape.txt", "/autobahn/../../secret.txt", "/..%5csecret.txt"]) {
        const reply = yield* promise(() => get(port, p))
        expect(reply.body, p).not.toContain("top secret")
        expect([400, 404], p).toContain(reply.status)
      }
    }))

  it.live("the websocket path speaks WAMP; other paths refuse the upgrade", () =>
    Effect.gen(function*() {
      const { web, lib } = yield* site
      const r = yield* router(webConfig(web, lib))
      expect(r.url).toBe(`ws://127.0.0.1:${r.listening[0]!.port}/ws`)
      const s = yield* session(r.url, { serializer: "cbor" })
      expect(s.session.isOpen).toBe(true)
      const refused = yield* Effect.flip(promise(() => RawClient.open(`ws://127.0.0.1:${r.listening[0]!.port}/`)))
      expect(refused.message).toContain("404")
      expect((yield* promise(() => get(r.listening[0]!.port, "/ws"))).status).toBe(426)
    }))

  it.live("a directory redirect stays on this host, whatever the path looks like (//host, /\\host, encoded)", () =>
    Effect.gen(function*() {
      const { web, lib } = yield* site
      const r = yield* router(webConfig(web, lib))
      const port = r.listening[0]!.port
      const origin = `http://127.0.0.1:${port}`
      const stays = (p: string, reply: Reply) => {
        if (reply.status < 300 || reply.status >= 400) return
        expect(reply.location, p).toBeDefined()
        // resolved as a browser resolves it against the requested URL
        expect(new URL(reply.location!, origin + p).host, `${p} -> ${reply.location}`).toBe(`127.0.0.1:${port}`)
      }
      for (const p of ["//evil.example", "///evil.example", "//evil.example/", "/\\evil.example", "/%2F%2Fevil.example", "/%5Cevil.example", "/evil.example", "//sub"]) {
        const reply = yield* promise(() => get(port, p))
        stays(p, reply)
      }
      // "//evil.example" names the directory "evil.example" below the root: redirected to itself plus "/"
      const redirected = yield* promise(() => get(port, "//evil.example"))
      expect(redirected).toMatchObject({ status: 301, location: "./evil.example/" })
      expect(new URL(redirected.location!, `${origin}//evil.example`).href).toBe(`${origin}//evil.example/`)

      const segment = fc.constantFrom("", "evil.example", "sub", "..", ".", "%2f", "%2F%2F", "%5c", "http:", "x:y", "%00", "@evil.example", "evil.example:80")
      yield* promise(() =>
        fc.assert(
          fc.asyncProperty(fc.array(segment, { minLength: 1, maxLength: 5 }), async (segments) => {
            const p = "/" + segments.join("/")
            stays(p, await get(port, p))
          }),
          { numRuns: 150 }
        )
      )
    }), 60_000)

  it("directoryRedirect: a relative path on the same host and a clean header value, for any request path", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (tail) => {
        const location = directoryRedirect("/" + tail)
        expect(location).toMatch(/^\.\/[\x21-\x7e]*\/$/)
        expect(new URL(location, "http://router.test/a/b").host).toBe("router.test")
      }),
      { numRuns: 2000 }
    )
  })
})
