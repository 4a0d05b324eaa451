/**
 * Running a declared procedure against raw WAMP args/kwargs: what the session does for every
 * INVOCATION, usable without a session (unit tests with a mocked `PgClient`).
 *
 * 1. arguments: positional args fill the fields named in `positional`, kwargs the rest; decoded with
 *    the procedure's Schema. Bad arguments → `wamp.error.invalid_argument`, message naming the field.
 * 2. the handler runs, inside one transaction when declared `transactional` (committed on success,
 *    rolled back on any failure, defect or interruption; nested `withTransaction` = savepoints).
 * 3. its result is encoded with the result Schema → YIELD args [result].
 * Failures (mapped by `layers/wamp/Failure.ts`): a declared typed error → its URI, args [message],
 * kwargs = its fields; an `SqlError` →
 * `wampgres.error.database` (no SQL text or parameters; the SQLSTATE in kwargs), also when it
 * arrives as a defect (a ROLLBACK that failed because the connection dropped); anything else
 * (defects, undeclared errors, a result that does not encode) → `wamp.error.runtime_error`, logged
 * with its cause, no stack trace to the caller. Interruption (a canceled call) stays interruption.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"
import * as Option from "effect/Option"
import { isSqlError, type SqlError } from "effect/sql/SqlError"
import * as Failure from "../layers/wamp/Failure.js"
import { type InvocationRequest, type Payload, type WampError, wampError } from "../layers/wamp/Protocol.js"
import type { Contract, ErrorSchema } from "./Contract.js"
import { Uri, WampgresUri } from "../wamp/uris.js"

/** WAMP error URIs callers of wampgres procedures can see. */
export const ErrorUris = {
  invalidArgument: Uri.invalidArgument,
  runtimeError: Uri.runtimeError,
  canceled: Uri.canceled,
  database: WampgresUri.database
} as const

/** An `InvocationRequest` for a payload, as if called by an anonymous caller without progress. */
export const request = (procedure: string, payload: Partial<Payload> = {}): InvocationRequest => ({
  procedure,
  args: payload.args ?? [],
  kwargs: payload.kwargs ?? {},
  caller: undefined,
  callerAuthid: undefined,
  callerAuthrole: undefined,
  progress: undefined,
  bufferedAmount: () => 0
})

const formatIssue = SchemaIssue.makeFormatterStandardSchemaV1()

/** "owner: Expected string; balance: Missing key" */
export const describeSchemaError = (error: Schema.SchemaError): string =>
  formatIssue(error.issue).issues.map((issue) => {
    const path = (issue.path ?? []).map((key) =>
      typeof key === "object" && key !== null && "key" in key ? String(key.key) : String(key)
    ).join(".")
    return path.length > 0 ? `${path}: ${issue.message}` : issue.message
  }).join("; ")

/** Positional args merged into kwargs by the declared positional field names. */
const mergeArguments = (
  procedure: Contract<unknown, unknown, unknown>,
  payload: Payload
): Effect.Effect<Record<string, unknown>, WampError> => {
  const { positional } = procedure
  if (payload.args.length > positional.length) {
    return Effect.fail(wampError(
      ErrorUris.invalidArgument,
      positional.length === 0
        ? `${procedure.uri} takes no positional arguments, got ${payload.args.length}`
        : `${procedure.uri} takes at most ${positional.length} positional argument(s) (${
          positional.join(", ")
        }), got ${payload.args.length}`
    ))
  }
  // Checked here, not only by the Schema: an empty Struct accepts any object.
  const unexpected = Object.keys(payload.kwargs).filter((key) => !procedure.fields.includes(key))
  if (unexpected.length > 0) {
    return Effect.fail(wampError(
      ErrorUris.invalidArgument,
      unexpected.map((key) => `${key}: unexpected argument`).join("; ")
    ))
  }
  const merged: Record<string, unknown> = { ...payload.kwargs }
  for (let i = 0; i < payload.args.length; i++) {
    const name = positional[i]!
    if (Object.hasOwn(payload.kwargs, name)) {
      return Effect.fail(wampError(ErrorUris.invalidArgument, `${name}: given both positionally and as keyword`))
    }
    merged[name] = payload.args[i]
  }
  return Effect.succeed(merged)
}

