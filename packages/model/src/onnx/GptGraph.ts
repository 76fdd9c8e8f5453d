/**
 * The GPT's forward pass written as ONNX ops, reading as Gpt.ts reads: the same parameter names
 * (HF GPT-2, Conv1D layout [in, out]), the same blocks, the same mask. It also hands back what the
 * backward pass (GptBackward.ts) needs from the forward.
 */
import type { GptConfig } from "../Gpt.ts"
import { parameterShapes } from "../Gpt.ts"
import { type GraphBuilder, ONNX_TYPE } from "./GraphBuilder.ts"

/** Where each parameter lives in the graph: its value name by GPT-2 name. */
export type Params = (name: string) => string

/**
 * Every parameter as a graph input named `prefix + name`: one graph serves every checkpoint of a
 * shape (weights are fed at each run; see OnnxPolicy for why this was chosen over initializers).
 */
export const paramInputs = (b: GraphBuilder, config: GptConfig, prefix = ""): Params => {
  for (const [name, shape] of parameterShapes(config)) b.input(prefix + name, "float32", shape)
  return (name) => prefix + name
}

/** Every parameter as an initializer (weights baked in: one graph per checkpoint). */
export const paramInitializers = (b: GraphBuilder, config: GptConfig, weights: ReadonlyMap<string, Float32Array>, prefix = ""): Params => {
  for (const [name, shape] of parameterShapes(config)) b.initializer(prefix + name, shape, weights.get(name)!)
  return (name) => prefix + name
}

/** A LayerNorm's input, output and the statistics its backward needs. */
export interface LayerNormValues {
  readonly x: string
  readonly y: string
  readonly mean: string
  /** 1 / sqrt(var + ε) */
  readonly rstd: string
}

/** What one block's backward needs from its forward. */
export interface BlockValues {
  readonly ln1: LayerNormValues
  /** c_attn's output [B, T, 3D] */
  readonly qkv: string
  /** q · 1/√hd, k and v as [B, H, T, hd] (k, v over past + new tokens). */
  readonly q: string
  readonly k: string
  readonly v: string
  /** softmax probabilities [B, H, T, T_past + T] */
  readonly att: string
  /** heads merged back, [B, T, D]: the input of c_proj */
  readonly y: string
  readonly ln2: LayerNormValues
  /** c_fc output before GELU f, f², 1 + tanh(√(2/π)(f + 0.044715 f³)), and the GELU output: [B, T, 4D] */
  readonly fc: string
  readonly fc2: string
  readonly onePlusTanh: string
  readonly gelu: string
}

export interface ForwardValues {
  /** ln_f(x): [B, T, D] */
  readonly hidden: string
  readonly lnF: LayerNormValues
  /** Per block, what its backward needs ("training" mode; empty in "inference"). */
  readonly blocks: ReadonlyArray<BlockValues>
  /** Keys and values per layer, [B, H, T, hd]: of every token, or (decoding) of the new one. */
  readonly present: ReadonlyArray<{ readonly k: string; readonly v: string }>
}

/**
 * "training" keeps what the backward pass needs (LayerNorm statistics, GELU's f² and 1 + tanh); "inference"
 * lets onnxruntime fuse instead: single-output LayerNorm and its FastGelu (bias folded in).
 */
export type ForwardMode = "inference" | "training"

