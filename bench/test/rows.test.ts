/** Which rows a run has, with which variants, and what their processes get. */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { execFileSync } from "node:child_process"
import { existsSync, realpathSync } from "node:fs"
import { join } from "node:path"
import { childEnv } from "../lib/child.js"
import { tracingEnv } from "../lib/otlpSink.js"
import { nowScript } from "../lib/pgbench.js"
import { transferScripts, transferVariables } from "../lib/pgbenchTransfer.js"
import { revisionWorktree } from "../lib/revision.js"
import { type CodeRevision, defaultVariants, rowsFor, runsOurCode, scenarios } from "../lib/scenarios.js"
import { transferAccountCount } from "../lib/workloads.js"
import { scenario } from "./support.js"


const before: CodeRevision = { rev: "80b3971^1", commit: "7b27ea3", root: "/tmp/x" }

describe("the scenario table", () => {
  it("the hand-written component serves now.v1 and now.v3 on our router, checked by the same workloads", () => {
    for (const [id, workload] of [["now.v1@autobahn-pg", "now.v1"], ["now.v3@autobahn-pg", "now.v3"]] as const) {
      expect(scenario(id)).toMatchObject({ kind: "wamp", workload, router: "wampgres", component: "autobahn-pg", instances: 1, needsDatabase: true })
    }
  })

  it("pgbench-transfer is a pgbench row with the transfer script; pgbench keeps SELECT now()", () => {
    expect(scenario("pgbench-transfer")).toMatchObject({ kind: "pgbench", script: "transfer", needsDatabase: true })
    expect(scenario("pgbench")).toMatchObject({ kind: "pgbench", script: "now" })
    expect(nowScript.text).toBe("SELECT now();\n")
  })

  it("variants apply to rows that run wampgres code: our router or the service", () => {
    const ours = scenarios.filter(runsOurCode).map((s) => s.id)
    expect(ours).toEqual(expect.arrayContaining(["echo", "now.v1", "now.v3", "ledger.transfer", "now.v1@autobahn-pg", "echo-x2"]))
    expect(ours).not.toContain("echo@fox-wamp")
    expect(ours).not.toContain("sql-pg")
    expect(ours).not.toContain("pgbench-transfer")
  })
})

describe("rows and their variants", () => {
  it("by default one row per scenario and serializer, each the reference", () => {
    const rows = rowsFor([scenario("echo"), scenario("now.v1"), scenario("sql-pg")], ["json", "msgpack"])
    expect(rows.map((r) => [r.label, r.reference, r.tracing])).toEqual([
      ["echo json", true, false],
      ["echo msgpack", true, false],
      ["now.v1 json", true, false],
      ["now.v1 msgpack", true, false],
      ["sql-pg", true, undefined]
    ])
  })

  it("--tracing=off,on and a revision: before, off, on side by side; the first tracing variant is the reference", () => {
    const variants = { ...defaultVariants, tracing: [false, true], revisions: [before] }
    const ids = ["echo", "echo@fox-wamp", "now.v1", "now.v1@autobahn-pg", "pgbench-transfer"]
    const rows = rowsFor(ids.map(scenario), ["json"], variants)
    expect(rows.map((r) => [r.label, r.reference, r.tracing, r.revision?.rev])).toEqual([
      ["echo json [rev 80b3971^1]", false, false, "80b3971^1"],
      ["echo json [tracing off]", true, false, undefined],
      ["echo json [tracing on]", false, true, undefined],
      ["echo@fox-wamp json", true, undefined, undefined],
      ["now.v1 json [rev 80b3971^1]", false, false, "80b3971^1"],
      ["now.v1 json [tracing off]", true, false, undefined],
      ["now.v1 json [tracing on]", false, true, undefined],
      ["now.v1@autobahn-pg json [rev 80b3971^1]", false, false, "80b3971^1"],
      ["now.v1@autobahn-pg json [tracing off]", true, false, undefined],
      ["now.v1@autobahn-pg json [tracing on]", false, true, undefined],
      ["pgbench-transfer", true, undefined, undefined]
    ])
  })

  it("--tracing=on,off: the reference is the first listed, on", () => {
    const rows = rowsFor([scenario("now.v3")], ["json"], { ...defaultVariants, tracing: [true, false] })
    expect(rows.map((r) => [r.label, r.reference])).toEqual([["now.v3 json [tracing on]", true], ["now.v3 json [tracing off]", false]])
  })

  it("Node-flag variants multiply the service rows only, and the reference is the first of each", () => {
    const variants = { nodeOptions: [[], ["--max-semi-space-size=4"]], tracing: [false, true], revisions: [] }
    const rows = rowsFor([scenario("now.v1"), scenario("now.v1@autobahn-pg")], ["json"], variants)
    expect(rows.map((r) => [r.label, r.reference, r.serviceNodeOptions])).toEqual([
      ["now.v1 json [no flags, tracing off]", true, []],
      ["now.v1 json [no flags, tracing on]", false, []],
      ["now.v1 json [--max-semi-space-size=4, tracing off]", false, ["--max-semi-space-size=4"]],
      ["now.v1 json [--max-semi-space-size=4, tracing on]", false, ["--max-semi-space-size=4"]],
      ["now.v1@autobahn-pg json [tracing off]", true, undefined],
      ["now.v1@autobahn-pg json [tracing on]", false, undefined]
    ])
  })
})

