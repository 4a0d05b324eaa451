/**
 * The autobahn connection as a scoped resource: joins the realm, and after every close opens again
 * on a `Schedule` (exponential from 200 ms by 1.5, capped at `maxRetryDelay`, jittered; reset after
 * every join). autobahn's own retry is off (`onclose` always stops it), so one loop decides about
 * every reconnect, whatever closed the connection (network loss, the router's GOODBYE, a failed
 * connect). Closing the scope leaves the realm with GOODBYE (bounded wait) and stops the loop.
 *
 * autobahn's own warnings (e.g. "connection closed") go to Effect's logger at Debug level
 * (`autobahnLog.ts`); the reconnects are logged here, in the service's words.
 */
import autobahn from "autobahn"
import * as Credentials from "../Credentials.js"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Latch from "effect/Latch"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { Uri, WampgresUri } from "../../wamp/uris.js"
import * as AutobahnLog from "./autobahnLog.js"
import * as CallCanceling from "./callCanceling.js"
import * as Failure from "./Failure.js"
import { type WampError, wampError } from "./Protocol.js"
import * as Serializers from "./serializers.js"
import type { WampSessionConfig } from "./SessionConfig.js"

export interface Connection {
  /** The joined session, if any (synchronous, for the hot path). */
  readonly current: () => autobahn.Session | undefined
  /** The joined session, waiting for a (re)join up to the request timeout. */
  readonly session: Effect.Effect<autobahn.Session, WampError>
  /** Runs an autobahn request bounded by the request timeout. */
  readonly request: <A>(what: string, thunk: () => Promise<A> | undefined) => Effect.Effect<A | undefined, WampError>
  /** Waits for the first join, at most `joinTimeout`; fails with the reason it could not. */
  readonly awaitJoin: Effect.Effect<void, WampError>
}

/** What the session does when a join succeeds (`rejoin`: not the first) and when a connection closes. */
export interface Hooks {
  readonly onJoin: (session: autobahn.Session, rejoin: boolean) => Effect.Effect<void>
  readonly onClose: () => void
}

/** Delays between attempts to open the connection again. */
export const reconnectSchedule = (maxDelay: Duration.Duration) =>
  Schedule.min([
    Schedule.exponential(Duration.millis(200), 1.5),
    Schedule.spaced(Duration.max(Duration.millis(200), maxDelay))
  ]).pipe(Schedule.jittered)

/** How a connection attempt ended: closed before joining, or a joined session that closed. */
class Closed {
  constructor(readonly reason: string, readonly joined: boolean) {}
}

/** Opens the connection for the lifetime of the scope (`awaitJoin` waits for the first join). */
/** The failure of a request the router did not answer within `timeout`. */
export const noAnswer = (what: string, timeout: Duration.Duration): WampError =>
  wampError(WampgresUri.timeout, `${what}: no answer within ${Duration.format(timeout)}`)

