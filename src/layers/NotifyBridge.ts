/**
 * The LISTEN/NOTIFY bridge: PostgreSQL notifications published as WAMP events, one configured
 * mapping channel → topic each. Whatever changes the database (a procedure, `psql`, a cron job)
 * and sends `NOTIFY channel, '<json>'` reaches WAMP subscribers of the topic.
 *
 * - payload: JSON is parsed and published as args [value]; anything else as args [text];
 * - one LISTEN connection per mapping, held for the layer's lifetime: from the direct client when
 *   `DATABASE_DIRECT_URL` is set (behind a transaction pooler LISTEN does not work), else the pool;
 * - recovery: `@effect/sql-pg` does not LISTEN again when its connection drops (PostgreSQL
 *   restart, `pg_terminate_backend`), so the bridge does: it logs the loss, retries with back-off
 *   (capped at `maxRetryDelay`) and, once listening again, logs the gap. Notifications sent during
 *   the gap are lost (PostgreSQL queues them only for listening sessions): consumers that must not
 *   miss a change re-read the state after the gap.
 *
 * ```ts
 * NotifyBridge.layer([{ channel: "ledger_accounts", topic: "com.example.ledger.on_account_change" }])
 * ```
 * or from the environment: `NOTIFY_BRIDGE="ledger_accounts=com.example.ledger.on_account_change,..."`.
 */
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Database from "./Database.js"
import { bridgeGaps, bridgeReconnects } from "./Metrics.js"
import { type Payload, WampSession } from "./WampSession.js"
import { NOTIFY_BRIDGE, parseMappings } from "../Settings.js"

export interface Mapping {
  /** The PostgreSQL channel to LISTEN on. */
  readonly channel: string
  /** The WAMP topic each notification is published to. */
  readonly topic: string
  /** Turns a notification's payload into the event payload. Default: `payloadOf`. */
  readonly toPayload?: (payload: string) => Partial<Payload>
  /** PUBLISH options for a notification (e.g. `eligible_authid` to reach only its owner). Default: none. */
  readonly toOptions?: (payload: string) => Record<string, unknown> | undefined
}

export interface Options {
  /** The longest pause between attempts to LISTEN again. Default 5 seconds. */
  readonly maxRetryDelay?: Duration.Input
  /** Called once LISTEN is (again) confirmed: tests and health checks wait on it. */
  readonly onListening?: (mapping: Mapping) => Effect.Effect<void>
}

/** The default payload mapping: JSON → args [value], other text → args [text]. */
export const payloadOf = (payload: string): Partial<Payload> => {
  try {
    return { args: [JSON.parse(payload)] }
  } catch {
    return { args: [payload] }
  }
}

/** Listens on one channel until its connection fails; publishes every notification. */
const listenOnce = (pg: PgClient.PgClient, session: WampSession["Service"], mapping: Mapping, options: Options) =>
  Effect.scoped(
    Effect.gen(function*() {
      const queue = yield* pg.listen(mapping.channel)
      if (options.onListening !== undefined) yield* options.onListening(mapping)
      const toPayload = mapping.toPayload ?? payloadOf
      // Forever, until the queue fails with the connection's error.
      return yield* Effect.forever(
        Effect.flatMap(Queue.take(queue), (notification) =>
          Effect.ignore(
            session.publish(mapping.topic, toPayload(notification.payload), mapping.toOptions?.(notification.payload)),
            { log: "Warn" }
          ))
      )
    })
  )

/** A LISTEN that had been confirmed was lost: the back-off starts over. */
class Lost {
  constructor(readonly cause: Cause.Cause<unknown>) {}
}

/** An attempt that failed before LISTEN was confirmed (any cause, defects included). */
class Failed {
  constructor(readonly cause: Cause.Cause<unknown>) {}
}

/** Runs one mapping for the lifetime of the scope, listening again after every loss. */
const bridge = (pg: PgClient.PgClient, session: WampSession["Service"], mapping: Mapping, options: Options) => {
  let lostAt: number | undefined
  let confirmed = false
  const maxDelay = Duration.fromInputUnsafe(options.maxRetryDelay ?? Duration.seconds(5))
  const announce: Options = {
    ...options,
    onListening: (m) =>
      Effect.andThen(
        Effect.suspend(() => {
          confirmed = true
          if (lostAt === undefined) return Effect.logInfo(`LISTEN ${m.channel} → ${m.topic}`)
          const gap = Date.now() - lostAt
          lostAt = undefined
          return Effect.logWarning(
            `LISTEN ${m.channel} again after a gap of ${gap} ms: notifications sent in the gap were not delivered`
          ).pipe(Effect.andThen(Metric.update(bridgeReconnects, 1)), Effect.andThen(Metric.update(bridgeGaps, gap / 1000)))
        }),
        options.onListening?.(m) ?? Effect.void
      )
  }
  /** Listens until lost; a loss after LISTEN was confirmed is `Lost`, before it the failure itself. */
  const listenUntilLost = Effect.suspend(() => {
    confirmed = false
    return listenOnce(pg, session, mapping, announce)
  }).pipe(
    Effect.catchCause((cause) => {
      if (!confirmed) return Effect.fail<Failed | Lost>(new Failed(cause))
      lostAt = Date.now()
      return Effect.andThen(
        Effect.logWarning(`LISTEN ${mapping.channel} lost, listening again at once`, cause),
        Effect.fail(new Lost(cause))
      )
    })
  )
  /** Attempts that fail before LISTEN is confirmed wait per the schedule. */
  const backoff = Schedule.min([Schedule.exponential(Duration.millis(100), 2), Schedule.spaced(maxDelay)]).pipe(
    Schedule.setInputType<Failed | Lost>(),
    Schedule.tap(({ duration, input }) =>
      Effect.suspend(() => {
        const log = lostAt === undefined
          ? Effect.logWarning(`LISTEN ${mapping.channel} lost, listening again in ${Duration.toMillis(duration)} ms`, input.cause)
          : Effect.logDebug(`LISTEN ${mapping.channel} still failing, next attempt in ${Duration.toMillis(duration)} ms`, input.cause)
        lostAt ??= Date.now()
        return log
      })
    )
  )
  return listenUntilLost.pipe(
    Effect.retry({ schedule: backoff, while: (error) => !(error instanceof Lost) }),
    Effect.catchIf((error) => error instanceof Lost, () => Effect.void),
    Effect.forever,
    Effect.annotateLogs({ bridge: mapping.channel })
  )
}

/** Bridges every mapping for the lifetime of the layer. */
export const layer = (
  mappings: ReadonlyArray<Mapping>,
  options: Options = {}
): Layer.Layer<never, never, PgClient.PgClient | WampSession> =>
  Layer.effectDiscard(
    Effect.gen(function*() {
      const pg = yield* Database.sessionClient
      const session = yield* WampSession
      for (const mapping of mappings) yield* Effect.forkScoped(bridge(pg, session, mapping, options))
    })
  )

/** `NOTIFY_BRIDGE` (`channel=topic,...`; empty or unset: none), declared in `src/Settings.ts`. */
export const config: Config.Config<ReadonlyArray<Mapping>> = NOTIFY_BRIDGE.config

export { parseMappings }

/** The bridge configured by `NOTIFY_BRIDGE`. */
export const layerConfig: Layer.Layer<never, Config.ConfigError, PgClient.PgClient | WampSession> = Layer.unwrap(
  Effect.map(config, (mappings) => layer(mappings))
)
