/**
 * The tfjs generation engine: batched over prompts × samples, with a key/value cache.
 *
 * Prompts of different lengths are left-padded to one width; each row carries its own absolute
 * positions and a key mask, so a row sees exactly its own tokens. Per step the whole batch's
 * next-token logits come to the host in one read ([B, V]); the per-row work (processors, draw,
 * raw log-prob, stop checks) is RowDecoder's. Finished rows leave the batch (their cache rows are
 * dropped) and padding columns no live row needs are sliced off, so a short prompt batched with a
 * long one gets all of its own context.
 */
import type { Tokenizer as TokenizerModule } from "@odpo/core"
import type { CausalLm as CausalLmModule } from "@odpo/model"
import * as tf from "@tensorflow/tfjs-core"
import { Effect } from "effect"
import { decodeRows, leftPad, type LogitsSource, uniquePrompts } from "./Decoding.ts"
import type { GeneratedRow, GenerationBatch, GenerationEngine } from "./GenerationEngine.ts"

type CausalLm = CausalLmModule.CausalLm
type KvCache = CausalLmModule.KvCache
type Tokenizer = TokenizerModule.Tokenizer

export type { LogitsSource } from "./Decoding.ts"

/** Last-position logits of a [B, T, V] tensor as [B, V]. */
const lastPosition = (logits: tf.Tensor3D): tf.Tensor2D => {
  const [B, T, V] = logits.shape
  return tf.reshape(tf.slice(logits, [0, T - 1, 0], [B, 1, V]), [B, V])
}

const disposeCache = (cache: KvCache | undefined): void => {
  if (!cache) return
  for (const t of cache.keys) t.dispose()
  for (const t of cache.values) t.dispose()
}

/**
 * Incremental decoding: the prompt is run once (identical prompts — the n samples of one prompt —
 * once in total, then their cache rows are copied), then each step feeds one token per row and
 * attends to the cached keys/values of everything before it.
 */
export const kvCacheSource = (model: CausalLm, padId: number): LogitsSource => {
  const C = model.config.contextLength
  let cache: KvCache | undefined
  let pad: Array<number> = [] // leading padding columns of each row in the cache tensors
  let nextPos: Array<number> = [] // absolute position of each row's next token
  let width = 0 // T of the cache tensors

  const start = async (prompts: ReadonlyArray<ReadonlyArray<number>>): Promise<Float32Array> => {
    const { unique, rowToUnique } = uniquePrompts(prompts)
    const { T, ids, positions, mask } = leftPad(unique, padId)
    const U = unique.length
    const out = tf.tidy(() => {
      const fwd = model.forward(tf.tensor2d(ids, [U, T], "int32"), {
        positions: tf.tensor2d(positions, [U, T], "int32"),
        keyMask: tf.tensor2d(mask, [U, T])
      }, true)
      const rows = tf.tensor1d(rowToUnique, "int32")
      return {
        last: tf.gather(lastPosition(fwd.logits), rows),
        keys: fwd.cache!.keys.map((k) => tf.gather(k, rows)),
        values: fwd.cache!.values.map((v) => tf.gather(v, rows))
      }
    })
    disposeCache(cache)
    cache = { keys: out.keys, values: out.values }
    pad = prompts.map((p) => T - p.length)
    nextPos = prompts.map((p) => p.length)
    width = T
    const logits = (await out.last.data()) as Float32Array
    out.last.dispose()
    return logits
  }

  const next = async (keep: ReadonlyArray<number>, tokens: ReadonlyArray<number>): Promise<Float32Array> => {
    if (!cache) throw new Error("kvCacheSource.next before start")
    const past = cache
    const B = keep.length
    const compact = B < pad.length
    const rowPad = keep.map((i) => pad[i]!)
    const rowPos = keep.map((i) => nextPos[i]!)
    // Slice off columns that are padding for every live row: when rows left, or when the
    // padded width (not any row's own length) would overflow the context.
    const trim = compact || width + 1 > C ? Math.min(...rowPad) : 0
    const newWidth = width - trim + 1
    if (newWidth > C) throw new Error(`kvCacheSource: a row would exceed the context length ${C}`)
    const mask = new Float32Array(B * newWidth)
    rowPad.forEach((p, b) => mask.fill(1, b * newWidth + p - trim, (b + 1) * newWidth))
    const out = tf.tidy(() => {
      let keys = past.keys
      let values = past.values
      if (compact) {
        const rows = tf.tensor1d(keep as Array<number>, "int32")
        keys = keys.map((k) => tf.gather(k, rows))
        values = values.map((v) => tf.gather(v, rows))
      }
      if (trim > 0) {
        keys = keys.map((k) => tf.slice(k, [0, 0, trim, 0], [-1, -1, -1, -1]))
        values = values.map((v) => tf.slice(v, [0, 0, trim, 0], [-1, -1, -1, -1]))
      }
      const fwd = model.forward(tf.tensor2d(tokens as Array<number>, [B, 1], "int32"), {
        positions: tf.tensor2d(rowPos, [B, 1], "int32"),
        keyMask: tf.tensor2d(mask, [B, newWidth]),
        cache: { keys, values }
      }, true)
      return { last: lastPosition(fwd.logits), keys: [...fwd.cache!.keys], values: [...fwd.cache!.values] }
    })
    disposeCache(past)
    cache = { keys: out.keys, values: out.values }
    pad = rowPad.map((p) => p - trim)
    nextPos = rowPos.map((p) => p + 1)
    width = newWidth
    const logits = (await out.last.data()) as Float32Array
    out.last.dispose()
    return logits
  }

  return {
    start,
    next,
    dispose: () => {
      disposeCache(cache)
      cache = undefined
    }
  }
}

