/**
 * Connections for transactions that save the round trips a transaction would otherwise add to its
 * statements. On this machine a round trip (a write that wakes PostgreSQL, a read that wakes us) costs
 * more than the statement it carries, and a transaction paid three of them for one statement.
 *
 * A lane is one pooled connection used by one transaction at a time. Its connection pipelines
 * (`multiplex`, one user per connection), so what is queued in one tick leaves in one write, each
 * statement in its own extended-query cycle, run in order:
 *
 * - **BEGIN travels with the first statement.** The BEGIN is queued, not awaited; the body's first
 *   statement joins it in the same write. Its result is checked with the next statement's (or at
 *   COMMIT). A plain `BEGIN` fails only when its connection does, and then so does everything behind
 *   it; a custom `BEGIN ...` (`SqlClient.BeginTransaction`) is awaited as before, since a mistake in
 *   it must not let the statement behind it run outside a transaction.
 * - **COMMIT travels with the next transaction's BEGIN.** When a transaction commits while another
 *   waits for a lane, its COMMIT is queued and the lane handed over at once, in the same tick: the
 *   waiting transaction's BEGIN and first statement follow the COMMIT in one write. The committing
 *   transaction still answers only after PostgreSQL confirmed its COMMIT. A COMMIT always ends its
 *   transaction block (also when it fails), so what follows it runs in a transaction of its own.
 *
 * - **What nobody reads travels ahead.** `sendAhead` (through `Transaction.ahead`) queues a statement
 *   without waiting: it leaves with the next statement, or with the COMMIT, which report its failure.
 *
 * Under load every transaction is then one write and one read on its lane, as a pipelined statement
 * is. A statement interrupted in a lane is canceled with `pg_cancel_backend` (`cancelBackend`; the
 * library cannot cancel on a pipelining connection) and the lane retired afterwards, as is one whose
 * connection failed: a late cancel must not reach the next transaction. What holds a connection of
 * the lanes' pool for itself (LISTEN) goes through `exclusive`, one lane fewer meanwhile.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import type { Connection } from "effect/sql/SqlConnection"
import type { SqlError } from "effect/sql/SqlError"
import * as Stream from "effect/Stream"
import type * as PgConnection from "@effect/sql-pg/PgConnection"
import type * as PgPool from "@effect/sql-pg/PgPool"

type Rows = <A extends object>(row: ReadonlyArray<A>) => ReadonlyArray<A>

/** One pooled connection, checked out for as long as transactions follow each other on it. */
interface Lane {
  readonly connection: PgConnection.PgConnection
  /** The pool checkout: closing it returns the connection. */
  readonly checkout: Scope.Closeable
  /** Its connection failed, or a cancel was sent on it: it serves no other transaction. */
  retired: boolean
}

/** A waiting transaction: given a lane, or `undefined` when it should open one itself. */
type Waiter = (lane: Lane | undefined) => void

const noRows: ReadonlyArray<never> = []

const isConnectionFailure = (error: SqlError): boolean => error.reason._tag === "ConnectionError"

/** The statements of one transaction, on its lane (`SqlConnection.Connection`). */
export class LaneConnection implements Connection {
  readonly lane: Lane
  private readonly lanes: Lanes
  /** Statements queued without waiting (the BEGIN, `sendAhead`), in order, until their results are checked. */
  private ahead: Array<Fiber.Fiber<PgConnection.Result, SqlError>> | undefined = undefined
  /** The lane went back or on: this transaction's work on it is done. */
  released = false

  constructor(lane: Lane, lanes: Lanes) {
    this.lane = lane
    this.lanes = lanes
  }

  /**
   * Queues a statement whose rows nobody reads and returns at once: it leaves with whatever is
   * queued in this tick (the next statement, or the COMMIT). Its result is checked with the next
   * statement's; a failure there is reported first, as it came first (PostgreSQL then refuses what
   * follows it in the transaction).
   */
  sendAhead(sql: string, params: ReadonlyArray<unknown>): Effect.Effect<void> {
    return Effect.map(
      Effect.forkChild(this.retiringOnFailure(this.lane.connection.query(sql, params, true)), { startImmediately: true }),
      (fiber) => void (this.ahead ??= []).push(fiber)
    )
  }

  /** The results of what was sent ahead, in order: the first failure is the transaction's. */
  readonly checkAhead: Effect.Effect<void, SqlError> = Effect.suspend(() => {
    const ahead = this.ahead
    if (ahead === undefined) return Effect.void
    this.ahead = undefined
    return ahead.length === 1 ? Effect.asVoid(Fiber.join(ahead[0]!)) : Effect.forEach(ahead, Fiber.join, { discard: true })
  })

