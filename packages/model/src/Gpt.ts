/**
 * The policy: a decoder-only transformer of GPT-2's shape (learned positions, pre-LayerNorm,
 * GELU MLP, tied embeddings, causal attention), written the way nanoGPT reads.
 *
 * Parameters are tfjs Variables named as Hugging Face names GPT-2's (`wte`, `wpe`,
 * `h.0.attn.c_attn.weight`, …) and stored in Conv1D layout ([in, out], so `x @ W`): a GPT-2
 * checkpoint loads by name with no transposes.
 */
import * as tf from "@tensorflow/tfjs-core"
// tfjs-core alone has no gradients registered: training needs them (see TfSetup.ts).
import "./TfSetup.ts"
import "@tensorflow/tfjs-backend-cpu"
import { Seeds } from "@odpo/core"
import type { CacheGeometry, CausalLm, ForwardOptions, ForwardResult, HiddenResult } from "./CausalLm.ts"
import { assignWeights, makeVariables, readWeights, scalarCount } from "./ModelVariables.ts"
import { fusedGelu } from "./WebGpuKernels.ts"

const { mulberry32 } = Seeds

/** The shape of a model; a plain record (see RunConfig.ModelConfig for documented defaults). */
export interface GptConfig {
  /** Absent in every GPT-2 checkpoint and config (the seam's default). */
  readonly architecture?: "gpt2"
  readonly vocabSize: number
  readonly contextLength: number
  readonly dModel: number
  readonly nLayers: number
  readonly nHeads: number
  readonly dropout: number
}

export type { CausalLm, ForwardOptions, ForwardResult, HiddenResult, KvCache } from "./CausalLm.ts"

/** Names and shapes of every parameter, in a fixed order (the safetensors order too). */
export const parameterShapes = (c: GptConfig): Array<[string, number[]]> => {
  const D = c.dModel
  const shapes: Array<[string, number[]]> = [["wte.weight", [c.vocabSize, D]], ["wpe.weight", [c.contextLength, D]]]
  for (let i = 0; i < c.nLayers; i++) {
    const p = `h.${i}.`
    shapes.push(
      [p + "ln_1.weight", [D]], [p + "ln_1.bias", [D]],
      [p + "attn.c_attn.weight", [D, 3 * D]], [p + "attn.c_attn.bias", [3 * D]],
      [p + "attn.c_proj.weight", [D, D]], [p + "attn.c_proj.bias", [D]],
      [p + "ln_2.weight", [D]], [p + "ln_2.bias", [D]],
      [p + "mlp.c_fc.weight", [D, 4 * D]], [p + "mlp.c_fc.bias", [4 * D]],
      [p + "mlp.c_proj.weight", [4 * D, D]], [p + "mlp.c_proj.bias", [D]]
    )
  }
  shapes.push(["ln_f.weight", [D]], ["ln_f.bias", [D]])
  return shapes
}

/** Total number of scalar parameters of a config. */
export const parameterCount = (c: GptConfig): number =>
  scalarCount(parameterShapes(c))

/** GPT-2 initialisation: N(0, 0.02), residual projections scaled by 1/sqrt(2L), LN weight 1. */
export const initialParameters = (c: GptConfig, seed: number): Map<string, Float32Array> => {
  const rand = mulberry32(seed)
  const normal = () => {
    // Box–Muller
    const u = Math.max(rand(), 1e-12)
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand())
  }
  const out = new Map<string, Float32Array>()
  for (const [name, shape] of parameterShapes(c)) {
    const size = shape.reduce((a, b) => a * b, 1)
    const data = new Float32Array(size)
    if (name.endsWith("ln_1.weight") || name.endsWith("ln_2.weight") || name === "ln_f.weight") data.fill(1)
    else if (name.endsWith(".weight")) {
      const std = name.endsWith("c_proj.weight") ? 0.02 / Math.sqrt(2 * c.nLayers) : 0.02
      for (let i = 0; i < size; i++) data[i] = normal() * std
    }
    out.set(name, data)
  }
  return out
}

export const validateConfig = (c: GptConfig): string | undefined => {
  for (const k of ["vocabSize", "contextLength", "dModel", "nLayers", "nHeads"] as const) {
    if (!Number.isInteger(c[k]) || c[k] <= 0) return `model.${k} must be a positive integer (got ${c[k]})`
  }
  if (c.dModel % c.nHeads !== 0) return `model.nHeads (${c.nHeads}) must divide model.dModel (${c.dModel})`
  if (!(c.dropout >= 0 && c.dropout < 1)) return `model.dropout must be in [0, 1) (got ${c.dropout})`
  return undefined
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI)