/** Full recompute: every step runs the whole left-padded sequence again (the reference, and the benchmark's baseline). */
export const recomputeSource = (model: CausalLm, padId: number): LogitsSource => {
  let seqs: Array<ReadonlyArray<number>> = []
  const run = async (): Promise<Float32Array> => {
    const { B, T, ids, positions, mask } = leftPad(seqs, padId)
    const last = tf.tidy(() =>
      lastPosition(model.forward(tf.tensor2d(ids, [B, T], "int32"), {
        positions: tf.tensor2d(positions, [B, T], "int32"),
        keyMask: tf.tensor2d(mask, [B, T])
      }).logits)
    )
    const logits = (await last.data()) as Float32Array
    last.dispose()
    return logits
  }
  return {
    start: (prompts) => {
      seqs = prompts.slice()
      return run()
    },
    next: (keep, tokens) => {
      seqs = keep.map((i, j) => [...seqs[i]!, tokens[j]!])
      return run()
    },
    dispose: () => {
      seqs = []
    }
  }
}

export interface TfjsEngineOptions {
  /** Incremental decoding with a key/value cache (default true); false recomputes every step. */
  readonly kvCache?: boolean
}

/** Generate every row of the batch to completion on tfjs (KV cache unless options.kvCache is false). */
export const generateRows = (
  model: CausalLm,
  tokenizer: Tokenizer,
  batch: GenerationBatch,
  options: TfjsEngineOptions = {}
): Promise<Array<GeneratedRow>> =>
  decodeRows(
    options.kvCache === false ? recomputeSource(model, tokenizer.padId) : kvCacheSource(model, tokenizer.padId),
    tokenizer,
    batch,
    model.config
  )

/** The tfjs engine over a loaded model (the caller owns the model and disposes it). */
export const make = (model: CausalLm, tokenizer: Tokenizer, options: TfjsEngineOptions = {}): GenerationEngine => ({
  name: "tfjs",
  contextLength: model.config.contextLength,
  vocabSize: model.config.vocabSize,
  generate: (batch) => Effect.promise(() => generateRows(model, tokenizer, batch, options))
})
