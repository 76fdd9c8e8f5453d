/**
 * The graphs the onnx engine runs, each built from an architecture's forward (GptGraph,
 * LlamaGraph): prefill and decode (KV cache, last-position logits), masked sequence log-probs,
 * sequence statistics against a reference (exact KL, entropy), and the training step: its forward
 * (train) and VJP (GptBackward, LlamaBackward). Weights are graph inputs named as the model
 * names them (the reference's prefixed "ref."), so one graph serves every checkpoint of a shape.
 */
import type { GptConfig } from "../Gpt.ts"
import { parameterShapes as gptShapes } from "../Gpt.ts"
import type { LlamaConfig } from "../Llama.ts"
import { parameterShapes as llamaShapes } from "../Llama.ts"
import type { OnnxGraph } from "../OnnxWriter.ts"
import * as GptBackward from "./GptBackward.ts"
import type { BackwardInputs } from "./GptBackward.ts"
import * as GptGraph from "./GptGraph.ts"
import { type ForwardInputs, type Params } from "./GptGraph.ts"
import { GraphBuilder, ONNX_TYPE } from "./GraphBuilder.ts"
import * as LlamaBackward from "./LlamaBackward.ts"
import * as LlamaGraph from "./LlamaGraph.ts"

export type GraphKind = "prefill" | "decode" | "logps" | "stats" | "train" | "vjp"

/** Prefix of the reference model's weights in the stats graph. */
export const REF_PREFIX = "ref."
/** Gradient outputs are named GRAD_PREFIX + parameter name. */
export const GRAD_PREFIX = "grad."

const INT_MAX = 2 ** 31 - 1

const idsInput = (b: GraphBuilder) => b.input("input_ids", "int32", ["batch", "tokens"])
const keyMaskInput = (b: GraphBuilder, keys: string) => b.input("key_mask", "float32", ["batch", keys])

/** A training step's two graphs as an architecture writes them (train: forward; vjp: backward). */
export interface Training<C> {
  /** Name and shape of each activation the train graph hands to the VJP graph. */
  readonly savedValues: (config: C) => Array<[string, Array<number | string>]>
  /** The training forward: final hidden states, and the values it made for savedValues, in that order. */
  readonly forward: (b: GraphBuilder, p: Params, config: C, inputs: ForwardInputs) => { readonly hidden: string; readonly saved: ReadonlyArray<string> }
  /** The VJP's body: the forward's cheap parts again from the saved activations (graph inputs), then the backward. */
  readonly vjp: (b: GraphBuilder, p: Params, config: C, inputs: ForwardInputs, back: BackwardInputs, gradName: (name: string) => string) => Map<string, string>
}

/**
 * What a graph needs of an architecture: its parameter inputs, its inference forward (final
 * hidden states and per-layer keys/values), its LM head, what the KV cache holds per token, and
 * its training step.
 */
export interface Family<C> {
  readonly name: string
  readonly parameterShapes: (config: C) => Array<[string, number[]]>
  readonly paramInputs: (b: GraphBuilder, config: C, prefix?: string) => Params
  readonly forward: (b: GraphBuilder, p: Params, config: C, inputs: ForwardInputs) => { readonly hidden: string; readonly present: ReadonlyArray<{ k: string; v: string }> }
  readonly logits: (b: GraphBuilder, p: Params, config: C, h: string, name?: string, exact?: boolean) => string
  /** KV heads and head dim of the cache. */
  readonly cache: (config: C) => { readonly kvHeads: number; readonly headDim: number }
  readonly training: Training<C>
}

/** Each GPT saved activation's name and shape (GptGraph.savedActivations), in one list. */
const gptSavedValues = (config: GptConfig): Array<[string, Array<number | string>]> => {
  const { dModel: D } = config
  const saved = GptGraph.savedActivations(config)
  const rows = ["batch", "tokens"]
  return [
    ...saved.blocks.flatMap((s): Array<[string, Array<number | string>]> => [[s.xIn, [...rows, D]], [s.qkv, [...rows, 3 * D]], [s.xMid, [...rows, D]], [s.fc, [...rows, 4 * D]]]),
    [saved.xFinal, [...rows, D]]
  ]
}

