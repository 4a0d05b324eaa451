/**
 * The live ledger, on the typed client (`Remote`) and the ledger's contracts: the accounts this
 * browser follows (opened or added here; kept in localStorage, or given as ?accounts=1,2), which
 * must be its caller's own (row-level security: another owner's account is no_such_account), with
 * their balances updated from on_account_change (sent to the owner only), every transfer it pays as
 * it is committed (on_transfer, sent to the payer only), a
 * transfer form showing typed errors inline, and an account's history streamed as it arrives, with
 * a cancel button (interrupting the stream sends CANCEL).
 */
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import * as Ledger from "../../src/procedures/ledger/contract.js"
import type { RemoteClient } from "../../src/procedures/Remote.js"
import { connect, element } from "./connect.js"

const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T

const storageKey = "wampgres.ledger.accounts"
const followed = new Set<number>(
  (new URLSearchParams(location.search).get("accounts") ?? localStorage.getItem(storageKey) ?? "")
    .split(",")
    .map(Number)
    .filter((id) => Number.isSafeInteger(id) && id > 0)
)
const save = () => localStorage.setItem(storageKey, [...followed].join(","))

/** A failure as people read it: a typed error's tag and message, or the WAMP error URI. */
const describeFailure = (error: unknown): { readonly tag: string; readonly text: string } => {
  const e = error as { _tag?: string; error?: string; message?: string }
  if (e._tag === "WampError") return { tag: e.error ?? "WampError", text: `${e.error}: ${e.message}` }
  return { tag: e._tag ?? "Error", text: `${e._tag ?? "Error"}: ${e.message ?? String(error)}` }
}

const showOutcome = (target: HTMLElement, outcome: { ok: true; text: string } | { ok: false; error: unknown }) => {
  if (outcome.ok) {
    target.dataset["status"] = "ok"
    delete target.dataset["errorTag"]
    target.textContent = outcome.text
  } else {
    const { tag, text } = describeFailure(outcome.error)
    target.dataset["status"] = "error"
    target.dataset["errorTag"] = tag
    target.textContent = text
  }
}

/** Runs a typed call and shows its outcome in `target`; resolves with the result, if any. */
const run = <A, E>(target: HTMLElement, effect: Effect.Effect<A, E>, text: (a: A) => string): Promise<A | undefined> =>
  Effect.runPromise(Effect.match(effect, {
    onFailure: (error) => {
      showOutcome(target, { ok: false, error })
      return undefined
    },
    onSuccess: (value) => {
      showOutcome(target, { ok: true, text: text(value) })
      return value
    }
  }))

// ---- accounts -------------------------------------------------------------------------------

const accountRows = byId<HTMLTableSectionElement>("account-rows")
const fromSelect = byId<HTMLSelectElement>("transfer-from")
const historySelect = byId<HTMLSelectElement>("history-account")

const renderAccount = (account: Ledger.Account) => {
  let row = accountRows.querySelector<HTMLTableRowElement>(`tr[data-account="${account.id}"]`)
  if (row === null) {
    row = element("tr", { "data-account": String(account.id) })
    row.append(element("td", { class: "id" }, String(account.id)), element("td", { class: "owner" }), element("td", { class: "balance" }))
    accountRows.append(row)
    for (const select of [fromSelect, historySelect]) select.append(element("option", { value: String(account.id) }, `${account.id} · ${account.owner}`))
  }
  row.querySelector(".owner")!.textContent = account.owner
  setBalance(account.id, account.balance)
}

const setBalance = (id: number, balance: number) => {
  const cell = accountRows.querySelector<HTMLElement>(`tr[data-account="${id}"] .balance`)
  if (cell === null) return
  const changed = cell.dataset["balance"] !== undefined && cell.dataset["balance"] !== String(balance)
  cell.dataset["balance"] = String(balance)
  cell.textContent = balance.toLocaleString("en")
  if (changed) {
    cell.classList.remove("flash")
    void cell.offsetWidth // restart the animation
    cell.classList.add("flash")
  }
}

// ---- live transfers ---------------------------------------------------------------------------

