/**
 * Contracts apart from handlers: a contract module reaches (through all its imports) no SQL, no
 * Node built-in, no autobahn and no server code, so a browser or another service can import it;
 * handler and typed client are both checked against the same contract at compile time; a
 * contract's transaction policy (with retries) is applied around the handler.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as Schema from "effect/Schema"
import * as SqlClient from "effect/sql/SqlClient"
import * as Stream from "effect/Stream"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import * as Path from "node:path"
import * as Client from "../../../src/procedures/Client.js"
import * as Contract from "../../../src/procedures/Contract.js"
import { ErrorUris, invoke, request } from "../../../src/procedures/invoke.js"
import * as Ledger from "../../../src/procedures/ledger/contract.js"
import * as Procedure from "../../../src/procedures/Procedure.js"
import * as Progressive from "../../../src/procedures/Progressive.js"
import * as PgClientMock from "../../../src/testing/PgClientMock.js"

const src = Path.resolve(import.meta.dirname, "../../../src")

/** Every module a source file reaches through its imports: project files by path, packages by name. */
const reach = (entry: string): { files: Set<string>; packages: Set<string> } => {
  const files = new Set<string>()
  const packages = new Set<string>()
  const visit = (file: string) => {
    if (files.has(file)) return
    files.add(file)
    const text = readFileSync(file, "utf8")
    for (const match of text.matchAll(/(?:from|import)\s*\(?\s*"([^"]+)"/g)) {
      const target = match[1]!
      if (target.startsWith(".")) {
        const resolved = Path.resolve(Path.dirname(file), target).replace(/\.js$/, ".ts")
        if (existsSync(resolved)) visit(resolved)
      } else {
        packages.add(target)
      }
    }
  }
  visit(entry)
  return { files, packages }
}

const contractModules = [
  Path.join(src, "procedures/Contract.ts"),
  ...readdirSync(Path.join(src, "procedures"), { recursive: true, encoding: "utf8" })
    .filter((file) => file.endsWith("contract.ts"))
    .map((file) => Path.join(src, "procedures", file))
]

describe("contract modules", () => {
  it("there is one per procedure group", () => {
    expect(contractModules.map((file) => Path.relative(src, file)).sort()).toEqual([
      "procedures/Contract.ts",
      "procedures/ledger/contract.ts",
      "procedures/now/contract.ts"
    ])
  })

  it.each(contractModules.map((file) => ({ file: Path.relative(src, file), path: file })))(
    "$file reaches no SQL, Node built-in, autobahn or server code",
    ({ path }) => {
      const { files, packages } = reach(path)
      const server = [...files].map((file) => Path.relative(src, file)).filter((file) =>
        !file.startsWith("procedures" + Path.sep) && !file.startsWith("wamp" + Path.sep) &&
        file !== Path.join("layers", "wamp", "Protocol.ts")
      )
      expect(server).toEqual([])
      expect([...packages].filter((name) => !name.startsWith("effect/") || name.startsWith("effect/sql"))).toEqual([])
    }
  )
})

describe("a contract and its handler", () => {
  const add = Contract.make("com.example.test.add", {
    args: { a: Schema.Int, b: Schema.Int },
    positional: ["a", "b"],
    result: Schema.Int
  })

  it("type-checks the handler and the client against the contract", () => {
    const implemented = Procedure.implement(add, ({ a, b }) => Effect.succeed(a + b))
    // @ts-expect-error the result must be the contract's (a number, not a string)
    Procedure.implement(add, ({ a, b }) => Effect.succeed(`${a + b}`))
    // @ts-expect-error the input is the contract's (no field `c`)
    Procedure.implement(add, ({ c }) => Effect.succeed(c))
    // @ts-expect-error the handler may fail only with the contract's errors (or an SqlError)
    Procedure.implement(add, () => Effect.fail(new Ledger.NoSuchAccount({ id: 1 })))
    // @ts-expect-error the client sends the contract's input
    Client.call(add, { a: 1 })
    const typed: Effect.Effect<number, unknown, unknown> = Client.call(add, { a: 1, b: 2 })
    // @ts-expect-error a streaming contract types its progressive results (transfers, not numbers)
    Progressive.send(Stream.make(1), request(Ledger.history.uri), Ledger.history.progress)
    assert.strictEqual(implemented.uri, add.uri)
    assert.isDefined(typed)
  })

  it("keeps the handler's requirements in the type, with SqlClient added by a transaction policy", () => {
    class Clock extends Context.Service<Clock, { readonly now: number }>()("test/Clock") {}
    const plain = Procedure.implement(add, () =>
      Effect.gen(function*() {
        const clock = yield* Clock
        return clock.now
      }))
    const inTransaction = Procedure.implement(
      Contract.make("com.example.test.tx", { result: Schema.Int, transactional: true }),
      () => Effect.succeed(1)
    )
    const needsClock: Effect.Effect<unknown, unknown, Clock> = invoke(plain, request(plain.uri))
    const needsSql: Effect.Effect<unknown, unknown, SqlClient.SqlClient> = invoke(inTransaction, request(inTransaction.uri))
    // @ts-expect-error a transactional procedure needs SqlClient
    const needsNothing: Effect.Effect<unknown, unknown, never> = invoke(inTransaction, request(inTransaction.uri))
    assert.isDefined([needsClock, needsSql, needsNothing])
  })

  it.live("a contract's `transactional: { retries }` runs the handler again after a serialization failure", () =>
    Effect.gen(function*() {
      const counter = Procedure.implement(
        Contract.make("com.example.test.counter", { result: Schema.Int, transactional: { retries: 2, baseDelay: 1 } }),
        () => Effect.flatMap(SqlClient.SqlClient, (sql) => sql`UPDATE counter SET n = n + 1`).pipe(Effect.as(1))
      )
      const mock = yield* PgClientMock.PgClientMock
      const error = yield* Effect.flip(invoke(counter, request(counter.uri)))
      assert.strictEqual(error.error, ErrorUris.database)
      assert.deepStrictEqual(error.kwargs, { sqlstate: "40001" })
      const statements = (yield* mock.statements).map((statement) => statement.sql)
      assert.strictEqual(statements.filter((sql) => sql.startsWith("UPDATE")).length, 3, "first attempt + 2 retries")
      assert.strictEqual(statements.filter((sql) => sql === "BEGIN").length, 3)
    }).pipe(
      Effect.provide(PgClientMock.layer({ rules: [PgClientMock.when(/^UPDATE counter/, PgClientMock.serializationFailure())] })),
      Effect.provide(Logger.layer([]))
    ))
})
