/**
 * Column codecs for row Schemas: decode what `@effect/sql-pg` returns for a column into the value a
 * procedure works with, so query results are checked by a Schema instead of cast.
 *
 * ```ts
 * const AccountRow = Schema.Struct({ id: Rows.Int64, owner: Schema.String, balance: Rows.Int64 })
 * const rows = yield* Rows.decodeAll(AccountRow)(yield* sql`SELECT id, owner, balance FROM ...`)
 * ```
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as SchemaTransformation from "effect/SchemaTransformation"

/**
 * An `int8`/`bigint` column (the driver returns a JS `bigint`) as a safe integer `number`:
 * decoding fails beyond ±2^53, never rounds silently.
 */
export const Int64 = Schema.BigInt.pipe(
  Schema.decodeTo(Schema.Int, SchemaTransformation.transform({ decode: (n: bigint) => Number(n), encode: (n: number) => BigInt(n) }))
)

/** A `timestamptz` column (the driver returns a `Date`). */
export const Timestamp = Schema.Date

/** A decoder for query results: every row through the Schema; a mismatch is a defect (schema drift). */
export const decodeAll = <A, I>(schema: Schema.Codec<A, I, never, never>) => {
  const decode = Schema.decodeUnknownEffect(Schema.Array(schema))
  return (rows: ReadonlyArray<unknown>): Effect.Effect<ReadonlyArray<A>> => Effect.orDie(decode(rows))
}
