/**
 * Static files for `web` transports: a directory mounted on a URL path, index.html for
 * directories, content types by extension, no way out of the directory (`..`, encoded
 * separators, symlinks pointing elsewhere), and no redirect to another host.
 */
import { createReadStream } from "node:fs"
import { realpath, stat } from "node:fs/promises"
import type { IncomingMessage, ServerResponse } from "node:http"
import * as path from "node:path"

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".htm": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".gif": "image/gif",
  ".ico": "image/x-icon",
  ".webp": "image/webp",
  ".wasm": "application/wasm",
  ".woff": "font/woff",
  ".woff2": "font/woff2"
}

export const contentType = (file: string): string =>
  CONTENT_TYPES[path.extname(file).toLowerCase()] ?? "application/octet-stream"

const reply = (res: ServerResponse, status: number, text: string): void => {
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "content-length": Buffer.byteLength(text) })
  res.end(text)
}

/**
 * Where a directory requested without its trailing "/" is redirected: "./<last segment>/", a
 * relative path that resolves to the same path plus "/" on the same host. Never the path itself:
 * "//evil.example" + "/" would be a protocol-relative URL to another host.
 */
export const directoryRedirect = (fullPath: string): string => {
  const segment = fullPath.slice(fullPath.lastIndexOf("/") + 1)
  // anything but printable ASCII is percent-encoded: a header value must be Latin-1 and clean
  return `./${segment.replace(/[^\x21-\x7e]/gu, (c) => encodeURIComponent(c))}/`
}

/** Serves files below one directory. */
export class StaticDirectory {
  #root: Promise<string> | undefined

  constructor(readonly directory: string) {}

  /** The directory with symlinks resolved, computed once. */
  private root(): Promise<string> {
    return (this.#root ??= realpath(this.directory).catch(() => path.resolve(this.directory)))
  }

  /** `subPath` is the request path below the mount point, still URL-encoded, starting with "/" or empty. */
  async serve(req: IncomingMessage, res: ServerResponse, subPath: string, fullPath: string): Promise<void> {
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("allow", "GET, HEAD")
      return reply(res, 405, "method not allowed")
    }
    let decoded: string
    try {
      decoded = decodeURIComponent(subPath)
    } catch {
      return reply(res, 400, "bad request")
    }
    if (decoded.includes("\0") || decoded.includes("\\")) return reply(res, 400, "bad request")
    const root = await this.root()
    // normalizing against "/" removes every ".." before joining
    let file = path.join(root, path.posix.normalize("/" + decoded))
    let info
    try {
      file = await realpath(file)
      if (file !== root && !file.startsWith(root + path.sep)) return reply(res, 404, "not found")
      info = await stat(file)
      if (info.isDirectory()) {
        if (!fullPath.endsWith("/")) {
          res.writeHead(301, { location: directoryRedirect(fullPath) })
          return void res.end()
        }
        file = path.join(file, "index.html")
        info = await stat(file)
      }
    } catch {
      return reply(res, 404, "not found")
    }
    if (!info.isFile()) return reply(res, 404, "not found")
    res.writeHead(200, { "content-type": contentType(file), "content-length": info.size })
    if (req.method === "HEAD") return void res.end()
    createReadStream(file)
      .on("error", () => res.destroy())
      .pipe(res)
  }
}