  /**
   * Runs one statement on the lane; an interruption cancels it in PostgreSQL and retires the lane,
   * a connection failure retires it too. A failure of what was sent ahead comes first.
   */
  private statement<A>(run: Effect.Effect<A, SqlError>): Effect.Effect<A, SqlError> {
    const guarded = Effect.onInterrupt(this.retiringOnFailure(run), () => this.lanes.cancel(this.lane))
    if (this.ahead === undefined) return guarded
    return Effect.flatMap(Effect.exit(guarded), (exit) => Effect.andThen(this.checkAhead, exit))
  }

  /** `run`, retiring the lane when it fails with its connection (no later transaction may get it). */
  retiringOnFailure<A>(run: Effect.Effect<A, SqlError>): Effect.Effect<A, SqlError> {
    return Effect.tapError(run, (error) =>
      Effect.sync(() => {
        if (isConnectionFailure(error)) this.lane.retired = true
      }))
  }

  private rows(sql: string, params: ReadonlyArray<unknown>, prepare: boolean) {
    return this.statement(Effect.map(this.lane.connection.query(sql, params, prepare), (result) => result.rows))
  }

  execute(sql: string, params: ReadonlyArray<unknown>, transformRows: Rows | undefined) {
    // The transaction's plain BEGIN (a BEGIN inside a block is only a warning in PostgreSQL).
    if (sql === "BEGIN") return Effect.as(this.sendAhead(sql, params), noRows)
    // Rolling back (to a savepoint: what was sent ahead before it was checked by the SAVEPOINT),
    // what was sent ahead no longer matters and must not turn into the rollback's failure.
    if (sql.startsWith("ROLLBACK")) this.ahead = undefined
    return transformRows ? Effect.map(this.rows(sql, params, true), transformRows) : this.rows(sql, params, true)
  }
  executeRaw(sql: string, params: ReadonlyArray<unknown>) {
    return this.statement(this.lane.connection.query(sql, params))
  }
  executeWithoutTransform(sql: string, params: ReadonlyArray<unknown>) {
    return this.rows(sql, params, true)
  }
  executeValues(sql: string, params: ReadonlyArray<unknown>) {
    return this.statement(this.lane.connection.queryValues(sql, params))
  }
  executeValuesUnprepared(sql: string, params: ReadonlyArray<unknown>) {
    return this.statement(this.lane.connection.queryValues(sql, params, false))
  }
  executeUnprepared(sql: string, params: ReadonlyArray<unknown>, transformRows: Rows | undefined) {
    const operation = this.rows(sql, params, false)
    return transformRows ? Effect.map(operation, transformRows) : operation
  }
  executeStream(sql: string, params: ReadonlyArray<unknown>, transformRows: Rows | undefined) {
    // A stream takes the connection for itself once what is queued has been answered.
    const stream = Stream.unwrap(Effect.as(this.checkAhead, this.lane.connection.stream(sql, params)))
    return transformRows
      ? Stream.mapArray(stream, (rows) => transformRows(rows) as typeof rows)
      : stream
  }
}

