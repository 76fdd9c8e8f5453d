import { assert, describe, it } from "@effect/vitest"
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { odpo, repoRoot } from "./CliProcess.ts"

const tiny = JSON.parse(readFileSync(join(import.meta.dirname, "fixtures/tiny-bandit.json"), "utf8"))
const llamaModel = { architecture: "llama", contextLength: 11, dModel: 16, nLayers: 1, nHeads: 4, nKvHeads: 2, intermediateSize: 32 }
const FIXTURES = join(repoRoot, "packages/model/test/fixtures/llama")

const query = async (db: string, sql: string) => {
  const r = await odpo(["query", sql, "--db", db, "--format", "json"])
  assert.strictEqual(r.code, 0, r.stderr)
  return JSON.parse(r.stdout) as Array<Record<string, unknown>>
}

describe("Llama-family policies through the CLI", () => {
  it("odpo run trains a Llama π₀ by SFT and online DPO; its π₀ exported with export-hf, as policy.init, reruns the same rounds on cpu and on onnx", async () => {
    const dir = mkdtempSync(join(tmpdir(), "odpo-llama-run-"))
    const db = join(dir, "odpo.duckdb")
    const file = (name: string, over: Record<string, unknown>) => {
      const f = join(dir, `${name}.json`)
      writeFileSync(f, JSON.stringify({ ...tiny, name, ...over }))
      return f
    }
    const first = await odpo(["run", file("scratch", { policy: { ...tiny.policy, model: llamaModel } }), "--db", db, "--backend", "cpu"])
    assert.strictEqual(first.code, 0, first.stderr)
    const [pi0] = await query(db, "SELECT r.policy_ckpt AS id, c.path FROM rounds r JOIN checkpoints c ON c.ckpt_id = r.policy_ckpt JOIN runs ON runs.run_id = r.run_id WHERE runs.name = 'scratch' AND r.round = 0")
    assert.strictEqual(JSON.parse(readFileSync(resolve(dir, String(pi0!.path), "config.json"), "utf8")).architecture, "llama")
    const hf = join(dir, "pi0-hf")
    const exported = await odpo(["export-hf", resolve(dir, String(pi0!.path)), "--out", hf])
    assert.strictEqual(exported.code, 0, exported.stderr)
    assert.match(exported.stdout, /Llama \(LlamaForCausalLM, 4,000 parameters, F32\)/)
    const second = await odpo(["run", file("from-hf", { policy: { ...tiny.policy, model: llamaModel, init: hf } }), "--db", db, "--backend", "cpu"])
    assert.strictEqual(second.code, 0, second.stderr)
    const gold = await query(db, "SELECT runs.name, e.round, e.gold_reward FROM evals e JOIN runs USING (run_id) WHERE e.split = 'heldout' ORDER BY runs.name, e.round")
    const of = (name: string) => gold.filter((r) => r.name === name).map((r) => Number(r.gold_reward))
    assert.strictEqual(of("scratch").length, 3)
    // The same π₀ (bit for bit through the Hugging Face directory) and seed: the same rounds.
    assert.deepStrictEqual(of("from-hf"), of("scratch"))
    // The same π₀'s rounds end to end on onnxruntime (sampling with the KV cache, scoring, DPO through the
    // VJP graph). From π₀ itself, not a second SFT: 15 Adam steps at lr 0.01 from a random init turn
    // float-order differences (~1e-5 of a gradient) into π₀s that differ by 3e-4, which DPO then amplifies.
    const onnx = await odpo(["run", file("onnx", { policy: { ...tiny.policy, model: llamaModel, init: hf } }), "--db", db, "--backend", "onnx"])
    assert.strictEqual(onnx.code, 0, onnx.stderr)
    const [run] = await query(db, "SELECT backend FROM runs WHERE name = 'onnx'")
    assert.strictEqual(run!.backend, "onnx")
    // It draws the tokens tfjs cpu draws and takes the same DPO steps, to float precision
    const steps = async (name: string) =>
      (await query(db, `SELECT t.loss FROM train_steps t JOIN runs USING (run_id) WHERE runs.name = '${name}' ORDER BY t.round, t.step`)).map((r) => Number(r.loss))
    const [onnxSteps, cpuSteps] = [await steps("onnx"), await steps("scratch")]
    assert.strictEqual(onnxSteps.length, 8)
    onnxSteps.forEach((l, i) => assert.closeTo(l, cpuSteps[i]!, 1e-4, `step ${i}`))
    assert.isBelow(onnxSteps[3]!, onnxSteps[0]! - 0.1) // DPO moved the policy within the round
    const onnxGold = (await query(db, "SELECT e.gold_reward FROM evals e JOIN runs USING (run_id) WHERE runs.name = 'onnx' AND e.split = 'heldout' ORDER BY e.round")).map((r) => Number(r.gold_reward))
    assert.strictEqual(onnxGold.length, 3)
    onnxGold.forEach((g, i) => assert.closeTo(g, of("scratch")[i]!, 1e-6, `round ${i}`))
  })

  it("odpo sample on a Hugging Face Qwen2 directory: onnx and cpu draw the same rows, which carry the prompt's token ids", async () => {
    const dir = mkdtempSync(join(tmpdir(), "odpo-llama-sample-"))
    writeFileSync(join(dir, "prompts.jsonl"), `{"id": "a", "prompt": "w1 w2 w3"}\n{"id": "b", "prompt": "w7"}\n`)
    const args = (out: string, backend: string) =>
      ["sample", "--policy", join(FIXTURES, "qwen2_tiny"), "--checkpoints", join(dir, "ckpts"), "--prompts", join(dir, "prompts.jsonl"), "-n", "2", "--max-new-tokens", "5", "--backend", backend, "--out", join(dir, out)]
    const cpu = await odpo(args("cpu.jsonl", "cpu"))
    assert.strictEqual(cpu.code, 0, cpu.stderr)
    const rows = readFileSync(join(dir, "cpu.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l))
    assert.strictEqual(rows.length, 4)
    // Qwen adds no BOS: the prompt is its words' ids (w1 = 4), as the rows say.
    assert.deepStrictEqual(rows.filter((r) => r.promptId === "a")[0].promptTokenIds, [4, 5, 6])
    assert.deepStrictEqual(rows.filter((r) => r.promptId === "b")[0].promptTokenIds, [10])
    for (const r of rows) {
      assert.strictEqual(r.tokenLogprobs.length, r.tokenIds.length)
      assert.isTrue(r.tokenIds.every((t: number) => t < 46)) // never a padded embedding row
    }
    assert.include(cpu.stderr, "(Hugging Face Qwen2) is checkpoint")
    // The Llama family's inference graphs: the same seed draws the same tokens on onnxruntime.
    const onnx = await odpo(args("onnx.jsonl", "onnx"))
    assert.strictEqual(onnx.code, 0, onnx.stderr)
    const onnxRows = readFileSync(join(dir, "onnx.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l))
    assert.deepStrictEqual(onnxRows.map((r) => r.tokenIds), rows.map((r) => r.tokenIds))
    onnxRows.forEach((r, i) => r.tokenLogprobs.forEach((lp: number, t: number) => assert.closeTo(lp, rows[i].tokenLogprobs[t], 1e-4)))
  })
})

describe("train-rm trunks from a checkpoint", () => {
  it("a GPT-2 checkpoint starts the trunk; a Llama-family one is refused naming $.trunk (its reward model could not leave as ONNX)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "odpo-rm-trunk-"))
    const { Architectures, Checkpoint } = await import("@odpo/model")
    const { Tasks } = await import("@odpo/core")
    const { Effect } = await import("effect")
    const tokenizer = Tasks.getTask({ name: "bandit", mu: 70, sigma: 10, seed: 0, trainPrompts: 8, heldoutPrompts: 4 }).tokenizer
    const save = (c: Parameters<typeof Architectures.init>[0]) =>
      Effect.runPromise(Effect.acquireUseRelease(Effect.sync(() => Architectures.init(c, 1)), (m) => Checkpoint.saveCheckpoint(join(dir, "ckpts"), m, tokenizer), (m) => Effect.sync(() => m.dispose())))
    const gpt = await save({ vocabSize: tokenizer.vocabSize, contextLength: 12, dModel: 16, nLayers: 1, nHeads: 2, dropout: 0 })
    const llama = await save(Architectures.fromPolicyModel({ ...llamaModel, architecture: "llama", vocabSize: tokenizer.vocabSize, contextLength: 12, dropout: 0 }))
    const config = (name: string, trunk: string) => {
      const f = join(dir, `${name}.json`)
      writeFileSync(f, JSON.stringify({ task: { name: "bandit" }, pairs: 32, steps: 2, batchSize: 8, trunk, out: join(dir, `${name}.onnx`) }))
      return f
    }
    const ok = await odpo(["train-rm", config("gpt", gpt.path), "--backend", "cpu"])
    assert.strictEqual(ok.code, 0, ok.stderr)
    assert.match(ok.stdout, /reward model: 32 pairs, train accuracy/)
    const refused = await odpo(["train-rm", config("llama", llama.path), "--backend", "cpu"])
    assert.notStrictEqual(refused.code, 0)
    assert.include(refused.stderr, `$.trunk ${llama.path} is a llama model; train-rm writes its reward model as ONNX, which odpo can do for gpt2 only`)
  })
})
