/**
 * The Llama family's decoder (Llama, Qwen2, Qwen3), written the way the maths reads: RMSNorm,
 * rotary positions (rotate-half), grouped-query attention, SwiGLU MLP; q/k/v bias (Qwen2),
 * per-head q/k RMSNorm before RoPE and an explicit head dim (Qwen3); tied or untied LM head.
 *
 * Parameters are tfjs Variables under Hugging Face's names (`model.embed_tokens.weight`,
 * `model.layers.0.self_attn.q_proj.weight`, …) in torch.nn.Linear's layout ([out, in], so
 * `x @ Wᵀ`): a Hugging Face directory loads, and saves back, by name with no transposes.
 */
import * as tf from "@tensorflow/tfjs-core"
import "./TfSetup.ts"
import "@tensorflow/tfjs-backend-cpu"
import { Seeds } from "@odpo/core"
import type { CacheGeometry, CausalLm, ForwardOptions, ForwardResult, HiddenResult } from "./CausalLm.ts"
import { assignWeights, makeVariables, readWeights, scalarCount } from "./ModelVariables.ts"
import { causalMask } from "./Gpt.ts"

/** rope_scaling as real configs carry it: Llama 3's frequency bands, or positions divided by a factor. */
export type RopeScaling =
  | { readonly type: "linear"; readonly factor: number }
  | {
    readonly type: "llama3"
    readonly factor: number
    readonly lowFreqFactor: number
    readonly highFreqFactor: number
    readonly originalMaxPositionEmbeddings: number
  }

/** The shape of a Llama-family model (names shared with GptConfig where the meaning is the same). */
export interface LlamaConfig {
  readonly architecture: "llama" | "qwen2" | "qwen3"
  readonly vocabSize: number
  /** max_position_embeddings: the longest sequence (RoPE has no position table). */
  readonly contextLength: number
  /** hidden_size */
  readonly dModel: number
  readonly nLayers: number
  /** num_attention_heads (query heads) */
  readonly nHeads: number
  /** num_key_value_heads: GQA shares each key/value head among nHeads / nKvHeads query heads. */
  readonly nKvHeads: number
  /** head_dim (Qwen3 sets it apart from dModel / nHeads). */
  readonly headDim: number
  /** intermediate_size of the SwiGLU MLP. */
  readonly intermediateSize: number
  readonly ropeTheta: number
  readonly ropeScaling: RopeScaling | null
  readonly rmsNormEps: number
  /** lm_head shares embed_tokens (no lm_head.weight of its own). */
  readonly tieWordEmbeddings: boolean
  /** Biases on q_proj, k_proj, v_proj (Qwen2; Llama/Qwen3 attention_bias). */
  readonly qkvBias: boolean
  /** Bias on o_proj (Llama/Qwen3 attention_bias). */
  readonly oBias: boolean
  /** Per-head RMSNorm of q and k before RoPE (Qwen3's q_norm / k_norm). */
  readonly qkNorm: boolean
  /** Residual dropout in training (0 for every Hugging Face checkpoint). */
  readonly dropout: number
}

/** Names and shapes of every parameter in a fixed order (the safetensors order too). */
export const parameterShapes = (c: LlamaConfig): Array<[string, number[]]> => {
  const { dModel: D, headDim: hd, intermediateSize: I } = c
  const q = c.nHeads * hd
  const kv = c.nKvHeads * hd
  const shapes: Array<[string, number[]]> = [["model.embed_tokens.weight", [c.vocabSize, D]]]
  for (let i = 0; i < c.nLayers; i++) {
    const p = `model.layers.${i}.`
    shapes.push([p + "input_layernorm.weight", [D]])
    shapes.push([p + "self_attn.q_proj.weight", [q, D]])
    if (c.qkvBias) shapes.push([p + "self_attn.q_proj.bias", [q]])
    shapes.push([p + "self_attn.k_proj.weight", [kv, D]])
    if (c.qkvBias) shapes.push([p + "self_attn.k_proj.bias", [kv]])
    shapes.push([p + "self_attn.v_proj.weight", [kv, D]])
    if (c.qkvBias) shapes.push([p + "self_attn.v_proj.bias", [kv]])
    shapes.push([p + "self_attn.o_proj.weight", [D, q]])
    if (c.oBias) shapes.push([p + "self_attn.o_proj.bias", [D]])
    if (c.qkNorm) shapes.push([p + "self_attn.q_norm.weight", [hd]], [p + "self_attn.k_norm.weight", [hd]])
    shapes.push(
      [p + "post_attention_layernorm.weight", [D]],
      [p + "mlp.gate_proj.weight", [I, D]],
      [p + "mlp.up_proj.weight", [I, D]],
      [p + "mlp.down_proj.weight", [D, I]]
    )
  }
  shapes.push(["model.norm.weight", [D]])
  if (!c.tieWordEmbeddings) shapes.push(["lm_head.weight", [c.vocabSize, D]])
  return shapes
}

