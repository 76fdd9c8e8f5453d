/** Reward sources behind one interface: programmatic functions, the task's reward, penalties and weighted sums. */
import type { Domain, Scorer, Tasks } from "@odpo/core"
import { Effect } from "effect"

/** Something that gives one reward per completion. `id` is stable: scores.source stores it and the cache keys on it. */
export interface RewardSource {
  readonly id: string
  readonly score: (items: ReadonlyArray<Domain.ScoreItem>) => Effect.Effect<ReadonlyArray<number>, Scorer.ScorerError>
}

/** Any TS function (prompt, completion) → number, for library users; `item` carries token ids and finish reason. */
export const programmatic = (
  id: string,
  fn: (promptText: string, completionText: string, item: Domain.ScoreItem) => number
): RewardSource => ({
  id,
  score: (items) => Effect.sync(() => items.map((it) => fn(it.promptText, it.completionText, it)))
})

/** The task's `reward` (= its gold reward except for `length`'s biased labeller). */
export const taskReward = (task: Tasks.Task & { readonly reward: NonNullable<Tasks.Task["reward"]> }): RewardSource =>
  programmatic(`task:${task.name}`, (p, c, it) => task.reward(p, c, it.completionTokenIds))

/** −λ·|y| with |y| the completion's token count (EOS included when present, as pairing counts it). */
export const lengthPenalty = (lambda: number): RewardSource =>
  programmatic(`length_penalty:${lambda}`, (_p, _c, it) => -lambda * it.completionTokenIds.length)

/** −penalty for a completion that did not stop on EOS (cut at max tokens or a stop string). */
export const missingEosPenalty = (penalty: number): RewardSource =>
  programmatic(`missing_eos_penalty:${penalty}`, (_p, _c, it) => (it.finishReason === "eos" ? 0 : -penalty))

/** Σ_i w_i · r_i(y), each term scored on all items once. */
export const weightedSum = (terms: ReadonlyArray<{ readonly weight: number; readonly source: RewardSource }>): RewardSource => ({
  id: `sum(${terms.map((t) => `${t.weight}*${t.source.id}`).join(",")})`,
  score: (items) =>
    Effect.map(Effect.forEach(terms, (t) => t.source.score(items)), (scored) =>
      items.map((_, i) => terms.reduce((acc, t, k) => acc + t.weight * scored[k]![i]!, 0)))
})

/**
 * Remembers each item's reward by (source id, prompt text, completion text, token ids), so
 * re-scoring the same rollouts (evaluation, a resumed round, an offline pool) is free. Only the
 * items not seen before reach `source`. When more than `maxEntries` are held the cache starts over.
 */
export const cached = (source: RewardSource, maxEntries = 1_000_000): RewardSource & { readonly size: () => number } => {
  const memo = new Map<string, number>()
  const key = (it: Domain.ScoreItem) => `${it.promptText}\u0000${it.completionText}\u0000${it.completionTokenIds.join(",")}\u0000${it.finishReason}`
  return {
    id: source.id,
    size: () => memo.size,
    score: (items) =>
      Effect.gen(function*() {
        const keys = items.map(key)
        const found = new Map<string, number>()
        const missing: Array<number> = []
        const pending = new Set<string>()
        keys.forEach((k, i) => {
          const hit = memo.get(k)
          if (hit !== undefined) found.set(k, hit)
          else if (!pending.has(k)) {
            pending.add(k)
            missing.push(i)
          }
        })
        if (missing.length > 0) {
          const fresh = yield* source.score(missing.map((i) => items[i]!))
          if (memo.size + missing.length > maxEntries) memo.clear()
          missing.forEach((i, j) => {
            found.set(keys[i]!, fresh[j]!)
            memo.set(keys[i]!, fresh[j]!)
          })
        }
        return keys.map((k) => found.get(k)!)
      })
  }
}
