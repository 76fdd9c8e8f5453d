/**
 * The seam every engine and consumer sees: a causal language model of any architecture (GPT-2,
 * the Llama family) — its config, its parameters by Hugging Face name, the forward with a KV
 * cache, and the cache's geometry. What differs between architectures lives in Architectures.ts.
 */
import type * as tf from "@tensorflow/tfjs-core"
import type { GptConfig } from "./Gpt.ts"
import type { LlamaConfig } from "./Llama.ts"

/** The architectures odpo implements (policy.model.architecture; absent = "gpt2"). */
export const architectures = ["gpt2", "llama", "qwen2", "qwen3"] as const
export type Architecture = (typeof architectures)[number]

/** A model's shape: GPT-2's record (no `architecture` key, as every checkpoint before the seam) or a Llama-family one. */
export type ModelConfig = GptConfig | LlamaConfig

export const architectureOf = (config: ModelConfig): Architecture => config.architecture ?? "gpt2"

/** Per-layer keys and values of the tokens seen so far: [B, KV heads, T_past, head dim]. */
export interface KvCache {
  readonly keys: ReadonlyArray<tf.Tensor4D>
  readonly values: ReadonlyArray<tf.Tensor4D>
}

/** What a KV cache holds per token: `layers` × keys and values of `kvHeads` heads of `headDim`. */
export interface CacheGeometry {
  readonly layers: number
  readonly kvHeads: number
  readonly headDim: number
}

export interface ForwardOptions {
  /** Absolute position of each token, [B, T]; default 0..T−1 after the cache. */
  readonly positions?: tf.Tensor2D
  /** 1 for real tokens, 0 for padding, over past + new keys: [B, T_past + T]. */
  readonly keyMask?: tf.Tensor2D
  /** Keys/values of earlier tokens (generation). */
  readonly cache?: KvCache
  /** Apply dropout (training). */
  readonly training?: boolean
  /** Seed for dropout masks, so a training step is reproducible. */
  readonly dropoutSeed?: number
}

export interface ForwardResult {
  /** [B, T, vocab] */
  readonly logits: tf.Tensor3D
  /** Cache extended by the new tokens (only when `withCache`). */
  readonly cache?: KvCache
}

export interface HiddenResult {
  /** The final hidden states (after the last norm), [B, T, dModel]: what the LM head and a reward head read. */
  readonly hidden: tf.Tensor3D
  readonly cache?: KvCache
}

/** A causal LM on tfjs: trainable Variables by Hugging Face name, and the forward. */
export interface CausalLm {
  readonly architecture: Architecture
  readonly config: ModelConfig
  /** Trainable parameters by name. */
  readonly params: Map<string, tf.Variable>
  readonly cacheGeometry: CacheGeometry
  /** Trainable variables in parameterShapes order. */
  variables(): Array<tf.Variable>
  numParameters(): number
  /** Weights as plain arrays, by name (async: a GPU backend reads back without blocking). */
  weights(): Promise<Map<string, Float32Array>>
  /** Overwrite the weights (same config). */
  assign(weights: Map<string, Float32Array>): void
  clone(): Promise<CausalLm>
  dispose(): void
  /** Logits for every position of `ids` ([B, T] int32); call inside tf.tidy. */
  forward(ids: tf.Tensor2D, opts?: ForwardOptions, withCache?: boolean): ForwardResult
  /** The transformer without its head: the final hidden states of every position. */
  hidden(ids: tf.Tensor2D, opts?: ForwardOptions, withCache?: boolean): HiddenResult
}
