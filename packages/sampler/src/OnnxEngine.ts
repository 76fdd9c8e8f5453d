/**
 * The onnxruntime generation engine: the policy's prefill and decode graphs (OnnxPolicy's host
 * weights as inputs) behind a LogitsSource, so decoding is the same `decodeRows` — processors,
 * seeded draws, stop checks — as on tfjs. The KV cache mirrors TfjsEngine's: prompts left-padded
 * with per-row positions and a key mask, identical prompts prefilled once, finished rows dropped
 * and padding columns no live row needs trimmed; here the cache is host arrays between steps.
 */
import type { Tokenizer as TokenizerModule } from "@odpo/core"
import { Onnx } from "@odpo/model"
import { Effect } from "effect"
import * as ort from "onnxruntime-node"
import { decodeRows, leftPad, type LogitsSource, uniquePrompts } from "./Decoding.ts"
import type { GeneratedRow, GenerationBatch, GenerationEngine } from "./GenerationEngine.ts"

type Tokenizer = TokenizerModule.Tokenizer
type HostModel = Onnx.OnnxPolicy.HostModel

/** The prefill and decode sessions of one model shape (from an OnnxSessions pool). */
export interface DecodeSessions {
  readonly prefill: ort.InferenceSession
  readonly decode: ort.InferenceSession
}

/** One layer's keys or values for every row: [B, H, width, hd], row-major. */
type CacheTensor = Float32Array

/**
 * Rows `rows` of a [B, H, W, hd] cache tensor, columns from `from` on: [rows.length, H, W − from, hd].
 * Returns the input itself when nothing changes.
 */
const selectRows = (x: CacheTensor, B: number, H: number, W: number, hd: number, rows: ReadonlyArray<number>, from: number): CacheTensor => {
  if (from === 0 && rows.length === B && rows.every((r, i) => r === i)) return x
  const w = W - from
  const out = new Float32Array(rows.length * H * w * hd)
  rows.forEach((r, b) => {
    for (let h = 0; h < H; h++) {
      const src = ((r * H + h) * W + from) * hd
      out.set(x.subarray(src, src + w * hd), (b * H + h) * w * hd)
    }
  })
  return out
}

/** Rows `rows` of a [B, V] logits block. */
const selectLogits = (x: Float32Array, V: number, rows: ReadonlyArray<number>): Float32Array => {
  const out = new Float32Array(rows.length * V)
  rows.forEach((r, b) => out.set(x.subarray(r * V, (r + 1) * V), b * V))
  return out
}

/** Incremental decoding on onnxruntime: one prefill, then one decode run per step. */
export const kvCacheSource = (model: HostModel, sessions: DecodeSessions, padId: number): LogitsSource => {
  const { contextLength: C, nLayers: L, nHeads: H, dModel: D, vocabSize: V } = model.config
  const hd = D / H
  const weights = Onnx.OnnxPolicy.weightFeeds(model)
  let keys: Array<CacheTensor> = []
  let values: Array<CacheTensor> = []
  let pad: Array<number> = [] // leading padding columns of each row in the cache
  let nextPos: Array<number> = [] // absolute position of each row's next token
  let width = 0 // W of the cache tensors

  const takeCache = (out: Record<string, ort.Tensor>, rows: ReadonlyArray<number>, B: number) => {
    keys = Array.from({ length: L }, (_, i) => selectRows(out[`present.${i}.key`]!.data as Float32Array, B, H, width, hd, rows, 0))
    values = Array.from({ length: L }, (_, i) => selectRows(out[`present.${i}.value`]!.data as Float32Array, B, H, width, hd, rows, 0))
  }

  const start = async (prompts: ReadonlyArray<ReadonlyArray<number>>): Promise<Float32Array> => {
    // Identical prompts (the n samples of one prompt) are prefilled once; their rows are copies.
    const { unique, rowToUnique } = uniquePrompts(prompts)
    const { B: U, T, ids, positions, mask } = leftPad(unique, padId)
    const out = await sessions.prefill.run({
      ...weights,
      input_ids: new ort.Tensor("int32", ids, [U, T]),
      positions: new ort.Tensor("int32", positions, [U, T]),
      key_mask: new ort.Tensor("float32", mask, [U, T])
    })
    width = T
    takeCache(out, rowToUnique, U)
    pad = prompts.map((p) => T - p.length)
    nextPos = prompts.map((p) => p.length)
    return selectLogits(out["logits"]!.data as Float32Array, V, rowToUnique)
  }

  const next = async (keep: ReadonlyArray<number>, tokens: ReadonlyArray<number>): Promise<Float32Array> => {
    if (keys.length === 0) throw new Error("onnx kvCacheSource.next before start")
    const B = keep.length
    const compact = B < pad.length
    const rowPad = keep.map((i) => pad[i]!)
    const rowPos = keep.map((i) => nextPos[i]!)
    // As TfjsEngine: slice off columns that are padding for every live row when rows left, or when
    // the padded width (not any row's own length) would overflow the context.
    const trim = compact || width + 1 > C ? Math.min(...rowPad) : 0
    const pastWidth = width - trim
    if (pastWidth + 1 > C) throw new Error(`onnx kvCacheSource: a row would exceed the context length ${C}`)
    const past: Record<string, ort.Tensor> = {}
    for (let i = 0; i < L; i++) {
      past[`past.${i}.key`] = new ort.Tensor("float32", selectRows(keys[i]!, pad.length, H, width, hd, keep, trim), [B, H, pastWidth, hd])
      past[`past.${i}.value`] = new ort.Tensor("float32", selectRows(values[i]!, pad.length, H, width, hd, keep, trim), [B, H, pastWidth, hd])
    }
    const mask = new Float32Array(B * (pastWidth + 1))
    rowPad.forEach((p, b) => mask.fill(1, b * (pastWidth + 1) + p - trim, (b + 1) * (pastWidth + 1)))
    const out = await sessions.decode.run({
      ...weights,
      ...past,
      input_ids: new ort.Tensor("int32", Int32Array.from(tokens), [B, 1]),
      positions: new ort.Tensor("int32", Int32Array.from(rowPos), [B, 1]),
      key_mask: new ort.Tensor("float32", mask, [B, pastWidth + 1])
    })
    width = pastWidth + 1
    takeCache(out, keep.map((_, b) => b), B)
    pad = rowPad.map((p) => p - trim)
    nextPos = rowPos.map((p) => p + 1)
    return out["logits"]!.data as Float32Array
  }

  return {
    start,
    next,
    dispose: () => {
      keys = []
      values = []
    }
  }
}

/** Generate every row of the batch to completion on onnxruntime. */
export const generateRows = (model: HostModel, sessions: DecodeSessions, tokenizer: Tokenizer, batch: GenerationBatch): Promise<Array<GeneratedRow>> =>
  decodeRows(kvCacheSource(model, sessions, tokenizer.padId), tokenizer, batch, model.config)

/** The onnxruntime engine over a model held on the host (the caller owns the sessions). */
export const make = (model: HostModel, sessions: DecodeSessions, tokenizer: Tokenizer): GenerationEngine => ({
  name: "onnxruntime",
  contextLength: model.config.contextLength,
  vocabSize: model.config.vocabSize,
  generate: (batch) => Effect.promise(() => generateRows(model, sessions, tokenizer, batch))
})
