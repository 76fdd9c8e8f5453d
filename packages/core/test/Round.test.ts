// The round loop on its own: test layers for Sampler, Scorer, Trainer and Checkpoints (no model),
// a real DuckDB store. Stage order, lineage, stage timings, and a failed stage resumed to the same rows.
import { assert, describe, it } from "@effect/vitest"
import { Checkpoints, Round, Run, RunConfig, RunStore, Sampler, Scorer, Trainer } from "@odpo/core"
import { Effect, Exit, Layer } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const config = RunConfig.decodeRunConfig({
  name: "unit", seed: 5, rounds: 3,
  task: { name: "bandit", trainPrompts: 8, heldoutPrompts: 4 },
  policy: { model: { contextLength: 11, dModel: 16, nLayers: 1, nHeads: 2 } },
  sampling: { promptsPerRound: 4, samplesPerPrompt: 4, maxNewTokens: 9 },
  training: { epochs: 2, batchSize: 2 },
  eval: { prompts: 4, samplesPerPrompt: 2 }
})

const tempDb = () => join(mkdtempSync(join(tmpdir(), "odpo-round-")), "odpo.duckdb")
const layers = (db: string) =>
  Layer.mergeAll(RunStore.RunStore.layer(db), Sampler.Sampler.layerTest, Scorer.Scorer.layerTest, Trainer.Trainer.layerTest, Checkpoints.Checkpoints.layerTest)

/** Every row a run wrote, run id and timestamps removed, in a fixed order. */
const rowsOf = (runId: string) =>
  Effect.gen(function*() {
    const store = yield* RunStore.RunStore
    const out: Record<string, ReadonlyArray<ReadonlyArray<unknown>>> = {}
    for (const [table, cols, order] of [
      ["rounds", "round, policy_ckpt, ref_ckpt, output_ckpt, stage", "round"],
      ["rollouts", "rollout_id, round, purpose, policy_ckpt, token_ids", "rollout_id"],
      ["pairs", "pair_id, chosen_id, rejected_id, margin, ref_chosen_logp, ref_rejected_logp", "pair_id"],
      ["pair_filters", "round, filter, count", "round, filter"],
      ["train_steps", "round, step, loss", "round, step"],
      ["evals", "round, reward, kl", "round"],
      ["checkpoints", "ckpt_id, parent, round", "ckpt_id"]
    ] as const) {
      const r = yield* store.query(`SELECT ${cols} FROM ${table} WHERE run_id = '${runId}' ORDER BY ${order}`)
      out[table] = r.rows.map((row) => row.map((v) => (typeof v === "string" ? v.split(runId).join("RUN") : v)))
    }
    return out
  })

