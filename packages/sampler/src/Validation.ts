/** Checks a SampleRequest against the policy before any work: each problem is one InvalidInput naming the field and value. */
import { Errors, type Sampler } from "@odpo/core"
import { Effect } from "effect"

const { InvalidInput } = Errors

/** The first problem with the request, as a message, or undefined when it is fine. */
export const requestProblem = (
  request: Sampler.SampleRequest,
  policy: { readonly contextLength: number; readonly vocabSize: number }
): string | undefined => {
  const { params, n, seed, prompts } = request
  if (!Number.isInteger(n) || n < 1) return `n (samples per prompt) must be an integer ≥ 1 (got ${n})`
  if (!Number.isSafeInteger(seed)) return `seed must be an integer (got ${seed})`
  if (!(Number.isFinite(params.temperature) && params.temperature >= 0)) {
    return `params.temperature must be ≥ 0 (got ${params.temperature}); 0 means greedy`
  }
  if (!Number.isInteger(params.topK) || params.topK < 0) return `params.topK must be an integer ≥ 0 (got ${params.topK}); 0 turns it off`
  if (!(params.topP > 0 && params.topP <= 1)) return `params.topP must be in (0, 1] (got ${params.topP}); 1 turns it off`
  if (!(params.minP >= 0 && params.minP <= 1)) return `params.minP must be in [0, 1] (got ${params.minP}); 0 turns it off`
  if (!(Number.isFinite(params.repetitionPenalty) && params.repetitionPenalty > 0)) {
    return `params.repetitionPenalty must be > 0 (got ${params.repetitionPenalty}); 1 turns it off`
  }
  if (!Number.isInteger(params.maxNewTokens) || params.maxNewTokens < 1) {
    return `params.maxNewTokens must be an integer ≥ 1 (got ${params.maxNewTokens})`
  }
  const emptyStop = params.stop.findIndex((s) => s.length === 0)
  if (emptyStop >= 0) return `params.stop[${emptyStop}] is an empty string: it would stop every completion at once; remove it`
  if (prompts.length === 0) return `prompts is empty: give at least one prompt`
  const C = policy.contextLength
  const seen = new Map<string, number>()
  for (let i = 0; i < prompts.length; i++) {
    const p = prompts[i]!
    const name = `prompts[${i}] (${JSON.stringify(p.promptId)})`
    const first = seen.get(p.promptId)
    if (first !== undefined) return `${name} repeats the promptId of prompts[${first}]: prompt ids must be unique (they seed the samples)`
    seen.set(p.promptId, i)
    if (p.tokenIds.length === 0) return `${name} has no tokens: a prompt needs at least one token (BOS) to condition on`
    if (p.tokenIds.length > C - 1) {
      return `${name} has ${p.tokenIds.length} tokens but the policy's context length is ${C}: ` +
        `a prompt may have at most ${C - 1} tokens so that at least one new token fits; shorten it`
    }
    const bad = p.tokenIds.find((t) => !Number.isInteger(t) || t < 0 || t >= policy.vocabSize)
    if (bad !== undefined) return `${name} has token id ${bad}, outside the policy's vocabulary 0…${policy.vocabSize - 1}`
  }
  return undefined
}

export const validateRequest = (
  request: Sampler.SampleRequest,
  policy: { readonly contextLength: number; readonly vocabSize: number }
): Effect.Effect<void, Errors.InvalidInput> => {
  const problem = requestProblem(request, policy)
  return problem === undefined ? Effect.void : Effect.fail(new InvalidInput({ message: problem }))
}
