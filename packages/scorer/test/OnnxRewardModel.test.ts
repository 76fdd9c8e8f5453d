// The ONNX reward model: scores equal an independent TS computation, padding does not matter,
// the cache skips the session, and bad models fail with errors that say what is wrong.
import { assert, describe, it } from "@effect/vitest"
import { Tasks, type Domain } from "@odpo/core"
import { OnnxWriter, TokenizerFile } from "@odpo/model"
import { Effect } from "effect"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { bagOfWordsForward, randomBagOfWords, writeBagOfWordsRewardModel } from "../src/BagOfWords.ts"
import { openOnnxRewardModel } from "../src/OnnxRewardModel.ts"
import { cached } from "../src/RewardSource.ts"
import { decodeRewardSpec, type OnnxSpec } from "../src/RewardSpec.ts"

const tok = Tasks.reviewTokenizer
const dir = mkdtempSync(join(tmpdir(), "odpo-onnx-rm-"))
const weights = randomBagOfWords({ vocabSize: tok.vocabSize, dim: 8, labels: 2, pairs: true, seed: 7 })
const modelPath = join(dir, "rm", "model.onnx")

const item = (promptText: string, completionText: string, promptId = "p"): Domain.ScoreItem =>
  ({ promptId, promptText, completionText, completionTokenIds: tok.encode(completionText), finishReason: "eos" })
const items = [
  item("food is ok. ", "room is great.", "a"),
  item("bar is bad. staff is nice. ", "bed is dirty. view is superb.", "b"),
  item("", "x", "c"),
  item("view is new. ", "", "d")
]

const spec = (over: Record<string, unknown> = {}) =>
  decodeRewardSpec({ type: "onnx", path: modelPath, ...over }) as Effect.Effect<OnnxSpec, never>

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x))

