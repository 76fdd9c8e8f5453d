/**
 * The one table keyed by architecture: what differs between GPT-2 and the Llama family (init,
 * parameter shapes, validation, the Hugging Face config mapping, the ONNX graphs where there are
 * some). Engines and consumers see CausalLm and look here; nothing else asks which architecture.
 */
import type { RunConfig } from "@odpo/core"
import { type Architecture, architectureOf, architectures, type CacheGeometry, type CausalLm, type ModelConfig } from "./CausalLm.ts"
import { Gpt, type GptConfig, initialParameters as gptInit, parameterShapes as gptShapes, validateConfig as gptValidate } from "./Gpt.ts"
import * as Gpt2Config from "./Gpt2Config.ts"
import { initialParameters as llamaInit, Llama, type LlamaConfig, parameterShapes as llamaShapes, shapeFields as llamaFields, validateConfig as llamaValidate } from "./Llama.ts"
import * as LlamaHf from "./LlamaConfig.ts"
import type { OnnxGraph } from "./OnnxWriter.ts"
import { scalarCount } from "./ModelVariables.ts"
import { type GraphKind, graphFor as gptGraphs, llamaGraphFor } from "./onnx/PolicyGraphs.ts"

export { type Architecture, architectureOf, architectures } from "./CausalLm.ts"

export interface ArchitectureEntry<C extends ModelConfig> {
  /** The family's name as people write it ("GPT-2", "Llama"). */
  readonly displayName: string
  /** policy.model (decoded, defaults filled) as this architecture's config. */
  readonly fromPolicyModel: (m: RunConfig.ModelConfig) => C
  /** A problem with the config, naming the policy.model field, or undefined. */
  readonly validate: (c: C) => string | undefined
  /** Names (Hugging Face's) and shapes of every parameter, in safetensors order. */
  readonly parameterShapes: (c: C) => Array<[string, number[]]>
  /** The config.json fields a parameter's shape comes from (errors about a misshapen tensor). */
  readonly shapeFields: (name: string) => string
  readonly initialParameters: (c: C, seed: number) => Map<string, Float32Array>
  readonly build: (c: C, weights: Map<string, Float32Array>) => CausalLm
  /** Our own config.json (saveCheckpoint spreads the config in) back to the config. */
  readonly fromCheckpointJson: (raw: Record<string, unknown>, file: string) => C
  /** transformers' config.json: its class name, and the mapping both ways (fromJson throws a message naming file and field). */
  readonly hf: {
    readonly className: string
    readonly fromJson: (raw: Record<string, unknown>, file: string) => C
    readonly toJson: (c: C) => Record<string, unknown>
    /** The tensor's name in the state dict save_pretrained writes. */
    readonly tensorName: (name: string) => string
  }
  /** Checkpoints may pad the embedding past the tokenizer's vocabulary (Qwen's 151936 rows for 151665 tokens). */
  readonly paddedVocabulary: boolean
  /** What a KV cache holds per token (layers, KV heads, head dim). */
  readonly cacheGeometry: (c: C) => CacheGeometry
  /**
   * The onnx engine's graphs by kind; a kind absent is work the
   * onnx engine refuses for this architecture: without vjp it samples and scores but does not train.
   */
  readonly onnx: { readonly graphFor: Partial<Record<GraphKind, (c: C) => OnnxGraph>> }
}

const gptFields = (name: string): string => {
  if (name === "wte.weight") return "model.vocabSize × model.dModel"
  if (name === "wpe.weight") return "model.contextLength × model.dModel"
  if (name.includes("c_fc") || name.includes("mlp.c_proj.weight")) return "model.dModel × 4·model.dModel"
  if (name.includes("c_attn")) return "model.dModel × 3·model.dModel"
  return "model.dModel"
}

const gpt2: ArchitectureEntry<GptConfig> = {
  displayName: "GPT-2",
  // Exactly GPT-2's six fields: config.json and every hash stay what they were before the seam.
  fromPolicyModel: (m) => ({ vocabSize: m.vocabSize, contextLength: m.contextLength, dModel: m.dModel, nLayers: m.nLayers, nHeads: m.nHeads, dropout: m.dropout }),
  validate: gptValidate,
  parameterShapes: gptShapes,
  shapeFields: gptFields,
  initialParameters: gptInit,
  build: (c, w) => new Gpt(c, w),
  fromCheckpointJson: Gpt2Config.fromCheckpointJson,
  // GPT2LMHeadModel keeps the transformer under `transformer.` and writes no lm_head (tied).
  hf: { className: "GPT2LMHeadModel", fromJson: Gpt2Config.fromHfJson, toJson: Gpt2Config.toHfJson, tensorName: (n) => `transformer.${n}` },
  paddedVocabulary: false,
  cacheGeometry: (c) => ({ layers: c.nLayers, kvHeads: c.nHeads, headDim: c.dModel / c.nHeads }),
  onnx: { graphFor: gptGraphs }
}