/** Which config fields a parameter's shape comes from (for errors about a misshapen tensor). */
export const shapeFields = (name: string): string => {
  if (name === "model.embed_tokens.weight" || name === "lm_head.weight") return "vocab_size × hidden_size"
  if (/q_proj\.weight$/.test(name)) return "num_attention_heads·head_dim × hidden_size"
  if (/[kv]_proj\.weight$/.test(name)) return "num_key_value_heads·head_dim × hidden_size"
  if (/q_proj\.bias$/.test(name)) return "num_attention_heads·head_dim"
  if (/[kv]_proj\.bias$/.test(name)) return "num_key_value_heads·head_dim"
  if (/o_proj\.weight$/.test(name)) return "hidden_size × num_attention_heads·head_dim"
  if (/[qk]_norm\.weight$/.test(name)) return "head_dim"
  if (/(gate|up)_proj\.weight$/.test(name)) return "intermediate_size × hidden_size"
  if (/down_proj\.weight$/.test(name)) return "hidden_size × intermediate_size"
  return "hidden_size"
}

/** Hugging Face's initialisation: N(0, 0.02) for every matrix and embedding, zero biases, norm weights 1. */
export const initialParameters = (c: LlamaConfig, seed: number): Map<string, Float32Array> => {
  const rand = Seeds.mulberry32(seed)
  const normal = () => Math.sqrt(-2 * Math.log(Math.max(rand(), 1e-12))) * Math.cos(2 * Math.PI * rand())
  const out = new Map<string, Float32Array>()
  for (const [name, shape] of parameterShapes(c)) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1))
    if (name.endsWith("norm.weight")) data.fill(1)
    else if (shape.length === 2) for (let i = 0; i < data.length; i++) data[i] = normal() * 0.02
    out.set(name, data)
  }
  return out
}

export const validateConfig = (c: LlamaConfig): string | undefined => {
  for (const k of ["vocabSize", "contextLength", "dModel", "nLayers", "nHeads", "nKvHeads", "headDim", "intermediateSize"] as const) {
    if (!Number.isInteger(c[k]) || c[k] <= 0) return `model.${k} must be a positive integer (got ${c[k]})`
  }
  if (c.nHeads % c.nKvHeads !== 0) return `model.nKvHeads (${c.nKvHeads}) must divide model.nHeads (${c.nHeads})`
  if (c.headDim % 2 !== 0) return `model.headDim (${c.headDim}) must be even: RoPE rotates pairs of dimensions`
  if (!(c.ropeTheta > 0)) return `model.ropeTheta must be > 0 (got ${c.ropeTheta})`
  if (!(c.rmsNormEps > 0)) return `model.rmsNormEps must be > 0 (got ${c.rmsNormEps})`
  if (c.ropeScaling && !(c.ropeScaling.factor > 0)) return `model.ropeScaling.factor must be > 0 (got ${c.ropeScaling.factor})`
  if (!(c.dropout >= 0 && c.dropout < 1)) return `model.dropout must be in [0, 1) (got ${c.dropout})`
  return undefined
}

/**
 * RoPE's inverse frequencies θ_j = theta^(−2j/hd), j < hd/2, after rope_scaling: `linear` divides
 * them by the factor (positions stretched); `llama3` divides only the low frequencies and blends
 * the band between (transformers' _compute_llama3_parameters).
 */
export const inverseFrequencies = (c: LlamaConfig): Float32Array => {
  const half = c.headDim / 2
  const inv = Float32Array.from({ length: half }, (_, j) => 1 / Math.pow(c.ropeTheta, (2 * j) / c.headDim))
  const s = c.ropeScaling
  if (!s) return inv
  if (s.type === "linear") return inv.map((f) => f / s.factor)
  const lowWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor
  const highWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor
  return inv.map((f) => {
    const wavelen = (2 * Math.PI) / f
    if (wavelen < highWavelen) return f
    if (wavelen > lowWavelen) return f / s.factor
    const smooth = (s.originalMaxPositionEmbeddings / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor)
    return (1 - smooth) * (f / s.factor) + smooth * f
  })
}

/** RMSNorm over the last axis, in float32, the weight applied after: w · x / sqrt(mean(x²) + ε). */
export const rmsNorm = (x: tf.Tensor, weight: tf.Tensor, eps: number): tf.Tensor =>
  tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps))), weight)

/** rotate_half: (x₁, x₂) → (−x₂, x₁) over the two halves of the last axis. */
const rotateHalf = (x: tf.Tensor4D): tf.Tensor4D => {
  const [x1, x2] = tf.split(x, 2, -1)
  return tf.concat([tf.neg(x2!), x1!], -1) as tf.Tensor4D
}

