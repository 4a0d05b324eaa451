/**
 * What a person reads when start-up fails (src/StartupFailure.ts): what is wrong and what to do,
 * with the variable that fixes it.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import { DatabaseUnavailable } from "../../src/layers/Database.js"
import { EmbeddedPostgresError } from "../../src/layers/EmbeddedPostgres.js"
import { RouterConfigError } from "../../src/router/config.js"
import { RouterError } from "../../src/router/index.js"
import { describeError, describeStartupFailure } from "../../src/StartupFailure.js"

describe("describeStartupFailure", () => {
  it("a taken port names the port and ROUTER_PORT", () => {
    const text = describeError(new RouterError({ message: "cannot start the router: listen EADDRINUSE: address already in use :::8080" }))
    assert.deepStrictEqual(text.split("\n"), [
      "The embedded router cannot listen on port 8080: it is in use by another program.",
      "Stop that program, or choose another port with ROUTER_PORT=<port> (0 = any free port)."
    ])
  })

  it("a privileged port says so and names ROUTER_PORT", () => {
    const text = describeError(new RouterError({ message: "cannot start the router: listen EACCES: permission denied 0.0.0.0:80" }))
    assert.match(text, /port 80: ports below 1024 need privileges\.\nChoose another port with ROUTER_PORT/)
  })

  it("router configuration, database: the message, then what to change", () => {
    assert.match(describeError(new RouterConfigError({ message: "x.json: invalid JSON" })), /^The router configuration is unusable: x\.json: invalid JSON\n.*ROUTER_CONFIG/)
    assert.match(describeError(new DatabaseUnavailable({ message: "Database a@h:1/d not reachable within 1s: refused" })), /^Database a@h:1\/d.*\nCheck DATABASE_URL/)
  })

  it("an embedded PostgreSQL failure: its first line and the server log's last line, not the whole log", () => {
    const text = describeError(new EmbeddedPostgresError({
      message: "Embedded PostgreSQL start on port 5 failed in /d\n--- server log ---\nline one\nFATAL: could not bind\n"
    }))
    assert.deepStrictEqual(text.split("\n").length, 2)
    assert.match(text, /^Embedded PostgreSQL start on port 5 failed in \/d \(server log: FATAL: could not bind\)\nWAMPGRES_DATA_DIR/)
  })

  it("a defect is called a bug, in two lines, without a stack", () => {
    const text = describeStartupFailure(Cause.die(new TypeError("x is not a function")))
    assert.deepStrictEqual(text.split("\n"), [
      "wampgres stopped on an unexpected error (a bug): x is not a function",
      "LOG_LEVEL=Debug shows the details."
    ])
  })
})
