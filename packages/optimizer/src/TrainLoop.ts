/**
 * The one optimisation loop — preference rounds, SFT and reward-model training all run on it:
 * seeded shuffling into steps of micro-batches, gradient accumulation (the step's gradient is the
 * mean over all its items), global-norm clipping, the learning-rate schedule, AdamW, NaN/Inf
 * checks, TRL-named metrics. What a micro-batch's gradient is comes from outside (`gradients`):
 * an objective on a policy engine (policyGradients), or the reward model's own loss.
 */
import { type Domain, Errors, Progress, type RunConfig, Seeds } from "@odpo/core"
import type { CausalLm, PolicyEngine } from "@odpo/model"
import * as tf from "@tensorflow/tfjs-core"
import { Effect } from "effect"
import { AdamW, clipFactor, squaredNorms } from "./AdamW.ts"
import type { MetricSink, Objective } from "./objectives/Objective.ts"
import { learningRateAt } from "./Schedule.ts"

const { deriveSeed, mulberry32, shuffled } = Seeds

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

/**
 * The gradient of Σ_items loss / `scale` over one micro-batch, w.r.t. the loop's variables (in
 * their order), with the loss value; metrics go to the sink.
 */
export type MicroBatchGradients<Item> = (
  items: ReadonlyArray<Item>,
  scale: number,
  context: { readonly dropoutSeed: number; readonly metrics: MetricSink }
) => Effect.Effect<PolicyEngine.Gradients>

/** An objective's micro-batch gradients on a policy engine. */
export const policyGradients = <Item>(
  engine: PolicyEngine.PolicyEngine,
  model: CausalLm.CausalLm,
  padId: number,
  objective: Objective<Item>
): MicroBatchGradients<Item> =>
(items, scale, { dropoutSeed, metrics }) =>
  engine.gradients(model, objective.sequences(items), (logps) => tf.div(objective.lossSum(items, logps, metrics), scale) as tf.Scalar, {
    padId,
    dropoutSeed
  })

/** A metric accumulated over a step: its mean is sum / count. */
export interface Stat {
  sum: number
  count: number
}
export type Stats = Record<string, Stat>

export interface StepGradients {
  /** Mean gradient over the step's items, aligned with the variables; the caller disposes them. */
  readonly grads: Array<tf.Tensor>
  /** The step's mean loss. */
  readonly loss: number
  /** √(Σ ‖g‖²) over all parameters, before clipping. */
  readonly norm: number
  readonly stats: Stats
}

/**
 * Gradients of one step: Σ over micro-batches of ∇(Σ_items loss / n_step), so 4 micro-batches of 8
 * give the gradient of one batch of 32 (up to float rounding). The step's numbers — loss, metric
 * sums and the gradient norm — come back from the device in one read.
 */
export const stepGradients = Effect.fnUntraced(function*<Item>(
  gradients: MicroBatchGradients<Item>,
  microBatches: ReadonlyArray<ReadonlyArray<Item>>,
  dropoutSeed: number
) {
  const n = microBatches.reduce((a, m) => a + m.length, 0)
  const pending: Array<{ readonly name: string; readonly sum: tf.Tensor | number; readonly count: number }> = []
  const metrics: MetricSink = {
    add: (name, sum, count) => pending.push({ name, sum: typeof sum === "number" ? sum : tf.keep(sum), count })
  }
  const values: Array<tf.Scalar> = []
  let acc: Array<tf.Tensor> | undefined
  for (let k = 0; k < microBatches.length; k++) {
    const { value, grads } = yield* gradients(microBatches[k]!, n, { dropoutSeed: dropoutSeed * 31 + k, metrics })
    values.push(value)
    if (acc === undefined) acc = grads
    else {
      const prev = acc
      acc = prev.map((a, i) => tf.add(a, grads[i]!))
      tf.dispose([...prev, ...grads])
    }
  }
  const tensors = pending.filter((p) => typeof p.sum !== "number").map((p) => p.sum as tf.Tensor)
  const norms = squaredNorms(acc!)
  const read = tf.tidy(() => tf.concat([...values, ...tensors, ...norms].map((t) => tf.reshape(t, [1]))))
  const numbers = yield* Effect.promise(() => read.data())
  tf.dispose([read, ...values, ...tensors, ...norms])
  let i = 0
  let loss = 0
  for (; i < values.length; i++) loss += numbers[i]!
  const stats: Stats = {}
  for (const p of pending) {
    const s = (stats[p.name] ??= { sum: 0, count: 0 })
    s.sum += typeof p.sum === "number" ? p.sum : numbers[i++]!
    s.count += p.count
  }
  let squared = 0
  for (; i < numbers.length; i++) squared += numbers[i]!
  return { grads: acc!, loss, norm: Math.sqrt(squared), stats } satisfies StepGradients
})

export interface LoopOptions<Item> {
  /** The parameters AdamW updates, in the order `gradients` returns their gradients. */
  readonly variables: ReadonlyArray<tf.Variable>
  readonly items: ReadonlyArray<Item>
  readonly gradients: MicroBatchGradients<Item>
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
 * Train the variables in place. A NaN/Inf loss or gradient fails with NonFiniteLoss naming the
 * step (the caller then writes nothing). Progress: `tracker(label, steps, "steps")`.
 */
export const trainLoop = Effect.fn("TrainLoop.trainLoop")(function*<Item>(o: LoopOptions<Item>) {
  const t = o.training
  const plan = o.plan ?? planSteps(o.items.length, t.epochs, t.batchSize, t.gradAccum, o.seed)
  const progress = yield* Progress.tracker(o.label, plan.length, "steps")
  const out: Array<Domain.TrainStepMetrics> = []
  return yield* Effect.acquireUseRelease(
    Effect.sync(() => new AdamW(o.variables, { beta1: t.beta1, beta2: t.beta2, epsilon: t.epsilon, weightDecay: t.weightDecay })),
    (optimizer) =>
      Effect.gen(function*() {
        for (let s = 0; s < plan.length; s++) {
          const step = plan[s]!
          const micro = step.microBatches.map((m) => m.map((i) => o.items[i]!))
          const { grads, loss, norm, stats } = yield* stepGradients(o.gradients, micro, deriveSeed(o.seed, "dropout", s))
          if (!Number.isFinite(loss) || !Number.isFinite(norm)) {
            tf.dispose(grads)
            return yield* new Errors.NonFiniteLoss({
              step: s,
              message: `${o.label}: step ${s} (epoch ${step.epoch}) produced a non-finite ${Number.isFinite(loss) ? "gradient" : "loss"} ` +
                `(loss ${loss}, grad norm ${norm}); no checkpoint was written. Lower the learning rate or β, or check the reference log-probs`
            })
          }
          const lr = learningRateAt(s, plan.length, t)
          // clipping at maxGradNorm is AdamW's gradScale: the same products, no scaled copies
          optimizer.apply(grads, lr, clipFactor(norm, t.maxGradNorm))
          tf.dispose(grads)
          out.push({ step: s, epoch: step.epoch, metrics: stepMetrics(stats, norm, lr) })
          yield* progress.tick(1)
        }
        return out
      }),
    (optimizer) => Effect.sync(() => optimizer.dispose())
  )
})
