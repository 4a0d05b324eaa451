import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"

// The benchmark's own tests: `npx vitest run --config bench/vitest.config.ts`.
export default defineConfig({
  root: fileURLToPath(new URL("..", import.meta.url)),
  test: {
    include: ["bench/test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000
  }
})
