// The loaded-model cache: one load per id, bounded (least recently used disposed), all disposed when its layer closes.
import { assert, describe, it } from "@effect/vitest"
import { Tokenizer } from "@odpo/core"
import * as tf from "@tensorflow/tfjs-core"
import { Effect, Exit } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { saveCheckpoint } from "../src/Checkpoint.ts"
import { Gpt, type GptConfig, parameterShapes } from "../src/Gpt.ts"
import { LoadedModels } from "../src/LoadedModels.ts"

const config: GptConfig = { vocabSize: 9, contextLength: 8, dModel: 8, nLayers: 1, nHeads: 2, dropout: 0 }
const tokenizer = new Tokenizer.CharTokenizer({ symbols: ["a", "b", "c", "d", "e", "f"] })
const perModel = parameterShapes(config).length

const saved = (dir: string, seed: number) =>
  Effect.acquireUseRelease(Effect.sync(() => Gpt.init(config, seed)), (m) => saveCheckpoint(dir, m, tokenizer), (m) => Effect.sync(() => m.dispose()))

describe("LoadedModels", () => {
  it.effect("loads once per id, evicts the least recently used beyond capacity, refuses a wrong ref, and disposes all on close", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "odpo-models-"))
      const refs = yield* Effect.all([1, 2, 3].map((s) => saved(dir, s)))
      const before = tf.memory().numTensors
      yield* Effect.scoped(Effect.gen(function*() {
        const models = yield* LoadedModels
        const [a, b] = yield* Effect.all([models.load(refs[0]!), models.load(refs[0]!)], { concurrency: 2 })
        assert.strictEqual(a, b)
        assert.strictEqual(tf.memory().numTensors, before + perModel)
        yield* models.load(refs[1]!)
        yield* models.load(refs[0]!) // refs[0] is now the most recent
        yield* models.load(refs[2]!) // capacity 2: refs[1] goes, and its tensors with it
        assert.strictEqual(tf.memory().numTensors, before + 2 * perModel)
        assert.strictEqual(yield* models.load(refs[0]!), a)
        const wrong = yield* Effect.exit(models.load({ id: refs[0]!.id.replace(/^./, (c) => (c === "0" ? "1" : "0")), path: refs[1]!.path }))
        assert.isTrue(Exit.isFailure(wrong))
        assert.match(String(wrong), /has id [0-9a-f]{64}, not the [0-9a-f]{64} that was asked for/)
      }).pipe(Effect.provide(LoadedModels.layerCapacity(2))))
      assert.strictEqual(tf.memory().numTensors, before)
    }))
})
