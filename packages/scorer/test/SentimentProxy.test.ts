// The sentiment proxy reward model: fit to gold, agrees with gold on fresh reviews, runs in onnxruntime as fit.
import { assert, describe, it } from "@effect/vitest"
import { Tasks } from "@odpo/core"
import { Effect } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { openOnnxRewardModel } from "../src/OnnxRewardModel.ts"
import { writeSentimentProxyRewardModel } from "../src/SentimentProxy.ts"

describe("SentimentProxy", () => {
  it.effect("tracks gold on fresh reviews but can be pleased off-grammar", () =>
    Effect.scoped(Effect.gen(function*() {
      const path = join(mkdtempSync(join(tmpdir(), "odpo-proxy-")), "proxy", "model.onnx")
      const { spec, heldoutCorrelation } = yield* writeSentimentProxyRewardModel(path, { samples: 2000, seed: 0 })
      assert.isAbove(heldoutCorrelation, 0.8)
      assert.isBelow(heldoutCorrelation, 0.999) // a proxy, not the gold classifier
      const model = yield* openOnnxRewardModel(spec)
      const texts = ["food is great. view is superb.", "food is awful. bed is dirty.", "great superb great superb."]
      const items = texts.map((t, i) => ({ promptId: `p${i}`, promptText: "bar is ok. ", completionText: t, completionTokenIds: [], finishReason: "eos" as const }))
      const [pos, neg, hack] = yield* model.score(items)
      assert.isAbove(pos!, neg! + 0.5)
      assert.strictEqual(Tasks.sentimentGold(texts[2]!), 0)
      assert.isAbove(hack!, 0.3) // over-optimisation target: the proxy likes it, gold gives 0
    })))
})
