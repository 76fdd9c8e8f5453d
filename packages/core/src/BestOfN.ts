/**
 * Best-of-n sampling, the reference arm of the over-optimisation study (Gao et al. 2022,
 * arXiv:2210.10760): draw N samples per held-out prompt from π₀, score them with the proxy
 * reward (and gold), and estimate for n = 1, 2, 4, … the proxy and gold reward of the proxy-best
 * of n — at the analytic KL log n − (n − 1)/n of the best-of-n policy from π₀. Each n is stored as
 * one "round" of a run with runs.loss = 'bon' (round k ↔ n = 2^k, metric `bon/n`), so the same
 * views (run_compare, reward_vs_kl) put it beside the DPO arms' reward–KL curves.
 */
import { Effect } from "effect"
import { ConfigError } from "./Errors.ts"
import { heldoutPrompts } from "./RunContext.ts"
import { record, samplingParams, scoreRollouts, startClock, startRoundZero, toWrites } from "./Round.ts"
import { createRun, type StartOptions, storedContext } from "./Run.ts"
import type { RunConfig } from "./RunConfig.ts"
import { RunStore } from "./RunStore.ts"
import { Sampler } from "./Sampler.ts"
import { deriveSeed } from "./Seeds.ts"

export interface BestOfNOptions {
  /** Samples drawn per held-out prompt (N). */
  readonly samples: number
  /** Largest n evaluated (a power of 2, at most N): n = 1, 2, 4, …, maxN. */
  readonly maxN: number
}

/** KL(π_bon ‖ π₀) of best-of-n, as Stiennon et al. 2020 and Gao et al. 2022 use it: log n − (n − 1)/n. */
export const bestOfNKl = (n: number): number => Math.log(n) - (n - 1) / n

/** n = 1, 2, 4, …, maxN; maxN must be a power of 2 no larger than the samples drawn. */
export const bestOfNSizes = (options: BestOfNOptions): Array<number> => {
  const k = Math.log2(options.maxN)
  if (!Number.isInteger(k) || options.maxN > options.samples) {
    throw new Error(`best-of-n: maxN ${options.maxN} must be a power of 2 no larger than samples ${options.samples}`)
  }
  return Array.from({ length: k + 1 }, (_, i) => 2 ** i)
}

/**
 * P(the i-th lowest of N samples is the best of a uniformly random n-subset) = C(i, n−1) / C(N, n)
 * (i = 0 … N−1 counts the samples below it): Gao et al.'s unbiased best-of-n estimator, which
 * uses all N samples for every n instead of one draw of n.
 */
export const bestOfNWeights = (N: number, n: number): Array<number> => {
  const lnFact = [0]
  for (let j = 1; j <= N; j++) lnFact.push(lnFact[j - 1]! + Math.log(j))
  const lnC = (a: number, b: number) => lnFact[a]! - lnFact[b]! - lnFact[a - b]!
  return Array.from({ length: N }, (_, i) => (i < n - 1 ? 0 : Math.exp(lnC(i, n - 1) - lnC(N, n))))
}

/**
 * E[value of the proxy-best of n] over random n-subsets of one prompt's samples, for each value
 * column. Samples tied on the proxy share their group's mean value: the pick among ties is uniform.
 */
export const bestOfNExpectation = (
  samples: ReadonlyArray<{ readonly proxy: number; readonly values: ReadonlyArray<number> }>,
  n: number
): Array<number> => {
  const sorted = samples.slice().sort((a, b) => a.proxy - b.proxy)
  const columns = sorted[0]?.values.length ?? 0
  const tied = sorted.map((s) => s.values.slice())
  for (let start = 0; start < sorted.length;) {
    let end = start
    while (end + 1 < sorted.length && sorted[end + 1]!.proxy === sorted[start]!.proxy) end++
    for (let c = 0; c < columns; c++) {
      let sum = 0
      for (let i = start; i <= end; i++) sum += sorted[i]!.values[c]!
      for (let i = start; i <= end; i++) tied[i]![c] = sum / (end - start + 1)
    }
    start = end + 1
  }
  const w = bestOfNWeights(sorted.length, n)
  return Array.from({ length: columns }, (_, c) => tied.reduce((acc, v, i) => acc + w[i]! * v[c]!, 0))
}

