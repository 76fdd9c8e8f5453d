// Config sizes are bounded by the machine: the limits are the heap or memory over the estimated bytes per item.
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { approxParameters, sizeIssue } from "../src/Limits.ts"
import { decodeRunConfig } from "../src/RunConfig.ts"

const machine = { heapBytes: 4 * 2 ** 30, memoryBytes: 8 * 2 ** 30 }

describe("Limits", () => {
  it.effect("prompts, rollouts and parameters past what the machine holds are refused at their field; the defaults fit", () =>
    Effect.gen(function*() {
      const base = yield* decodeRunConfig({ task: { name: "bandit" } })
      assert.isUndefined(sizeIssue(base, 103, machine))
      // 1 GiB of heap for prompts at 1024 + 48 × 64 bytes each (contextLength 64)
      const maxPrompts = Math.floor(2 ** 30 / (1024 + 48 * base.policy.model.contextLength))
      const at = (c: typeof base) => sizeIssue(c, 103, machine)
      assert.isUndefined(at({ ...base, task: { ...base.task, trainPrompts: maxPrompts } }))
      const over = at({ ...base, task: { ...base.task, trainPrompts: maxPrompts + 1 } })!
      assert.strictEqual(over.path, "$.task.trainPrompts")
      assert.include(over.message, `(at most ${maxPrompts} at contextLength ${base.policy.model.contextLength}; this process's JS heap is 4.0 GB`)
      const rollouts = at({ ...base, sampling: { ...base.sampling, promptsPerRound: 100_000, samplesPerPrompt: 100 } })!
      assert.strictEqual(rollouts.path, "$.sampling.samplesPerPrompt")
      assert.include(rollouts.message, "= 10000000 rollouts a round is more than this machine can hold")
      // 12·L·D² + (V + C)·D: 1 layer of width 16 with 103 tokens and context 64
      assert.strictEqual(approxParameters({ ...base.policy.model, dModel: 16, nLayers: 1, contextLength: 64 }, 103), 12 * 256 + 13 * 16 + (103 + 64) * 16)
      const model = at({ ...base, policy: { ...base.policy, model: { ...base.policy.model, dModel: 8192, nLayers: 48 } } })!
      assert.strictEqual(model.path, "$.policy.model")
      assert.include(model.message, "holds at most 2.68e+8")
    }))
})
