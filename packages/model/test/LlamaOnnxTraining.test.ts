// The Llama family's onnx training graphs (train + VJP) against tfjs cpu's autodiff and the committed
// PyTorch gradients: Llama, Qwen2 and Qwen3, tied and untied heads, GQA, biases, q/k norms, rope scaling.
import { assert, describe, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs-core"
import { Effect } from "effect"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { onnxUse } from "../src/Architectures.ts"
import { loadHfDirectory } from "../src/HfImport.ts"
import { initialParameters, Llama, type LlamaConfig, parameterShapes } from "../src/Llama.ts"
import * as LogProbs from "../src/LogProbs.ts"
import * as OnnxPolicy from "../src/onnx/OnnxPolicy.ts"
import * as OnnxPolicyEngine from "../src/onnx/OnnxPolicyEngine.ts"
import * as OnnxSessions from "../src/onnx/OnnxSessions.ts"
import type { SequenceLogps } from "../src/PolicyEngine.ts"
import { tfjsPolicyEngine } from "../src/TfjsPolicyEngine.ts"

const FIXTURES = join(import.meta.dirname, "fixtures", "llama")

const base: LlamaConfig = {
  architecture: "llama", vocabSize: 23, contextLength: 16, dModel: 16, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 4,
  intermediateSize: 24, ropeTheta: 10000, ropeScaling: null, rmsNormEps: 1e-5, tieWordEmbeddings: false,
  qkvBias: false, oBias: false, qkNorm: false, dropout: 0
}

/** Tiny configs that between them hold every part a block can have. */
const configs: ReadonlyArray<[string, LlamaConfig]> = [
  ["llama, untied, GQA 4:2, linear rope_scaling", { ...base, ropeScaling: { type: "linear", factor: 2 } }],
  ["llama, tied, attention_bias (q/k/v and o), MHA", { ...base, tieWordEmbeddings: true, nKvHeads: 4, qkvBias: true, oBias: true }],
  ["qwen2, untied, q/k/v bias, one KV head", { ...base, architecture: "qwen2", nKvHeads: 1, qkvBias: true, rmsNormEps: 1e-6 }],
  ["qwen3, tied, q/k norm, head_dim 6 ≠ 16/4", { ...base, architecture: "qwen3", tieWordEmbeddings: true, headDim: 6, qkNorm: true, ropeTheta: 1e6 }],
  ["qwen3, untied, q/k norm, llama3 rope_scaling", {
    ...base, architecture: "qwen3", headDim: 6, qkNorm: true,
    ropeScaling: { type: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8 }
  }]
]

/** Hugging Face's init with matrices times `scale` and norm weights 1 ± 0.3 (so "weight after" matters), biases small. */
const weightsOf = (c: LlamaConfig, seed: number, scale = 4) => {
  const w = initialParameters(c, seed)
  let s = seed + 1
  const rand = () => ((s = (s * 16807) % 2147483647) / 2147483647) * 2 - 1
  for (const [name, data] of w) {
    for (let i = 0; i < data.length; i++) {
      if (name.endsWith("norm.weight")) data[i] = 1 + 0.3 * rand()
      else if (name.endsWith(".bias")) data[i] = 0.1 * rand()
      else data[i] = data[i]! * scale
    }
  }
  return w
}

/** Mixed prompt and completion lengths (right padding differs per row). */
const sequences = (n: number, seed: number, vocab: number) =>
  Array.from({ length: n }, (_, i) => {
    const tok = (t: number) => 3 + ((i * 7 + t * 5 + seed) % (vocab - 3))
    return {
      promptTokenIds: [1, ...Array.from({ length: i % 4 }, (_, t) => tok(t))],
      completionTokenIds: Array.from({ length: 1 + ((i * 3) % 8) }, (_, t) => tok(t + 10))
    }
  })

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let d = 0
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!))
  return d
}
const largest = (a: ArrayLike<number>) => Array.from(a).reduce((m, x) => Math.max(m, Math.abs(x)), 0)

const pool = OnnxSessions.make({ provider: "cpu", threads: 1 })

