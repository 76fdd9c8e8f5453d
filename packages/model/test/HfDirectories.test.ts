import { assert, describe, it } from "@effect/vitest"
import { Tokenizer } from "@odpo/core"
import { Effect, Exit } from "effect"
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { loadCheckpoint, saveCheckpoint } from "../src/Checkpoint.ts"
import { importCheckpoint } from "../src/CheckpointStore.ts"
import { Gpt } from "../src/Gpt.ts"
import { loadHfGpt2 } from "../src/Gpt2Import.ts"
import { exportHfDirectory } from "../src/HfExport.ts"
import { loadHfDirectory } from "../src/HfImport.ts"
import { serialize } from "../src/Safetensors.ts"

const FIXTURES = join(import.meta.dirname, "fixtures", "llama")
const tmp = () => mkdtempSync(join(tmpdir(), "odpo-hf-"))
/** A copy of a fixture directory to break. */
const copyOf = (name: string) => {
  const dir = join(tmp(), name)
  cpSync(join(FIXTURES, name), dir, { recursive: true })
  return dir
}
const editJson = (file: string, f: (j: Record<string, unknown>) => void) => {
  const j = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>
  f(j)
  writeFileSync(file, JSON.stringify(j))
}

/** The message of an effect that must fail with a typed error. */
const errorOf = <A, E extends { _tag: string; message: string }>(eff: Effect.Effect<A, E>) =>
  Effect.map(Effect.exit(eff), (exit) => {
    if (Exit.isSuccess(exit)) return assert.fail("expected a failure")
    const err = exit.cause.reasons.find((r) => r._tag === "Fail") as { error: E } | undefined
    if (!err) return assert.fail(`expected a typed failure, got ${String(exit.cause)}`)
    return `${err.error._tag}: ${err.error.message}`
  })

const sameBits = (a: Map<string, Float32Array>, b: Map<string, Float32Array>) => {
  assert.deepStrictEqual([...a.keys()], [...b.keys()])
  for (const [name, x] of a) {
    const y = b.get(name)!
    assert.isTrue(Buffer.from(x.buffer, x.byteOffset, x.byteLength).equals(Buffer.from(y.buffer, y.byteOffset, y.byteLength)), name)
  }
}

