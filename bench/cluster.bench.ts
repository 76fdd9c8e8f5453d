/**
 * The cost of sampling and scoring on Effect Cluster (`pnpm bench cluster`): the same run in one
 * process and with 1, 2 and 3 `odpo worker` processes on this machine (a throw-away PostgreSQL
 * on 127.0.0.1, scripts/pg-throwaway.sh). Per round (rounds ≥ 1, from stage_times): the seconds
 * of the whole round and of its sample + score + eval stages, and rounds per minute. On a machine
 * of 2 cores the workers share the coordinator's cores, so this measures the cluster's overhead,
 * not scaling. Needs PostgreSQL's server binaries (apt-get install postgresql).
 */
import { spawnSync } from "node:child_process"
import { mkdtempSync, writeFileSync } from "node:fs"
import { cpus, loadavg, tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { postgresInstalled, startPostgres, startWorker, stopWorkers, type Worker } from "../packages/cli/test/ClusterProcess.ts"
import type { BenchFigure } from "./run.ts"

/** Sampling-heavy for its size: 16 prompts × 8 samples × 12 tokens a round, on a 2-layer, d 32 policy. */
const config = {
  name: "cluster-bench", experiment: "bench", seed: 5, rounds: 3,
  task: { name: "bandit", mu: 70, trainPrompts: 64, heldoutPrompts: 8 },
  policy: { model: { contextLength: 16, dModel: 32, nLayers: 2, nHeads: 2 }, sft: { steps: 10, batchSize: 16, learningRate: 0.01 } },
  sampling: { promptsPerRound: 16, samplesPerPrompt: 8, maxNewTokens: 12 },
  loss: { type: "sigmoid", beta: 0.1 },
  training: { epochs: 1, batchSize: 8, learningRate: 0.01 },
  eval: { prompts: 8, samplesPerPrompt: 4 }
}

const odpo = (args: ReadonlyArray<string>) => {
  const r = spawnSync(process.execPath, [resolve("packages/cli/bin/odpo.js"), ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })
  if (r.status !== 0) throw new Error(`odpo ${args.join(" ")} exited ${r.status}: ${r.stderr.slice(-600)}`)
  return r.stdout
}

/** Mean seconds per round ≥ 1: the whole round, and its sampling and scoring stages (what the workers do). */
const roundSeconds = (db: string) => {
  const rows = JSON.parse(odpo(["query", "SELECT round, stage, wall_s FROM stage_times WHERE round >= 1", "--db", db, "--format", "json"])) as Array<
    { round: number; stage: string; wall_s: number }
  >
  const rounds = new Set(rows.map((r) => r.round)).size
  const sum = (pick: (s: string) => boolean) => rows.filter((r) => pick(r.stage)).reduce((a, r) => a + r.wall_s, 0) / rounds
  return { round: sum(() => true), workers: sum((s) => s === "rollouts" || s === "scores" || s === "eval") }
}

export default async (): Promise<ReadonlyArray<BenchFigure>> => {
  if (!postgresInstalled()) {
    console.log("  skipped: no PostgreSQL server binaries under /usr/lib/postgresql (apt-get install postgresql)")
    return []
  }
  const dir = mkdtempSync(join(tmpdir(), "odpo-bench-cluster-"))
  const file = join(dir, "config.json")
  writeFileSync(file, JSON.stringify(config))
  odpo(["run", file, "--db", join(dir, "warm.duckdb"), "--backend", "cpu"]) // π₀ made once; every run below reuses it
  const local = roundSeconds((() => {
    const db = join(dir, "local.duckdb")
    odpo(["run", file, "--db", db, "--backend", "cpu"])
    return db
  })())
  const pg = await startPostgres()
  const figures: Array<BenchFigure> = []
  const load = () => `load average ${loadavg()[0]!.toFixed(1)} on ${cpus().length} cores (shared machine)`
  figures.push({ name: "in-process: seconds per round", value: local.round, unit: "s", note: `${config.rounds} rounds of 16 prompts × 8 samples; ${load()}` })
  figures.push({ name: "in-process: rounds per minute", value: 60 / local.round, unit: "rounds/min", note: "" })
  const workers: Array<Worker> = []
  try {
    for (const n of [1, 2, 3]) {
      while (workers.length < n) workers.push(await startWorker(pg.url, ["--backend", "cpu"]))
      const db = join(dir, `cluster-${n}.duckdb`)
      odpo(["run", file, "--db", db, "--backend", "cpu", "--cluster", pg.url, "--shards", String(2 * n)])
      const t = roundSeconds(db)
      if (n === 1) {
        figures.push({
          name: "1 local worker: overhead per round", value: t.round - local.round, unit: "s",
          note: `${t.round.toFixed(2)} s against ${local.round.toFixed(2)} s in-process (${(t.round / local.round).toFixed(2)}×); sample+score+eval stages ${t.workers.toFixed(2)} s against ${local.workers.toFixed(2)} s`
        })
      }
      figures.push({ name: `${n} worker${n > 1 ? "s" : ""}: rounds per minute`, value: 60 / t.round, unit: "rounds/min", note: `${2 * n} shards a stage; ${load()}` })
    }
  } finally {
    await stopWorkers(workers)
    pg.stop()
  }
  return figures
}
