/** WAMP identifiers (spec "IDs"): global-scope ids are random, router-scope ids sequential. */

/** A random id in [1, 2^53] for sessions and publications. */
export const randomId = (): number => Math.floor(Math.random() * 9007199254740992) + 1

/** Sequential ids in [1, 2^53] for registrations and subscriptions. */
export class IdSequence {
  #next = 1
  next(): number {
    const id = this.#next
    this.#next = id >= 9007199254740992 ? 1 : id + 1
    return id
  }
}
