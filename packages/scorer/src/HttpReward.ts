/**
 * A reward server, as OpenRLHF's `--reward.remote_url` talks to one: each batch is one POST of
 * {"query": [prompt + completion], "prompts": [prompt], "labels": [label]}, answered with
 * {"rewards": [number]}. Batches go `concurrency` at a time; a timeout, a lost connection or a 5xx
 * answer is retried with doubling back-off, then is a RewardError that says what the server did.
 */
import { type Domain, Errors } from "@odpo/core"
import { Duration, Effect } from "effect"
import type { RewardSource } from "./RewardSource.ts"
import type { HttpSpec } from "./RewardSpec.ts"

/** The request body for a batch (OpenRLHF's remote reward protocol). */
export const requestBody = (spec: HttpSpec, items: ReadonlyArray<Domain.ScoreItem>) => ({
  query: items.map((it) => it.promptText + it.completionText),
  prompts: items.map((it) => it.promptText),
  labels: items.map((it) => (spec.labelColumn === null ? null : it.columns?.[spec.labelColumn] ?? null))
})

/** One try's outcome: rewards, or why not and whether another try may help. */
type Attempt = { readonly rewards: ReadonlyArray<unknown> } | { readonly failure: string; readonly retry: boolean }

const attempt = (spec: HttpSpec, body: string): Effect.Effect<Attempt> =>
  Effect.promise(async (signal): Promise<Attempt> => {
    const timeout = AbortSignal.timeout(spec.timeoutMs)
    try {
      const response = await fetch(spec.url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
        signal: AbortSignal.any([signal, timeout])
      })
      const text = await response.text()
      if (!response.ok) return { failure: `answered ${response.status} ${response.statusText}: ${text.slice(0, 120)}`, retry: response.status >= 500 }
      let json: unknown
      try {
        json = JSON.parse(text)
      } catch {
        return { failure: `answered with text that is not JSON: ${text.slice(0, 120)}`, retry: false }
      }
      const rewards = (json as { rewards?: unknown })?.rewards
      if (!Array.isArray(rewards)) return { failure: `answered ${text.slice(0, 120)}, without a "rewards" list`, retry: false }
      return { rewards }
    } catch (e) {
      if (timeout.aborted) return { failure: `did not answer within timeoutMs ${spec.timeoutMs}`, retry: true }
      return { failure: `could not be reached: ${(e as Error)?.cause ?? (e as Error)?.message ?? String(e)}`, retry: true }
    }
  })

/** One batch, with retries: rewards in order, or a RewardError naming the batch's first rollout. */
const scoreBatch = (spec: HttpSpec, id: string, items: ReadonlyArray<Domain.ScoreItem>) =>
  Effect.gen(function*() {
    const body = JSON.stringify(requestBody(spec, items))
    const first = items[0]?.rolloutId ?? items[0]?.promptId ?? "?"
    let tries = 0
    while (true) {
      const result = yield* attempt(spec, body)
      tries++
      if ("rewards" in result) {
        if (result.rewards.length !== items.length) {
          return yield* new Errors.RewardError({
            source: id,
            rolloutId: first,
            message: `reward server ${spec.url} returned ${result.rewards.length} rewards for a batch of ${items.length} completions (from rollout ${first}): it must answer one per query`
          })
        }
        return result.rewards as ReadonlyArray<number>
      }
      if (!result.retry || tries > spec.retries) {
        return yield* new Errors.RewardError({
          source: id,
          rolloutId: first,
          message: `reward server ${spec.url} ${result.failure} (batch from rollout ${first}, ${tries} ${tries === 1 ? "try" : "tries"}` +
            `${result.retry ? `; raise reward.retries or reward.timeoutMs, or check the server` : ""})`
        })
      }
      yield* Effect.logWarning(`reward server ${spec.url} ${result.failure}: retrying (${tries}/${spec.retries})`)
      yield* Effect.sleep(Duration.millis(spec.backoffMs * 2 ** (tries - 1)))
    }
  })

/** The source: batches of `spec.batchSize`, `spec.concurrency` requests in flight. */
export const httpReward = (spec: HttpSpec, id: string): RewardSource => ({
  id,
  score: (items) => {
    const batches: Array<ReadonlyArray<Domain.ScoreItem>> = []
    for (let i = 0; i < items.length; i += spec.batchSize) batches.push(items.slice(i, i + spec.batchSize))
    return Effect.map(
      Effect.forEach(batches, (batch) => scoreBatch(spec, id, batch), { concurrency: spec.concurrency }),
      (scored) => scored.flat()
    )
  }
})
