/**
 * The synthetic review language shared by the `sentiment` and `length` tasks, and its gold
 * sentiment classifier.
 *
 * Grammar:   review  := clause (" " clause)*
 *            clause  := subject " is " adjective "."
 *            subject := food | staff | room | view | bar | bed
 * Each adjective carries a sentiment weight:
 *   +1   great, superb        +0.5 good, nice
 *    0   ok, new, big
 *   −0.5 bad, slow            −1   awful, dirty
 * e.g. "food is great. staff is slow." The alphabet is lowercase letters, space and period.
 */
import { CharTokenizer } from "../Tokenizer.ts"
import { pick } from "./Task.ts"

export const SUBJECTS = ["food", "staff", "room", "view", "bar", "bed"] as const

export const ADJECTIVES: Readonly<Record<string, number>> = {
  great: 1,
  superb: 1,
  good: 0.5,
  nice: 0.5,
  ok: 0,
  new: 0,
  big: 0,
  bad: -0.5,
  slow: -0.5,
  awful: -1,
  dirty: -1
}

const byPolarity = (test: (w: number) => boolean) => Object.keys(ADJECTIVES).filter((a) => test(ADJECTIVES[a]!))
export const POSITIVE = byPolarity((w) => w > 0)
export const NEUTRAL = byPolarity((w) => w === 0)
export const NEGATIVE = byPolarity((w) => w < 0)

/** Lowercase letters, space, period (ids 3..30 after PAD, BOS, EOS). */
export const reviewTokenizer = new CharTokenizer({ symbols: [" ", ".", ..."abcdefghijklmnopqrstuvwxyz"] })

export const clause = (subject: string, adjective: string) => `${subject} is ${adjective}.`

/** Every clause of the grammar (6 subjects × 11 adjectives = 66). */
export const ALL_CLAUSES: ReadonlyArray<string> = SUBJECTS.flatMap((s) => Object.keys(ADJECTIVES).map((a) => clause(s, a)))

/**
 * Prompt pool: every prefix of one or two clauses (66 + 66² = 4422), each followed by a space
 * so that the completion starts with a subject.
 */
export const PROMPT_POOL: ReadonlyArray<string> = [
  ...ALL_CLAUSES.map((c) => `${c} `),
  ...ALL_CLAUSES.flatMap((c1) => ALL_CLAUSES.map((c2) => `${c1} ${c2} `))
]

export interface ClauseCount {
  /** Σ of the adjective weights of the well-formed clauses. */
  readonly score: number
  /** Well-formed clauses. */
  readonly wellFormed: number
  /** Non-empty sentences (well-formed or not): the text split on ".", trimmed. */
  readonly sentences: number
}

/**
 * Parses a text into sentences (split on "."; the last one may lack its period, e.g. when the
 * sampler hit max tokens) and sums the weights of those that are exactly `subject is adjective`.
 * Anything else ("great great great", "food is") is a sentence worth 0.
 */
export const countClauses = (text: string): ClauseCount => {
  let score = 0
  let wellFormed = 0
  let sentences = 0
  for (const part of text.split(".")) {
    const s = part.trim()
    if (s.length === 0) continue
    sentences++
    const m = /^([a-z]+) is ([a-z]+)$/.exec(s)
    if (m && (SUBJECTS as ReadonlyArray<string>).includes(m[1]!) && m[2]! in ADJECTIVES) {
      score += ADJECTIVES[m[2]!]!
      wellFormed++
    }
  }
  return { score, wellFormed, sentences }
}

/** sentiment gold: tanh(S), S = Σ weights of the completion's well-formed clauses; in (−1, 1), 0 for none. */
export const sentimentGold = (completionText: string): number => Math.tanh(countClauses(completionText).score)

/**
 * length gold (quality independent of length): the mean weight per sentence, S / #sentences,
 * in [−1, 1] (0 for an empty completion). Padding with neutral or malformed sentences lowers
 * it, never raises it.
 */
export const perClauseGold = (completionText: string): number => {
  const c = countClauses(completionText)
  return c.sentences === 0 ? 0 : c.score / c.sentences
}

/**
 * How well a policy writes the language (both review tasks' `sampleMetrics`): `eval/well_formed`,
 * the share of all sentences that are well-formed clauses (0 when there are none), and
 * `eval/clauses`, the mean number of well-formed clauses per completion. A π₀ that cannot write the
 * grammar earns gold ≈ 0 whatever it says, so these tell a weak π₀ from a neutral one.
 */
export const reviewMetrics = (completionTexts: ReadonlyArray<string>): Record<string, number> => {
  let wellFormed = 0
  let sentences = 0
  for (const text of completionTexts) {
    const c = countClauses(text)
    wellFormed += c.wellFormed
    sentences += c.sentences
  }
  return {
    "eval/well_formed": sentences === 0 ? 0 : wellFormed / sentences,
    "eval/clauses": completionTexts.length === 0 ? 0 : wellFormed / completionTexts.length
  }
}

/**
 * A demonstration continuation of `clauses` clauses whose adjectives are mostly neutral or
 * balanced (½ neutral, ¼ positive, ¼ negative), so π₀'s sentiment is mixed and has room to improve.
 */
export const mixedContinuation = (clauses: number, rand: () => number): string =>
  Array.from({ length: clauses }, () => {
    const u = rand()
    const adjectives = u < 0.5 ? NEUTRAL : u < 0.75 ? POSITIVE : NEGATIVE
    return clause(pick(SUBJECTS, rand), pick(adjectives, rand))
  }).join(" ")
