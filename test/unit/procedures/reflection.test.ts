/**
 * Reflection's descriptions of the ledger, generated from its Effect Schemas (JSON Schema draft
 * 2020-12), and the router's filtering of reflection answers by the caller's role, including
 * answers of any shape from a (possibly hostile) callee.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import fc from "fast-check"
import * as Ledger from "../../../src/procedures/ledger/contract.js"
import * as Reflection from "../../../src/procedures/Reflection.js"
import { RealmAuthorizer } from "../../../src/router/authorizer.js"
import { filterResult, forwardedUri, refuseDescribe } from "../../../src/router/reflection.js"
import type { Permission } from "../../../src/router/types.js"

const META = "https://json-schema.org/draft/2020-12/schema"
const int = { type: "integer", minimum: -(2 ** 53 - 1), maximum: 2 ** 53 - 1 }
const transfer = {
  type: "object",
  properties: { id: int, from: int, to: int, amount: int, at: { type: "string" } },
  required: ["id", "from", "to", "amount", "at"],
  additionalProperties: true
}
/** Built by the first test that needs it, not at import: a failure to build it fails tests, not the file's loading. */
let built: Reflection.Catalog | undefined
const catalog = (): Reflection.Catalog => (built ??= Reflection.catalog([...Ledger.procedures], [...Ledger.topics]))

describe("JSON Schema of the ledger's Schemas", () => {
  it("transfer: kwargs from, to, a positive amount and an optional idempotency key (no other kwarg); its result; its errors", () => {
    const described = catalog().procedures.get(Ledger.transfer.uri)!
    expect(described).toEqual({
      uri: Ledger.transfer.uri,
      description: Ledger.transfer.description,
      transactional: false,
      retries: 0,
      streaming: false,
      args: {
        positional: [],
        kwargs: {
          $schema: META,
          type: "object",
          properties: {
            from: int,
            to: int,
            amount: { type: "integer", maximum: 2 ** 53 - 1, exclusiveMinimum: 0 },
            // an optional key is absent or a string, never null (the decoder refuses null)
            idempotency_key: { type: "string", minLength: 1, maxLength: 200 }
          },
          required: ["from", "to", "amount"],
          additionalProperties: false
        }
      },
      result: {
        $schema: META,
        type: "object",
        properties: { id: int, from_balance: int },
        required: ["id", "from_balance"],
        additionalProperties: true
      },
      progress: null,
      errors: [Ledger.NoSuchAccount.uri, Ledger.InsufficientFunds.uri, Ledger.InvalidArgument.uri]
    })
  })

  it("history streams Transfers (a Date travels as a string); its result is one of two shapes; limit is optional", () => {
    const described = catalog().procedures.get(Ledger.history.uri)!
    expect(described.streaming).toBe(true)
    expect(described.progress).toEqual({ $schema: META, ...transfer })
    expect(described.args.kwargs["required"]).toEqual(["account"])
    expect((described.result["anyOf"] as Array<unknown>).length).toBe(2)
  })

  it("get_account takes its id positionally too", () => {
    expect(catalog().procedures.get(Ledger.getAccount.uri)!.args.positional).toEqual(["id"])
  })

  it("topics: on_transfer carries a Transfer, on_account_change an id and balance", () => {
    expect(catalog().topics.get(Ledger.Uris.onTransfer)).toEqual({
      uri: Ledger.Uris.onTransfer,
      description: Ledger.onTransfer.description,
      payload: { $schema: META, ...transfer }
    })
    expect(catalog().topics.get(Ledger.Uris.onAccountChange)!.payload["required"]).toEqual(["id", "balance"])
  })

  it("errors: the message as args[0], the fields (no _tag) as kwargs, and who raises them", () => {
    expect(catalog().errors.get(Ledger.InsufficientFunds.uri)).toEqual({
      uri: Ledger.InsufficientFunds.uri,
      tag: "InsufficientFunds",
      args: { $schema: META, type: "array", prefixItems: [{ type: "string" }], minItems: 1, maxItems: 1 },
      kwargs: {
        $schema: META,
        type: "object",
        properties: { account: int, amount: int },
        required: ["account", "amount"],
        additionalProperties: true
      },
      procedures: [Ledger.transfer.uri]
    })
    expect(catalog().errors.get(Ledger.NoSuchAccount.uri)!.procedures).toEqual([
      Ledger.getAccount.uri,
      Ledger.history.uri,
      Ledger.mint.uri,
      Ledger.transfer.uri
    ])
  })

  it("the kwargs schema describes what the typed error's encoding sends", () =>
    fc.assert(fc.property(fc.integer(), fc.integer(), (account, amount) => {
      const { _tag, ...kwargs } = Schema.encodeSync(Ledger.InsufficientFunds)(new Ledger.InsufficientFunds({ account, amount })) as Record<string, unknown>
      expect(_tag).toBe("InsufficientFunds")
      const schema = catalog().errors.get(Ledger.InsufficientFunds.uri)!.kwargs
      expect(Object.keys(kwargs).sort()).toEqual([...(schema["required"] as Array<string>)].sort())
    })))

  it.effect("answers: lists sorted, unknown URIs with the spec's or the project's error, a URI required", () =>
    Effect.gen(function*() {
      const list = yield* Reflection.answer(catalog(), "procedure.list", { args: [], kwargs: {} })
      expect(list.args[0]).toEqual([...Ledger.procedures.map((c) => c.uri)].sort())
      const missing = yield* Effect.flip(Reflection.answer(catalog(), "procedure.describe", { args: ["com.example.x"], kwargs: {} }))
      expect(missing.error).toBe("wamp.error.no_such_procedure")
      const topic = yield* Effect.flip(Reflection.answer(catalog(), "topic.describe", { args: [], kwargs: { uri: "com.example.x" } }))
      expect(topic.error).toBe("wampgres.error.no_such_topic")
      const noUri = yield* Effect.flip(Reflection.answer(catalog(), "error.describe", { args: [42], kwargs: {} }))
      expect(noUri.error).toBe("wamp.error.invalid_argument")
    }))
})

