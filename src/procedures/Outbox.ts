/**
 * The transactional outbox: events are rows written in the transaction that causes them, published
 * by a relay after COMMIT. Nothing committed is lost when the process dies between COMMIT and
 * PUBLISH, when the router is away for longer than a request timeout, or while LISTEN reconnects.
 *
 * - `wampgres_outbox_publish(topic, args, kwargs[, options])` (SQL, also for triggers and batch
 *   jobs; `options` are the PUBLISH options, e.g. `{"eligible_authid": ["alice"]}`) takes
 *   the topic's next sequence number from `wampgres_outbox_topics` (the row stays locked until
 *   COMMIT, so per topic the numbers follow commit order with no hole), inserts the event and sends
 *   `NOTIFY wampgres_outbox` (only a wake-up: its payload means nothing);
 * - the relay, woken by that NOTIFY or every `OUTBOX_POLL_INTERVAL`, publishes pending rows in
 *   commit order with `acknowledge: true` and marks them published only after the router's
 *   PUBLISHED, in the same transaction that holds `pg_try_advisory_xact_lock`: one relay publishes
 *   at a time across all instances (a transaction-level lock also works through PgBouncer in
 *   transaction mode); a relay that dies mid-batch rolls back and the next one publishes the batch
 *   again: at least once across a crash, exactly once otherwise;
 * - every event carries its sequence number as kwargs `_seq` (routers pass no custom PUBLISH
 *   option to subscribers, so it travels in the payload); a subscriber that sees a gap calls
 *   `wampgres.outbox.replay` with the topic and the last number it saw;
 * - published rows are kept `OUTBOX_RETENTION`, then deleted by the relay.
 *
 * Payloads are JSON (stored as `jsonb`): binary values are not supported through the outbox.
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import * as Migrator from "effect/sql/Migrator"
import * as SqlClient from "effect/sql/SqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Database from "../layers/Database.js"
import { type Payload, type WampError, WampSession } from "../layers/WampSession.js"
import { WampgresUri } from "../wamp/uris.js"
import { ahead } from "./Ahead.js"
import * as Caller from "./Caller.js"
import * as Events from "./Events.js"
import * as Group from "./Group.js"
import * as Migrations from "./Migrations.js"
import * as Procedure from "./Procedure.js"
import * as Rows from "./Rows.js"

/** The NOTIFY channel that wakes the relay. */
export const wakeChannel = "wampgres_outbox"

/** The kwargs key that carries an event's sequence number within its topic. */
export const sequenceKey = "_seq"

/** The advisory lock keys of the relay (two int4: "wamp" "gres" in ASCII). */
export const relayLockKeys = [0x77616d70, 0x67726573] as const

export interface OutboxSettings {
  /** Published events are kept this long for `replay`. */
  readonly retention: Duration.Duration
  /** The relay looks for pending events at least this often (NOTIFY wakes it sooner). */
  readonly pollInterval: Duration.Duration
  /** Events published per relay transaction. */
  readonly batchSize: number
}

/** The outbox's settings; `src/main.ts` provides them from `src/Settings.ts`. */
export class Settings extends Context.Reference<OutboxSettings>("wampgres/procedures/Outbox/Settings", {
  defaultValue: () => ({ retention: Duration.hours(24), pollInterval: Duration.seconds(1), batchSize: 200 })
}) {}

