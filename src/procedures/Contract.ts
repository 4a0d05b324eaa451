/**
 * A procedure's contract: what a caller and the handler agree on, with no implementation. A module
 * of contracts imports no SQL, no Node built-ins and no server code (a test enforces it), so a
 * browser or another service can import it for a typed client (`Client.call(contract, input)`),
 * while the server implements it (`Procedure.implement` / `Group.implement`).
 *
 * ```ts
 * export class NoSuchAccount extends Schema.TaggedError<NoSuchAccount>()("NoSuchAccount", { id: Schema.Int }) {
 *   static readonly uri = "com.example.ledger.error.no_such_account"
 * }
 *
 * export const getAccount = Contract.make("com.example.ledger.get_account", {
 *   args: { id: Schema.Int },       // kwargs {id} ...
 *   positional: ["id"],             // ... or args [id]
 *   result: Account,
 *   errors: [NoSuchAccount],
 *   transactional: false,           // true: one transaction; { retries: 5 }: retried on 40001/40P01
 *   asCaller: true                  // transactions run as the caller (Caller.ts: settings, role)
 * })
 * ```
 */
import * as Schema from "effect/Schema"
import type { RegisterOptions } from "../layers/wamp/Protocol.js"

/** A Schema with no service requirements, as procedures exchange plain WAMP payloads. */
export type PlainSchema<T = unknown> = Schema.Codec<T, unknown, never, never>

/**
 * A typed error a procedure can fail with: a `Schema.TaggedError` class with a static `uri`, its WAMP
 * error URI. The caller receives that URI, the error's message (or the URI) as args[0] and the
 * error's fields as kwargs.
 */
export interface ErrorSchema<E = { readonly _tag: string; readonly message?: string }>
  extends Schema.Codec<E, unknown, never, never>
{
  readonly uri: string
}

/**
 * How a procedure uses transactions: `false` none (the handler may open its own), `true` one
 * transaction around the handler (committed on success, rolled back on any failure, defect or
 * cancel), `{ retries, baseDelay }` the same, run again from the start after a serialization failure
 * or deadlock at most `retries` times (default 5), with a jittered back-off from `baseDelay` ms
 * (default 5).
 */
export type TransactionPolicy = boolean | { readonly retries?: number; readonly baseDelay?: number }

export interface Contract<Input, Output, Failure, Transactional extends TransactionPolicy = TransactionPolicy> {
  readonly _tag: "Contract"
  readonly uri: string
  /** Decodes the call's arguments (positional merged into keyword, see `positional`). */
  readonly input: PlainSchema<Input>
  /** Names of all `input` fields (any other kwarg is rejected). */
  readonly fields: ReadonlyArray<string>
  /** Names of `input` fields in positional order: args[i] fills field positional[i]. */
  readonly positional: ReadonlyArray<string>
  readonly output: PlainSchema<Output>
  /** The element of its progressive results, when the procedure streams. */
  readonly progress: PlainSchema<unknown> | undefined
  readonly errors: ReadonlyArray<ErrorSchema<Failure>>
  readonly options: RegisterOptions
  readonly transactional: Transactional
  /** What the procedure does, for people: reflection (`wamp.reflection.procedure.describe`) shows it. */
  readonly description: string | undefined
  /**
   * Its transactions run as the caller (see `Caller.ts`): registered with `disclose_caller`, the
   * caller's authid/authrole/session set in every transaction, the group's role mapping applied.
   */
  readonly asCaller: boolean
}

/** Any contract, for collections. */
export type Any = Contract<unknown, unknown, unknown, TransactionPolicy>

export type Input<C> = C extends Contract<infer I, infer _O, infer _E, infer _T> ? I : never
export type Output<C> = C extends Contract<infer _I, infer O, infer _E, infer _T> ? O : never
export type Failure<C> = C extends Contract<infer _I, infer _O, infer E, infer _T> ? E : never

