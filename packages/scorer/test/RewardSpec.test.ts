// Reward specs: defaults, recursive sums, and errors that point at the JSON path.
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { decodeRewardSpec, parseRewardSpec, specId } from "../src/RewardSpec.ts"

describe("RewardSpec", () => {
  it.effect("fills the onnx defaults and decodes sums recursively", () =>
    Effect.gen(function*() {
      const s = yield* decodeRewardSpec({ type: "sum", terms: [{ weight: 2, source: { type: "onnx", path: "rm.onnx" } }, { weight: -1, source: { type: "length_penalty", lambda: 0.01 } }] })
      assert.deepStrictEqual(s, {
        type: "sum",
        terms: [
          { weight: 2, source: { type: "onnx", path: "rm.onnx", tokenizer: null, template: "{prompt}{completion}", output: { index: 0, transform: "none" }, maxLength: 512, batchSize: 64, threads: 0 } },
          { weight: -1, source: { type: "length_penalty", lambda: 0.01 } }
        ]
      })
      assert.strictEqual(specId(s, "arith"), "sum(2*onnx:rm.onnx#0,-1*length_penalty:0.01)")
    }))

  it.effect("names the JSON path of unknown fields and bad values", () =>
    Effect.gen(function*() {
      const e1 = yield* Effect.flip(decodeRewardSpec({ type: "sum", terms: [{ weight: 1, source: { type: "length_penalty", lamda: 1 } }] }, "$.reward", "exp.json"))
      assert.strictEqual(e1.path, "$.reward.terms[0].source.lamda")
      assert.include(e1.message, "exp.json: $.reward.terms[0].source.lamda: unknown field")
      const e2 = yield* Effect.flip(decodeRewardSpec({ type: "onnx", path: "m.onnx", output: { transform: "tanh" } }))
      assert.strictEqual(e2.path, "$.output.transform")
      const e3 = yield* Effect.flip(decodeRewardSpec({ type: "gold" }))
      assert.strictEqual(e3.path, "$.type")
      assert.include(e3.message, "expected one of task, onnx, function, http, sum, length_penalty, missing_eos_penalty")
      const e4 = yield* Effect.flip(decodeRewardSpec({ type: "missing_eos_penalty" }))
      assert.strictEqual(e4.path, "$.penalty")
      assert.include(e4.message, "missing required field")
    }))

  it.effect("parses JSON text or a JSON file", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* parseRewardSpec(`{"type":"task"}`), { type: "task" })
      const file = join(mkdtempSync(join(tmpdir(), "odpo-spec-")), "reward.json")
      writeFileSync(file, `{"type": "missing_eos_penalty", "penalty": 1}`)
      assert.deepStrictEqual(yield* parseRewardSpec(file), { type: "missing_eos_penalty", penalty: 1 })
      writeFileSync(file, `{"type": "onnx"`)
      const e = yield* Effect.flip(parseRewardSpec(file))
      assert.include(e.message, `${file}: not valid JSON`)
      const e2 = yield* Effect.flip(parseRewardSpec("no/such/file.json"))
      assert.include(e2.message, "neither JSON")
    }))
})