/** GPT-2's GELU (tanh approximation, "gelu_new"); one fused kernel on webgpu (WebGpuKernels.ts). */
export const gelu = (x: tf.Tensor): tf.Tensor =>
  fusedGelu(x) ??
    tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(tf.mul(SQRT_2_OVER_PI, tf.add(x, tf.mul(0.044715, tf.mul(tf.mul(x, x), x)))))))

/** LayerNorm over the last axis, ε = 1e-5 as GPT-2. */
export const layerNorm = (x: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor): tf.Tensor => {
  const { mean, variance } = tf.moments(x, -1, true)
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5))), weight), bias)
}

/**
 * Causal mask over (past + new) keys, additive [B, 1, T, T_past + T]: query t (absolute
 * tPast + t) sees keys j ≤ tPast + t and never a padding key; 0 where allowed, −1e9 where not.
 */
export const causalMask = (B: number, T: number, tPast: number, keyMask: tf.Tensor2D | undefined): tf.Tensor => {
  const qIdx = tf.reshape(tf.range(tPast, tPast + T, 1, "int32"), [T, 1])
  const kIdx = tf.reshape(tf.range(0, tPast + T, 1, "int32"), [1, tPast + T])
  let allowed: tf.Tensor = tf.reshape(tf.lessEqual(kIdx, qIdx), [1, 1, T, tPast + T])
  if (keyMask) allowed = tf.logicalAnd(allowed, tf.reshape(tf.cast(keyMask, "bool"), [B, 1, 1, tPast + T]))
  return tf.mul(tf.sub(1, tf.cast(allowed, "float32")), -1e9)
}

export class Gpt implements CausalLm {
  readonly architecture = "gpt2" as const
  readonly config: GptConfig
  /** Trainable parameters by GPT-2 name. */
  readonly params: Map<string, tf.Variable>
  readonly cacheGeometry: CacheGeometry

  constructor(config: GptConfig, weights: Map<string, Float32Array>) {
    const problem = validateConfig(config)
    if (problem) throw new Error(problem)
    this.config = config
    this.cacheGeometry = { layers: config.nLayers, kvHeads: config.nHeads, headDim: config.dModel / config.nHeads }
    this.params = makeVariables(parameterShapes(config), weights)
  }

  static init(config: GptConfig, seed = 0): Gpt {
    return new Gpt(config, initialParameters(config, seed))
  }

  private p(name: string): tf.Variable {
    return this.params.get(name)!
  }

  /** Trainable variables in parameterShapes order. */
  variables(): Array<tf.Variable> {
    return parameterShapes(this.config).map(([n]) => this.p(n))
  }

  numParameters(): number {
    return parameterCount(this.config)
  }

  /**
   * Weights as plain arrays, by name (for checkpoints and copies). Async: a GPU backend reads
   * back without blocking (tfjs's webgpu backend cannot read synchronously in Node at all).
   */
  weights(): Promise<Map<string, Float32Array>> {
    return readWeights(parameterShapes(this.config), this.params)
  }

  /** Overwrite the weights (same config). */
  assign(weights: Map<string, Float32Array>): void {
    assignWeights(parameterShapes(this.config), this.params, weights)
  }

  async clone(): Promise<Gpt> {
    return new Gpt(this.config, await this.weights())
  }

  dispose(): void {
    for (const v of this.params.values()) v.dispose()
  }