export interface ForwardInputs {
  /** int32 [B, T] */
  readonly ids: string
  /** int32 [B, T] absolute positions; absent: 0…T−1 */
  readonly positions?: string
  /** float32 [B, T]: 1 for real tokens, 0 for padding (not used when decoding from `cache`) */
  readonly keyMask?: string
  /**
   * Decoding one token per row (T = 1) against cached keys/values held in S slots per row:
   * past [B, H, S, hd] per layer and which slots hold real tokens, float32 [B, S]. The cache is
   * read in place and not rewritten: only the new token's key and value come out.
   */
  readonly cache?: { readonly past: ReadonlyArray<{ readonly k: string; readonly v: string }>; readonly slotMask: string }
  /** Names the keys/values `${cacheName}.${layer}.key|value` (default "present"); two models in one graph need two. */
  readonly cacheName?: string
  /**
   * ("training") Activations a training forward already computed, fed back in (savedActivations'
   * names): each block's input, qkv, x_mid and c_fc output, and the last block's output. The big
   * matmuls (c_attn, c_proj, c_fc, mlp.c_proj) are then not done again; LayerNorm, attention and
   * GELU, which the backward reads, are recomputed from them.
   */
  readonly saved?: SavedActivations
}

/** Names of the activations a training forward hands to the backward graph (graph outputs there, inputs here). */
export interface SavedActivations {
  readonly blocks: ReadonlyArray<{ readonly xIn: string; readonly qkv: string; readonly xMid: string; readonly fc: string }>
  readonly xFinal: string
}

/** The names forward() gives those activations in "training" mode (checked where they are output). */
export const savedActivations = (config: GptConfig): SavedActivations => ({
  blocks: Array.from({ length: config.nLayers }, (_, i) => ({
    xIn: i === 0 ? "x0" : `h.${i - 1}.x_out`,
    qkv: `h.${i}.attn.c_attn`,
    xMid: `h.${i}.x_mid`,
    fc: `h.${i}.mlp.c_fc`
  })),
  xFinal: `h.${config.nLayers - 1}.x_out`
})

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI)

/** Last dimension of a value, as a 1-D int64 [1]. */
const dim = (b: GraphBuilder, x: string, axis: number) => b.op("Shape", [x], { start: axis, end: axis + 1 })

/** LayerNorm over the last axis, ε = 1e-5 as GPT-2; also its mean and 1/σ. */
export const layerNorm = (b: GraphBuilder, p: Params, x: string, prefix: string, mode: ForwardMode = "training"): LayerNormValues => {
  const outputs = mode === "training" ? 3 : 1
  const [y, mean, rstd] = b.opN("LayerNormalization", [x, p(`${prefix}.weight`), p(`${prefix}.bias`)], outputs, { axis: -1, epsilon: { float: 1e-5 } }, prefix)
  return { x, y: y!, mean: mean ?? "", rstd: rstd ?? "" }
}

/** x @ W + b with W in Conv1D layout [in, out]. */
const linear = (b: GraphBuilder, p: Params, x: string, prefix: string) =>
  b.op("Add", [b.op("MatMul", [x, p(`${prefix}.weight`)], undefined, `${prefix}.mm`), p(`${prefix}.bias`)], undefined, prefix)

/**
 * The additive attention mask [B, 1, T, T]: query t sees key j iff j ≤ t and key j is a real
 * token; 0 where allowed, −1e9 where not (as Gpt.ts).
 */
const attentionMask = (b: GraphBuilder, ids: string, keyMask: string): string => {
  const T = b.op("Squeeze", [dim(b, ids, 1), b.ints([0])])
  const idx = b.op("Range", [b.int(0), T, b.int(1)], undefined, "token_index")
  const causal = b.op("LessOrEqual", [b.op("Unsqueeze", [idx, b.ints([0])]), b.op("Unsqueeze", [idx, b.ints([1])])])
  const real = b.op("Unsqueeze", [b.op("Cast", [keyMask], { to: ONNX_TYPE.bool }), b.ints([1, 2])])
  return b.op("Where", [b.op("And", [causal, real]), b.scalar(0), b.scalar(-1e9)], undefined, "attention_mask")
}

/** The slots a decoding token may see, additive [B, 1, 1, S]. */
const slotMask = (b: GraphBuilder, slots: string): string =>
  b.op("Where", [b.op("Unsqueeze", [b.op("Cast", [slots], { to: ONNX_TYPE.bool }), b.ints([1, 2])]), b.scalar(0), b.scalar(-1e9)], undefined, "slot_mask")

