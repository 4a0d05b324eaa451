/**
 * A `WampSession` for unit tests of procedures that publish: it records every publication and
 * answers nothing else (a test that calls, registers or subscribes through it fails loudly, because
 * those need a router: use the integration harness for them).
 *
 * ```ts
 * const program = Effect.gen(function*() {
 *   yield* invoke(transfer, request(transfer.uri, { kwargs: { from: 1, to: 2, amount: 30 } }))
 *   const events = yield* WampSessionMock.published
 *   assert.deepStrictEqual(events.map((e) => e.topic), ["com.example.ledger.on_transfer"])
 * }).pipe(Effect.provide(Layer.mergeAll(PgClientMock.layer({ rules }), WampSessionMock.layer)))
 * ```
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { type Payload, publishEach, WampSession } from "../layers/WampSession.js"

/** One recorded publication. */
export interface Publication {
  readonly topic: string
  readonly args: ReadonlyArray<unknown>
  readonly kwargs: Readonly<Record<string, unknown>>
  readonly options: Readonly<Record<string, unknown>>
}

/** Access to what the mocked session published, in order. */
export class WampSessionMock extends Context.Service<WampSessionMock, {
  readonly published: Effect.Effect<ReadonlyArray<Publication>>
}>()("wampgres/testing/WampSessionMock") {}

/** The publications so far, in order. */
export const published: Effect.Effect<ReadonlyArray<Publication>, never, WampSessionMock> = WampSessionMock.use((mock) =>
  mock.published
)

const unsupported = (operation: string) =>
  Effect.die(`WampSessionMock: ${operation} needs a router; test it with the integration harness`)

/** A fresh recording session per layer build: provide it per test. */
export const layer: Layer.Layer<WampSession | WampSessionMock> = Layer.effectContext(
  Effect.sync(() => {
    const publications: Array<Publication> = []
    const publish = (topic: string, payload?: Partial<Payload>, options?: Record<string, unknown>) =>
      Effect.sync(() => {
        publications.push({ topic, args: payload?.args ?? [], kwargs: payload?.kwargs ?? {}, options: options ?? {} })
      })
    const session = WampSession.of({
      url: "ws://wampgres.mock/ws",
      realm: "realm1",
      sessionId: unsupported("sessionId"),
      notReady: Effect.succeed([]),
      register: () => unsupported("register"),
      call: (procedure) => unsupported(`call ${procedure}`),
      subscribe: (topic) => unsupported(`subscribe ${topic}`),
      publish,
      publishAll: publishEach(publish)
    })
    return Context.make(WampSession, session).pipe(
      Context.add(WampSessionMock, WampSessionMock.of({ published: Effect.sync(() => publications.slice()) }))
    )
  })
)
