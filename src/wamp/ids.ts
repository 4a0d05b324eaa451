/** WAMP identifiers (spec "IDs"): global-scope ids are random, router-scope ids sequential. */

/**
 * A random id in [1, 2^53 - 1] for sessions and publications: the spec allows 2^53, but some
 * decoders (autobahn-js on CBOR) hand exactly 2^53 over as a bigint, so it is never chosen.
 */
export const randomId = (): number => Math.floor(Math.random() * 9007199254740991) + 1

/** Sequential ids in [1, 2^53] for registrations and subscriptions. */
export class IdSequence {
  #next = 1
  next(): number {
    const id = this.#next
    this.#next = id >= 9007199254740992 ? 1 : id + 1
    return id
  }
}