describe("Llama-family training on onnx", () => {
  it("every architecture trains on onnx (auto picks onnx for them as for GPT-2)", () => {
    for (const a of ["gpt2", "llama", "qwen2", "qwen3"] as const) assert.strictEqual(onnxUse(a), "training", a)
  })

  for (const [label, config] of configs) {
    it.effect(`${label}: the VJP graph's gradients equal tf.grad's within 1e-4 of each parameter's largest entry`, () =>
      Effect.gen(function*() {
        const sessions = yield* pool
        const weights = weightsOf(config, 5)
        const model = new Llama(config, weights)
        const seqs = sequences(7, 1, config.vocabSize)
        const host = yield* OnnxPolicy.makeHostBatch(seqs, 0, config.contextLength)
        const upstream = Float32Array.from({ length: host.B * (host.T - 1) }, (_, i) => Math.sin(1 + i))
        const train = yield* OnnxPolicy.trainingLogps(sessions, { config, weights }, host)
        const grads = yield* OnnxPolicy.gradients(sessions, { config, weights }, host, upstream, train.saved)
        const batch = LogProbs.makeBatch(seqs, 0, config.contextLength)
        const up = tf.tensor2d(upstream, [host.B, host.T - 1])
        // the train graph's token log-probs are the tfjs model's
        const tokens = tf.tidy(() => LogProbs.tokenLogProbs(model, batch).dataSync())
        assert.isBelow(maxDiff(train.tokenLogps, tokens), 1e-4)
        const { value, grads: ref } = tf.variableGrads(() => tf.sum(tf.mul(LogProbs.tokenLogProbs(model, batch), up)) as tf.Scalar, model.variables())
        for (const [name] of parameterShapes(config)) {
          const expected = ref[model.params.get(name)!.name]!.dataSync()
          const scale = largest(expected)
          assert.isAbove(scale, 1e-3, `${name} has a gradient`)
          assert.isBelow(maxDiff(grads.get(name)!, expected) / scale, 1e-4, name)
        }
        tf.dispose([value, up, ...Object.values(ref)])
        LogProbs.disposeBatch(batch)
        model.dispose()
      }).pipe(Effect.scoped))
  }

  for (const name of ["llama_tiny", "qwen2_tiny", "qwen3_tiny"]) {
    it.effect(`${name}: the VJP graph's gradients of Σ completion log-probs equal PyTorch's (float64) within 1e-4`, () =>
      Effect.gen(function*() {
        const sessions = yield* pool
        const ref = JSON.parse(readFileSync(join(FIXTURES, `${name}.reference.json`), "utf8")) as {
          sequences: number[][]
          promptLengths: number[]
          logpSum: number
          gradients: Record<string, number[]>
        }
        const loaded = yield* loadHfDirectory(join(FIXTURES, name))
        const model = { config: loaded.model.config, weights: yield* Effect.promise(() => loaded.model.weights()) }
        const seqs = ref.sequences.map((s, i) => ({ promptTokenIds: s.slice(0, ref.promptLengths[i]), completionTokenIds: s.slice(ref.promptLengths[i]) }))
        const host = yield* OnnxPolicy.makeHostBatch(seqs, loaded.tokenizer.padId, model.config.contextLength)
        const train = yield* OnnxPolicy.trainingLogps(sessions, model, host)
        assert.approximately(train.tokenLogps.reduce((a, x) => a + x, 0), ref.logpSum, 1e-4)
        const grads = yield* OnnxPolicy.gradients(sessions, model, host, new Float32Array(host.B * (host.T - 1)).fill(1), train.saved)
        assert.strictEqual(grads.size, Object.keys(ref.gradients).length)
        for (const [param, expected] of Object.entries(ref.gradients)) {
          const scale = largest(expected)
          assert.isAbove(scale, 1e-3, `${name} ∂/∂${param}`)
          assert.isBelow(maxDiff(grads.get(param)!, expected) / Math.max(scale, 1), 1e-4, `${name} ∂/∂${param}`)
        }
        loaded.model.dispose()
      }).pipe(Effect.scoped))
  }

  it.effect("the engine's gradient of a loss (tfjs on the token log-probs, then the VJP graph) equals the tfjs engine's", () =>
    Effect.gen(function*() {
      const engine = yield* OnnxPolicyEngine.make("onnx").pipe(Effect.provideService(OnnxSessions.OnnxSessionPool, yield* pool))
      const config = configs[3]![1]
      const model = new Llama(config, weightsOf(config, 6))
      const seqs = sequences(6, 2, config.vocabSize)
      const before = tf.memory().numTensors
      const lossOf = ({ tokens, mask, sums }: SequenceLogps) =>
        tf.add(tf.mean(tf.softplus(tf.div(tf.neg(sums), 10))), tf.div(tf.sum(tokens), tf.sum(mask))) as tf.Scalar
      const onnx = yield* engine.gradients(model, seqs, lossOf, { padId: 0, dropoutSeed: 0 })
      const tfjs = yield* tfjsPolicyEngine.gradients(model, seqs, lossOf, { padId: 0, dropoutSeed: 0 })
      assert.closeTo(onnx.value.dataSync()[0]!, tfjs.value.dataSync()[0]!, 1e-5)
      parameterShapes(config).forEach(([name], i) => {
        const expected = tfjs.grads[i]!.dataSync()
        assert.isBelow(maxDiff(onnx.grads[i]!.dataSync(), expected) / largest(expected), 1e-4, name)
      })
      tf.dispose([onnx.value, tfjs.value, ...onnx.grads, ...tfjs.grads])
      assert.strictEqual(tf.memory().numTensors, before)
      model.dispose()
    }).pipe(Effect.scoped))
})
