/**
 * What each scenario calls and how every single result is checked. A workload throws
 * `CheckFailed` for a wrong answer; the load client counts that as an error, never as a call done.
 * Add a workload here (and its name in `protocol.ts`) to benchmark a new procedure.
 */
import type { Session } from "./autobahn.js"
import type { Serializer, WorkloadName } from "./protocol.js"

/** A result that arrived but is wrong. */
export class CheckFailed extends Error {
  override readonly name = "CheckFailed"
}

const fail = (what: string, got: unknown): never => {
  throw new CheckFailed(`${what}; got ${JSON.stringify(got)?.slice(0, 200)}`)
}

export interface WorkloadContext {
  readonly sessions: ReadonlyArray<Session>
  readonly serializer: Serializer
  readonly runId: string
  readonly inflight: number
}

export interface FinalCheck {
  readonly name: string
  readonly ok: boolean
  readonly detail: string
}

export interface Workload {
  readonly name: WorkloadName
  /** Procedure whose registration proves the component is ready. */
  readonly procedure: string
  /** One call that succeeds once the component is registered (retried on `no_such_procedure`). */
  readonly probe: (session: Session) => Promise<void>
  /** Prepares data; returns the per-call function. Runs after the probe, before warm-up. */
  readonly setup: (ctx: WorkloadContext) => Promise<RunningWorkload>
}

export interface RunningWorkload {
  /** One checked call; resolves to the number of rows received (1 for plain calls). */
  readonly call: (session: Session, seq: number) => Promise<number>
  /** Checks on the whole run after the last call (e.g. invariants in the database). */
  readonly finish: (session: Session) => Promise<ReadonlyArray<FinalCheck>>
}

const noFinalChecks = async (): Promise<ReadonlyArray<FinalCheck>> => []

// ---------------------------------------------------------------------------------------------
// echo

/** The echo component's procedure (`bench/children/echo-component.ts`). */
export const ECHO_PROCEDURE = "bench.echo"

const PAD = "wampgres-bench-0123456789abcdef"

/** A result with one positional value and no kwargs arrives as that value (autobahn). */
const checkEcho = (result: unknown, seq: number): void => {
  if (result === null || typeof result !== "object") return fail(`echo ${seq}: expected an object`, result)
  const r = result as { seq?: unknown; text?: unknown }
  if (r.seq !== seq || r.text !== PAD) fail(`echo ${seq}: payload changed`, result)
}

const echo: Workload = {
  name: "echo",
  procedure: ECHO_PROCEDURE,
  probe: async (session) => {
    checkEcho(await session.call(ECHO_PROCEDURE, [{ seq: -1, text: PAD }]), -1)
  },
  setup: async () => ({
    call: async (session, seq) => {
      checkEcho(await session.call(ECHO_PROCEDURE, [{ seq, text: PAD }]), seq)
      return 1
    },
    finish: noFinalChecks
  })
}

// ---------------------------------------------------------------------------------------------
// com.example.now.*

/** Accepts ISO 8601 and PostgreSQL's text form ("2025-01-02 03:04:05.678+00"). */
export const parseTimestamp = (text: string): number => {
  const direct = Date.parse(text)
  if (!Number.isNaN(direct)) return direct
  const iso = text.replace(" ", "T").replace(/([+-]\d\d)$/, "$1:00")
  return Date.parse(iso)
}

/** The database's now(): a string timestamp close to this machine's clock (same host or NTP). */
const checkNow = (procedure: string, result: unknown): void => {
  if (typeof result !== "string") return fail(`${procedure}: expected a timestamp string`, result)
  const at = parseTimestamp(result)
  if (Number.isNaN(at)) return fail(`${procedure}: not a timestamp`, result)
  if (Math.abs(at - Date.now()) > 5 * 60_000) fail(`${procedure}: timestamp more than 5 minutes off this clock`, result)
}

