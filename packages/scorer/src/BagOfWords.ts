/**
 * A small sequence classifier written as an ONNX file with core's OnnxWriter: an embedding bag
 * over tokens (and optionally adjacent token pairs), masked-mean pooled, then a linear layer —
 * the project's own reward models for tests, demos and benchmarks. `bagOfWordsForward` is the
 * same computation in plain TS, to check onnxruntime against.
 */
import { Errors, Seeds, type Tokenizer } from "@odpo/core"
import { OnnxWriter } from "@odpo/model"
import { Effect } from "effect"
import { mkdir, writeFile } from "node:fs/promises"
import { dirname, join } from "node:path"

export interface BagOfWordsWeights {
  /** Embedding rows (the tokenizer's vocabSize). */
  readonly vocabSize: number
  /** Embedding width D. */
  readonly dim: number
  /** Output labels L. */
  readonly labels: number
  /** [vocabSize × D] token embedding. */
  readonly embedding: Float32Array
  /** Optional [vocabSize² × D] embedding of adjacent pairs, row id_t·V + id_{t+1}. */
  readonly pairEmbedding?: Float32Array
  /** [D × L] */
  readonly weight: Float32Array
  /** [L] */
  readonly bias: Float32Array
}

const INT64_MAX = 9223372036854775807n
const i64 = (name: string, values: ReadonlyArray<bigint>, dims: ReadonlyArray<number> = [values.length]): OnnxWriter.OnnxTensor =>
  ({ name, dataType: "int64", dims, data: BigInt64Array.from(values) })
const f32 = (name: string, data: Float32Array, dims: ReadonlyArray<number>): OnnxWriter.OnnxTensor => ({ name, dataType: "float32", dims, data })

/** Masked mean over axis 1 of table[idx]: Σ_t m_t·E[idx_t] / max(1, Σ_t m_t). */
const maskedMeanNodes = (p: string, table: string, idx: string, mask: string, out: string): Array<OnnxWriter.OnnxNode> => [
  { opType: "Gather", inputs: [table, idx], outputs: [`${p}_emb`], attributes: { axis: 0 } }, // [B, S, D]
  { opType: "Unsqueeze", inputs: [mask, "axis2"], outputs: [`${p}_m3`] }, // [B, S, 1]
  { opType: "Mul", inputs: [`${p}_emb`, `${p}_m3`], outputs: [`${p}_masked`] },
  { opType: "ReduceSum", inputs: [`${p}_masked`, "axis1"], outputs: [`${p}_sum`], attributes: { keepdims: 0 } }, // [B, D]
  { opType: "ReduceSum", inputs: [mask, "axis1"], outputs: [`${p}_count`], attributes: { keepdims: 1 } }, // [B, 1]
  { opType: "Max", inputs: [`${p}_count`, "one"], outputs: [`${p}_denom`] },
  { opType: "Div", inputs: [`${p}_sum`, `${p}_denom`], outputs: [out] }
]

/** The classifier as an ONNX graph in Hugging Face's sequence-classification layout. */
export const bagOfWordsGraph = (w: BagOfWordsWeights): OnnxWriter.OnnxGraph => {
  const { vocabSize: V, dim: D, labels: L } = w
  const pairs = w.pairEmbedding !== undefined
  const nodes: Array<OnnxWriter.OnnxNode> = [
    { opType: "Cast", inputs: ["attention_mask"], outputs: ["mask"], attributes: { to: 1 } },
    ...maskedMeanNodes("uni", "embedding", "input_ids", "mask", pairs ? "pooled_uni" : "pooled")
  ]
  if (pairs) {
    nodes.push(
      // pair index id_t·V + id_{t+1} over t < S−1; a pair counts when both tokens are real
      { opType: "Slice", inputs: ["input_ids", "zero", "minus_one", "axis1"], outputs: ["ids_a"] },
      { opType: "Slice", inputs: ["input_ids", "one_i", "end", "axis1"], outputs: ["ids_b"] },
      { opType: "Mul", inputs: ["ids_a", "vocab"], outputs: ["ids_aV"] },
      { opType: "Add", inputs: ["ids_aV", "ids_b"], outputs: ["pair_ids"] },
      { opType: "Slice", inputs: ["mask", "zero", "minus_one", "axis1"], outputs: ["mask_a"] },
      { opType: "Slice", inputs: ["mask", "one_i", "end", "axis1"], outputs: ["mask_b"] },
      { opType: "Mul", inputs: ["mask_a", "mask_b"], outputs: ["pair_mask"] },
      ...maskedMeanNodes("pair", "pair_embedding", "pair_ids", "pair_mask", "pooled_pair"),
      { opType: "Add", inputs: ["pooled_uni", "pooled_pair"], outputs: ["pooled"] }
    )
  }
  nodes.push(
    { opType: "MatMul", inputs: ["pooled", "weight"], outputs: ["projected"] },
    { opType: "Add", inputs: ["projected", "bias"], outputs: ["logits"] }
  )
  return {
    name: "bag_of_words_classifier",
    nodes,
    initializers: [
      f32("embedding", w.embedding, [V, D]),
      ...(pairs ? [f32("pair_embedding", w.pairEmbedding!, [V * V, D])] : []),
      f32("weight", w.weight, [D, L]),
      f32("bias", w.bias, [L]),
      f32("one", Float32Array.of(1), []),
      i64("axis1", [1n]),
      i64("axis2", [2n]),
      ...(pairs ? [i64("zero", [0n]), i64("one_i", [1n]), i64("minus_one", [-1n]), i64("end", [INT64_MAX]), i64("vocab", [BigInt(V)], [])] : [])
    ],
    inputs: [
      { name: "input_ids", dataType: "int64", shape: ["batch", "sequence"] },
      { name: "attention_mask", dataType: "int64", shape: ["batch", "sequence"] }
    ],
    outputs: [{ name: "logits", dataType: "float32", shape: ["batch", L] }]
  }
}

