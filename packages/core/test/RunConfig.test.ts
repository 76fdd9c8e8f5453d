import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { decodeRunConfig, parseRunConfig } from "../src/RunConfig.ts"

describe("RunConfig", () => {
  it.effect("fills documented defaults", () =>
    Effect.gen(function*() {
      const c = yield* decodeRunConfig({ task: { name: "bandit" } })
      assert.strictEqual(c.loss.type, "sigmoid")
      assert.strictEqual(c.loss.beta, 0.1)
      assert.strictEqual(c.sampling.samplesPerPrompt, 8)
      assert.strictEqual(c.pairing.strategy, "max_min")
      assert.strictEqual(c.task.mu, 70)
      assert.strictEqual(c.policy.model.dModel, 64)
      assert.deepStrictEqual(c.reward, { type: "task" })
    }))

  it.effect("names the JSON path of a bad value", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(decodeRunConfig({ task: { name: "bandit" }, loss: { beta: -1 } }, "x.json"))
      assert.isTrue(Exit.isFailure(exit))
      const err = yield* Effect.flip(decodeRunConfig({ task: { name: "bandit" }, loss: { beta: -1 } }, "x.json"))
      assert.strictEqual(err.path, "$.loss.beta")
      assert.include(err.message, "x.json")
    }))

  it.effect("every range, type and enum error says what was expected and what was found", () =>
    Effect.gen(function*() {
      const message = (input: unknown) => Effect.map(Effect.flip(decodeRunConfig(input, "x.json")), (e) => e.message)
      const bandit = { name: "bandit" }
      assert.strictEqual(yield* message({ task: bandit, loss: { beta: 0 } }), "x.json: $.loss.beta: expected a value greater than 0, found 0")
      assert.strictEqual(yield* message({ task: bandit, loss: { beta: "x" } }), 'x.json: $.loss.beta: expected number, found "x"')
      assert.strictEqual(
        yield* message({ task: bandit, loss: { type: "dpo" } }),
        'x.json: $.loss.type: expected "sigmoid" | "ipo" | "hinge" | "robust" | "kto" | "simpo" | "rdpo" | "sft", found "dpo"'
      )
      assert.strictEqual(yield* message({ task: bandit, policy: { model: { nHeads: 2.5 } } }), "x.json: $.policy.model.nHeads: expected an integer, found 2.5")
      assert.strictEqual(yield* message({ task: bandit, sampling: { topP: 2 } }), "x.json: $.sampling.topP: expected a value less than or equal to 1, found 2")
      assert.strictEqual(yield* message({ task: bandit, policy: { init: 3 } }), "x.json: $.policy.init: expected string | null, found 3")
      assert.strictEqual(yield* message({}), "x.json: $.task: missing required field")
      assert.notInclude(yield* message({ task: bandit, eval: { prompts: -1 } }), "[object Object]")
    }))

  it.effect("rejects unknown fields by path", () =>
    Effect.gen(function*() {
      const err = yield* Effect.flip(decodeRunConfig({ task: { name: "bandit" }, sampling: { temprature: 1 } }))
      assert.strictEqual(err.path, "$.sampling.temprature")
      assert.include(err.message, "unknown field")
    }))

  it.effect("rejects an unknown task and malformed JSON", () =>
    Effect.gen(function*() {
      const e1 = yield* Effect.flip(decodeRunConfig({ task: { name: "chess" } }))
      assert.strictEqual(e1.path, "$.task.name")
      const e2 = yield* Effect.flip(parseRunConfig("{ nope", "bad.json"))
      assert.include(e2.message, "bad.json: not valid JSON")
    }))
})
