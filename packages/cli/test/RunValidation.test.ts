import { assert, describe, it } from "@effect/vitest"
import { RunStore } from "@odpo/core"
import { Effect } from "effect"
import { createHash } from "node:crypto"
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { writeTinyGpt2 } from "../../model/test/fixtures/gpt2Tiny.ts"
import { resumableRun } from "../src/commands/run.ts"
import { odpo } from "./CliProcess.ts"

const tiny = JSON.parse(readFileSync(join(import.meta.dirname, "fixtures/tiny-bandit.json"), "utf8"))
const sha = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex")

const runRow = (runId: string, name: string, status: RunStore.RunStatus, createdAt: string): RunStore.RunRow => ({
  runId, name, experiment: "test", config: {}, seed: 0, pairSource: "online", loss: "sigmoid", beta: 0.1,
  status, createdAt, codeVersion: "test", backend: null, device: null
})

describe("odpo run validates before it writes; resume takes the newest resumable run", () => {
  it("bad shapes, clipped prompts, a corrupt or foreign init checkpoint and a directory as config fail with no run row", async () => {
    const dir = mkdtempSync(join(tmpdir(), "odpo-validate-"))
    const db = join(dir, "odpo.duckdb")
    await Effect.runPromise(Effect.gen(function*() {
      yield* (yield* RunStore.RunStore).createRun(runRow("kept", "kept", "finished", "2025-01-01T00:00:00Z"))
    }).pipe(Effect.provide(RunStore.RunStore.layer(db))))
    const before = sha(db)
    const corrupt = join(dir, "corrupt")
    mkdirSync(corrupt)
    writeFileSync(join(corrupt, "config.json"), JSON.stringify({ odpo: { sha256: "0".repeat(64) }, vocabSize: 103 }))
    writeFileSync(join(corrupt, "model.safetensors"), "truncated")
    writeFileSync(join(corrupt, "tokenizer.json"), "{}")
    const hf = join(dir, "hf-gpt2")
    writeTinyGpt2(hf)
    const config = (name: string, over: Record<string, unknown>) => {
      const file = join(dir, `${name}.json`)
      writeFileSync(file, JSON.stringify({ ...tiny, ...over }))
      return file
    }
    // A CPU-sized sentiment config (context 64) with few held-out prompts (its own, not an experiment file's).
    const sentiment = join(dir, "sentiment.json")
    writeFileSync(sentiment, JSON.stringify({
      name: "sentiment-short", task: { name: "sentiment", trainPrompts: 512, heldoutPrompts: 8 },
      policy: { model: { contextLength: 64, dModel: 48, nLayers: 2, nHeads: 4 } },
      sampling: { promptsPerRound: 16, maxNewTokens: 24 }, eval: { prompts: 8 }
    }))
    const rm = (name: string, over: Record<string, unknown>) => {
      const file = join(dir, `${name}.json`)
      writeFileSync(file, JSON.stringify({ task: { name: "sentiment" }, out: join(dir, "rm.onnx"), ...over }))
      return file
    }
    const cases: Array<[ReadonlyArray<string>, RegExp]> = [
      [["run", config("heads", { policy: { ...tiny.policy, model: { ...tiny.policy.model, nHeads: 3 } } }), "--db", db],
        /policy\.model\.nHeads 3 does not divide policy\.model\.dModel 16/],
      [["run", config("clip", { sampling: { ...tiny.sampling, promptsPerRound: 9 } }), "--db", db],
        /sampling\.promptsPerRound 9 exceeds the task's train prompts \(task\.trainPrompts 8\)/],
      [["run", config("corrupt", { policy: { ...tiny.policy, init: corrupt } }), "--db", db], /corrupt/],
      // A Hugging Face GPT-2 directory is accepted (converted), then refused for its 50-token vocabulary.
      [["run", config("hf", { policy: { ...tiny.policy, init: hf } }), "--db", db],
        /policy\.init .*hf-gpt2 has a vocabulary of 50 tokens; task bandit needs 103/],
      [["run", config("k1", { sampling: { ...tiny.sampling, samplesPerPrompt: 1 } }), "--db", db],
        /k1\.json: \$\.sampling\.samplesPerPrompt: loss\.type "sigmoid" trains on preference pairs, two samples of one prompt, and with 1 sample per prompt there are none/],
      // sizes the machine cannot hold: refused before the task builds 1e8 prompts (a V8 out-of-memory before)
      [["run", config("huge", { task: { ...tiny.task, trainPrompts: 1e8 } }), "--db", db],
        /task\.trainPrompts 100000000 is more prompts than this machine can hold \(at most \d+ at contextLength 11; this process's JS heap is [\d.]+ GB \(raise it with NODE_OPTIONS=--max-old-space-size=MB\)\): lower it/],
      [["run", config("wide", { policy: { ...tiny.policy, model: { ...tiny.policy.model, dModel: 65536, nLayers: 64 } } }), "--db", db],
        /policy\.model \(dModel 65536, nLayers 64\) has about 3\.30e\+12 parameters; training holds 16 bytes each, and this machine's [\d.]+ GB of memory holds at most [\d.e+]+: make the model smaller/],
      [["run", dir, "--db", db], /is a directory, not an experiment file: name the JSON file itself/],
      [["train-rm", rm("rm-steps", { steps: 0 })], /rm-steps\.json: \$\.steps: expected a value greater than 0, found 0$/],
      [["train-rm", rm("rm-task", { task: { name: "chess" } })], /\$\.task\.name: expected "bandit" \| "sentiment" \| "length" \| "arith" \| "order", found "chess"$/],
      // Fewer held-out prompts leave longer prompts to the demonstrations: the hint is the context, not maxNewTokens.
      [["run", sentiment, "--db", db], /policy\.model\.contextLength 64 cannot hold the longest of sentiment's SFT demonstrations \(65 tokens\): raise it to at least 65/]
    ]
    const results = await Promise.all(cases.map(([args]) => odpo(args)))
    cases.forEach(([args, message], i) => {
      const r = results[i]!
      assert.strictEqual(r.code, 1, `${args.join(" ")}: ${r.stderr}`)
      const lines = r.stderr.split("\n").filter((l) => l.startsWith("odpo: "))
      assert.strictEqual(lines.length, 1, r.stderr)
      assert.match(lines[0]!, message)
    })
    assert.strictEqual(sha(db), before, "a refused run wrote to the database")
    // the conversion happened once, into the checkpoint store beside the database
    const imports = readdirSync(join(dir, "checkpoints", "imports"))
    assert.strictEqual(imports.length, 1)
    assert.isTrue(existsSync(join(dir, "checkpoints", readFileSync(join(dir, "checkpoints", "imports", imports[0]!), "utf8").trim(), "model.safetensors")))
  })

  it.effect("resume NAME: the newest run of that name that is not finished, else the newest; an id is taken as is", () =>
    Effect.gen(function*() {
      const store = yield* RunStore.RunStore
      yield* store.createRun(runRow("a-old-crashed", "a", "failed", "2025-01-01T00:00:00Z"))
      yield* store.createRun(runRow("a-running", "a", "running", "2025-01-02T00:00:00Z"))
      yield* store.createRun(runRow("a-newest-finished", "a", "finished", "2025-01-03T00:00:00Z"))
      yield* store.createRun(runRow("b-done", "b", "finished", "2025-01-01T00:00:00Z"))
      yield* store.createRun(runRow("b-newer-done", "b", "finished", "2025-01-02T00:00:00Z"))
      assert.strictEqual((yield* resumableRun("a")).runId, "a-running")
      assert.strictEqual((yield* resumableRun("b")).runId, "b-newer-done")
      assert.strictEqual((yield* resumableRun("a-old-crashed")).runId, "a-old-crashed")
      const missing = yield* Effect.flip(resumableRun("c"))
      assert.strictEqual(missing._tag, "RunNotFound")
    }).pipe(Effect.provide(RunStore.RunStore.layer(join(mkdtempSync(join(tmpdir(), "odpo-resume-")), "odpo.duckdb")))))

  it("odpo sample --policy takes a Hugging Face GPT-2 directory, converted once", async () => {
    const dir = mkdtempSync(join(tmpdir(), "odpo-sample-hf-"))
    const hf = join(dir, "hf")
    writeTinyGpt2(hf)
    writeFileSync(join(dir, "prompts.jsonl"), `{"id": "a", "prompt": "the and"}\n`)
    const args = (out: string) => ["sample", "--policy", hf, "--checkpoints", join(dir, "ckpts"), "--prompts", join(dir, "prompts.jsonl"), "-n", "2", "--max-new-tokens", "4", "--seed", "1", "--out", join(dir, out)]
    const first = await odpo(args("a.jsonl"))
    assert.strictEqual(first.code, 0, first.stderr)
    const second = await odpo(args("b.jsonl"))
    assert.strictEqual(second.code, 0, second.stderr)
    const rows = readFileSync(join(dir, "a.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l))
    assert.strictEqual(rows.length, 2)
    assert.strictEqual(readFileSync(join(dir, "b.jsonl"), "utf8"), readFileSync(join(dir, "a.jsonl"), "utf8"))
    const converted = readdirSync(join(dir, "ckpts")).filter((f) => /^[0-9a-f]{64}$/.test(f))
    assert.strictEqual(converted.length, 1)
    for (const r of [first, second]) assert.include(r.stderr, `policy: ${hf} (Hugging Face GPT-2) is checkpoint ${join(dir, "ckpts", converted[0]!)}`)
    // converted once: the import record names it, and both runs sampled from it
    assert.strictEqual(readdirSync(join(dir, "ckpts", "imports")).length, 1)
    assert.isTrue(rows.every((r) => r.policyCkpt === converted[0]))
  })
})
