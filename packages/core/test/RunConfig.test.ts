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
