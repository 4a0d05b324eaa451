/** The shared test PostgreSQL started by globalSetup.ts, as provided to test files. */
export interface PostgresInfo {
  readonly host: string
  readonly port: number
  readonly user: string
  readonly password: string
  readonly dataDir: string
  /** Its Unix socket directory, when it has one (the service connects through it). */
  readonly socketDir: string | undefined
  /** The cluster's own URL for the `postgres` database (`EmbeddedPostgres.url`), as tools get it. */
  readonly url: string
}

declare module "vitest" {
  export interface ProvidedContext {
    wampgresPostgres: PostgresInfo
  }
}
