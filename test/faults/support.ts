/**
 * What the fault cases share: a TCP proxy that can cut and stall connections, the service
 * (src/main.ts) as a child process against the test database and a given router URL, and checks of
 * the ledger's invariants in the database.
 */
import * as Effect from "effect/Effect"
import * as SqlClient from "effect/sql/SqlClient"
import * as ChildProcess from "node:child_process"
import * as Net from "node:net"
import { repoRoot } from "../support/index.js"

export interface Proxy {
  readonly port: number
  /** Drops every connection and refuses new ones for `millis`. */
  readonly cut: (millis: number) => Promise<void>
  /** Adds `millis` of latency to every chunk from now on (0: none). */
  readonly setLatency: (millis: number) => void
  /** Stops forwarding (connections stay open, nothing moves) for `millis`. */
  readonly stall: (millis: number) => Promise<void>
  readonly connections: () => number
  readonly close: () => Promise<void>
}

const sleep = (millis: number) => new Promise<void>((resolve) => setTimeout(resolve, millis))

/** A TCP proxy to `targetHost:targetPort` on a free local port. */
export const proxy = (targetHost: string, targetPort: number): Promise<Proxy> =>
  new Promise((resolve, reject) => {
    const open = new Set<Net.Socket>()
    let refusing = false
    let latency = 0
    let stalled: Promise<void> | undefined
    const forward = (from: Net.Socket, to: Net.Socket) => {
      from.on("data", (chunk) => {
        const send = () => {
          if (!to.destroyed) to.write(chunk)
        }
        if (latency === 0 && stalled === undefined) return send()
        from.pause()
        void (stalled ?? Promise.resolve()).then(() => sleep(latency)).then(() => {
          send()
          from.resume()
        })
      })
    }
    const server = Net.createServer((client) => {
      if (refusing) return client.destroy()
      const upstream = Net.connect(targetPort, targetHost)
      open.add(client)
      open.add(upstream)
      const end = () => {
        client.destroy()
        upstream.destroy()
        open.delete(client)
        open.delete(upstream)
      }
      client.on("error", end).on("close", end)
      upstream.on("error", end).on("close", end)
      forward(client, upstream)
      forward(upstream, client)
    })
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as Net.AddressInfo).port
      resolve({
        port,
        cut: async (millis) => {
          refusing = true
          for (const socket of open) socket.destroy()
          open.clear()
          await sleep(millis)
          refusing = false
        },
        setLatency: (millis) => {
          latency = millis
        },
        stall: async (millis) => {
          stalled = sleep(millis)
          await stalled
          stalled = undefined
        },
        connections: () => open.size / 2,
        close: () =>
          new Promise<void>((done) => {
            for (const socket of open) socket.destroy()
            server.close(() => done())
          })
      })
    })
  })

export interface Service {
  readonly child: ChildProcess.ChildProcess
  readonly output: () => string
  readonly exited: Promise<number | null>
  /** Resolves when the output matches `pattern` (after `from`, an offset into the output). */
  readonly waitFor: (pattern: RegExp, millis: number, from?: number) => Promise<void>
}

/** src/main.ts with the given environment (on top of this process's, LOG_LEVEL Info). */
export const runService = (env: Record<string, string>): Service => {
  const child = ChildProcess.spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    cwd: repoRoot,
    env: { ...process.env, PGHOST: "", LOG_LEVEL: "Info", ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()))
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()))
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
  const waitFor = async (pattern: RegExp, millis: number, from = 0) => {
    const deadline = Date.now() + millis
    while (Date.now() < deadline) {
      if (pattern.test(output.slice(from))) return
      if (child.exitCode !== null) break
      await sleep(50)
    }
    throw new Error(`no ${pattern} in the service's output:\n${output.slice(-4000)}`)
  }
  return { child, output: () => output, exited, waitFor }
}

/** The service registered the ledger (after `from` in its output). */
export const ledgerRegistered = /registered 5 procedures \{ group: .ledger. \}/

/** Opens `n` accounts with `balance` each (directly in SQL); their ids. */
export const openAccounts = (prefix: string, n: number, balance: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const ids: Array<number> = []
    for (let i = 0; i < n; i++) {
      const [row] = yield* sql<{ id: string }>`INSERT INTO ledger_accounts (owner, balance)
        VALUES (${`${prefix}-${i}-${Date.now()}`}, ${balance}) RETURNING id::text`
      ids.push(Number(row!.id))
    }
    return ids
  })

export interface Ledger {
  readonly sum: number
  /** Accounts whose balance is not opening balance + received - sent (a half-written transfer). */
  readonly unbalanced: number
  readonly transfers: ReadonlyArray<number>
  readonly pending: number
}

/** The ledger's state for `ids`, opened with `opening` each. */
export const ledgerState = (ids: ReadonlyArray<number>, opening: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [sum] = yield* sql<{ sum: string }>`SELECT coalesce(sum(balance), 0)::text AS sum FROM ledger_accounts WHERE id IN ${sql.in(ids)}`
    const [unbalanced] = yield* sql<{ n: number }>`
      SELECT count(*)::int AS n FROM ledger_accounts a
      WHERE a.id IN ${sql.in(ids)} AND a.balance <> ${opening}
        + coalesce((SELECT sum(amount) FROM ledger_transfers WHERE to_account = a.id), 0)
        - coalesce((SELECT sum(amount) FROM ledger_transfers WHERE from_account = a.id), 0)`
    const transfers = yield* sql<{ id: string }>`SELECT id::text FROM ledger_transfers WHERE from_account IN ${sql.in(ids)} ORDER BY id`
    const [pending] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM wampgres_outbox WHERE published_at IS NULL`
    return {
      sum: Number(sum!.sum),
      unbalanced: unbalanced!.n,
      transfers: transfers.map((t) => Number(t.id)),
      pending: pending!.n
    } satisfies Ledger
  })

/** Counts of error URIs (`ok` for successes). */
export const tally = (outcomes: ReadonlyArray<string>): string => {
  const counts = new Map<string, number>()
  for (const outcome of outcomes) counts.set(outcome, (counts.get(outcome) ?? 0) + 1)
  return [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(", ")
}