export const gptFamily: Family<GptConfig> = {
  name: "gpt",
  parameterShapes: gptShapes,
  paramInputs: GptGraph.paramInputs,
  forward: (b, p, c, inputs) => GptGraph.forward(b, p, c, inputs, "inference"),
  logits: (b, p, _c, h, name, exact) => GptGraph.logits(b, p, h, name, exact),
  cache: (c) => ({ kvHeads: c.nHeads, headDim: c.dModel / c.nHeads }),
  training: {
    savedValues: gptSavedValues,
    forward: (b, p, c, inputs) => {
      const fwd = GptGraph.forward(b, p, c, inputs, "training")
      return { hidden: fwd.hidden, saved: [...fwd.blocks.flatMap((s) => [s.ln1.x, s.qkv, s.ln2.x, s.fc]), fwd.lnF.x] }
    },
    vjp: (b, p, c, inputs, back, gradName) =>
      GptBackward.backward(b, p, c, GptGraph.forward(b, p, c, { ...inputs, saved: GptGraph.savedActivations(c) }), back, gradName)
  }
}

export const llamaFamily: Family<LlamaConfig> = {
  name: "llama",
  parameterShapes: llamaShapes,
  paramInputs: LlamaGraph.paramInputs,
  forward: LlamaGraph.forward,
  logits: LlamaGraph.logits,
  cache: (c) => ({ kvHeads: c.nKvHeads, headDim: c.headDim }),
  training: {
    savedValues: LlamaGraph.savedValues,
    forward: (b, p, c, inputs) => {
      const fwd = LlamaGraph.forward(b, p, c, inputs)
      return { hidden: fwd.hidden, saved: [...fwd.blocks.flatMap((s) => [s.rms1.x, s.qLin, s.kLin, s.vLin, s.rms2.x, s.gate, s.up]), fwd.norm.x] }
    },
    vjp: (b, p, c, inputs, back, gradName) =>
      LlamaBackward.backward(b, p, c, LlamaGraph.forward(b, p, c, inputs, LlamaGraph.savedActivations(c)), back, gradName)
  }
}

/** Last-position logits [B, V]: left padding puts every row's last token there. */
const lastLogits = <C>(f: Family<C>, config: C, b: GraphBuilder, p: Params, ids: string, hidden: string, V: number) => {
  const T = b.op("Shape", [ids], { start: 1, end: 2 })
  const last = b.op("Squeeze", [b.op("Sub", [T, b.ints([1])]), b.ints([0])])
  const hLast = b.op("Gather", [hidden, last], { axis: 1 }, "h_last") // [B, D]
  b.output(f.logits(b, p, config, hLast, "logits", true), "float32", ["batch", V])
}

/** Prefill: left-padded prompts → each row's last logits and every token's keys/values, present.i.key|value [B, H_kv, T, hd]. */
export const prefillGraphOf = <C extends { readonly vocabSize: number }>(f: Family<C>) => (config: C): OnnxGraph => {
  const { kvHeads: H, headDim: hd } = f.cache(config)
  const b = new GraphBuilder(`odpo_${f.name}_prefill`)
  const p = f.paramInputs(b, config)
  const ids = idsInput(b)
  const positions = b.input("positions", "int32", ["batch", "tokens"])
  const keyMask = keyMaskInput(b, "tokens")
  const fwd = f.forward(b, p, config, { ids, positions, keyMask })
  lastLogits(f, config, b, p, ids, fwd.hidden, config.vocabSize)
  for (const { k, v } of fwd.present) {
    b.output(k, "float32", ["batch", H, "tokens", hd])
    b.output(v, "float32", ["batch", H, "tokens", hd])
  }
  return b.build()
}
export const prefillGraph = prefillGraphOf(gptFamily)

/**
 * Decode: one new token per row against the cache the caller keeps in S slots per row —
 * past.i.key|value [B, H, S, hd], slot_mask [B, S] (1 where a slot holds a real token) — read in
 * place. Out: logits [B, V] and the new token's new.i.key|value [B, H, 1, hd], which the caller
 * writes into its next slot. Nothing proportional to the cache is copied or returned.
 */
export const decodeGraphOf = <C extends { readonly vocabSize: number; readonly nLayers: number }>(f: Family<C>) => (config: C): OnnxGraph => {
  const { nLayers, vocabSize: V } = config
  const { kvHeads: H, headDim: hd } = f.cache(config)
  const b = new GraphBuilder(`odpo_${f.name}_decode`)
  const p = f.paramInputs(b, config)
  const ids = b.input("input_ids", "int32", ["batch", 1])
  const positions = b.input("positions", "int32", ["batch", 1])
  const slots = b.input("slot_mask", "float32", ["batch", "slots"])
  const past = Array.from({ length: nLayers }, (_, i) => ({
    k: b.input(`past.${i}.key`, "float32", ["batch", H, "slots", hd]),
    v: b.input(`past.${i}.value`, "float32", ["batch", H, "slots", hd])
  }))
  const fwd = f.forward(b, p, config, { ids, positions, cache: { past, slotMask: slots }, cacheName: "new" })
  lastLogits(f, config, b, p, ids, fwd.hidden, V)
  for (const { k, v } of fwd.present) {
    b.output(k, "float32", ["batch", H, 1, hd])
    b.output(v, "float32", ["batch", H, 1, hd])
  }
  return b.build()
}
export const decodeGraph = decodeGraphOf(gptFamily)