/** x·cos + rotate_half(x)·sin, with cos/sin [B, 1, T, hd] broadcast over heads. */
const applyRope = (x: tf.Tensor4D, cos: tf.Tensor, sin: tf.Tensor): tf.Tensor4D =>
  tf.add(tf.mul(x, cos), tf.mul(rotateHalf(x), sin)) as tf.Tensor4D

export class Llama implements CausalLm {
  readonly architecture: LlamaConfig["architecture"]
  readonly config: LlamaConfig
  readonly params: Map<string, tf.Variable>
  readonly cacheGeometry: CacheGeometry
  private readonly invFreq: Float32Array

  constructor(config: LlamaConfig, weights: Map<string, Float32Array>) {
    const problem = validateConfig(config)
    if (problem) throw new Error(problem)
    this.config = config
    this.architecture = config.architecture
    this.cacheGeometry = { layers: config.nLayers, kvHeads: config.nKvHeads, headDim: config.headDim }
    this.invFreq = inverseFrequencies(config)
    this.params = makeVariables(parameterShapes(config), weights)
  }

  static init(config: LlamaConfig, seed = 0): Llama {
    return new Llama(config, initialParameters(config, seed))
  }

  private p(name: string): tf.Variable {
    return this.params.get(name)!
  }

  variables(): Array<tf.Variable> {
    return parameterShapes(this.config).map(([n]) => this.p(n))
  }

  numParameters(): number {
    return scalarCount(parameterShapes(this.config))
  }

  weights(): Promise<Map<string, Float32Array>> {
    return readWeights(parameterShapes(this.config), this.params)
  }

  assign(weights: Map<string, Float32Array>): void {
    assignWeights(parameterShapes(this.config), this.params, weights)
  }

  async clone(): Promise<Llama> {
    return new Llama(this.config, await this.weights())
  }

  dispose(): void {
    for (const v of this.params.values()) v.dispose()
  }

  /** x @ Wᵀ (+ b): torch.nn.Linear on [N, in]. */
  private linear(x: tf.Tensor2D, name: string, bias: boolean): tf.Tensor2D {
    const y: tf.Tensor2D = tf.matMul(x, this.p(name + ".weight"), false, true)
    return bias ? (tf.add(y, this.p(name + ".bias")) as tf.Tensor2D) : y
  }

  /**
   * Grouped-query attention of block i: queries of nHeads heads, keys/values of nKvHeads heads
   * (each shared by nHeads / nKvHeads queries), RoPE on q and k; the cache holds the KV heads only.
   */
  private attention(i: number, x: tf.Tensor3D, cos: tf.Tensor, sin: tf.Tensor, mask: tf.Tensor, past: { k: tf.Tensor4D; v: tf.Tensor4D } | undefined) {
    const [B, T, D] = x.shape
    const { nHeads: H, nKvHeads: Hkv, headDim: hd, qkvBias, qkNorm, rmsNormEps: eps } = this.config
    const pre = `model.layers.${i}.self_attn.`
    const flat = tf.reshape(x, [B * T, D]) as tf.Tensor2D
    // [B·T, heads·hd] → [B, T, heads, hd]; Qwen3 normalises each head of q and k here, before RoPE
    const split = (t: tf.Tensor, heads: number, norm: string | undefined) => {
      const h = tf.reshape(t, [B, T, heads, hd])
      return tf.transpose(norm ? rmsNorm(h, this.p(pre + norm), eps) : h, [0, 2, 1, 3]) as tf.Tensor4D
    }
    const q = applyRope(split(this.linear(flat, pre + "q_proj", qkvBias), H, qkNorm ? "q_norm.weight" : undefined), cos, sin)
    const kNew = applyRope(split(this.linear(flat, pre + "k_proj", qkvBias), Hkv, qkNorm ? "k_norm.weight" : undefined), cos, sin)
    const vNew = split(this.linear(flat, pre + "v_proj", qkvBias), Hkv, undefined)
    const k = past ? (tf.concat([past.k, kNew], 2) as tf.Tensor4D) : kNew
    const v = past ? (tf.concat([past.v, vNew], 2) as tf.Tensor4D) : vNew
    // GQA: KV head g serves query heads g·n … g·n + n − 1 (n = H / Hkv), so the queries of one
    // group are contiguous: [B, H, T, hd] → [B, Hkv, n·T, hd] attends to that group's keys as they
    // are (transformers' repeat_kv, without copying the keys and values n times).
    const S = k.shape[2]
    const grouped = tf.reshape(tf.mul(q, 1 / Math.sqrt(hd)), [B, Hkv, (H / Hkv) * T, hd])
    // att = softmax(q kᵀ / sqrt(hd) + mask) v
    const scores = tf.add(tf.reshape(tf.matMul(grouped, k, false, true), [B, H, T, S]), mask)
    const att = tf.reshape(tf.softmax(scores, -1), [B, Hkv, (H / Hkv) * T, S])
    const y = tf.reshape(tf.matMul(att, v), [B, H, T, hd])
    const merged = tf.reshape(tf.transpose(y, [0, 2, 1, 3]), [B * T, H * hd]) as tf.Tensor2D
    const out = tf.reshape(this.linear(merged, pre + "o_proj", this.config.oBias), [B, T, D]) as tf.Tensor3D
    return { out, k, v }
  }