export const make = (settings: WampSessionConfig, hooks: Hooks): Effect.Effect<Connection, WampError, Scope.Scope> =>
  Effect.gen(function*() {
    const runFork = Effect.runForkWith(yield* Effect.context<never>())
    yield* Effect.acquireRelease(
      Effect.sync(() => AutobahnLog.route((message) => runFork(Effect.logDebug(`autobahn: ${message}`)))),
      (unroute) => Effect.sync(unroute)
    )
    const joined = yield* Latch.make(false)
    const closed = yield* Latch.make(false)
    let current: autobahn.Session | undefined
    let closing = false
    let joins = 0
    let lastClose = "not connected yet"
    /** Resumes the attempt in progress when its connection closes. */
    let onAttemptClosed: ((closed: Closed) => void) | undefined

    const serializers: Array<autobahn.Serializer> = [new Serializers.JsonSerializer()]
    if (settings.serializer === "msgpack") serializers.unshift(new Serializers.MsgpackSerializer())

    const connection = new autobahn.Connection({
      realm: settings.realm,
      ...(settings.credentials === undefined ? {} : Credentials.connectionOptions(settings.credentials)),
      transports: [{ type: CallCanceling.TRANSPORT_TYPE, url: settings.url, serializers }],
      use_es6_promises: true,
      // Rejections of our endpoints are answered as WAMP errors already; autobahn would console.error them.
      on_user_error: () => {},
      on_internal_error: (error, message) => runFork(Effect.logWarning(`autobahn: ${message ?? ""}`, error))
    })
    let joinedThisAttempt = false
    connection.onopen = (on) => {
      if (closing) {
        try {
          on.leave(Uri.closeNormal)
        } catch {
          // already closed
        }
        return
      }
      joinedThisAttempt = true
      current = on
      const rejoin = joins++ > 0
      runFork(Effect.andThen(joined.open, hooks.onJoin(on, rejoin)))
    }
    connection.onclose = (reason, details) => {
      current = undefined
      joined.closeUnsafe()
      lastClose = `${reason}${details.reason ? ` (${details.reason})` : ""}`
      hooks.onClose()
      if (closing) {
        // Shutting down: the loop is interrupted next, no reconnect.
        closed.openUnsafe()
        return true
      }
      const resume = onAttemptClosed
      onAttemptClosed = undefined
      resume?.(new Closed(lastClose, joinedThisAttempt))
      // autobahn's own retry stays off: the loop below decides.
      return true
    }

    /** One attempt: opens the connection and ends when it closes. */
    const attempt = Effect.callback<Closed>((resume) => {
      if (closing) return
      joinedThisAttempt = false
      onAttemptClosed = (result) => resume(Effect.succeed(result))
      try {
        connection.open()
      } catch (error) {
        onAttemptClosed = undefined
        resume(Effect.succeed(new Closed(`cannot open: ${String(error)}`, false)))
      }
    })

    /** Attempts until one that joined has closed; waits per the schedule after those that did not. */
    const untilJoinedAndClosed = attempt.pipe(
      Effect.flatMap((result) => result.joined ? Effect.succeed(result) : Effect.fail(result)),
      Effect.retry({
        schedule: reconnectSchedule(settings.maxRetryDelay).pipe(
          Schedule.tap(({ duration }) =>
            Effect.logWarning(`WAMP connection ${lastClose}, reconnecting in ${(Duration.toMillis(duration) / 1000).toFixed(1)}s`)
          )
        )
      })
    )
    const first = Duration.millis(200)
    yield* Effect.forkScoped(
      Effect.forever(
        untilJoinedAndClosed.pipe(
          Effect.tap(() => Effect.logWarning(`WAMP connection ${lastClose}, reconnecting in ${Duration.format(first)}`)),
          Effect.andThen(Effect.sleep(first))
        )
      )
    )

    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        closing = true
        const wasOpen = current !== undefined && current.isOpen
        try {
          connection.close(Uri.closeNormal)
        } catch {
          // "connection already closed": nothing to do
        }
        if (wasOpen) {
          // Wait for the GOODBYE handshake and the socket close, bounded.
          yield* closed.await.pipe(Effect.timeoutOption(Duration.seconds(2)))
          yield* Effect.logInfo(`Left ${settings.realm} (GOODBYE)`)
        }
      })
    )

    const awaitJoin = joined.await.pipe(
      Effect.timeoutOrElse({
        duration: settings.joinTimeout,
        orElse: () =>
          Effect.fail(wampError(
            WampgresUri.joinTimeout,
            `could not join realm ${settings.realm} at ${settings.url} within ${
              Duration.format(settings.joinTimeout)
            } (last: ${lastClose})`
          ))
      })
    )

    const timeout = settings.requestTimeout
    const request = <A>(what: string, thunk: () => Promise<A> | undefined) =>
      Effect.tryPromise({ try: async () => thunk(), catch: Failure.fromRejection(what) }).pipe(
        Effect.timeoutOrElse({
          duration: timeout,
          orElse: () => Effect.fail(noAnswer(what, timeout))
        })
      )

    const session: Effect.Effect<autobahn.Session, WampError> = Effect.suspend(() =>
      current !== undefined && current.isOpen ? Effect.succeed(current) : joined.await.pipe(
        Effect.andThen(Effect.suspend(() => current !== undefined ? Effect.succeed(current) : Effect.fail(undefined))),
        Effect.eventually,
        Effect.timeoutOrElse({
          duration: timeout,
          orElse: () =>
            Effect.fail(wampError(WampgresUri.notConnected, `not joined to ${settings.realm} at ${settings.url}: ${lastClose}`))
        })
      )
    )

    return { current: () => current, session, request, awaitJoin }
  })
