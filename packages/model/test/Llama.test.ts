import { assert, describe, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs-core"
import { Effect } from "effect"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import type { CausalLm } from "../src/CausalLm.ts"
import { loadHfDirectory } from "../src/HfImport.ts"
import { inverseFrequencies, type LlamaConfig } from "../src/Llama.ts"
import { disposeBatch, makeBatch, tokenLogProbs } from "../src/LogProbs.ts"

const FIXTURES = join(import.meta.dirname, "fixtures", "llama")
interface Reference {
  readonly sequences: ReadonlyArray<ReadonlyArray<number>>
  readonly promptLengths: ReadonlyArray<number>
  readonly logits: ReadonlyArray<ReadonlyArray<ReadonlyArray<number>>>
  readonly completionLogps: ReadonlyArray<ReadonlyArray<number>>
  readonly logpSum: number
  readonly gradients: Record<string, ReadonlyArray<number>>
}
const reference = (name: string): Reference => JSON.parse(readFileSync(join(FIXTURES, `${name}.reference.json`), "utf8")) as Reference

const logitsOf = (model: CausalLm, seq: ReadonlyArray<number>): number[][] =>
  tf.tidy(() => model.forward(tf.tensor2d([[...seq]], [1, seq.length], "int32")).logits.arraySync()[0]!)

const maxAbsDiff = (a: ReadonlyArray<number>, b: ReadonlyArray<number>) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0)

const sequencesOf = (ref: Reference) =>
  ref.sequences.map((s, i) => ({ promptTokenIds: s.slice(0, ref.promptLengths[i]), completionTokenIds: s.slice(ref.promptLengths[i]) }))

describe("Llama family against plain PyTorch (float64, transformers' maths)", () => {
  for (const [name, architecture, dtype] of [["llama_tiny", "llama", "bf16"], ["qwen2_tiny", "qwen2", "f16"], ["qwen3_tiny", "qwen3", "f32 in two shards"]] as const) {
    it.effect(`${name} (${dtype}): logits, completion log-probs and every gradient within 1e-4`, () =>
      Effect.gen(function*() {
        const ref = reference(name)
        const loaded = yield* loadHfDirectory(join(FIXTURES, name))
        const model = loaded.model
        assert.strictEqual(model.architecture, architecture)
        ref.sequences.forEach((seq, i) => {
          const ours = logitsOf(model, seq)
          const diff = Math.max(...ours.map((row, t) => maxAbsDiff(row, ref.logits[i]![t]!)))
          assert.isBelow(diff, 1e-4, `${name} sequence ${i} logits`)
        })
        // The logits are far from trivial: a wrong layout would show by much more than the tolerance.
        const row = ref.logits[0]![3]!
        assert.isAbove(Math.max(...row) - Math.min(...row), 1)
        const seqs = sequencesOf(ref)
        const batch = makeBatch(seqs, loaded.tokenizer.padId, model.config.contextLength)
        const f = () => tf.sum(tokenLogProbs(model, batch)) as tf.Scalar
        const { value, grads } = tf.variableGrads(f, model.variables())
        assert.approximately(value.dataSync()[0]!, ref.logpSum, 1e-4)
        // Per-token completion log-probs at their positions in the right-padded batch.
        const tokens = tf.tidy(() => tokenLogProbs(model, batch).arraySync())
        seqs.forEach((s, b) => {
          const P = s.promptTokenIds.length
          const ours = tokens[b]!.slice(P - 1, P - 1 + s.completionTokenIds.length)
          assert.isBelow(maxAbsDiff(ours, ref.completionLogps[b]!), 1e-4, `${name} sequence ${b} log-probs`)
        })
        assert.deepStrictEqual(Object.keys(grads).length, Object.keys(ref.gradients).length)
        for (const v of model.variables()) {
          const hf = [...model.params.entries()].find(([, x]) => x === v)![0]
          const expected = ref.gradients[hf]!
          const scale = Math.max(...expected.map(Math.abs))
          assert.isBelow(maxAbsDiff(Array.from(grads[v.name]!.dataSync()), expected), 1e-4 * Math.max(scale, 1), `${name} ∂/∂${hf}`)
        }
        tf.dispose([value, ...Object.values(grads)])
        disposeBatch(batch)
        model.dispose()
      }))
  }

  it.effect("cached decoding equals the full recompute; the cache holds the KV heads only", () =>
    Effect.gen(function*() {
      const { model } = yield* loadHfDirectory(join(FIXTURES, "llama_tiny"))
      const seq = [1, 5, 9, 14, 3, 22, 40]
      const full = logitsOf(model, seq)
      const before = tf.memory().numTensors
      const stepped = tf.tidy(() => {
        let out = model.forward(tf.tensor2d([seq.slice(0, 4)], [1, 4], "int32"), {}, true)
        assert.deepStrictEqual(out.cache!.keys[0]!.shape, [1, 2, 4, 4]) // [B, KV heads 2 (of 4 query heads), T, head dim]
        const rows = [out.logits.arraySync()[0]![3]!]
        for (let t = 4; t < seq.length; t++) {
          out = model.forward(tf.tensor2d([[seq[t]!]], [1, 1], "int32"), { cache: out.cache! }, true)
          rows.push(out.logits.arraySync()[0]![0]!)
        }
        return rows
      })
      stepped.forEach((row, k) => assert.isBelow(maxAbsDiff(row, full[3 + k]!), 1e-5))
      assert.strictEqual(tf.memory().numTensors, before)
      model.dispose()
    }))

  it("llama3 rope_scaling keeps the high frequencies, divides the low ones and blends the band between", () => {
    const c = { headDim: 8, ropeTheta: 10000, ropeScaling: { type: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8 } } as unknown as LlamaConfig
    const inv = inverseFrequencies(c)
    const plain = inverseFrequencies({ ...c, ropeScaling: null })
    // wavelengths 2π/θ: 6.28 (band: blended), 62.8 and beyond (> 8: divided by 8)
    assert.approximately(plain[0]!, 1, 1e-7)
    const smooth = (8 / (2 * Math.PI) - 1) / 3
    assert.approximately(inv[0]!, (1 - smooth) / 8 + smooth, 1e-6)
    for (let j = 1; j < 4; j++) assert.approximately(inv[j]!, plain[j]! / 8, 1e-9)
    const linear = inverseFrequencies({ ...c, ropeScaling: { type: "linear", factor: 2 } })
    for (let j = 0; j < 4; j++) assert.approximately(linear[j]!, plain[j]! / 2, 1e-9)
  })
})
