/**
 * The Llama family's forward pass written as ONNX ops, reading as Llama.ts reads: the same
 * parameter names (transformers', nn.Linear layout [out, in]), RMSNorm, RoPE, grouped-query
 * attention, SwiGLU. Inference only (prefill, decode with the KV cache, log-probs, KL): the
 * backward (VJP) graph is still to come, so the onnx engine samples and scores a Llama-family
 * policy but does not train it.
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

/** w · x / sqrt(mean(x²) + ε) over the last axis (width `n`). */
const rmsNorm = (b: GraphBuilder, x: string, weight: string, n: number, eps: number, name: string) => {
  const meanSquare = b.op("Mul", [b.op("ReduceSum", [b.op("Mul", [x, x]), b.ints([-1])], { keepdims: 1 }), b.scalar(1 / n)])
  const scale = b.op("Reciprocal", [b.op("Sqrt", [b.op("Add", [meanSquare, b.scalar(eps)])])])
  return b.op("Mul", [b.op("Mul", [x, scale]), weight], undefined, name)
}

/** x @ Wᵀ (+ b): nn.Linear, the weight read in its own layout (FusedMatMul transposes in the kernel). */
const linear = (b: GraphBuilder, p: Params, x: string, prefix: string, bias: boolean) => {
  const y = b.op("com.microsoft:FusedMatMul", [x, p(`${prefix}.weight`)], { transB: 1 }, `${prefix}.mm`)
  return bias ? b.op("Add", [y, p(`${prefix}.bias`)], undefined, prefix) : y
}

/** rotate_half: (x₁, x₂) → (−x₂, x₁) over the halves of the last axis; then x·cos + rotate_half(x)·sin. */
const rope = (b: GraphBuilder, x: string, cos: string, sin: string, hd: number) => {
  const [x1, x2] = b.opN("Split", [x, b.ints([hd / 2, hd / 2])], 2, { axis: -1 })
  const rotated = b.op("Concat", [b.op("Neg", [x2!]), x1!], { axis: -1 })
  return b.op("Add", [b.op("Mul", [x, cos]), b.op("Mul", [rotated, sin])])
}

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

