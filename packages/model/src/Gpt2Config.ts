/**
 * GPT-2's config.json as transformers writes it (GPT2Config) to our GptConfig and back. Options
 * that would change the maths and that Gpt.ts does not implement are refused by name.
 */
import { type GptConfig, validateConfig } from "./Gpt.ts"

/** Activations that are GPT-2's tanh-approximated GELU under another name. */
const TANH_GELU = ["gelu_new", "gelu_pytorch_tanh", "gelu_fast"]

/** Our GptConfig from a transformers GPT2Config JSON; throws one message naming the file and field. */
export const fromHfJson = (raw: Record<string, unknown>, file: string): GptConfig => {
  const bad = (message: string) => new Error(`${file}: ${message}`)
  if (raw.model_type !== undefined && raw.model_type !== "gpt2") {
    throw bad(`model_type is ${JSON.stringify(raw.model_type)}; only "gpt2" checkpoints can be imported`)
  }
  const dModel = raw.n_embd as number
  const config: GptConfig = {
    vocabSize: raw.vocab_size as number,
    contextLength: (raw.n_positions ?? raw.n_ctx) as number,
    dModel,
    nLayers: raw.n_layer as number,
    nHeads: raw.n_head as number,
    // Dropout off: DPO-style fine-tuning disables it (as TRL does) so log-probs are deterministic.
    dropout: 0
  }
  const names: Record<Exclude<keyof GptConfig, "architecture">, string> = {
    vocabSize: "vocab_size", contextLength: "n_positions", dModel: "n_embd", nLayers: "n_layer", nHeads: "n_head", dropout: "dropout"
  }
  for (const k of ["vocabSize", "contextLength", "dModel", "nLayers", "nHeads"] as const) {
    if (!Number.isInteger(config[k]) || config[k] <= 0) throw bad(`${names[k]} must be a positive integer (got ${JSON.stringify(config[k])})`)
  }
  const problem = validateConfig(config)
  if (problem) throw bad(problem)
  const eps = (raw.layer_norm_epsilon as number | undefined) ?? 1e-5
  if (Math.abs(eps - 1e-5) > 1e-12) throw bad(`layer_norm_epsilon is ${eps}; our LayerNorm uses GPT-2's 1e-5`)
  const act = (raw.activation_function as string | undefined) ?? "gelu_new"
  if (!TANH_GELU.includes(act)) throw bad(`activation_function is ${JSON.stringify(act)}; our MLP uses GPT-2's tanh GELU (${TANH_GELU.join(", ")})`)
  const inner = raw.n_inner as number | null | undefined
  if (inner !== undefined && inner !== null && inner !== 4 * dModel) throw bad(`n_inner is ${inner}; our MLP is 4·n_embd = ${4 * dModel} wide`)
  if (raw.tie_word_embeddings === false) throw bad("tie_word_embeddings is false; our model ties the LM head to wte")
  for (const flag of ["scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn"]) {
    if (raw[flag] === true) throw bad(`${flag} is true; our attention does not implement it`)
  }
  if (raw.scale_attn_weights === false) throw bad("scale_attn_weights is false; our attention always scales by 1/sqrt(head dim)")
  return config
}

/** transformers' GPT-2 config.json fields (what every odpo GPT-2 checkpoint has written since format 1). */
export const toHfJson = (config: GptConfig): Record<string, unknown> => ({
  model_type: "gpt2",
  vocab_size: config.vocabSize,
  n_positions: config.contextLength,
  n_embd: config.dModel,
  n_layer: config.nLayers,
  n_head: config.nHeads,
  layer_norm_epsilon: 1e-5,
  activation_function: "gelu_new",
  tie_word_embeddings: true
})

/** Our own config.json's GptConfig (the camelCase record saveCheckpoint spreads in). */
export const fromCheckpointJson = (raw: Record<string, unknown>): GptConfig => ({
  vocabSize: raw.vocabSize as number,
  contextLength: raw.contextLength as number,
  dModel: raw.dModel as number,
  nLayers: raw.nLayers as number,
  nHeads: raw.nHeads as number,
  dropout: (raw.dropout as number | undefined) ?? 0
})
