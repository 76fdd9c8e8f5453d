// A DPO step of a Llama-family policy on the onnx engine against tfjs cpu: the step's loss and
// gradients, and the AdamW steps of the one training loop (clipping, decay, accumulation).
import { assert, describe, it } from "@effect/vitest"
import type { Domain, RunConfig } from "@odpo/core"
import { Llama, Onnx, TfjsPolicyEngine } from "@odpo/model"
import * as tf from "@tensorflow/tfjs-core"
import { Effect } from "effect"
import { objectives } from "../src/objectives/index.ts"
import { policyGradients, stepGradients } from "../src/TrainLoop.ts"
import { assertSameSteps, trainOnEach } from "./EngineTraining.ts"

const tfjs = TfjsPolicyEngine.tfjsPolicyEngine
// Qwen2-shaped: GQA 4:2, q/k/v bias, untied head
const config: Llama.LlamaConfig = {
  architecture: "qwen2", vocabSize: 17, contextLength: 16, dModel: 16, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 4,
  intermediateSize: 24, ropeTheta: 10000, ropeScaling: null, rmsNormEps: 1e-6, tieWordEmbeddings: false,
  qkvBias: true, oBias: false, qkNorm: false, dropout: 0
}

const model = (seed: number) => {
  const w = Llama.initialParameters(config, seed)
  for (const [name, data] of w) if (!name.endsWith("norm.weight")) for (let i = 0; i < data.length; i++) data[i] = data[i]! * 6 + (name.endsWith("bias") ? 0.05 * Math.sin(i + seed) : 0)
  return new Llama.Llama(config, w)
}

const seq = (i: number, salt: number): Domain.Sequence => ({
  promptTokenIds: [1, ...Array.from({ length: i % 3 }, (_, t) => 3 + ((i + t * 5) % 14))],
  completionTokenIds: Array.from({ length: 2 + ((i * 5 + salt) % 7) }, (_, t) => 3 + ((i * 3 + t * 7 + salt) % 14))
})

const loss: RunConfig.LossConfig = {
  type: "sigmoid", beta: 0.1, labelSmoothing: 0, simpoGamma: 1, rdpoAlpha: 0, ktoLambdaD: 1, ktoLambdaU: 1.2, ktoDesirableDrop: 0, sftWeight: 0,
  klMode: "reward", ppoClipEpsilon: 0.2
}

const training: RunConfig.TrainingConfig = {
  epochs: 2, batchSize: 4, gradAccum: 2, learningRate: 3e-3, warmupSteps: 0, schedule: "constant",
  weightDecay: 0.05, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, maxGradNorm: 1
}

/** Six DPO pairs with reference log-probs from a second model. */
const dpoItems = (reference: Llama.Llama) =>
  Effect.gen(function*() {
    const raw = Array.from({ length: 6 }, (_, i) => [seq(i, 0), seq(i, 3)] as const)
    const refChosen = yield* tfjs.sequenceLogps(reference, raw.map(([c]) => c), 0)
    const refRejected = yield* tfjs.sequenceLogps(reference, raw.map(([, r]) => r), 0)
    const pairs = raw.map(([chosen, rejected], i): Domain.TrainingPair => ({ chosen, rejected, refChosenLogp: refChosen[i]!, refRejectedLogp: refRejected[i]! }))
    const objective = objectives.sigmoid(loss)
    const items = yield* objective.items({ pairs, samples: [] }, {
      contextLength: config.contextLength,
      vocabSize: config.vocabSize,
      seed: 0,
      referenceLogps: (seqs) => tfjs.sequenceLogps(reference, seqs, 0),
      referenceTokenLogps: (seqs) => tfjs.tokenLogps(reference, seqs, 0)
    })
    return { objective, items }
  })

const onnxEngine = Effect.gen(function*() {
  const sessions = yield* Onnx.OnnxSessions.make({ provider: "cpu", threads: 1 })
  return yield* Onnx.OnnxPolicyEngine.make("onnx").pipe(Effect.provideService(Onnx.OnnxSessions.OnnxSessionPool, sessions))
})

describe("a Llama-family DPO step on the onnx engine", () => {
  it.effect("the step's loss, gradient norm and every parameter's gradient equal tfjs cpu's (1e-4 of the largest entry)", () =>
    Effect.gen(function*() {
      const engine = yield* onnxEngine
      const [policy, reference] = [model(11), model(12)]
      const { objective, items } = yield* dpoItems(reference)
      const onnx = yield* stepGradients(policyGradients(engine, policy, 0, objective), [items], 0)
      const ref = yield* stepGradients(policyGradients(tfjs, policy, 0, objective), [items], 0)
      assert.closeTo(onnx.loss, ref.loss, 1e-5)
      assert.isAbove(Math.abs(ref.loss - Math.log(2)), 1e-3) // the policy differs from the reference
      assert.closeTo(onnx.norm, ref.norm, 1e-4 * ref.norm)
      Llama.parameterShapes(config).forEach(([name], i) => {
        const expected = ref.grads[i]!.dataSync()
        const got = onnx.grads[i]!.dataSync()
        let scale = 0
        let diff = 0
        for (let j = 0; j < expected.length; j++) {
          scale = Math.max(scale, Math.abs(expected[j]!))
          diff = Math.max(diff, Math.abs(got[j]! - expected[j]!))
        }
        assert.isAbove(scale, 0, `${name} has a gradient`)
        assert.isBelow(diff / scale, 1e-4, name)
      })
      tf.dispose([...onnx.grads, ...ref.grads])
      policy.dispose()
      reference.dispose()
    }).pipe(Effect.scoped))

  it.effect("the training loop takes the same AdamW steps on both engines", () =>
    Effect.gen(function*() {
      const engine = yield* onnxEngine
      const reference = model(12)
      const { objective, items } = yield* dpoItems(reference)
      const start = model(11)
      const [a, b] = yield* trainOnEach([tfjs, engine], start, items, objective, training)
      assertSameSteps(a, b, yield* Effect.promise(() => start.weights()), training.learningRate)
      start.dispose()
      reference.dispose()
    }).pipe(Effect.scoped))
})
