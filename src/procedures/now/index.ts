/**
 * The seed's procedures (contracts in `./contract.ts`): `com.example.now.v1`–`v4` return the
 * database's `now()` as a string, in the seed's four styles (a plain query; a generator; inside a
 * transaction; a transaction written as a generator).
 */
import * as Effect from "effect/Effect"
import * as SqlClient from "effect/sql/SqlClient"
import * as Group from "../Group.js"
import * as Procedure from "../Procedure.js"
import * as Contract from "./contract.js"

/** The one-row query every variant runs; `::text` is PostgreSQL's own rendering of the timestamp. */
const selectNow = Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ readonly now: string }>`SELECT now()::text AS now`)

const firstNow = (rows: ReadonlyArray<{ readonly now: string }>) => rows[0]?.now ?? ""

/** v1: a plain query (adbapi `runQuery` + a callback). */
export const nowV1 = Procedure.implement(Contract.nowV1, () => Effect.map(selectNow, firstNow))

/** v2: the same as a generator (the seed's `inlineCallbacks`). */
export const nowV2 = Procedure.implement(
  Contract.nowV2,
  Effect.fnUntraced(function*() {
    const rows = yield* selectNow
    return firstNow(rows)
  })
)

/** v3: inside a transaction (adbapi `runInteraction`); it might do more and still commit atomically. */
export const nowV3 = Procedure.implement(Contract.nowV3, () => Effect.map(selectNow, firstNow))

/** v4: a transaction written as a generator. */
export const nowV4 = Procedure.implement(
  Contract.nowV4,
  Effect.fnUntraced(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ readonly now: string }>`SELECT now()::text AS now`
    return firstNow(rows)
  })
)

/** The group: add `NowGroup.layer` to the composition to register all four. */
export const NowGroup = Group.make("now", [nowV1, nowV2, nowV3, nowV4])
