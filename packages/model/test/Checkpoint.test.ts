import { assert, describe, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs-core"
import { Effect, Exit } from "effect"
import { createHash } from "node:crypto"
import { existsSync, mkdtempSync, readdirSync, readFileSync, truncateSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { loadCheckpoint, readCheckpointConfig, saveCheckpoint } from "../src/Checkpoint.ts"
import { Gpt, type GptConfig } from "../src/Gpt.ts"
import { f16BitsToF32, f32ToF16Bits } from "../src/Safetensors.ts"
import { Tokenizer } from "@odpo/core"

const { CharTokenizer } = Tokenizer

const config: GptConfig = { vocabSize: 9, contextLength: 8, dModel: 8, nLayers: 1, nHeads: 2, dropout: 0 }
const tokenizer = new CharTokenizer({ symbols: ["a", "b", "c", "d", "e", "f"] }) // 6 + 3 specials = 9
const root = () => mkdtempSync(join(tmpdir(), "odpo-ckpt-"))

/** The failure of an effect that must fail: its tag and message. */
const failure = <A, E extends { _tag: string; message: string }>(eff: Effect.Effect<A, E>) =>
  Effect.map(Effect.exit(eff), (exit) => {
    if (Exit.isSuccess(exit)) return assert.fail("expected a failure")
    const err = exit.cause.reasons.find((r) => r._tag === "Fail") as { error: E } | undefined
    if (!err) return assert.fail(`expected a typed failure, got ${String(exit.cause)}`)
    return { tag: err.error._tag, message: err.error.message }
  })

describe("Checkpoint", () => {
  it.effect("saves content-addressed, loads the same weights bit-exactly, and keeps an existing directory", () =>
    Effect.gen(function*() {
      const dir = root()
      const model = Gpt.init(config, 7)
      const ref = yield* saveCheckpoint(dir, model, tokenizer, { meta: { round: 3 } })
      const bytes = readFileSync(join(ref.path, "model.safetensors"))
      assert.strictEqual(ref.id, createHash("sha256").update(bytes).digest("hex"))
      assert.strictEqual(ref.path, join(dir, ref.id))
      const cfg = JSON.parse(readFileSync(join(ref.path, "config.json"), "utf8"))
      assert.deepStrictEqual(cfg.odpo, { sha256: ref.id, dtype: "F32", format_version: 1, meta: { round: 3 } })
      assert.strictEqual(cfg.n_embd, 8)
      const before = tf.memory().numTensors
      const loaded = yield* loadCheckpoint(ref.path)
      assert.deepStrictEqual(loaded.ref, ref)
      assert.deepStrictEqual(loaded.config, config)
      assert.strictEqual(loaded.tokenizer.vocabSize, 9)
      assert.deepStrictEqual(loaded.tokenizer.encode("fab"), [8, 3, 4])
      const a = yield* Effect.promise(() => model.weights())
      for (const [name, w] of yield* Effect.promise(() => loaded.model.weights())) assert.deepStrictEqual(Array.from(w), Array.from(a.get(name)!), name)
      // Same logits from the reloaded model.
      const ids = tf.tensor2d([[1, 3, 4, 5]], [1, 4], "int32")
      const l1 = tf.tidy(() => model.forward(ids).logits.dataSync())
      const l2 = tf.tidy(() => loaded.model.forward(ids).logits.dataSync())
      assert.deepStrictEqual(Array.from(l2), Array.from(l1))
      ids.dispose()
      loaded.model.dispose()
      assert.strictEqual(tf.memory().numTensors, before)
      // Saving the same weights again returns the same ref, leaves one directory and no temp dirs.
      const again = yield* saveCheckpoint(dir, model, tokenizer, { meta: { round: 4 } })
      assert.deepStrictEqual(again, ref)
      assert.deepStrictEqual(readdirSync(dir), [ref.id])
      assert.deepStrictEqual(JSON.parse(readFileSync(join(ref.path, "config.json"), "utf8")).odpo.meta, { round: 3 })
      const { ref: r2, config: c2 } = yield* readCheckpointConfig(ref.path)
      assert.deepStrictEqual(r2, ref)
      assert.deepStrictEqual(c2, config)
      model.dispose()
    }))

  it.effect("F16 checkpoints are half the size and load back as the f16-rounded f32 weights", () =>
    Effect.gen(function*() {
      const dir = root()
      const model = Gpt.init(config, 8)
      const f32 = yield* saveCheckpoint(dir, model, tokenizer)
      const f16 = yield* saveCheckpoint(dir, model, tokenizer, { dtype: "F16" })
      assert.notStrictEqual(f16.id, f32.id)
      const size = (p: string) => readFileSync(join(p, "model.safetensors")).length
      const nParams = model.numParameters()
      assert.isBelow(size(f16.path), 2 * nParams + 4096)
      assert.isAbove(size(f32.path), 4 * nParams)
      const loaded = yield* loadCheckpoint(f16.path)
      let maxRel = 0
      const origWeights = yield* Effect.promise(() => model.weights())
      for (const [name, w] of yield* Effect.promise(() => loaded.model.weights())) {
        const orig = origWeights.get(name)!
        w.forEach((v, i) => {
          assert.strictEqual(v, f16BitsToF32(f32ToF16Bits(orig[i]!)), name)
          if (Math.abs(orig[i]!) > 1e-4) maxRel = Math.max(maxRel, Math.abs(v - orig[i]!) / Math.abs(orig[i]!))
        })
      }
      assert.isAbove(maxRel, 0) // really rounded
      assert.isAtMost(maxRel, 2 ** -11) // half an f16 ulp
      loaded.model.dispose()
      model.dispose()
    }))

  it.effect("refuses a flipped byte, a truncated file, a missing directory and a tokenizer of the wrong size", () =>
    Effect.gen(function*() {
      const dir = root()
      const model = Gpt.init(config, 9)
      const ref = yield* saveCheckpoint(dir, model, tokenizer)
      const file = join(ref.path, "model.safetensors")
      const original = readFileSync(file)
      const flipped = Buffer.from(original)
      flipped[flipped.length - 10] ^= 0x01 // inside the weights
      writeFileSync(file, flipped)
      const bad = yield* failure(loadCheckpoint(ref.path))
      assert.strictEqual(bad.tag, "CheckpointCorrupt")
      assert.match(bad.message, /the SHA-256 of .*model\.safetensors \([0-9a-f]{64}\) does not match the [0-9a-f]{64} recorded in config\.json: the file was modified or truncated; re-create the checkpoint/)
      writeFileSync(file, original)
      truncateSync(file, original.length - 100)
      const cut = yield* failure(loadCheckpoint(ref.path))
      assert.strictEqual(cut.tag, "CheckpointCorrupt")
      assert.match(cut.message, /does not match/)
      // A checkpoint whose config.json agrees with the truncated file still fails: on the format.
      const cfgFile = join(ref.path, "config.json")
      const cfg = JSON.parse(readFileSync(cfgFile, "utf8"))
      cfg.odpo.sha256 = createHash("sha256").update(readFileSync(file)).digest("hex")
      writeFileSync(cfgFile, JSON.stringify(cfg))
      const cut2 = yield* failure(loadCheckpoint(ref.path))
      assert.strictEqual(cut2.tag, "CheckpointCorrupt")
      assert.match(cut2.message, /not a valid safetensors file: .*the file is truncated/)

      const missing = yield* failure(loadCheckpoint(join(dir, "nope")))
      assert.strictEqual(missing.tag, "CheckpointNotFound")
      assert.match(missing.message, /checkpoint directory .*nope does not exist/)

      const wrongTok = new CharTokenizer({ symbols: ["a", "b"] })
      const ref2 = yield* saveCheckpoint(root(), model, wrongTok)
      const mismatch = yield* failure(loadCheckpoint(ref2.path))
      assert.strictEqual(mismatch.tag, "TokenizerMismatch")
      assert.match(mismatch.message, /vocabulary of 5 tokens but the model's vocabSize is 9/)
      model.dispose()
    }))

})
