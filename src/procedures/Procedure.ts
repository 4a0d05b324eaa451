/**
 * A procedure: a contract (see `Contract.ts`) with the handler that implements it, an Effect
 * (usually a generator). The handler is checked against the contract at compile time (input,
 * result, typed errors) and its requirements `R` stay in the type, through `Group` to the layer.
 *
 * Contract and handler apart (a client can import the contract without the server):
 *
 * ```ts
 * export const getAccountHandler = Procedure.implement(getAccount, Effect.fnUntraced(function*({ id }) { ... }))
 * ```
 *
 * or both in one declaration, when nothing but the server needs the contract:
 *
 * ```ts
 * export const getAccount = Procedure.make("com.example.ledger.get_account", {
 *   args: { id: Schema.Int },
 *   result: Account,
 *   errors: [NoSuchAccount],
 *   handler: Effect.fnUntraced(function*({ id }) { ... })
 * })
 * ```
 *
 * `invoke(procedure, request)` runs it against raw WAMP args/kwargs without a session.
 */
import * as Effect from "effect/Effect"
import type * as Schema from "effect/Schema"
import type * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import type { InvocationRequest, Payload, WampError } from "../layers/wamp/Protocol.js"
import * as Contract from "./Contract.js"
import { type Around, prepare } from "./invoke.js"
import * as Transaction from "./Transaction.js"

export type { ErrorSchema, PlainSchema } from "./Contract.js"

/** A handler of a contract with inputs `I`, result `O` and typed errors `E`, requiring `R`. */
export type Handler<I, O, E, R> = (input: I, request: InvocationRequest) => Effect.Effect<O, E | SqlError, R>

/** The handler type a contract asks for. */
export type HandlerOf<C, R> = Handler<Contract.Input<C>, Contract.Output<C>, Contract.Failure<C>, R>

/** What a session needs of a procedure: its URI, options and its prepared call path. */
export interface Runnable<R> {
  readonly uri: string
  readonly options: Contract.Contract<unknown, unknown, unknown>["options"]
  /** One invocation: arguments decoded, handler run (in its transaction), result encoded. */
  readonly run: (call: InvocationRequest) => Effect.Effect<Payload, WampError, R>
}

export interface Procedure<I, O, E, R, T extends Contract.TransactionPolicy = Contract.TransactionPolicy>
  extends Contract.Contract<I, O, E, T>, Runnable<R>
{
  readonly handler: Handler<I, O, E, R>
}

/** Any procedure, for collections. */
export interface Any extends Contract.Any, Runnable<unknown> {
  readonly handler: (input: never, request: InvocationRequest) => Effect.Effect<unknown, unknown, unknown>
}

/** The services a procedure's transaction policy adds: `SqlClient` unless it is `false`. */
export type TransactionServices<T> = T extends false ? never : SqlClient.SqlClient

const noTransaction: Around<never> = (self) => self

/** The wrapper a transaction policy asks for. */
const around = (policy: Contract.TransactionPolicy): Around<SqlClient.SqlClient> | Around<never> =>
  policy === false
    ? noTransaction
    : policy === true
    ? Transaction.around
    : (self) => Transaction.retrying(self, policy)

/** Implements a contract with a handler checked against it. */
export const implement = <I, O, E, T extends Contract.TransactionPolicy, R>(
  contract: Contract.Contract<I, O, E, T>,
  handler: Handler<NoInfer<I>, NoInfer<O>, NoInfer<E>, R>
): Procedure<I, O, E, R | TransactionServices<T>, T> => ({
  ...contract,
  handler,
  run: prepare<I, R, TransactionServices<T>>(contract, handler, around(contract.transactional))
})

/** Declares a contract and its handler in one value (`Contract.make`'s spec plus `handler`). */
export const make = <
  const Fields extends Contract.PlainFields,
  Output,
  const Errors extends ReadonlyArray<Contract.ErrorSchema> = readonly [],
  Progress = never,
  const T extends Contract.TransactionPolicy = false,
  R = never
>(
  uri: string,
  spec: Contract.Spec<Fields, Output, Errors, Progress, T> & {
    readonly handler: Handler<Schema.Struct<Fields>["Type"], NoInfer<Output>, NoInfer<Errors[number]["Type"]>, R>
  }
): Procedure<Schema.Struct<Fields>["Type"], Output, Errors[number]["Type"], R | TransactionServices<T>, T> =>
  implement(Contract.make(uri, spec), spec.handler)

export declare namespace Procedure {
  export type Input<P> = Contract.Input<P>
  export type Output<P> = Contract.Output<P>
  export type Failure<P> = Contract.Failure<P>
  export type Services<P> = P extends Runnable<infer R> ? R : never
}
