/**
 * The onnxruntime generation engine: the policy's prefill and decode graphs (OnnxPolicy's host
 * weights as inputs) behind a LogitsSource, so decoding is the same `decodeRows` — processors,
 * seeded draws, stop checks — as on tfjs. The KV cache mirrors TfjsEngine's: prompts left-padded
 * with per-row positions and a key mask, identical prompts prefilled once, finished rows dropped
 * and padding columns no live row needs trimmed; here the cache is host arrays in slots.
 */
import type { Tokenizer as TokenizerModule } from "@odpo/core"
import { Architectures, Onnx } from "@odpo/model"
import { Effect } from "effect"
import type * as Ort from "onnxruntime-node"
import { decodeRows, leftPad, type LogitsSource, uniquePrompts } from "./Decoding.ts"
import type { GeneratedRow, GenerationBatch, GenerationEngine } from "./GenerationEngine.ts"

type Tokenizer = TokenizerModule.Tokenizer
type HostModel = Onnx.OnnxPolicy.HostModel

/** The prefill and decode sessions of one model shape, and onnxruntime itself (from an OnnxSessions pool). */
export interface DecodeSessions {
  readonly prefill: Ort.InferenceSession
  readonly decode: Ort.InferenceSession
  readonly ort: Onnx.OnnxSessions.OrtModule
}

/** A pool's prefill and decode sessions for a model shape. */
export const decodeSessions = (pool: Onnx.OnnxSessions.OnnxSessions, config: Onnx.OnnxPolicy.HostModel["config"]) =>
  Effect.gen(function*() {
    return { prefill: yield* pool.session("prefill", config), decode: yield* pool.session("decode", config), ort: pool.ort } satisfies DecodeSessions
  })

/** Free slots a cache gets beyond what it needs when it (re)grows: decoding then re-lays it out every GROW steps. */
const GROW = 16

/**
 * One layer's keys or values for every row in S slots: [B, H, S, hd], row-major. Row b's tokens
 * sit in slots pad[b] … W−1 (left-padded as the prompts were); slots ≥ W are free.
 */
type CacheTensor = Float32Array

/**
 * Columns [from, from + width) of rows `rows` of a [B, H, S, hd] cache, laid out in `slots` slots:
 * [rows.length, H, slots, hd] (columns beyond `width` zero).
 */
const relayout = (x: CacheTensor, H: number, S: number, hd: number, rows: ReadonlyArray<number>, from: number, width: number, slots: number): CacheTensor => {
  const out = new Float32Array(rows.length * H * slots * hd)
  rows.forEach((r, b) => {
    for (let h = 0; h < H; h++) {
      const src = ((r * H + h) * S + from) * hd
      out.set(x.subarray(src, src + width * hd), (b * H + h) * slots * hd)
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

/**
 * Incremental decoding on onnxruntime: one prefill, then one decode run per step. The cache lives
 * here, in slots; the decode graph reads it in place and returns only the new token's key and
 * value, written into the next slot — so a step moves O(rows), not O(rows × context), through
 * the JS boundary.
 */
export const kvCacheSource = (model: HostModel, sessions: DecodeSessions, padId: number): LogitsSource => {
  const { contextLength: C, vocabSize: V } = model.config
  // The cache holds the KV heads only (fewer than the query heads under GQA).
  const { layers: L, kvHeads: H, headDim: hd } = Architectures.cacheGeometry(model.config)
  const { ort } = sessions
  const weights = Onnx.OnnxPolicy.weightFeeds(ort, model)
  let keys: Array<CacheTensor> = []
  let values: Array<CacheTensor> = []
  let slots = 0 // S of the cache tensors
  let width = 0 // slots in use: 0 … width−1
  let pad: Array<number> = [] // leading padding slots of each row
  let nextPos: Array<number> = [] // absolute position of each row's next token

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
    slots = Math.min(C, T + GROW)
    width = T
    const layer = (name: string) => relayout(out[name]!.data as Float32Array, H, T, hd, rowToUnique, 0, T, slots)
    keys = Array.from({ length: L }, (_, i) => layer(`present.${i}.key`))
    values = Array.from({ length: L }, (_, i) => layer(`present.${i}.value`))
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
    // As TfjsEngine: drop slots that are padding for every live row when rows left, or when the
    // padded width (not any row's own length) would overflow the context.
    const trim = compact || width + 1 > C ? Math.min(...rowPad) : 0
    const used = width - trim
    if (used + 1 > C) throw new Error(`onnx kvCacheSource: a row would exceed the context length ${C}`)
    const grown = used + 1 > slots ? Math.min(C, used + 1 + GROW) : slots
    if (compact || trim > 0 || grown !== slots) {
      keys = keys.map((k) => relayout(k, H, slots, hd, keep, trim, used, grown))
      values = values.map((v) => relayout(v, H, slots, hd, keep, trim, used, grown))
      slots = grown
    }
    const slotMask = new Float32Array(B * slots)
    rowPad.forEach((p, b) => slotMask.fill(1, b * slots + p - trim, b * slots + used))
    const past: Record<string, Ort.Tensor> = {}
    for (let i = 0; i < L; i++) {
      past[`past.${i}.key`] = new ort.Tensor("float32", keys[i]!, [B, H, slots, hd])
      past[`past.${i}.value`] = new ort.Tensor("float32", values[i]!, [B, H, slots, hd])
    }
    const out = await sessions.decode.run({
      ...weights,
      ...past,
      input_ids: new ort.Tensor("int32", Int32Array.from(tokens), [B, 1]),
      positions: new ort.Tensor("int32", Int32Array.from(rowPos), [B, 1]),
      slot_mask: new ort.Tensor("float32", slotMask, [B, slots])
    })
    // the new token's key and value go to slot `used` of every row
    const write = (cache: CacheTensor, fresh: Float32Array) => {
      for (let r = 0; r < B * H; r++) cache.set(fresh.subarray(r * hd, (r + 1) * hd), (r * slots + used) * hd)
    }
    for (let i = 0; i < L; i++) {
      write(keys[i]!, out[`new.${i}.key`]!.data as Float32Array)
      write(values[i]!, out[`new.${i}.value`]!.data as Float32Array)
    }
    width = used + 1
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
