/**
 * The WAMP session's settings, given in full or through `defaults` (which fills what a test or
 * embedding leaves out). The environment variables and their defaults are declared in
 * `src/Settings.ts`.
 */
import type * as Duration from "effect/Duration"
import { sessionDefaults } from "../../Settings.js"
import type { InvokePolicy } from "../../wamp/types.js"

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

/** The settings used when a test or embedding passes only some of them (defaults: `src/Settings.ts`). */
export const defaults = (overrides: Partial<WampSessionConfig> & Pick<WampSessionConfig, "url">): WampSessionConfig => ({
  ...sessionDefaults,
  ...overrides
})