/** softmax(q kᵀ + mask) v over the sequence itself: [B, H, T, hd] each; also the probabilities. */
const selfAttention = (b: GraphBuilder, q: string, k: string, v: string, mask: string, pre: string) => {
  const scores = b.op("Add", [b.op("MatMul", [q, b.op("Transpose", [k], { perm: [0, 1, 3, 2] })]), mask], undefined, `${pre}.attn.scores`)
  const att = b.op("Softmax", [scores], { axis: -1 }, `${pre}.attn.probs`)
  return { att, y: b.op("MatMul", [att, v]) }
}

/**
 * One new token's attention over S cached slots and itself, without concatenating the cache:
 * scores = [q Kᵀ + mask, q·k_new], softmax over both, y = att_past V + att_new v_new.
 */
const cachedAttention = (b: GraphBuilder, q: string, k: string, v: string, past: { k: string; v: string }, mask: string, pre: string) => {
  const scorePast = b.op("Add", [b.op("MatMul", [q, b.op("Transpose", [past.k], { perm: [0, 1, 3, 2] })]), mask])
  const scoreNew = b.op("MatMul", [q, b.op("Transpose", [k], { perm: [0, 1, 3, 2] })])
  const att = b.op("Softmax", [b.op("Concat", [scorePast, scoreNew], { axis: -1 })], { axis: -1 }, `${pre}.attn.probs`)
  const attPast = b.op("Slice", [att, b.ints([0]), b.ints([-1]), b.ints([-1])])
  const attNew = b.op("Slice", [att, b.ints([-1]), b.ints([2 ** 31 - 1]), b.ints([-1])])
  return { att, y: b.op("Add", [b.op("MatMul", [attPast, past.v]), b.op("Mul", [attNew, v])]) }
}

