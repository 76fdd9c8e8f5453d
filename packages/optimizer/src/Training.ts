/**
 * The optimisation loop shared by preference training and SFT: seeded shuffling into steps of
 * micro-batches, gradient accumulation (the step's gradient is the mean over all its items),
 * global-norm clipping, the learning-rate schedule, AdamW, NaN/Inf checks, TRL-named metrics.
 */
import * as tf from "@tensorflow/tfjs-core"
import { Effect } from "effect"
import type { Domain, RunConfig } from "@odpo/core"
import type { Gpt } from "@odpo/model"
import { Errors, Progress } from "@odpo/core"
import { deriveSeed, mulberry32, shuffled } from "./Random.ts"
import { AdamW, clipByGlobalNorm, globalNormSquared } from "./AdamW.ts"
import { type Objective, PendingStats, type Stats } from "./Objective.ts"
import { learningRateAt } from "./Schedule.ts"

/** One optimizer step: its epoch and the item indices of each micro-batch. */
export interface StepPlan {
  readonly epoch: number
  readonly microBatches: ReadonlyArray<ReadonlyArray<number>>
}

/**
 * E epochs over n items, each a fresh seeded permutation cut into steps of `batchSize` (the last
 * step of an epoch may be smaller), each step cut into `gradAccum` micro-batches of near-equal size.
 */
export const planSteps = (n: number, epochs: number, batchSize: number, gradAccum: number, seed: number): Array<StepPlan> => {
  const steps: Array<StepPlan> = []
  for (let epoch = 0; epoch < epochs; epoch++) {
    const order = shuffled(Array.from({ length: n }, (_, i) => i), mulberry32(deriveSeed(seed, "epoch", epoch)))
    for (let start = 0; start < n; start += batchSize) {
      const step = order.slice(start, start + batchSize)
      const parts = Math.min(gradAccum, step.length)
      const micro: Array<Array<number>> = []
      for (let k = 0; k < parts; k++) micro.push(step.slice(Math.floor((k * step.length) / parts), Math.floor(((k + 1) * step.length) / parts)))
      steps.push({ epoch, microBatches: micro })
    }
  }
  return steps
}

export interface StepGradients {
  /** Mean gradient over the step's items, aligned with model.variables(); the caller disposes them. */
  readonly grads: Array<tf.Tensor>
  /** The step's mean loss. */
  readonly loss: number
  /** ‖grads‖ over all parameters. */
  readonly norm: number
  readonly stats: Stats
}

/**
 * Gradients of one step: Σ over micro-batches of ∇(Σ_items loss / n_step), so 4 micro-batches
 * of 8 give the gradient of one batch of 32 (up to float rounding). The loss, the gradient norm
 * and every metric come to the host in one read-back at the end of the step.
 */
export const stepGradients = async <Item>(
  model: Gpt.Gpt,
  objective: Objective<Item>,
  microBatches: ReadonlyArray<ReadonlyArray<Item>>,
  options: { readonly padId: number; readonly loss: RunConfig.LossConfig; readonly dropoutSeed: number }
): Promise<StepGradients> => {
  const variables = model.variables()
  const n = microBatches.reduce((a, m) => a + m.length, 0)
  const pending = new PendingStats()
  let acc: Array<tf.Tensor> | undefined
  const values: Array<tf.Scalar> = []
  microBatches.forEach((items, k) => {
    const ctx = { model, padId: options.padId, loss: options.loss, dropoutSeed: options.dropoutSeed * 31 + k, stats: pending }
    const { value, grads } = tf.variableGrads(() => tf.div(objective.lossSum(items, ctx), n) as tf.Scalar, variables)
    values.push(value)
    const g = variables.map((v) => grads[v.name] ?? tf.zerosLike(v))
    if (acc === undefined) acc = g
    else {
      const prev = acc
      acc = prev.map((a, i) => tf.add(a, g[i]!))
      tf.dispose([...prev, ...g])
    }
  })
  const loss = tf.tidy(() => tf.sum(tf.stack(values)) as tf.Scalar) // not tf.addN: see globalNormSquared
  const normSquared = globalNormSquared(acc!)
  const { stats, extra } = await pending.read([loss, normSquared])
  tf.dispose([...values, loss, normSquared])
  return { grads: acc!, loss: extra[0]!, norm: Math.sqrt(extra[1]!), stats }
}

export interface LoopOptions<Item> {
  readonly model: Gpt.Gpt
  readonly items: ReadonlyArray<Item>
  readonly objective: Objective<Item>
  readonly padId: number
  readonly loss: RunConfig.LossConfig
  readonly training: RunConfig.TrainingConfig
  readonly seed: number
  /** Progress label, e.g. "round 2 · train". */
  readonly label: string
  /** Steps to run; default: epochs × ⌈items / batchSize⌉ (SFT passes its own plan). */
  readonly plan?: ReadonlyArray<StepPlan>
}

/** Mean of every accumulated stat, plus grad_norm and learning_rate. */
const stepMetrics = (stats: Stats, gradNorm: number, lr: number): Record<string, number> => {
  const out: Record<string, number> = {}
  for (const [name, { sum, count }] of Object.entries(stats)) if (count > 0) out[name] = sum / count
  out["grad_norm"] = gradNorm
  out["learning_rate"] = lr
  return out
}

/**
 * Train `model` in place. A NaN/Inf loss or gradient fails with NonFiniteLoss naming the step
 * (the caller then writes nothing). Progress: `tracker(label, steps, "steps")`.
 */
export const trainLoop = Effect.fn("Training.trainLoop")(function*<Item>(o: LoopOptions<Item>) {
  const t = o.training
  const plan = o.plan ?? planSteps(o.items.length, t.epochs, t.batchSize, t.gradAccum, o.seed)
  const progress = yield* Progress.tracker(o.label, plan.length, "steps")
  const optimizer = new AdamW(o.model.variables(), { beta1: t.beta1, beta2: t.beta2, epsilon: t.epsilon, weightDecay: t.weightDecay })
  const out: Array<Domain.TrainStepMetrics> = []
  try {
    for (let s = 0; s < plan.length; s++) {
      const step = plan[s]!
      const micro = step.microBatches.map((m) => m.map((i) => o.items[i]!))
      const { grads, loss, norm, stats } = yield* Effect.promise(() =>
        stepGradients(o.model, o.objective, micro, {
          padId: o.padId,
          loss: o.loss,
          dropoutSeed: deriveSeed(o.seed, "dropout", s)
        })
      )
      if (!Number.isFinite(loss) || !Number.isFinite(norm)) {
        tf.dispose(grads)
        return yield* new Errors.NonFiniteLoss({
          step: s,
          message: `${o.label}: step ${s} (epoch ${step.epoch}) produced a non-finite ${Number.isFinite(loss) ? "gradient" : "loss"} ` +
            `(loss ${loss}, grad norm ${norm}); no checkpoint was written. Lower the learning rate or β, or check the reference log-probs`
        })
      }
      const clipped = clipByGlobalNorm(grads, norm, t.maxGradNorm)
      const lr = learningRateAt(s, plan.length, t)
      optimizer.apply(clipped, lr)
      if (clipped !== grads) tf.dispose(clipped as Array<tf.Tensor>)
      tf.dispose(grads)
      out.push({ step: s, epoch: step.epoch, metrics: stepMetrics(stats, norm, lr) })
      yield* progress.tick(1)
    }
  } finally {
    optimizer.dispose()
  }
  return out
})
