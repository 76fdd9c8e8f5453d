/**
 * Every experiment config, shrunk to a toy and run for one round on the real layers: proof that
 * each arm parses, fits its task and runs end to end (π₀ → sample → score → pair → train → eval),
 * in minutes on a CPU. Arms with an ONNX reward get a tiny reward model trained here; the
 * over-optimisation arms also run a tiny best-of-n. The sizes and budgets are the toy's, never the
 * study's: the numbers it prints say nothing about any claim.
 *
 * Usage: npx -y pnpm@12.4.2 exec tsx --import ./scripts/node20-polyfills.mjs experiments/smoke.ts [--db FILE] [--backend cpu] [FILTER]
 *   FILTER: run only configs whose path contains it (e.g. "order/" or "noise").
 * Then every `odpo query` and ```sql block of the experiments' READMEs runs against FILE (default runs/smoke.duckdb).
 */
import { Services } from "@odpo/cli"
import { BestOfN, ConfigFile, Run, RunConfig, RunStore } from "@odpo/core"
import { Backend } from "@odpo/model"
import { Effect } from "effect"
import { spawnSync } from "node:child_process"
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs"
import { dirname, join, relative, resolve } from "node:path"
import { readmeQueries } from "./ReadmeSql.ts"

const root = resolve(import.meta.dirname, "..")
const args = process.argv.slice(2)
const flag = (name: string, fallback: string) => {
  const i = args.indexOf(name)
  return i >= 0 ? args.splice(i, 2)[1]! : fallback
}
const db = resolve(flag("--db", "runs/smoke.duckdb"))
const backend = flag("--backend", "cpu") as RunConfig.Backend
const filter = args[0] ?? ""

const jsonFiles = (dir: string): Array<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? (["node_modules", "results", "test"].includes(e.name) ? [] : jsonFiles(join(dir, e.name)))
      : e.name.endsWith(".json") && e.name !== "package.json" && !e.name.startsWith("rm") ? [join(dir, e.name)] : [])

/** A tiny reward model for the ONNX arms (the study's own are trained by `odpo train-rm`). */
const tinyRewardModel = (): string => {
  const out = join(dirname(db), "smoke-rm", "sentiment-rm.onnx")
  if (existsSync(out)) return out
  mkdirSync(dirname(out), { recursive: true })
  const config = join(dirname(out), "rm.json")
  writeFileSync(config, JSON.stringify({
    task: { name: "sentiment" }, pairs: 64, model: { contextLength: 80, dModel: 16, nLayers: 1, nHeads: 2 }, steps: 5, batchSize: 8, out
  }))
  const r = spawnSync(process.execPath, ["--import", "tsx", "--import", "./scripts/node20-polyfills.mjs", "packages/cli/src/bin.ts", "train-rm", config], { cwd: root, encoding: "utf8" })
  if (r.status !== 0) throw new Error(`tiny reward model: ${r.stderr}`)
  return out
}

/** The arm's own settings (loss, pairing, reward, pair source …) on a toy model and budget. */
const shrink = (c: RunConfig.RunConfig): RunConfig.RunConfig => ({
  ...c,
  rounds: 1,
  task: { ...c.task, trainPrompts: Math.min(c.task.trainPrompts, 16), heldoutPrompts: Math.min(c.task.heldoutPrompts, 4) },
  policy: { ...c.policy, model: { ...c.policy.model, dModel: 16, nLayers: 1, nHeads: 2 }, sft: { ...c.policy.sft, steps: 5, batchSize: 8 } },
  sampling: { ...c.sampling, promptsPerRound: 4, samplesPerPrompt: Math.min(c.sampling.samplesPerPrompt, 4) },
  // A toy π₀ earns the same gold on every sample (all ties): keep ties so that every preference arm trains.
  pairing: RunConfig.isPolicyGradient(c.loss.type) ? c.pairing : { ...c.pairing, dropTies: false },
  training: { ...c.training, batchSize: 4 },
  eval: { ...c.eval, prompts: 2, samplesPerPrompt: 2 },
  reward: c.reward.type === "onnx" ? { ...c.reward, path: tinyRewardModel() } : c.reward
})

const main = (engine: Backend.EngineInfo) => Effect.gen(function*() {
  const files = jsonFiles(join(root, "experiments")).filter((f) => f.includes(filter))
  const results: Array<string> = []
  for (const file of files) {
    const where = relative(root, file)
    const t0 = performance.now()
    const outcome = yield* Effect.gen(function*() {
      const config = shrink(yield* ConfigFile.readRunConfigFile(file))
      const start = { checkpointRoot: Services.checkpointRootFor(db), codeVersion: "smoke", engine }
      yield* Run.runToCompletion(yield* Run.createRun(config, start), engine)
      if (config.experiment === "overopt") yield* BestOfN.runBestOfN(config, { ...start, name: `${config.name}-bon` }, { samples: 4, maxN: 4 })
      return "ok"
    }).pipe(Effect.catchCause((cause) => Effect.succeed(`FAILED: ${String(cause).split("\n")[0]}`)))
    const line = `${outcome === "ok" ? "ok    " : "FAIL  "} ${where}  (${((performance.now() - t0) / 1000).toFixed(1)} s)${outcome === "ok" ? "" : `\n       ${outcome}`}`
    console.log(line)
    results.push(line)
  }
  const failed = results.filter((l) => l.startsWith("FAIL")).length
  console.log(`\n${results.length - failed} of ${results.length} experiment configs ran one toy round (${db})`)
  // The READMEs' SQL on the toy runs: every query must run (its numbers mean nothing).
  const store = yield* RunStore.RunStore
  let badSql = 0
  for (const q of readmeQueries()) {
    const outcome = yield* store.query(q.sql).pipe(
      Effect.map((r) => `ok     ${q.where}: ${r.rows.length} rows`),
      Effect.catch((e) => Effect.succeed(`FAIL   ${q.where}: ${e.message}\n       ${q.sql.trim().split("\n")[0]}`))
    )
    if (outcome.startsWith("FAIL")) badSql++
    console.log(outcome)
  }
  console.log(badSql === 0 ? `every README query ran on ${db}` : `${badSql} README queries failed on ${db}`)
  if (failed > 0 || badSql > 0) process.exitCode = 1
})

// The engine first (tfjs cpu by default; `--backend onnx` runs the toy rounds on onnxruntime).
Effect.runPromise(Effect.flatMap(Backend.selectBackend(backend), (engine) => main(engine).pipe(Effect.provide(Services.experimentLayer(db, {}, engine)))))
