/**
 * Authentication and authorization with Autobahn|Python (Debian's python3-autobahn and
 * python3-nacl) against the router: ticket, WAMP-CRA (plain and salted) and cryptosign from static
 * principals; wrong secrets and unknown authids refused alike; a dynamic authenticator and a
 * dynamic authorizer written in Python decide who joins and what a role may do.
 *
 * Runs wherever python3-autobahn is installed (.ci/run installs it); skipped elsewhere, except in CI.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { parseRouterConfig } from "../../src/router/config.js"
import { type RunningRouter, startRouter } from "../../src/router/index.js"
import { ALICE, AUTH_ENV, authConfigJson, CARL, CRA, TICKETS } from "../router/auth-fixture.js"
import { autobahnPythonMissing, PythonProcess, type Report } from "./python.js"
import * as Effect from "effect/Effect"
import { spawnSync } from "node:child_process"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"
import { ensureKey } from "../../src/layers/Credentials.js"
import { PYTHON } from "./python.js"

const missing = autobahnPythonMissing()
if (missing !== undefined && process.env["CI"]) {
  throw new Error(`Autobahn|Python is required in CI (.ci/run installs python3-autobahn): ${missing}`)
}

let router: RunningRouter
const url = (transport: number): string => `ws://127.0.0.1:${router.listening[transport]!.port}`

const running: Array<PythonProcess> = []

beforeAll(async () => {
  if (missing !== undefined) return
  const loaded = await Effect.runPromise(parseRouterConfig(authConfigJson(), "/", AUTH_ENV))
  router = await startRouter(loaded.router)
})

afterAll(async () => {
  await Promise.all(running.map((p) => p.stop()))
  await router?.close()
})

interface Join {
  readonly transport?: number
  readonly method: string
  readonly authid?: string
  readonly secret?: string
  readonly seed?: Buffer
  readonly tries?: ReadonlyArray<string>
}

/** Runs one Python client to its end; its reports. */
const join = async (j: Join): Promise<ReadonlyArray<Report>> => {
  const args = ["join", "--url", url(j.transport ?? 0), "--method", j.method]
  if (j.authid !== undefined) args.push("--authid", j.authid)
  for (const t of j.tries ?? []) args.push("--try", t)
  const env: Record<string, string> = {}
  if (j.secret !== undefined) env["WAMP_SECRET"] = j.secret
  if (j.seed !== undefined) env["WAMP_SEED"] = j.seed.toString("hex")
  const p = PythonProcess.start("auth_client.py", args, `python ${j.method} ${j.authid ?? ""}`, env)
  running.push(p)
  await p.succeeds(60_000)
  return p.reports
}

const welcome = (reports: ReadonlyArray<Report>) => reports.find((r) => r.event === "welcome")
const refusal = (reports: ReadonlyArray<Report>) => {
  const r = reports.find((r) => r.event === "refused")
  return r === undefined ? undefined : { reason: r["reason"], message: r["message"] }
}
const REFUSED = { reason: "wamp.error.not_authorized", message: "authentication failed" }

describe.skipIf(missing !== undefined)("Autobahn|Python authenticates", () => {
  it("ticket: the right one joins as the principal's role; a wrong one and an unknown authid are refused alike", async () => {
    const [ok, wrong, unknown] = await Promise.all([
      join({ method: "ticket", authid: "joe", secret: TICKETS.joe }),
      join({ method: "ticket", authid: "joe", secret: "wrong" }),
      join({ method: "ticket", authid: "nobody", secret: TICKETS.joe })
    ])
    expect(welcome(ok)).toMatchObject({ authid: "joe", authrole: "frontend", authmethod: "ticket", authprovider: "static" })
    expect(refusal(wrong)).toEqual(REFUSED)
    expect(refusal(unknown)).toEqual(REFUSED)
  }, 120_000)

  it("wampcra: plain and salted secrets; wrong secrets and unknown authids are refused alike", async () => {
    const [plain, salted, wrong, unknown] = await Promise.all([
      join({ method: "wampcra", authid: "peter", secret: CRA.peter }),
      join({ method: "wampcra", authid: "salty", secret: CRA.salty }),
      join({ method: "wampcra", authid: "salty", secret: "wrong" }),
      join({ method: "wampcra", authid: "nobody", secret: CRA.salty })
    ])
    expect(welcome(plain)).toMatchObject({ authid: "peter", authrole: "frontend", authmethod: "wampcra" })
    expect(welcome(salted)).toMatchObject({ authid: "salty", authrole: "frontend", authmethod: "wampcra" })
    expect(refusal(wrong)).toEqual(REFUSED)
    expect(refusal(unknown)).toEqual(REFUSED)
  }, 120_000)

  it("cryptosign: the authorized key joins and may register under com.example.; another key is refused", async () => {
    const [ok, otherKey, unknown] = await Promise.all([
      join({ method: "cryptosign", authid: "alice", seed: ALICE.seed, tries: ["register:com.example.py.alice"] }),
      join({ method: "cryptosign", authid: "alice", seed: CARL.seed }),
      join({ method: "cryptosign", authid: "nobody", seed: ALICE.seed })
    ])
    expect(welcome(ok)).toMatchObject({ authid: "alice", authrole: "backend", authmethod: "cryptosign", authprovider: "static" })
    expect(ok.find((r) => r.event === "tried")).toMatchObject({ action: "register", outcome: "ok" })
    expect(refusal(otherKey)).toEqual(REFUSED)
    expect(refusal(unknown)).toEqual(REFUSED)
  }, 120_000)

  it("anonymous may call but neither register nor publish under com.example.", async () => {
    const reports = await join({ method: "anonymous", tries: ["register:com.example.py.take", "publish:com.example.py.news", "subscribe:com.example.py.news"] })
    expect(reports.filter((r) => r.event === "tried").map((r) => [r["action"], r["outcome"]])).toEqual([
      ["register", "wamp.error.not_authorized"],
      ["publish", "wamp.error.not_authorized"],
      ["subscribe", "ok"]
    ])
  }, 120_000)
})

