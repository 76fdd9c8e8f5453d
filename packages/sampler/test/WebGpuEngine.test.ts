// The tfjs engine (KV cache) on the webgpu backend against cpu: the same greedy tokens, the same
// seeded samples and raw log-probs, the same rows twice on webgpu, and no tensors left behind.
import { assert, it } from "@effect/vitest"
import { Gpt } from "@odpo/model"
import * as tf from "@tensorflow/tfjs-core"
import { describeWebGpu, onBackend } from "../../model/test/WebGpuAvailable.ts"
import type { GeneratedRow, GenerationRow } from "../src/GenerationEngine.ts"
import { Seeds } from "@odpo/core"

const { rowSeed } = Seeds
import { generateRows } from "../src/TfjsEngine.ts"
import { params, prompt, tokenizer } from "./fixtures.ts"

const config: Gpt.GptConfig = { vocabSize: tokenizer.vocabSize, contextLength: 16, dModel: 16, nLayers: 2, nHeads: 2, dropout: 0 }
const weights = Gpt.initialParameters(config, 3)
for (const [name, w] of weights) if (!name.includes("ln_")) for (let i = 0; i < w.length; i++) w[i] = w[i]! * 20

/** Prompts of 1, 4 and 9 tokens (left padding differs), 3 samples each. */
const rows: Array<GenerationRow> = Object.entries({ a: prompt(""), b: prompt("abc"), c: prompt("hgfedcba") }).flatMap(([promptId, ids]) =>
  Array.from({ length: 3 }, (_, j) => ({ promptId, sampleIdx: j, promptTokenIds: ids, rngSeed: rowSeed(5, promptId, j) }))
)

const generate = (backend: "cpu" | "webgpu", temperature: number) =>
  onBackend(backend, async () => {
    const model = new Gpt.Gpt(config, weights)
    const first = await generateRows(model, tokenizer, { rows, params: params({ temperature, maxNewTokens: 6 }) })
    const before = tf.memory().numTensors
    const second = await generateRows(model, tokenizer, { rows, params: params({ temperature, maxNewTokens: 6 }) })
    const leaked = tf.memory().numTensors - before
    model.dispose()
    return { first, second, leaked }
  })

const tokens = (rs: ReadonlyArray<GeneratedRow>) => rs.map((r) => r.tokenIds.join(","))

describeWebGpu("TfjsEngine on webgpu", () => {
  it("greedy decoding draws the same tokens as cpu; raw log-probs within 1e-4", async () => {
    const cpu = await generate("cpu", 0)
    const gpu = await generate("webgpu", 0)
    assert.deepStrictEqual(tokens(gpu.first), tokens(cpu.first))
    assert.isAbove(new Set(tokens(cpu.first)).size, 1) // the prompts lead to different completions
    gpu.first.forEach((r, i) => r.tokenLogprobs.forEach((lp, t) => assert.closeTo(lp, cpu.first[i]!.tokenLogprobs[t]!, 1e-4)))
    assert.strictEqual(gpu.leaked, 0)
  })

  it("seeded sampling: the same tokens as cpu, and identical rows when run twice on webgpu", async () => {
    const cpu = await generate("cpu", 1)
    const gpu = await generate("webgpu", 1)
    assert.deepStrictEqual(tokens(gpu.first), tokens(cpu.first))
    assert.deepStrictEqual(gpu.second, gpu.first)
    assert.isAbove(new Set(tokens(cpu.first).slice(0, 3)).size, 1) // samples of one prompt differ
    assert.strictEqual(gpu.leaked, 0)
  })
})
