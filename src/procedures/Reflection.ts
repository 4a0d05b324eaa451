/**
 * Procedure reflection in the WAMP specification's terms: `wamp.reflection.procedure.list` /
 * `describe`, `wamp.reflection.topic.list` / `describe`, `wamp.reflection.error.list` / `describe`,
 * answered from the contracts the service declares, with JSON Schema generated from their Effect
 * Schemas (`Schema.toJsonSchemaDocument`, draft 2020-12).
 *
 * Design: the component registers the six procedures under its own prefix `wampgres.reflection.*`
 * (a client may not register `wamp.*`: our router answers invalid_uri, and Crossbar and Bondy
 * reserve that namespace for themselves). The embedded router forwards a caller's
 * `wamp.reflection.*` call there and filters the answer with its authorizer, by the caller's role:
 * a list keeps only the procedures the caller may call (topics: subscribe; errors: raised by a
 * procedure the caller may call), and a describe of anything else is answered as if it did not
 * exist (`src/router/reflection.ts`). Why there: only the router knows the permissions; the
 * component would have to duplicate them or ask the router for every URI. Behind Crossbar.io, which
 * answers `wamp.*` itself, callers use `wampgres.reflection.*` directly and Crossbar's permission
 * on that prefix decides who may read the (unfiltered) catalog.
 *
 * Answers (args[0]):
 * - `procedure.list` / `topic.list` / `error.list`: the URIs, sorted (`error.list` adds kwargs
 *   `raised_by`: error URI → procedure URIs, which the router uses to filter and then drops);
 * - `procedure.describe(uri)`: `{ uri, description, transactional, streaming, args: { positional,
 *   kwargs }, result, progress, errors }` (`kwargs`, `result`, `progress` as JSON Schema);
 * - `topic.describe(uri)`: `{ uri, description, payload }` (payload: the Schema of args[0]);
 * - `error.describe(uri)`: `{ uri, tag, args, kwargs, procedures }` (args[0] is the message).
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as JsonSchema from "effect/JsonSchema"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { WampSession } from "../layers/WampSession.js"
import { type Payload, type Registration, type WampError, wampError } from "../layers/wamp/Protocol.js"
import { componentPrefix, type ReflectionProcedure, reflectionProcedures } from "../wamp/reflection.js"
import { Uri, WampgresUri } from "../wamp/uris.js"
import type * as Contract from "./Contract.js"

/** A JSON Schema (draft 2020-12) document: the root schema with its `$defs`. */
export type JsonSchemaDocument = JsonSchema.JsonSchema

/** The JSON Schema of a Schema's encoded (wire) form, self-contained. */
export const jsonSchema = (schema: Schema.Top, options?: Schema.ToJsonSchemaOptions): JsonSchemaDocument => {
  const document = Schema.toJsonSchemaDocument(schema, options)
  return {
    $schema: JsonSchema.META_SCHEMA_URI_DRAFT_2020_12,
    ...document.schema,
    ...(Object.keys(document.definitions).length > 0 ? { $defs: document.definitions } : {})
  }
}

export interface ProcedureDescription {
  readonly uri: string
  readonly description: string | null
  /** Whether the procedure runs in one transaction (with retries on serialization failure when > 0). */
  readonly transactional: boolean
  readonly retries: number
  /** Whether it sends progressive results when called with `receive_progress`. */
  readonly streaming: boolean
  /** kwargs: the arguments; positional: the names args[i] fills, in order. Other kwargs are rejected. */
  readonly args: { readonly positional: ReadonlyArray<string>; readonly kwargs: JsonSchemaDocument }
  /** The RESULT's args[0]. */
  readonly result: JsonSchemaDocument
  /** Each progressive RESULT's args[0], when streaming. */
  readonly progress: JsonSchemaDocument | null
  /** URIs of its typed errors (see `error.describe`). */
  readonly errors: ReadonlyArray<string>
}

export interface TopicDescription {
  readonly uri: string
  readonly description: string | null
  /** Each EVENT's args[0]. */
  readonly payload: JsonSchemaDocument
}

export interface ErrorDescription {
  readonly uri: string
  /** The `_tag` of the typed error a typed client decodes it into. */
  readonly tag: string | null
  /** The ERROR's args: [message]. */
  readonly args: JsonSchemaDocument
  /** The ERROR's kwargs: the error's fields. */
  readonly kwargs: JsonSchemaDocument
  /** The procedures that declare it. */
  readonly procedures: ReadonlyArray<string>
}

const policyOf = (policy: Contract.TransactionPolicy): { transactional: boolean; retries: number } =>
  policy === false
    ? { transactional: false, retries: 0 }
    : policy === true
    ? { transactional: true, retries: 0 }
    : { transactional: true, retries: policy.retries ?? 5 }

export const describeProcedure = (contract: Contract.Any): ProcedureDescription => ({
  uri: contract.uri,
  description: contract.description ?? null,
  ...policyOf(contract.transactional),
  streaming: contract.progress !== undefined,
  // kwargs other than the declared fields are rejected: say so (additionalProperties: false)
  args: { positional: contract.positional, kwargs: jsonSchema(contract.input, { onExcessProperty: "error" }) },
  result: jsonSchema(contract.output),
  progress: contract.progress === undefined ? null : jsonSchema(contract.progress),
  errors: contract.errors.map((error) => error.uri)
})

