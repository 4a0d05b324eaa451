/**
 * The procedure catalog and the live ledger in headless Chromium, served by the embedded router
 * (project configuration) with the ledger component and its reflection on a real PostgreSQL, the
 * pages' scripts bundled by `web/build.ts`: calls, typed errors, streamed results and their cancel
 * (the page's WebSocket sends CANCEL), and live updates caused by another client (the typed client
 * in Node). The page is a caller of its own (row-level security: it sees its accounts only); funds
 * are minted in SQL as the admin authrole (the project's router configuration has no admin role).
 * Screenshots: test-results/browser/catalog*.png, ledger*.png.
 */
import { assert, layer } from "@effect/vitest"
import autobahn from "autobahn"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as SqlClient from "effect/sql/SqlClient"
import * as Stream from "effect/Stream"
import type { Page } from "playwright-core"
import * as Ledger from "../../src/procedures/ledger/contract.js"
import * as LedgerServer from "../../src/procedures/ledger/index.js"
import * as Reflection from "../../src/procedures/Reflection.js"
import * as Remote from "../../src/procedures/Remote.js"
import { Router } from "../../src/router/index.js"
import { buildWeb } from "../../web/build.js"
import { componentLayer, TestDatabase, TestRouter } from "../support/index.js"
import { Chromium, openPage, screenshot } from "./chromium.js"

const Bundles = Layer.effectDiscard(Effect.promise(buildWeb))

const Env = componentLayer(
  Layer.mergeAll(LedgerServer.layer, Reflection.layer([...LedgerServer.LedgerGroup.procedures], Ledger.topics))
).pipe(
  Layer.provideMerge(TestRouter.layer()),
  Layer.provideMerge(Layer.mergeAll(TestDatabase.layer, Chromium.layer, Bundles))
)

/** The page with the frames its WebSockets send (to see CANCEL, message type 49, leave the browser). */
const open = (path: string) =>
  Effect.gen(function*() {
    const router = yield* Router
    const port = router.listening[0]?.port ?? 0
    const watched = yield* openPage(yield* Chromium)
    const sent: Array<string> = []
    watched.page.on("websocket", (socket) => socket.on("framesent", (frame) => void sent.push(String(frame.payload))))
    yield* Effect.promise(() => watched.page.goto(`http://127.0.0.1:${port}${path}`, { waitUntil: "load" }))
    return { ...watched, sent }
  })

const waitFor = (page: Page, selector: string, timeout = 15_000) =>
  Effect.promise(() => page.waitForSelector(selector, { timeout })).pipe(Effect.asVoid)

const text = (page: Page, selector: string) => Effect.promise(() => page.locator(selector).first().innerText())

/** A typed client in Node: "another client" for live updates, and the test's own setup. */
const nodeClient = Effect.gen(function*() {
  const router = yield* Router
  return yield* Remote.connect(autobahn as unknown as Remote.AutobahnModule, { url: router.url, realm: "realm1" })
})

/**
 * Holds `ledger_transfers` locked (ACCESS EXCLUSIVE) until the returned effect runs: a history call
 * then waits in PostgreSQL, in flight, until it is canceled.
 */
const lockTransfers = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const locked = yield* Deferred.make<void>()
  const release = yield* Deferred.make<void>()
  yield* Effect.forkChild(sql.withTransaction(
    Effect.andThen(sql`LOCK TABLE ledger_transfers IN ACCESS EXCLUSIVE MODE`, Effect.andThen(Deferred.succeed(locked, undefined), Deferred.await(release)))
  ))
  yield* Deferred.await(locked)
  return Deferred.succeed(release, undefined)
})

/** What `mint` does, in SQL as the admin authrole (row-level security lets it change any balance). */
const mintInDatabase = (account: number, amount: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql.withTransaction(Effect.andThen(
      sql`SELECT set_config('wampgres.authrole', 'admin', true)`,
      sql`UPDATE ledger_accounts SET balance = balance + ${amount} WHERE id = ${account}`
    ))
  }).pipe(Effect.orDie)

/** A new account of `client`'s caller holding `balance`. */
const fundedAccount = (client: Remote.RemoteClient, balance: number) =>
  Effect.gen(function*() {
    const account = yield* client.call(Ledger.openAccount, {})
    yield* mintInDatabase(account.id, balance)
    return { ...account, balance }
  })

const isCancel = (frame: string) => frame.startsWith("[49,")