/** The forward up to the final RMSNorm; keys/values per layer [B, H_kv, T, hd] (of the new token when decoding). */
export const forward = (b: GraphBuilder, p: Params, config: LlamaConfig, inputs: ForwardInputs) => {
  const { dModel: D, nHeads: H, nKvHeads: Hkv, headDim: hd, nLayers, rmsNormEps: eps } = config
  const n = H / Hkv
  const positions = inputs.positions ?? b.op("Unsqueeze", [b.op("Range", [b.int(0), b.op("Squeeze", [dim(b, inputs.ids, 1), b.ints([0])]), b.int(1)]), b.ints([0])])
  // RoPE angles [B, 1, T, hd]: position · θ_j, both halves of a head with the same frequencies
  const cacheName = inputs.cacheName ?? "present"
  const invFreq = b.initializer(`${cacheName}.rope.inv_freq`, [hd / 2], inverseFrequencies(config))
  const freqs = b.op("Mul", [b.op("Unsqueeze", [b.op("Cast", [positions], { to: ONNX_TYPE.float32 }), b.ints([-1])]), invFreq])
  const angles = b.op("Unsqueeze", [b.op("Concat", [freqs, freqs], { axis: -1 }), b.ints([1])])
  const cos = b.op("Cos", [angles], undefined, "rope.cos")
  const sin = b.op("Sin", [angles], undefined, "rope.sin")
  const mask = inputs.cache ? slotMask(b, inputs.cache.slotMask) : attentionMask(b, inputs.ids, inputs.keyMask!)
  let x = b.op("Gather", [p("model.embed_tokens.weight"), inputs.ids], { axis: 0 }, "x0")
  const present: Array<{ k: string; v: string }> = []
  for (let i = 0; i < nLayers; i++) {
    const pre = `model.layers.${i}`
    const a = `${pre}.self_attn`
    // x = x + attn(rms_1(x))
    const h = rmsNorm(b, x, p(`${pre}.input_layernorm.weight`), D, eps, `${pre}.input_layernorm`)
    // [B, T, heads·hd] → [B, heads, T, hd]; Qwen3 normalises each head of q and k first
    const heads = (t: string, count: number, norm: string | undefined, name?: string) => {
      const split = b.op("Reshape", [t, b.ints([0, 0, count, hd])])
      const normed = norm ? rmsNorm(b, split, p(`${a}.${norm}.weight`), hd, eps, `${a}.${norm}`) : split
      return b.op("Transpose", [normed], { perm: [0, 2, 1, 3] }, name, name !== undefined)
    }
    const q = rope(b, heads(linear(b, p, h, `${a}.q_proj`, config.qkvBias), H, config.qkNorm ? "q_norm" : undefined), cos, sin, hd)
    const kRaw = rope(b, heads(linear(b, p, h, `${a}.k_proj`, config.qkvBias), Hkv, config.qkNorm ? "k_norm" : undefined), cos, sin, hd)
    const k = b.op("Identity", [kRaw], undefined, `${cacheName}.${i}.key`, true)
    const v = heads(linear(b, p, h, `${a}.v_proj`, config.qkvBias), Hkv, undefined, `${cacheName}.${i}.value`)
    present.push({ k, v })
    // GQA: the n query heads of a KV head are contiguous, so [B, H, T, hd] → [B, H_kv, n·T, hd]
    const grouped = b.op("Reshape", [b.op("Mul", [q, b.scalar(1 / Math.sqrt(hd))]), b.ints([0, Hkv, -1, hd])])
    const kT = (t: string) => b.op("Transpose", [t], { perm: [0, 1, 3, 2] })
    const toHeads = (t: string) => b.op("Reshape", [t, b.ints([0, H, -1, 0])]) // [B, H_kv, n·T, S] → [B, H, T, S]
    const toGroups = (t: string) => b.op("Reshape", [t, b.ints([0, Hkv, -1, 0])])
    let yGrouped: string
    const past = inputs.cache?.past[i]
    if (!past) {
      // att = softmax(q kᵀ / sqrt(hd) + mask) v
      const att = b.op("Softmax", [b.op("Add", [toHeads(b.op("MatMul", [grouped, kT(k)])), mask])], { axis: -1 }, `${a}.probs`)
      yGrouped = b.op("MatMul", [toGroups(att), v])
    } else {
      // one new token against S cached slots and itself, the cache read in place
      const scorePast = b.op("Add", [toHeads(b.op("MatMul", [grouped, kT(past.k)])), mask])
      const scoreNew = toHeads(b.op("MatMul", [grouped, kT(k)]))
      const att = b.op("Softmax", [b.op("Concat", [scorePast, scoreNew], { axis: -1 })], { axis: -1 }, `${a}.probs`)
      const attPast = b.op("Slice", [att, b.ints([0]), b.ints([-1]), b.ints([-1])])
      const attNew = b.op("Slice", [att, b.ints([-1]), b.ints([2 ** 31 - 1]), b.ints([-1])])
      yGrouped = b.op("Add", [b.op("MatMul", [toGroups(attPast), past.v]), b.op("Mul", [toGroups(attNew), v])])
    }
    const y = b.op("Reshape", [b.op("Transpose", [b.op("Reshape", [yGrouped, b.ints([0, H, -1, hd])])], { perm: [0, 2, 1, 3] }), b.ints([0, 0, H * hd])], undefined, `${a}.y`)
    x = b.op("Add", [x, linear(b, p, y, `${a}.o_proj`, config.oBias)], undefined, `${pre}.x_mid`)
    // x = x + down(silu(gate(rms_2(x))) ⊙ up(rms_2(x)))
    const h2 = rmsNorm(b, x, p(`${pre}.post_attention_layernorm.weight`), D, eps, `${pre}.post_attention_layernorm`)
    const gate = linear(b, p, h2, `${pre}.mlp.gate_proj`, false)
    const act = b.op("Mul", [b.op("Mul", [gate, b.op("Sigmoid", [gate])]), linear(b, p, h2, `${pre}.mlp.up_proj`, false)])
    x = b.op("Add", [x, linear(b, p, act, `${pre}.mlp.down_proj`, false)], undefined, `${pre}.x_out`)
  }
  return { hidden: rmsNorm(b, x, p("model.norm.weight"), D, eps, "model.norm"), present }
}

/** logits = h · Wᵀ over the last axis, W = lm_head (embed_tokens when tied). */
export const logits = (b: GraphBuilder, p: Params, config: LlamaConfig, h: string, name = "logits", exact = false): string =>
  b.op("com.microsoft:FusedMatMul", [h, p(config.tieWordEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight")], { transB: 1 }, name, exact)
