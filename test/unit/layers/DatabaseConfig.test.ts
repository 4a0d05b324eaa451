/**
 * How a database target is shown in logs and start-up errors: where it is, never its password.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Redacted from "effect/Redacted"
import { describeTarget } from "../../../src/layers/DatabaseConfig.js"

const fields = (host: string) =>
  ({ _tag: "Fields", host, port: 5433, database: "app", username: "svc", password: Redacted.make("secret") }) as const

describe("describeTarget", () => {
  it("shows a TCP server as host:port", () => {
    assert.strictEqual(describeTarget(fields("db.internal")), "svc@db.internal:5433/app")
  })

  it("shows a socket directory as the socket's path", () => {
    assert.strictEqual(describeTarget(fields("/var/run/postgresql")), "svc@/var/run/postgresql/.s.PGSQL.5433/app")
  })

  it("shows a URL without its password", () => {
    const shown = describeTarget({ _tag: "Url", url: Redacted.make("postgres://svc:secret@db.internal:5433/app") })
    assert.strictEqual(shown, "svc@db.internal:5433/app")
    assert.notInclude(shown, "secret")
  })
})