export const describeTopic = (topic: Contract.AnyTopic): TopicDescription => ({
  uri: topic.uri,
  description: topic.description ?? null,
  payload: jsonSchema(topic.payload)
})

/** A TaggedError class's fields (its static `fields`), without `_tag`: what travels as kwargs. */
const kwargsOf = (error: Contract.ErrorSchema<unknown>): Schema.Top => {
  const fields = (error as unknown as { readonly fields?: Schema.Struct.Fields }).fields ?? {}
  const { _tag: _, ...rest } = fields
  return Schema.Struct(rest)
}

const tagOf = (error: Contract.ErrorSchema<unknown>): string | null => {
  const tag = (error as unknown as { readonly fields?: Schema.Struct.Fields }).fields?.["_tag"]
  const literal = tag !== undefined && Schema.isSchema(tag) ? (tag.ast as { readonly literal?: unknown }).literal : undefined
  return typeof literal === "string" ? literal : null
}

const messageArgs = Schema.Tuple([Schema.String])

export const describeError = (error: Contract.ErrorSchema<unknown>, procedures: ReadonlyArray<string>): ErrorDescription => ({
  uri: error.uri,
  tag: tagOf(error),
  args: jsonSchema(messageArgs),
  kwargs: jsonSchema(kwargsOf(error)),
  procedures
})

/** What a service declares, described once (JSON Schema generation happens at start-up). */
export interface Catalog {
  readonly procedures: ReadonlyMap<string, ProcedureDescription>
  readonly topics: ReadonlyMap<string, TopicDescription>
  readonly errors: ReadonlyMap<string, ErrorDescription>
}

const sorted = <V>(entries: Iterable<[string, V]>): ReadonlyMap<string, V> =>
  new Map([...entries].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0))

export const catalog = (contracts: ReadonlyArray<Contract.Any>, topics: ReadonlyArray<Contract.AnyTopic>): Catalog => {
  const raisedBy = new Map<string, { error: Contract.ErrorSchema<unknown>; procedures: Array<string> }>()
  for (const contract of contracts) {
    for (const error of contract.errors) {
      const entry = raisedBy.get(error.uri) ?? { error, procedures: new Array<string>() }
      entry.procedures.push(contract.uri)
      raisedBy.set(error.uri, entry)
    }
  }
  return {
    procedures: sorted(contracts.map((contract) => [contract.uri, describeProcedure(contract)])),
    topics: sorted(topics.map((topic) => [topic.uri, describeTopic(topic)])),
    errors: sorted([...raisedBy].map(([uri, { error, procedures }]) => [uri, describeError(error, procedures.sort())]))
  }
}

const result = (value: unknown, kwargs: Record<string, unknown> = {}): Payload => ({ args: [value], kwargs })

/** The URI a describe call names: args[0] or kwargs `uri`. */
const uriArgument = (payload: Payload): Effect.Effect<string, WampError> => {
  const uri = payload.args[0] ?? payload.kwargs["uri"]
  return typeof uri === "string"
    ? Effect.succeed(uri)
    : Effect.fail(wampError(Uri.invalidArgument, "a URI expected as args[0] (or kwargs uri)"))
}

const find = <V>(items: ReadonlyMap<string, V>, errorUri: string, what: string) => (uri: string): Effect.Effect<Payload, WampError> => {
  const found = items.get(uri)
  return found === undefined ? Effect.fail(wampError(errorUri, `no ${what} ${uri} is declared`)) : Effect.succeed(result(found))
}

/** Answers one reflection call from the catalog. */
export const answer = (of: Catalog, name: ReflectionProcedure, payload: Payload): Effect.Effect<Payload, WampError> => {
  switch (name) {
    case "procedure.list":
      return Effect.succeed(result([...of.procedures.keys()]))
    case "topic.list":
      return Effect.succeed(result([...of.topics.keys()]))
    case "error.list":
      return Effect.succeed(result([...of.errors.keys()], {
        raised_by: Object.fromEntries([...of.errors].map(([uri, error]) => [uri, error.procedures]))
      }))
    case "procedure.describe":
      return Effect.flatMap(uriArgument(payload), find(of.procedures, Uri.noSuchProcedure, "procedure"))
    case "topic.describe":
      return Effect.flatMap(uriArgument(payload), find(of.topics, WampgresUri.noSuchTopic, "topic"))
    case "error.describe":
      return Effect.flatMap(uriArgument(payload), find(of.errors, WampgresUri.noSuchError, "error"))
  }
}

/**
 * Registers the reflection procedures under `wampgres.reflection.*` for the lifetime of the layer,
 * answering for the given contracts and topics (one line in the composition).
 */
export const layer = (
  contracts: ReadonlyArray<Contract.Any>,
  topics: ReadonlyArray<Contract.AnyTopic>
): Layer.Layer<never, WampError, WampSession> =>
  Layer.effectDiscard(
    Effect.gen(function*() {
      const described = catalog(contracts, topics)
      const session = yield* WampSession
      const registrations: ReadonlyArray<Registration> = reflectionProcedures.map((name) => ({
        uri: componentPrefix + name,
        handler: (request) => answer(described, name, request),
        context: Context.empty()
      }))
      yield* session.register(registrations)
      yield* Effect.logInfo(
        `reflection: ${described.procedures.size} procedures, ${described.topics.size} topics, ${described.errors.size} errors`
      )
    }).pipe(Effect.annotateLogs("group", "reflection"))
  )
