// Test helper: every table of a run as plain rows, with the run id, timestamps and checkpoint
// directories normalised, so two runs with the same config and seed can be compared row for row.
import { RunStore } from "@odpo/core"
import { Effect } from "effect"
import { basename } from "node:path"

export const tables = ["runs", "rounds", "checkpoints", "prompts", "rollouts", "scores", "pairs", "pair_filters", "pair_logps", "train_steps", "evals", "stage_times"] as const

/** The tables a policy-gradient run (rloo, ppo_clip) fills: no pairs, advantages and step_samples instead. */
export const policyGradientTables = [
  ...tables.filter((t) => t !== "pairs" && t !== "pair_filters" && t !== "pair_logps"), "advantages", "step_samples"
] as const

/** A prompts-task run also fills these (prompt_data is shared across runs, as prompts is). */
export const promptTables = [...tables, "prompt_data", "prompt_files"] as const

type Table = (typeof tables)[number] | (typeof policyGradientTables)[number] | (typeof promptTables)[number]

const order: Record<Table, string> = {
  runs: "run_id", rounds: "round", checkpoints: "ckpt_id", prompts: "prompt_id", rollouts: "rollout_id",
  scores: "rollout_id, source", pairs: "pair_id", pair_logps: "pair_id", pair_filters: "round, filter", train_steps: "round, step", evals: "round, split", stage_times: "round, stage",
  advantages: "rollout_id", step_samples: "round, step, rollout_id", prompt_data: "prompt_id", prompt_files: "split"
}
const volatile = new Set(["created_at", "started_at", "finished_at", "status", "wall_s", "cpu_s"])

export const dumpRun = (runId: string, which: ReadonlyArray<Table> = tables) =>
  Effect.gen(function*() {
    const store = yield* RunStore.RunStore
    const out: Record<string, Array<Record<string, unknown>>> = {}
    for (const t of which) {
      const where = t === "prompts" || t === "prompt_data" ? "" : t === "scores"
        ? `WHERE rollout_id IN (SELECT rollout_id FROM rollouts WHERE run_id = '${runId}')`
        : `WHERE run_id = '${runId}'`
      const res = yield* store.query(`SELECT * FROM ${t} ${where} ORDER BY ${order[t]}`)
      out[t] = res.rows.map((row) =>
        Object.fromEntries(
          res.columns.filter((c) => !volatile.has(c)).map((c) => {
            const v = row[res.columns.indexOf(c)]
            const norm = c === "path" && typeof v === "string" ? basename(v)
              : typeof v === "string" ? v.split(runId).join("RUN")
              : c === "config" ? "CONFIG"
              : v
            return [c, norm]
          })
        )
      )
    }
    return out
  })
