/**
 * The Llama family's forward pass written as ONNX ops, reading as Llama.ts reads: the same
 * parameter names (transformers', nn.Linear layout [out, in]), RMSNorm, RoPE, grouped-query
 * attention, SwiGLU. It also hands back what the backward pass (LlamaBackward.ts) needs, and
 * takes the activations a training forward saved (the VJP graph then does no matmul of the body).
 */
import { inverseFrequencies, type LlamaConfig, parameterShapes } from "../Llama.ts"
import type { ForwardInputs, Params } from "./GptGraph.ts"
import { type GraphBuilder, ONNX_TYPE } from "./GraphBuilder.ts"

/** Every parameter as a graph input named `prefix + name` (one graph serves every checkpoint of a shape). */
export const paramInputs = (b: GraphBuilder, config: LlamaConfig, prefix = ""): Params => {
  for (const [name, shape] of parameterShapes(config)) b.input(prefix + name, "float32", shape)
  return (name) => prefix + name
}

const dim = (b: GraphBuilder, x: string, axis: number) => b.op("Shape", [x], { start: axis, end: axis + 1 })

/** An RMSNorm's input, its normalised value x · rstd (before the weight), 1/rms, and its output. */
export interface RmsNormValues {
  readonly x: string
  readonly norm: string
  readonly rstd: string
  readonly y: string
}

/** w · x / sqrt(mean(x²) + ε) over the last axis (width `n`). */
const rmsNorm = (b: GraphBuilder, x: string, weight: string, n: number, eps: number, name: string): RmsNormValues => {
  const meanSquare = b.op("Mul", [b.op("ReduceSum", [b.op("Mul", [x, x]), b.ints([-1])], { keepdims: 1 }), b.scalar(1 / n)])
  const rstd = b.op("Reciprocal", [b.op("Sqrt", [b.op("Add", [meanSquare, b.scalar(eps)])])], undefined, `${name}.rstd`)
  const norm = b.op("Mul", [x, rstd], undefined, `${name}.norm`)
  return { x, norm, rstd, y: b.op("Mul", [norm, weight], undefined, name) }
}

/** x @ Wᵀ (+ b): nn.Linear, the weight read in its own layout (FusedMatMul transposes in the kernel). */
const linear = (b: GraphBuilder, p: Params, x: string, prefix: string, bias: boolean) => {
  const y = b.op("com.microsoft:FusedMatMul", [x, p(`${prefix}.weight`)], { transB: 1 }, bias ? `${prefix}.mm` : prefix)
  return bias ? b.op("Add", [y, p(`${prefix}.bias`)], undefined, prefix) : y
}

/** rotate_half: (x₁, x₂) → (−x₂, x₁) over the halves of the last axis. */
export const rotateHalf = (b: GraphBuilder, x: string, hd: number) => {
  const [x1, x2] = b.opN("Split", [x, b.ints([hd / 2, hd / 2])], 2, { axis: -1 })
  return b.op("Concat", [b.op("Neg", [x2!]), x1!], { axis: -1 })
}

/** x·cos + rotate_half(x)·sin */
const rope = (b: GraphBuilder, x: string, cos: string, sin: string, hd: number) =>
  b.op("Add", [b.op("Mul", [x, cos]), b.op("Mul", [rotateHalf(b, x, hd), sin])])

/** The causal + padding mask [B, 1, T, T], additive (as GptGraph and Llama.ts). */
const attentionMask = (b: GraphBuilder, ids: string, keyMask: string): string => {
  const T = b.op("Squeeze", [dim(b, ids, 1), b.ints([0])])
  const idx = b.op("Range", [b.int(0), T, b.int(1)])
  const causal = b.op("LessOrEqual", [b.op("Unsqueeze", [idx, b.ints([0])]), b.op("Unsqueeze", [idx, b.ints([1])])])
  const real = b.op("Unsqueeze", [b.op("Cast", [keyMask], { to: ONNX_TYPE.bool }), b.ints([1, 2])])
  return b.op("Where", [b.op("And", [causal, real]), b.scalar(0), b.scalar(-1e9)], undefined, "attention_mask")
}