const permission = (uri: string, match: Permission["match"], allow: Partial<Permission["allow"]>): Permission => ({
  uri,
  match,
  allow: { call: false, register: false, publish: false, subscribe: false, ...allow },
  disclose: { caller: false, publisher: false }
})

/** A reader who may call the ledger but not open accounts nor mint, and subscribe to transfers only. */
const authorizer = new RealmAuthorizer({
  name: "realm1",
  roles: [{
    name: "reader",
    permissions: [
      permission("wamp.reflection.", "prefix", { call: true }),
      permission("com.example.ledger.", "prefix", { call: true }),
      permission(Ledger.openAccount.uri, "exact", {}),
      permission(Ledger.mint.uri, "exact", {}),
      permission(Ledger.Uris.onTransfer, "exact", { subscribe: true })
    ]
  }]
})

const answerOf = (name: Parameters<typeof Reflection.answer>[1], args: Array<unknown> = []) =>
  Effect.runSync(Reflection.answer(catalog(), name, { args, kwargs: {} }))

describe("the router's filtering of reflection answers", () => {
  const reader = (name: Parameters<typeof filterResult>[1]["name"]) => ({ name, role: "reader" })

  it("maps wamp.reflection.* to the component's wampgres.reflection.*, and nothing else", () => {
    expect(forwardedUri("wamp.reflection.procedure.list")).toEqual({ target: "wampgres.reflection.procedure.list", name: "procedure.list" })
    expect(forwardedUri("wamp.reflection.procedure.run")).toBeUndefined()
    expect(forwardedUri("wamp.session.list")).toBeUndefined()
  })

  it("lists only what the role may call or subscribe to, and errors of procedures it may call", () => {
    const procedures = answerOf("procedure.list")
    expect(filterResult(authorizer, reader("procedure.list"), procedures.args, procedures.kwargs)).toEqual({
      args: [[Ledger.getAccount.uri, Ledger.history.uri, Ledger.transfer.uri]]
    })
    const topics = answerOf("topic.list")
    expect(filterResult(authorizer, reader("topic.list"), topics.args, topics.kwargs)).toEqual({ args: [[Ledger.Uris.onTransfer]] })
    const errors = answerOf("error.list")
    const filtered = filterResult(authorizer, reader("error.list"), errors.args, errors.kwargs)
    // not_authorized (NotAdmin) is raised only by mint; raised_by is not passed on
    expect(filtered).toEqual({ args: [[Ledger.InsufficientFunds.uri, Ledger.NoSuchAccount.uri, Ledger.InvalidArgument.uri]] })
  })

  it("describing what the role may not use is answered as if it did not exist", () => {
    expect(refuseDescribe(authorizer, "reader", "procedure.describe", [Ledger.openAccount.uri], {})?.error).toBe("wamp.error.no_such_procedure")
    expect(refuseDescribe(authorizer, "reader", "procedure.describe", [], { uri: Ledger.transfer.uri })).toBeUndefined()
    expect(refuseDescribe(authorizer, "reader", "topic.describe", [Ledger.Uris.onAccountChange], {})?.error).toBe("wampgres.error.no_such_topic")
    const notAdmin = answerOf("error.describe", [Ledger.NotAdmin.uri])
    expect(filterResult(authorizer, reader("error.describe"), notAdmin.args, notAdmin.kwargs)).toMatchObject({ error: "wampgres.error.no_such_error" })
  })

  it("any answer from a callee is filtered without throwing, and lists keep only allowed strings", () =>
    fc.assert(fc.property(
      fc.constantFrom("procedure.list", "topic.list", "error.list", "procedure.describe", "topic.describe", "error.describe" as const),
      fc.anything(),
      fc.anything(),
      (name, args, kwargs) => {
        const out = filterResult(authorizer, reader(name), args, kwargs)
        if (name.endsWith(".list") && "args" in out) {
          for (const uri of out.args[0] as Array<unknown>) {
            expect(typeof uri).toBe("string")
            expect(authorizer.authorize("reader", uri as string, name === "topic.list" ? "subscribe" : "call").allow || name === "error.list").toBe(true)
          }
        }
      }
    ), { numRuns: 500 }))
})
