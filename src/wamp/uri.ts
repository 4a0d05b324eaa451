/**
 * WAMP URI validation and the pattern registry that the dealer, the broker and the authorizer
 * share. Both sit on the hot path (every CALL and PUBLISH), so they work on char codes and
 * pre-split patterns and allocate nothing in the common case.
 */
import type { MatchPolicy } from "./types.js"

const DOT = 46
const HASH = 35

/** Exactly the characters of a JavaScript regex `\s` (the spec's loose rule is `[^\s\.#]`). */
const isSpace = (c: number): boolean =>
  c <= 32
    ? c === 32 || (c >= 9 && c <= 13)
    : c >= 0xa0 &&
      (c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 ||
        c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff)

/**
 * The spec's "loose" URI rules, as Crossbar applies them by default: components separated by ".",
 * made of any characters but whitespace, "." and "#".
 * - `exact`: every component non-empty (`com.myapp.add`).
 * - `prefix`: every component but the last non-empty, so `""` and `"com.myapp."` are valid.
 * - `wildcard`: any component may be empty; an empty component is a wildcard (`com..update`).
 */
export const isValidUri = (uri: string, match: MatchPolicy): boolean => {
  const allowEmpty = match === "wildcard"
  let componentLength = 0
  for (let i = 0; i < uri.length; i++) {
    const c = uri.charCodeAt(i)
    if (c === DOT) {
      if (componentLength === 0 && !allowEmpty) return false
      componentLength = 0
    } else if (c === HASH || isSpace(c)) {
      return false
    } else {
      componentLength++
    }
  }
  return match === "exact" ? componentLength > 0 : true
}

/** The number of "."-separated components of a URI. */
const countComponents = (uri: string): number => {
  let n = 1
  for (let i = 0; i < uri.length; i++) if (uri.charCodeAt(i) === DOT) n++
  return n
}

/** One entry of a {@link PatternMap}: the value and the pattern it was stored under. */
export interface PatternEntry<T> {
  readonly value: T
  readonly uri: string
  readonly match: MatchPolicy
}

interface WildcardEntry<T> extends PatternEntry<T> {
  /** The pattern's components; "" marks a wildcard component. */
  readonly components: ReadonlyArray<string>
}

/** Does a wildcard pattern with the same component count as `uri` match it? */
const matchesWildcard = (components: ReadonlyArray<string>, uri: string): boolean => {
  const last = components.length - 1
  let pos = 0
  for (let i = 0; i <= last; i++) {
    const component = components[i]!
    const end = i === last ? uri.length : uri.indexOf(".", pos)
    if (end < 0) return false
    if (component === "") {
      // a wildcard stands for one whole, non-empty component (as in Autobahn's Pattern)
      if (end === pos) return false
    } else if (end - pos !== component.length || !uri.startsWith(component, pos)) {
      return false
    }
    pos = end + 1
  }
  return true
}

/**
 * The spec's precedence between wildcard patterns of equal length ("Pattern-based Registration"):
 * the longest run of literal components before each wildcard wins, i.e. at the first position where
 * one pattern has a wildcard and the other a literal, the literal one wins. Ties (which cannot both
 * match one URI) fall back to the pattern string so the order is deterministic.
 */
const compareWildcards = <T>(a: WildcardEntry<T>, b: WildcardEntry<T>): number => {
  const n = Math.min(a.components.length, b.components.length)
  for (let i = 0; i < n; i++) {
    const aWild = a.components[i] === ""
    const bWild = b.components[i] === ""
    if (aWild !== bWild) return aWild ? 1 : -1
  }
  return a.uri < b.uri ? -1 : a.uri > b.uri ? 1 : 0
}

/**
 * A map from (URI pattern, match policy) to values, with the lookups a WAMP router needs:
 * `best` for the dealer (exact, else longest prefix, else the highest-precedence wildcard) and
 * `matches` for the broker (every matching entry). Patterns are stored as given: validate them with
 * {@link isValidUri} first. Prefix matching is a plain string prefix, as in the spec ("com.myapp"
 * matches "com.myapp2.foo"). With neither prefix nor wildcard entries a lookup is one `Map.get`.
 */
export class PatternMap<T> {
  readonly #exact = new Map<string, PatternEntry<T>>()
  readonly #prefix = new Map<string, PatternEntry<T>>()
  /** Distinct lengths of the stored prefixes, longest first. */
  #prefixLengths: ReadonlyArray<number> = []
  readonly #wildcard = new Map<string, WildcardEntry<T>>()
  /** Wildcard entries grouped by component count, each group sorted best first. */
  readonly #wildcardGroups = new Map<number, Array<WildcardEntry<T>>>()

