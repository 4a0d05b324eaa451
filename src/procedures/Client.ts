/**
 * Typed clients from procedure contracts: `Client.call(getAccount, { id: 1 })` calls the
 * procedure through the `WampSession` (the contract alone is enough: no handler, no SQL), sends the input encoded as kwargs, decodes the result with
 * the declared Schema and turns declared error URIs back into the typed errors.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as SchemaAST from "effect/SchemaAST"
import { WampSession } from "../layers/WampSession.js"
import { type Payload, WampError, wampError } from "../layers/wamp/Protocol.js"
import type { Contract } from "./Contract.js"
import { describeSchemaError } from "./invoke.js"
import { Uri, WampgresUri } from "../wamp/uris.js"

/** The WAMP error for a result that does not match the declared result Schema. */
export const invalidResultUri = WampgresUri.invalidResult

/** Decodes a RESULT payload (args[0]) or an ERROR into the procedure's types. */
export const decodeResult = <I, O, E>(procedure: Contract<I, O, E>) => {
  const decodeOutput = Schema.decodeUnknownEffect(procedure.output)
  return (payload: Payload): Effect.Effect<O, WampError> =>
    Effect.mapError(
      decodeOutput(payload.args[0]),
      (error) => wampError(invalidResultUri, `${procedure.uri} result: ${describeSchemaError(error)}`)
    )
}

/** A WAMP error with a declared URI becomes the typed error; other errors stay `WampError`. */
export const decodeError = <I, O, E>(procedure: Contract<I, O, E>) => (error: WampError): Effect.Effect<never, E | WampError> => {
  const declared = procedure.errors.find((schema) => schema.uri === error.error)
  if (declared === undefined) return Effect.fail(error)
  return Schema.decodeUnknownEffect(declared)({ ...error.kwargs, _tag: tagOf(declared), message: error.args[0] }, {
    onExcessProperty: "ignore"
  }).pipe(
    Effect.matchEffect({
      onFailure: () => Effect.fail(error),
      onSuccess: (typed) => Effect.fail(typed)
    })
  )
}

/** The `_tag` literal of a TaggedError class, read from its encoded form (WAMP kwargs do not carry it). */
const tagOf = (schema: Schema.Top): string | undefined => {
  const encoded = SchemaAST.toEncoded(schema.ast)
  if (!SchemaAST.isObjects(encoded)) return undefined
  const signature = encoded.propertySignatures.find((property) => property.name === "_tag")
  return signature !== undefined && SchemaAST.isLiteral(signature.type) && typeof signature.type.literal === "string"
    ? signature.type.literal
    : undefined
}

/** Calls a procedure with typed input, result and errors. */
export const call = <I, O, E>(
  procedure: Contract<I, O, E>,
  input: I,
  options?: Record<string, unknown>
): Effect.Effect<O, E | WampError, WampSession> => {
  const encodeInput = Schema.encodeUnknownEffect(procedure.input)
  return Effect.gen(function*() {
    const session = yield* WampSession
    const kwargs = yield* Effect.mapError(
      encodeInput(input),
      (error) => wampError(Uri.invalidArgument, `${procedure.uri}: ${describeSchemaError(error)}`)
    )
    const payload = yield* session.call(procedure.uri, { kwargs: isRecord(kwargs) ? kwargs : {} }, options)
    return yield* decodeResult(procedure)(payload)
  }).pipe(Effect.catchTag("WampError", (error: WampError) => decodeError(procedure)(error)))
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null
