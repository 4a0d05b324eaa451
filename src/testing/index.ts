/**
 * wampgres' public test kit: what a user needs to test procedures without PostgreSQL.
 *
 * - {@link PgClientMock}: a scripted, recording `PgClient` / `SqlClient` layer.
 * - {@link WampSessionMock}: a `WampSession` that records what procedures publish.
 *
 * @since 0.1.0
 */
export * as PgClientMock from "./PgClientMock.js"
export * as WampSessionMock from "./WampSessionMock.js"