const now = (name: "now.v1" | "now.v3"): Workload => {
  const procedure = `com.example.${name}`
  return {
    name,
    procedure,
    probe: async (session) => checkNow(procedure, await session.call(procedure)),
    setup: async () => ({
      call: async (session) => {
        checkNow(procedure, await session.call(procedure))
        return 1
      },
      finish: noFinalChecks
    })
  }
}

// ---------------------------------------------------------------------------------------------
// com.example.ledger.*

const LEDGER = "com.example.ledger"
/** Each account the transfer workload opens starts with this balance (and pays 1 per transfer). */
export const INITIAL_BALANCE = 1_000_000_000

/**
 * Accounts the transfer workload opens: twice as many as calls in flight, so contention exists
 * but does not dominate (`pgbench-transfer` opens as many).
 */
export const transferAccountCount = (inflight: number, sessions: number): number => Math.max(4, 2 * inflight, 2 * sessions)

/** Integers may come back as numbers or, for int8 columns, as decimal strings. */
const asInteger = (what: string, value: unknown): bigint => {
  if (typeof value === "number" && Number.isInteger(value)) return BigInt(value)
  if (typeof value === "string" && /^-?\d+$/.test(value)) return BigInt(value)
  if (typeof value === "bigint") return value
  return fail(`${what}: expected an integer`, value)
}

/** Unwraps `autobahn.Result` (args/kwargs) to the value in args[0], where the ledger puts results. */
const firstArg = (result: unknown): unknown => {
  if (result !== null && typeof result === "object" && "args" in result && Array.isArray((result as { args: unknown }).args)) {
    return (result as { args: Array<unknown> }).args[0]
  }
  return result
}

const record = (what: string, value: unknown): Record<string, unknown> => {
  const v = firstArg(value)
  if (v === null || typeof v !== "object" || Array.isArray(v)) return fail(`${what}: expected an object`, v)
  return v as Record<string, unknown>
}

/**
 * A new account of `session`'s caller holding `balance`: opened empty, then minted, which needs the
 * `admin` authrole (the bench's router gives it to its sessions; the ledger still checks ownership
 * for transfers, so each session pays from its own accounts).
 */
const openAccount = async (session: Session, balance: number): Promise<unknown> => {
  const opened = record("open_account", await session.call(`${LEDGER}.open_account`))
  if (opened.id === undefined || opened.id === null || asInteger("open_account balance", opened.balance) !== 0n) {
    fail("open_account: wrong account", opened)
  }
  if (balance === 0) return opened.id
  const account = record("mint", await session.call(`${LEDGER}.mint`, [], { account: opened.id, amount: balance }))
  if (account.id !== opened.id || asInteger("mint balance", account.balance) !== BigInt(balance)) fail("mint: wrong account", account)
  return account.id
}

const getBalance = async (session: Session, id: unknown): Promise<bigint> => {
  const account = record("get_account", await session.call(`${LEDGER}.get_account`, [], { id }))
  return asInteger("get_account balance", account.balance)
}

/** Registered once `get_account` answers, even with `no_such_account` for an id that cannot exist. */
const probeLedger = async (session: Session): Promise<void> => {
  try {
    await session.call(`${LEDGER}.get_account`, [], { id: -1 })
  } catch (e) {
    const uri = (e as { error?: unknown }).error
    if (uri === `${LEDGER}.error.no_such_account`) return
    throw e
  }
}

/** Runs `count` calls with at most `inflight` at once, spread over the sessions. */
const runAll = async (
  sessions: ReadonlyArray<Session>,
  count: number,
  inflight: number,
  f: (session: Session, i: number) => Promise<void>
): Promise<void> => {
  let next = 0
  const worker = async (w: number): Promise<void> => {
    const session = sessions[w % sessions.length] as Session
    while (next < count) await f(session, next++)
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(inflight, count)) }, (_, w) => worker(w)))
}

