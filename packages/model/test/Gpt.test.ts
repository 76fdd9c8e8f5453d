import { assert, describe, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs-core"
import "@tensorflow/tfjs-backend-cpu"
import { Gpt, type GptConfig } from "../src/Gpt.ts"
import { disposeBatch, makeBatch, sequenceLogProbs, tokenEntropy, tokenKl, tokenLogProbs } from "../src/LogProbs.ts"

const tiny: GptConfig = { vocabSize: 7, contextLength: 8, dModel: 8, nLayers: 2, nHeads: 2, dropout: 0 }

describe("Gpt", () => {
  it("logits have the right shape and are causal (a later token never changes an earlier logit)", async () => {
    await tf.setBackend("cpu")
    const m = Gpt.init(tiny, 1)
    const a = tf.tidy(() => m.forward(tf.tensor2d([[1, 2, 3, 4]], [1, 4], "int32")).logits.arraySync())
    const b = tf.tidy(() => m.forward(tf.tensor2d([[1, 2, 3, 6]], [1, 4], "int32")).logits.arraySync())
    assert.strictEqual(a[0]!.length, 4)
    assert.strictEqual(a[0]![0]!.length, 7)
    for (let t = 0; t < 3; t++) for (let v = 0; v < 7; v++) assert.closeTo(a[0]![t]![v]!, b[0]![t]![v]!, 1e-6)
    assert.isAbove(Math.abs(a[0]![3]![0]! - b[0]![3]![0]!), 1e-6)
    m.dispose()
  })

  it("completion log-probs mask the prompt and padding, and sum to a probability ≤ 1", async () => {
    await tf.setBackend("cpu")
    const m = Gpt.init(tiny, 2)
    const batch = makeBatch([
      { promptTokenIds: [0, 1], completionTokenIds: [2, 3, 4] },
      { promptTokenIds: [0, 1, 2], completionTokenIds: [5] }
    ], 6, 8)
    const tok = tf.tidy(() => tokenLogProbs(m, batch).arraySync())
    // row 0: positions 1,2,3 predict tokens 2,3,4; row 1: position 2 predicts 5
    assert.deepStrictEqual(tok[0]!.map((x) => x !== 0), [false, true, true, true])
    assert.deepStrictEqual(tok[1]!.map((x) => x !== 0), [false, false, true, false])
    const seq = tf.tidy(() => sequenceLogProbs(m, batch).arraySync())
    assert.closeTo(seq[0]!, tok[0]!.reduce((a, b) => a + b, 0), 1e-5)
    assert.isBelow(seq[0]!, 0)
    // A model's KL to itself is 0; entropy is between 0 and log V.
    const kl = tf.tidy(() => tokenKl(m, m, batch).arraySync())
    for (const row of kl) for (const x of row) assert.closeTo(x, 0, 1e-6)
    const ent = tf.tidy(() => tokenEntropy(m, batch).arraySync())
    assert.isAbove(ent[0]![1]!, 0)
    assert.isBelow(ent[0]![1]!, Math.log(7) + 1e-6)
    disposeBatch(batch)
    m.dispose()
  })

  it("padding a sequence does not change its log-prob", async () => {
    await tf.setBackend("cpu")
    const m = Gpt.init(tiny, 3)
    const one = makeBatch([{ promptTokenIds: [0, 1], completionTokenIds: [2] }], 6, 8)
    const two = makeBatch([{ promptTokenIds: [0, 1], completionTokenIds: [2] }, { promptTokenIds: [0], completionTokenIds: [1, 2, 3, 4, 5] }], 6, 8)
    const a = tf.tidy(() => sequenceLogProbs(m, one).dataSync()[0]!)
    const b = tf.tidy(() => sequenceLogProbs(m, two).dataSync()[0]!)
    assert.closeTo(a, b, 1e-5)
    disposeBatch(one); disposeBatch(two); m.dispose()
  })

  it("gradient check: analytic gradients match central finite differences", async () => {
    await tf.setBackend("cpu")
    const m = Gpt.init(tiny, 4)
    const batch = makeBatch([
      { promptTokenIds: [0, 3], completionTokenIds: [2, 5, 1] },
      { promptTokenIds: [0], completionTokenIds: [4, 4] }
    ], 6, 8)
    const loss = () => tf.neg(tf.sum(sequenceLogProbs(m, batch))) as tf.Scalar
    const { grads } = tf.variableGrads(loss)
    const rand = (() => { let s = 7; return () => (s = (s * 16807) % 2147483647) / 2147483647 })()
    let checked = 0
    for (const name of ["wte.weight", "wpe.weight", "h.0.attn.c_attn.weight", "h.1.mlp.c_fc.weight", "h.0.ln_1.weight", "ln_f.bias", "h.1.attn.c_proj.bias"]) {
      const v = m.params.get(name)!
      const g = grads[v.name]!.dataSync()
      const base = v.dataSync().slice() as Float32Array
      for (let trial = 0; trial < 3; trial++) {
        const i = Math.floor(rand() * base.length)
        // f32 forward: use a fairly large step and compare with a relative tolerance
        const h = 1e-2
        const at = (delta: number) => {
          const w = base.slice(); w[i] = base[i]! + delta
          v.assign(tf.tensor(w, v.shape))
          return tf.tidy(() => loss().dataSync()[0]!)
        }
        const numeric = (at(h) - at(-h)) / (2 * h)
        v.assign(tf.tensor(base, v.shape))
        const analytic = g[i]!
        assert.closeTo(analytic, numeric, 2e-3 + 2e-2 * Math.abs(numeric), `${name}[${i}]`)
        checked++
      }
    }
    assert.strictEqual(checked, 21)
    Object.values(grads).forEach((t) => t.dispose())
    disposeBatch(batch); m.dispose()
  })
})
