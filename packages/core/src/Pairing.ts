/**
 * Preference pairs from scored samples (RAFT-style, per prompt): a strategy picks which
 * samples face each other, ranked by r − λ|y|; duplicate, tie and margin filters drop pairs
 * and every drop is counted (pair_filters), so a collapsing policy is visible, not silent.
 * Optional label noise then flips a seeded fraction of the kept pairs, each one marked.
 */
import type { PairingConfig } from "./RunConfig.ts"
import { deriveSeed, mulberry32 } from "./Seeds.ts"

export interface Candidate {
  readonly rolloutId: string
  readonly promptId: string
  readonly tokenIds: ReadonlyArray<number>
  readonly reward: number
}

export interface Pairing {
  readonly promptId: string
  readonly chosen: Candidate
  readonly rejected: Candidate
  /** Ranking-score difference s(chosen) − s(rejected): ≥ 0, negative only for a flipped pair. */
  readonly margin: number
  /** The label was flipped (label noise, `flipRate`): chosen is the sample the ranking put lower. */
  readonly flipped: boolean
}

export interface PairingResult {
  readonly pairs: ReadonlyArray<Pairing>
  /** candidates, duplicates, ties, margin, kept, flipped; plus prompts and prompts_without_pairs. */
  readonly counts: Readonly<Record<string, number>>
}

/** The score samples are ranked by: reward minus λ per completion token. */
export const rankingScore = (c: Candidate, lengthPenalty: number): number => c.reward - lengthPenalty * c.tokenIds.length

type Ranked = { readonly c: Candidate; readonly s: number }
type Strategy = (ranked: ReadonlyArray<Ranked>, k: number, rand: () => number) => Array<[Ranked, Ranked]>

const pick = (n: number, rand: () => number) => Math.floor(rand() * n)

/** Each strategy gets the prompt's samples sorted best first and returns (a, b) candidates. */
const strategies: Record<PairingConfig["strategy"], Strategy> = {
  // best vs worst (Xiong et al.; RLHFlow): the widest margin per prompt
  max_min: (r) => (r.length < 2 ? [] : [[r[0]!, r[r.length - 1]!]]),
  // best vs one of the others
  max_random: (r, _k, rand) => (r.length < 2 ? [] : [[r[0]!, r[1 + pick(r.length - 1, rand)]!]]),
  // best vs runner-up: the hardest pair
  max_max: (r) => (r.length < 2 ? [] : [[r[0]!, r[1]!]]),
  // two distinct samples at random, ordered by score
  random: (r, _k, rand) => {
    if (r.length < 2) return []
    const i = pick(r.length, rand)
    let j = pick(r.length - 1, rand)
    if (j >= i) j++
    return [[r[Math.min(i, j)]!, r[Math.max(i, j)]!]]
  },
  // every unordered pair (the DPO paper's offline IMDb data: all 6 pairs of 4 samples)
  all_pairs: (r) => {
    const out: Array<[Ranked, Ranked]> = []
    for (let i = 0; i < r.length; i++) for (let j = i + 1; j < r.length; j++) out.push([r[i]!, r[j]!])
    return out
  },
  // i-th best vs i-th worst for i < k (disjoint halves)
  top_k_bottom_k: (r, k) => {
    const out: Array<[Ranked, Ranked]> = []
    const m = Math.min(k, Math.floor(r.length / 2))
    for (let i = 0; i < m; i++) out.push([r[i]!, r[r.length - 1 - i]!])
    return out
  }
}

const sameTokens = (a: ReadonlyArray<number>, b: ReadonlyArray<number>) =>
  a.length === b.length && a.every((t, i) => t === b[i])

/**
 * Build the round's pairs. `candidates` may come in any order; prompts keep first-seen order.
 * `seed` drives the strategies' random picks, `flipSeed` the label noise: one uniform draw per
 * kept pair, in order, whatever the rate, so a pair flipped at ε is also flipped at every ε′ > ε
 * (arms that differ only in ε see nested noise).
 */
export const makePairs = (
  candidates: ReadonlyArray<Candidate>,
  config: PairingConfig,
  seed: number,
  flipSeed: number = deriveSeed(seed, "flip")
): PairingResult => {
  const rand = mulberry32(seed)
  const byPrompt = new Map<string, Array<Candidate>>()
  for (const c of candidates) {
    const list = byPrompt.get(c.promptId)
    if (list) list.push(c)
    else byPrompt.set(c.promptId, [c])
  }
  const counts = { prompts: byPrompt.size, candidates: 0, duplicates: 0, ties: 0, margin: 0, kept: 0, flipped: 0, prompts_without_pairs: 0 }
  const flipRand = mulberry32(flipSeed)
  const pairs: Array<Pairing> = []
  for (const [promptId, list] of byPrompt) {
    // stable sort: equal scores keep sample order, so pairing is deterministic
    const ranked = list
      .map((c) => ({ c, s: rankingScore(c, config.lengthPenalty) }))
      .sort((a, b) => b.s - a.s)
    let keptHere = 0
    for (const [a, b] of strategies[config.strategy](ranked, config.k, rand)) {
      counts.candidates++
      if (config.dropDuplicates && sameTokens(a.c.tokenIds, b.c.tokenIds)) {
        counts.duplicates++
        continue
      }
      if (config.dropTies && a.s === b.s) {
        counts.ties++
        continue
      }
      const [w, l] = a.s >= b.s ? [a, b] : [b, a]
      if (w.s - l.s < config.minMargin) {
        counts.margin++
        continue
      }
      if (flipRand() < config.flipRate) {
        pairs.push({ promptId, chosen: l.c, rejected: w.c, margin: l.s - w.s, flipped: true })
        counts.flipped++
      } else {
        pairs.push({ promptId, chosen: w.c, rejected: l.c, margin: w.s - l.s, flipped: false })
      }
      keptHere++
    }
    counts.kept += keptHere
    if (keptHere === 0) counts.prompts_without_pairs++
  }
  return { pairs, counts }
}

/** Distinct completions per prompt, averaged: 1.0 means the policy has collapsed to one answer. */
export const distinctPerPrompt = (candidates: ReadonlyArray<Candidate>): number => {
  const byPrompt = new Map<string, Set<string>>()
  for (const c of candidates) {
    const set = byPrompt.get(c.promptId) ?? new Set<string>()
    set.add(c.tokenIds.join(","))
    byPrompt.set(c.promptId, set)
  }
  if (byPrompt.size === 0) return 0
  let total = 0
  for (const s of byPrompt.values()) total += s.size
  return total / byPrompt.size
}
