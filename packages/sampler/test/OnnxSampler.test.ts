import { assert, describe, it } from "@effect/vitest"
import { Sampler } from "@odpo/core"
import { Checkpoint, Gpt, LoadedModels, Onnx } from "@odpo/model"
import { Effect, Layer } from "effect"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as OnnxSampler from "../src/OnnxSampler.ts"
import * as TfjsSampler from "../src/TfjsSampler.ts"
import { config, params, prompt, savedTinyPolicy, tokenizer } from "./fixtures.ts"

const saved = savedTinyPolicy("odpo-onnx-sampler", 21, 8)
const dir = saved.dir

const request = (over: Partial<Sampler.SampleRequest> = {}): Sampler.SampleRequest => ({
  policy: saved.policy,
  prompts: [
    { promptId: "long", tokenIds: prompt("hgfedcba") },
    { promptId: "short", tokenIds: prompt("") },
    { promptId: "mid", tokenIds: prompt("abc") }
  ],
  n: 12,
  params: params({ temperature: 0.9, topP: 0.9, maxNewTokens: 6 }),
  seed: 17,
  ...over
})

const sample = (req: Sampler.SampleRequest) =>
  Effect.gen(function*() {
    const sampler = yield* Sampler.Sampler
    return yield* sampler.sample(req)
  })

const onnxLayer = (maxBatchRows?: number) =>
  OnnxSampler.layerOptions(maxBatchRows ? { maxBatchRows } : {}).pipe(
    Layer.provide(Layer.mergeAll(LoadedModels.LoadedModels.layer, Onnx.OnnxSessions.OnnxSessionPool.layer({ provider: "cpu", threads: 1 })))
  )

describe("OnnxSampler", () => {
  it.effect("draws the same rollouts as the tfjs sampler from the same checkpoint and seed, whatever the batch size", () =>
    Effect.gen(function*() {
      const tfjs = yield* sample(request()).pipe(Effect.provide(TfjsSampler.layer.pipe(Layer.provide(LoadedModels.LoadedModels.layer))))
      const onnx = yield* sample(request()).pipe(Effect.provide(onnxLayer()))
      const small = yield* sample(request()).pipe(Effect.provide(onnxLayer(5)))
      assert.strictEqual(onnx.length, 36)
      onnx.forEach((r, i) => {
        const t = tfjs[i]!
        assert.deepStrictEqual([r.promptId, r.sampleIdx, r.tokenIds, r.finishReason, r.text], [t.promptId, t.sampleIdx, t.tokenIds, t.finishReason, t.text])
        assert.closeTo(r.logprobSum, t.logprobSum, 1e-4)
        assert.strictEqual(r.policyCkpt, saved.policy.id)
        assert.deepStrictEqual(small[i]!.tokenIds, r.tokenIds)
      })
      assert.isAbove(new Set(onnx.map((r) => r.tokenIds.join(","))).size, 10)
    }))

  it.effect("a checkpoint whose weights do not fit its config.json is CheckpointCorrupt naming the tensor and the shape", () =>
    Effect.gen(function*() {
      // config.json claims dModel 32 over weights of dModel 16: the sha256 still matches the file
      const path = join(dir, "bad")
      const model = new Gpt.Gpt(config, Gpt.initialParameters(config, 1))
      const ref = yield* Checkpoint.saveCheckpoint(path, model, tokenizer)
      model.dispose()
      const file = join(ref.path, "config.json")
      const json = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>
      writeFileSync(file, JSON.stringify({ ...json, dModel: 32 }))
      const error = yield* Effect.flip(sample(request({ policy: ref })).pipe(Effect.provide(onnxLayer())))
      assert.strictEqual(error._tag, "CheckpointCorrupt")
      assert.include(error.message, "wte.weight")
      assert.include(error.message, "[11, 32]")
    }))
})
