/**
 * What the fault cases share: a TCP proxy that can cut and stall connections, the service
 * (src/main.ts) as a child process authenticating as the component, ledger callers that own their
 * accounts (row-level security: a caller pays only from its own accounts), and checks of the
 * ledger's invariants in the database, read as the superuser (who sees every owner's rows).
 */
import type autobahn from "autobahn"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Redacted from "effect/Redacted"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as Schedule from "effect/Schedule"
import type * as SqlClient from "effect/sql/SqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs/promises"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import type { DatabaseTarget } from "../../src/layers/DatabaseConfig.js"
import { callRaw, clientSession, repoRoot, testCredentials } from "../support/index.js"

export const L = "com.example.ledger"

/** The router of the fault suite: a path per authrole (`/user`, `/admin`), the component's key, and ticket callers `steady-0..3`. */
export const routerConfig = Path.join(import.meta.dirname, "fixtures", "router.json")

/** The ticket of the `steady-*` callers (authids that stay the same across reconnects). */
export const steadyTicket = "fault-suite"

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

/** Where a proxy forwards to: a TCP port, or a Unix socket (the embedded PostgreSQL listens on one only). */
export type ProxyTarget = { readonly host: string; readonly port: number } | { readonly path: string }

/** A TCP proxy to `target` on a free local port. */
export const proxy = (target: ProxyTarget): Promise<Proxy> =>
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
      const upstream = "path" in target ? Net.connect(target.path) : Net.connect(target.port, target.host)
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

/** A postgres:// URL for a connection target (a host that is a directory is a Unix socket: `?host=`). */
export const urlOf = (target: DatabaseTarget): string => {
  if (target._tag === "Url") return Redacted.value(target.url)
  const socket = target.host.startsWith("/")
  const url = new URL(`postgres://${socket ? "localhost" : target.host}:${target.port}/${encodeURIComponent(target.database)}`)
  url.username = encodeURIComponent(target.username)
  if (target.password !== undefined) url.password = encodeURIComponent(Redacted.value(target.password))
  if (socket) url.searchParams.set("host", target.host)
  return url.toString()
}

/**
 * The component's credentials for the child process: the tests' cryptosign key in a file of its own
 * (mode 0600), as WAMP_AUTHMETHOD / WAMP_AUTHID / WAMP_SECRET_FILE; the router admits its public key
 * as the principal `wampgres`. The directory is removed with the scope.
 */
export const componentCredentials = Effect.acquireRelease(
  Effect.promise(async () => {
    const dir = await Fs.mkdtemp(Path.join(Os.tmpdir(), "wampgres-faults-"))
    const file = Path.join(dir, "component.key")
    if (testCredentials.method !== "cryptosign") throw new Error("the tests' component credentials are a cryptosign key")
    const seed = Buffer.from(Redacted.value(testCredentials.key.seed)).toString("hex")
    await Fs.writeFile(file, `private-key-ed25519: ${seed}\n`, { mode: 0o600 })
    return { dir, env: { WAMP_AUTHMETHOD: "cryptosign", WAMP_AUTHID: "wampgres", WAMP_SECRET_FILE: file } }
  }),
  ({ dir }) => Effect.promise(() => Fs.rm(dir, { recursive: true, force: true }))
).pipe(Effect.map(({ env }) => env))

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

/** An `on_transfer` event as its payer received it. */
export interface Event {
  readonly seq: number
  readonly id: number
}

/** A ledger caller: a session of its own (a random authid), its funded accounts, the `on_transfer` events it received. */
export interface Caller {
  readonly session: autobahn.Session
  readonly ids: ReadonlyArray<number>
  readonly events: Array<Event>
}

/** Subscribes `session` to `on_transfer` (which goes to the payer only) and collects the events. */
export const collectTransfers = (session: autobahn.Session) =>
  Effect.gen(function*() {
    const events: Array<Event> = []
    yield* Effect.promise(() =>
      session.subscribe(`${L}.on_transfer`, (args, kwargs) => {
        events.push({ seq: kwargs?.["_seq"] as number, id: (args?.[0] as { id: number }).id })
      })
    )
    return events
  })

/**
 * `count` callers on `userUrl`, each with `accounts` accounts it opened itself (`open_account`) and
 * that an admin caller (`adminUrl`) funded with `balance` (`mint`); subscribed to their `on_transfer`.
 */
export const openCallers = (userUrl: string, adminUrl: string, count: number, accounts: number, balance: number) =>
  Effect.gen(function*() {
    const admin = yield* clientSession(adminUrl)
    const callers: Array<Caller> = []
    for (let c = 0; c < count; c++) {
      const session = yield* clientSession(userUrl)
      const events = yield* collectTransfers(session)
      const ids: Array<number> = []
      for (let a = 0; a < accounts; a++) {
        const { id } = (yield* callRaw(session, `${L}.open_account`)).args[0] as { id: number }
        yield* callRaw(admin, `${L}.mint`, { kwargs: { account: id, amount: balance } })
        ids.push(id)
      }
      callers.push({ session, ids, events })
    }
    return callers
  })