export interface Lanes {
  /** A lane for one transaction; it goes back (or on to the next transaction) when the scope closes. */
  readonly acquire: Effect.Effect<LaneConnection, SqlError, Scope.Scope>
  /**
   * Commits the transaction on `connection` and checks the result with `check` (PostgreSQL answers
   * `ROLLBACK` to the COMMIT of an aborted transaction). With a transaction waiting, the lane is
   * handed to it as soon as the COMMIT is queued.
   */
  readonly commit: (
    connection: LaneConnection,
    check: (result: PgConnection.Result) => Effect.Effect<void, SqlError>
  ) => Effect.Effect<void, SqlError>
  /** Cancels what runs on the lane and retires it (an interrupted statement). */
  readonly cancel: (lane: Lane) => Effect.Effect<void>
  /**
   * Takes one connection of the lanes' pool for something else (LISTEN) while the scope is open:
   * one lane fewer meanwhile, so no lane waits for a connection the pool does not have. The last
   * lane is never taken: then `otherwise` runs instead.
   */
  readonly exclusive: <A, E, R>(
    acquire: Effect.Effect<A, E, R>,
    otherwise: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E, R | Scope.Scope>
}

/**
 * Lanes over `pool` (whose connections take one user each and pipeline), at most `size` at once.
 * `prepare` runs on every checkout (the pool's connection hook); `cancelBackend` cancels a backend's
 * running statement from another connection.
 */
export const make = (options: {
  readonly pool: PgPool.PgPool
  readonly size: number
  readonly prepare: (connection: PgConnection.PgConnection) => Effect.Effect<void, SqlError>
  readonly cancelBackend: (processId: number) => Effect.Effect<void>
}): Lanes => {
  const { pool, size } = options
  const waiters: Array<Waiter> = []
  /** Lanes checked out from the pool (in use or being opened). */
  let open = 0
  /** Connections of the pool held for something else (`exclusive`). */
  let held = 0
  const capacity = (): number => size - held

  const openLane: Effect.Effect<Lane, SqlError> = Effect.suspend(() => {
    open++
    return Effect.flatMap(Scope.make(), (checkout) =>
      Scope.provide(Effect.tap(pool.get, options.prepare), checkout).pipe(
        Effect.map((connection): Lane => ({ connection, checkout, retired: false })),
        Effect.onError(() =>
          Effect.andThen(
            Scope.close(checkout, Exit.void),
            Effect.sync(() => {
              open--
              wakeOne()
            })
          )
        )
      ))
  })

  /** Lets the first waiter open a lane of its own (one was closed). */
  const wakeOne = (): void => {
    const waiter = waiters.shift()
    if (waiter !== undefined) waiter(undefined)
  }

  /** Waits for a lane handed over, or for room to open one (then opens it). */
  const wait: Effect.Effect<Lane, SqlError> = Effect.flatMap(
    Effect.callback<Lane | undefined>((resume) => {
      const waiter: Waiter = (lane) => resume(Effect.succeed(lane))
      waiters.push(waiter)
      return Effect.sync(() => {
        const index = waiters.indexOf(waiter)
        if (index >= 0) waiters.splice(index, 1)
      })
    }),
    (lane) => lane !== undefined ? Effect.succeed(lane) : open < capacity() ? openLane : wait
  )

  const take: Effect.Effect<Lane, SqlError> = Effect.suspend(() =>
    waiters.length === 0 && open < capacity() ? openLane : wait
  )

  /** Closes the lane's checkout (the pool retires a failed connection); a waiter may open another. */
  const close = (lane: Lane): Effect.Effect<void> =>
    Effect.andThen(
      Effect.andThen(lane.retired ? pool.invalidate(lane.connection) : Effect.void, Scope.close(lane.checkout, Exit.void)),
      Effect.sync(() => {
        open--
        wakeOne()
      })
    )

  /**
   * Hands the lane to the first waiting transaction (it runs now, in this tick). False when none
   * waits, when the lane is retired, or when the pool owes a connection to `exclusive`.
   */
  const handOver = (lane: Lane): boolean => {
    if (lane.retired || open > capacity()) return false
    const waiter = waiters.shift()
    if (waiter === undefined) return false
    waiter(lane)
    return true
  }

  const release = (connection: LaneConnection): Effect.Effect<void> =>
    Effect.suspend(() => {
      if (connection.released) return Effect.void
      connection.released = true
      return handOver(connection.lane) ? Effect.void : close(connection.lane)
    })

  const lanes: Lanes = {
    acquire: Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(restore(take), (lane) => {
        const connection = new LaneConnection(lane, lanes)
        return Effect.as(Effect.addFinalizer(() => release(connection)), connection)
      })
    ),
    commit: (connection, check) =>
      Effect.suspend(() => {
        const commit = Effect.flatMap(connection.retiringOnFailure(connection.lane.connection.query("COMMIT", noRows, true)), check)
        // Queued now, behind what was sent ahead; with a transaction waiting the lane goes on at once,
        // so its BEGIN follows this COMMIT in the same write.
        return Effect.flatMap(Effect.forkChild(commit, { startImmediately: true }), (committing) => {
          connection.released = handOver(connection.lane)
          return Effect.andThen(connection.checkAhead, Fiber.join(committing))
        })
      }),
    cancel: (lane) =>
      Effect.suspend(() => {
        lane.retired = true
        return options.cancelBackend(lane.connection.processId)
      }),
    exclusive: (acquire, otherwise) =>
      Effect.suspend(() =>
        held + 1 >= size ? otherwise : Effect.andThen(
          Effect.acquireRelease(
            Effect.sync(() => void held++),
            () =>
              Effect.sync(() => {
                held--
                wakeOne()
              })
          ),
          acquire
        )
      )
  }
  return lanes
}