describe("round loop (test layers)", () => {
  it.live("runs every stage of every round in order, with lineage and a timing per stage", () => {
    const db = tempDb()
    return Effect.gen(function*() {
      const runId = yield* Run.createRun(yield* config, { checkpointRoot: join(db, "..", "ckpt"), engine: { backend: "test", device: "none" } })
      yield* Run.runToCompletion(runId)
      const store = yield* RunStore.RunStore
      const run = yield* store.getRun(runId)
      assert.deepStrictEqual([run.status, run.backend, run.device], ["finished", "test", "none"])
      const rounds = yield* store.listRounds(runId)
      assert.deepStrictEqual(rounds.map((r) => r.stage), ["eval", "eval", "eval", "eval"])
      for (let r = 1; r <= 3; r++) {
        assert.strictEqual(rounds[r]!.policyCkpt, rounds[r - 1]!.outputCkpt) // online: π_{r−1} trains into π_r
        assert.strictEqual(rounds[r]!.refCkpt, rounds[0]!.policyCkpt) // fixed reference π₀
      }
      const q = (sql: string) => Effect.map(store.query(sql), (x) => x.rows)
      // 4 prompts × 4 samples per round, each from the round's policy
      assert.deepStrictEqual(
        yield* q(`SELECT round, count(*), count(DISTINCT policy_ckpt) FROM rollouts WHERE run_id = '${runId}' AND purpose = 'train' GROUP BY round ORDER BY round`),
        [[1, 16, 1], [2, 16, 1], [3, 16, 1]]
      )
      // steps = epochs × ⌈pairs / batch⌉ (Trainer.layerTest makes exactly that many)
      const pairsPerRound = yield* q(`SELECT round, count(*) FROM pairs WHERE run_id = '${runId}' GROUP BY round ORDER BY round`)
      const steps = yield* q(`SELECT round, count(*) FROM train_steps WHERE run_id = '${runId}' GROUP BY round ORDER BY round`)
      pairsPerRound.forEach(([round, n], i) => assert.deepStrictEqual(steps[i], [round, 2 * Math.ceil(Number(n) / 2)]))
      assert.deepStrictEqual(
        yield* q(`SELECT round, count(*) FROM stage_times WHERE run_id = '${runId}' AND backend = 'test' GROUP BY round ORDER BY round`),
        [[0, 2], [1, 6], [2, 6], [3, 6]]
      )
      // round_costs: each round's stage seconds add up to its total; round 0 samples and trains nothing
      assert.deepStrictEqual(
        yield* q(`SELECT round, backend, sample_s IS NOT NULL, train_s IS NOT NULL,
                    abs(wall_s - (coalesce(start_s, 0) + coalesce(sample_s, 0) + coalesce(score_s, 0) + coalesce(pairs_s, 0) + coalesce(train_s, 0) + coalesce(eval_s, 0))) < 1e-9
                  FROM round_costs WHERE run_id = '${runId}' ORDER BY round`),
        [[0, "test", false, false, true], [1, "test", true, true, true], [2, "test", true, true, true], [3, "test", true, true, true]]
      )
    }).pipe(Effect.provide(layers(db)))
  })

  it.live("a stage that fails before it is recorded leaves the round at its last stage; resuming gives an uninterrupted run's rows", () => {
    const db = tempDb()
    const root = join(db, "..", "ckpt")
    // the uninterrupted run, in a database of its own (checkpoint rows are keyed by content, not by run)
    const uninterrupted = Effect.gen(function*() {
      const whole = yield* Run.createRun(yield* config, { checkpointRoot: root })
      yield* Run.runToCompletion(whole)
      return yield* rowsOf(whole)
    }).pipe(Effect.provide(layers(tempDb())))
    return Effect.gen(function*() {
      const cfg = yield* config
      const broken = yield* Run.createRun(cfg, { checkpointRoot: root })
      const failAt = (round: number, stage: string) =>
        Layer.succeed(Round.BeforeRecord, (r: number, s: string) => (r === round && s === stage ? Effect.die("crash") : Effect.void))
      const first = yield* Effect.exit(Run.runToCompletion(broken).pipe(Effect.provide(failAt(2, "train"))))
      assert.isTrue(Exit.isFailure(first))
      const store = yield* RunStore.RunStore
      assert.strictEqual((yield* store.getRun(broken)).status, "failed")
      assert.strictEqual((yield* store.listRounds(broken))[2]!.stage, "pairs")
      const second = yield* Effect.exit(Run.runToCompletion(broken).pipe(Effect.provide(failAt(3, "rollouts"))))
      assert.isTrue(Exit.isFailure(second))
      yield* Run.runToCompletion(broken)
      assert.strictEqual((yield* store.getRun(broken)).status, "finished")
      assert.deepStrictEqual(yield* rowsOf(broken), yield* uninterrupted)
    }).pipe(Effect.provide(layers(db)))
  })

  describe("a policy-gradient run (rloo)", () => {
    const rlConfig = Effect.map(config, (c) => ({ ...c, name: "unit-rloo", loss: { ...c.loss, type: "rloo" as const } }))
    const rlRows = (runId: string) =>
      Effect.gen(function*() {
        const store = yield* RunStore.RunStore
        const base = yield* rowsOf(runId)
        const advantages = yield* store.query(`SELECT rollout_id, reward, kl, rlhf_reward, baseline, advantage FROM advantages WHERE run_id = '${runId}' ORDER BY rollout_id`)
        const used = yield* store.query(`SELECT round, step, rollout_id FROM step_samples WHERE run_id = '${runId}' ORDER BY round, step, rollout_id`)
        const strip = (rows: ReadonlyArray<ReadonlyArray<unknown>>) => rows.map((row) => row.map((v) => (typeof v === "string" ? v.split(runId).join("RUN") : v)))
        return { ...base, advantages: strip(advantages.rows), step_samples: strip(used.rows) }
      })

    it.live("samples → scores → advantages (no pairs) → train on every sample → eval; step_samples says which fed which step", () => {
      const db = tempDb()
      return Effect.gen(function*() {
        const runId = yield* Run.createRun(yield* rlConfig, { checkpointRoot: join(db, "..", "ckpt") })
        yield* Run.runToCompletion(runId)
        const store = yield* RunStore.RunStore
        const q = (sql: string) => Effect.map(store.query(sql), (x) => x.rows)
        assert.deepStrictEqual((yield* store.listRounds(runId)).map((r) => r.stage), ["eval", "eval", "eval", "eval"])
        assert.deepStrictEqual(
          yield* q(`SELECT round, list(stage ORDER BY stage) FROM stage_times WHERE run_id = '${runId}' AND round = 1 GROUP BY round`),
          [[1, ["advantages", "eval", "rollouts", "scores", "started", "train"]]]
        )
        assert.deepStrictEqual(yield* q(`SELECT count(*) FROM pairs WHERE run_id = '${runId}'`), [[0]])
        // one advantage per train rollout; KL 0 (test layers: log π_old = log π_ref = −|y|), so A = r − mean of the other three
        assert.deepStrictEqual(
          yield* q(`SELECT a.round, count(*) FROM advantages a JOIN rollouts r USING (rollout_id) WHERE a.run_id = '${runId}' AND r.purpose = 'train' AND r.round = a.round GROUP BY a.round ORDER BY a.round`),
          [[1, 16], [2, 16], [3, 16]]
        )
        const check = yield* q(`SELECT a.advantage, s.reward - (sum(s.reward) OVER w - s.reward) / 3, a.kl, sum(a.advantage) OVER w
          FROM advantages a JOIN scores s USING (rollout_id) WHERE a.run_id = '${runId}' WINDOW w AS (PARTITION BY a.round, a.prompt_id)`)
        assert.strictEqual(check.length, 48)
        assert.isAbove(Math.max(...check.map((row) => Math.abs(row[0] as number))), 0.1) // rewards differ within prompts
        for (const [a, expected, kl, sum] of check) {
          assert.closeTo(a as number, expected as number, 1e-12)
          assert.strictEqual(kl, 0)
          assert.closeTo(sum as number, 0, 1e-12)
        }
        // 2 epochs × ⌈16 / 2⌉ steps, each of 2 samples: every rollout feeds one step per epoch
        assert.deepStrictEqual(yield* q(`SELECT round, count(DISTINCT step), count(*) FROM step_samples WHERE run_id = '${runId}' GROUP BY round ORDER BY round`), [[1, 16, 32], [2, 16, 32], [3, 16, 32]])
        assert.deepStrictEqual(yield* q(`SELECT DISTINCT count(*) FROM samples_used WHERE run_id = '${runId}' GROUP BY rollout_id`), [[2]])
        assert.deepStrictEqual(yield* q(`SELECT count(*) FROM train_steps WHERE run_id = '${runId}'`), [[48]])
      }).pipe(Effect.provide(layers(db)))
    })

    it.live("a run that fails before recording its train stage resumes from its advantages to an uninterrupted run's rows", () => {
      const db = tempDb()
      const root = join(db, "..", "ckpt")
      const uninterrupted = Effect.gen(function*() {
        const whole = yield* Run.createRun(yield* rlConfig, { checkpointRoot: root })
        yield* Run.runToCompletion(whole)
        return yield* rlRows(whole)
      }).pipe(Effect.provide(layers(tempDb())))
      return Effect.gen(function*() {
        const broken = yield* Run.createRun(yield* rlConfig, { checkpointRoot: root })
        const failAt = (round: number, stage: string) =>
          Layer.succeed(Round.BeforeRecord, (r: number, s: string) => (r === round && s === stage ? Effect.die("crash") : Effect.void))
        assert.isTrue(Exit.isFailure(yield* Effect.exit(Run.runToCompletion(broken).pipe(Effect.provide(failAt(2, "train"))))))
        assert.strictEqual((yield* (yield* RunStore.RunStore).listRounds(broken))[2]!.stage, "advantages")
        assert.isTrue(Exit.isFailure(yield* Effect.exit(Run.runToCompletion(broken).pipe(Effect.provide(failAt(3, "advantages"))))))
        yield* Run.runToCompletion(broken)
        const rows = yield* rlRows(broken)
        assert.lengthOf(rows.advantages, 48)
        assert.lengthOf(rows.step_samples, 96)
        assert.deepStrictEqual(rows, yield* uninterrupted)
      }).pipe(Effect.provide(layers(db)))
    })
  })
})