/** The same classifier in plain TS over unpadded rows of ids: logits [rows][L]. */
export const bagOfWordsForward = (w: BagOfWordsWeights, rows: ReadonlyArray<ReadonlyArray<number>>): Array<Array<number>> =>
  rows.map((ids) => {
    const { vocabSize: V, dim: D, labels: L } = w
    const pooled = new Float64Array(D)
    // uni: mean of E[id_t]
    for (const id of ids) for (let d = 0; d < D; d++) pooled[d]! += w.embedding[id * D + d]! / Math.max(1, ids.length)
    // pair: mean of E2[id_t·V + id_{t+1}]
    if (w.pairEmbedding) {
      const n = ids.length - 1
      for (let t = 0; t < n; t++) {
        const row = ids[t]! * V + ids[t + 1]!
        for (let d = 0; d < D; d++) pooled[d]! += w.pairEmbedding[row * D + d]! / n
      }
    }
    return Array.from({ length: L }, (_, l) => {
      let s = w.bias[l]!
      for (let d = 0; d < D; d++) s += pooled[d]! * w.weight[d * L + l]!
      return s
    })
  })

/** Seeded random weights (uniform in ±scale), e.g. for tests and benchmarks. */
export const randomBagOfWords = (options: { vocabSize: number; dim: number; labels: number; pairs?: boolean; seed?: number; scale?: number }): BagOfWordsWeights => {
  const rand = Seeds.mulberry32(options.seed ?? 0)
  const s = options.scale ?? 1
  const fill = (n: number) => Float32Array.from({ length: n }, () => (2 * rand() - 1) * s)
  const { vocabSize: V, dim: D, labels: L } = options
  return {
    vocabSize: V,
    dim: D,
    labels: L,
    embedding: fill(V * D),
    ...(options.pairs ? { pairEmbedding: fill(V * V * D) } : {}),
    weight: fill(D * L),
    bias: fill(L)
  }
}

/**
 * Write the classifier to `path` and its tokenizer as tokenizer.json beside it (the scorer's
 * `onnx` source finds it there). The embedding must have the tokenizer's vocabSize rows.
 */
export const writeBagOfWordsRewardModel = (
  path: string,
  options: { readonly tokenizer: Tokenizer.Tokenizer; readonly weights: BagOfWordsWeights; readonly docString?: string }
): Effect.Effect<void, Errors.OnnxError> =>
  Effect.gen(function*() {
    if (options.weights.vocabSize !== options.tokenizer.vocabSize) {
      return yield* new Errors.OnnxError({
        file: path,
        message: `${path}: the weights have ${options.weights.vocabSize} embedding rows but the tokenizer has ${options.tokenizer.vocabSize} tokens`
      })
    }
    const bytes = yield* Effect.try({
      try: () => OnnxWriter.encodeOnnxModel(bagOfWordsGraph(options.weights), { docString: options.docString ?? "odpo bag-of-words reward model" }),
      catch: (cause) => new Errors.OnnxError({ file: path, cause, message: `${path}: cannot encode the model: ${(cause as Error).message}` })
    })
    yield* Effect.tryPromise({
      try: async () => {
        await mkdir(dirname(path), { recursive: true })
        await writeFile(path, bytes)
        await writeFile(join(dirname(path), "tokenizer.json"), JSON.stringify(options.tokenizer.toJSON()))
      },
      catch: (cause) => new Errors.OnnxError({ file: path, cause, message: `cannot write ${path}: ${(cause as Error).message}` })
    })
  })
