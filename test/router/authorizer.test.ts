import { describe, expect, it } from "@effect/vitest"
import { RealmAuthorizer } from "../../src/router/authorizer.js"
import type { Action, MatchPolicy, Permission, Realm } from "../../src/router/types.js"

const ACTIONS: ReadonlyArray<Action> = ["call", "register", "publish", "subscribe"]

const permission = (
  uri: string,
  match: MatchPolicy,
  allow: ReadonlyArray<Action>,
  disclose: { caller?: boolean; publisher?: boolean } = {}
): Permission => ({
  uri,
  match,
  allow: {
    call: allow.includes("call"),
    register: allow.includes("register"),
    publish: allow.includes("publish"),
    subscribe: allow.includes("subscribe")
  },
  disclose: { caller: disclose.caller ?? false, publisher: disclose.publisher ?? false }
})

const realmWith = (...permissions: ReadonlyArray<Permission>): Realm => ({
  name: "realm1",
  roles: [{ name: "user", permissions }]
})

const allowed = (authorizer: RealmAuthorizer, uri: string, role = "user"): ReadonlyArray<Action> =>
  ACTIONS.filter((action) => authorizer.authorize(role, uri, action).allow)

describe("RealmAuthorizer", () => {
  it("denies everything when no permission matches", () => {
    const authorizer = new RealmAuthorizer(realmWith(permission("com.app.add", "exact", ACTIONS)))
    expect(allowed(authorizer, "com.app.sub")).toEqual([])
    expect(allowed(authorizer, "com.app.add.more")).toEqual([])
    expect(allowed(authorizer, "com.app")).toEqual([])
    expect(authorizer.authorize("user", "com.app.sub", "call")).toEqual({ allow: false, disclose: false })
    expect(allowed(new RealmAuthorizer(realmWith()), "com.app.add")).toEqual([])
  })

  it("allows only the actions a permission lists; missing actions are denied", () => {
    const authorizer = new RealmAuthorizer(realmWith(permission("com.app.add", "exact", ["call", "subscribe"])))
    expect(allowed(authorizer, "com.app.add")).toEqual(["call", "subscribe"])
  })

  it("denies an unknown role and reports which roles exist", () => {
    const authorizer = new RealmAuthorizer(realmWith(permission("", "prefix", ACTIONS)))
    expect(authorizer.hasRole("user")).toBe(true)
    expect(authorizer.hasRole("admin")).toBe(false)
    expect(allowed(authorizer, "com.app.add", "admin")).toEqual([])
    expect(allowed(authorizer, "com.app.add", "user")).toEqual(ACTIONS)
  })

  it("matches prefix permissions as plain string prefixes; the empty prefix (Crossbar's \"*\") matches all", () => {
    const authorizer = new RealmAuthorizer(realmWith(permission("com.app", "prefix", ["call"])))
    expect(allowed(authorizer, "com.app")).toEqual(["call"])
    expect(allowed(authorizer, "com.app.add")).toEqual(["call"])
    expect(allowed(authorizer, "com.app2.add")).toEqual(["call"])
    expect(allowed(authorizer, "com.ap")).toEqual([])
    const all = new RealmAuthorizer(realmWith(permission("", "prefix", ACTIONS)))
    expect(allowed(all, "wamp.session.count")).toEqual(ACTIONS)
    expect(allowed(all, "x")).toEqual(ACTIONS)
  })

  it("matches wildcard permissions on whole components", () => {
    const authorizer = new RealmAuthorizer(realmWith(permission("com..update", "wildcard", ["subscribe"])))
    expect(allowed(authorizer, "com.user.update")).toEqual(["subscribe"])
    expect(allowed(authorizer, "com.user.x.update")).toEqual([])
    expect(allowed(authorizer, "org.user.update")).toEqual([])
  })

  it("the most specific permission decides: a narrower deny beats a wider allow", () => {
    const authorizer = new RealmAuthorizer(realmWith(
      permission("", "prefix", ACTIONS),
      permission("com.app.admin", "prefix", []),
      permission("com.app.admin.status", "exact", ["call"]),
      permission("com..secret", "wildcard", [])
    ))
    expect(allowed(authorizer, "com.app.add")).toEqual(ACTIONS)
    // longer prefix (deny) beats the empty prefix (allow)
    expect(allowed(authorizer, "com.app.admin.reset")).toEqual([])
    // exact beats both prefixes
    expect(allowed(authorizer, "com.app.admin.status")).toEqual(["call"])
    // a prefix beats a wildcard, however specific the wildcard looks
    expect(allowed(authorizer, "com.app.secret")).toEqual(ACTIONS)
    const wildOnly = new RealmAuthorizer(realmWith(
      permission("com..", "wildcard", ACTIONS),
      permission("com..secret", "wildcard", [])
    ))
    expect(allowed(wildOnly, "com.app.secret")).toEqual([])
    expect(allowed(wildOnly, "com.app.public")).toEqual(ACTIONS)
  })

  it("meta API URIs are authorized like any other", () => {
    const authorizer = new RealmAuthorizer(realmWith(permission("com.", "prefix", ACTIONS)))
    expect(allowed(authorizer, "wamp.session.count")).toEqual([])
    const meta = new RealmAuthorizer(realmWith(permission("wamp.session.", "prefix", ["call"])))
    expect(allowed(meta, "wamp.session.count")).toEqual(["call"])
    expect(allowed(meta, "wamp.registration.list")).toEqual([])
  })

  it("disclose is the caller flag for call and the publisher flag for publish, only when allowed", () => {
    const authorizer = new RealmAuthorizer(realmWith(
      permission("com.a", "exact", ACTIONS, { caller: true }),
      permission("com.b", "exact", ACTIONS, { publisher: true }),
      permission("com.c", "exact", ["register", "subscribe"], { caller: true, publisher: true }),
      permission("com.d", "exact", ACTIONS)
    ))
    const disclosed = (uri: string) => ACTIONS.filter((action) => authorizer.authorize("user", uri, action).disclose)
    expect(disclosed("com.a")).toEqual(["call"])
    expect(disclosed("com.b")).toEqual(["publish"])
    expect(disclosed("com.c")).toEqual([])
    expect(disclosed("com.d")).toEqual([])
    expect(authorizer.authorize("user", "com.a", "call")).toEqual({ allow: true, disclose: true })
  })

  it("a later permission with the same uri and match replaces an earlier one", () => {
    const authorizer = new RealmAuthorizer(realmWith(
      permission("com.a", "exact", ACTIONS),
      permission("com.a", "exact", ["call"])
    ))
    expect(allowed(authorizer, "com.a")).toEqual(["call"])
  })

  it("keeps roles apart", () => {
    const authorizer = new RealmAuthorizer({
      name: "realm1",
      roles: [
        { name: "frontend", permissions: [permission("com.app.", "prefix", ["call", "subscribe"])] },
        { name: "backend", permissions: [permission("com.app.", "prefix", ["register", "publish"])] }
      ]
    })
    expect(allowed(authorizer, "com.app.add", "frontend")).toEqual(["call", "subscribe"])
    expect(allowed(authorizer, "com.app.add", "backend")).toEqual(["register", "publish"])
  })

  it("its bounded cache never changes an answer, per role, action and URI", () => {
    const realm: Realm = {
      name: "realm1",
      roles: [
        {
          name: "user",
          permissions: [
            permission("com.", "prefix", ["call"]),
            permission("com.x.", "prefix", ["subscribe"]),
            permission("com..y", "wildcard", ["publish"]),
            permission("org.z", "exact", ["register"])
          ]
        },
        { name: "other", permissions: [permission("com.", "prefix", ["publish"], { publisher: true })] }
      ]
    }
    const tiny = new RealmAuthorizer(realm, { cacheSize: 3 })
    const uris = ["com.a", "com.x.b", "com.a.y", "com.x.y", "org.z", "org.q", "com.x", "com.a"]
    const expected = new Map<string, ReadonlyArray<Action>>([
      ["com.a", ["call"]],
      ["com.x.b", ["subscribe"]],
      ["com.a.y", ["call"]],
      ["com.x.y", ["subscribe"]],
      ["org.z", ["register"]],
      ["org.q", []],
      ["com.x", ["call"]]
    ])
    // several rounds in changing order, so entries are cached, evicted and cached again
    for (let round = 0; round < 4; round++) {
      const order = round % 2 === 0 ? uris : [...uris].reverse()
      for (const uri of order) {
        expect(allowed(tiny, uri, "user"), `${uri} round ${round}`).toEqual(expected.get(uri))
        expect(allowed(tiny, uri, "other"), uri).toEqual(uri.startsWith("com.") ? ["publish"] : [])
        expect(tiny.authorize("other", uri, "publish").disclose).toBe(uri.startsWith("com."))
      }
    }
    const wildOnly = new RealmAuthorizer(realmWith(permission("com..y", "wildcard", ["publish"])), { cacheSize: 1 })
    expect(allowed(wildOnly, "com.a.y")).toEqual(["publish"])
    expect(allowed(wildOnly, "com.a.y")).toEqual(["publish"])
    expect(allowed(wildOnly, "com.a.z")).toEqual([])
  })
})
