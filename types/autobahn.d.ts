// A small, honest declaration of the parts of autobahn 26.x (CommonJS, no shipped types) that wampgres
// uses. `@types/autobahn` describes an old version. Underscored members are autobahn internals that
// src/layers/wamp/callCanceling.ts relies on (documented there).
declare module "autobahn" {
  namespace autobahn {
    type Args = Array<unknown>
    type Kwargs = Record<string, unknown>
    /** A raw WAMP message: [type, ...fields]. */
    type WampMessage = Array<unknown>

    interface Serializer {
      readonly SERIALIZER_ID: string
      readonly BINARY: boolean
      serialize(obj: unknown): unknown
      unserialize(payload: unknown): unknown
    }

    /** What a transport factory creates; the session sets the callbacks. */
    interface Transport {
      protocol: string | undefined
      serializer: Serializer | undefined
      send: (msg: WampMessage) => void | Promise<void>
      close: (code?: number, reason?: string) => void
      onmessage: (msg: WampMessage) => void
      onopen: () => void
      onclose: (details: { code: number; reason: string; wasClean: boolean }) => void
      info: { type: string; url: string; protocol: string | null }
    }

    interface TransportFactory {
      readonly type: string
      create(): Transport
    }

    interface TransportOptions {
      type: string
      url?: string
      serializers?: Array<Serializer>
      protocols?: Array<string>
      [key: string]: unknown
    }

    interface ConnectionOptions {
      url?: string
      realm: string
      transports?: Array<TransportOptions>
      serializers?: Array<Serializer>
      use_es6_promises?: boolean
      max_retries?: number
      initial_retry_delay?: number
      max_retry_delay?: number
      retry_delay_growth?: number
      retry_delay_jitter?: number
      retry_if_unreachable?: boolean
      authmethods?: Array<string>
      authid?: string
      authextra?: Record<string, unknown>
      onchallenge?: (session: Session, method: string, extra: unknown) => string | Promise<string>
      on_user_error?: (error: unknown, message?: string) => void
      on_internal_error?: (error: unknown, message?: string) => void
    }

    interface CloseDetails {
      reason: string | null
      message: string | null
      retry_delay: number | null
      retry_count: number | null
      will_retry: boolean
    }

    class Connection {
      constructor(options: ConnectionOptions)
      open(): void
      /** Throws the string "connection already closed" when nothing is open or retrying. */
      close(reason?: string, message?: string): void
      readonly session: Session | null
      readonly isOpen: boolean
      readonly isRetrying: boolean
      onopen: ((session: Session, details: Record<string, unknown>) => void) | null
      /** Return true to stop retrying. */
      onclose: ((reason: string, details: CloseDetails) => boolean | void) | null
      /** autobahn internal: clears a pending reconnect timer (close() does not). */
      _autoreconnect_reset_timer(): void
    }

    class Invocation {
      readonly procedure: string
      readonly progress: ((args?: Args, kwargs?: Kwargs) => void) | null
      readonly caller: number | undefined
      readonly caller_authid: string | undefined
      readonly caller_authrole: string | undefined
    }

    class Event {
      readonly publication: number
      readonly topic: string
      readonly publisher: number | undefined
      readonly publisher_authid: string | undefined
      readonly publisher_authrole: string | undefined
    }

    class Result {
      constructor(args?: Args, kwargs?: Kwargs)
      args: Args
      kwargs: Kwargs
    }

    class Error {
      constructor(error: string, args?: Args, kwargs?: Kwargs)
      error: string
      args: Args
      kwargs: Kwargs
    }

    class Registration {
      readonly procedure: string
      readonly id: number
      readonly active: boolean
      unregister(): Promise<unknown>
    }

    class Subscription {
      readonly topic: string
      readonly id: number
      readonly active: boolean
      unsubscribe(): Promise<unknown>
    }

    class Publication {
      readonly id: number
    }

    type Endpoint = (args: Args, kwargs: Kwargs, details: Invocation) => unknown
    type EventHandler = (args: Args, kwargs: Kwargs, details: Event) => void

    class Session {
      readonly id: number | null
      readonly realm: string | null
      readonly isOpen: boolean
      readonly features: Record<string, Record<string, boolean>> | null
      /** Throws "session not open" synchronously when closed. */
      call(procedure: string, args?: Args, kwargs?: Kwargs, options?: Record<string, unknown>): Promise<unknown>
      publish(
        topic: string,
        args?: Args,
        kwargs?: Kwargs,
        options?: Record<string, unknown>
      ): Promise<Publication> | undefined
      subscribe(topic: string, handler: EventHandler, options?: Record<string, unknown>): Promise<Subscription>
      unsubscribe(subscription: Subscription): Promise<unknown>
      register(procedure: string, endpoint: Endpoint, options?: Record<string, unknown>): Promise<Registration>
      unregister(registration: Registration): Promise<unknown>
      leave(reason?: string, message?: string): void
      onleave: ((reason: string, details: Record<string, unknown>) => void) | null

      // autobahn internals (see src/layers/wamp/callCanceling.ts)
      _MESSAGE_MAP: Record<number, (msg: WampMessage) => void> & { [8]: Record<number, (msg: WampMessage) => void> }
      _send_wamp(msg: WampMessage): void
      _socket: Transport
    }

    const transports: {
      register(name: string, factory: new(options: TransportOptions) => TransportFactory): void
      isRegistered(name: string): boolean
      get(name: string): new(options: TransportOptions) => TransportFactory
    }

    const serializer: {
      JSONSerializer: new() => Serializer
      MsgpackSerializer?: new() => Serializer
      CBORSerializer?: new() => Serializer
    }

    const log: {
      debug: (...args: Array<unknown>) => void
      warn: (...args: Array<unknown>) => void
    }

    const version: string

    /** WAMP-CRA: the salted key (PBKDF2-HMAC-SHA256, base64) and the signature of a challenge. */
    const auth_cra: {
      derive_key(secret: string, salt: string, iterations?: number, keylen?: number): string
      sign(key: string, challenge: string): string
    }

    /** An Ed25519 key pair as tweetnacl holds it: secretKey is the 32-byte seed followed by the public key. */
    interface CryptosignKeyPair {
      readonly publicKey: Uint8Array
      readonly secretKey: Uint8Array
    }

    /** WAMP-cryptosign: signs CHALLENGE.extra.challenge (hex); the signature and the challenge, in hex. */
    const auth_cryptosign: {
      sign_challenge(pkey: CryptosignKeyPair, extra: { readonly challenge: string }): string
      public_key(pkey: CryptosignKeyPair): string
    }
  }
  export = autobahn
}