const slotMask = (b: GraphBuilder, slots: string): string =>
  b.op("Where", [b.op("Unsqueeze", [b.op("Cast", [slots], { to: ONNX_TYPE.bool }), b.ints([1, 2])]), b.scalar(0), b.scalar(-1e9)], undefined, "slot_mask")

/** What one block's backward needs from its forward (LlamaBackward). */
export interface LlamaBlockValues {
  readonly rms1: RmsNormValues
  /** q_proj, k_proj, v_proj outputs (bias added), [B, T, heads·hd] */
  readonly qLin: string
  readonly kLin: string
  readonly vLin: string
  /** Qwen3's per-head q/k RMSNorm ([B, T, heads, hd]), when the config has it */
  readonly qNorm?: RmsNormValues
  readonly kNorm?: RmsNormValues
  /** q · 1/√hd grouped by KV head [B, H_kv, n·T, hd]; k, v after RoPE [B, H_kv, T, hd] */
  readonly grouped: string
  readonly k: string
  readonly v: string
  /** softmax probabilities grouped by KV head, [B, H_kv, n·T, T] */
  readonly att: string
  /** heads merged back [B, T, H·hd]: o_proj's input */
  readonly y: string
  readonly rms2: RmsNormValues
  /** gate_proj's output, σ(gate), up_proj's output, and silu(gate) ⊙ up (down_proj's input): [B, T, I] */
  readonly gate: string
  readonly sigmoid: string
  readonly up: string
  readonly act: string
}

/**
 * The activations a training forward hands to the VJP graph, by block: its input, the q/k/v
 * projections, x_mid, gate and up; and the last block's output. Every matmul of the body is
 * among them (o_proj's and down_proj's outputs only feed the residual, which x_mid and the next
 * input carry), so the VJP graph recomputes only norms, RoPE, attention and SiLU.
 */
export interface LlamaSaved {
  readonly blocks: ReadonlyArray<{ readonly xIn: string; readonly q: string; readonly k: string; readonly v: string; readonly xMid: string; readonly gate: string; readonly up: string }>
  readonly xFinal: string
}

/** The names forward() gives those activations (checked where the train graph outputs them). */
export const savedActivations = (config: LlamaConfig): LlamaSaved => ({
  blocks: Array.from({ length: config.nLayers }, (_, i) => {
    const pre = `model.layers.${i}`
    return {
      xIn: i === 0 ? "x0" : `model.layers.${i - 1}.x_out`,
      q: `${pre}.self_attn.q_proj`,
      k: `${pre}.self_attn.k_proj`,
      v: `${pre}.self_attn.v_proj`,
      xMid: `${pre}.x_mid`,
      gate: `${pre}.mlp.gate_proj`,
      up: `${pre}.mlp.up_proj`
    }
  }),
  xFinal: `model.layers.${config.nLayers - 1}.x_out`
})

/** Each saved activation's name and shape, in one list (the train graph's outputs, the VJP graph's inputs). */
export const savedValues = (config: LlamaConfig): Array<[string, Array<number | string>]> => {
  const { dModel: D, headDim: hd, intermediateSize: I } = config
  const rows = ["batch", "tokens"]
  return [
    ...savedActivations(config).blocks.flatMap((s): Array<[string, Array<number | string>]> => [
      [s.xIn, [...rows, D]],
      [s.q, [...rows, config.nHeads * hd]],
      [s.k, [...rows, config.nKvHeads * hd]],
      [s.v, [...rows, config.nKvHeads * hd]],
      [s.xMid, [...rows, D]],
      [s.gate, [...rows, I]],
      [s.up, [...rows, I]]
    ]),
    [savedActivations(config).xFinal, [...rows, D]]
  ]
}

export interface LlamaForwardValues {
  /** model.norm(x): [B, T, D] */
  readonly hidden: string
  readonly norm: RmsNormValues
  readonly blocks: ReadonlyArray<LlamaBlockValues>
  readonly present: ReadonlyArray<{ readonly k: string; readonly v: string }>
  /** RoPE's cos and sin [B, 1, T, hd] */
  readonly cos: string
  readonly sin: string
}

