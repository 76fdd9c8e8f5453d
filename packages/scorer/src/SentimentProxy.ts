/**
 * A proxy reward model for the `sentiment` task (proxy-vs-gold over-optimisation): a bag of
 * characters and character pairs whose weights are fit by ridge regression to the gold reward
 * on synthetic reviews, written as an ONNX file. It sees letters, not clauses, so a policy can
 * please it with text the gold classifier gives nothing for ("great great great").
 */
import { Errors, Seeds, Tasks } from "@odpo/core"
import { Effect } from "effect"
import { type BagOfWordsWeights, bagOfWordsForward, writeBagOfWordsRewardModel } from "./BagOfWords.ts"
import type { OnnxSpec } from "./RewardSpec.ts"

const { ADJECTIVES, reviewTokenizer, sentimentGold, SUBJECTS } = Tasks
const tokenizer = reviewTokenizer

const { mulberry32 } = Seeds

/** Random reviews of 1–3 clauses with uniformly drawn adjectives: the proxy's training set. */
export const syntheticReviews = (count: number, seed: number): Array<string> => {
  const rand = mulberry32(seed)
  const adjectives = Object.keys(ADJECTIVES)
  const pick = <A>(xs: ReadonlyArray<A>) => xs[Math.floor(rand() * xs.length)]!
  return Array.from({ length: count }, () =>
    Array.from({ length: 1 + Math.floor(rand() * 3) }, () => `${pick(SUBJECTS)} is ${pick(adjectives)}.`).join(" "))
}

/** What the model sees: [BOS, ...chars] (the scorer's ONNX source prepends BOS the same way). */
const rowOf = (text: string) => [tokenizer.bosId, ...tokenizer.encode(text)]

/** Solve (A + λI) x = b for symmetric positive-definite A by Cholesky (A is n×n, row-major). */
const ridgeSolve = (A: Float64Array, b: Float64Array, n: number, lambda: number): Float64Array => {
  const L = new Float64Array(n * n)
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = A[i * n + j]! + (i === j ? lambda : 0)
      for (let k = 0; k < j; k++) s -= L[i * n + k]! * L[j * n + k]!
      L[i * n + j] = i === j ? Math.sqrt(s) : s / L[j * n + j]!
    }
  }
  const y = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    let s = b[i]!
    for (let k = 0; k < i; k++) s -= L[i * n + k]! * y[k]!
    y[i] = s / L[i * n + i]!
  }
  const x = new Float64Array(n)
  for (let i = n - 1; i >= 0; i--) {
    let s = y[i]!
    for (let k = i + 1; k < n; k++) s -= L[k * n + i]! * x[k]!
    x[i] = s / L[i * n + i]!
  }
  return x
}

/**
 * Fit the proxy: features are the model's own pooled inputs (mean one-hot of characters and of
 * character pairs, plus a constant for the bias); target = sentimentGold(review); ridge λ.
 * Only features that occur in the data are fit (the rest stay 0).
 */
export const fitSentimentProxy = (options: { samples?: number; seed?: number; ridge?: number } = {}): BagOfWordsWeights => {
  const V = tokenizer.vocabSize
  const reviews = syntheticReviews(options.samples ?? 2000, options.seed ?? 0)
  // sparse features per review: feature index → value; uni = v, pair = V + a·V + b
  const rows = reviews.map((text) => {
    const ids = rowOf(text)
    const f = new Map<number, number>()
    for (const id of ids) f.set(id, (f.get(id) ?? 0) + 1 / ids.length)
    for (let t = 0; t + 1 < ids.length; t++) {
      const k = V + ids[t]! * V + ids[t + 1]!
      f.set(k, (f.get(k) ?? 0) + 1 / (ids.length - 1))
    }
    return { f, y: sentimentGold(text) }
  })
  const active = [...new Set(rows.flatMap((r) => [...r.f.keys()]))].sort((a, b) => a - b)
  const col = new Map(active.map((k, i) => [k, i]))
  const n = active.length + 1 // + bias column
  const A = new Float64Array(n * n)
  const b = new Float64Array(n)
  for (const r of rows) {
    const entries: Array<[number, number]> = [...r.f].map(([k, v]) => [col.get(k)!, v])
    entries.push([n - 1, 1])
    for (const [i, vi] of entries) {
      b[i]! += vi * r.y
      for (const [j, vj] of entries) A[i * n + j]! += vi * vj
    }
  }
  const x = ridgeSolve(A, b, n, options.ridge ?? 1e-3)
  const embedding = new Float32Array(V)
  const pairEmbedding = new Float32Array(V * V)
  active.forEach((k, i) => {
    if (k < V) embedding[k] = x[i]!
    else pairEmbedding[k - V] = x[i]!
  })
  return { vocabSize: V, dim: 1, labels: 1, embedding, pairEmbedding, weight: Float32Array.of(1), bias: Float32Array.of(x[n - 1]!) }
}

/** Pearson correlation. */
const correlation = (a: ReadonlyArray<number>, b: ReadonlyArray<number>) => {
  const ma = a.reduce((s, v) => s + v, 0) / a.length
  const mb = b.reduce((s, v) => s + v, 0) / b.length
  let sab = 0, saa = 0, sbb = 0
  a.forEach((v, i) => {
    sab += (v - ma) * (b[i]! - mb)
    saa += (v - ma) ** 2
    sbb += (b[i]! - mb) ** 2
  })
  return sab / Math.sqrt(saa * sbb)
}

/**
 * Fit the proxy and write it (+ tokenizer.json) to `path`. Returns the reward spec that scores
 * with it (the proxy reads the completion only) and its correlation with gold on fresh reviews.
 */
export const writeSentimentProxyRewardModel = (
  path: string,
  options: { samples?: number; seed?: number; ridge?: number } = {}
): Effect.Effect<{ readonly spec: OnnxSpec; readonly heldoutCorrelation: number }, Errors.OnnxError> =>
  Effect.gen(function*() {
    const weights = fitSentimentProxy(options)
    yield* writeBagOfWordsRewardModel(path, { tokenizer, weights, docString: "odpo sentiment proxy: ridge-regressed bag of characters and character pairs" })
    const heldout = syntheticReviews(500, (options.seed ?? 0) + 1_000_003)
    const proxy = bagOfWordsForward(weights, heldout.map(rowOf)).map((l) => l[0]!)
    const spec: OnnxSpec = {
      type: "onnx",
      path,
      tokenizer: null,
      template: "{completion}",
      output: { index: 0, transform: "none" },
      maxLength: 512,
      batchSize: 64,
      threads: 0
    }
    return { spec, heldoutCorrelation: correlation(proxy, heldout.map(sentimentGold)) }
  })
