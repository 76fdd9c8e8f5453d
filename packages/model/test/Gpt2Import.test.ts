import { assert, describe, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs-core"
import { Effect, Exit } from "effect"
import { readFileSync, writeFileSync } from "node:fs"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { loadCheckpoint, saveCheckpoint } from "../src/Checkpoint.ts"
import type { CausalLm } from "../src/CausalLm.ts"
import { loadHfGpt2 } from "../src/Gpt2Import.ts"
import { tinyConfig, tinyTokenizerJson, tinyWordLevelJson, tinyWords, type TinyGpt2Options, writeTinyGpt2 } from "./fixtures/gpt2Tiny.ts"

interface Reference {
  readonly safetensors_sha256: string
  readonly sequences: ReadonlyArray<ReadonlyArray<number>>
  readonly logits: ReadonlyArray<ReadonlyArray<ReadonlyArray<number>>>
}
const reference = JSON.parse(readFileSync(join(import.meta.dirname, "fixtures", "gpt2_reference_logits.json"), "utf8")) as Reference

const tinyDir = (opts?: TinyGpt2Options) => {
  const dir = mkdtempSync(join(tmpdir(), "odpo-gpt2-"))
  writeTinyGpt2(dir, opts)
  return dir
}

const logitsOf = (model: CausalLm, seq: ReadonlyArray<number>): number[][] =>
  tf.tidy(() => model.forward(tf.tensor2d([[...seq]], [1, seq.length], "int32")).logits.arraySync()[0]!)

/** Largest |ours − torch's| over every sequence, position and vocabulary entry. */
const maxDiff = (model: CausalLm): number => {
  let worst = 0
  reference.sequences.forEach((seq, s) => {
    const ours = logitsOf(model, seq)
    ours.forEach((row, t) => row.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - reference.logits[s]![t]![i]!)))))
  })
  return worst
}

const errorOf = <A, E extends { message: string; _tag: string }>(eff: Effect.Effect<A, E>) =>
  Effect.map(Effect.exit(eff), (exit) => {
    if (Exit.isSuccess(exit)) return assert.fail("expected a failure")
    const f = exit.cause.reasons.find((r) => r._tag === "Fail") as { error: E } | undefined
    return f ? `${f.error._tag}: ${f.error.message}` : assert.fail(String(exit.cause))
  })

