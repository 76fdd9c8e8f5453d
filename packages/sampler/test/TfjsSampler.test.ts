import { assert, describe, it } from "@effect/vitest"
import { type Domain, Progress, Sampler } from "@odpo/core"
import { LoadedModels } from "@odpo/model"
import { Effect, Layer } from "effect"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { sampleFile } from "../src/SampleFile.ts"
import * as TfjsSampler from "../src/TfjsSampler.ts"
import { params, prompt, savedTinyPolicy } from "./fixtures.ts"

const saved = savedTinyPolicy("odpo-sampler", 21)
const dir = saved.dir

const request = (over: Partial<Sampler.SampleRequest> = {}): Sampler.SampleRequest => ({
  policy: saved.policy,
  // Deliberately not sorted by length: the sampler batches by length but must answer in this order.
  prompts: [
    { promptId: "long", tokenIds: prompt("hgfedcba") },
    { promptId: "short", tokenIds: prompt("") },
    { promptId: "mid", tokenIds: prompt("abc") }
  ],
  n: 3,
  params: params({ temperature: 0.9, maxNewTokens: 6 }),
  seed: 17,
  ...over
})

/** The sampler layers on their own model cache. */
const withModels = <E>(layer: Layer.Layer<Sampler.Sampler, E, LoadedModels.LoadedModels>) => layer.pipe(Layer.provide(LoadedModels.LoadedModels.layer))
const samplerLayer = withModels(TfjsSampler.layer)

const sample = (req: Sampler.SampleRequest) =>
  Effect.gen(function*() {
    const sampler = yield* Sampler.Sampler
    return yield* sampler.sample(req)
  })

const writeFile = (name: string, content: string) => {
  const path = join(dir, name)
  writeFileSync(path, content)
  return path
}

describe("TfjsSampler", () => {
  it.effect("returns rollouts in prompt then sample order, identical for any batch size, with progress", () =>
    Effect.gen(function*() {
      const events: Array<Progress.ProgressEvent> = []
      const reporter = { report: (e: Progress.ProgressEvent) => Effect.sync(() => void events.push(e)) }
      const big = yield* sample(request({ label: "round 0 · sample" })).pipe(
        Effect.provide(samplerLayer),
        Effect.provideService(Progress.Progress, reporter)
      )
      const small = yield* sample(request()).pipe(Effect.provide(withModels(TfjsSampler.layerOptions({ maxBatchRows: 2 }))))
      assert.deepStrictEqual(big.map((r) => `${r.promptId}/${r.sampleIdx}`), [
        "long/0", "long/1", "long/2", "short/0", "short/1", "short/2", "mid/0", "mid/1", "mid/2"
      ])
      assert.deepStrictEqual(small.map((r) => r.tokenIds), big.map((r) => r.tokenIds))
      for (const r of big) {
        assert.strictEqual(r.policyCkpt, saved.policy.id)
        assert.strictEqual(r.seed, 17)
        assert.strictEqual(r.params.temperature, 0.9)
        assert.strictEqual(r.length, r.tokenIds.length)
        assert.strictEqual(r.tokenLogprobs.length, r.length)
        assert.closeTo(r.logprobSum, r.tokenLogprobs.reduce((a, b) => a + b, 0), 1e-9)
        assert.isBelow(r.logprobSum, 0)
        assert.isAtMost(r.length, 6)
      }
      const last = events[events.length - 1]!
      assert.deepInclude(last, { stage: "round 0 · sample", done: 9, total: 9, unit: "samples" })
    }))

  it.effect("bad requests fail with InvalidInput naming the field and value", () =>
    Effect.gen(function*() {
      const cases: Array<[Partial<Sampler.SampleRequest>, string]> = [
        [{ n: 0 }, "n (samples per prompt) must be an integer ≥ 1 (got 0)"],
        [{ params: params({ topP: 0 }) }, "params.topP must be in (0, 1] (got 0)"],
        [{ params: params({ topP: 1.5 }) }, "params.topP must be in (0, 1] (got 1.5)"],
        [{ params: params({ temperature: -1 }) }, "params.temperature must be ≥ 0 (got -1)"],
        [{ params: params({ topK: -2 }) }, "params.topK must be an integer ≥ 0 (got -2)"],
        [{ params: params({ minP: 2 }) }, "params.minP must be in [0, 1] (got 2)"],
        [{ params: params({ maxNewTokens: 0 }) }, "params.maxNewTokens must be an integer ≥ 1 (got 0)"],
        [{ prompts: [] }, "prompts is empty"],
        [{ prompts: [{ promptId: "e", tokenIds: [] }] }, `prompts[0] ("e") has no tokens`],
        [{ prompts: [{ promptId: "a", tokenIds: [1] }, { promptId: "big", tokenIds: prompt("abcdefghabcdefg") }] },
          `prompts[1] ("big") has 16 tokens but the policy's context length is 16: a prompt may have at most 15 tokens`]
      ]
      for (const [over, expected] of cases) {
        const error = yield* Effect.flip(sample(request(over)).pipe(Effect.provide(samplerLayer)))
        assert.strictEqual(error._tag, "InvalidInput")
        assert.include(error.message, expected)
      }
    }))

  it.effect("an unknown checkpoint fails with CheckpointNotFound naming the directory", () =>
    Effect.gen(function*() {
      const missing = join(dir, "nope")
      const error = yield* Effect.flip(sample(request({ policy: { id: "0".repeat(64), path: missing } })).pipe(Effect.provide(samplerLayer)))
      assert.strictEqual(error._tag, "CheckpointNotFound")
      assert.include(error.message, missing)
    }))
})

