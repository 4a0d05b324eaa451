/**
 * The contracts of `com.example.now.v1`–`v4`: no arguments, the database's `now()` as a string;
 * v3 and v4 run in a transaction (where `now()` is the transaction's start time).
 */
import * as Schema from "effect/Schema"
import * as Contract from "../Contract.js"

export const nowV1 = Contract.make("com.example.now.v1", { result: Schema.String })
export const nowV2 = Contract.make("com.example.now.v2", { result: Schema.String })
export const nowV3 = Contract.make("com.example.now.v3", { result: Schema.String, transactional: true })
export const nowV4 = Contract.make("com.example.now.v4", { result: Schema.String, transactional: true })