  /**
   * Causal self-attention of block i. With a cache, the new queries attend to past + new keys.
   * mask: additive [B, 1, T, T_past + T] (0 where allowed, −1e9 where not).
   */
  private attention(i: number, x: tf.Tensor3D, mask: tf.Tensor, past: { k: tf.Tensor4D; v: tf.Tensor4D } | undefined) {
    const [B, T, D] = x.shape
    const H = this.config.nHeads
    const hd = D / H
    const pre = `h.${i}.attn.`
    // qkv = x @ W_attn + b: [B, T, 3D] → three [B, H, T, hd]
    const qkv = tf.add(tf.matMul(tf.reshape(x, [B * T, D]), this.p(pre + "c_attn.weight")), this.p(pre + "c_attn.bias"))
    const heads = (t: tf.Tensor) => tf.transpose(tf.reshape(t, [B, T, H, hd]), [0, 2, 1, 3]) as tf.Tensor4D
    const [q, kNew, vNew] = tf.split(qkv, 3, 1).map(heads) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D]
    const k = past ? (tf.concat([past.k, kNew], 2) as tf.Tensor4D) : kNew
    const v = past ? (tf.concat([past.v, vNew], 2) as tf.Tensor4D) : vNew
    // att = softmax(q kᵀ / sqrt(hd) + mask) v  (q is scaled: cheaper than scaling the T×T scores)
    const scores = tf.add(tf.matMul(tf.mul(q, 1 / Math.sqrt(hd)), k, false, true), mask)
    const y = tf.matMul(tf.softmax(scores, -1), v) // [B, H, T, hd]
    const merged = tf.reshape(tf.transpose(y, [0, 2, 1, 3]), [B * T, D])
    const out = tf.reshape(tf.add(tf.matMul(merged, this.p(pre + "c_proj.weight")), this.p(pre + "c_proj.bias")), [B, T, D])
    return { out: out as tf.Tensor3D, k, v }
  }

  private mlp(i: number, x: tf.Tensor3D): tf.Tensor3D {
    const [B, T, D] = x.shape
    const pre = `h.${i}.mlp.`
    const hidden = gelu(tf.add(tf.matMul(tf.reshape(x, [B * T, D]), this.p(pre + "c_fc.weight")), this.p(pre + "c_fc.bias")))
    return tf.reshape(tf.add(tf.matMul(hidden as tf.Tensor2D, this.p(pre + "c_proj.weight")), this.p(pre + "c_proj.bias")), [B, T, D])
  }

  private dropout(x: tf.Tensor3D, opts: ForwardOptions, salt: number): tf.Tensor3D {
    if (!opts.training || this.config.dropout === 0) return x
    return tf.dropout(x, this.config.dropout, undefined, (opts.dropoutSeed ?? 0) * 1009 + salt) as tf.Tensor3D
  }

  /**
   * Logits for every position of `ids` ([B, T] int32). Call inside tf.tidy (or dispose the
   * results). With `withCache` the returned cache holds past + new keys/values per layer.
   */
  forward(ids: tf.Tensor2D, opts: ForwardOptions = {}, withCache = false): ForwardResult {
    const { hidden, cache } = this.hidden(ids, opts, withCache)
    const [B, T, D] = hidden.shape
    // Tied embeddings: logits = h · wteᵀ
    const logits = tf.reshape(tf.matMul(tf.reshape(hidden, [B * T, D]), this.p("wte.weight"), false, true), [B, T, this.config.vocabSize]) as tf.Tensor3D
    return cache ? { logits, cache } : { logits }
  }

  /** The transformer without its head: final hidden states ln_f(x) of every position (same options as forward). */
  hidden(ids: tf.Tensor2D, opts: ForwardOptions = {}, withCache = false): HiddenResult {
    const [B, T] = ids.shape
    const tPast = opts.cache && opts.cache.keys.length > 0 ? opts.cache.keys[0]!.shape[2] : 0
    if (tPast + T > this.config.contextLength) {
      throw new Error(`sequence of ${tPast + T} tokens exceeds the model's context length ${this.config.contextLength}`)
    }
    const positions = opts.positions ?? tf.tile(tf.expandDims(tf.range(tPast, tPast + T, 1, "int32"), 0), [B, 1])
    // Token + position embeddings
    let x = tf.add(tf.gather(this.p("wte.weight"), ids), tf.gather(this.p("wpe.weight"), positions)) as tf.Tensor3D
    x = this.dropout(x, opts, 0)
    const mask = causalMask(B, T, tPast, opts.keyMask)
    const keys: tf.Tensor4D[] = []
    const values: tf.Tensor4D[] = []
    for (let i = 0; i < this.config.nLayers; i++) {
      // x = x + attn(ln_1(x)); x = x + mlp(ln_2(x))
      const past = opts.cache && opts.cache.keys.length > 0 ? { k: opts.cache.keys[i]!, v: opts.cache.values[i]! } : undefined
      const a = this.attention(i, layerNorm(x, this.p(`h.${i}.ln_1.weight`), this.p(`h.${i}.ln_1.bias`)) as tf.Tensor3D, mask, past)
      if (withCache) {
        keys.push(a.k)
        values.push(a.v)
      }
      x = tf.add(x, this.dropout(a.out, opts, 2 * i + 1))
      const m = this.mlp(i, layerNorm(x, this.p(`h.${i}.ln_2.weight`), this.p(`h.${i}.ln_2.bias`)) as tf.Tensor3D)
      x = tf.add(x, this.dropout(m, opts, 2 * i + 2))
    }
    const hidden = layerNorm(x, this.p("ln_f.weight"), this.p("ln_f.bias")) as tf.Tensor3D
    return withCache ? { hidden, cache: { keys, values } } : { hidden }
  }
}

