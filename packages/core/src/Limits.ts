/**
 * What a config may ask for, bounded by what this machine can hold: a run that would exhaust the
 * JS heap (task.trainPrompts 1e8 builds 1e8 prompts before anything else) is refused up front
 * with the field, the limit and what the limit comes from, instead of a V8 out-of-memory trace.
 * The sizes are estimates on the safe side; the limits leave the heap room for everything else.
 */
import { totalmem } from "node:os"
import { getHeapStatistics } from "node:v8"
import type { RunConfig } from "./RunConfig.ts"

/** Bytes a prompt of the task costs in memory (its text, token ids and map entry), per context token. */
const bytesPerPromptToken = 48
const bytesPerPrompt = 1024
/** Bytes a rollout costs while its round is in memory (tokens, log-probs, text, score, row). */
const bytesPerRolloutToken = 64
const bytesPerRollout = 2048
/** Float32 weights, their gradients, and AdamW's two moments. */
const bytesPerParameter = 16

const gb = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GB`

export interface Machine {
  /** V8's heap limit (node --max-old-space-size). */
  readonly heapBytes: number
  /** Physical memory: weights live in typed arrays outside the JS heap. */
  readonly memoryBytes: number
}

export const thisMachine = (): Machine => ({ heapBytes: getHeapStatistics().heap_size_limit, memoryBytes: totalmem() })

/** About how many parameters a GPT of this shape has: embeddings plus 12·D² per block. */
export const approxParameters = (m: RunConfig["policy"]["model"], vocabSize: number) =>
  (vocabSize + m.contextLength) * m.dModel + m.nLayers * (12 * m.dModel * m.dModel + 13 * m.dModel)

/** The first thing the config asks for that this machine cannot hold, as a path and a message. */
export const sizeIssue = (config: RunConfig, vocabSize: number, machine: Machine = thisMachine()): { path: string; message: string } | undefined => {
  const heapNote = `this process's JS heap is ${gb(machine.heapBytes)} (raise it with NODE_OPTIONS=--max-old-space-size=MB)`
  const budget = machine.heapBytes / 4
  const perPrompt = bytesPerPrompt + bytesPerPromptToken * config.policy.model.contextLength
  const maxPrompts = Math.floor(budget / perPrompt)
  for (const field of ["trainPrompts", "heldoutPrompts"] as const) {
    if (config.task[field] > maxPrompts) {
      return {
        path: `$.task.${field}`,
        message: `task.${field} ${config.task[field]} is more prompts than this machine can hold (at most ${maxPrompts} at contextLength ` +
          `${config.policy.model.contextLength}; ${heapNote}): lower it`
      }
    }
  }
  const perRollout = (tokens: number) => bytesPerRollout + bytesPerRolloutToken * tokens
  const maxRollouts = Math.floor(budget / perRollout(config.sampling.maxNewTokens))
  const rollouts = config.sampling.promptsPerRound * config.sampling.samplesPerPrompt
  if (rollouts > maxRollouts) {
    return {
      path: "$.sampling.samplesPerPrompt",
      message: `sampling.promptsPerRound × samplesPerPrompt = ${rollouts} rollouts a round is more than this machine can hold ` +
        `(at most ${maxRollouts} of maxNewTokens ${config.sampling.maxNewTokens}; ${heapNote}): lower either`
    }
  }
  const evalRollouts = config.eval.prompts * config.eval.samplesPerPrompt
  if (evalRollouts > maxRollouts) {
    return {
      path: "$.eval.samplesPerPrompt",
      message: `eval.prompts × samplesPerPrompt = ${evalRollouts} rollouts is more than this machine can hold (at most ${maxRollouts}; ${heapNote}): lower either`
    }
  }
  if (config.policy.init === null) {
    const params = approxParameters(config.policy.model, vocabSize)
    const maxParams = Math.floor(machine.memoryBytes / 2 / bytesPerParameter)
    if (params > maxParams) {
      return {
        path: "$.policy.model",
        message: `policy.model (dModel ${config.policy.model.dModel}, nLayers ${config.policy.model.nLayers}) has about ${params.toExponential(2)} parameters; ` +
          `training holds ${bytesPerParameter} bytes each, and this machine's ${gb(machine.memoryBytes)} of memory holds at most ${maxParams.toExponential(2)}: make the model smaller`
      }
    }
  }
  return undefined
}
