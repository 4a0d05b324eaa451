import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"

/**
 * The fault suite: `npm run test:faults` (also run by `.ci/run`). The service as a child process
 * under concurrent load while faults are injected (SIGKILL, cut router connections, a router
 * restart, a stalling TCP path to PostgreSQL); each case prints what it did and what it verified.
 * One file at a time: the cases load the machine.
 */
export default defineConfig({
  root: fileURLToPath(new URL("../..", import.meta.url)),
  test: {
    include: ["test/faults/**/*.fault.ts"],
    globalSetup: ["test/support/globalSetup.ts"],
    testTimeout: 180_000,
    hookTimeout: 60_000,
    fileParallelism: false
  }
})