const schema = Migrator.fromRecord({
  "1_outbox": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`CREATE TABLE wampgres_outbox_topics (
      topic    text   PRIMARY KEY,
      last_seq bigint NOT NULL
    )`
    yield* sql`CREATE TABLE wampgres_outbox (
      id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      topic        text        NOT NULL,
      seq          bigint      NOT NULL,
      args         jsonb       NOT NULL DEFAULT '[]',
      kwargs       jsonb       NOT NULL DEFAULT '{}',
      -- PUBLISH options (e.g. eligible_authid): who may receive the event.
      options      jsonb       NOT NULL DEFAULT '{}',
      created_at   timestamptz NOT NULL DEFAULT now(),
      published_at timestamptz,
      -- Set when the router refused the event (e.g. not authorized): it is not retried.
      refused      text,
      UNIQUE (topic, seq)
    )`
    yield* sql`CREATE INDEX wampgres_outbox_pending ON wampgres_outbox (id) WHERE published_at IS NULL`
    yield* sql`CREATE INDEX wampgres_outbox_created ON wampgres_outbox (created_at)`
    yield* sql.unsafe(`CREATE FUNCTION wampgres_outbox_publish(p_topic text, p_args jsonb, p_kwargs jsonb, p_options jsonb DEFAULT '{}')
      RETURNS bigint LANGUAGE plpgsql AS $$
      DECLARE
        assigned bigint;
      BEGIN
        -- The topic's row stays locked until COMMIT: numbers follow commit order, without holes.
        INSERT INTO wampgres_outbox_topics AS t (topic, last_seq) VALUES (p_topic, 1)
          ON CONFLICT (topic) DO UPDATE SET last_seq = t.last_seq + 1
          RETURNING last_seq INTO assigned;
        INSERT INTO wampgres_outbox (topic, seq, args, kwargs, options)
          VALUES (p_topic, assigned, coalesce(p_args, '[]'), coalesce(p_kwargs, '{}'), coalesce(p_options, '{}'));
        PERFORM pg_notify('${wakeChannel}', '');
        RETURN assigned;
      END
    $$`)
  })
})

/** The outbox's tables and function, migrated at start-up (`wampgres_migrations_wampgres_outbox`). */
export const migrations = Migrations.layer("wampgres_outbox", schema)

/**
 * Writes one event (and its PUBLISH options) into the outbox in the current transaction, sent ahead
 * (`Ahead.ahead`): it travels with the next statement or the COMMIT, and a failure to write it
 * fails the transaction there.
 */
export const write = (topic: string, payload: Partial<Payload>, options?: Events.PublishOptions) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    ahead(sql`SELECT wampgres_outbox_publish(${topic}, ${JSON.stringify(payload.args ?? [])}::jsonb, ${
      JSON.stringify(payload.kwargs ?? {})
    }::jsonb, ${JSON.stringify(options ?? {})}::jsonb)`))

const OutboxRow = Schema.Struct({
  id: Rows.Int64,
  topic: Schema.String,
  seq: Rows.Int64,
  args: Schema.Array(Schema.Unknown),
  kwargs: Schema.Record(Schema.String, Schema.Unknown),
  options: Schema.Record(Schema.String, Schema.Unknown)
})
type OutboxRow = typeof OutboxRow.Type

/** The payload subscribers receive: the stored one with `_seq` added to kwargs. */
export const eventPayload = (row: Pick<OutboxRow, "args" | "kwargs" | "seq">): Payload => ({
  args: row.args,
  kwargs: { ...row.kwargs, [sequenceKey]: row.seq }
})

interface Pass {
  readonly leader: boolean
  readonly published: number
  readonly full: boolean
  readonly failed: boolean
}