describe("OnnxRewardModel", () => {
  it.effect("scores equal the same computation in plain TS (raw, sigmoid, softmax)", () =>
    Effect.scoped(Effect.gen(function*() {
      yield* writeBagOfWordsRewardModel(modelPath, { tokenizer: tok, weights })
      const expected = bagOfWordsForward(weights, items.map((it) => [1, ...tok.encode(it.promptText + it.completionText)]))
      const raw = yield* openOnnxRewardModel(yield* spec({ batchSize: 3 }))
      const got = yield* raw.score(items)
      assert.strictEqual(raw.runs(), 2) // 4 items at batch 3
      expected.forEach((l, i) => assert.closeTo(got[i]!, l[0]!, 1e-5))
      assert.isAbove(Math.abs(expected[0]![0]! - expected[1]![0]!), 1e-3) // rows differ: the test can tell them apart
      const sig = yield* openOnnxRewardModel(yield* spec({ output: { index: 1, transform: "sigmoid" } }))
      const gotSig = yield* sig.score(items)
      expected.forEach((l, i) => assert.closeTo(gotSig[i]!, sigmoid(l[1]!), 1e-6))
      const soft = yield* openOnnxRewardModel(yield* spec({ output: { index: 1, transform: "softmax" } }))
      const gotSoft = yield* soft.score(items)
      expected.forEach((l, i) => assert.closeTo(gotSoft[i]!, Math.exp(l[1]!) / (Math.exp(l[0]!) + Math.exp(l[1]!)), 1e-6))
      // the template decides what the model reads
      const compOnly = yield* openOnnxRewardModel(yield* spec({ template: "{completion}" }))
      const gotComp = yield* compOnly.score(items.slice(0, 1))
      assert.closeTo(gotComp[0]!, bagOfWordsForward(weights, [[1, ...tok.encode("room is great.")]])[0]![0]!, 1e-5)
    })))

  it.effect("padding does not change a row's score", () =>
    Effect.scoped(Effect.gen(function*() {
      const model = yield* openOnnxRewardModel(yield* spec())
      const short = items[0]!
      const alone = (yield* model.score([short]))[0]!
      const long = item("food is great. staff is awful. room is ok. ", "bed is nice. bar is slow. view is big.")
      const padded = (yield* model.score([long, short, long]))[1]!
      assert.closeTo(padded, alone, 1e-6)
    })))

  it.effect("a reward model with a WordLevel tokenizer.json loads beside it and scores unknown words as [UNK]", () =>
    Effect.scoped(Effect.gen(function*() {
      // Written by hand in tokenizer.json's format, as `tokenizers`' WordLevel trainer writes it.
      const words = ["the", "film", "was", "great", "dull", ".", "!"]
      const wordLevel = yield* TokenizerFile.tokenizerFromJson({
        version: "1.0",
        added_tokens: [{ id: 0, content: "[UNK]", special: true, normalized: false }, { id: 1, content: "<s>", special: true, normalized: false }],
        normalizer: { type: "Lowercase" },
        pre_tokenizer: { type: "Whitespace" },
        post_processor: null,
        decoder: null,
        model: { type: "WordLevel", vocab: Object.fromEntries([["[UNK]", 0], ["<s>", 1], ...words.map((w, i) => [w, i + 2])]), unk_token: "[UNK]" }
      })
      const wlDir = mkdtempSync(join(tmpdir(), "odpo-onnx-rm-wl-"))
      const wlPath = join(wlDir, "model.onnx")
      const wlWeights = randomBagOfWords({ vocabSize: wordLevel.vocabSize, dim: 4, labels: 1, pairs: false, seed: 3 })
      yield* writeBagOfWordsRewardModel(wlPath, { tokenizer: wordLevel, weights: wlWeights })
      const model = yield* openOnnxRewardModel(yield* (decodeRewardSpec({ type: "onnx", path: wlPath }) as Effect.Effect<OnnxSpec, never>))
      assert.deepStrictEqual([model.tokenizer.kind, model.tokenizer.bosId], ["hf", 1])
      const texts = [["The film ", "was GREAT!"], ["  the plot ", "was dull. "], ["", "Ça va?"]] as const
      // <s> (1, the BOS the scorer puts first), then the words; plot, ça, va and "?" are not in the vocabulary → [UNK] (0)
      const ids = [[1, 2, 3, 4, 5, 8], [1, 2, 0, 4, 6, 7], [1, 0, 0, 0]]
      texts.forEach(([p, c], i) => assert.deepStrictEqual([1, ...model.tokenizer.encode(p + c)], ids[i]))
      const got = yield* model.score(texts.map(([promptText, completionText], i) => ({ promptId: `wl${i}`, promptText, completionText, completionTokenIds: [], finishReason: "eos" as const })))
      const expected = bagOfWordsForward(wlWeights, ids)
      expected.forEach((l, i) => assert.closeTo(got[i]!, l[0]!, 1e-5))
      assert.isAbove(Math.abs(expected[0]![0]! - expected[1]![0]!), 1e-4)
    })))

  it.effect("the cache answers repeated items without running the session", () =>
    Effect.scoped(Effect.gen(function*() {
      const model = yield* openOnnxRewardModel(yield* spec({ batchSize: 2 }))
      const source = cached(model)
      const first = yield* source.score(items)
      assert.strictEqual(model.runs(), 2)
      const again = yield* source.score([items[2]!, items[0]!, items[2]!])
      assert.strictEqual(model.runs(), 2)
      assert.deepStrictEqual(again, [first[2]!, first[0]!, first[2]!])
      const fresh = item("bar is ok. ", "food is nice.")
      const mixed = yield* source.score([items[1]!, fresh])
      assert.strictEqual(model.runs(), 3) // only the new item ran
      assert.strictEqual(mixed[0], first[1])
      assert.strictEqual(source.size(), 5)
    })))

  it.effect("a file that is not ONNX, or missing, is an OnnxError naming it", () =>
    Effect.scoped(Effect.gen(function*() {
      const garbage = join(dir, "garbage.onnx")
      writeFileSync(garbage, Buffer.from("this is not a protobuf \x00\xff\xfe", "binary"))
      const e1 = yield* Effect.flip(openOnnxRewardModel(yield* spec({ path: garbage }), tok))
      assert.strictEqual(e1._tag, "OnnxError")
      assert.include(e1.message, `${garbage} is not a valid ONNX model`)
      const e2 = yield* Effect.flip(openOnnxRewardModel(yield* spec({ path: join(dir, "nope.onnx") }), tok))
      assert.strictEqual(e2._tag, "OnnxError")
      assert.include(e2.message, "cannot read reward model")
      assert.include(e2.message, "nope.onnx")
    })))

  it.effect("wrong input names are an OnnxError naming expected and found", () =>
    Effect.scoped(Effect.gen(function*() {
      const path = join(dir, "wrong-inputs.onnx")
      writeFileSync(path, OnnxWriter.encodeOnnxModel({
        name: "g",
        nodes: [{ opType: "Cast", inputs: ["ids"], outputs: ["logits"], attributes: { to: 1 } }],
        initializers: [],
        inputs: [{ name: "ids", dataType: "int64", shape: ["b", 1] }],
        outputs: [{ name: "logits", dataType: "float32", shape: ["b", 1] }]
      }))
      const e = yield* Effect.flip(openOnnxRewardModel(yield* spec({ path }), tok))
      assert.strictEqual(e._tag, "OnnxError")
      assert.include(e.message, "expected inputs input_ids and attention_mask")
      assert.include(e.message, "found ids (int64)")
    })))

  it.effect("a tokenizer larger than the embedding is a TokenizerMismatch", () =>
    Effect.scoped(Effect.gen(function*() {
      const small = randomBagOfWords({ vocabSize: 15, dim: 2, labels: 1, seed: 1 })
      const arithTok = Tasks.getTask({ name: "arith", mu: 0, sigma: 1, seed: 0, trainPrompts: 1, heldoutPrompts: 1 }).tokenizer
      const path = join(dir, "small", "model.onnx")
      yield* writeBagOfWordsRewardModel(path, { tokenizer: arithTok, weights: small })
      // the review tokenizer (31 tokens) named explicitly instead of the model's own (15)
      const reviewTokFile = join(dir, "review-tokenizer.json")
      writeFileSync(reviewTokFile, JSON.stringify(tok.toJSON()))
      const e = yield* Effect.flip(openOnnxRewardModel(yield* spec({ path, tokenizer: reviewTokFile })))
      assert.strictEqual(e._tag, "TokenizerMismatch")
      assert.include(e.message, "the tokenizer has 31 tokens but the model's embedding has 15 rows")
      // its own tokenizer (found beside it) is fine
      const ok = yield* openOnnxRewardModel(yield* spec({ path }))
      assert.strictEqual(ok.tokenizer.vocabSize, 15)
    })))

  it.effect("NaN from the model is an OnnxError naming the row", () =>
    Effect.scoped(Effect.gen(function*() {
      const nanWeights = randomBagOfWords({ vocabSize: tok.vocabSize, dim: 2, labels: 1, seed: 3 })
      const z = tok.encode("z")[0]!
      nanWeights.embedding[z * 2] = Number.NaN
      const path = join(dir, "nan", "model.onnx")
      yield* writeBagOfWordsRewardModel(path, { tokenizer: tok, weights: nanWeights })
      const model = yield* openOnnxRewardModel(yield* spec({ path }))
      const ok = yield* model.score([items[0]!])
      assert.isTrue(Number.isFinite(ok[0]!))
      const e = yield* Effect.flip(model.score([items[0]!, item("", "food is ok. bar is ok.", "q"), item("", "bed is dirty. view is zzz.", "lazy")]))
      assert.strictEqual(e._tag, "OnnxError")
      assert.include(e.message, "NaN for row 2 (prompt lazy)")
    })))
})
