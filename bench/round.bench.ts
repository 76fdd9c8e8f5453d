/**
 * A full bandit round (experiments/bandit/online.json: sample 16 × 8, score, pair + reference
 * log-probs, 4 DPO steps, held-out eval against π_ref), recorded in a real store, on the onnx
 * engine and on tfjs `cpu`, in one run: the round's wall seconds (rounds.finished_at −
 * started_at, store writes and checkpoint files included) and its engine stages' wall and CPU
 * seconds (stage_times). Both engines start from one π₀ (the SFT cache is shared: timing only).
 */
import { Run, RunConfig, RunStore } from "@odpo/core"
import { Backend } from "@odpo/model"
import { Effect } from "effect"
import { existsSync, mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { experimentLayer } from "../packages/cli/src/Services.ts"
import type { BenchFigure } from "./run.ts"

const ROUNDS = 4
const THREADS = 2
/** The experiment beside this file, or under the working directory (a bundled bench has moved). */
const configFile = [join(dirname(fileURLToPath(import.meta.url)), "../experiments/bandit/online.json"), resolve("experiments/bandit/online.json")]
  .find(existsSync)

const timeRounds = (backend: "onnx" | "cpu", root: string) =>
  Effect.gen(function*() {
    const config = yield* RunConfig.parseRunConfig(readFileSync(configFile!, "utf8"), configFile!)
    const engine = yield* Backend.selectBackend(backend, { threads: THREADS })
    const db = join(mkdtempSync(join(root, `${backend}-`)), "bench.duckdb")
    return yield* Effect.gen(function*() {
      const runId = yield* Run.createRun({ ...config, rounds: ROUNDS }, { checkpointRoot: join(root, "checkpoints"), engine })
      yield* Run.runToCompletion(runId, engine)
      const store = yield* RunStore.RunStore
      const [[round, stages, cpu]] = (yield* store.query(`
        SELECT avg(epoch(r.finished_at) - epoch(r.started_at)), avg(s.wall), avg(s.cpu)
        FROM rounds r JOIN (SELECT round, sum(wall_s) AS wall, sum(cpu_s) AS cpu FROM stage_times WHERE run_id = '${runId}' GROUP BY round) s USING (round)
        WHERE r.run_id = '${runId}' AND r.round > 0`)).rows as unknown as [[number, number, number]]
      return { engine, round, stages, cpu }
    }).pipe(Effect.provide(experimentLayer(db, {}, engine, THREADS)))
  })

export default async (): Promise<ReadonlyArray<BenchFigure>> => {
  if (configFile === undefined) return [] // no experiments/ here: nothing to time
  const root = mkdtempSync(join(tmpdir(), "odpo-round-bench-"))
  const onnx = await Effect.runPromise(timeRounds("onnx", root))
  const cpu = await Effect.runPromise(timeRounds("cpu", root))
  const figure = (x: typeof onnx) => [
    { name: `bandit round, ${x.engine.backend}`, value: x.round, unit: "s", note: `wall, rounds 1–${ROUNDS}, store and checkpoints included; ${x.engine.device}` },
    { name: `bandit round's engine stages, ${x.engine.backend}`, value: x.stages, unit: "s", note: `wall (stage_times); ${x.cpu.toFixed(3)} CPU s` }
  ]
  return [
    ...figure(onnx),
    ...figure(cpu),
    { name: "bandit round, cpu / onnx", value: cpu.round / onnx.round, unit: "×", note: "wall; target: onnx ≤ 1 s a round on 2 cores" }
  ]
}