  get size(): number {
    return this.#exact.size + this.#prefix.size + this.#wildcard.size
  }

  /** The value stored under exactly this pattern and policy. */
  get(uri: string, match: MatchPolicy): T | undefined {
    return this.#table(match).get(uri)?.value
  }

  set(uri: string, match: MatchPolicy, value: T): void {
    switch (match) {
      case "exact":
        this.#exact.set(uri, { value, uri, match })
        return
      case "prefix": {
        const isNew = !this.#prefix.has(uri)
        this.#prefix.set(uri, { value, uri, match })
        if (isNew) this.#updatePrefixLengths()
        return
      }
      case "wildcard": {
        const entry: WildcardEntry<T> = { value, uri, match, components: uri.split(".") }
        const count = entry.components.length
        let group = this.#wildcardGroups.get(count)
        if (group === undefined) {
          group = []
          this.#wildcardGroups.set(count, group)
        }
        const old = this.#wildcard.get(uri)
        if (old !== undefined) group.splice(group.indexOf(old), 1)
        this.#wildcard.set(uri, entry)
        let at = 0
        while (at < group.length && compareWildcards(group[at]!, entry) < 0) at++
        group.splice(at, 0, entry)
        return
      }
    }
  }

  delete(uri: string, match: MatchPolicy): boolean {
    switch (match) {
      case "exact":
        return this.#exact.delete(uri)
      case "prefix": {
        const deleted = this.#prefix.delete(uri)
        if (deleted) this.#updatePrefixLengths()
        return deleted
      }
      case "wildcard": {
        const entry = this.#wildcard.get(uri)
        if (entry === undefined) return false
        this.#wildcard.delete(uri)
        const count = entry.components.length
        const group = this.#wildcardGroups.get(count)!
        group.splice(group.indexOf(entry), 1)
        if (group.length === 0) this.#wildcardGroups.delete(count)
        return true
      }
    }
  }

  /**
   * The entry a call to `uri` is routed to: an exact entry, else the longest matching prefix, else
   * the matching wildcard of highest precedence; undefined when nothing matches.
   */
  best(uri: string): PatternEntry<T> | undefined {
    const exact = this.#exact.get(uri)
    if (exact !== undefined) return exact
    const lengths = this.#prefixLengths
    for (let i = 0; i < lengths.length; i++) {
      const length = lengths[i]!
      if (length > uri.length) continue
      const entry = this.#prefix.get(length === uri.length ? uri : uri.slice(0, length))
      if (entry !== undefined) return entry
    }
    if (this.#wildcard.size > 0) {
      const group = this.#wildcardGroups.get(countComponents(uri))
      if (group !== undefined) {
        for (let i = 0; i < group.length; i++) {
          const entry = group[i]!
          if (matchesWildcard(entry.components, uri)) return entry
        }
      }
    }
    return undefined
  }

  /** Every entry matching `uri` (the broker's view): exact, then prefixes longest first, then wildcards best first. */
  matches(uri: string): Array<PatternEntry<T>> {
    const out: Array<PatternEntry<T>> = []
    const exact = this.#exact.get(uri)
    if (exact !== undefined) out.push(exact)
    const lengths = this.#prefixLengths
    for (let i = 0; i < lengths.length; i++) {
      const length = lengths[i]!
      if (length > uri.length) continue
      const entry = this.#prefix.get(length === uri.length ? uri : uri.slice(0, length))
      if (entry !== undefined) out.push(entry)
    }
    if (this.#wildcard.size > 0) {
      const group = this.#wildcardGroups.get(countComponents(uri))
      if (group !== undefined) {
        for (let i = 0; i < group.length; i++) {
          const entry = group[i]!
          if (matchesWildcard(entry.components, uri)) out.push(entry)
        }
      }
    }
    return out
  }

  /** All entries: exact, prefix, then wildcard ones. */
  *entries(): IterableIterator<PatternEntry<T>> {
    yield* this.#exact.values()
    yield* this.#prefix.values()
    yield* this.#wildcard.values()
  }

  #table(match: MatchPolicy): Map<string, PatternEntry<T>> {
    return match === "exact" ? this.#exact : match === "prefix" ? this.#prefix : this.#wildcard
  }

  #updatePrefixLengths(): void {
    const lengths = new Set<number>()
    for (const uri of this.#prefix.keys()) lengths.add(uri.length)
    this.#prefixLengths = [...lengths].sort((a, b) => b - a)
  }
}
