/**
 * A SampleRequest → Rollouts with any GenerationEngine: validate, give every (prompt, sample) row
 * its own seed, batch rows of similar prompt length, report progress, and return the rollouts in
 * request order (prompt, then sample index). Batching is free to reorder: no row depends on another.
 */
import { type Domain, type Errors, Progress, type Sampler, Seeds } from "@odpo/core"
import { Effect } from "effect"
import type { GeneratedRow, GenerationEngine, GenerationRow } from "./GenerationEngine.ts"
import { validateRequest } from "./Validation.ts"

export interface SamplingOptions {
  /** Most rows (prompt × sample) generated together; bounds memory (default 256). */
  readonly maxBatchRows?: number
}

export const defaultMaxBatchRows = 256

/** The rows of a request in request order: prompt-major, then sample index. */
export const requestRows = (request: Sampler.SampleRequest): Array<GenerationRow> =>
  request.prompts.flatMap((p) =>
    Array.from({ length: request.n }, (_, j) => ({
      promptId: p.promptId,
      sampleIdx: j,
      promptTokenIds: p.tokenIds,
      rngSeed: Seeds.rowSeed(request.seed, p.promptId, j)
    }))
  )

const toRollout = (row: GeneratedRow, request: Sampler.SampleRequest, policyCkpt: string): Domain.Rollout => {
  let sum = 0
  for (const lp of row.tokenLogprobs) sum += lp
  return {
    promptId: row.promptId,
    sampleIdx: row.sampleIdx,
    tokenIds: row.tokenIds,
    text: row.text,
    tokenLogprobs: row.tokenLogprobs,
    logprobSum: sum,
    length: row.tokenIds.length,
    finishReason: row.finishReason,
    params: request.params,
    // The request seed: with promptId and sampleIdx it names the row's stream (Seeds.rowSeed).
    seed: request.seed,
    policyCkpt
  }
}

/** Sample a request with `engine`, whose policy has id `policyCkpt`. */
export const sampleWith = Effect.fn("Sampling.sampleWith")(function*(
  engine: GenerationEngine,
  policyCkpt: string,
  request: Sampler.SampleRequest,
  options: SamplingOptions = {}
): Effect.fn.Return<ReadonlyArray<Domain.Rollout>, Errors.InvalidInput> {
  yield* validateRequest(request, engine)
  const maxRows = Math.max(1, Math.floor(options.maxBatchRows ?? defaultMaxBatchRows))
  const rows = requestRows(request)
  // Shortest prompts first (stable, so one prompt's samples stay together): less padding per batch.
  const order = rows.map((_, i) => i).sort((a, b) => rows[a]!.promptTokenIds.length - rows[b]!.promptTokenIds.length || a - b)
  const out = new Array<Domain.Rollout>(rows.length)
  const progress = yield* Progress.tracker(request.label ?? "sample", rows.length, "samples")
  for (let start = 0; start < order.length; start += maxRows) {
    const slots = order.slice(start, start + maxRows)
    const generated = yield* engine.generate({ rows: slots.map((i) => rows[i]!), params: request.params })
    generated.forEach((g, j) => {
      out[slots[j]!] = toRollout(g, request, policyCkpt)
    })
    yield* progress.tick(slots.length)
  }
  return out
})
