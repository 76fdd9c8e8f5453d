// The onnx engine's training step against tfjs: gradients of the objectives (losses/ on summed
// log-probs) through the VJP graph, and host AdamW steps, on a 2-layer model with real sessions.
import { assert, describe, it } from "@effect/vitest"
import type { Domain, RunConfig } from "@odpo/core"
import { Gpt, LogProbs, Onnx } from "@odpo/model"
import * as tf from "@tensorflow/tfjs-core"
import { Effect } from "effect"
import { AdamW, clipByGlobalNorm, globalNorm } from "../src/AdamW.ts"
import { HostAdamW, hostClipByGlobalNorm, hostGlobalNorm } from "../src/HostAdamW.ts"
import { kto, type PairLogps, pairLosses, type PairLossName } from "../src/losses/index.ts"

const config: Gpt.GptConfig = { vocabSize: 17, contextLength: 16, dModel: 16, nLayers: 2, nHeads: 2, dropout: 0 }

const weightsOf = (seed: number) => {
  const w = Gpt.initialParameters(config, seed)
  for (const [name, data] of w) if (!name.includes("ln_")) for (let i = 0; i < data.length; i++) data[i] = data[i]! * 6
  return w
}

const seq = (i: number, salt: number): Domain.Sequence => ({
  promptTokenIds: [1, ...Array.from({ length: i % 3 }, (_, t) => 3 + ((i + t * 5 + salt) % 14))],
  completionTokenIds: Array.from({ length: 2 + ((i * 5 + salt) % 7) }, (_, t) => 3 + ((i * 3 + t * 7 + salt) % 14))
})

const lossConfig = (type: RunConfig.LossName): RunConfig.LossConfig => ({
  type, beta: type === "simpo" ? 2 : 0.1, labelSmoothing: 0, simpoGamma: 1, rdpoAlpha: 0, ktoLambdaD: 1, ktoLambdaU: 1.2, sftWeight: 0
})

const P = 6 // pairs (or KTO examples)
const refs = Array.from({ length: 2 * P }, (_, i) => -14 - ((i * 7) % 5))

/**
 * The batch a micro-batch of the objective forwards (chosen then rejected; KTO: matched then
 * mismatched) and its loss as a function of the [2P, T−1] token log-probs, built as Objective.ts
 * builds it from losses/: mean over the items of the per-item loss.
 */
const objective = (type: RunConfig.LossName) => {
  const cfg = lossConfig(type)
  const seqs = [...Array.from({ length: P }, (_, i) => seq(i, 0)), ...Array.from({ length: P }, (_, i) => seq(i, 3))]
  const loss = (tokens: tf.Tensor2D): tf.Scalar => {
    const [a, b] = tf.split(tf.sum(tokens, -1), [P, P]) as [tf.Tensor1D, tf.Tensor1D]
    if (type === "kto") {
      const out = kto({
        policy: a, ref: tf.tensor1d(refs.slice(0, P)), desirable: tf.tensor1d([1, 0, 1, 1, 0, 0]),
        policyMismatched: b, refMismatched: tf.tensor1d(refs.slice(P))
      }, cfg)
      return tf.div(tf.sum(out.losses), P) as tf.Scalar
    }
    const x: PairLogps = {
      policyChosen: a, policyRejected: b,
      refChosen: tf.tensor1d(refs.slice(0, P)), refRejected: tf.tensor1d(refs.slice(P)),
      chosenLengths: tf.tensor1d(seqs.slice(0, P).map((s) => s.completionTokenIds.length)),
      rejectedLengths: tf.tensor1d(seqs.slice(P).map((s) => s.completionTokenIds.length))
    }
    return tf.div(tf.sum(pairLosses[type as PairLossName](x, cfg).losses), P) as tf.Scalar
  }
  return { seqs, loss }
}

describe("onnx training step", () => {
  for (const type of ["sigmoid", "ipo", "kto", "simpo", "sft"] as const) {
    it.effect(`${type}: every parameter's gradient equals tfjs's within 1e-4 of its largest entry`, () =>
      Effect.gen(function*() {
        const sessions = yield* Onnx.OnnxSessions.make({ provider: "cpu", threads: 1 })
        const weights = weightsOf(11)
        const model = new Gpt.Gpt(config, weights)
        const { seqs, loss } = objective(type)
        const host = yield* Onnx.OnnxPolicy.makeHostBatch(seqs, 0, config.contextLength)
        const onnx = yield* Onnx.OnnxPolicy.lossAndGradients(sessions, { config, weights }, host, loss)
        const batch = LogProbs.makeBatch(seqs, 0, config.contextLength)
        const { value, grads } = tf.variableGrads(() => loss(LogProbs.tokenLogProbs(model, batch)), model.variables())
        assert.closeTo(onnx.loss, value.dataSync()[0]!, 1e-5)
        let worst = 0
        for (const [name] of Gpt.parameterShapes(config)) {
          const expected = grads[model.params.get(name)!.name]!.dataSync()
          const got = onnx.grads.get(name)!
          let scale = 0
          let diff = 0
          for (let i = 0; i < expected.length; i++) {
            scale = Math.max(scale, Math.abs(expected[i]!))
            diff = Math.max(diff, Math.abs(got[i]! - expected[i]!))
          }
          assert.isAbove(scale, 0, `${name} has a gradient`)
          worst = Math.max(worst, diff / scale)
        }
        assert.isBelow(worst, 1e-4)
        tf.dispose([value, ...Object.values(grads)])
        LogProbs.disposeBatch(batch)
        model.dispose()
      }).pipe(Effect.scoped))
  }

  it("host AdamW takes the same steps as the tfjs AdamW, bit for bit (decay, bias correction, clipping)", () => {
    const model = new Gpt.Gpt(config, weightsOf(3))
    const host = new Map([...model.weights()].map(([n, w]) => [n, Float32Array.from(w)]))
    const options = { beta1: 0.9, beta2: 0.95, epsilon: 1e-8, weightDecay: 0.1 }
    const shapes = Gpt.parameterShapes(config)
    const tfOpt = new AdamW(model.variables(), options)
    const hostOpt = new HostAdamW(host, shapes, options)
    let seed = 5
    const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) - 0.5
    for (let step = 0; step < 4; step++) {
      const grads = new Map(shapes.map(([n, s]) => [n, Float32Array.from({ length: s.reduce((a, b) => a * b, 1) }, rand)]))
      const tfGrads = shapes.map(([n, s]) => tf.tensor(grads.get(n)!, s))
      const norm = globalNorm(tfGrads)
      assert.strictEqual(hostGlobalNorm(grads), norm)
      // clip at half the norm on odd steps: the clipped gradients must agree too
      const maxNorm = step % 2 === 1 ? norm / 2 : 0
      const clipped = clipByGlobalNorm(tfGrads, norm, maxNorm)
      tfOpt.apply(clipped, 3e-3)
      hostOpt.apply(hostClipByGlobalNorm(grads, hostGlobalNorm(grads), maxNorm), 3e-3)
      tf.dispose([...tfGrads, ...(clipped !== tfGrads ? clipped : [])])
    }
    const after = model.weights()
    let moved = 0
    for (const [name] of shapes) {
      assert.deepStrictEqual(host.get(name), after.get(name), name)
      moved = Math.max(moved, Math.abs(after.get(name)![0]! - weightsOf(3).get(name)![0]!))
    }
    assert.isAbove(moved, 1e-3)
    assert.strictEqual(hostOpt.step, 4)
    tfOpt.dispose()
    model.dispose()
  })
})
