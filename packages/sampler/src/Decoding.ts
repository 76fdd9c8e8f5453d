/**
 * The engine-agnostic half of generation: a LogitsSource (the engine: tfjs, onnxruntime, …) gives
 * each live row's next-token logits; RowDecoder (processors, seeded draw, raw log-prob, stop
 * checks) turns them into tokens. Every engine decodes through `decodeRows`, so the same seed
 * draws the same tokens wherever the logits agree.
 */
import type { Tokenizer as TokenizerModule } from "@odpo/core"
import type { GeneratedRow, GenerationBatch } from "./GenerationEngine.ts"
import { type DecodeSpec, RowDecoder } from "./RowDecoder.ts"

type Tokenizer = TokenizerModule.Tokenizer

/**
 * Where next-token logits come from, whatever the engine: one row per live sequence, [B·V]
 * row-major on the host. Async: a GPU engine reads back without blocking, onnxruntime runs async.
 */
export interface LogitsSource {
  /** Feed the prompts; logits of the token after each prompt. */
  readonly start: (prompts: ReadonlyArray<ReadonlyArray<number>>) => Promise<Float32Array>
  /** Keep rows `keep` (indices into the current rows, increasing) and append `tokens[j]` to row keep[j]. */
  readonly next: (keep: ReadonlyArray<number>, tokens: ReadonlyArray<number>) => Promise<Float32Array>
  readonly dispose: () => void
}

/** Left-pad rows to one width: ids (PAD where empty), per-row positions 0…len−1 (0 under padding), key mask. */
export const leftPad = (rows: ReadonlyArray<ReadonlyArray<number>>, padId: number) => {
  const B = rows.length
  const T = Math.max(...rows.map((r) => r.length))
  const ids = new Int32Array(B * T).fill(padId)
  const positions = new Int32Array(B * T)
  const mask = new Float32Array(B * T)
  rows.forEach((row, b) => {
    const off = T - row.length
    row.forEach((tok, t) => {
      ids[b * T + off + t] = tok
      positions[b * T + off + t] = t
      mask[b * T + off + t] = 1
    })
  })
  return { B, T, ids, positions, mask }
}

/** Distinct prompts in first-seen order, and each row's index among them (n samples of a prompt are prefilled once). */
export const uniquePrompts = (prompts: ReadonlyArray<ReadonlyArray<number>>) => {
  const index = new Map<string, number>()
  const unique: Array<ReadonlyArray<number>> = []
  const rowToUnique = prompts.map((p) => {
    const key = p.join(",")
    let u = index.get(key)
    if (u === undefined) {
      u = unique.length
      index.set(key, u)
      unique.push(p)
    }
    return u
  })
  return { unique, rowToUnique }
}

/**
 * What a tokenizer means for decoding: never draw PAD or BOS (unless it is also an EOS, as GPT-2's
 * <|endoftext|>), nor ids the model has but the tokenizer does not.
 */
export const decodeSpec = (tokenizer: Tokenizer, params: GenerationBatch["params"], contextLength: number, vocabSize: number): DecodeSpec => {
  const suppress = new Set<number>([tokenizer.padId])
  if (tokenizer.bosId !== null) suppress.add(tokenizer.bosId)
  for (let id = tokenizer.vocabSize; id < vocabSize; id++) suppress.add(id)
  // EOS, every id of generation_config.json's eos_token_id list, and a chat template's end-of-turn
  // token: each ends a row as EOS does.
  const eosIds = [...new Set([...(tokenizer.eosId !== null ? [tokenizer.eosId] : []), ...(tokenizer.stopIds ?? [])])]
  for (const id of eosIds) suppress.delete(id)
  return { params, eosIds, suppressIds: [...suppress], decode: tokenizer.decode, contextLength }
}

/**
 * Generate every row of the batch to completion from `source` (which this call disposes): each
 * step hands every live row's logits to its RowDecoder, then feeds the drawn tokens back.
 */
export const decodeRows = async (
  source: LogitsSource,
  tokenizer: Tokenizer,
  batch: GenerationBatch,
  model: { readonly vocabSize: number; readonly contextLength: number }
): Promise<Array<GeneratedRow>> => {
  const { vocabSize: V, contextLength } = model
  if (batch.rows.length === 0) {
    source.dispose()
    return []
  }
  const spec = decodeSpec(tokenizer, batch.params, contextLength, V)
  const decoders = batch.rows.map((r) => new RowDecoder(r.promptTokenIds, r.rngSeed, spec))
  try {
    // live[b] = the decoder behind row b of the source's current batch
    let live = decoders.map((_, i) => i)
    let logits = await source.start(batch.rows.map((r) => r.promptTokenIds))
    for (;;) {
      const keep: Array<number> = []
      const stillLive: Array<number> = []
      live.forEach((d, b) => {
        if (decoders[d]!.step(logits.subarray(b * V, (b + 1) * V))) {
          keep.push(b)
          stillLive.push(d)
        }
      })
      if (keep.length === 0) break
      logits = await source.next(keep, stillLive.map((d) => decoders[d]!.lastToken))
      live = stillLive
    }
  } finally {
    source.dispose()
  }
  return batch.rows.map((r, i) => ({ promptId: r.promptId, sampleIdx: r.sampleIdx, ...decoders[i]!.result() }))
}

