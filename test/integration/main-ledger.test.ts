/**
 * src/main.ts end to end with the ledger, as `npm start` runs it (embedded PostgreSQL and router,
 * NOTIFY_BRIDGE set): a transfer over WAMP returns both balances and publishes on_transfer after
 * its COMMIT; the balance trigger's NOTIFY reaches on_account_change; a NOTIFY sent by a second
 * connection (psql) on a bridged channel reaches its topic; then SIGTERM ends it with exit code 0.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { callRaw, clientSession } from "../support/index.js"
import { dataDirectory, fund, isAlive, L, postmasterOf, psql, service, until, waitFor } from "./serviceProcess.js"

describe("src/main.ts with the ledger", () => {
  it.live("a transfer and its event, the balance NOTIFY and a NOTIFY from psql, then a clean stop", () =>
    Effect.gen(function*() {
      const dataDir = yield* dataDirectory
      const running = yield* service(dataDir, "", { ROUTER_PORT: "0", NOTIFY_BRIDGE: "orders=com.example.orders.on_change" })
      const [, port] = yield* Effect.promise(() => waitFor(running, /Web page at http:\/\/127\.0\.0\.1:(\d+)\//))
      yield* Effect.promise(() => waitFor(running, /registered 5 procedures \{ group: .ledger. \}/))
      yield* Effect.promise(() => waitFor(running, /LISTEN orders → com\.example\.orders\.on_change/))
      const postgres = yield* Effect.promise(() => postmasterOf(dataDir))

      const events: Array<{ readonly topic: string; readonly args: ReadonlyArray<unknown> }> = []
      const client = yield* clientSession(`ws://127.0.0.1:${port}/ws`)
      for (const topic of [`${L}.on_transfer`, `${L}.on_account_change`, "com.example.orders.on_change"]) {
        yield* Effect.promise(() => client.subscribe(topic, (args) => void events.push({ topic, args: args ?? [] })))
      }
      const received = (topic: string, check: (value: Record<string, unknown>) => boolean) =>
        Effect.promise(() =>
          until(`an event on ${topic}`, () => events.some((e) => e.topic === topic && check(e.args[0] as Record<string, unknown>)))
        )

      // accounts of the client's caller (open_account takes no arguments), funded as an admin would
      const open = (_owner: string, balance: number) =>
        Effect.gen(function*() {
          const id = (yield* callRaw(client, `${L}.open_account`)).args[0] as { id: number }
          if (balance > 0) yield* Effect.promise(() => fund(postgres.port, id.id, balance))
          return id.id
        })
      const a = yield* open("ada", 100)
      const b = yield* open("bob", 5)
      const transfer = (yield* callRaw(client, `${L}.transfer`, { kwargs: { from: a, to: b, amount: 40 } })).args[0] as Record<string, unknown>
      assert.include(transfer, { from_balance: 60 })
      yield* received(`${L}.on_transfer`, (t) => t["from"] === a && t["to"] === b && t["amount"] === 40 && t["id"] === transfer["id"])
      // the transfer is in PostgreSQL, as a second connection sees it
      assert.strictEqual(
        yield* Effect.promise(() => psql(postgres.port, `SELECT from_account || '>' || to_account || ':' || amount FROM ledger_transfers`)),
        `${a}>${b}:40`
      )

      // a balance changed by hand from psql: the trigger's NOTIFY reaches on_account_change
      yield* Effect.promise(() => psql(postgres.port, `UPDATE ledger_accounts SET balance = 77 WHERE id = ${b}`))
      yield* received(`${L}.on_account_change`, (change) => JSON.stringify(change).includes("77"))
      // a NOTIFY from psql on the bridged channel reaches its topic, its JSON payload as args[0]
      yield* Effect.promise(() => psql(postgres.port, `NOTIFY orders, '{"order": 7, "state": "paid"}'`))
      yield* received("com.example.orders.on_change", (order) => order["order"] === 7 && order["state"] === "paid")

      running.child.kill("SIGTERM")
      assert.strictEqual(yield* Effect.promise(() => running.exited), 0, running.output())
      assert.isFalse(isAlive(postgres.pid), "PostgreSQL is still running")
    }), 120_000)
})
