import { describe, expect, it } from "@effect/vitest"
import { isValidUri, PatternMap } from "../../src/wamp/uri.js"
import type { MatchPolicy } from "../../src/router/types.js"

describe("isValidUri", () => {
  it("exact URIs need non-empty components without whitespace or #", () => {
    for (const uri of ["com.myapp.add", "a", "com.my-app.ädd", "wamp.session.count", "com.app.x*", "a:b.c/d"]) {
      expect(isValidUri(uri, "exact"), uri).toBe(true)
    }
    for (const uri of ["", ".", "com..add", ".com", "com.", "com.my app", "com.a\tb", "com.#", "com.a\u00a0b", "a\nb"]) {
      expect(isValidUri(uri, "exact"), JSON.stringify(uri)).toBe(false)
    }
  })

  it("prefix URIs may end with an empty component, and the empty prefix matches everything", () => {
    for (const uri of ["", "com.", "com.myapp", "com.myapp."]) {
      expect(isValidUri(uri, "prefix"), JSON.stringify(uri)).toBe(true)
    }
    for (const uri of [".", ".com", "com..x", "com..", "com. x", "com.#"]) {
      expect(isValidUri(uri, "prefix"), JSON.stringify(uri)).toBe(false)
    }
  })

  it("wildcard URIs may have empty components anywhere", () => {
    for (const uri of ["com..update", "..", ".a.", "a.b.c", "", "a..b..c"]) {
      expect(isValidUri(uri, "wildcard"), JSON.stringify(uri)).toBe(true)
    }
    for (const uri of ["com.. x", "com..#", "com.\u3000.b"]) {
      expect(isValidUri(uri, "wildcard"), JSON.stringify(uri)).toBe(false)
    }
  })

  it("agrees with the spec's loose regular expressions on random strings", () => {
    const patterns: Record<MatchPolicy, RegExp> = {
      exact: /^([^\s.#]+\.)*([^\s.#]+)$/,
      prefix: /^([^\s.#]+\.)*([^\s.#]*)$/,
      wildcard: /^(([^\s.#]+\.)|\.)*([^\s.#]+)?$/
    }
    const alphabet = ["a", "b", ".", ".", "#", " ", "\t", "\u00a0", "\u2003", "\ufeff", "\u200b", "é", "*", "_"]
    let seed = 42
    const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648)
    for (let n = 0; n < 5000; n++) {
      let uri = ""
      const length = next() % 8
      for (let i = 0; i < length; i++) uri += alphabet[next() % alphabet.length]
      for (const match of ["exact", "prefix", "wildcard"] as const) {
        expect(isValidUri(uri, match), `${match} ${JSON.stringify(uri)}`).toBe(patterns[match].test(uri))
      }
    }
  })
})

describe("PatternMap", () => {
  it("stores and deletes per (uri, match) pair", () => {
    const map = new PatternMap<string>()
    map.set("com.a", "exact", "e")
    map.set("com.a", "prefix", "p")
    map.set("com.a", "wildcard", "w")
    expect(map.size).toBe(3)
    expect(map.get("com.a", "exact")).toBe("e")
    expect(map.get("com.a", "prefix")).toBe("p")
    expect(map.get("com.a", "wildcard")).toBe("w")
    map.set("com.a", "prefix", "p2")
    expect(map.size).toBe(3)
    expect(map.get("com.a", "prefix")).toBe("p2")
    expect(map.delete("com.a", "prefix")).toBe(true)
    expect(map.delete("com.a", "prefix")).toBe(false)
    expect(map.get("com.a", "prefix")).toBeUndefined()
    expect(map.size).toBe(2)
    expect([...map.entries()].map((e) => `${e.match}:${e.uri}=${e.value}`).sort()).toEqual([
      "exact:com.a=e",
      "wildcard:com.a=w"
    ])
  })

  it("best: an exact entry wins over prefixes and wildcards", () => {
    const map = new PatternMap<string>()
    map.set("com.myapp", "prefix", "prefix")
    map.set("com..add", "wildcard", "wildcard")
    map.set("com.myapp.add", "exact", "exact")
    expect(map.best("com.myapp.add")).toEqual({ value: "exact", uri: "com.myapp.add", match: "exact" })
  })

  it("best: the longest prefix wins, and prefixes are plain string prefixes", () => {
    const map = new PatternMap<string>()
    map.set("", "prefix", "all")
    map.set("com.myapp", "prefix", "myapp")
    map.set("com.myapp.sub", "prefix", "sub")
    map.set("com.myapp.sub.deep.er", "prefix", "too long")
    expect(map.best("com.myapp.sub.x")?.value).toBe("sub")
    expect(map.best("com.myapp.sub")?.value).toBe("sub")
    expect(map.best("com.myapp.other")?.value).toBe("myapp")
    expect(map.best("com.myapp2.foo")?.value).toBe("myapp")
    expect(map.best("org.other")?.value).toBe("all")
    expect(map.best("com.myap")?.value).toBe("all")
  })

  it("best: a prefix wins over a wildcard", () => {
    const map = new PatternMap<string>()
    map.set("com..add", "wildcard", "wildcard")
    map.set("com.", "prefix", "prefix")
    expect(map.best("com.myapp.add")?.value).toBe("prefix")
    map.delete("com.", "prefix")
    expect(map.best("com.myapp.add")?.value).toBe("wildcard")
  })

  it("best: wildcards follow the spec's precedence (longest literal runs before each wildcard)", () => {
    // The spec's example of "Pattern-based Registrations"
    const map = new PatternMap<number>()
    map.set("a1.b2.c3.d4.e55", "exact", 1)
    map.set("a1.b2.c3", "prefix", 2)
    map.set("a1.b2.c3.d4", "prefix", 3)
    // inserted in reverse precedence order so the result cannot come from insertion order
    map.set("a1.b2..d4..f6.g7", "wildcard", 7)
    map.set("a1.b2..d4.e5..g7", "wildcard", 6)
    map.set("a1.b2.c3..e5", "wildcard", 5)
    map.set("a1.b2..d4.e5", "wildcard", 4)
    expect(map.best("a1.b2.c3.d4.e55")?.value).toBe(1)
    expect(map.best("a1.b2.c3.d98.e74")?.value).toBe(2)
    expect(map.best("a1.b2.c3.d4.e325")?.value).toBe(3)
    expect(map.best("a1.b2.c55.d4.e5")?.value).toBe(4)
    expect(map.best("a1.b2.c88.d4.e5.f6.g7")?.value).toBe(6)
    expect(map.best("a2.b2.c2.d2.e2")).toBeUndefined()
    // the spec lists "a1.b2.c3.d4.e5" as "no prefix match", yet prefixes 2 and 3 do match it:
    // without them, wildcard 5 beats wildcard 4 (a longer literal run before the first wildcard)
    expect(map.best("a1.b2.c3.d4.e5")?.value).toBe(3)
    map.delete("a1.b2.c3", "prefix")
    map.delete("a1.b2.c3.d4", "prefix")
    expect(map.best("a1.b2.c3.d4.e5")?.value).toBe(5)
  })

  it("wildcards match whole components only, with the same number of components", () => {
    const map = new PatternMap<string>()
    map.set("com.myapp..myprocedure1", "wildcard", "w")
    expect(map.best("com.myapp.myobject1.myprocedure1")?.value).toBe("w")
    expect(map.best("com.myapp.myobject2.myprocedure1")?.value).toBe("w")
    expect(map.best("com.myapp.myobject1.myprocedure1.mysubprocedure1")).toBeUndefined()
    expect(map.best("com.myapp.myobject1.myprocedure2")).toBeUndefined()
    expect(map.best("com.myapp2.myobject1.myprocedure1")).toBeUndefined()
    expect(map.best("com.myapp.myprocedure1")).toBeUndefined()
    const edge = new PatternMap<string>()
    edge.set(".b.", "wildcard", "edges")
    expect(edge.best("a.b.c")?.value).toBe("edges")
    expect(edge.best("a.bb.c")).toBeUndefined()
    expect(edge.best("a.b")).toBeUndefined()
  })

  it("matches: the broker sees every matching entry", () => {
    const map = new PatternMap<string>()
    map.set("com.a.b", "exact", "exact")
    map.set("com.a.c", "exact", "other exact")
    map.set("com.a", "prefix", "prefix a")
    map.set("com.", "prefix", "prefix com")
    map.set("com.x", "prefix", "prefix x")
    map.set("com..b", "wildcard", "wild 1")
    map.set("..b", "wildcard", "wild 2")
    map.set("..c", "wildcard", "wild c")
    map.set("com.a.b", "wildcard", "literal wildcard")
    expect(map.matches("com.a.b").map((e) => e.value)).toEqual([
      "exact",
      "prefix a",
      "prefix com",
      "literal wildcard",
      "wild 1",
      "wild 2"
    ])
    expect(map.matches("org.q")).toEqual([])
    map.delete("com..b", "wildcard")
    map.delete("com.a.b", "exact")
    expect(map.matches("com.a.b").map((e) => e.value)).toEqual(["prefix a", "prefix com", "literal wildcard", "wild 2"])
  })

  it("deleting the last pattern of a kind brings back plain exact lookups", () => {
    const map = new PatternMap<number>()
    map.set("a.b", "exact", 1)
    map.set("a", "prefix", 2)
    map.set("a.", "wildcard", 3)
    expect(map.delete("a.", "wildcard")).toBe(true)
    expect(map.delete("a.", "wildcard")).toBe(false)
    expect(map.delete("a", "prefix")).toBe(true)
    expect(map.best("a.c")).toBeUndefined()
    expect(map.best("a.b")?.value).toBe(1)
    expect(map.delete("a.b", "exact")).toBe(true)
    expect(map.size).toBe(0)
    expect(map.best("a.b")).toBeUndefined()
  })

  it("replacing a wildcard entry keeps one entry with the new value", () => {
    const map = new PatternMap<string>()
    map.set("a..c", "wildcard", "old")
    map.set("a..c", "wildcard", "new")
    expect(map.size).toBe(1)
    expect(map.matches("a.b.c").map((e) => e.value)).toEqual(["new"])
    expect(map.delete("a..c", "wildcard")).toBe(true)
    expect(map.matches("a.b.c")).toEqual([])
  })
})
