/**
 * Logits processing as small composable pieces (transformers.js style): each processor rewrites
 * one row of next-token logits in place; `processorsFor` lists them in Hugging Face's order
 * (repetition penalty, then temperature, top-k, top-p, min-p). Rows are Float64Array copies of
 * the model's logits, so the raw logits (needed for the recorded log-probs) stay untouched.
 * A token removed from the draw gets −∞.
 */
import type { Domain } from "@odpo/core"

type SamplingParams = Domain.SamplingParams

/** Rewrite `logits` in place; `seen` holds every token id of the prompt and the completion so far. */
export type LogitsProcessor = (logits: Float64Array, seen: ReadonlySet<number>) => void

/** Never draw these ids (PAD, BOS): they mean nothing inside a completion. */
export const suppressTokens = (ids: ReadonlyArray<number>): LogitsProcessor => (logits) => {
  for (const id of ids) if (id >= 0 && id < logits.length) logits[id] = -Infinity
}

/**
 * CTRL's repetition penalty θ (Keskar et al. 2019, as Hugging Face applies it): for every token
 * already in prompt + completion, a positive logit is divided by θ and a negative one multiplied,
 * so θ > 1 always makes the token less likely.
 */
export const repetitionPenalty = (penalty: number): LogitsProcessor => (logits, seen) => {
  for (const id of seen) {
    const l = logits[id]
    if (l === undefined || l === -Infinity) continue
    logits[id] = l > 0 ? l / penalty : l * penalty
  }
}

/** softmax(l / T): T < 1 sharpens, T > 1 flattens. (T = 0 is greedy and never reaches here.) */
export const temperature = (t: number): LogitsProcessor => (logits) => {
  for (let i = 0; i < logits.length; i++) logits[i] = logits[i]! / t
}

/** Keep the k largest logits (every token tied with the k-th is kept, as Hugging Face does). */
export const topK = (k: number): LogitsProcessor => (logits) => {
  if (k <= 0 || k >= logits.length) return
  const sorted = Float64Array.from(logits).sort().reverse()
  const kth = sorted[k - 1]!
  for (let i = 0; i < logits.length; i++) if (logits[i]! < kth) logits[i] = -Infinity
}

/** Largest logit; −∞ when every token is removed (cannot happen: the processors always keep one). */
const maxOf = (logits: Float64Array): number => {
  let m = -Infinity
  for (let i = 0; i < logits.length; i++) if (logits[i]! > m) m = logits[i]!
  return m
}

/**
 * Nucleus sampling (Holtzman et al. 2019): walk the tokens from most to least likely (ties by
 * id) and keep each while the mass of the tokens before it is < p; so the kept set is the
 * smallest prefix whose mass reaches p, and the most likely token is always kept.
 */
export const topP = (p: number): LogitsProcessor => (logits) => {
  if (p >= 1) return
  const m = maxOf(logits)
  const weights = new Float64Array(logits.length)
  let total = 0
  for (let i = 0; i < logits.length; i++) total += weights[i] = Math.exp(logits[i]! - m)
  const order = Array.from({ length: logits.length }, (_, i) => i).filter((i) => weights[i]! > 0)
  order.sort((a, b) => logits[b]! - logits[a]! || a - b)
  let before = 0
  let cut = order.length
  for (let j = 0; j < order.length; j++) {
    if (before >= p * total) {
      cut = j
      break
    }
    before += weights[order[j]!]!
  }
  for (let j = cut; j < order.length; j++) logits[order[j]!] = -Infinity
}

/** min-p (Nguyen et al. 2024): drop tokens with p < minP · p_max, i.e. l < l_max + log(minP). */
export const minP = (q: number): LogitsProcessor => (logits) => {
  if (q <= 0) return
  const floor = maxOf(logits) + Math.log(q)
  for (let i = 0; i < logits.length; i++) if (logits[i]! < floor) logits[i] = -Infinity
}

/** The processors for these parameters, in order; greedy (temperature 0) needs only suppression and the penalty. */
export const processorsFor = (params: SamplingParams, suppressIds: ReadonlyArray<number>): Array<LogitsProcessor> => {
  const list: Array<LogitsProcessor> = [suppressTokens(suppressIds)]
  if (params.repetitionPenalty !== 1) list.push(repetitionPenalty(params.repetitionPenalty))
  if (params.temperature === 0) return list
  if (params.temperature !== 1) list.push(temperature(params.temperature))
  if (params.topK > 0) list.push(topK(params.topK))
  if (params.topP < 1) list.push(topP(params.topP))
  if (params.minP > 0) list.push(minP(params.minP))
  return list
}

/** A processed copy of one raw row. */
export const applyProcessors = (
  processors: ReadonlyArray<LogitsProcessor>,
  raw: ArrayLike<number>,
  seen: ReadonlySet<number>
): Float64Array => {
  const logits = Float64Array.from(raw)
  for (const p of processors) p(logits, seen)
  return logits
}

/** The first id of the largest logit (greedy decoding). */
export const argmax = (logits: ArrayLike<number>): number => {
  let best = 0
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i
  return best
}

/**
 * Draw from softmax(logits) with the row's own uniform u ∈ [0, 1): the first id whose cumulative
 * weight exceeds u · Σ weights, over ids in increasing order. The order is fixed and the only
 * randomness is u, so float noise in the logits (e.g. from padding in a bigger batch) can change
 * a draw only when u lands within that noise of a bucket edge.
 */
export const drawToken = (logits: Float64Array, u: number): number => {
  const m = maxOf(logits)
  let total = 0
  for (let i = 0; i < logits.length; i++) total += Math.exp(logits[i]! - m)
  const target = u * total
  let cum = 0
  let last = 0
  for (let i = 0; i < logits.length; i++) {
    const w = Math.exp(logits[i]! - m)
    if (w === 0) continue
    cum += w
    last = i
    if (cum > target) return i
  }
  return last // only when rounding left the target at the very end
}

/** log softmax(raw)[token], in float64: log p = l_token − (max + log Σ exp(l − max)). */
export const logSoftmaxAt = (raw: ArrayLike<number>, token: number): number => {
  let m = -Infinity
  for (let i = 0; i < raw.length; i++) if (raw[i]! > m) m = raw[i]!
  let total = 0
  for (let i = 0; i < raw.length; i++) total += Math.exp(raw[i]! - m)
  return raw[token]! - m - Math.log(total)
}
