/**
 * Running the ledger's procedures in unit tests: `invoke` with a raw WAMP payload against the
 * scripted PgClientMock and a WampSessionMock that records what they publish.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import type { Payload } from "../../../src/layers/WampSession.js"
import * as Caller from "../../../src/procedures/Caller.js"
import { invoke, request } from "../../../src/procedures/invoke.js"
import type * as Procedure from "../../../src/procedures/Procedure.js"
import * as PgClientMock from "../../../src/testing/PgClientMock.js"
import * as WampSessionMock from "../../../src/testing/WampSessionMock.js"

/** The timestamp the mocked driver returns for `at` columns. */
export const at = new Date("2026-11-25T19:40:00.123Z")

export interface Call {
  readonly args?: Array<unknown>
  readonly kwargs?: Record<string, unknown>
}

/** The caller the router discloses in these tests (session 42, authid ada, authrole user). */
export interface Who {
  readonly caller: number | undefined
  readonly callerAuthid: string | undefined
  readonly callerAuthrole: string | undefined
}
export const caller: Who = { caller: 42, callerAuthid: "ada", callerAuthrole: "user" }

/**
 * Invokes a procedure as the WAMP session would (as its group runs it: `asCaller` procedures as
 * `caller`); with `progress`, as a call with receive_progress.
 */
export const call = <R>(
  procedure: Procedure.Runnable<R> & { readonly asCaller?: boolean },
  payload: Call,
  progress?: (payload: Payload) => Effect.Effect<void>,
  who: Partial<Who> = {}
) => {
  const req = { ...request(procedure.uri, payload), ...caller, ...who, progress }
  return procedure.asCaller === true ? Caller.provide(req, undefined, invoke(procedure, req)) : invoke(procedure, req)
}

/** Runs a test against a fresh mocked database answering by `rules` and a fresh recording session. */
export const mocked = (...rules: ReadonlyArray<PgClientMock.Rule>) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
  self.pipe(
    Effect.provide(Layer.mergeAll(PgClientMock.layer({ rules }), WampSessionMock.layer)),
    // invoke logs database failures; keep the test output for assertions.
    Effect.provide(Logger.layer([]))
  )

/** What the procedures published, in order: topic and positional arguments. */
export const events = Effect.map(WampSessionMock.published, (all) => all.map(({ args, topic }) => ({ topic, args })))