/** The `i`-th transfer of a workload: paid by caller `i mod n` from one of its accounts, to any other account. */
export const transferOf = <C extends { readonly ids: ReadonlyArray<number> }>(callers: ReadonlyArray<C>, i: number) => {
  const all = callers.flatMap((c) => c.ids)
  const caller = callers[i % callers.length]!
  const from = caller.ids[Math.floor(i / callers.length) % caller.ids.length]!
  const pick = all[(i * 7 + 3) % all.length]!
  const to = pick === from ? all.find((id) => id !== from)! : pick
  return { caller, kwargs: { from, to, amount: 1 + (i % 50) } }
}

export interface Ledger {
  readonly sum: number
  /** Accounts whose balance is not opening balance + received - sent (a half-written transfer). */
  readonly unbalanced: number
  readonly transfers: ReadonlyArray<number>
  readonly pending: number
}

/** The ledger's state for `ids`, opened with `opening` each, read through `sql` (the superuser: every owner's rows). */
export const ledgerState = (sql: SqlClient.SqlClient, ids: ReadonlyArray<number>, opening: number) =>
  Effect.gen(function*() {
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

/** Sequence numbers seen more than once, and whether every repeat carried the same transfer. */
export const duplicates = (events: ReadonlyArray<Event>) => {
  const bySeq = new Map<number, Set<number>>()
  for (const e of events) bySeq.set(e.seq, (bySeq.get(e.seq) ?? new Set()).add(e.id))
  return { count: events.length - bySeq.size, consistent: [...bySeq.values()].every((ids) => ids.size === 1) }
}

/** Whether the sorted distinct numbers form one run without a gap. */
export const consecutive = (numbers: Iterable<number>): boolean => {
  const sorted = [...new Set(numbers)].sort((a, b) => a - b)
  return sorted.every((n, i) => i === 0 || n === sorted[i - 1]! + 1)
}

/** Counts of error URIs (`ok` for successes). */
export const tally = (outcomes: ReadonlyArray<string>): string => {
  const counts = new Map<string, number>()
  for (const outcome of outcomes) counts.set(outcome, (counts.get(outcome) ?? 0) + 1)
  return [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(", ")
}

/**
 * Holds the outbox relay between publishing and marking: `n` events on `topic` are written in a
 * transaction (as a batch job would) that commits only once a SHARE lock on `wampgres_outbox` is
 * queued behind it. That lock is granted at the COMMIT, before the relay, woken by it, has read and
 * published the events; the relay's UPDATE that marks them published then waits for `release`.
 * Through `database` (a superuser URL of the service's database).
 */
export const holdRelayBeforeMarking = (database: string, topic: string, n: number) =>
  Effect.gen(function*() {
    const connection = PgClient.make({ url: Redacted.make(database), maxConnections: 1 }).pipe(Effect.provide(Reactivity.layer))
    const [writer, locker, observer] = [yield* connection, yield* connection, yield* connection]
    const waitingOn = (statement: string) =>
      Effect.map(
        observer<{ pid: number }>`SELECT pid FROM pg_stat_activity
          WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE ${`${statement}%`}`,
        (rows) => rows.map((row) => row.pid)
      )
    const inserted = yield* Deferred.make<void>()
    const commit = yield* Deferred.make<void>()
    const writing = yield* Effect.forkScoped(writer.withTransaction(Effect.gen(function*() {
      for (let i = 1; i <= n; i++) {
        yield* writer`SELECT wampgres_outbox_publish(${topic}, ${JSON.stringify([{ n: i }])}::jsonb, '{}'::jsonb)`
      }
      yield* Deferred.succeed(inserted, undefined)
      yield* Deferred.await(commit)
    })))
    yield* Deferred.await(inserted)
    const released = yield* Deferred.make<void>()
    const locking = yield* Effect.forkScoped(locker.withTransaction(
      Effect.andThen(locker`LOCK TABLE wampgres_outbox IN SHARE MODE`, Deferred.await(released))
    ))
    yield* Effect.repeat(waitingOn("LOCK TABLE wampgres_outbox"), { until: (pids) => pids.length === 1, schedule: Schedule.spaced("25 millis"), times: 400 })
    yield* Deferred.succeed(commit, undefined)
    yield* Fiber.join(writing)
    return {
      /** The relay's backend once it waits to mark the events published (after publishing them all). */
      relayWaiting: Effect.map(
        Effect.repeat(waitingOn("UPDATE wampgres_outbox SET published_at"), {
          until: (pids) => pids.length === 1,
          schedule: Schedule.spaced("25 millis"),
          times: 2400
        }),
        (pids) => pids[0]
      ),
      release: Effect.andThen(Deferred.succeed(released, undefined), Fiber.join(locking)),
      /** Events of `topic` not marked published yet. */
      pending: Effect.map(
        observer<{ n: number }>`SELECT count(*)::int AS n FROM wampgres_outbox WHERE topic = ${topic} AND published_at IS NULL`,
        (rows) => rows[0]!.n
      )
    }
  })
