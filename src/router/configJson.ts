/**
 * The validation primitives of the configuration reader: each reads one JSON value at a JSON path
 * and throws {@link Invalid} naming that path; `config.ts` turns the first one into a
 * `RouterConfigError`.
 */


export class Invalid {
  constructor(readonly path: string, readonly problem: string) {}
}

export const fail = (path: string, problem: string): never => {
  throw new Invalid(path, problem)
}

/** `a.b`, or `a["/"]` for keys that are not plain names (web paths, environment variables). */
export const key = (path: string, name: string): string =>
  !/^[A-Za-z_$][\w$-]*$/.test(name) ? `${path}[${JSON.stringify(name)}]` : path === "" ? name : `${path}.${name}`
export const index = (path: string, i: number): string => `${path}[${i}]`

/** A short rendering of a bad value for messages. */
export const show = (value: unknown): string => {
  if (value === undefined) return "nothing"
  if (value === null) return "null"
  if (Array.isArray(value)) return "an array"
  if (typeof value === "object") return "an object"
  const text = JSON.stringify(value)
  return text.length > 60 ? `${text.slice(0, 57)}...` : text
}

export const quoteAll = (names: ReadonlyArray<string>): string => names.map((n) => `"${n}"`).join(", ")

export type Json = { readonly [key: string]: unknown }

/** Environment variables a configuration may refer to (`$NAME`, `${NAME}`). */
export type Environment = Readonly<Record<string, string | undefined>>

/** What later parts of a router worker are checked against. */
export interface KnownNames {
  readonly roles: ReadonlySet<string>
  readonly realms: ReadonlySet<string>
  readonly env: Environment
}

export const isObject = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** An object whose keys are all in `known`. */
export const object = (value: unknown, path: string, known: ReadonlyArray<string>): Json => {
  if (!isObject(value)) return fail(path, `expected an object, got ${show(value)}`)
  for (const name of Object.keys(value)) {
    if (!known.includes(name)) fail(path, `unknown key "${name}" (expected one of ${quoteAll(known)})`)
  }
  return value
}

export const required = (obj: Json, name: string, path: string): unknown =>
  obj[name] === undefined ? fail(path, `missing required key "${name}"`) : obj[name]

export const string = (value: unknown, path: string): string =>
  typeof value === "string" ? value : fail(path, `expected a string, got ${show(value)}`)

export const boolean = (value: unknown, path: string, fallback: boolean): boolean =>
  value === undefined ? fallback : typeof value === "boolean" ? value : fail(path, `expected true or false, got ${show(value)}`)

export const integer = (value: unknown, path: string, min: number, max: number, fallback?: number): number => {
  if (value === undefined && fallback !== undefined) return fallback
  if (typeof value === "number" && Number.isInteger(value) && value >= min && value <= max) return value
  const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `${min}..${max}`
  return fail(path, `expected an integer ${range}, got ${show(value)}`)
}

export const array = (value: unknown, path: string): ReadonlyArray<unknown> =>
  Array.isArray(value) ? value : fail(path, `expected an array, got ${show(value)}`)

export const oneOf = <A extends string>(value: unknown, path: string, allowed: ReadonlyArray<A>): A =>
  typeof value === "string" && (allowed as ReadonlyArray<string>).includes(value)
    ? (value as A)
    : fail(path, `expected one of ${quoteAll(allowed)}, got ${show(value)}`)

export const notSupported = (path: string, what: string): never => fail(path, `${what} is not supported yet`)
