/**
 * Bundles the pages' scripts (web/src/*.ts: the typed client, the contracts and Effect) into
 * web/dist/ with esbuild, for the browser. `npm run build:web`; `npm start` and the browser tests
 * run it. autobahn itself is not bundled: the pages load it from /autobahn/autobahn.min.js.
 */
import * as esbuild from "esbuild"
import * as Path from "node:path"

const webDir = import.meta.dirname

export const pages = ["catalog", "ledger"] as const

/** Builds every page's bundle into web/dist/ (minified, with source maps). */
export const buildWeb = async (): Promise<ReadonlyArray<string>> => {
  const result = await esbuild.build({
    entryPoints: pages.map((page) => Path.join(webDir, "src", `${page}.ts`)),
    outdir: Path.join(webDir, "dist"),
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: true,
    sourcemap: true,
    metafile: true,
    logLevel: "warning"
  })
  return Object.keys(result.metafile.outputs)
}

// Quiet on success: `npm start` runs it before the service, whose output users read.
if (process.argv[1] === import.meta.filename) await buildWeb()
