// Bradley–Terry reward model: trunk fidelity, learning a separable preference, ONNX parity in onnxruntime.
import { assert, describe, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs-core"
import { Effect } from "effect"
import { Tokenizer } from "@odpo/core"
import { Gpt, TokenizerFile } from "@odpo/model"
import * as ort from "onnxruntime-node"
import { existsSync, mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Seeds } from "@odpo/core"

const { mulberry32 } = Seeds
import { fitRewardModel, RewardModel, type RewardPair } from "../src/RewardModel.ts"
import { exportRewardModel, trainRewardModel } from "../src/RewardModelExport.ts"

const tokenizer = new Tokenizer.CharTokenizer({ symbols: ["a", "b", "c", "d", "e"] }) // ids 3..7
const config: Gpt.GptConfig = { vocabSize: 0, contextLength: 10, dModel: 16, nLayers: 1, nHeads: 2, dropout: 0 }

/** Chosen completions contain "a" (3) somewhere, rejected ones "b" (4); lengths vary 2..5. */
const separable = (n: number, seed: number): Array<RewardPair> => {
  const rand = mulberry32(seed)
  const pick = (k: number) => Array.from({ length: k }, () => 5 + Math.floor(rand() * 3))
  return Array.from({ length: n }, () => {
    const prompt = [1, ...pick(1 + Math.floor(rand() * 2))]
    const chosen = pick(1 + Math.floor(rand() * 3)); chosen.splice(Math.floor(rand() * chosen.length), 0, 3)
    const rejected = pick(1 + Math.floor(rand() * 3)); rejected.splice(Math.floor(rand() * rejected.length), 0, 4)
    return { prompt, chosen, rejected }
  })
}

describe("RewardModel", () => {
  it("a row's score is the head on Gpt.hidden at its last real token, whatever the padding and batch mates", async () => {
    const rm = RewardModel.init({ ...config, vocabSize: 8 }, 3)
    const alone = (await rm.score([[1, 6, 7]], 0))[0]!
    const batched = (await rm.score([[1, 3, 4, 5, 2], [1, 6, 7]], 0))[1]! // right-padded to 5 beside a longer row
    assert.closeTo(batched, alone, 1e-5)
    const byHand = tf.tidy(() => {
      const ids = tf.tensor2d([[1, 6, 7]], [1, 3], "int32")
      const h = rm.trunk.hidden(ids).hidden // [1, 3, 16]
      return tf.matMul(tf.reshape(tf.slice(h, [0, 2, 0], [1, 1, 16]), [1, 16]), rm.head).dataSync()[0]!
    })
    assert.closeTo(alone, byHand, 1e-6)
    assert.isAbove(Math.abs(alone), 1e-6)
    rm.dispose()
  })

  it.effect("fitRewardModel starts the trunk from a checkpoint's weights when given one (its config replaces model)", () =>
    Effect.gen(function*() {
      const trunkConfig = { ...config, vocabSize: 8, dModel: 8 }
      const source = Gpt.Gpt.init(trunkConfig, 11)
      const weights = yield* Effect.promise(() => source.weights())
      // lr tiny and one step: the fitted trunk is still the checkpoint's, to float precision
      const fit = yield* fitRewardModel({ pairs: separable(16, 2), model: config, trunk: { config: trunkConfig, weights }, tokenizer, steps: 1, learningRate: 1e-9, validationFraction: 0, seed: 0 })
      assert.deepStrictEqual(fit.model.config, trunkConfig)
      const after = yield* Effect.promise(() => fit.model.trunk.weights())
      for (const [name, w] of weights) assert.isBelow(Math.max(...w.map((v, i) => Math.abs(v - after.get(name)![i]!))), 1e-6, name)
      const fresh = RewardModel.init({ ...trunkConfig }, 0)
      const other = yield* Effect.promise(() => fresh.trunk.weights())
      assert.isAbove(Math.max(...weights.get("wte.weight")!.map((v, i) => Math.abs(v - other.get("wte.weight")![i]!))), 1e-3)
      for (const m of [source, fit.model, fresh]) m.dispose()
    }))

  it.effect("learns a separable preference (≥ 0.95 held-out accuracy) and its ONNX export scores the same within 1e-4", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "odpo-rm-"))
      const pairs = separable(96, 7)
      const fit = yield* fitRewardModel({ pairs, model: config, tokenizer, steps: 40, learningRate: 6e-3, validationFraction: 0.25, seed: 1 })
      assert.isAtLeast(fit.validationAccuracy, 0.95)
      assert.isBelow(fit.losses.slice(-10).reduce((a, b) => a + b, 0) / 10, 0.3)
      assert.closeTo(fit.losses[0]!, Math.log(2), 0.1) // starts near chance
      const outFile = join(dir, "rm", "model.onnx")
      const tokFile = yield* exportRewardModel(fit.model, tokenizer, outFile)
      assert.isTrue(existsSync(outFile))
      const tok = yield* TokenizerFile.loadTokenizer(tokFile)
      assert.strictEqual(tok.vocabSize, 8)
      // a right-padded batch of mixed lengths
      const seqs = pairs.slice(0, 12).flatMap((p) => [[...p.prompt, ...p.chosen], [...p.prompt, ...p.rejected]])
      const expected = yield* Effect.promise(() => fit.model.score(seqs, 0))
      const T = Math.max(...seqs.map((s) => s.length))
      const ids = new BigInt64Array(seqs.length * T)
      const mask = new BigInt64Array(seqs.length * T)
      seqs.forEach((s, b) => s.forEach((t, j) => { ids[b * T + j] = BigInt(t); mask[b * T + j] = 1n }))
      const session = yield* Effect.promise(() => ort.InferenceSession.create(outFile))
      const out = yield* Effect.promise(() => session.run({
        input_ids: new ort.Tensor("int64", ids, [seqs.length, T]),
        attention_mask: new ort.Tensor("int64", mask, [seqs.length, T])
      }))
      const logits = out["logits"]!
      assert.deepStrictEqual(logits.dims, [seqs.length, 1])
      const got = logits.data as Float32Array
      expected.forEach((e, i) => assert.closeTo(got[i]!, e, 1e-4, `row ${i}`))
      assert.isAbove(Math.max(...expected) - Math.min(...expected), 0.5) // the scores are not all alike
      yield* Effect.promise(() => session.release())
      fit.model.dispose()
    }))

  it.effect("trainRewardModel rejects bad input naming the field, and writes model + tokenizer", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "odpo-rm-"))
      const base = { model: config, tokenizer, steps: 2, learningRate: 1e-3, validationFraction: 0.5, seed: 0, outFile: join(dir, "rm.onnx") }
      const tooLong = yield* Effect.flip(trainRewardModel({ ...base, pairs: [{ prompt: [1], chosen: Array(12).fill(3), rejected: [4] }, ...separable(3, 1)] }))
      assert.strictEqual(tooLong._tag, "InvalidInput")
      assert.include(tooLong.message, "pairs[0].chosen: 13 tokens exceed model.contextLength 10")
      const few = yield* Effect.flip(trainRewardModel({ ...base, pairs: [] }))
      assert.include(few.message, "at least 2 preference pairs")
      const ok = yield* trainRewardModel({ ...base, pairs: separable(8, 2) })
      assert.isTrue(existsSync(ok.outFile) && existsSync(ok.tokenizerFile))
      assert.strictEqual(ok.losses.length, 2)
    }))
})
