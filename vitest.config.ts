import { defineConfig } from "vitest/config"

/**
 * Two projects, run together by `npm test` (each file once):
 * - unit: pure code and procedures on the mocked PgClient; no PostgreSQL, no router, seconds
 *   (`npm run test:unit`, or `npx vitest run test/unit`);
 * - integration: everything else, with ONE embedded PostgreSQL for the whole run (globalSetup);
 *   test files get their own databases (test/support).
 */
const unit = ["test/unit/**/*.test.ts", "test/wamp/**/*.test.ts"]

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    projects: [
      { extends: true, test: { name: "unit", include: unit } },
      {
        extends: true,
        test: {
          name: "integration",
          include: ["test/**/*.test.ts"],
          exclude: unit,
          globalSetup: ["test/support/globalSetup.ts"]
        }
      }
    ]
  }
})