/** Right-padded sequences: ids, key mask, and the mask of completion targets (position t predicts ids[t+1]). */
const sequenceInputs = (b: GraphBuilder) => ({
  ids: idsInput(b),
  keyMask: keyMaskInput(b, "tokens"),
  targetMask: b.input("target_mask", "float32", ["batch", "targets"])
})

/** Next-token log-distributions [B, T−1, V] (LogSoftmax, never log of softmax). */
const nextTokenLogProbs = <C>(f: Family<C>, config: C, b: GraphBuilder, p: Params, hidden: string, name: string) => {
  const h = b.op("Slice", [hidden, b.ints([0]), b.ints([-1]), b.ints([1])]) // positions 0…T−2
  return b.op("LogSoftmax", [f.logits(b, p, config, h, `${name}.logits`)], { axis: -1 }, `${name}.logp`)
}

/** ids[:, 1:] as int64 [B, T−1, 1]: the token each position predicts. */
const targetIndex = (b: GraphBuilder, ids: string) =>
  b.op("Unsqueeze", [b.op("Cast", [b.op("Slice", [ids, b.ints([1]), b.ints([INT_MAX]), b.ints([1])])], { to: ONNX_TYPE.int64 }), b.ints([-1])], undefined, "targets")

/** log p(target) at each position, zero where masked: [B, T−1]. */
const tokenLogProbs = (b: GraphBuilder, logp: string, targets: string, targetMask: string, name: string) =>
  b.op("Mul", [b.op("Squeeze", [b.op("GatherElements", [logp, targets], { axis: 2 }), b.ints([-1])]), targetMask], undefined, name, true)

const rowSum = (b: GraphBuilder, x: string, name: string) => b.op("ReduceSum", [x, b.ints([1])], { keepdims: 0 }, name, true)

/** Masked per-token and summed completion log-probs of right-padded sequences. */
export const logpsGraphOf = <C>(f: Family<C>) => (config: C): OnnxGraph => {
  const b = new GraphBuilder(`odpo_${f.name}_logps`)
  const p = f.paramInputs(b, config)
  const { ids, keyMask, targetMask } = sequenceInputs(b)
  const fwd = f.forward(b, p, config, { ids, keyMask })
  const tokens = tokenLogProbs(b, nextTokenLogProbs(f, config, b, p, fwd.hidden, "policy"), targetIndex(b, ids), targetMask, "token_logps")
  b.output(tokens, "float32", ["batch", "targets"])
  b.output(rowSum(b, tokens, "logps"), "float32", ["batch"])
  return b.build()
}
export const logpsGraph = logpsGraphOf(gptFamily)

/** The next-token log-distributions [B, T−1, V] the train graph hands to the VJP graph. */
export const LOGP_OUTPUT = "policy.logp"

/**
 * A training step's forward: the masked token log-probs (as logpsGraph), and for the VJP graph
 * the next-token log-distributions (LOGP_OUTPUT) and the activations its backward would otherwise
 * compute again (Training.savedValues: every matmul's output of the body).
 */
export const trainGraphOf = <C extends { readonly vocabSize: number }>(f: Family<C>) => (config: C): OnnxGraph => {
  const b = new GraphBuilder(`odpo_${f.name}_train`)
  const p = f.paramInputs(b, config)
  const { ids, keyMask, targetMask } = sequenceInputs(b)
  const fwd = f.training.forward(b, p, config, { ids, keyMask })
  const logp = nextTokenLogProbs(f, config, b, p, fwd.hidden, "policy")
  const tokens = tokenLogProbs(b, logp, targetIndex(b, ids), targetMask, "token_logps")
  b.output(tokens, "float32", ["batch", "targets"])
  b.output(logp, "float32", ["batch", "targets", config.vocabSize])
  f.training.savedValues(config).forEach(([name, shape], i) => {
    const made = fwd.saved[i]
    if (made !== name) throw new Error(`trainGraph: the ${f.name} forward named activation ${i} "${made}", not "${name}" (its savedActivations is out of step)`)
    b.output(name, "float32", shape)
  })
  return b.build()
}
export const trainGraph = trainGraphOf(gptFamily)

