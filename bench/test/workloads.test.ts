import { describe, expect, it } from "@effect/vitest"
import type { CallPromise, Session } from "../lib/autobahn.js"
import { CheckFailed, ECHO_PROCEDURE, HISTORY_ROWS, parseTimestamp, workloads } from "../lib/workloads.js"

/** A session answering every call with `answer`; enough to exercise the result checks alone. */
const answering = (answer: (procedure: string, args: ReadonlyArray<unknown>) => unknown): Session => ({
  id: 1,
  isOpen: true,
  call: (procedure, args = []) => Promise.resolve(answer(procedure, args)) as CallPromise<unknown>,
  register: () => Promise.resolve(undefined)
})

const context = (session: Session) => ({ sessions: [session], serializer: "json" as const, runId: "t", inflight: 1 })

describe("result checks", () => {
  it("echo accepts its own payload back and rejects anything else", async () => {
    const faithful = answering((_, args) => args[0])
    const running = await workloads.echo.setup(context(faithful))
    await expect(running.call(faithful, 7)).resolves.toBe(1)

    const lossy = answering((_, args) => ({ ...(args[0] as object), seq: 8 }))
    await expect(running.call(lossy, 7)).rejects.toBeInstanceOf(CheckFailed)
    await expect(running.call(answering(() => null), 7)).rejects.toBeInstanceOf(CheckFailed)
  })

  it("echo calls the echo component's procedure", async () => {
    const seen: Array<string> = []
    const session = answering((procedure, args) => {
      seen.push(procedure)
      return args[0]
    })
    await workloads.echo.probe(session)
    expect(seen).toEqual([ECHO_PROCEDURE])
  })

  it("now.v1 wants a current timestamp string, in ISO or PostgreSQL text form", async () => {
    const running = await workloads["now.v1"].setup(context(answering(() => undefined)))
    await expect(running.call(answering(() => new Date().toISOString()), 0)).resolves.toBe(1)
    const pgText = new Date().toISOString().replace("T", " ").replace("Z", "+00")
    await expect(running.call(answering(() => pgText), 0)).resolves.toBe(1)
    await expect(running.call(answering(() => "2001-01-01T00:00:00Z"), 0)).rejects.toBeInstanceOf(CheckFailed)
    await expect(running.call(answering(() => "not a time"), 0)).rejects.toBeInstanceOf(CheckFailed)
    await expect(running.call(answering(() => 42), 0)).rejects.toBeInstanceOf(CheckFailed)
  })

  it("history wants every one of its 10,000 rows, oldest first, and the final count", async () => {
    const L = "com.example.ledger"
    let owners = 0
    /** Streams `rows` as progressive results, then `final`. */
    const streaming = (rows: ReadonlyArray<unknown>, final: unknown): Session => ({
      id: 1,
      isOpen: true,
      call: (procedure, _args, kwargs = {}) => {
        if (procedure === `${L}.open_account`) {
          return Promise.resolve({ id: ++owners, owner: "caller", balance: 0 }) as CallPromise<unknown>
        }
        if (procedure === `${L}.mint`) {
          return Promise.resolve({ id: kwargs.account, owner: "caller", balance: kwargs.amount }) as CallPromise<unknown>
        }
        if (procedure === `${L}.transfer`) return Promise.resolve({ id: 1, from_balance: 0 }) as CallPromise<unknown>
        const pending: CallPromise<unknown> = new Promise((resolve) =>
          setImmediate(() => {
            for (const row of rows) pending.onProgress?.(row)
            resolve(final)
          })
        )
        return pending
      },
      register: () => Promise.resolve(undefined)
    })
    const row = (id: number) => ({ id, from: 1, to: 2, amount: 1, at: "2025-01-01 00:00:00+00" })
    const good = Array.from({ length: HISTORY_ROWS }, (_, i) => row(i + 1))
    const setupSession = streaming([], null)
    const running = await workloads["ledger.history"].setup(context(setupSession))
    await expect(running.call(streaming(good, { count: HISTORY_ROWS }), 0)).resolves.toBe(HISTORY_ROWS)
    await expect(running.call(streaming(good.slice(1), { count: HISTORY_ROWS }), 0)).rejects.toBeInstanceOf(CheckFailed)
    const swapped = [...good]
    swapped[10] = row(5000)
    await expect(running.call(streaming(swapped, { count: HISTORY_ROWS }), 0)).rejects.toBeInstanceOf(CheckFailed)
    await expect(running.call(streaming(good, { count: 3 }), 0)).rejects.toBeInstanceOf(CheckFailed)
    const otherAccount = good.map((r, i) => i === 42 ? { ...r, to: 3 } : r)
    await expect(running.call(streaming(otherAccount, { count: HISTORY_ROWS }), 0)).rejects.toBeInstanceOf(CheckFailed)
  })

  it("parses PostgreSQL's timestamptz text", () => {
    expect(parseTimestamp("2025-01-02 03:04:05.678+00")).toBe(Date.UTC(2025, 0, 2, 3, 4, 5, 678))
    expect(parseTimestamp("2025-01-02 05:04:05+02")).toBe(Date.UTC(2025, 0, 2, 3, 4, 5))
    expect(parseTimestamp("2025-01-02 03:04:05.123456+00")).toBe(Date.UTC(2025, 0, 2, 3, 4, 5, 123))
  })
})