describe("Gpt2Import", () => {
  it.effect("a Hugging Face GPT-2 directory gives the logits of a hand-written PyTorch GPT-2 (within 1e-4)", () =>
    Effect.gen(function*() {
      const dir = tinyDir()
      const loaded = yield* loadHfGpt2(dir)
      // The generator is deterministic: these are the bytes gpt2_reference.py read.
      assert.strictEqual(loaded.ref.id, reference.safetensors_sha256)
      assert.deepStrictEqual(loaded.config, tinyConfig)
      assert.strictEqual(loaded.tokenizer.vocabSize, 50)
      assert.deepStrictEqual([loaded.tokenizer.eosId, loaded.tokenizer.padId], [49, 49])
      // t·h → th, th·e → the; a·n → an, an·d → and, Ġ·and → Ġand: two tokens, ids after the 27 symbols.
      const ids = loaded.tokenizer.encode("the and")
      assert.deepStrictEqual(ids, [28, 32])
      assert.deepStrictEqual(ids.map((i) => loaded.tokenizer.decode([i])), ["the", " and"])
      const diff = maxDiff(loaded.model)
      assert.isBelow(diff, 1e-4)
      // The logits are far from trivial: a wrong layout would show by much more than the tolerance.
      const spread = Math.max(...reference.logits[0]![3]!) - Math.min(...reference.logits[0]![3]!)
      assert.isAbove(spread, 1)
      loaded.model.dispose()
    }))

  it.effect("loads without the transformer. prefix or buffers, and from F16 weights", () =>
    Effect.gen(function*() {
      const bare = yield* loadHfGpt2(tinyDir({ prefix: "", buffers: false }))
      assert.isBelow(maxDiff(bare.model), 1e-4)
      bare.model.dispose()
      const half = yield* loadHfGpt2(tinyDir({ dtype: "F16" }))
      const d = maxDiff(half.model)
      assert.isAbove(d, 1e-5) // the weights really were rounded …
      assert.isBelow(d, 2e-2) // … by no more than f16 allows
      half.model.dispose()
    }))

  it.effect("an odpo checkpoint and a GPT-2 directory load into each other's loaders with the same logits", () =>
    Effect.gen(function*() {
      const hf = yield* loadHfGpt2(tinyDir())
      const ref = yield* saveCheckpoint(mkdtempSync(join(tmpdir(), "odpo-gpt2-")), hf.model, hf.tokenizer)
      const ours = yield* loadCheckpoint(ref.path)
      assert.isBelow(maxDiff(ours.model), 1e-4)
      assert.deepStrictEqual(ours.tokenizer.encode("the and"), hf.tokenizer.encode("the and"))
      // config.json carries GPT-2's keys too, so the import reads our checkpoint as well.
      const back = yield* loadHfGpt2(ref.path)
      assert.strictEqual(back.ref.id, ref.id)
      assert.isBelow(maxDiff(back.model), 1e-4)
      // … but loadCheckpoint refuses a plain Hugging Face directory, pointing at the import.
      assert.match(yield* errorOf(loadCheckpoint(tinyDir())), /CheckpointCorrupt: .*config\.json has no odpo\.sha256: .*a Hugging Face GPT-2 directory is converted when named as policy\.init/)
      for (const m of [hf.model, ours.model, back.model]) m.dispose()
    }))

  it.effect("a GPT-2 directory with a WordLevel tokenizer loads, maps unknown words to [UNK], and scores as PyTorch does", () =>
    Effect.gen(function*() {
      const dir = tinyDir()
      writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(tinyWordLevelJson()))
      const loaded = yield* loadHfGpt2(dir)
      assert.strictEqual(loaded.tokenizer.vocabSize, 50)
      assert.strictEqual(loaded.tokenizer.eosId, 49)
      // The reference's second sequence, [49, 19, 7, 4, 26, 0, 13, 3, 48], written as text: mixed case,
      // spaces around, and an unknown word ("Zebra") for the last id.
      const words = [19, 7, 4, 26, 0, 13, 3].map((i) => tinyWords[i]!)
      const text = `<|endoftext|> ${words.map((w, i) => (i % 2 === 0 ? w.toUpperCase() : w)).join(" ")}  Zebra `
      const ids = loaded.tokenizer.encode(text)
      assert.deepStrictEqual(ids, [...reference.sequences[1]!])
      const ours = logitsOf(loaded.model, ids)
      let worst = 0
      ours.forEach((row, t) => row.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - reference.logits[1]![t]![i]!)))))
      assert.isBelow(worst, 1e-4)
      // It survives the trip into an odpo checkpoint.
      const ref = yield* saveCheckpoint(mkdtempSync(join(tmpdir(), "odpo-gpt2-")), loaded.model, loaded.tokenizer)
      const back = yield* loadCheckpoint(ref.path)
      assert.deepStrictEqual(back.tokenizer.encode(text), ids)
      loaded.model.dispose()
      back.model.dispose()
    }))

  it.effect("names a missing tensor, a wrong shape, an untied head, an unsupported config and a tokenizer of the wrong size", () =>
    Effect.gen(function*() {
      const missing = tinyDir({ edit: (ts) => ts.filter((t) => t.name !== "transformer.h.1.mlp.c_fc.bias") })
      assert.match(yield* errorOf(loadHfGpt2(missing)), /CheckpointCorrupt: .*model\.safetensors: tensor transformer\.h\.1\.mlp\.c_fc\.bias is missing/)
      const transposed = tinyDir({
        edit: (ts) => ts.map((t) => (t.name === "transformer.h.0.attn.c_attn.weight" ? { ...t, shape: [96, 32] } : t))
      })
      assert.match(
        yield* errorOf(loadHfGpt2(transposed)),
        /tensor transformer\.h\.0\.attn\.c_attn\.weight has shape \[96, 32\] but the config needs \[32, 96\]/
      )
      const untied = tinyDir({
        edit: (ts) => ts.map((t) => (t.name === "lm_head.weight" ? { ...t, data: new Float32Array(t.data.length).fill(0.5) } : t))
      })
      assert.match(yield* errorOf(loadHfGpt2(untied)), /lm_head\.weight differs from wte\.weight/)
      assert.match(
        yield* errorOf(loadHfGpt2(tinyDir({ config: { activation_function: "relu" } }))),
        /config\.json: activation_function is "relu"; our MLP uses GPT-2's tanh GELU/
      )
      assert.match(yield* errorOf(loadHfGpt2(tinyDir({ config: { n_head: 5 } }))), /nHeads \(5\) must divide model\.dModel \(32\)/)
      const smallTok = tinyDir()
      writeFileSync(join(smallTok, "tokenizer.json"), JSON.stringify(tinyTokenizerJson(40)))
      assert.match(yield* errorOf(loadHfGpt2(smallTok)), /TokenizerMismatch: .*tokenizer\.json has a vocabulary of 40 tokens but the model's vocabSize is 50/)
      assert.match(yield* errorOf(loadHfGpt2(join(smallTok, "nope"))), /CheckpointNotFound: .*nope does not exist/)
    }))
})