describe.skipIf(missing !== undefined)("the component's key file", () => {
  it("is read by Autobahn|Python's CryptosignKey.from_keyfile as the same key", async () => {
    const dir = await Fs.mkdtemp(Path.join(Os.tmpdir(), "wampgres-keyfile-"))
    try {
      const file = Path.join(dir, "component.key")
      const key = await Effect.runPromise(ensureKey(file))
      const probe = spawnSync(PYTHON, ["-c", "import sys; from autobahn.wamp.cryptosign import CryptosignKey; print(CryptosignKey.from_keyfile(sys.argv[1]).public_key())", file], { encoding: "utf8" })
      expect(probe.stderr).toBe("")
      expect(probe.stdout.trim()).toBe(key.publicKey)
    } finally {
      await Fs.rm(dir, { recursive: true, force: true })
    }
  })
})

describe.skipIf(missing !== undefined)("a dynamic authenticator and authorizer in Python", () => {
  it("decide who joins (ticket, salted wampcra, cryptosign) and what the dynamic role may do", async () => {
    const service = PythonProcess.start("auth_client.py", ["service", "--url", url(0), "--method", "ticket", "--authid", "auth-service"], "python service", {
      WAMP_SECRET: TICKETS.authService,
      CARL_PUBKEY: CARL.pubkeyHex
    })
    running.push(service)
    await service.waitFor((r) => r.event === "ready", 60_000)
    const [tom, wendy, carl, wrongTicket, wrongCra] = await Promise.all([
      join({ transport: 1, method: "ticket", authid: "tom", secret: "tom-ticket" }),
      join({ transport: 1, method: "wampcra", authid: "wendy", secret: "wendy-secret" }),
      join({ transport: 1, method: "cryptosign", authid: "carl", seed: CARL.seed }),
      join({ transport: 1, method: "ticket", authid: "tom", secret: "nope" }),
      join({ transport: 1, method: "wampcra", authid: "wendy", secret: "nope" })
    ])
    expect(welcome(tom)).toMatchObject({ authid: "tom", authrole: "frontend", authmethod: "ticket", authprovider: "dynamic" })
    expect(welcome(wendy)).toMatchObject({ authid: "wendy", authrole: "frontend", authmethod: "wampcra", authprovider: "dynamic" })
    expect(welcome(carl)).toMatchObject({ authid: "carl", authrole: "backend", authmethod: "cryptosign", authprovider: "dynamic" })
    expect(refusal(wrongTicket)).toEqual({ reason: "com.example.auth.denied", message: "no such principal" })
    expect(refusal(wrongCra)).toEqual(REFUSED)
    const asked = service.reports.filter((r) => r["procedure"] === "authenticate").map((r) => [r["authid"], r["authmethod"]])
    expect(asked).toEqual(expect.arrayContaining([["tom", "ticket"], ["wendy", "wampcra"], ["carl", "cryptosign"]]))

    // dora's role "dynamic" asks the authorizer for each action
    const dora = await join({ method: "ticket", authid: "dora", secret: TICKETS.dora, tries: ["register:com.example.open.py", "register:com.example.closed.py", "call:com.example.open.py"] })
    expect(dora.filter((r) => r.event === "tried").map((r) => r["outcome"])).toEqual(["ok", "wamp.error.not_authorized", "ok"])
    const questions = service.reports.filter((r) => r["procedure"] === "authorize").map((r) => [r["authid"], r["uri"], r["action"]])
    expect(questions).toEqual([
      ["dora", "com.example.open.py", "register"],
      ["dora", "com.example.closed.py", "register"],
      ["dora", "com.example.open.py", "call"]
    ])
  }, 180_000)
})