const decodeOptions = { onExcessProperty: "error", errors: "all" } as const

/** The WAMP error for a failure of the handler (or of its transaction); undeclared failures die. */
const toWampError = (errors: ReadonlyArray<ErrorSchema<unknown>>, uri: string) => (failure: unknown): Effect.Effect<WampError> => {
  const declared = errors.find((schema) => Schema.is(schema)(failure))
  if (declared !== undefined) {
    return Schema.encodeUnknownEffect(declared)(failure).pipe(
      Effect.map((encoded) => {
        const { _tag, ...kwargs } = isRecord(encoded) ? encoded : {}
        const message = isRecord(failure) ? failure.message : undefined
        return wampError(
          declared.uri,
          typeof message === "string" && message.length > 0 ? message : declared.uri,
          kwargs
        )
      }),
      Effect.orDie
    )
  }
  if (isSqlError(failure)) return Failure.databaseError(uri, failure)
  return Effect.die(failure)
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null

const noKwargs: Readonly<Record<string, unknown>> = Object.freeze({})

const hasKeys = (record: object): boolean => {
  for (const _ in record) return true
  return false
}

/** Wraps a handler's effect in what its contract's transaction policy asks for (or nothing). */
export type Around<X> = <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | SqlError, R | X>

/**
 * The call path of one procedure, built once when it is implemented: decoders, encoders and error
 * mapping made here, not per call. A procedure that takes no arguments and is called with none
 * skips argument merging and Schema decoding (the common case of `now.v1`); everything else goes
 * through `mergeArguments` and the input Schema.
 */
export const prepare = <I, R, X>(
  contract: Contract<I, unknown, unknown>,
  handler: (input: I, request: InvocationRequest) => Effect.Effect<unknown, unknown, R>,
  around: Around<X>
): (call: InvocationRequest) => Effect.Effect<Payload, WampError, R | X> => {
  const decode = Schema.decodeUnknownEffect(contract.input)
  const encode = Schema.encodeUnknownEffect(contract.output)
  const toError = toWampError(contract.errors, contract.uri)
  const noInput = contract.fields.length === 0 ? Schema.decodeUnknownOption(contract.input)({}) : Option.none<I>()
  const toPayload = (encoded: unknown): Payload => ({ args: [encoded], kwargs: noKwargs })
  const encodeOutput = (output: unknown) => Effect.orDie(encode(output))
  const onFailure = (failure: unknown) => Effect.flatMap(toError(failure), Effect.fail)
  const onInvalid = (error: Schema.SchemaError) => wampError(ErrorUris.invalidArgument, describeSchemaError(error))
  const onCause = Failure.fromCause(contract.uri)
  const body = (input: I, call: InvocationRequest): Effect.Effect<Payload, WampError, R | X> =>
    around(handler(input, call)).pipe(
      Effect.flatMap(encodeOutput),
      Effect.map(toPayload),
      Effect.catch(onFailure)
    )
  const decoded = (call: InvocationRequest) =>
    Effect.flatMap(
      mergeArguments(contract, call),
      (merged) => Effect.mapError(decode(merged, decodeOptions), onInvalid)
    )
  return (call) =>
    Effect.catchCause(
      noInput._tag === "Some" && call.args.length === 0 && !hasKeys(call.kwargs)
        ? body(noInput.value, call)
        : Effect.flatMap(decoded(call), (input) => body(input, call)),
      onCause
    )
}

/**
 * Runs a procedure for one invocation. Fails only with `WampError` (what the caller receives); a
 * canceled call is an interruption. Requires what the handler requires.
 */
export const invoke = <R>(
  procedure: { readonly run: (call: InvocationRequest) => Effect.Effect<Payload, WampError, R> },
  call: InvocationRequest
): Effect.Effect<Payload, WampError, R> => procedure.run(call)
