/**
 * The comparison for the service's `com.example.now.v1` and `now.v3`: the same two procedures
 * hand-written as a new user would, with autobahn-js and a node-postgres `Pool` (the size of the
 * service's pool), on the same router, PostgreSQL and serializer. v1 runs one statement on the
 * pool; v3 checks a client out and runs `BEGIN`, the statement and `COMMIT` as three queries, as
 * node-postgres's documentation shows for transactions. Both return the database's `now()` as text
 * (the service's statement), so the load client checks them exactly as it checks the service.
 * A child process of `bench/run.ts`. argv: url realm serializer; env: DATABASE_URL, DB_POOL_MIN,
 * DB_POOL_MAX.
 */
import pg from "pg"
import { openSession } from "../lib/autobahn.js"
import { finish, onParentMessage, sendToParent } from "../lib/ipc.js"
import type { Serializer } from "../lib/protocol.js"
import { describeFailure } from "../lib/stats.js"

const [url, realm, serializer] = process.argv.slice(2)

const NOW = "SELECT now()::text AS now"

const main = async (): Promise<void> => {
  const databaseUrl = process.env["DATABASE_URL"]
  if (url === undefined || realm === undefined || serializer === undefined || databaseUrl === undefined) {
    throw new Error("usage: DATABASE_URL=... autobahn-pg-component.ts <url> <realm> <json|msgpack>")
  }
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    min: Number(process.env["DB_POOL_MIN"] ?? 3),
    max: Number(process.env["DB_POOL_MAX"] ?? 10)
  })
  // An idle client's connection error is emitted on the pool; without a listener it would end the process.
  pool.on("error", (e) => console.error(`pool: ${e.message}`))
  const { close, session } = await openSession(url, realm, serializer as Serializer)

  await session.register("com.example.now.v1", async () => {
    const result = await pool.query<{ now: string }>(NOW)
    return result.rows[0]?.now
  })

  await session.register("com.example.now.v3", async () => {
    const client = await pool.connect()
    try {
      await client.query("BEGIN")
      const result = await client.query<{ now: string }>(NOW)
      await client.query("COMMIT")
      return result.rows[0]?.now
    } catch (e) {
      await client.query("ROLLBACK")
      throw e
    } finally {
      client.release()
    }
  })

  const stop = () => void close().then(() => pool.end()).finally(() => process.exit(0))
  onParentMessage((message) => {
    if (message.type === "stop") stop()
  })
  process.on("SIGTERM", stop)
  await sendToParent({ type: "ready", node: process.version })
}

main().catch((e: unknown) => finish({ type: "failed", message: describeFailure(e) }, 1))