/** One relay transaction: under the advisory lock, publish pending rows in order, mark the acknowledged. */
const relayPass = (settings: OutboxSettings, session: WampSession["Service"], housekeeping: () => boolean) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql.withTransaction(Effect.gen(function*() {
      const [lock] = yield* sql<{ leader: boolean }>`SELECT pg_try_advisory_xact_lock(${relayLockKeys[0]}, ${relayLockKeys[1]}) AS leader`
      if (lock?.leader !== true) return { leader: false, published: 0, full: false, failed: false } satisfies Pass
      if (housekeeping()) {
        const seconds = Duration.toSeconds(settings.retention)
        yield* sql`DELETE FROM wampgres_outbox
                   WHERE published_at IS NOT NULL AND created_at < now() - make_interval(secs => ${seconds})`
      }
      const rows = yield* Effect.flatMap(
        sql`SELECT id, topic, seq, args, kwargs, options FROM wampgres_outbox
            WHERE published_at IS NULL ORDER BY id LIMIT ${settings.batchSize}`,
        Rows.decodeAll(OutboxRow)
      )
      const done: Array<number> = []
      let failed = false
      // Sent back to back, in order, without waiting for each acknowledgement: a router handles one
      // session's messages in order, and WAMP delivers one publisher's events to each subscriber in
      // the order published. The acknowledgements are read in the same order; everything after the
      // first that did not come stays pending, to be published again (at least once, in order).
      const exits = yield* session.publishAll(
        rows.map((row) => ({ topic: row.topic, payload: eventPayload(row), options: { ...row.options, acknowledge: true } }))
      )
      for (let i = 0; i < rows.length; i++) {
        const row = rows[i]!
        const exit = exits[i]!
        if (exit._tag === "Failure") {
          const refusal = refusalOf(exit.cause)
          if (refusal === undefined) {
            yield* Effect.logWarning(`outbox: publishing ${row.topic} #${row.seq} failed, retrying later`, exit.cause)
            failed = true
            break
          }
          // Retrying cannot help (not authorized, invalid URI, too large): recorded, then the next.
          yield* Effect.logError(`outbox: the router refused ${row.topic} #${row.seq}: ${refusal}; not retried`)
          yield* sql`UPDATE wampgres_outbox SET refused = ${refusal} WHERE id = ${row.id}`
        }
        done.push(row.id)
      }
      if (done.length > 0) {
        yield* sql`UPDATE wampgres_outbox SET published_at = now() WHERE id IN ${sql.in(done)}`
      }
      return { leader: true, published: done.length, full: rows.length === settings.batchSize, failed } satisfies Pass
    }))
  )

/** Failures of a publish that are only a matter of time (no session, no answer yet). */
const transient: ReadonlySet<string> = new Set([WampgresUri.timeout, WampgresUri.notConnected, WampgresUri.session])

/** The router's reason when it refused an event for good; `undefined` when a retry may succeed. */
const refusalOf = (cause: Cause.Cause<WampError>): string | undefined => {
  const failure = cause.reasons.find((reason) => reason._tag === "Fail")
  if (failure === undefined || transient.has(failure.error.error)) return undefined
  return `${failure.error.error}: ${failure.error.message}`
}

/** Wakes the relay on every NOTIFY of `wampgres_outbox`; listens again after a loss. */
const listenForWakeUps = (pg: PgClient.PgClient, wake: Queue.Queue<void>) =>
  Effect.scoped(
    Effect.gen(function*() {
      const notifications = yield* pg.listen(wakeChannel)
      yield* Queue.offer(wake, undefined)
      return yield* Effect.forever(Effect.andThen(Queue.take(notifications), Queue.offer(wake, undefined)))
    })
  ).pipe(
    Effect.catchCause((cause) => Effect.logDebug(`outbox: LISTEN ${wakeChannel} lost (polling meanwhile)`, cause)),
    Effect.andThen(Effect.sleep("1 second")),
    Effect.forever
  )

/** Runs the relay for the lifetime of the scope. */
const relay = Effect.gen(function*() {
  const settings = yield* Settings
  const session = yield* WampSession
  const pg = yield* Database.sessionClient
  const wake = yield* Queue.sliding<void>(1)
  yield* Effect.forkScoped(listenForWakeUps(pg, wake))
  let lastHousekeeping = 0
  const housekeeping = () => {
    if (Date.now() - lastHousekeeping < 60_000) return false
    lastHousekeeping = Date.now()
    return true
  }
  const idle = Effect.raceFirst(Queue.take(wake), Effect.sleep(settings.pollInterval))
  const loop = Effect.gen(function*() {
    const pass = yield* relayPass(settings, session, housekeeping).pipe(
      Effect.catchCause((cause) =>
        Effect.as(Effect.logWarning("outbox: relay pass failed (database unreachable?)", cause), {
          leader: false,
          published: 0,
          full: false,
          failed: true
        } satisfies Pass)
      )
    )
    if (pass.failed) return yield* Effect.sleep("200 millis")
    if (pass.leader && pass.full) return
    yield* idle
  })
  yield* Effect.forkScoped(Effect.forever(loop))
  yield* Effect.logInfo("outbox relay started")
})