const transfer: Workload = {
  name: "ledger.transfer",
  procedure: `${LEDGER}.transfer`,
  probe: probeLedger,
  setup: async ({ inflight, sessions }) => {
    // Each session owns the accounts it opened and pays from them, into anyone's.
    const n = transferAccountCount(inflight, sessions.length)
    const ids: Array<unknown> = []
    const owned = new Map<Session, Array<unknown>>()
    await runAll(sessions, n, inflight, async (_, i) => {
      const owner = sessions[i % sessions.length] as Session
      ids[i] = await openAccount(owner, INITIAL_BALANCE)
    })
    ids.forEach((id, i) => {
      const owner = sessions[i % sessions.length] as Session
      owned.set(owner, [...(owned.get(owner) ?? []), id])
    })
    const seen = new Set<string>()
    const total = BigInt(n) * BigInt(INITIAL_BALANCE)
    return {
      call: async (session, seq) => {
        const mine = owned.get(session)
        if (mine === undefined) return fail("transfer: a session without accounts", seq)
        const from = mine[seq % mine.length]
        let to = ids[(seq * 7919) % n]
        if (to === from) to = ids[(ids.indexOf(from) + 1) % n]
        const result = record("transfer", await session.call(`${LEDGER}.transfer`, [], { from, to, amount: 1 }))
        const id = String(result.id)
        if (result.id === undefined || seen.has(id)) fail("transfer: missing or repeated transfer id", result)
        seen.add(id)
        const balance = asInteger("transfer from_balance", result.from_balance)
        if (balance < 0n || balance > total) fail("transfer: impossible balance", result)
        return 1
      },
      finish: async (session) => {
        let sum = 0n
        for (const id of ids) sum += await getBalance(session, id)
        return [{
          name: "sum of balances unchanged",
          ok: sum === total,
          detail: `${n} accounts: expected ${total}, found ${sum}`
        }]
      }
    }
  }
}

/** Rows each history call streams. */
export const HISTORY_ROWS = 10_000

const history: Workload = {
  name: "ledger.history",
  procedure: `${LEDGER}.history`,
  probe: probeLedger,
  setup: async ({ inflight, sessions }) => {
    // The payer's session pays (only the owner may); every session reads (the admin authrole the
    // bench's router gives them sees every account).
    const first = sessions[0] as Session
    const from = await openAccount(first, HISTORY_ROWS)
    const to = await openAccount(first, 0)
    await runAll([first], HISTORY_ROWS, Math.max(inflight, 16), async (session) => {
      await session.call(`${LEDGER}.transfer`, [], { from, to, amount: 1 })
    })
    const checkRow = (row: unknown, previous: bigint | undefined): bigint => {
      const r = record("history row", row)
      if (r.from !== from || r.to !== to || asInteger("history amount", r.amount) !== 1n || !(typeof r.at === "string" || r.at instanceof Date)) {
        fail("history: wrong transfer row", r)
      }
      const id = asInteger("history id", r.id)
      if (previous !== undefined && id <= previous) fail("history: rows not oldest first", r)
      return id
    }
    return {
      call: async (session) => {
        let rows = 0
        let last: bigint | undefined
        let bad: unknown
        const pending = session.call(`${LEDGER}.history`, [], { account: from, limit: HISTORY_ROWS }, { receive_progress: true })
        pending.onProgress = (row) => {
          if (bad !== undefined) return
          try {
            last = checkRow(row, last)
            rows++
          } catch (e) {
            bad = e
          }
        }
        const final = record("history final", await pending)
        if (bad !== undefined) throw bad
        if (rows !== HISTORY_ROWS || asInteger("history count", final.count) !== BigInt(HISTORY_ROWS)) {
          fail(`history: expected ${HISTORY_ROWS} progressive rows and count, saw ${rows} rows`, final)
        }
        return rows
      },
      finish: noFinalChecks
    }
  }
}

export const workloads: Readonly<Record<WorkloadName, Workload>> = {
  echo,
  "now.v1": now("now.v1"),
  "now.v3": now("now.v3"),
  "ledger.transfer": transfer,
  "ledger.history": history
}
