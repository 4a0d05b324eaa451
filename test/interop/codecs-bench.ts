/**
 * Micro-benchmark of the binary codecs (ns per message, encode and decode), for the hot path:
 * `npx tsx test/interop/codecs-bench.ts`.
 */
import { serializers } from "../../src/wamp/codecs.js"

const rows = Array.from({ length: 100 }, (_, i) => ({ id: i + 1, name: `row ${i}`, price: i * 1.25, stock: 1000 + i }))
const messages: Record<string, ReadonlyArray<unknown>> = {
  "CALL (small ints)": [48, 17, {}, "com.example.now.v1", [], {}],
  "RESULT (timestamp string)": [50, 17, {}, ["2026-11-29T18:00:00.000Z"]],
  "EVENT (publication id ~2^52)": [36, 5, 4503599627370497, {}, ["hello", 42], { n: 1 }],
  "WELCOME (session id ~2^52)": [2, 7385623418234567, { roles: { broker: {}, dealer: {} }, authid: "x", authrole: "anonymous" }],
  "RESULT (100 rows)": [50, 18, {}, [rows]]
}

const measure = (run: () => unknown): number => {
  const rounds = 5
  let best = Infinity
  for (let r = 0; r < rounds; r++) {
    let n = 0
    const start = process.hrtime.bigint()
    let elapsed = 0n
    while (elapsed < 200_000_000n) {
      for (let i = 0; i < 1000; i++) run()
      n += 1000
      elapsed = process.hrtime.bigint() - start
    }
    best = Math.min(best, Number(elapsed) / n)
  }
  return best
}

for (const name of ["msgpack", "cbor"] as const) {
  const s = serializers[name]
  for (const [label, message] of Object.entries(messages)) {
    const encoded = Buffer.from(s.encode(message, true) as Uint8Array)
    const enc = measure(() => s.encode(message, true))
    const dec = measure(() => s.decode(encoded))
    console.log(`${name.padEnd(8)} ${label.padEnd(30)} encode ${enc.toFixed(0).padStart(6)} ns  decode ${dec.toFixed(0).padStart(6)} ns  (${encoded.length} B)`)
  }
}