/** The forward pass up to ln_f (logits are the caller's: all positions, the last, or log-probs). */
export const forward = (b: GraphBuilder, p: Params, config: GptConfig, inputs: ForwardInputs, mode: ForwardMode = "training"): ForwardValues => {
  const { dModel: D, nHeads: H, nLayers } = config
  const hd = D / H
  // Token + position embeddings
  const positions = inputs.positions ?? b.op("Range", [b.int(0), b.op("Squeeze", [dim(b, inputs.ids, 1), b.ints([0])]), b.int(1)], undefined, "positions")
  const saved = inputs.saved
  let x = saved
    ? saved.blocks[0]!.xIn
    : b.op("Add", [b.op("Gather", [p("wte.weight"), inputs.ids], { axis: 0 }, "tok_emb"), b.op("Gather", [p("wpe.weight"), positions], { axis: 0 }, "pos_emb")], undefined, "x0")
  const mask = inputs.cache ? slotMask(b, inputs.cache.slotMask) : attentionMask(b, inputs.ids, inputs.keyMask!)
  const split = b.ints([D, D, D])
  const headsShape = b.ints([0, 0, H, hd])
  const mergedShape = b.ints([0, 0, D])
  const blocks: Array<BlockValues> = []
  const present: Array<{ k: string; v: string }> = []
  for (let i = 0; i < nLayers; i++) {
    const pre = `h.${i}`
    // x = x + attn(ln_1(x))
    const kept = saved?.blocks[i]
    if (kept) x = kept.xIn
    const ln1 = layerNorm(b, p, x, `${pre}.ln_1`, mode)
    const qkv = kept ? kept.qkv : linear(b, p, ln1.y, `${pre}.attn.c_attn`)
    const heads = (t: string, name: string) => b.op("Transpose", [b.op("Reshape", [t, headsShape])], { perm: [0, 2, 1, 3] }, `${pre}.attn.${name}`)
    const headsNamed = (t: string, name: string) => b.op("Transpose", [b.op("Reshape", [t, headsShape])], { perm: [0, 2, 1, 3] }, name, true)
    const [qFlat, kFlat, vFlat] = b.opN("Split", [qkv, split], 3, { axis: -1 }, `${pre}.attn.qkv`)
    // att = softmax(q kᵀ / sqrt(hd) + mask) v  (q is scaled first, as Gpt.ts does)
    const q = b.op("Mul", [heads(qFlat!, "q"), b.scalar(1 / Math.sqrt(hd))], undefined, `${pre}.attn.q_scaled`)
    // k, v carry the names a cache-returning graph outputs them under
    const cache = inputs.cacheName ?? "present"
    const k = headsNamed(kFlat!, `${cache}.${i}.key`)
    const v = headsNamed(vFlat!, `${cache}.${i}.value`)
    present.push({ k, v })
    const past = inputs.cache?.past[i]
    const { att, y: yHeads } = past ? cachedAttention(b, q, k, v, past, mask, pre) : selfAttention(b, q, k, v, mask, pre)
    const y = b.op("Reshape", [b.op("Transpose", [yHeads], { perm: [0, 2, 1, 3] }), mergedShape], undefined, `${pre}.attn.y`)
    x = kept ? kept.xMid : b.op("Add", [x, linear(b, p, y, `${pre}.attn.c_proj`)], undefined, `${pre}.x_mid`)
    // x = x + mlp(ln_2(x)),  gelu(f) = 0.5 f (1 + tanh(√(2/π) (f + 0.044715 f³)))
    const ln2 = layerNorm(b, p, x, `${pre}.ln_2`, mode)
    if (mode === "inference") {
      // onnxruntime's FastGelu is this tanh GELU, with c_fc's bias added inside
      const fcIn = b.op("MatMul", [ln2.y, p(`${pre}.mlp.c_fc.weight`)], undefined, `${pre}.mlp.c_fc.mm`)
      const gelu = b.op("com.microsoft:FastGelu", [fcIn, p(`${pre}.mlp.c_fc.bias`)], undefined, `${pre}.mlp.gelu`)
      x = b.op("Add", [x, linear(b, p, gelu, `${pre}.mlp.c_proj`)], undefined, `${pre}.x_out`)
      continue
    }
    // tanh(√(2/π) f (1 + 0.044715 f²)): f² and 1 + tanh are kept for the backward
    const fc = kept ? kept.fc : linear(b, p, ln2.y, `${pre}.mlp.c_fc`)
    const fc2 = b.op("Mul", [fc, fc], undefined, `${pre}.mlp.fc2`)
    const u = b.op("Mul", [fc, b.op("Add", [b.op("Mul", [fc2, b.scalar(SQRT_2_OVER_PI * 0.044715)]), b.scalar(SQRT_2_OVER_PI)])])
    const onePlusTanh = b.op("Add", [b.op("Tanh", [u], undefined, `${pre}.mlp.tanh`), b.scalar(1)], undefined, `${pre}.mlp.one_plus_tanh`)
    const gelu = b.op("Mul", [b.op("Mul", [fc, b.scalar(0.5)]), onePlusTanh], undefined, `${pre}.mlp.gelu`)
    // with saved activations the next block's input (or the final x) is fed, not recomputed
    if (!saved) x = b.op("Add", [x, linear(b, p, gelu, `${pre}.mlp.c_proj`)], undefined, `${pre}.x_out`)
    blocks.push({ ln1, qkv, q, k, v, att, y, ln2, fc, fc2, onePlusTanh, gelu })
  }
  const lnF = layerNorm(b, p, saved ? saved.xFinal : x, "ln_f", mode)
  return { hidden: lnF.y, lnF, blocks, present }
}

/** Tied embeddings: logits = h · wteᵀ over the last axis of `h` ([…, D] → […, V]). */
export const logits = (b: GraphBuilder, p: Params, h: string, name = "logits", exact = false): string =>
  b.op("MatMul", [h, b.op("Transpose", [p("wte.weight")], { perm: [1, 0] }, "wte_t")], undefined, name, exact)