export interface BestOfNSample {
  readonly promptId: string
  readonly proxy: number
  readonly gold: number | null
  readonly length: number
}

const mean = (xs: ReadonlyArray<number>) => xs.reduce((a, b) => a + b, 0) / xs.length

/** The evals metrics of best-of-n: expectations per prompt, averaged over prompts. */
export const bestOfNMetrics = (samples: ReadonlyArray<BestOfNSample>, n: number): Record<string, number> => {
  const byPrompt = new Map<string, Array<BestOfNSample>>()
  for (const s of samples) {
    const list = byPrompt.get(s.promptId)
    if (list) list.push(s)
    else byPrompt.set(s.promptId, [s])
  }
  const hasGold = samples.every((s) => s.gold !== null)
  const perPrompt = [...byPrompt.values()].map((list) =>
    bestOfNExpectation(list.map((s) => ({ proxy: s.proxy, values: [s.proxy, s.gold ?? 0, s.length] })), n))
  const metrics: Record<string, number> = {
    "bon/n": n,
    "eval/reward": mean(perPrompt.map((e) => e[0]!)),
    "objective/kl": bestOfNKl(n),
    "eval/length": mean(perPrompt.map((e) => e[2]!)),
    "eval/ref_reward": mean(samples.map((s) => s.proxy)),
    "eval/samples": samples.length
  }
  if (hasGold) {
    metrics["eval/gold_reward"] = mean(perPrompt.map((e) => e[1]!))
    metrics["eval/ref_gold_reward"] = mean(samples.map((s) => s.gold!))
  }
  return metrics
}

/**
 * A best-of-n run of `config` (its π₀ — shared with the study's other arms through the SFT cache —
 * its reward as the proxy, its held-out prompts, eval temperature and seed): round 0 records π₀
 * and every sample with its scores; round k records n = 2^k.
 */
export const runBestOfN = Effect.fn("BestOfN.run")(function*(config: RunConfig, start: StartOptions, options: BestOfNOptions) {
  const ns = yield* Effect.try({ try: () => bestOfNSizes(options), catch: (e) => new ConfigError({ message: (e as Error).message }) })
  const store = yield* RunStore
  const runId = yield* createRun(config, { ...start, method: { name: "bon", options } })
  const { ctx } = yield* storedContext(runId, start.engine)
  const work = Effect.gen(function*() {
    const pi0 = yield* startRoundZero(ctx)
    const clock = startClock()
    const prompts = heldoutPrompts(ctx).map((p) => ({ promptId: p.promptId, tokenIds: p.tokenIds }))
    // The eval seed: the first eval.samplesPerPrompt samples are the ones the other arms evaluate π₀ on.
    const sampled = yield* (yield* Sampler).sample({
      policy: pi0, prompts, n: options.samples, params: samplingParams(ctx.config, ctx.config.eval.temperature),
      seed: deriveSeed(ctx.config.seed, "eval"), label: "best-of-n · sample"
    })
    const rollouts = toWrites(ctx, 0, "eval", sampled)
    const scored = yield* scoreRollouts(ctx, rollouts, "best-of-n · score")
    const samples = rollouts.map((r, i): BestOfNSample => ({
      promptId: r.promptId, proxy: scored.scores[i]!.reward, gold: scored.scores[i]!.goldReward, length: r.length
    }))
    const evalsAt = (k: number) => [{ runId, round: k, split: "heldout", metrics: { ...bestOfNMetrics(samples, ns[k]!), "bon/samples": options.samples } }]
    yield* record(ctx, clock, { runId, round: 0, stage: "eval", rollouts, scores: scored.rows, evals: evalsAt(0) })
    for (let k = 1; k < ns.length; k++) {
      yield* record(ctx, startClock(), {
        runId, round: k, stage: "eval", round_: { policyCkpt: pi0.id, refCkpt: pi0.id, outputCkpt: pi0.id }, evals: evalsAt(k)
      })
    }
  })
  yield* work.pipe(Effect.onError(() => store.setRunStatus(runId, "failed").pipe(Effect.ignore)))
  yield* store.setRunStatus(runId, "finished")
  return runId
})
