// The optimizer on tfjs's webgpu backend against cpu: every loss's value, metrics and gradients;
// the training loop (AdamW, clipping, accumulation); the reward model; exact KL through the Trainer.
import { assert, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs-core"
import { Effect, Layer } from "effect"
import { Domain, RunConfig, Tokenizer, Trainer as CoreTrainer } from "@odpo/core"
import { Checkpoint, Gpt, LoadedModels, TfjsPolicyEngine } from "@odpo/model"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describeWebGpu, onBackend, relativeError } from "../../model/test/WebGpuAvailable.ts"
import { type KtoItem, type Objective, objectives } from "../src/objectives/index.ts"
import { fitRewardModel } from "../src/RewardModel.ts"
import * as Trainer from "../src/Trainer.ts"
import { policyGradients, stepGradients, trainLoop } from "../src/TrainLoop.ts"

const engine = TfjsPolicyEngine.tfjsPolicyEngine

const tokenizer = new Tokenizer.CharTokenizer({ symbols: ["a", "b", "c", "d", "e"] }) // vocab 8
const config: Gpt.GptConfig = { vocabSize: 8, contextLength: 8, dModel: 16, nLayers: 1, nHeads: 2, dropout: 0 }
const weights = Gpt.initialParameters(config, 4)
for (const [name, w] of weights) if (!name.includes("ln_")) for (let i = 0; i < w.length; i++) w[i] = w[i]! * 10
const loss = (o: Partial<RunConfig.LossConfig> = {}): RunConfig.LossConfig => ({
  type: "sigmoid", beta: 0.5, labelSmoothing: 0.1, simpoGamma: 1, rdpoAlpha: 0.2, ktoLambdaD: 1, ktoLambdaU: 1, sftWeight: 0.3, klMode: "reward", ppoClipEpsilon: 0.2, ...o
})

const seq = (x: number, ys: Array<number>): Domain.Sequence => ({ promptTokenIds: [1, 3 + x], completionTokenIds: [...ys.map((y) => 3 + y), 2] })
const pairs: Array<Domain.TrainingPair> = Array.from({ length: 8 }, (_, i) => ({
  chosen: seq(i % 5, [(i + 1) % 5]),
  rejected: seq(i % 5, [(i + 2) % 5, (i + 3) % 5].slice(0, 1 + (i % 2))),
  refChosenLogp: -2 - (i % 3) * 0.3,
  refRejectedLogp: -2.5 + (i % 4) * 0.2
}))
const ktoItems: Array<KtoItem> = pairs.map((p, i) => ({
  example: { sequence: i % 2 ? p.chosen : p.rejected, desirable: i % 2 === 1, refLogp: i % 2 ? p.refChosenLogp : p.refRejectedLogp },
  mismatched: { promptTokenIds: p.chosen.promptTokenIds, completionTokenIds: pairs[(i + 1) % 8]!.rejected.completionTokenIds },
  refMismatchedLogp: -3 + i * 0.1
}))

/** One step's loss, norm, metrics and gradients of `objective` on `backend`. */
const step = <Item>(backend: "cpu" | "webgpu", objective: Objective<Item>, items: ReadonlyArray<Item>) =>
  onBackend(backend, async () => {
    const model = new Gpt.Gpt(config, weights)
    const out = await Effect.runPromise(stepGradients(policyGradients(engine, model, 0, objective), [items.slice(0, 3), items.slice(3)], 0))
    const grads = await Promise.all(out.grads.map((g) => g.data()))
    tf.dispose(out.grads)
    model.dispose()
    return { ...out, grads }
  })

const closeRelative = (a: number, b: number, what: string) => assert.isAtMost(Math.abs(a - b), 1e-4 * Math.max(Math.abs(b), 1e-3), what)

const root = mkdtempSync(join(tmpdir(), "odpo-webgpu-opt-"))