/** Argument fields whose Schemas need no services (WAMP payloads are plain data). */
export type PlainFields = { readonly [name: string]: Schema.Top & { readonly DecodingServices: never; readonly EncodingServices: never } }

/** What `make` takes: the contract's parts as a user writes them. */
export interface Spec<
  Fields extends PlainFields,
  Output,
  Errors extends ReadonlyArray<ErrorSchema>,
  Progress,
  Transactional extends TransactionPolicy
> {
  readonly args?: Fields
  readonly positional?: ReadonlyArray<keyof Fields & string>
  readonly result: PlainSchema<Output>
  readonly progress?: PlainSchema<Progress>
  readonly errors?: Errors
  readonly options?: RegisterOptions
  readonly transactional?: Transactional
  readonly description?: string
  readonly asCaller?: boolean
}

/**
 * Declares a contract. `args` are the fields callers send as kwargs (or positionally, in the order
 * of `positional`); excess or missing fields fail with `wamp.error.invalid_argument`.
 */
export const make = <
  const Fields extends PlainFields,
  Output,
  const Errors extends ReadonlyArray<ErrorSchema> = readonly [],
  Progress = never,
  const Transactional extends TransactionPolicy = false
>(
  uri: string,
  spec: Spec<Fields, Output, Errors, Progress, Transactional>
): Contract<Schema.Struct<Fields>["Type"], Output, Errors[number]["Type"], Transactional> => {
  const input: PlainSchema<Schema.Struct<Fields>["Type"]> = Schema.Struct(spec.args ?? emptyFields<Fields>())
  return {
    _tag: "Contract",
    uri,
    input,
    fields: Object.keys(spec.args ?? {}),
    positional: spec.positional ?? [],
    output: spec.result,
    progress: spec.progress,
    errors: spec.errors ?? [],
    // The caller's identity comes from the router, which discloses it when the callee asks.
    options: spec.asCaller === true ? { ...spec.options, disclose_caller: true } : spec.options ?? {},
    transactional: spec.transactional ?? notTransactional<Transactional>(),
    description: spec.description,
    asCaller: spec.asCaller === true
  }
}

const emptyFields = <Fields extends PlainFields>(): Fields => ({}) as Fields

/**
 * Declares the contract of a procedure that streams: as `make`, with the Schema of each progressive
 * result typed (`Progressive.send(rows, request, contract.progress)` checks the rows against it).
 */
export const streaming = <
  const Fields extends PlainFields,
  Output,
  Progress,
  const Errors extends ReadonlyArray<ErrorSchema> = readonly [],
  const Transactional extends TransactionPolicy = false
>(
  uri: string,
  spec: Spec<Fields, Output, Errors, Progress, Transactional> & { readonly progress: PlainSchema<Progress> }
): Contract<Schema.Struct<Fields>["Type"], Output, Errors[number]["Type"], Transactional> & {
  readonly progress: PlainSchema<Progress>
} => ({ ...make(uri, spec), progress: spec.progress })

/** The default policy (`false`); `Transactional` is `false` whenever the spec leaves it out. */
const notTransactional = <Transactional extends TransactionPolicy>(): Transactional => false as Transactional

/**
 * A topic's contract: its URI and the Schema of each event's payload (args[0]). Typed subscribers
 * decode events with it, and reflection (`wamp.reflection.topic.describe`) shows it.
 *
 * ```ts
 * export const onTransfer = Contract.topic("com.example.ledger.on_transfer", { payload: Transfer })
 * ```
 */
export interface Topic<Payload> {
  readonly _tag: "Topic"
  readonly uri: string
  readonly payload: PlainSchema<Payload>
  readonly description: string | undefined
}

/** Declares a topic's contract. */
export const topic = <Payload>(
  uri: string,
  spec: { readonly payload: PlainSchema<Payload>; readonly description?: string }
): Topic<Payload> => ({ _tag: "Topic", uri, payload: spec.payload, description: spec.description })

/** Any topic, for collections. */
export type AnyTopic = Topic<unknown>
