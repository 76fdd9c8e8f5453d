/**
 * AdamW over weights held on the host (Float32Arrays, as the onnx engine holds them): the update of
 * AdamW.ts, each operation rounded to float32 in the order tfjs's cpu backend rounds it (binary
 * ops compute in float64 and store float32; constants are float32 tensors; sums accumulate in
 * float64). From equal gradients the two engines therefore take bit-equal steps.
 */
import type { AdamWOptions } from "./AdamW.ts"

const f = Math.fround

export class HostAdamW {
  private t = 0
  private readonly m = new Map<string, Float32Array>()
  private readonly v = new Map<string, Float32Array>()

  /** `shapes`: every parameter's name and shape (decay applies to rank ≥ 2 only, as AdamW.ts). */
  constructor(
    readonly weights: ReadonlyMap<string, Float32Array>,
    readonly shapes: ReadonlyArray<readonly [string, ReadonlyArray<number>]>,
    readonly options: AdamWOptions
  ) {
    for (const [name] of shapes) {
      this.m.set(name, new Float32Array(weights.get(name)!.length))
      this.v.set(name, new Float32Array(weights.get(name)!.length))
    }
  }

  /** Steps taken so far. */
  get step(): number {
    return this.t
  }

  /** One update of every weight in place; `grads` by parameter name. */
  apply(grads: ReadonlyMap<string, Float32Array>, lr: number): void {
    const { beta1, beta2, epsilon, weightDecay } = this.options
    this.t += 1
    // the scalars as tfjs makes them: float32 tensors of the float64 values
    const b1 = f(beta1), c1 = f(1 - beta1), b2 = f(beta2), c2 = f(1 - beta2)
    const bc1 = f(1 - Math.pow(beta1, this.t)), bc2 = f(1 - Math.pow(beta2, this.t))
    const eps = f(epsilon), rate = f(lr), keep = f(1 - lr * weightDecay)
    for (const [name, shape] of this.shapes) {
      const theta = this.weights.get(name)!
      const g = grads.get(name)!
      const m = this.m.get(name)!
      const v = this.v.get(name)!
      const decays = weightDecay > 0 && shape.length >= 2
      for (let i = 0; i < theta.length; i++) {
        const gi = g[i]!
        // m ← β₁ m + (1 − β₁) g ;  v ← β₂ v + (1 − β₂) g²
        const mi = f(f(b1 * m[i]!) + f(c1 * gi))
        const vi = f(f(b2 * v[i]!) + f(c2 * f(gi * gi)))
        m[i] = mi
        v[i] = vi
        // θ ← (1 − lr·λ) θ − lr · m̂ / (√v̂ + ε)
        const decayed = decays ? f(theta[i]! * keep) : theta[i]!
        const update = f(f(mi / bc1) / f(f(Math.sqrt(f(vi / bc2))) + eps))
        theta[i] = f(decayed - f(rate * update))
      }
    }
  }
}

/** ‖g‖ over all parameters, summed as AdamW.globalNorm sums it (float64 within and across tensors). */
export const hostGlobalNorm = (grads: ReadonlyMap<string, Float32Array>): number => {
  let total = 0
  for (const g of grads.values()) {
    let sum = 0
    for (let i = 0; i < g.length; i++) sum += f(g[i]! * g[i]!)
    total += f(sum)
  }
  return Math.sqrt(total)
}

/** As AdamW.clipByGlobalNorm: scale by maxNorm / (norm + 1e-6) when that is below 1 (new arrays); maxNorm 0 = off. */
export const hostClipByGlobalNorm = (grads: ReadonlyMap<string, Float32Array>, norm: number, maxNorm: number): ReadonlyMap<string, Float32Array> => {
  if (maxNorm <= 0) return grads
  const factor = maxNorm / (norm + 1e-6)
  if (factor >= 1) return grads
  const k = f(factor)
  return new Map([...grads].map(([name, g]) => [name, g.map((x) => f(x * k))]))
}
