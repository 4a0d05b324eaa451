/**
 * Declaring a WAMP procedure: one value holding its URI, the Schema of its arguments and of its
 * result, its typed errors (each with its WAMP error URI), its registration options, whether it runs
 * in a transaction, and its handler, an Effect generator.
 *
 * ```ts
 * export class NoSuchAccount extends Schema.TaggedError<NoSuchAccount>()("NoSuchAccount", { id: Schema.Int }) {
 *   static readonly uri = "com.example.ledger.error.no_such_account"
 * }
 *
 * export const getAccount = Procedure.make("com.example.ledger.get_account", {
 *   args: { id: Schema.Int },       // kwargs {id} ...
 *   positional: ["id"],             // ... or args [id]
 *   result: Account,
 *   errors: [NoSuchAccount],
 *   transactional: false,
 *   handler: Effect.fnUntraced(function*({ id }) { ... })
 * })
 * ```
 *
 * The same value gives a typed client (`Client.call(getAccount, { id: 1 })`) and is registered with
 * its group (`Group.layer(...)`); `invoke` runs it against raw WAMP args/kwargs without a session.
 */
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import type { InvocationRequest, RegisterOptions } from "../layers/WampSession.js"

/** A Schema with no service requirements, as procedures exchange plain WAMP payloads. */
export type PlainSchema<T = unknown> = Schema.Codec<T, unknown, never, never>

/**
 * A typed error a procedure can fail with: a `Schema.TaggedError` class with a static `uri`, its WAMP
 * error URI. The caller receives that URI, the error's message (or the URI) as args[0] and the
 * error's fields as kwargs:
 *
 * ```ts
 * export class NoSuchAccount extends Schema.TaggedError<NoSuchAccount>()("NoSuchAccount", { id: Schema.Int }) {
 *   static readonly uri = "com.example.ledger.error.no_such_account"
 * }
 * ```
 */
export interface ErrorSchema extends Schema.Codec<{ readonly _tag: string; readonly message?: string }, unknown, never, never> {
  readonly uri: string
}

export interface Procedure<Input, Output, Failure, R> {
  readonly _tag: "Procedure"
  readonly uri: string
  /** Decodes the call's arguments (positional merged into keyword, see `positional`). */
  readonly input: PlainSchema<Input>
  /** Names of all `input` fields (any other kwarg is rejected). */
  readonly fields: ReadonlyArray<string>
  /** Names of `input` fields in positional order: args[i] fills field positional[i]. */
  readonly positional: ReadonlyArray<string>
  readonly output: PlainSchema<Output>
  readonly errors: ReadonlyArray<ErrorSchema>
  readonly options: RegisterOptions
  /** When true the handler runs in one transaction (adbapi's runInteraction). */
  readonly transactional: boolean
  readonly handler: (input: Input, request: InvocationRequest) => Effect.Effect<Output, Failure | SqlError, R>
}

/** Any procedure, for collections. */
export type Any = Procedure<any, any, any, any>

export declare namespace Procedure {
  export type Input<P> = P extends Procedure<infer I, any, any, any> ? I : never
  export type Output<P> = P extends Procedure<any, infer O, any, any> ? O : never
  export type Failure<P> = P extends Procedure<any, any, infer E, any> ? E : never
  export type Services<P> = P extends Procedure<any, any, any, infer R> ? R : never
}

/**
 * Declares a procedure. `args` are the fields callers send as kwargs (or positionally, in the order
 * of `positional`); excess or missing fields fail with `wamp.error.invalid_argument`.
 */
export const make = <
  const Fields extends Schema.Struct.Fields,
  Output,
  const Errors extends ReadonlyArray<ErrorSchema> = readonly [],
  R = never,
  const Transactional extends boolean = false
>(
  uri: string,
  spec: {
    readonly args?: Fields
    readonly positional?: ReadonlyArray<keyof Fields & string>
    readonly result: PlainSchema<Output>
    readonly errors?: Errors
    readonly options?: RegisterOptions
    readonly transactional?: Transactional
    readonly handler: (
      input: Schema.Struct<Fields>["Type"],
      request: InvocationRequest
    ) => Effect.Effect<Output, Errors[number]["Type"] | SqlError, R>
  }
): Procedure<
  Schema.Struct<Fields>["Type"],
  Output,
  Errors[number]["Type"],
  R | (Transactional extends true ? SqlClient.SqlClient : never)
> => ({
  _tag: "Procedure",
  uri,
  input: Schema.Struct(spec.args ?? ({} as Fields)) as unknown as PlainSchema<Schema.Struct<Fields>["Type"]>,
  fields: Object.keys(spec.args ?? {}),
  positional: spec.positional ?? [],
  output: spec.result,
  errors: spec.errors ?? [],
  options: spec.options ?? {},
  transactional: spec.transactional ?? false,
  handler: spec.handler
})
