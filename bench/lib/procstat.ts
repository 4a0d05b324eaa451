/**
 * Per-process CPU time and peak memory from Linux's /proc, read by the orchestrator for each
 * role (router, components, load client) so that no child has to measure itself.
 */
import { execFileSync } from "node:child_process"
import { readdirSync, readFileSync } from "node:fs"

let ticksPerSecond: number | undefined

/** USER_HZ, the unit of utime/stime in /proc/<pid>/stat (almost always 100). */
export const clockTicks = (): number => {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100
    } catch {
      ticksPerSecond = 100
    }
  }
  return ticksPerSecond
}

/** User + system CPU seconds of one process (all its threads), or undefined once it is gone. */
export const cpuSeconds = (pid: number): number | undefined => {
  let stat: string
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8")
  } catch {
    return undefined
  }
  // Fields after the command name, which is in parentheses and may contain spaces.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  const utime = Number(fields[11])
  const stime = Number(fields[12])
  return (utime + stime) / clockTicks()
}

/** Reads `VmHWM` (peak resident set) and `VmRSS` in bytes. */
export const memory = (pid: number): { readonly peakRss: number; readonly rss: number } | undefined => {
  let status: string
  try {
    status = readFileSync(`/proc/${pid}/status`, "utf8")
  } catch {
    return undefined
  }
  const kb = (key: string): number => {
    const match = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)
    return match === null ? Number.NaN : Number(match[1]) * 1024
  }
  return { peakRss: kb("VmHWM"), rss: kb("VmRSS") }
}

const statFields = (pid: number | string): Array<string> | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  } catch {
    return undefined
  }
}

/**
 * CPU seconds of a process tree one level deep, e.g. PostgreSQL's postmaster and its backends:
 * the root's own time and that of children it has reaped (cutime + cstime), plus its live
 * children's time.
 */
export const treeCpuSeconds = (rootPid: number): number | undefined => {
  const root = statFields(rootPid)
  if (root === undefined) return undefined
  let ticks = Number(root[11]) + Number(root[12]) + Number(root[13]) + Number(root[14])
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    const fields = statFields(entry)
    if (fields !== undefined && Number(fields[1]) === rootPid) ticks += Number(fields[11]) + Number(fields[12])
  }
  return ticks / clockTicks()
}