const llamaFamily = (architecture: LlamaHf.LlamaFamily, displayName: string): ArchitectureEntry<LlamaConfig> => ({
  displayName,
  fromPolicyModel: (m) => ({
    architecture,
    vocabSize: m.vocabSize,
    contextLength: m.contextLength,
    dModel: m.dModel,
    nLayers: m.nLayers,
    nHeads: m.nHeads,
    nKvHeads: m.nKvHeads ?? m.nHeads,
    headDim: m.headDim ?? Math.floor(m.dModel / m.nHeads),
    intermediateSize: m.intermediateSize ?? 4 * m.dModel,
    ropeTheta: m.ropeTheta ?? 10000,
    ropeScaling: null,
    rmsNormEps: m.rmsNormEps ?? 1e-6,
    tieWordEmbeddings: m.tieWordEmbeddings ?? true,
    qkvBias: m.attentionBias ?? architecture === "qwen2",
    oBias: architecture !== "qwen2" && (m.attentionBias ?? false),
    qkNorm: architecture === "qwen3",
    dropout: m.dropout
  }),
  validate: (c) => llamaValidate(c) ?? LlamaHf.validateFamily(c),
  parameterShapes: llamaShapes,
  shapeFields: llamaFields,
  initialParameters: llamaInit,
  build: (c, w) => new Llama(c, w),
  // Our config.json carries transformers' fields in full: read them, keep our dropout.
  fromCheckpointJson: (raw, file) => ({ ...LlamaHf.fromHfJson(architecture, raw, file), dropout: (raw.dropout as number | undefined) ?? 0 }),
  hf: {
    className: LlamaHf.hfClassName[architecture],
    fromJson: (raw, file) => LlamaHf.fromHfJson(architecture, raw, file),
    toJson: LlamaHf.toHfJson,
    // Our parameters already carry transformers' names.
    tensorName: (n) => n
  },
  paddedVocabulary: true,
  cacheGeometry: (c) => ({ layers: c.nLayers, kvHeads: c.nKvHeads, headDim: c.headDim }),
  onnx: { graphFor: llamaGraphFor }
})

/** The table. */
export const table: { readonly [A in Architecture]: ArchitectureEntry<A extends "gpt2" ? GptConfig : LlamaConfig> } = {
  gpt2,
  llama: llamaFamily("llama", "Llama"),
  qwen2: llamaFamily("qwen2", "Qwen2"),
  qwen3: llamaFamily("qwen3", "Qwen3")
}

/** The entry of a config's architecture. */
export const entryOf = (config: ModelConfig): ArchitectureEntry<ModelConfig> =>
  table[architectureOf(config)] as unknown as ArchitectureEntry<ModelConfig>

export const isArchitecture = (name: unknown): name is Architecture => architectures.includes(name as Architecture)

/** The message for an architecture odpo does not have. */
export const unknownArchitecture = (name: unknown, where: string): string =>
  `${where}: architecture ${JSON.stringify(name)} is not one odpo implements (${architectures.join(", ")})`

/** transformers' class name → architecture (config.json's `architectures[0]`). */
export const fromHfClassName = (className: string): Architecture | undefined =>
  architectures.find((a) => table[a].hf.className === className)

export const parameterShapes = (c: ModelConfig): Array<[string, number[]]> => entryOf(c).parameterShapes(c)
export const parameterCount = (c: ModelConfig): number => scalarCount(parameterShapes(c))
export const validateConfig = (c: ModelConfig): string | undefined => entryOf(c).validate(c)
export const build = (c: ModelConfig, weights: Map<string, Float32Array>): CausalLm => entryOf(c).build(c, weights)
/** A freshly initialised model (seeded). */
export const init = (c: ModelConfig, seed = 0): CausalLm => build(c, entryOf(c).initialParameters(c, seed))

/** policy.model → the model's config (defaults of its architecture filled). */
export const fromPolicyModel = (m: RunConfig.ModelConfig): ModelConfig =>
  (table[m.architecture ?? "gpt2"] as unknown as ArchitectureEntry<ModelConfig>).fromPolicyModel(m)

/** The onnx graph of `kind` for a config's architecture, or undefined where it has none. */
export const onnxGraph = (c: ModelConfig, kind: GraphKind): ((c: ModelConfig) => OnnxGraph) | undefined => entryOf(c).onnx.graphFor[kind]

/** What the onnx engine can do with an architecture: train (it has the VJP), or only sample and score. */
export const onnxUse = (architecture: Architecture): "training" | "inference" | "none" => {
  const g = table[architecture].onnx.graphFor
  return g.vjp ? "training" : g.prefill && g.decode && g.logps && g.stats ? "inference" : "none"
}

export const cacheGeometry = (c: ModelConfig): CacheGeometry => entryOf(c).cacheGeometry(c)