const liveTransfers = byId<HTMLOListElement>("live-transfers")
const transferItem = (transfer: Ledger.Transfer, attributes: Record<string, string>) => {
  const mine = followed.has(transfer.from) || followed.has(transfer.to)
  return element(
    "li",
    { ...attributes, "data-transfer": String(transfer.id), class: mine ? "mine" : "" },
    `#${transfer.id}: ${transfer.amount.toLocaleString("en")} from ${transfer.from} to ${transfer.to} at ${transfer.at.toLocaleTimeString()}`
  )
}

// ---- wiring -----------------------------------------------------------------------------------

let client: RemoteClient | undefined
let subscriptions: ReadonlyArray<Fiber.Fiber<unknown, unknown>> = []

connect((connected) => {
  client = connected.client
  for (const fiber of subscriptions) Effect.runFork(Fiber.interrupt(fiber))
  subscriptions = [
    Effect.runFork(Stream.runForEach(connected.client.subscribe(Ledger.onAccountChange), (change) => Effect.sync(() => setBalance(change.id, change.balance)))),
    Effect.runFork(Stream.runForEach(connected.client.subscribe(Ledger.onTransfer), (transfer) =>
      Effect.sync(() => {
        liveTransfers.prepend(transferItem(transfer, {}))
        byId("live-empty").hidden = true
      })))
  ]
  const status = byId("accounts-status")
  for (const id of followed) void run(status, connected.client.call(Ledger.getAccount, { id }), () => "").then((account) => account && renderAccount(account))
  document.body.dataset["ready"] = "true"
})

byId<HTMLFormElement>("open-account").addEventListener("submit", (event) => {
  event.preventDefault()
  if (client === undefined) return
  void run(byId("open-outcome"), client.call(Ledger.openAccount, {}), (a) => `opened account ${a.id}`)
    .then((account) => {
      if (account === undefined) return
      followed.add(account.id)
      save()
      renderAccount(account)
    })
})

byId<HTMLFormElement>("follow-account").addEventListener("submit", (event) => {
  event.preventDefault()
  const id = Number(new FormData(event.currentTarget as HTMLFormElement).get("id"))
  if (client === undefined) return
  void run(byId("follow-outcome"), client.call(Ledger.getAccount, { id }), (a) => `following account ${a.id}`).then((account) => {
    if (account === undefined) return
    followed.add(account.id)
    save()
    renderAccount(account)
  })
})

byId<HTMLFormElement>("transfer").addEventListener("submit", (event) => {
  event.preventDefault()
  const data = new FormData(event.currentTarget as HTMLFormElement)
  if (client === undefined) return
  const input = { from: Number(data.get("from")), to: Number(data.get("to")), amount: Number(data.get("amount")) }
  void run(byId("transfer-outcome"), client.call(Ledger.transfer, input), (t) => `transfer #${t.id} committed: ${t.from_balance} left`)
})

// ---- history ------------------------------------------------------------------------------------

const historyRows = byId<HTMLOListElement>("history-rows")
const historyStatus = byId("history-status")
const cancelButton = byId<HTMLButtonElement>("history-cancel")
let historyFiber: Fiber.Fiber<unknown, unknown> | undefined

const setHistory = (state: string, text: string) => {
  historyStatus.dataset["status"] = state
  historyStatus.textContent = text
  cancelButton.disabled = state !== "streaming"
}

byId<HTMLFormElement>("history").addEventListener("submit", (event) => {
  event.preventDefault()
  if (client === undefined) return
  const account = Number(historySelect.value)
  if (historyFiber !== undefined) Effect.runFork(Fiber.interrupt(historyFiber))
  historyRows.replaceChildren()
  setHistory("streaming", "streaming…")
  let count = 0
  historyFiber = Effect.runFork(
    Stream.runForEach(client.stream(Ledger.history, { account }), (transfer) =>
      Effect.sync(() => {
        historyRows.append(transferItem(transfer, {}))
        setHistory("streaming", `streaming… ${++count} transfers`)
      })).pipe(
        Effect.match({
          onFailure: (error) => setHistory("error", describeFailure(error).text),
          onSuccess: () => setHistory("done", `${count} transfers`)
        }),
        Effect.onInterrupt(() => Effect.sync(() => setHistory("canceled", `canceled after ${count} transfers`)))
      )
  )
})

cancelButton.addEventListener("click", () => {
  if (historyFiber !== undefined) Effect.runFork(Fiber.interrupt(historyFiber))
})
