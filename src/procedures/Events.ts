/**
 * Publishing from procedures. `publishAfterCommit` queues an event in the current transaction: it
 * reaches subscribers only if the transaction commits and never if it rolls back.
 *
 * How it is delivered is the `Publisher` in the context:
 * - with `Outbox.layer` (the ledger and `src/main.ts` provide it): the event is written to the
 *   outbox table in the same transaction, and the relay publishes it after COMMIT, in commit order,
 *   with a per-topic sequence number, surviving crashes and router outages (see `Outbox.ts`);
 * - without it (unit tests, embeddings with no outbox): published from memory after the outermost
 *   transaction commits (`SqlClient.afterCommit`), lost if the process dies in between.
 * Outside a transaction the outbox row commits at once (the relay publishes it); the direct
 * publisher publishes at once.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import { type Payload, WampSession } from "../layers/WampSession.js"

/** PUBLISH options, JSON values (the outbox stores them as `jsonb`). */
export type PublishOptions = Readonly<Record<string, unknown>>

/**
 * Queues one event in the current transaction. `options` are PUBLISH options for the router
 * (`eligible_authid`, `exclude_me`...); `acknowledge` is the publisher's own.
 */
export type Publish = (
  topic: string,
  payload: Partial<Payload>,
  options?: PublishOptions
) => Effect.Effect<void, SqlError, SqlClient.SqlClient | WampSession>

/** Publishes from memory after COMMIT; a failed publish is logged, never fails the call. */
export const direct: Publish = (topic, payload, options) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const session = yield* WampSession
    yield* sql.afterCommit(Effect.ignore(session.publish(topic, payload, options), { log: "Warn" }))
  })

/** How `publishAfterCommit` delivers events: `direct` unless a layer provides another (the outbox). */
export class Publisher extends Context.Reference<Publish>("wampgres/procedures/Events/Publisher", {
  defaultValue: () => direct
}) {}

/**
 * Publishes `payload` to `topic` once the current transaction commits. With the outbox a failure
 * to write the event fails the transaction (nothing is committed without its events).
 */
export const publishAfterCommit = (
  topic: string,
  payload: Partial<Payload>,
  options?: PublishOptions
): Effect.Effect<void, SqlError, SqlClient.SqlClient | WampSession> =>
  Effect.gen(function*() {
    const publish = yield* Publisher
    yield* publish(topic, payload, options)
  })
