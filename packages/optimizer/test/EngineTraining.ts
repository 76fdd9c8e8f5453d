/** The tests' check that the training loop takes the same AdamW steps on two engines (tfjs cpu and onnx). */
import { assert } from "@effect/vitest"
import type { Domain, RunConfig } from "@odpo/core"
import type { CausalLm, PolicyEngine } from "@odpo/model"
import { Effect } from "effect"
import type { Objective } from "../src/objectives/index.ts"
import { policyGradients, trainLoop } from "../src/TrainLoop.ts"

/** The training loop on each engine, each from its own copy of `start`: the steps and the final weights. */
export const trainOnEach = <Item>(
  engines: readonly [PolicyEngine.PolicyEngine, PolicyEngine.PolicyEngine],
  start: CausalLm.CausalLm,
  items: ReadonlyArray<Item>,
  objective: Objective<Item>,
  training: RunConfig.TrainingConfig
) =>
  Effect.forEach(engines, (e) =>
    Effect.gen(function*() {
      const m = yield* Effect.promise(() => start.clone())
      const steps = yield* trainLoop({ variables: m.variables(), items, gradients: policyGradients(e, m, 0, objective), training, seed: 3, label: "test" })
      const weights = yield* Effect.promise(() => m.weights())
      m.dispose()
      return { steps, weights }
    }))

interface Trained {
  readonly steps: ReadonlyArray<Domain.TrainStepMetrics>
  readonly weights: Map<string, Float32Array>
}

/**
 * Four steps, the same loss (1e-5) and gradient norm (1e-4 relative) at each; Adam moves every
 * weight by ~lr a step, and the engines' weights agree far below that. Adam divides by √v: where a
 * gradient is near zero its float-order noise is a visible share of the step (GPT-2, measured: 31
 * of 7,120 weights differ by > 0.001·lr, the largest by 0.05·lr), so under 1 % of the weights may
 * differ by more than 0.001·lr, none by 0.1·lr.
 */
export const assertSameSteps = (a: Trained, b: Trained, startWeights: Map<string, Float32Array>, learningRate: number) => {
  assert.strictEqual(a.steps.length, 4)
  a.steps.forEach((s, i) => {
    assert.closeTo(b.steps[i]!.metrics["loss"]!, s.metrics["loss"]!, 1e-5)
    assert.closeTo(b.steps[i]!.metrics["grad_norm"]!, s.metrics["grad_norm"]!, 1e-4 * s.metrics["grad_norm"]!)
  })
  let moved = 0
  let apart = 0
  let count = 0
  let notEqual = 0
  for (const [name, w] of a.weights) {
    const v = b.weights.get(name)!
    const w0 = startWeights.get(name)!
    for (let i = 0; i < w.length; i++) {
      moved = Math.max(moved, Math.abs(w[i]! - w0[i]!))
      const d = Math.abs(w[i]! - v[i]!)
      apart = Math.max(apart, d)
      if (d > 1e-3 * learningRate) notEqual++
      count++
    }
  }
  assert.isAbove(moved, 4 * learningRate * 0.5)
  assert.isBelow(notEqual / count, 0.01)
  assert.isBelow(apart, 0.1 * learningRate)
}
