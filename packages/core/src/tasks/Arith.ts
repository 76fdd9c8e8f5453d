/**
 * `arith` (SCIENCE.md claims 3, 4, 8): "a+b=" with a, b ∈ 10..99 → the digits of the sum, then
 * EOS; gold = 1 if the answer is exactly the sum, else 0. π₀'s demonstrations are right 60% of
 * the time and plausibly wrong otherwise (a dropped carry or a digit off by one).
 */
import { CharTokenizer } from "../Tokenizer.ts"
import { makePrompt, pick, rng, splitPool, type BuiltinTask } from "./Task.ts"

/** Share of demonstrations with the correct sum. */
export const DEMO_CORRECT = 0.6

const tokenizer = new CharTokenizer({ symbols: [..."0123456789", "+", "="] })

/** All 90 × 90 = 8100 prompts. */
const POOL: ReadonlyArray<string> = Array.from({ length: 90 * 90 }, (_, i) => `${10 + Math.floor(i / 90)}+${10 + (i % 90)}=`)

const parse = (prompt: string): readonly [number, number] | null => {
  const m = /^(\d+)\+(\d+)=$/.exec(prompt)
  return m ? [Number(m[1]), Number(m[2])] : null
}

/**
 * 1 if the completion tokens before the first EOS are exactly the digits of a + b (no leading
 * zeros, nothing else), else 0. A completion with no EOS counts as long as its digits are right
 * (the sampler only stops without EOS at max tokens, which a right answer never reaches).
 */
export const arithGold = (promptText: string, completionTokenIds: ReadonlyArray<number>): number => {
  const ab = parse(promptText)
  if (ab === null) return 0
  const eos = completionTokenIds.indexOf(tokenizer.eosId)
  const answer = eos === -1 ? completionTokenIds : completionTokenIds.slice(0, eos)
  // Only digit tokens (ids 3..12) may form the answer: a stray special id is not silently dropped.
  if (answer.length === 0 || answer.some((id) => id < 3 || id > 12)) return 0
  return tokenizer.decode(answer) === String(ab[0] + ab[1]) ? 1 : 0
}

/**
 * A plausible wrong sum: when the units carry, drop the carry (e.g. 47+38 → 75); otherwise move
 * one digit of the sum by ±1 (e.g. 23+41 → 74 or 63). Never equals the true sum or goes negative.
 */
export const plausibleWrongSum = (a: number, b: number, rand: () => number): number => {
  const sum = a + b
  if ((a % 10) + (b % 10) >= 10 && rand() < 0.7) return sum - 10
  const place = rand() < 0.5 ? 1 : 10
  const up = sum + place
  const down = sum - place
  return rand() < 0.5 || down < 0 ? up : down
}

const gold = (prompt: string, _completion: string, ids: ReadonlyArray<number>) => arithGold(prompt, ids)

export const arith: BuiltinTask = {
  name: "arith",
  tokenizer,
  // at most 3 digits (99+99 = 198) and EOS
  defaultMaxNewTokens: 4,
  prompts: (config, split) => splitPool("arith", POOL, config)[split].map((text, i) => makePrompt("arith", tokenizer, split, i, text)),
  goldReward: gold,
  reward: gold,
  demonstrations: (config, count, seed) => {
    const pool = splitPool("arith", POOL, config).nonHeldout
    const rand = rng("arith", config.seed, "demos", seed)
    return Array.from({ length: count }, () => {
      const prompt = pick(pool, rand)
      const [a, b] = parse(prompt)!
      const answer = rand() < DEMO_CORRECT ? a + b : plausibleWrongSum(a, b, rand)
      return {
        promptTokenIds: [tokenizer.bosId, ...tokenizer.encode(prompt)],
        completionTokenIds: [...tokenizer.encode(String(answer)), tokenizer.eosId]
      }
    })
  }
}
