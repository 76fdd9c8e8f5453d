/**
 * AdamW over tf.Variables, written out so that the exact update is known and testable
 * (tf.train.adam has no decoupled weight decay). The update of one parameter θ at step t:
 *   θ ← θ − lr·λ·θ                          (decoupled decay, Loshchilov & Hutter; rank ≥ 2 only)
 *   m ← β₁ m + (1 − β₁) g ;  v ← β₂ v + (1 − β₂) g²
 *   θ ← θ − lr · m̂ / (√v̂ + ε),  m̂ = m / (1 − β₁ᵗ),  v̂ = v / (1 − β₂ᵗ)
 * as torch.optim.AdamW. Like nanoGPT, biases, LayerNorm gains and other vectors are not decayed.
 */
import * as tf from "@tensorflow/tfjs-core"

export interface AdamWOptions {
  readonly beta1: number
  readonly beta2: number
  readonly epsilon: number
  readonly weightDecay: number
}

/** tf.variable(t) keeps `t` alive beside the variable: dispose it. */
const zerosVariable = (x: tf.Tensor): tf.Variable => {
  const zeros = tf.zerosLike(x)
  const v = tf.variable(zeros, false)
  zeros.dispose()
  return v
}

export class AdamW {
  private t = 0
  private readonly m: tf.Variable[]
  private readonly v: tf.Variable[]

  constructor(readonly variables: ReadonlyArray<tf.Variable>, readonly options: AdamWOptions) {
    this.m = variables.map(zerosVariable)
    this.v = variables.map(zerosVariable)
  }

  /** Steps taken so far. */
  get step(): number {
    return this.t
  }

  /** One update; `grads[i]` is the gradient of `variables[i]` (not disposed here). */
  apply(grads: ReadonlyArray<tf.Tensor>, lr: number): void {
    const { beta1, beta2, epsilon, weightDecay } = this.options
    this.t += 1
    const bc1 = 1 - Math.pow(beta1, this.t)
    const bc2 = 1 - Math.pow(beta2, this.t)
    this.variables.forEach((theta, i) => {
      tf.tidy(() => {
        const g = grads[i]!
        const m = tf.add(tf.mul(beta1, this.m[i]!), tf.mul(1 - beta1, g))
        const v = tf.add(tf.mul(beta2, this.v[i]!), tf.mul(1 - beta2, tf.square(g)))
        this.m[i]!.assign(m)
        this.v[i]!.assign(v)
        const decayed = weightDecay > 0 && theta.rank >= 2 ? tf.mul(theta, 1 - lr * weightDecay) : theta
        const update = tf.div(tf.div(m, bc1), tf.add(tf.sqrt(tf.div(v, bc2)), epsilon))
        theta.assign(tf.sub(decayed, tf.mul(lr, update)))
      })
    })
  }

  dispose(): void {
    for (const x of [...this.m, ...this.v]) x.dispose()
  }
}

/** Σ g² of each gradient, as scalars on the device (summed on the host in float64: the global norm √(Σᵢ Σ gᵢ²)). */
export const squaredNorms = (grads: ReadonlyArray<tf.Tensor>): Array<tf.Scalar> => grads.map((g) => tf.tidy(() => tf.sum(tf.square(g))))

/** ‖g‖ over all parameters at once: √(Σᵢ Σ gᵢ²). Non-finite if any gradient is. */
export const globalNorm = (grads: ReadonlyArray<tf.Tensor>): number => {
  const norms = squaredNorms(grads)
  const total = norms.reduce((acc, n) => acc + n.dataSync()[0]!, 0)
  tf.dispose(norms)
  return Math.sqrt(total)
}

/**
 * Scale gradients so that their global norm is at most maxNorm (as torch's clip_grad_norm_:
 * factor maxNorm / (norm + 1e-6), never above 1). maxNorm 0 = off. Returns new tensors when
 * it clips (the caller disposes both sets), the same ones when it does not.
 */
export const clipByGlobalNorm = (grads: ReadonlyArray<tf.Tensor>, norm: number, maxNorm: number): ReadonlyArray<tf.Tensor> => {
  if (maxNorm <= 0) return grads
  const factor = maxNorm / (norm + 1e-6)
  if (factor >= 1) return grads
  return grads.map((g) => tf.mul(g, factor))
}
