/**
 * The Llama family's config.json, as transformers writes it (LlamaConfig, Qwen2Config,
 * Qwen3Config), to our LlamaConfig and back. Options that would change the maths and that Llama.ts
 * does not implement are refused by name.
 */
import type { LlamaConfig, RopeScaling } from "./Llama.ts"

export type LlamaFamily = LlamaConfig["architecture"]

/** transformers' class name of each architecture (config.json's `architectures`). */
export const hfClassName: Record<LlamaFamily, string> = {
  llama: "LlamaForCausalLM",
  qwen2: "Qwen2ForCausalLM",
  qwen3: "Qwen3ForCausalLM"
}

const RopeTypes = ["linear", "llama3"]

const ropeScalingFrom = (raw: unknown, file: string): RopeScaling | null => {
  if (raw === undefined || raw === null) return null
  if (typeof raw !== "object") throw new Error(`${file}: rope_scaling must be an object or null (got ${JSON.stringify(raw)})`)
  const r = raw as Record<string, unknown>
  const type = (r.rope_type ?? r.type) as unknown
  if (type === "default") return null
  if (typeof type !== "string" || !RopeTypes.includes(type)) {
    throw new Error(`${file}: rope_scaling.rope_type is ${JSON.stringify(type)}; odpo implements ${RopeTypes.map((t) => JSON.stringify(t)).join(" and ")} (and none)`)
  }
  const num = (key: string, fallback?: number): number => {
    const v = r[key] ?? fallback
    if (typeof v !== "number" || !Number.isFinite(v)) throw new Error(`${file}: rope_scaling.${key} must be a number (got ${JSON.stringify(r[key])})`)
    return v
  }
  if (type === "linear") return { type, factor: num("factor") }
  return {
    type: "llama3",
    factor: num("factor"),
    lowFreqFactor: num("low_freq_factor"),
    highFreqFactor: num("high_freq_factor"),
    originalMaxPositionEmbeddings: num("original_max_position_embeddings")
  }
}

/**
 * Our config from a transformers config.json of `architecture`; throws one message naming the
 * file and the field. rope_theta may sit at the top (transformers 4) or in rope_parameters (5).
 */
export const fromHfJson = (architecture: LlamaFamily, raw: Record<string, unknown>, file: string): LlamaConfig => {
  const bad = (message: string) => new Error(`${file}: ${message}`)
  const int = (key: string, fallback?: number): number => {
    const v = raw[key] ?? fallback
    if (!Number.isInteger(v) || (v as number) <= 0) throw bad(`${key} must be a positive integer (got ${JSON.stringify(raw[key])})`)
    return v as number
  }
  if (raw.model_type !== architecture) throw bad(`model_type is ${JSON.stringify(raw.model_type)}, expected ${JSON.stringify(architecture)}`)
  const act = raw.hidden_act ?? "silu"
  if (act !== "silu") throw bad(`hidden_act is ${JSON.stringify(act)}; the Llama family's SwiGLU MLP uses "silu"`)
  if (raw.mlp_bias === true) throw bad("mlp_bias is true; odpo's Llama MLP has no biases")
  const partial = raw.partial_rotary_factor ?? 1
  if (partial !== 1) throw bad(`partial_rotary_factor is ${JSON.stringify(partial)}; odpo rotates the whole head (1.0)`)
  const dModel = int("hidden_size")
  const nHeads = int("num_attention_heads")
  const contextLength = int("max_position_embeddings")
  if (raw.use_sliding_window === true) {
    const window = raw.sliding_window
    if (!(typeof window === "number" && window >= contextLength)) {
      throw bad(`use_sliding_window is true with sliding_window ${JSON.stringify(window)} < max_position_embeddings ${contextLength}; odpo's attention is full causal: set use_sliding_window to false only if the model was trained without it`)
    }
  }
  const params = (raw.rope_parameters ?? {}) as Record<string, unknown>
  const ropeTheta = (raw.rope_theta ?? params.rope_theta ?? 10000) as number
  if (typeof ropeTheta !== "number" || !(ropeTheta > 0)) throw bad(`rope_theta must be a positive number (got ${JSON.stringify(ropeTheta)})`)
  const ropeScaling = ropeScalingFrom(raw.rope_scaling ?? (params.rope_type && params.rope_type !== "default" ? params : null), file)
  const eps = (raw.rms_norm_eps ?? 1e-6) as number
  if (typeof eps !== "number" || !(eps > 0)) throw bad(`rms_norm_eps must be a positive number (got ${JSON.stringify(eps)})`)
  const attentionBias = raw.attention_bias === true
  return {
    architecture,
    vocabSize: int("vocab_size"),
    contextLength,
    dModel,
    nLayers: int("num_hidden_layers"),
    nHeads,
    nKvHeads: int("num_key_value_heads", nHeads),
    headDim: int("head_dim", dModel / nHeads),
    intermediateSize: int("intermediate_size"),
    ropeTheta,
    ropeScaling,
    rmsNormEps: eps,
    tieWordEmbeddings: raw.tie_word_embeddings === true,
    // Qwen2 always biases q/k/v and never o; Llama and Qwen3 bias all four when attention_bias is set.
    qkvBias: architecture === "qwen2" || attentionBias,
    oBias: architecture !== "qwen2" && attentionBias,
    qkNorm: architecture === "qwen3",
    // Fine-tuning runs without dropout (as TRL does), so log-probs are deterministic.
    dropout: 0
  }
}

