// The Trainer on real tiny checkpoints: accumulation, a DPO round that learns, SFT, KTO, bad input, NaN, leaks.
import { assert, describe, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs-core"
import { Effect, Exit, Layer } from "effect"
import { Domain, RunConfig, Tokenizer, Trainer as CoreTrainer } from "@odpo/core"
import { Checkpoint, Gpt, LoadedModels, LogProbs, TfjsPolicyEngine } from "@odpo/model"
import { existsSync, mkdtempSync, readdirSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { heldOutNll, objectives } from "../src/objectives/index.ts"
import * as Trainer from "../src/Trainer.ts"
import { policyGradients, stepGradients } from "../src/TrainLoop.ts"

const tokenizer = new Tokenizer.CharTokenizer({ symbols: ["a", "b", "c", "d", "e"] }) // vocab 8
const config: Gpt.GptConfig = { vocabSize: 8, contextLength: 8, dModel: 16, nLayers: 1, nHeads: 2, dropout: 0 }
const loss = (o: Partial<RunConfig.LossConfig> = {}): RunConfig.LossConfig => ({
  type: "sigmoid", beta: 0.1, labelSmoothing: 0, simpoGamma: 1, rdpoAlpha: 0, ktoLambdaD: 1, ktoLambdaU: 1, sftWeight: 0,
  klMode: "reward", ppoClipEpsilon: 0.2, ...o
})
const training = (o: Partial<RunConfig.TrainingConfig> = {}): RunConfig.TrainingConfig => ({
  epochs: 1, batchSize: 16, gradAccum: 1, learningRate: 1e-3, warmupSteps: 0, schedule: "constant",
  weightDecay: 0, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, maxGradNorm: 1, ...o
})
const trainerLayer = Trainer.layer.pipe(Layer.provide(LoadedModels.LoadedModels.layer))
const run = <A, E>(e: Effect.Effect<A, E, CoreTrainer.Trainer>) => Effect.runPromise(Effect.provide(e, trainerLayer))
const withTrainer = <A, E>(f: (t: CoreTrainer.Trainer["Service"]) => Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    return yield* f(yield* CoreTrainer.Trainer)
  })
const runExit = <A, E>(e: Effect.Effect<A, E, CoreTrainer.Trainer>) => Effect.runPromiseExit(Effect.provide(e, trainerLayer))

const root = mkdtempSync(join(tmpdir(), "odpo-opt-"))
const initial = async (seed: number) => {
  const m = Gpt.Gpt.init(config, seed)
  const ref = await Effect.runPromise(Checkpoint.saveCheckpoint(root, m, tokenizer))
  m.dispose()
  return ref
}

/** Prompt [BOS, x]; the chosen continues x with x+1, the rejected with x+2 (mod 5), both then EOS. */
const seq = (x: number, y: number): Domain.Sequence => ({ promptTokenIds: [1, 3 + x], completionTokenIds: [3 + y, 2] })
const toyPairs = (): Array<Domain.Sequence[]> => {
  const out: Array<Domain.Sequence[]> = []
  for (let r = 0; r < 4; r++) for (let x = 0; x < 5; x++) out.push([seq(x, (x + 1) % 5), seq(x, (x + 2 + r) % 5)])
  return out.filter(([c, r]) => c!.completionTokenIds[0] !== r!.completionTokenIds[0])
}
const withRefs = (ref: Domain.CheckpointRef, raw: Array<Domain.Sequence[]>) =>
  Effect.gen(function*() {
    const t = yield* CoreTrainer.Trainer
    const lc = yield* t.referenceLogps(ref, raw.map((p) => p[0]!))
    const lr = yield* t.referenceLogps(ref, raw.map((p) => p[1]!))
    return raw.map(([chosen, rejected], i): Domain.TrainingPair => ({ chosen: chosen!, rejected: rejected!, refChosenLogp: lc[i]!, refRejectedLogp: lr[i]! }))
  })

describe("Trainer", () => {
  it("accumulating 4 micro-batches of 8 gives the gradient of one batch of 32", async () => {
    const model = Gpt.Gpt.init(config, 5)
    const pairs: Array<Domain.TrainingPair> = Array.from({ length: 32 }, (_, i) => ({
      chosen: seq(i % 5, (i + 1) % 5), rejected: seq((i + 2) % 5, (i * 3) % 5), refChosenLogp: -3 - (i % 4) * 0.1, refRejectedLogp: -3.2 + (i % 3) * 0.2
    }))
    const gradients = policyGradients(TfjsPolicyEngine.tfjsPolicyEngine, model, 0, objectives.sigmoid(loss({ sftWeight: 0.3 })))
    const one = await Effect.runPromise(stepGradients(gradients, [pairs], 0))
    const four = await Effect.runPromise(stepGradients(gradients, [0, 1, 2, 3].map((k) => pairs.slice(8 * k, 8 * k + 8)), 0))
    assert.closeTo(one.norm, four.norm, 1e-5 * one.norm)
    assert.closeTo(one.loss, four.loss, 1e-6)
    assert.closeTo(one.stats["rewards/margins"]!.sum / 32, four.stats["rewards/margins"]!.sum / 32, 1e-6)
    let maxAbs = 0
    one.grads.forEach((g, i) => {
      const a = g.dataSync(), b = four.grads[i]!.dataSync()
      for (let j = 0; j < a.length; j++) {
        maxAbs = Math.max(maxAbs, Math.abs(a[j]!))
        assert.isAtMost(Math.abs(a[j]! - b[j]!), 1e-5 * Math.max(1e-2, Math.abs(a[j]!)), `variable ${i}[${j}]`)
      }
    })
    assert.isAbove(maxAbs, 1e-3) // the gradients are not trivially zero
    tf.dispose([...one.grads, ...four.grads])
    model.dispose()
  })

  it("a DPO round on a toy preference set reaches reward accuracy ≥ 0.95 and prefers the chosen", async () => {
    const policy = await initial(1)
    const raw = toyPairs()
    const { result, pairs } = await run(Effect.gen(function*() {
      const pairs = yield* withRefs(policy, raw)
      const result = yield* (yield* CoreTrainer.Trainer).train({
        policy, pairs, loss: loss({ beta: 0.5 }), training: training({ epochs: 12, batchSize: 8, learningRate: 1e-2 }),
        seed: 3, checkpointRoot: root, label: "toy"
      })
      return { result, pairs }
    }))
    const steps = result.steps
    assert.strictEqual(steps.length, 12 * Math.ceil(raw.length / 8))
    const last = steps[steps.length - 1]!.metrics
    for (const k of ["loss", "rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies", "logps/chosen", "logps/rejected", "grad_norm", "learning_rate"]) {
      assert.isTrue(Number.isFinite(last[k]), `metric ${k}`)
    }
    assert.isAtLeast(last["rewards/accuracies"]!, 0.95)
    assert.isBelow(last["loss"]!, steps[0]!.metrics["loss"]!)
    assert.closeTo(steps[0]!.metrics["loss"]!, Math.log(2), 1e-4) // policy = reference at step 0
    assert.strictEqual(last["learning_rate"], 1e-2)
    // the new checkpoint: log π(y_w) − log π(y_l) rose on every pair
    const trained = await Effect.runPromise(Checkpoint.loadCheckpoint(result.checkpoint.path))
    const after = await LogProbs.scoreSequences(trained.model, pairs.flatMap((p) => [p.chosen, p.rejected]), 0)
    pairs.forEach((p, i) => assert.isAbove(after[2 * i]! - after[2 * i + 1]!, p.refChosenLogp - p.refRejectedLogp))
    trained.model.dispose()
  })

  it("bad input: unknown loss, β ≤ 0, empty pairs, too long → InvalidInput naming the field", async () => {
    const policy = await initial(2)
    const pair: Domain.TrainingPair = { chosen: seq(0, 1), rejected: seq(0, 2), refChosenLogp: -4, refRejectedLogp: -4 }
    const base = { policy, pairs: [pair], loss: loss(), training: training(), seed: 0, checkpointRoot: root }
    const cases: Array<[Partial<CoreTrainer.TrainRequest>, string]> = [
      [{ loss: loss({ type: "dpo" as "sigmoid" }) }, "loss.type: "],
      [{ loss: loss({ beta: 0 }) }, "loss.beta: "],
      [{ pairs: [] }, "request.pairs is empty"],
      [{ pairs: [{ ...pair, rejected: { promptTokenIds: [1, 3, 4], completionTokenIds: [3, 4, 5, 6, 7, 2] } }] }, "pairs[0].rejected: prompt (3) + completion (6) = 9 tokens exceeds the model's context length 8"],
      [{ pairs: [{ ...pair, refChosenLogp: Number.NaN }] }, "pairs[0]: reference log-probs must be finite"],
      [{ loss: loss({ type: "kto" }), pairs: [] }, "request.pairs is empty"]
    ]
    for (const [override, message] of cases) {
      const exit = await runExit(withTrainer((t) => t.train({ ...base, ...override })))
      assert.isTrue(Exit.isFailure(exit))
      const err = Exit.isFailure(exit) ? (exit.cause.reasons[0] as { error?: { _tag: string; message: string } }).error : undefined
      assert.strictEqual(err?._tag, "InvalidInput")
      assert.include(err!.message, message)
    }
  })

  it("a non-finite loss stops the round with NonFiniteLoss naming the step, and writes no checkpoint", async () => {
    const policy = await initial(3)
    const before = readdirSync(root).length
    // IPO squares the margin: a reference log-prob of −3e38 is finite but its square is not
    const pairs: Array<Domain.TrainingPair> = [{ chosen: seq(0, 1), rejected: seq(0, 2), refChosenLogp: 3e38, refRejectedLogp: -3e38 }]
    const exit = await runExit(withTrainer((t) =>
      t.train({ policy, pairs, loss: loss({ type: "ipo" }), training: training(), seed: 0, checkpointRoot: root })))
    const err = Exit.isFailure(exit) ? (exit.cause.reasons[0] as { error?: { _tag: string; step: number; message: string } }).error : undefined
    assert.strictEqual(err?._tag, "NonFiniteLoss")
    assert.strictEqual(err!.step, 0)
    assert.include(err!.message, "step 0")
    assert.strictEqual(readdirSync(root).length, before)
  })

  it("SFT lowers the held-out NLL, and training leaks no tensors", async () => {
    const policy = await initial(4)
    // demonstrations: after x comes x+1, then EOS
    const demos = Array.from({ length: 40 }, (_, i) => seq(i % 5, (i + 1) % 5))
    const heldOut = [0, 1, 2, 3, 4].map((x) => seq(x, (x + 1) % 5))
    const start = await Effect.runPromise(Checkpoint.loadCheckpoint(policy.path))
    const nll0 = await heldOutNll(start.model, heldOut, 0)
    start.model.dispose()
    const tensorsBefore = tf.memory().numTensors
    const result = await run(withTrainer((t) =>
      t.sft({ policy, demonstrations: demos, sft: { steps: 40, batchSize: 8, learningRate: 1e-2 }, seed: 1, checkpointRoot: root })))
    assert.strictEqual(tf.memory().numTensors, tensorsBefore)
    assert.strictEqual(result.steps.length, 40)
    assert.deepStrictEqual(Object.keys(result.steps[0]!.metrics).sort(), ["grad_norm", "learning_rate", "loss"])
    const trained = await Effect.runPromise(Checkpoint.loadCheckpoint(result.checkpoint.path))
    const nll1 = await heldOutNll(trained.model, heldOut, 0)
    assert.isBelow(nll1, nll0 * 0.5)
    assert.closeTo(result.steps[0]!.metrics["loss"]!, nll0, 0.05) // step 0 is measured before any update
    trained.model.dispose()
  })

  it("KTO trains on labelled examples: desirable log-probs rise, undesirable fall, z₀ is logged", async () => {
    const policy = await initial(6)
    const raw = toyPairs().slice(0, 10)
    const result = await run(Effect.gen(function*() {
      const pairs = yield* withRefs(policy, raw)
      return yield* (yield* CoreTrainer.Trainer).train({
        policy, pairs, loss: loss({ type: "kto", beta: 0.5 }), training: training({ epochs: 6, batchSize: 10, learningRate: 1e-2 }),
        seed: 2, checkpointRoot: root
      })
    }))
    const first = result.steps[0]!.metrics, last = result.steps[result.steps.length - 1]!.metrics
    assert.closeTo(first["kl"]!, 0, 1e-6) // policy = reference at step 0: z₀ = max(0, ~0)
    assert.closeTo(first["loss"]!, 0.5, 1e-4) // 1 − σ(0)
    assert.isAbove(last["rewards/chosen"]!, 0)
    assert.isBelow(last["rewards/rejected"]!, 0)
    assert.isBelow(last["loss"]!, 0.45)
  })
})