/**
 * The forward up to the final RMSNorm; keys/values per layer [B, H_kv, T, hd] (of the new token
 * when decoding). With `saved` (the VJP graph) the body's matmuls are read, not done.
 */
export const forward = (b: GraphBuilder, p: Params, config: LlamaConfig, inputs: ForwardInputs, saved?: LlamaSaved): LlamaForwardValues => {
  const { dModel: D, nHeads: H, nKvHeads: Hkv, headDim: hd, nLayers, rmsNormEps: eps } = config
  const positions = inputs.positions ?? b.op("Unsqueeze", [b.op("Range", [b.int(0), b.op("Squeeze", [dim(b, inputs.ids, 1), b.ints([0])]), b.int(1)]), b.ints([0])])
  // RoPE angles [B, 1, T, hd]: position · θ_j, both halves of a head with the same frequencies
  const cacheName = inputs.cacheName ?? "present"
  const invFreq = b.initializer(`${cacheName}.rope.inv_freq`, [hd / 2], inverseFrequencies(config))
  const freqs = b.op("Mul", [b.op("Unsqueeze", [b.op("Cast", [positions], { to: ONNX_TYPE.float32 }), b.ints([-1])]), invFreq])
  const angles = b.op("Unsqueeze", [b.op("Concat", [freqs, freqs], { axis: -1 }), b.ints([1])])
  const cos = b.op("Cos", [angles], undefined, "rope.cos")
  const sin = b.op("Sin", [angles], undefined, "rope.sin")
  const mask = inputs.cache ? slotMask(b, inputs.cache.slotMask) : attentionMask(b, inputs.ids, inputs.keyMask!)
  let x = saved ? saved.blocks[0]!.xIn : b.op("Gather", [p("model.embed_tokens.weight"), inputs.ids], { axis: 0 }, "x0")
  const present: Array<{ k: string; v: string }> = []
  const blocks: Array<LlamaBlockValues> = []
  for (let i = 0; i < nLayers; i++) {
    const pre = `model.layers.${i}`
    const a = `${pre}.self_attn`
    const kept = saved?.blocks[i]
    if (kept) x = kept.xIn
    // x = x + attn(rms_1(x))
    const rms1 = rmsNorm(b, x, p(`${pre}.input_layernorm.weight`), D, eps, `${pre}.input_layernorm`)
    const h = rms1.y
    // [B, T, heads·hd] → [B, heads, T, hd]; Qwen3 normalises each head of q and k first
    const heads = (t: string, count: number, norm: string | undefined, name?: string) => {
      const split = b.op("Reshape", [t, b.ints([0, 0, count, hd])])
      const normed = norm ? rmsNorm(b, split, p(`${a}.${norm}.weight`), hd, eps, `${a}.${norm}`) : undefined
      return { heads: b.op("Transpose", [normed?.y ?? split], { perm: [0, 2, 1, 3] }, name, name !== undefined), normed }
    }
    const qLin = kept ? kept.q : linear(b, p, h, `${a}.q_proj`, config.qkvBias)
    const kLin = kept ? kept.k : linear(b, p, h, `${a}.k_proj`, config.qkvBias)
    const vLin = kept ? kept.v : linear(b, p, h, `${a}.v_proj`, config.qkvBias)
    const qh = heads(qLin, H, config.qkNorm ? "q_norm" : undefined)
    const kh = heads(kLin, Hkv, config.qkNorm ? "k_norm" : undefined)
    const q = rope(b, qh.heads, cos, sin, hd)
    const k = b.op("Identity", [rope(b, kh.heads, cos, sin, hd)], undefined, `${cacheName}.${i}.key`, true)
    const v = heads(vLin, Hkv, undefined, `${cacheName}.${i}.value`).heads
    present.push({ k, v })
    // GQA: the n query heads of a KV head are contiguous, so [B, H, T, hd] → [B, H_kv, n·T, hd]
    const grouped = b.op("Reshape", [b.op("Mul", [q, b.scalar(1 / Math.sqrt(hd))]), b.ints([0, Hkv, -1, hd])], undefined, `${a}.grouped_q`)
    const kT = (t: string) => b.op("Transpose", [t], { perm: [0, 1, 3, 2] })
    const toHeads = (t: string) => b.op("Reshape", [t, b.ints([0, H, -1, 0])]) // [B, H_kv, n·T, S] → [B, H, T, S]
    const toGroups = (t: string) => b.op("Reshape", [t, b.ints([0, Hkv, -1, 0])])
    let yGrouped: string
    let att = ""
    const past = inputs.cache?.past[i]
    if (!past) {
      // att = softmax(q kᵀ / sqrt(hd) + mask) v
      att = toGroups(b.op("Softmax", [b.op("Add", [toHeads(b.op("MatMul", [grouped, kT(k)])), mask])], { axis: -1 }, `${a}.probs`))
      yGrouped = b.op("MatMul", [att, v])
    } else {
      // one new token against S cached slots and itself, the cache read in place
      const scorePast = b.op("Add", [toHeads(b.op("MatMul", [grouped, kT(past.k)])), mask])
      const scoreNew = toHeads(b.op("MatMul", [grouped, kT(k)]))
      const probs = b.op("Softmax", [b.op("Concat", [scorePast, scoreNew], { axis: -1 })], { axis: -1 }, `${a}.probs`)
      const attPast = b.op("Slice", [probs, b.ints([0]), b.ints([-1]), b.ints([-1])])
      const attNew = b.op("Slice", [probs, b.ints([-1]), b.ints([2 ** 31 - 1]), b.ints([-1])])
      yGrouped = b.op("Add", [b.op("MatMul", [toGroups(attPast), past.v]), b.op("Mul", [toGroups(attNew), v])])
    }
    const y = b.op("Reshape", [b.op("Transpose", [b.op("Reshape", [yGrouped, b.ints([0, H, -1, hd])])], { perm: [0, 2, 1, 3] }), b.ints([0, 0, H * hd])], undefined, `${a}.y`)
    x = kept ? kept.xMid : b.op("Add", [x, linear(b, p, y, `${a}.o_proj`, config.oBias)], undefined, `${pre}.x_mid`)
    // x = x + down(silu(gate(rms_2(x))) ⊙ up(rms_2(x)))
    const rms2 = rmsNorm(b, x, p(`${pre}.post_attention_layernorm.weight`), D, eps, `${pre}.post_attention_layernorm`)
    const gate = kept ? kept.gate : linear(b, p, rms2.y, `${pre}.mlp.gate_proj`, false)
    const up = kept ? kept.up : linear(b, p, rms2.y, `${pre}.mlp.up_proj`, false)
    const sigmoid = b.op("Sigmoid", [gate], undefined, `${pre}.mlp.sigmoid`)
    const act = b.op("Mul", [b.op("Mul", [gate, sigmoid]), up], undefined, `${pre}.mlp.act`)
    // with saved activations the next block's input (or the final x) is fed, not recomputed
    if (!saved) x = b.op("Add", [x, linear(b, p, act, `${pre}.mlp.down_proj`, false)], undefined, `${pre}.x_out`)
    blocks.push({
      rms1, qLin, kLin, vLin, ...(qh.normed ? { qNorm: qh.normed } : {}), ...(kh.normed ? { kNorm: kh.normed } : {}),
      grouped, k, v, att, y, rms2, gate, sigmoid, up, act
    })
  }
  const norm = rmsNorm(b, saved ? saved.xFinal : x, p("model.norm.weight"), D, eps, "model.norm")
  return { hidden: norm.y, norm, blocks, present, cos, sin }
}

/** logits = h · Wᵀ over the last axis, W = lm_head (embed_tokens when tied). */
export const logits = (b: GraphBuilder, p: Params, config: LlamaConfig, h: string, name = "logits", exact = false): string =>
  b.op("com.microsoft:FusedMatMul", [h, p(config.tieWordEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight")], { transB: 1 }, name, exact)