/**
 * Per sequence, summed over completion tokens: log π(y|x), the exact KL(π ‖ π_ref) over the whole
 * vocabulary, Σ_v π(v)(log π(v) − log π_ref(v)), and the entropy −Σ_v π(v) log π(v); the KL per
 * token as well. The reference's weights are inputs prefixed "ref.".
 */
export const statsGraphOf = <C>(f: Family<C>) => (config: C): OnnxGraph => {
  const b = new GraphBuilder(`odpo_${f.name}_stats`)
  const p = f.paramInputs(b, config)
  const q = f.paramInputs(b, config, REF_PREFIX)
  const { ids, keyMask, targetMask } = sequenceInputs(b)
  const lp = nextTokenLogProbs(f, config, b, p, f.forward(b, p, config, { ids, keyMask }).hidden, "policy")
  const lq = nextTokenLogProbs(f, config, b, q, f.forward(b, q, config, { ids, keyMask, cacheName: "ref.present" }).hidden, "ref")
  const probs = b.op("Exp", [lp], undefined, "policy.probs")
  const perToken = (x: string, name: string) => b.op("Mul", [b.op("ReduceSum", [x, b.ints([-1])], { keepdims: 0 }), targetMask], undefined, name, true)
  const kl = perToken(b.op("Mul", [probs, b.op("Sub", [lp, lq])]), "token_kl")
  const negEntropy = perToken(b.op("Mul", [probs, lp]), "token_neg_entropy")
  const tokens = tokenLogProbs(b, lp, targetIndex(b, ids), targetMask, "token_logps")
  b.output(kl, "float32", ["batch", "targets"])
  b.output(rowSum(b, kl, "kl"), "float32", ["batch"])
  b.output(b.op("Neg", [rowSum(b, negEntropy, "neg_entropy")], undefined, "entropy", true), "float32", ["batch"])
  b.output(rowSum(b, tokens, "logps"), "float32", ["batch"])
  return b.build()
}
export const statsGraph = statsGraphOf(gptFamily)

/**
 * The training step's vector–Jacobian product, after the train graph: from its saved activations
 * the forward's cheap parts again (norms, RoPE, attention, GELU or SiLU — no matmul of the body), then the
 * backward of the masked token log-probs, given upstream gradients dL/d(token log-prob) [B, T−1]
 * and the train graph's next-token log-distributions (LOGP_OUTPUT: the head's softmax is their
 * exp). Outputs every parameter's gradient ("grad." + name).
 */
export const vjpGraphOf = <C extends { readonly vocabSize: number }>(f: Family<C>) => (config: C): OnnxGraph => {
  const b = new GraphBuilder(`odpo_${f.name}_vjp`)
  const p = f.paramInputs(b, config)
  const { ids, keyMask, targetMask } = sequenceInputs(b)
  const upstream = b.input("upstream", "float32", ["batch", "targets"])
  const logp = b.input(LOGP_OUTPUT, "float32", ["batch", "targets", config.vocabSize])
  for (const [name, shape] of f.training.savedValues(config)) b.input(name, "float32", shape)
  const grads = f.training.vjp(b, p, config, { ids, keyMask }, { ids, targetMask, upstream, logp }, (name) => GRAD_PREFIX + name)
  for (const [name, shape] of f.parameterShapes(config)) b.output(grads.get(name)!, "float32", shape)
  return b.build()
}
export const vjpGraph = vjpGraphOf(gptFamily)

export const graphFor: Record<GraphKind, (config: GptConfig) => OnnxGraph> = {
  prefill: prefillGraph,
  decode: decodeGraph,
  logps: logpsGraph,
  stats: statsGraph,
  train: trainGraph,
  vjp: vjpGraph
}

/** The Llama family's graphs (Llama, Qwen2, Qwen3: the config says which parts a block has). */
export const llamaGraphFor: Record<GraphKind, (config: LlamaConfig) => OnnxGraph> = {
  prefill: prefillGraphOf(llamaFamily),
  decode: decodeGraphOf(llamaFamily),
  logps: logpsGraphOf(llamaFamily),
  stats: statsGraphOf(llamaFamily),
  train: trainGraphOf(llamaFamily),
  vjp: vjpGraphOf(llamaFamily)
}