describe("sampleFile", () => {
  it.effect("prompts.jsonl → rollouts.jsonl, the same rollouts as the service", () =>
    Effect.gen(function*() {
      const promptsFile = writeFile("prompts.jsonl", [
        `{"id": "long", "prompt": "hgfedcba"}`,
        ``,
        `{"prompt_id": "short", "text": ""}`,
        `{"id": "mid", "prompt": "abc"}`
      ].join("\n"))
      const out = join(dir, "out", "rollouts.jsonl")
      const req = request()
      const result = yield* sampleFile({ policyDir: saved.policy.path, promptsFile, n: 3, params: req.params, seed: 17, out })
      assert.deepInclude(result, { prompts: 3, rollouts: 9, out })
      const lines = readFileSync(out, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Domain.Rollout)
      const viaService = yield* sample(req).pipe(Effect.provide(samplerLayer))
      assert.deepStrictEqual(lines.map((r) => [r.promptId, r.sampleIdx, r.tokenIds, r.text, r.finishReason]),
        viaService.map((r) => [r.promptId, r.sampleIdx, r.tokenIds, r.text, r.finishReason]))
    }))

  it.effect("bad files fail with a message naming the file (and line)", () =>
    Effect.gen(function*() {
      const base = { policyDir: saved.policy.path, n: 2, params: params(), seed: 1, out: join(dir, "x.jsonl") }
      const run = (promptsFile: string, over: Partial<typeof base> = {}) => Effect.flip(sampleFile({ ...base, promptsFile, ...over }))
      const empty = writeFile("empty.jsonl", "\n\n")
      let e = yield* run(empty)
      assert.strictEqual(e._tag, "InvalidInput")
      assert.include(e.message, `${empty} has no prompts`)
      const badJson = writeFile("bad.jsonl", `{"id": "a", "prompt": "ab"}\n{"id": "b", "prompt": \n`)
      e = yield* run(badJson)
      assert.include(e.message, `${badJson}:2: not valid JSON`)
      const noField = writeFile("nofield.jsonl", `{"id": "a", "prompt": "ab"}\n{"id": "b"}\n`)
      e = yield* run(noField)
      assert.include(e.message, `${noField}:2: each line must be an object`)
      const unknownSymbol = writeFile("sym.jsonl", `{"id": "a", "prompt": "xyz"}\n`)
      e = yield* run(unknownSymbol)
      assert.include(e.message, `${unknownSymbol}:1: cannot tokenize the prompt`)
      const tooLong = writeFile("long.jsonl", `{"id": "a", "prompt": "abcdefghabcdefgh"}\n`)
      e = yield* run(tooLong)
      assert.include(e.message, `prompts[0] ("a") has 17 tokens`)
      e = yield* run(join(dir, "absent.jsonl"))
      assert.include(e.message, "does not exist")
      const ok = writeFile("ok.jsonl", `{"id": "a", "prompt": "ab"}\n`)
      e = yield* run(ok, { policyDir: join(dir, "no-such-checkpoint") })
      assert.strictEqual(e._tag, "CheckpointNotFound")
      assert.include(e.message, join(dir, "no-such-checkpoint"))
      e = yield* run(ok, { n: 0 })
      assert.include(e.message, "n (samples per prompt) must be an integer ≥ 1 (got 0)")
    }))
})
