/**
 * Procedure reflection's URIs, shared by the router and the component. Callers use the WAMP
 * specification's `wamp.reflection.*`; the component answers them under its own prefix
 * `wampgres.reflection.*` (a client may not register `wamp.*`), where the embedded router forwards
 * them (see `src/router/reflection.ts` and `src/procedures/Reflection.ts`).
 */

/** The reflection procedures, by what they answer. */
export const reflectionProcedures = [
  "procedure.list",
  "procedure.describe",
  "topic.list",
  "topic.describe",
  "error.list",
  "error.describe"
] as const

export type ReflectionProcedure = (typeof reflectionProcedures)[number]

/** The specification's prefix, which callers use. */
export const specPrefix = "wamp.reflection."
/** The component's prefix, where it registers the reflection procedures. */
export const componentPrefix = "wampgres.reflection."

/** `wamp.reflection.procedure.list` → `procedure.list`; undefined for any other URI. */
export const reflectionProcedureOf = (uri: string, prefix: string = specPrefix): ReflectionProcedure | undefined => {
  if (!uri.startsWith(prefix)) return undefined
  const name = uri.slice(prefix.length)
  return (reflectionProcedures as ReadonlyArray<string>).includes(name) ? name as ReflectionProcedure : undefined
}
