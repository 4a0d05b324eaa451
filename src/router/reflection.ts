/**
 * `wamp.reflection.*` in the embedded router: a caller's reflection call is forwarded to the
 * component that registered `wampgres.reflection.*` (clients may not register `wamp.*`), and what
 * comes back is filtered by the caller's role, so a caller learns only of what it may use: lists
 * keep the procedures it may call, the topics it may subscribe to and the errors of procedures it
 * may call; describing anything else is answered as the component answers an unknown URI. The
 * component's side is `src/procedures/Reflection.ts` (its header explains the design).
 */
import { Uri, WampgresUri } from "../wamp/uris.js"
import { componentPrefix, type ReflectionProcedure, reflectionProcedureOf } from "../wamp/reflection.js"
import type { RealmAuthorizer } from "./authorizer.js"

/** A forwarded reflection call: what to filter its result by. */
export interface Reflected {
  readonly name: ReflectionProcedure
  readonly role: string
}

/** The component's URI for a `wamp.reflection.*` procedure, or undefined for any other URI. */
export const forwardedUri = (procedure: string): { readonly target: string; readonly name: ReflectionProcedure } | undefined => {
  const name = reflectionProcedureOf(procedure)
  return name === undefined ? undefined : { target: componentPrefix + name, name }
}

/**
 * Before forwarding a describe: the error to answer when the caller may not use what it names
 * (the same URI as for an unknown one, so nothing is revealed), or undefined to forward.
 */
export const refuseDescribe = (
  authorizer: RealmAuthorizer,
  role: string,
  name: ReflectionProcedure,
  args: unknown,
  kwargs: unknown
): { readonly error: string; readonly message: string } | undefined => {
  if (name !== "procedure.describe" && name !== "topic.describe") return undefined
  const uri = (Array.isArray(args) ? args[0] : undefined) ?? (isRecord(kwargs) ? kwargs["uri"] : undefined)
  if (typeof uri !== "string") return undefined // the component answers invalid_argument
  if (name === "procedure.describe") {
    return authorizer.authorize(role, uri, "call").allow ? undefined : { error: Uri.noSuchProcedure, message: `no procedure ${uri} is declared` }
  }
  return authorizer.authorize(role, uri, "subscribe").allow ? undefined : { error: WampgresUri.noSuchTopic, message: `no topic ${uri} is declared` }
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value)

const strings = (value: unknown): ReadonlyArray<string> =>
  Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : []

/**
 * The RESULT's [args, kwargs] as the caller may see them, or an error for an `error.describe` of
 * an error no procedure the caller may call raises.
 */
export const filterResult = (
  authorizer: RealmAuthorizer,
  reflected: Reflected,
  args: unknown,
  kwargs: unknown
): { readonly args: ReadonlyArray<unknown> } | { readonly error: string; readonly message: string } => {
  const value = Array.isArray(args) ? args[0] : undefined
  const may = (uri: string, action: "call" | "subscribe") => authorizer.authorize(reflected.role, uri, action).allow
  switch (reflected.name) {
    case "procedure.list":
      return { args: [strings(value).filter((uri) => may(uri, "call"))] }
    case "topic.list":
      return { args: [strings(value).filter((uri) => may(uri, "subscribe"))] }
    case "error.list": {
      const raisedBy = isRecord(kwargs) && isRecord(kwargs["raised_by"]) ? kwargs["raised_by"] : {}
      return { args: [strings(value).filter((uri) => strings(raisedBy[uri]).some((procedure) => may(procedure, "call")))] }
    }
    case "error.describe": {
      if (!isRecord(value)) return { args: [value] }
      const procedures = strings(value["procedures"]).filter((procedure) => may(procedure, "call"))
      return procedures.length === 0
        ? { error: WampgresUri.noSuchError, message: `no error ${String(value["uri"])} is declared` }
        : { args: [{ ...value, procedures }] }
    }
    case "procedure.describe":
    case "topic.describe":
      return { args: Array.isArray(args) ? args : [] }
  }
}