describe("what the processes of a row get", () => {
  it("tracing on points our router and the service at the receiver (a sampler set outside applies); off removes every OpenTelemetry switch", () => {
    expect(tracingEnv("http://127.0.0.1:4318")).toEqual({
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318",
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: undefined,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf"
    })
    const off = tracingEnv(undefined)
    expect(Object.keys(off)).toEqual(expect.arrayContaining(["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_TRACES_SAMPLER", "OTEL_SDK_DISABLED"]))
    expect(Object.values(off).every((v) => v === undefined)).toBe(true)
  })

  it("a child's environment: this process's, with variables added and removed", () => {
    process.env["WAMPGRES_BENCH_TEST_VARIABLE"] = "inherited"
    try {
      expect(childEnv({})["WAMPGRES_BENCH_TEST_VARIABLE"]).toBe("inherited")
      const env = childEnv({ WAMPGRES_BENCH_TEST_VARIABLE: undefined, ADDED: "1" })
      expect("WAMPGRES_BENCH_TEST_VARIABLE" in env).toBe(false)
      expect(env["ADDED"]).toBe("1")
      expect(env["PATH"]).toBe(process.env["PATH"])
    } finally {
      delete process.env["WAMPGRES_BENCH_TEST_VARIABLE"]
    }
  })
})

describe("the pgbench transfer scripts", () => {
  const accounts = { base: 500, count: 10, owners: ["bench-r-caller-0", "bench-r-caller-1", "bench-r-caller-2"] }

  it("as many accounts as the workload opens", () => {
    expect(transferAccountCount(50, 4)).toBe(100)
    expect(transferAccountCount(1, 4)).toBe(8)
    expect(transferAccountCount(1, 1)).toBe(4)
  })

  it("one script per owner, paying from one of its own accounts (ids base + k + K*j) into any other", () => {
    const scripts = transferScripts(accounts)
    expect(scripts.map((s) => s.name)).toEqual(["transfer-0.sql", "transfer-1.sql", "transfer-2.sql"])
    // owner k of 3 holds indexes k, k+3, ... below 10: 4, 3 and 3 accounts
    expect(scripts.map((s) => s.text.split("\n")[0])).toEqual([
      "\\set fi 0 + 3 * random(0, 3)",
      "\\set fi 1 + 3 * random(0, 2)",
      "\\set fi 2 + 3 * random(0, 2)"
    ])
    expect(scripts[1]!.text).toContain("\\set ti random(0, 8)")
    expect(scripts[1]!.text).toContain("\\set from 500 + :fi")
    expect(scripts[1]!.text).toContain("\\set to 500 + :ti")
  })

  it("the statements of one transfer call, in order, with the caller's identity of that script's owner", () => {
    const sql = transferScripts(accounts)[2]!.text.split("\n").filter((l) => l !== "" && !l.startsWith("\\"))
    expect(sql).toHaveLength(6)
    expect(sql[0]).toBe("BEGIN;")
    expect(sql[1]).toBe(
      "SELECT set_config('wampgres.authid', :owner2, true), set_config('wampgres.authrole', :authrole, true), set_config('wampgres.session', :session2, true);"
    )
    expect(sql[2]).toMatch(/^INSERT INTO ledger_transfers \(from_account, to_account, amount\) VALUES \(:from, :to, :amount\) RETURNING .* \\gset t_$/)
    expect(sql[3]).toBe("SELECT id, owner, balance FROM ledger_accounts WHERE id = :from;")
    expect(sql[4]).toMatch(/^SELECT wampgres_outbox_publish\(:topic, .*:t_id.*, :kwargs::jsonb, :options2::jsonb\);$/)
    expect(sql[5]).toBe("COMMIT;")
  })

  it("the variables: each owner's authid, session and PUBLISH options, the admin authrole of the bench's router", () => {
    expect(transferVariables(accounts)).toMatchObject({
      authrole: "admin",
      topic: "com.example.ledger.on_transfer",
      kwargs: "{}",
      amount: "1",
      owner1: "bench-r-caller-1",
      options1: "{\"eligible_authid\":[\"bench-r-caller-1\"]}"
    })
  })
})

describe("--service-revision", () => {
  it.live("checks the revision out in a worktree sharing node_modules, removed when the scope closes", () =>
    Effect.gen(function*() {
      const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim()
      const revision = yield* Effect.scoped(Effect.gen(function*() {
        const r = yield* revisionWorktree("HEAD")
        expect(r).toMatchObject({ rev: "HEAD", commit: head })
        expect(existsSync(join(r.root, "src", "main.ts"))).toBe(true)
        expect(realpathSync(join(r.root, "node_modules"))).toBe(realpathSync("node_modules"))
        expect(execFileSync("git", ["worktree", "list"], { encoding: "utf8" })).toContain(r.root)
        return r
      }))
      expect(existsSync(revision.root)).toBe(false)
      expect(execFileSync("git", ["worktree", "list"], { encoding: "utf8" })).not.toContain(revision.root)
    }), 60_000)

  it.live("a revision that is not a commit is refused with its name", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Effect.scoped(revisionWorktree("no-such-revision-of-wampgres")))
      expect(Exit.isFailure(exit)).toBe(true)
      expect(JSON.stringify(exit)).toContain("\\\"no-such-revision-of-wampgres\\\" is not a commit of this repository")
    }))
})