describe("Hugging Face directories in and out", () => {
  it.effect("tokenizers: BOS only where the post-processor adds one, every generation_config EOS stops", () =>
    Effect.gen(function*() {
      const llama = yield* loadHfDirectory(join(FIXTURES, "llama_tiny"))
      assert.deepStrictEqual([llama.tokenizer.bosId, llama.tokenizer.eosId, llama.tokenizer.stopIds], [1, 2, [2]])
      const qwen = yield* loadHfDirectory(join(FIXTURES, "qwen2_tiny"))
      // Qwen adds no BOS; <|im_end|> (2) and <|endoftext|> (0) both end a completion; the embedding has 2 spare rows.
      assert.deepStrictEqual([qwen.tokenizer.bosId, qwen.tokenizer.eosId, qwen.tokenizer.stopIds, qwen.tokenizer.padId], [null, 2, [2, 0], 0])
      assert.deepStrictEqual([qwen.tokenizer.vocabSize, qwen.config.vocabSize], [46, 48])
      llama.model.dispose()
      qwen.model.dispose()
    }))

  for (const name of ["llama_tiny", "qwen3_tiny"]) {
    it.effect(`${name}: load → export → load is bit-identical; the odpo checkpoint it imports to gives the same weights`, () =>
      Effect.gen(function*() {
        const first = yield* loadHfDirectory(join(FIXTURES, name))
        const out = join(tmp(), "exported")
        yield* exportHfDirectory(first, out)
        const second = yield* loadHfDirectory(out)
        assert.deepStrictEqual(second.config, first.config)
        sameBits(yield* Effect.promise(() => first.model.weights()), yield* Effect.promise(() => second.model.weights()))
        assert.deepStrictEqual([second.tokenizer.bosId, second.tokenizer.stopIds, second.tokenizer.padId], [first.tokenizer.bosId, first.tokenizer.stopIds, first.tokenizer.padId])
        const cfg = JSON.parse(readFileSync(join(out, "config.json"), "utf8"))
        assert.deepStrictEqual(cfg.architectures, [name === "llama_tiny" ? "LlamaForCausalLM" : "Qwen3ForCausalLM"])
        // Imported wherever a checkpoint goes: an odpo checkpoint, once, under the store.
        const root = tmp()
        const info = yield* importCheckpoint(join(FIXTURES, name), root)
        const again = yield* importCheckpoint(join(FIXTURES, name), root)
        assert.strictEqual(again.ref.id, info.ref.id)
        const ckpt = yield* loadCheckpoint(info.ref.path)
        assert.strictEqual(ckpt.model.architecture, first.model.architecture)
        sameBits(yield* Effect.promise(() => first.model.weights()), yield* Effect.promise(() => ckpt.model.weights()))
        assert.deepStrictEqual(ckpt.tokenizer.stopIds, first.tokenizer.stopIds)
        for (const m of [first, second, ckpt]) m.model.dispose()
      }))
  }

  it.effect("a GPT-2 odpo checkpoint (character tokenizer) exports as GPT2LMHeadModel and loads back bit-identically", () =>
    Effect.gen(function*() {
      const tokenizer = new Tokenizer.CharTokenizer({ symbols: ["a", "b", "c", "d", "e", "f"] })
      const model = Gpt.init({ vocabSize: 9, contextLength: 8, dModel: 8, nLayers: 1, nHeads: 2, dropout: 0 }, 3)
      const ref = yield* saveCheckpoint(tmp(), model, tokenizer)
      const loaded = yield* loadCheckpoint(ref.path)
      const out = join(tmp(), "gpt2")
      yield* exportHfDirectory(loaded, out)
      const back = yield* loadHfGpt2(out)
      sameBits(yield* Effect.promise(() => model.weights()), yield* Effect.promise(() => back.model.weights()))
      assert.deepStrictEqual(back.tokenizer.encode("cafe"), tokenizer.encode("cafe"))
      assert.deepStrictEqual([back.tokenizer.bosId, back.tokenizer.eosId, back.tokenizer.padId], [1, 2, 0])
      const header = JSON.parse(readFileSync(join(out, "model.safetensors")).subarray(8, 8 + 4000).toString("utf8").replace(/\s+$/, "").split("}}")[0] + "}}")
      assert.include(Object.keys(header), "transformer.h.0.attn.c_attn.weight")
      for (const m of [model, loaded.model, back.model]) m.dispose()
    }))

  it.effect("bad input: one message naming the file and the field", () =>
    Effect.gen(function*() {
      // An architecture odpo does not have: the ones it has are listed.
      const mistral = copyOf("llama_tiny")
      editJson(join(mistral, "config.json"), (j) => {
        j.architectures = ["MistralForCausalLM"]
        j.model_type = "mistral"
      })
      assert.match(yield* errorOf(loadHfDirectory(mistral)), /config\.json: architectures\[0\]: architecture "MistralForCausalLM" is not one odpo implements \(gpt2, llama, qwen2, qwen3\)/)
      // A missing tensor names the config fields its shape comes from; a misshapen one too.
      const fewer = copyOf("llama_tiny")
      editJson(join(fewer, "config.json"), (j) => (j.intermediate_size = 32))
      assert.match(yield* errorOf(loadHfDirectory(fewer)), /tensor model\.layers\.0\.mlp\.gate_proj\.weight has shape \[24, 16\] but config\.json's intermediate_size × hidden_size gives \[32, 16\]/)
      const untied = copyOf("qwen2_tiny")
      editJson(join(untied, "config.json"), (j) => (j.tie_word_embeddings = false))
      assert.match(yield* errorOf(loadHfDirectory(untied)), /tensor lm_head\.weight is missing \(its shape \[48, 16\] comes from config\.json's vocab_size × hidden_size\)/)
      // Quantised weights are refused by dtype; a GGUF file by name.
      const quant = copyOf("qwen2_tiny")
      const bytes = serialize([{ name: "model.embed_tokens.weight", shape: [2], dtype: "F32", data: Float32Array.of(1, 2) }])
      const text = Buffer.from(bytes).toString("latin1").replace('"F32"', '"I8" ').replace('"shape":[2]', '"shape":[8]')
      writeFileSync(join(quant, "model.safetensors"), Buffer.from(text, "latin1"))
      assert.match(yield* errorOf(loadHfDirectory(quant)), /tensor model\.embed_tokens\.weight is I8: quantised weights \(F8, I8, U8, GGUF\) are not supported/)
      const gguf = copyOf("qwen2_tiny")
      rmSync(join(gguf, "model.safetensors"))
      writeFileSync(join(gguf, "qwen2-0.5b-q4_k_m.gguf"), "GGUF")
      assert.match(yield* errorOf(loadHfDirectory(gguf)), /qwen2-0\.5b-q4_k_m\.gguf: GGUF \(quantised\) files are not supported/)
      // An unknown rope_scaling type, by name.
      const yarn = copyOf("llama_tiny")
      editJson(join(yarn, "config.json"), (j) => (j.rope_scaling = { rope_type: "yarn", factor: 4 }))
      assert.match(yield* errorOf(loadHfDirectory(yarn)), /config\.json: rope_scaling\.rope_type is "yarn"; odpo implements "linear" and "llama3"/)
      // Sliding window that does not cover the context.
      const window = copyOf("qwen2_tiny")
      editJson(join(window, "config.json"), (j) => {
        j.use_sliding_window = true
        j.sliding_window = 16
      })
      assert.match(yield* errorOf(loadHfDirectory(window)), /use_sliding_window is true with sliding_window 16 < max_position_embeddings 32/)
      // A tokenizer with more tokens than the model has rows.
      const small = copyOf("llama_tiny")
      editJson(join(small, "config.json"), (j) => (j.vocab_size = 40))
      assert.match(yield* errorOf(loadHfDirectory(small)), /tensor model\.embed_tokens\.weight has shape \[48, 16\]/)
      const big = copyOf("qwen2_tiny")
      editJson(join(big, "tokenizer.json"), (j) => {
        const m = j.model as { vocab: Record<string, number> }
        for (let i = 46; i < 50; i++) m.vocab[`extra${i}`] = i
      })
      assert.match(yield* errorOf(loadHfDirectory(big)), /TokenizerMismatch: .*tokenizer\.json has a vocabulary of 50 tokens but the model's vocabSize is 48/)
      // A sharded index naming a file that is not there.
      const shard = copyOf("qwen3_tiny")
      rmSync(join(shard, "model-00002-of-00002.safetensors"))
      assert.match(yield* errorOf(loadHfDirectory(shard)), /model\.safetensors\.index\.json: weight_map names .*model-00002-of-00002\.safetensors, which does not exist/)
    }))
})
