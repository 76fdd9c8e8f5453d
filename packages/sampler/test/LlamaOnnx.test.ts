// The Llama family on onnxruntime (inference graphs: prefill, decode, log-probs, KL) against the
// PyTorch reference numbers and against the tfjs engine.
import { assert, describe, it } from "@effect/vitest"
import { Seeds } from "@odpo/core"
import { HfImport, Onnx } from "@odpo/model"
import { Effect } from "effect"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import * as OnnxEngine from "../src/OnnxEngine.ts"
import * as TfjsEngine from "../src/TfjsEngine.ts"
import { driveTogether, params } from "./fixtures.ts"

const FIXTURES = join(import.meta.dirname, "../../model/test/fixtures/llama")
const reference = (name: string) =>
  JSON.parse(readFileSync(join(FIXTURES, `${name}.reference.json`), "utf8")) as {
    sequences: Array<Array<number>>
    promptLengths: Array<number>
    completionLogps: Array<Array<number>>
  }

describe("Llama family on onnxruntime", () => {
  for (const name of ["llama_tiny", "qwen2_tiny", "qwen3_tiny"]) {
    it.effect(`${name}: log-probs match PyTorch within 1e-4; cached decoding matches tfjs's at every step; the same seed draws the same tokens`, () =>
      Effect.gen(function*() {
        const ref = reference(name)
        const loaded = yield* HfImport.loadHfDirectory(join(FIXTURES, name))
        const pool = yield* Onnx.OnnxSessions.make({ provider: "cpu", threads: 1 })
        const host = yield* Onnx.OnnxPolicy.hostModelOf(loaded.model)
        yield* Onnx.OnnxPolicy.checkModel(host, "inference")
        const seqs = ref.sequences.map((s, i) => ({ promptTokenIds: s.slice(0, ref.promptLengths[i]), completionTokenIds: s.slice(ref.promptLengths[i]) }))
        const tokens = yield* Onnx.OnnxPolicy.sequenceTokenLogps(pool, host, seqs, loaded.tokenizer.padId)
        tokens.forEach((row, b) => row.forEach((lp, t) => assert.closeTo(lp, ref.completionLogps[b]![t]!, 1e-4, `${name} sequence ${b} token ${t}`)))
        // KL of a model against itself is 0; its log-probs are the logps graph's.
        const stats = yield* Onnx.OnnxPolicy.sequenceStats(pool, host, host, seqs, loaded.tokenizer.padId)
        stats.forEach((s, b) => {
          assert.closeTo(s.kl, 0, 1e-5)
          assert.closeTo(s.logp, ref.completionLogps[b]!.reduce((a, x) => a + x, 0), 1e-4)
        })
        const sessions = yield* OnnxEngine.decodeSessions(pool, host.config)
        const prompts = [[5, 9, 14], [30], [17, 17, 4, 44, 45], [5, 9, 14]]
        const onnx = OnnxEngine.kvCacheSource(host, sessions, loaded.tokenizer.padId)
        const tfjs = TfjsEngine.kvCacheSource(loaded.model, loaded.tokenizer.padId)
        const { worst, compared } = yield* Effect.promise(() => driveTogether(onnx, tfjs, prompts, 16, host.config.vocabSize))
        assert.isAbove(compared, 0)
        assert.isBelow(worst, 1e-4)
        onnx.dispose()
        tfjs.dispose()
        const rows = [[5, 9], [30, 31, 6]].flatMap((ids, p) => Array.from({ length: 10 }, (_, j) => ({ promptId: `p${p}`, sampleIdx: j, promptTokenIds: ids, rngSeed: Seeds.rowSeed(3, `p${p}`, j) })))
        const batch = { rows, params: params({ temperature: 1, maxNewTokens: 6 }) }
        const a = yield* Effect.promise(() => OnnxEngine.generateRows(host, sessions, loaded.tokenizer, batch))
        const b = yield* Effect.promise(() => TfjsEngine.generateRows(loaded.model, loaded.tokenizer, batch))
        assert.deepStrictEqual(a.map((r) => r.tokenIds), b.map((r) => r.tokenIds))
        assert.isAbove(new Set(a.map((r) => r.tokenIds.join(","))).size, 5)
        // The family has its training graphs too (LlamaOnnxTraining.test.ts checks their gradients).
        yield* Onnx.OnnxPolicy.checkModel(host, "training")
        loaded.model.dispose()
      }).pipe(Effect.scoped))
  }
})
