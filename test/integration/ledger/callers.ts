/**
 * Ledger callers for the integration tests: the router of `fixtures/callers-router.json` gives every
 * session a random authid, and its authrole by path (`/user`, `/admin`, `/anonymous`), so each
 * client session is a distinct caller; the component registers through `/user`.
 */
import type autobahn from "autobahn"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Path from "node:path"
import * as Ledger from "../../../src/procedures/ledger/index.js"
import { Router } from "../../../src/router/index.js"
import { callRaw, clientSession, componentLayer, TestDatabase, TestRouter } from "../../support/index.js"

export const L = "com.example.ledger"

export const callersRouterConfig = Path.join(import.meta.dirname, "fixtures", "callers-router.json")

/** The router with caller paths, the ledger component, a fresh database. */
export const LedgerEnv = componentLayer(Ledger.layer).pipe(
  Layer.provideMerge(TestRouter.layer({ configFile: callersRouterConfig })),
  Layer.provideMerge(TestDatabase.layer)
)

export type CallerRole = "user" | "admin" | "anonymous"

/** The WebSocket URL whose sessions get `role`. */
export const urlFor = (router: Router["Service"], role: CallerRole): string => router.url.replace(/\/user$/, `/${role}`)

/** A new caller (its own random authid) with `role`, for the scope. */
export const caller = (role: CallerRole = "user") => Effect.flatMap(Effect.service(Router), (router) => clientSession(urlFor(router, role)))

export interface Account {
  readonly id: number
  readonly owner: string
  readonly balance: number
}

/** `open_account` as `session`: a new account of its caller, balance 0. */
export const open = (session: autobahn.Session) =>
  Effect.map(callRaw(session, `${L}.open_account`), (result) => result.args[0] as Account)

/** `mint` as an admin caller (a new session for the scope). */
export const mint = (account: number, amount: number) =>
  Effect.gen(function*() {
    const admin = yield* Effect.orDie(caller("admin"))
    const result = yield* callRaw(admin, `${L}.mint`, { kwargs: { account, amount } })
    return result.args[0] as Account
  })

/** A new account of `session`'s caller holding `balance` (minted by an admin). */
export const funded = (session: autobahn.Session, balance: number) =>
  Effect.gen(function*() {
    const account = yield* open(session)
    return balance > 0 ? yield* mint(account.id, balance) : account
  })

/** The authid the router gave `session` (from the session meta API). */
export const authidOf = (session: autobahn.Session) =>
  Effect.map(callRaw(session, "wamp.session.get", { args: [session.id] }), (result) => (result.args[0] as { authid: string }).authid)

export const balanceOf = (session: autobahn.Session, id: number) =>
  Effect.map(callRaw(session, `${L}.get_account`, { args: [id] }), (result) => (result.args[0] as Account).balance)

/** Subscribes a client to a topic and collects the events' args[0]. */
export const collect = (session: autobahn.Session, topic: string) =>
  Effect.gen(function*() {
    const events: Array<Record<string, unknown>> = []
    yield* Effect.promise(() => session.subscribe(topic, (args) => void events.push(args?.[0] as Record<string, unknown>)))
    return events
  })

/** Waits until `check` holds (events travel asynchronously), at most `millis`. */
export const eventually = (check: () => boolean, millis = 5000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + millis
    while (!check() && Date.now() < deadline) yield* Effect.sleep("20 millis")
  })
