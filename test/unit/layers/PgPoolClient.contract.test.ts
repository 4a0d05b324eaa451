/**
 * PgPoolClient assembles a pooled client like `@effect/sql-pg`'s `PgClient.make`, only to add a
 * connection hook the library does not offer. These tests pin what it copies: they read the
 * installed library's source and fail when its assembly changes (then PgPoolClient follows), and
 * check that both clients behave alike where no database is needed.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import * as Path from "node:path"
import * as PgPoolClient from "../../../src/layers/PgPoolClient.js"

const librarySource = readFileSync(
  Path.join(Path.dirname(createRequire(import.meta.url).resolve("@effect/sql-pg/PgClient")), "../src/PgClient.ts"),
  "utf8"
)
const ownSource = readFileSync(Path.resolve(import.meta.dirname, "../../../src/layers/PgPoolClient.ts"), "utf8")

/** The keys of the object literal passed to `Client.make({ ... })`. */
const clientMakeKeys = (source: string): Array<string> => {
  const start = source.indexOf("Client.make({")
  const body = source.slice(start, source.indexOf("\n    }", start))
  return [...body.matchAll(/^ {6}([a-zA-Z]+)\b/gm)].map((match) => match[1]!).sort()
}

/** Method names of the `ConnectionImpl` class. */
const connectionMethods = (source: string): Array<string> => {
  const start = source.indexOf("class ConnectionImpl")
  const body = source.slice(start, source.indexOf("\n}\n", start))
  return [...body.matchAll(/^ {2}(execute[A-Za-z]*)\(/gm)].map((match) => match[1]!).sort()
}

describe("PgPoolClient follows @effect/sql-pg's PgClient.make", () => {
  it("passes SqlClient.make the same options", () => {
    assert.deepStrictEqual(clientMakeKeys(librarySource), [
      "acquirer",
      "borrower",
      "commit",
      "compiler",
      "prepareTransactionControls",
      "releaseSavepoint",
      "spanAttributes",
      "transactionAcquirer",
      "transformRows"
    ])
    for (const key of clientMakeKeys(librarySource)) assert.include(ownSource, `${key}`, key)
  })

  it("adapts PgConnection with the same Connection methods", () => {
    assert.deepStrictEqual(connectionMethods(ownSource), connectionMethods(librarySource))
  })

  it("commits as the library does (a COMMIT answered ROLLBACK fails)", () => {
    assert.match(librarySource, /result\.command === "ROLLBACK"/)
  })

  it.effect("notify rejects a channel name over 63 bytes like the library, before connecting", () =>
    Effect.gen(function*() {
      const config = { url: Redacted.make("postgres://nobody@127.0.0.1:1/none"), minConnections: 0, maxConnections: 1 }
      const library = yield* PgClient.make(config)
      const own = yield* PgPoolClient.make(config, () => Effect.void)
      const channel = "c".repeat(64)
      const expected = yield* Effect.flip(library.notify(channel, ""))
      const actual = yield* Effect.flip(own.notify(channel, ""))
      assert.strictEqual(actual.message, expected.message)
      assert.strictEqual(actual.reason._tag, expected.reason._tag)
    }).pipe(Effect.scoped, Effect.provide(Reactivity.layer)))
})
