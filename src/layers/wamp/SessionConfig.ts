/**
 * The WAMP session's settings: read from the environment (`WAMP_*`) by `config`, or given in full
 * (`defaults` fills what a test or embedding leaves out).
 */
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import { type InvokePolicy, invokePolicies } from "../../wamp/types.js"

export interface WampSessionConfig {
  readonly url: string
  readonly realm: string
  readonly joinTimeout: Duration.Duration
  readonly requestTimeout: Duration.Duration
  readonly drainTimeout: Duration.Duration
  readonly maxRetryDelay: Duration.Duration
  readonly serializer: "json" | "msgpack"
  /**
   * The invocation policy of every registration that sets no `options.invoke` of its own. Anything
   * but "single" lets several instances of the component register the same procedures (scale-out).
   */
  readonly invoke: InvokePolicy
}

/** The session settings from the environment (`WAMP_*`). */
export const config: Config.Config<WampSessionConfig> = Config.all({
  url: Config.String("WAMP_URL").pipe(Config.withDefault("ws://127.0.0.1:8080/ws")),
  realm: Config.String("WAMP_REALM").pipe(Config.withDefault("realm1")),
  joinTimeout: Config.Duration("WAMP_JOIN_TIMEOUT").pipe(Config.withDefault(Duration.seconds(15))),
  requestTimeout: Config.Duration("WAMP_REQUEST_TIMEOUT").pipe(Config.withDefault(Duration.seconds(10))),
  drainTimeout: Config.Duration("WAMP_DRAIN_TIMEOUT").pipe(Config.withDefault(Duration.seconds(3))),
  maxRetryDelay: Config.Duration("WAMP_MAX_RETRY_DELAY").pipe(Config.withDefault(Duration.seconds(5))),
  serializer: Config.Literals(["json", "msgpack"], "WAMP_SERIALIZER").pipe(Config.withDefault("json" as const)),
  invoke: Config.Literals(invokePolicies, "WAMP_INVOKE").pipe(Config.withDefault("single" as const))
}) as Config.Config<WampSessionConfig>

/** The settings used when a test or embedding passes only some of them. */
export const defaults = (overrides: Partial<WampSessionConfig> & Pick<WampSessionConfig, "url">): WampSessionConfig => ({
  realm: "realm1",
  joinTimeout: Duration.seconds(15),
  requestTimeout: Duration.seconds(10),
  drainTimeout: Duration.seconds(3),
  maxRetryDelay: Duration.seconds(5),
  serializer: "json",
  invoke: "single",
  ...overrides
})

