/**
 * Load client: a child process of `bench/run.ts`. Opens K autobahn sessions, keeps C calls in
 * flight for a warm-up and then a measured window, checks every result, and reports over IPC.
 * Plain promises on purpose: the driver's own CPU must stay small beside what it measures.
 */
import { performance } from "node:perf_hooks"
import { type OpenedSession, openSession, type Session } from "../lib/autobahn.js"
import { finish, onParentMessage, sendToParent } from "../lib/ipc.js"
import type { ChildMessage, LoadConfig, Phase } from "../lib/protocol.js"
import { describeFailure, ErrorTally, LatencyRecorder } from "../lib/stats.js"
import { workloads } from "../lib/workloads.js"

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Retries the workload's probe while the procedure is not registered yet. */
const waitUntilCallable = async (config: LoadConfig, session: Session): Promise<void> => {
  const workload = workloads[config.workload]
  const deadline = Date.now() + config.readyTimeoutMs
  for (;;) {
    try {
      await workload.probe(session)
      return
    } catch (e) {
      const uri = (e as { error?: unknown }).error
      if (uri !== "wamp.error.no_such_procedure" || Date.now() > deadline) {
        throw new Error(`${workload.procedure} not callable: ${describeFailure(e)}`)
      }
      await sleep(100)
    }
  }
}

/** With several components sharing a registration, waits until the router lists them all. */
const waitForCallees = async (config: LoadConfig, session: Session, expected: number): Promise<void> => {
  const procedure = workloads[config.workload].procedure
  const deadline = Date.now() + config.readyTimeoutMs
  let seen = 0
  while (Date.now() < deadline) {
    const id = await session.call("wamp.registration.lookup", [procedure])
    if (typeof id === "number") {
      const callees = await session.call("wamp.registration.list_callees", [id])
      seen = Array.isArray(callees) ? callees.length : 0
      if (seen >= expected) return
    }
    await sleep(100)
  }
  throw new Error(`${procedure}: ${seen} of ${expected} callees registered after ${config.readyTimeoutMs} ms`)
}

const run = async (config: LoadConfig): Promise<ChildMessage> => {
  let phase: Phase = "connect"
  const enter = (next: Phase) => {
    phase = next
    sendToParent({ type: "phase", phase: next })
  }
  const opened: Array<OpenedSession> = []
  try {
    for (let i = 0; i < config.sessions; i++) {
      opened.push(await openSession(config.url, config.realm, config.serializer))
    }
    const sessions = opened.map((o) => o.session)
    const first = sessions[0] as Session
    enter("setup")
    await waitUntilCallable(config, first)
    if ((config.expectCallees ?? 1) > 1) await waitForCallees(config, first, config.expectCallees ?? 1)
    const running = await workloads[config.workload].setup({
      sessions,
      serializer: config.serializer,
      runId: config.runId,
      inflight: config.inflight
    })

    const latency = new LatencyRecorder()
    const errors = new ErrorTally()
    let ok = 0
    let rows = 0
    let seq = 0
    let fatal: string | undefined

    const worker = async (w: number): Promise<void> => {
      const session = sessions[w % sessions.length] as Session
      while (phase === "warmup" || phase === "measure") {
        if (!session.isOpen) {
          fatal = "a WAMP session closed during the run"
          return
        }
        const started = performance.now()
        try {
          const n = await running.call(session, seq++)
          if (phase === "measure") {
            latency.record(performance.now() - started)
            ok++
            rows += n
          }
        } catch (e) {
          if (phase === "measure") errors.add(describeFailure(e))
        }
      }
    }

    const startedAt = performance.now()
    let windowStart = startedAt
    const progress = setInterval(() => {
      sendToParent({
        type: "progress",
        phase,
        calls: phase === "measure" ? ok + errors.count : seq,
        errors: errors.count,
        elapsedMs: performance.now() - (phase === "measure" ? windowStart : startedAt)
      })
    }, 1_000)
    enter("warmup")
    const workers = Array.from({ length: config.inflight }, (_, w) => worker(w))
    await sleep(config.warmupMs)
    enter("measure")
    windowStart = performance.now()
    await sleep(config.durationMs)
    enter("drain")
    const windowMs = performance.now() - windowStart
    clearInterval(progress)
    await Promise.race([Promise.all(workers), sleep(30_000)])
    if (fatal !== undefined) throw new Error(fatal)

    const finalChecks = await running.finish(first)
    const calls = ok + errors.count
    return {
      type: "result",
      result: {
        calls,
        ok,
        errors: errors.count,
        errorSamples: errors.samples(),
        windowMs,
        callsPerSecond: (ok * 1000) / windowMs,
        latency: latency.summary(),
        ...(rows !== ok ? { rowsPerSecond: (rows * 1000) / windowMs } : {}),
        finalChecks
      }
    } as const
  } finally {
    await Promise.all(opened.map((o) => o.close()))
  }
}

onParentMessage((message) => {
  if (message.type === "run-load") {
    run(message.config).then(
      (result) => finish(result, 0),
      (e: unknown) => finish({ type: "failed", message: describeFailure(e) }, 1)
    )
  } else if (message.type === "stop") {
    process.exit(0)
  }
})
sendToParent({ type: "ready", node: process.version })
