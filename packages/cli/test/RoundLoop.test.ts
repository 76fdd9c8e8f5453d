import { assert, describe, it } from "@effect/vitest"
import { CodeBuild, Run, RunConfig, RunStore } from "@odpo/core"
import { Backend } from "@odpo/model"
import { Effect, Layer } from "effect"
import { mkdtempSync, readdirSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { checkpointRootFor, experimentLayer } from "../src/Services.ts"
import { checkLineage } from "./Lineage.ts"
import { dumpRun } from "./Tables.ts"

const tinyConfig = () => RunConfig.parseRunConfig(readFileSync(join(import.meta.dirname, "fixtures/tiny-bandit.json"), "utf8"))

const one = (rows: ReadonlyArray<ReadonlyArray<unknown>>) => Number(rows[0]![0])

describe("round loop, end to end on a tiny bandit", () => {
  it.live("runs 2 rounds; every table has its rows and its lineage", () => {
    const db = join(mkdtempSync(join(tmpdir(), "odpo-e2e-")), "odpo.duckdb")
    return Effect.gen(function*() {
      const config = yield* tinyConfig()
      const runId = yield* Run.createRun(config, { checkpointRoot: checkpointRootFor(db) })
      yield* Run.runToCompletion(runId)
      const store = yield* RunStore.RunStore
      const t = yield* dumpRun(runId)
      const q = (sql: string) => Effect.map(store.query(sql), (r) => r.rows)

      assert.strictEqual(t.runs!.length, 1)
      // Every example of the README's SQL cookbook runs as written and finds rows (under the quick start's run name).
      yield* store.query(`UPDATE runs SET name = 'bandit-mu70-online' WHERE run_id = '${runId}'`, { write: true })
      const readme = readFileSync(join(import.meta.dirname, "../../../README.md"), "utf8")
      const cookbook = readme.slice(readme.indexOf("## SQL cookbook")).split("```sql")[1]!.split("```")[0]!
      const examples = cookbook.split(";").map((s) => s.trim()).filter((s) => s.replace(/--[^\n]*/g, "").trim().length > 0)
      assert.strictEqual(examples.length, 10)
      // The RL examples run here too (a DPO run has no advantages: no rows); PolicyGradientLoop.test.ts checks their rows.
      for (const sql of examples) {
        const rows = (yield* store.query(sql)).rows.length
        if (!sql.startsWith("-- RL:")) assert.isAbove(rows, 0, sql)
      }
      yield* store.query(`UPDATE runs SET name = 'tiny' WHERE run_id = '${runId}'`, { write: true })
      assert.strictEqual((yield* store.getRun(runId)).status, "finished")
      // rounds 0–2 evaluated, π_{r−1} → π_r with parents, reference π₀, P×K train rollouts per round from its policy
      checkLineage(t, { rounds: 2, prompts: 8 + 4, train: 4 * 4, eval: 4 * 2 })
      // stage_times: one row per stage written — round 0: started (π₀) and eval; rounds 1–2: all six
      assert.deepStrictEqual(
        (yield* q(`SELECT round, list(stage ORDER BY stage) FROM stage_times WHERE run_id = '${runId}' AND wall_s >= 0 AND cpu_s >= 0 GROUP BY round ORDER BY round`)),
        [[0, ["eval", "started"]], [1, ["eval", "pairs", "rollouts", "scores", "started", "train"]], [2, ["eval", "pairs", "rollouts", "scores", "started", "train"]]]
      )
      // every pair's rollouts exist, belong to its round and prompt, and chosen outscored rejected
      assert.strictEqual(
        one(yield* q(`SELECT count(*) FROM pairs p
          JOIN rollouts c ON c.rollout_id = p.chosen_id AND c.run_id = p.run_id AND c.round = p.round AND c.prompt_id = p.prompt_id AND c.purpose = 'train'
          JOIN rollouts l ON l.rollout_id = p.rejected_id AND l.run_id = p.run_id AND l.round = p.round AND l.prompt_id = p.prompt_id AND l.purpose = 'train'
          JOIN scores sc ON sc.rollout_id = p.chosen_id JOIN scores sl ON sl.rollout_id = p.rejected_id
          WHERE p.run_id = '${runId}' AND sc.reward > sl.reward`)),
        t.pairs!.length
      )
      for (const r of [1, 2]) {
        const kept = t.pair_filters!.find((f) => f.round === r && f.filter === "kept")!.count as number
        assert.strictEqual(t.pairs!.filter((p) => p.round === r).length, kept)
        assert.isAbove(kept, 0)
        // 2 epochs over `kept` pairs in batches of 2
        assert.strictEqual(t.train_steps!.filter((s) => s.round === r).length, 2 * Math.ceil(kept / 2))
      }
      for (const p of t.pairs!) {
        assert.isNumber(p.ref_chosen_logp)
        assert.isBelow(p.ref_chosen_logp as number, 0)
      }
      // one held-out eval per round; π₀ against itself: KL 0, win rate ½
      assert.deepStrictEqual(t.evals!.map((e) => e.round), [0, 1, 2])
      assert.closeTo(t.evals![0]!.kl as number, 0, 1e-6)
      assert.strictEqual(t.evals![0]!.win_rate, 0.5)
      assert.isAbove(t.evals![2]!.kl as number, 0)
    }).pipe(Effect.provide(experimentLayer(db)))
  })

  it.live("offline samples every round from π₀; a bad config field writes nothing", () => {
    const db = join(mkdtempSync(join(tmpdir(), "odpo-e2e-")), "odpo.duckdb")
    return Effect.gen(function*() {
      const config = yield* tinyConfig()
      const runId = yield* Run.createRun({ ...config, pairSource: "offline", rounds: 2 }, { checkpointRoot: checkpointRootFor(db) })
      yield* Run.runToCompletion(runId)
      const store = yield* RunStore.RunStore
      const pi0 = (yield* store.listRounds(runId))[0]!.policyCkpt
      const r = yield* store.query(`SELECT DISTINCT policy_ckpt FROM rollouts WHERE run_id = '${runId}' AND purpose = 'train'`)
      assert.deepStrictEqual(r.rows.map((x) => x[0]), [pi0])
      // π₀ is cached for the next run with the same model, SFT settings, task and seed
      const cacheDir = join(checkpointRootFor(db), "sft-cache")
      const entries = readdirSync(cacheDir).map((f) => JSON.parse(readFileSync(join(cacheDir, f), "utf8")))
      assert.deepStrictEqual(entries.map((e) => e.pi0), [pi0])
      const second = yield* Run.createRun({ ...config, rounds: 1 }, { checkpointRoot: checkpointRootFor(db) })
      yield* Run.runToCompletion(second)
      assert.strictEqual((yield* store.listRounds(second))[0]!.policyCkpt, pi0)
      const before = yield* store.query("SELECT count(*) FROM runs")
      const err = yield* Effect.flip(Run.createRun({ ...config, eval: { ...config.eval, prompts: 99 } }, { checkpointRoot: checkpointRootFor(db) }))
      assert.include(err.message, "eval.prompts")
      assert.deepStrictEqual((yield* store.query("SELECT count(*) FROM runs")).rows, before.rows)
    }).pipe(Effect.provide(experimentLayer(db)))
  })

  it.live("π₀ is reused by the same build only: other code trains its own π₀, and each run records its build", () => {
    const db = join(mkdtempSync(join(tmpdir(), "odpo-e2e-")), "odpo.duckdb")
    const root = checkpointRootFor(db)
    const onBuild = (build: string) =>
      Effect.gen(function*() {
        const config = yield* tinyConfig()
        const runId = yield* Run.createRun({ ...config, rounds: 1 }, { checkpointRoot: root })
        yield* Run.runToCompletion(runId)
        const store = yield* RunStore.RunStore
        const run = (yield* store.listRuns()).find((r) => r.runId === runId)!
        return { pi0: (yield* store.listRounds(runId))[0]!.policyCkpt, code: run.codeVersion }
      }).pipe(Effect.provideService(CodeBuild.CodeBuild, build))
    return Effect.gen(function*() {
      const a = yield* onBuild("0.1.0+aaaaaaaaaaaa")
      const again = yield* onBuild("0.1.0+aaaaaaaaaaaa")
      const b = yield* onBuild("0.1.0+bbbbbbbbbbbb")
      assert.deepStrictEqual([a.code, again.code, b.code], ["0.1.0+aaaaaaaaaaaa", "0.1.0+aaaaaaaaaaaa", "0.1.0+bbbbbbbbbbbb"])
      assert.strictEqual(again.pi0, a.pi0, "the same build reuses its π₀")
      // The other build trained π₀ itself (a second cache entry) rather than reusing the first build's;
      // SFT is deterministic, so the same code gives the same weights.
      const entries = readdirSync(join(root, "sft-cache")).map((f) => JSON.parse(readFileSync(join(root, "sft-cache", f), "utf8")).pi0)
      assert.strictEqual(entries.length, 2)
      assert.deepStrictEqual(entries, [a.pi0, a.pi0])
      assert.strictEqual(b.pi0, a.pi0)
    }).pipe(Effect.provide(experimentLayer(db)))
  })

  it.live("staleness 1 samples round 2 from π₀; an ema reference is a new recorded checkpoint each round", () => {
    const db = join(mkdtempSync(join(tmpdir(), "odpo-e2e-")), "odpo.duckdb")
    return Effect.gen(function*() {
      const config = yield* tinyConfig()
      const runId = yield* Run.createRun(
        { ...config, staleness: 1, reference: { type: "ema", alpha: 0.5 } },
        { checkpointRoot: checkpointRootFor(db) }
      )
      yield* Run.runToCompletion(runId)
      const store = yield* RunStore.RunStore
      const rounds = yield* store.listRounds(runId)
      const sampledFrom = (round: number) =>
        Effect.map(store.query(`SELECT DISTINCT policy_ckpt FROM rollouts WHERE run_id = '${runId}' AND round = ${round} AND purpose = 'train'`), (r) => r.rows.map((x) => x[0]))
      // round 2 trains π₁ but samples from π₀ (one round stale)
      assert.deepStrictEqual(yield* sampledFrom(2), [rounds[0]!.policyCkpt])
      assert.strictEqual(rounds[2]!.policyCkpt, rounds[1]!.outputCkpt)
      // ref₂ = ½·π₁ + ½·ref₁: a checkpoint of its own, recorded with ref₁ as parent
      const ref2 = yield* store.readCheckpoint(rounds[2]!.refCkpt)
      assert.isNotNull(ref2)
      assert.notStrictEqual(rounds[2]!.refCkpt, rounds[1]!.refCkpt)
      assert.notStrictEqual(rounds[2]!.refCkpt, rounds[1]!.outputCkpt)
      assert.strictEqual(ref2!.parent, rounds[1]!.refCkpt)
    }).pipe(Effect.provide(experimentLayer(db)))
  })

  it.live("on the onnx engine the run records backend onnx and writes what the tfjs run writes, to float precision", () => {
    const runOn = (engine: Backend.EngineInfo) => {
      const db = join(mkdtempSync(join(tmpdir(), "odpo-e2e-")), "odpo.duckdb")
      return Effect.gen(function*() {
        const config = yield* tinyConfig()
        const runId = yield* Run.createRun(config, { checkpointRoot: checkpointRootFor(db), engine })
        yield* Run.runToCompletion(runId, engine)
        const store = yield* RunStore.RunStore
        const run = yield* store.getRun(runId)
        const t = yield* dumpRun(runId)
        return { run, t }
      }).pipe(Effect.provide(experimentLayer(db, {}, engine, 1)))
    }
    return Effect.gen(function*() {
      const onnxEngine = yield* Backend.selectBackend("onnx", { threads: 1 })
      const onnx = yield* runOn(onnxEngine)
      const tfjs = yield* runOn(yield* Backend.selectBackend("cpu"))
      assert.strictEqual(onnx.run.backend, "onnx")
      assert.strictEqual(onnx.run.device, onnxEngine.device)
      // same samples (the logits agree, the draws are seeded), same pairs, same held-out rewards
      const tokens = (x: typeof onnx) => x.t.rollouts!.map((r) => `${r.round}/${r.purpose}/${r.prompt_id}/${r.sample_idx}:${String(r.token_ids)}`).sort()
      assert.deepStrictEqual(tokens(onnx), tokens(tfjs))
      assert.strictEqual(onnx.t.pairs!.length, tfjs.t.pairs!.length)
      onnx.t.evals!.forEach((e, i) => {
        const f = tfjs.t.evals![i]!
        assert.strictEqual(e.gold_reward, f.gold_reward)
        assert.closeTo(e.kl as number, f.kl as number, 1e-3)
      })
      // training on onnx (VJP graph) moved the policy as tfjs did: the step losses agree
      onnx.t.train_steps!.forEach((s, i) => assert.closeTo(s.loss as number, tfjs.t.train_steps![i]!.loss as number, 1e-4))
    })
  })
})