describeWebGpu("optimizer on webgpu", () => {
  it("every loss: value, metrics, grad norm and gradients match cpu within 1e-4 relative", async () => {
    // Every preference loss (the policy-gradient objectives train on samples, not pairs: their own tests cover them).
    for (const name of RunConfig.LossName.literals.filter((n) => n !== "rloo" && n !== "ppo_clip")) {
      const objective = objectives[name as keyof typeof objectives](loss({ type: name }))
      const [cpu, gpu] = name === "kto"
        ? [await step("cpu", objective as Objective<KtoItem>, ktoItems), await step("webgpu", objective as Objective<KtoItem>, ktoItems)]
        : [await step("cpu", objective as Objective<Domain.TrainingPair>, pairs), await step("webgpu", objective as Objective<Domain.TrainingPair>, pairs)]
      closeRelative(gpu.loss, cpu.loss, `${name}: loss`)
      closeRelative(gpu.norm, cpu.norm, `${name}: grad norm`)
      assert.isAbove(cpu.norm, 1e-3, `${name}: a gradient to compare`)
      assert.deepStrictEqual(Object.keys(gpu.stats).sort(), Object.keys(cpu.stats).sort())
      for (const [k, s] of Object.entries(cpu.stats)) closeRelative(gpu.stats[k]!.sum, s.sum, `${name}: ${k}`)
      cpu.grads.forEach((g, i) => assert.isBelow(relativeError(gpu.grads[i]!, g), 1e-4, `${name}: gradient ${i}`))
    }
  })

  it("the training loop (AdamW, clipping, accumulation, warm-up) ends at the cpu weights within 1e-4 relative; no leaks", async () => {
    const training: RunConfig.TrainingConfig = {
      epochs: 2, batchSize: 4, gradAccum: 2, learningRate: 1e-2, warmupSteps: 1, schedule: "cosine",
      // ε 1e-3, not 1e-8: the key bias has an analytically zero gradient (softmax ignores a shift),
      // and Adam would scale each backend's rounding noise there (~1e-9) up to a full step of ±lr.
      weightDecay: 0.1, beta1: 0.9, beta2: 0.999, epsilon: 1e-3, maxGradNorm: 0.5
    }
    const train = (backend: "cpu" | "webgpu") =>
      onBackend(backend, async () => {
        const model = new Gpt.Gpt(config, weights)
        const before = tf.memory().numTensors
        const steps = await Effect.runPromise(trainLoop({
          variables: model.variables(), items: pairs, gradients: policyGradients(engine, model, 0, objectives.sigmoid(loss())), training, seed: 1, label: "test"
        }))
        const leaked = tf.memory().numTensors - before
        const w = await model.weights()
        model.dispose()
        return { steps, w, leaked }
      })
    const cpu = await train("cpu")
    const gpu = await train("webgpu")
    assert.strictEqual(gpu.steps.length, 4)
    assert.isAbove(cpu.steps[0]!.metrics["grad_norm"]!, 0.5) // clipping is exercised
    gpu.steps.forEach((s, i) => closeRelative(s.metrics["loss"]!, cpu.steps[i]!.metrics["loss"]!, `step ${i} loss`))
    for (const [name, w] of cpu.w) assert.isBelow(relativeError(gpu.w.get(name)!, w), 1e-4, name)
    assert.strictEqual(gpu.leaked, 0)
  })

  it("reward-model training: the same losses and accuracy as cpu", async () => {
    const rmPairs = Array.from({ length: 12 }, (_, i) => ({ prompt: [1, 3 + (i % 5)], chosen: [3 + ((i + 1) % 5), 2], rejected: [3 + ((i + 3) % 5), 2] }))
    const fit = (backend: "cpu" | "webgpu") =>
      onBackend(backend, async () => {
        const r = await Effect.runPromise(fitRewardModel({
          pairs: rmPairs, model: { ...config, vocabSize: 0 }, tokenizer, steps: 4, learningRate: 1e-2, validationFraction: 0.25, seed: 2, batchSize: 4
        }))
        r.model.dispose()
        return r
      })
    const cpu = await fit("cpu")
    const gpu = await fit("webgpu")
    gpu.losses.forEach((l, i) => closeRelative(l, cpu.losses[i]!, `step ${i}`))
    assert.strictEqual(gpu.trainAccuracy, cpu.trainAccuracy)
  })

  it("exact KL, entropy and log-probs through the Trainer service match cpu", async () => {
    const policy = await Effect.runPromise(Checkpoint.saveCheckpoint(root, new Gpt.Gpt(config, weights), tokenizer))
    const reference = await Effect.runPromise(Checkpoint.saveCheckpoint(root, Gpt.Gpt.init(config, 9), tokenizer))
    const sequences = pairs.flatMap((p) => [p.chosen, p.rejected])
    const stats = (backend: "cpu" | "webgpu") =>
      onBackend(backend, async () => {
        // A fresh LoadedModels per backend: loaded models belong to the backend that loaded them.
        return await Effect.runPromise(Effect.provide(
          Effect.flatMap(CoreTrainer.Trainer, (t) => t.sequenceStats(policy, reference, sequences)),
          Trainer.layer.pipe(Layer.provide(LoadedModels.LoadedModels.layer))
        ))
      })
    const cpu = await stats("cpu")
    const gpu = await stats("webgpu")
    assert.isAbove(Math.max(...cpu.map((s) => s.kl)), 0.1)
    for (const k of ["kl", "entropy", "logp"] as const) assert.isBelow(relativeError(gpu.map((s) => s[k]), cpu.map((s) => s[k])), 1e-4, k)
  })
})