/** `Events.publishAfterCommit` through the outbox. */
export const publisher: Events.Publish = write

const listed = (list: unknown, value: string | number): boolean => Array.isArray(list) && list.includes(value)

/** Whether the router would deliver an event published with `options` to this caller. */
export const eligible = (options: Events.PublishOptions, caller: Caller.Identity | undefined): boolean => {
  const restricted = options.eligible !== undefined || options.eligible_authid !== undefined ||
    options.eligible_authrole !== undefined
  if (caller === undefined) return !restricted
  return (options.eligible === undefined || listed(options.eligible, caller.session)) &&
    (options.eligible_authid === undefined || listed(options.eligible_authid, caller.authid)) &&
    (options.eligible_authrole === undefined || listed(options.eligible_authrole, caller.authrole)) &&
    !listed(options.exclude, caller.session) && !listed(options.exclude_authid, caller.authid) &&
    !listed(options.exclude_authrole, caller.authrole)
}

export const ReplayEvent = Schema.Struct({
  seq: Schema.Int,
  args: Schema.Array(Schema.Unknown),
  kwargs: Schema.Record(Schema.String, Schema.Unknown)
})

/**
 * `wampgres.outbox.replay(topic, after, limit?)`: the events of `topic` with a sequence number
 * above `after`, oldest first, at most `limit` (default and maximum 1000); `truncated` is true when
 * some of them are past the retention and gone. Events not yet published may be included (a
 * subscriber drops what it already has by `_seq`). Authorize this URI like subscriptions to the
 * topics it serves.
 *
 * It runs as its caller: an event published with `eligible*` / `exclude*` options is replayed only
 * to a caller the router would have delivered it to. Numbers are per topic, so a subscriber of such
 * a topic sees gaps that are other recipients' events: a gap the replay does not fill is not its own.
 */
export const replay = Procedure.make("wampgres.outbox.replay", {
  args: {
    topic: Schema.String.check(Schema.isMinLength(1)),
    after: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)),
    limit: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 1000 })))
  },
  positional: ["topic", "after"],
  result: Schema.Struct({ events: Schema.Array(ReplayEvent), truncated: Schema.Boolean }),
  transactional: true,
  asCaller: true,
  handler: Effect.fnUntraced(function*({ after, limit, topic }) {
    const sql = yield* SqlClient.SqlClient
    const caller = yield* Caller.Caller
    const rows = yield* Effect.flatMap(
      sql`SELECT id, topic, seq, args, kwargs, options FROM wampgres_outbox
          WHERE topic = ${topic} AND seq > ${after} ORDER BY seq LIMIT ${limit ?? 1000}`,
      Rows.decodeAll(OutboxRow)
    )
    const [last] = yield* sql<{ last: bigint | null }>`SELECT (SELECT last_seq FROM wampgres_outbox_topics WHERE topic = ${topic}) AS last`
    const lastSeq = last?.last === null || last?.last === undefined ? 0 : Number(last.last)
    const expectedFirst = after + 1
    const truncated = lastSeq >= expectedFirst && (rows.length === 0 || rows[0]!.seq > expectedFirst)
    return {
      events: rows.filter((row) => eligible(row.options, caller))
        .map((row) => ({ seq: row.seq, args: row.args, kwargs: eventPayload(row).kwargs })),
      truncated
    }
  })
})

export const ReplayGroup = Group.make("outbox", [replay])

/**
 * The outbox for the composition: its schema, the relay, `wampgres.outbox.replay`, and the
 * `Events.Publisher` that writes into it. Provide it to the groups that publish
 * (`Layer.provide(Outbox.layer)`); built once however many groups use it.
 */
export const layer = Layer.mergeAll(
  Layer.succeed(Events.Publisher, publisher),
  Layer.effectDiscard(relay),
  ReplayGroup.layer
).pipe(Layer.provide(migrations))
