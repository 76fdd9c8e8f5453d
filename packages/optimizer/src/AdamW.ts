/**
 * AdamW over tf.Variables, written out so that the exact update is known and testable
 * (tf.train.adam has no decoupled weight decay). The update of one parameter θ at step t:
 *   θ ← θ − lr·λ·θ                          (decoupled decay, Loshchilov & Hutter; rank ≥ 2 only)
 *   m ← β₁ m + (1 − β₁) g ;  v ← β₂ v + (1 − β₂) g²
 *   θ ← θ − lr · m̂ / (√v̂ + ε),  m̂ = m / (1 − β₁ᵗ),  v̂ = v / (1 − β₂ᵗ)
 * as torch.optim.AdamW. Like nanoGPT, biases, LayerNorm gains and other vectors are not decayed.
 */
import * as tf from "@tensorflow/tfjs-core"
import { WasmAdamW } from "./AdamWKernel.ts"

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

const f = Math.fround

/**
 * One parameter's AdamW update on the host, into `next` (one loop, its own function so that V8
 * compiles it for these array types alone): every op in float64, stored as float32 (f).
 */
const adamWKernel = (
  g: Float32Array, scale: number, old: Float32Array, keep: number, m: Float32Array, v: Float32Array, next: Float32Array,
  b1: number, c1: number, b2: number, c2: number, d1: number, d2: number, eps: number, rate: number
): void => {
  for (let j = 0; j < old.length; j++) {
    const gj = f(g[j]! * scale)
    const mj = (m[j] = f(f(b1 * m[j]!) + f(c1 * gj)))
    const vj = (v[j] = f(f(b2 * v[j]!) + f(c2 * f(gj * gj))))
    next[j] = f(f(old[j]! * keep) - f(rate * f(f(mj / d1) / f(f(Math.sqrt(f(vj / d2))) + eps))))
  }
}

export class AdamW {
  private t = 0
  private readonly m: tf.Variable[] = []
  private readonly v: tf.Variable[] = []
  /** The moments on the host (the cpu backend's path): in WebAssembly memory, else Float32Arrays aligned with `variables`. */
  private readonly wasm: WasmAdamW | null = null
  private readonly hostM: Float32Array[] = []
  private readonly hostV: Float32Array[] = []
  readonly onHost: boolean

  /**
   * `onHost` (default: on tfjs's cpu backend) runs the update as one loop per parameter over its
   * values instead of ~12 tensor ops: the same float32 roundings in the same order (bit-equal,
   * tested), ~10× less time for a small GPT, where per-op overhead dominates.
   */
  constructor(
    readonly variables: ReadonlyArray<tf.Variable>,
    readonly options: AdamWOptions,
    onHost = tf.getBackend() === "cpu",
    simd = true
  ) {
    this.onHost = onHost
    // The SIMD kernel (AdamWKernel.ts) gives the loop's values bit for bit; `simd: false` keeps the loop.
    if (onHost && simd) this.wasm = WasmAdamW.create(variables.map((x) => x.size))
    if (onHost && this.wasm === null) {
      for (const x of variables) {
        this.hostM.push(new Float32Array(x.size))
        this.hostV.push(new Float32Array(x.size))
      }
    } else {
      this.m.push(...variables.map(zerosVariable))
      this.v.push(...variables.map(zerosVariable))
    }
  }

  /** Whether the host update runs in WebAssembly SIMD (else the JavaScript loop, or tensors). */
  get simd(): boolean {
    return this.wasm !== null
  }

  /** Steps taken so far. */
  get step(): number {
    return this.t
  }

  /**
   * One update; `grads[i]` is the gradient of `variables[i]` (not disposed here), times
   * `gradScale` (clipping's factor, clipFactor: the same float32 product as clipByGlobalNorm's
   * tensors, without making them).
   */
  apply(grads: ReadonlyArray<tf.Tensor>, lr: number, gradScale = 1): void {
    const { beta1, beta2, epsilon, weightDecay } = this.options
    this.t += 1
    const bc1 = 1 - Math.pow(beta1, this.t)
    const bc2 = 1 - Math.pow(beta2, this.t)
    if (this.onHost) return this.applyOnHost(grads, lr, bc1, bc2, gradScale)
    this.variables.forEach((theta, i) => {
      tf.tidy(() => {
        const g = gradScale === 1 ? grads[i]! : tf.mul(grads[i]!, gradScale)
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

  /**
   * The update above as tfjs's cpu kernels compute it, element by element: each op in float64,
   * its result stored as float32 (f), scalars as float32 tensors. θ gets a new tensor (tensors
   * may share their arrays: never write into one).
   */
  private applyOnHost(grads: ReadonlyArray<tf.Tensor>, lr: number, bc1: number, bc2: number, gradScale: number): void {
    const { beta1, beta2, epsilon, weightDecay } = this.options
    const b1 = f(beta1), c1 = f(1 - beta1), b2 = f(beta2), c2 = f(1 - beta2)
    const d1 = f(bc1), d2 = f(bc2), eps = f(epsilon), rate = f(lr), keep = f(1 - lr * weightDecay)
    const scale = f(gradScale)
    const scalars = { scale, b1, c1, b2, c2, d1, d2, eps, rate }
    this.variables.forEach((theta, i) => {
      const old = theta.dataSync() as Float32Array
      const g = grads[i]!.dataSync() as Float32Array
      // without decay keep is 1 and without clipping scale is 1: float32 products by 1 are exact
      const keepHere = weightDecay > 0 && theta.rank >= 2 ? keep : 1
      let next: Float32Array
      if (this.wasm !== null) next = this.wasm.update(i, g, old, keepHere, scalars)
      else {
        next = new Float32Array(old.length)
        adamWKernel(g, scale, old, keepHere, this.hostM[i]!, this.hostV[i]!, next, b1, c1, b2, c2, d1, d2, eps, rate)
      }
      const updated = tf.tensor(next, theta.shape, "float32")
      theta.assign(updated)
      updated.dispose()
    })
  }

  dispose(): void {
    for (const x of [...this.m, ...this.v]) x.dispose()
  }
}

/**
 * Σ g² of each gradient, as scalars on the device (summed on the host in float64: the global norm
 * √(Σᵢ Σ gᵢ²)). On the cpu backend one loop over each gradient's values computes what
 * tf.sum(tf.square(g)) computes there — each square stored as float32, summed in float64, the sum
 * stored as float32 — without the [n] tensor of squares.
 */
export const squaredNorms = (grads: ReadonlyArray<tf.Tensor>): Array<tf.Scalar> =>
  grads.map((g) => {
    if (tf.getBackend() !== "cpu" || g.dtype !== "float32") return tf.tidy(() => tf.sum(tf.square(g)))
    const values = g.dataSync() as Float32Array
    let sum = 0
    for (let j = 0; j < values.length; j++) sum += f(values[j]! * values[j]!)
    return tf.scalar(sum, "float32")
  })

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
  const factor = clipFactor(norm, maxNorm)
  if (factor === 1) return grads
  return grads.map((g) => tf.mul(g, factor))
}

/** The factor clipByGlobalNorm scales by: maxNorm / (norm + 1e-6) when below 1, else (or maxNorm 0 = off) 1. AdamW.apply takes it as gradScale. */
export const clipFactor = (norm: number, maxNorm: number): number => {
  if (maxNorm <= 0) return 1
  const factor = maxNorm / (norm + 1e-6)
  return factor >= 1 ? 1 : factor
}
