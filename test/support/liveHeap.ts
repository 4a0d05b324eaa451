/**
 * The heap that is still reachable, not what the collector has not yet had reason to free:
 * `heapUsed` right after a full collection. The collector is reached through V8's own flag, set at
 * run time, so tests need no `--expose-gc` on the command line.
 */
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"

setFlagsFromString("--expose-gc")
const collectGarbage = runInNewContext("gc") as () => void

/** Bytes of live heap: runs a full, synchronous garbage collection first (tens of milliseconds). */
export const liveHeapBytes = (): number => {
  collectGarbage()
  return process.memoryUsage().heapUsed
}