  /** SwiGLU: down(silu(gate(x)) ⊙ up(x)). */
  private mlp(i: number, x: tf.Tensor3D): tf.Tensor3D {
    const [B, T, D] = x.shape
    const pre = `model.layers.${i}.mlp.`
    const flat = tf.reshape(x, [B * T, D]) as tf.Tensor2D
    const gate = this.linear(flat, pre + "gate_proj", false)
    const hidden = tf.mul(tf.mul(gate, tf.sigmoid(gate)), this.linear(flat, pre + "up_proj", false)) as tf.Tensor2D
    return tf.reshape(this.linear(hidden, pre + "down_proj", false), [B, T, D]) as tf.Tensor3D
  }

  private dropout(x: tf.Tensor3D, opts: ForwardOptions, salt: number): tf.Tensor3D {
    if (!opts.training || this.config.dropout === 0) return x
    return tf.dropout(x, this.config.dropout, undefined, (opts.dropoutSeed ?? 0) * 1009 + salt) as tf.Tensor3D
  }

  forward(ids: tf.Tensor2D, opts: ForwardOptions = {}, withCache = false): ForwardResult {
    const { hidden, cache } = this.hidden(ids, opts, withCache)
    const [B, T, D] = hidden.shape
    // logits = h · Wᵀ, W = lm_head (or embed_tokens when tied)
    const head = this.p(this.config.tieWordEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight")
    const logits = tf.reshape(tf.matMul(tf.reshape(hidden, [B * T, D]), head, false, true), [B, T, this.config.vocabSize]) as tf.Tensor3D
    return cache ? { logits, cache } : { logits }
  }

  hidden(ids: tf.Tensor2D, opts: ForwardOptions = {}, withCache = false): HiddenResult {
    const [B, T] = ids.shape
    const tPast = opts.cache && opts.cache.keys.length > 0 ? opts.cache.keys[0]!.shape[2] : 0
    if (tPast + T > this.config.contextLength) {
      throw new Error(`sequence of ${tPast + T} tokens exceeds the model's context length ${this.config.contextLength}`)
    }
    const positions = opts.positions ?? tf.tile(tf.expandDims(tf.range(tPast, tPast + T, 1, "int32"), 0), [B, 1])
    // RoPE angles: position · θ_j, the two halves of each head repeating the same frequencies
    const freqs = tf.mul(tf.expandDims(tf.cast(positions, "float32"), -1), tf.tensor1d(this.invFreq)) // [B, T, hd/2]
    const angles = tf.expandDims(tf.concat([freqs, freqs], -1), 1) // [B, 1, T, hd]
    const cos = tf.cos(angles)
    const sin = tf.sin(angles)
    const mask = causalMask(B, T, tPast, opts.keyMask)
    const eps = this.config.rmsNormEps
    let x = this.dropout(tf.gather(this.p("model.embed_tokens.weight"), ids) as tf.Tensor3D, opts, 0)
    const keys: tf.Tensor4D[] = []
    const values: tf.Tensor4D[] = []
    for (let i = 0; i < this.config.nLayers; i++) {
      // x = x + attn(rms_1(x)); x = x + mlp(rms_2(x))
      const pre = `model.layers.${i}.`
      const past = opts.cache && opts.cache.keys.length > 0 ? { k: opts.cache.keys[i]!, v: opts.cache.values[i]! } : undefined
      const a = this.attention(i, rmsNorm(x, this.p(pre + "input_layernorm.weight"), eps) as tf.Tensor3D, cos, sin, mask, past)
      if (withCache) {
        keys.push(a.k)
        values.push(a.v)
      }
      x = tf.add(x, this.dropout(a.out, opts, 2 * i + 1))
      const m = this.mlp(i, rmsNorm(x, this.p(pre + "post_attention_layernorm.weight"), eps) as tf.Tensor3D)
      x = tf.add(x, this.dropout(m, opts, 2 * i + 2))
    }
    const hidden = rmsNorm(x, this.p("model.norm.weight"), eps) as tf.Tensor3D
    return withCache ? { hidden, cache: { keys, values } } : { hidden }
  }
}