layer(Env, { excludeTestServices: true, timeout: 120_000 })("pages in Chromium", (it) => {
  it.effect("catalog: every procedure with its schema; a call, a typed error, a stream, and a stream canceled", () =>
    Effect.gen(function*() {
      const client = yield* nodeClient
      const { errors, page, sent } = yield* open("/catalog.html")
      yield* waitFor(page, "#catalog[data-state=ready]")
      const uris = yield* Effect.promise(() => page.$$eval("section.procedure", (sections) => sections.map((s) => (s as HTMLElement).dataset["uri"])))
      assert.deepStrictEqual(uris, [...Ledger.procedures.map((c) => c.uri)].sort())
      const history = `section.procedure[data-uri="${Ledger.history.uri}"]`
      assert.include(yield* text(page, `${history} h2`), "streaming")
      // the form was generated from the arguments' schema: account (integer, required), limit (optional)
      assert.strictEqual(yield* Effect.promise(() => page.getAttribute(`${history} input[name=account]`, "data-type")), "integer")
      assert.isNotNull(yield* Effect.promise(() => page.$(`${history} input[name=account][required]`)))
      assert.isNull(yield* Effect.promise(() => page.$(`${history} input[name=limit][required]`)))

      // a call without arguments: the page's own account; another client pays into it
      const openSection = `section.procedure[data-uri="${Ledger.openAccount.uri}"]`
      yield* Effect.promise(() => page.click(`${openSection} button.call-button`))
      yield* waitFor(page, `${openSection} .outcome[data-status=ok]`)
      const mine = JSON.parse(yield* text(page, `${openSection} pre.result`)) as Ledger.Account
      assert.strictEqual(mine.balance, 0)
      const payer = yield* fundedAccount(client, 10_000)
      for (let i = 1; i <= 3; i++) yield* client.call(Ledger.transfer, { from: payer.id, to: mine.id, amount: i })

      // a call and its result
      const get = `section.procedure[data-uri="${Ledger.getAccount.uri}"]`
      yield* Effect.promise(() => page.fill(`${get} input[name=id]`, String(mine.id)))
      yield* Effect.promise(() => page.click(`${get} button.call-button`))
      yield* waitFor(page, `${get} .outcome[data-status=ok]`)
      assert.deepStrictEqual(JSON.parse(yield* text(page, `${get} pre.result`)), { id: mine.id, owner: mine.owner, balance: 6 })

      // another caller's account is no account at all
      yield* Effect.promise(() => page.fill(`${get} input[name=id]`, String(payer.id)))
      yield* Effect.promise(() => page.click(`${get} button.call-button`))
      yield* waitFor(page, `${get} .outcome[data-status=error][data-error-tag=NoSuchAccount]`)

      // a typed error: its URI, tag and fields
      yield* Effect.promise(() => page.fill(`${get} input[name=id]`, "999999"))
      yield* Effect.promise(() => page.click(`${get} button.call-button`))
      yield* waitFor(page, `${get} .outcome[data-status=error][data-error-tag=NoSuchAccount]`)
      assert.include(yield* text(page, `${get} .status`), "com.example.ledger.error.no_such_account (NoSuchAccount): no account 999999")

      // a stream: each transfer as it arrives, then the result
      yield* Effect.promise(() => page.fill(`${history} input[name=account]`, String(mine.id)))
      yield* Effect.promise(() => page.click(`${history} button.call-button`))
      yield* waitFor(page, `${history} .outcome[data-status=ok]`)
      assert.strictEqual(yield* Effect.promise(() => page.locator(`${history} ol.progress li`).count()), 3)
      assert.deepStrictEqual(JSON.parse(yield* text(page, `${history} pre.result`)), { count: 3 })
      yield* Effect.promise(() => page.click(`${history} details.schemas summary`))
      yield* screenshot(page, "catalog")

      // a stream in flight (the table is locked), canceled from the page
      const release = yield* lockTransfers
      yield* Effect.promise(() => page.click(`${history} button.call-button`))
      yield* waitFor(page, `${history} .outcome[data-status=streaming]`)
      assert.isFalse(sent.some(isCancel))
      yield* Effect.promise(() => page.click(`${history} button.cancel`))
      yield* waitFor(page, `${history} .outcome[data-status=canceled]`)
      yield* release
      assert.isTrue(sent.some(isCancel), "the page sent CANCEL")
      assert.include(yield* text(page, `${history} .status`), "wamp.error.canceled")
      yield* screenshot(page, "catalog-canceled")
      assert.deepStrictEqual(errors, [])
    }))

  it.effect("ledger: balances and transfers live, typed errors inline, history streamed and canceled", () =>
    Effect.gen(function*() {
      const client = yield* nodeClient
      const n = yield* fundedAccount(client, 1000)
      const { errors, page, sent } = yield* open("/ledger.html")
      yield* waitFor(page, "body[data-ready=true]")
      const balance = (id: number) => `tr[data-account="${id}"] .balance`

      // two accounts opened from the form: the page's caller owns them, empty
      for (const count of [1, 2]) {
        yield* Effect.promise(() => page.click("#open-account button[type=submit]"))
        yield* waitFor(page, `#account-rows tr:nth-child(${count})`)
      }
      const ids = yield* Effect.promise(() =>
        page.$$eval("#account-rows tr", (rows) => rows.map((row) => Number((row as HTMLElement).dataset["account"])))
      )
      assert.strictEqual(ids.length, 2)
      const a = { id: ids[0]! }
      const b = { id: ids[1]! }
      yield* waitFor(page, `${balance(a.id)}[data-balance="0"]`)
      // minted funds show up live (on_account_change, to the owner)
      yield* mintInDatabase(a.id, 10_000)
      yield* waitFor(page, `${balance(a.id)}[data-balance="10000"]`)

      // a transfer from the form: committed, the balance follows on_account_change, on_transfer lists it
      yield* Effect.promise(() => page.selectOption("#transfer-from", String(a.id)))
      yield* Effect.promise(() => page.fill("#transfer input[name=to]", String(b.id)))
      yield* Effect.promise(() => page.fill("#transfer input[name=amount]", "25"))
      yield* Effect.promise(() => page.click("#transfer button[type=submit]"))
      yield* waitFor(page, "#transfer-outcome[data-status=ok]")
      yield* waitFor(page, `${balance(a.id)}[data-balance="9975"]`)
      yield* waitFor(page, `${balance(b.id)}[data-balance="25"]`)
      yield* waitFor(page, `#live-transfers li.mine`)

      // typed errors inline
      yield* Effect.promise(() => page.fill("#transfer input[name=amount]", "1000000"))
      yield* Effect.promise(() => page.click("#transfer button[type=submit]"))
      yield* waitFor(page, "#transfer-outcome[data-status=error][data-error-tag=InsufficientFunds]")
      assert.strictEqual(yield* text(page, "#transfer-outcome"), `InsufficientFunds: account ${a.id} cannot pay 1000000`)
      yield* Effect.promise(() => page.fill("#transfer input[name=to]", "999999"))
      yield* Effect.promise(() => page.fill("#transfer input[name=amount]", "1"))
      yield* Effect.promise(() => page.click("#transfer button[type=submit]"))
      yield* waitFor(page, "#transfer-outcome[data-error-tag=NoSuchAccount]")

      // another client's transfer into this page's account: the balance follows live; the transfer
      // itself goes to its payer only
      const paid: Array<number> = []
      yield* Effect.forkChild(Stream.runForEach(client.subscribe(Ledger.onTransfer), (t) => Effect.sync(() => paid.push(t.id))))
      yield* Effect.sleep("200 millis") // the SUBSCRIBE reaches the router before the transfer
      const other = yield* client.call(Ledger.transfer, { from: n.id, to: a.id, amount: 7 })
      assert.strictEqual(other.from_balance, 993)
      yield* waitFor(page, `${balance(a.id)}[data-balance="9982"]`)
      // once the payer has its on_transfer, the router has dispatched it to every eligible subscriber
      for (let waited = 0; !paid.includes(other.id) && waited < 15_000; waited += 20) yield* Effect.sleep("20 millis")
      assert.include(paid, other.id, "the payer gets its on_transfer")
      yield* Effect.sleep("200 millis")
      assert.strictEqual(yield* Effect.promise(() => page.locator(`#live-transfers li[data-transfer="${other.id}"]`).count()), 0)

      // history, streamed
      yield* Effect.promise(() => page.selectOption("#history-account", String(a.id)))
      yield* Effect.promise(() => page.click("#history button[type=submit]"))
      yield* waitFor(page, "#history-status[data-status=done]")
      assert.strictEqual(yield* Effect.promise(() => page.locator("#history-rows li").count()), 2)
      yield* screenshot(page, "ledger")

      // history in flight (the table is locked), canceled: the typed client's stream sends CANCEL
      const release = yield* lockTransfers
      yield* Effect.promise(() => page.click("#history button[type=submit]"))
      yield* waitFor(page, "#history-status[data-status=streaming]")
      assert.isFalse(sent.some(isCancel))
      yield* Effect.promise(() => page.click("#history-cancel"))
      yield* waitFor(page, "#history-status[data-status=canceled]")
      yield* release
      assert.isTrue(sent.some(isCancel), "the page sent CANCEL")
      yield* screenshot(page, "ledger-canceled")
      assert.deepStrictEqual(errors, [])
    }))
})