/** What the variants fix: Qwen2's q/k/v bias without o bias, Qwen3's q/k norm, Llama/Qwen3's one attention_bias flag. */
export const validateFamily = (c: LlamaConfig): string | undefined => {
  if (c.architecture === "qwen2" && (!c.qkvBias || c.oBias)) return "qwen2 has biases on q/k/v and none on o: set model.attentionBias to true (or leave it out)"
  if (c.architecture !== "qwen2" && c.qkvBias !== c.oBias) return `${c.architecture}'s attention_bias biases q, k, v and o together`
  if (c.qkNorm !== (c.architecture === "qwen3")) return `q/k norm is Qwen3's alone (architecture ${c.architecture})`
  return undefined
}

const ropeScalingJson = (s: RopeScaling | null) =>
  s === null ? null : s.type === "linear" ? { rope_type: "linear", type: "linear", factor: s.factor } : {
    rope_type: "llama3",
    factor: s.factor,
    low_freq_factor: s.lowFreqFactor,
    high_freq_factor: s.highFreqFactor,
    original_max_position_embeddings: s.originalMaxPositionEmbeddings
  }

/** transformers' config.json fields for `c` (from_pretrained reads these; the rest are its defaults). */
export const toHfJson = (c: LlamaConfig): Record<string, unknown> => ({
  architectures: [hfClassName[c.architecture]],
  model_type: c.architecture,
  vocab_size: c.vocabSize,
  hidden_size: c.dModel,
  intermediate_size: c.intermediateSize,
  num_hidden_layers: c.nLayers,
  num_attention_heads: c.nHeads,
  num_key_value_heads: c.nKvHeads,
  head_dim: c.headDim,
  max_position_embeddings: c.contextLength,
  hidden_act: "silu",
  rms_norm_eps: c.rmsNormEps,
  rope_theta: c.ropeTheta,
  rope_scaling: ropeScalingJson(c.ropeScaling),
  tie_word_embeddings: c.tieWordEmbeddings,
  ...(c.architecture === "qwen2" ? {} : { attention_bias: c.oBias }),
  ...(c.architecture === "llama" ? { mlp_bias: false } : { use_sliding_window: false }),
  attention_dropout: 0,
  initializer_range: 0.02,
  torch_dtype: "float32"
})
