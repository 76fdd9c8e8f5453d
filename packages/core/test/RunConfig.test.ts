import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { decodeRunConfig, decodeStoredConfig, parseRunConfig, samplingWarnings } from "../src/RunConfig.ts"

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
        'x.json: $.loss.type: expected "sigmoid" | "ipo" | "hinge" | "robust" | "kto" | "simpo" | "rdpo" | "sft" | "rloo" | "ppo_clip", found "dpo"'
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

  describe("policy-gradient objectives", () => {
    const rl = (loss: Record<string, unknown>, rest: Record<string, unknown> = {}) => ({ task: { name: "bandit" }, loss, ...rest })

    it.effect("are chosen like a loss, with documented defaults", () =>
      Effect.gen(function*() {
        const c = yield* decodeRunConfig(rl({ type: "rloo" }))
        assert.strictEqual(c.loss.type, "rloo")
        assert.strictEqual(c.loss.klMode, "reward")
        assert.strictEqual(c.loss.ppoClipEpsilon, 0.2)
        const p = yield* decodeRunConfig(rl({ type: "ppo_clip", klMode: "loss", ppoClipEpsilon: 0.1 }, { training: { epochs: 4 } }))
        assert.deepStrictEqual([p.loss.type, p.loss.klMode, p.loss.ppoClipEpsilon, p.training.epochs], ["ppo_clip", "loss", 0.1, 4])
        const e = yield* Effect.flip(decodeRunConfig(rl({ type: "ppo_clip", klMode: "both" })))
        assert.strictEqual(e.path, "$.loss.klMode")
      }))

    it.effect("K = 1 has no leave-one-out baseline: an error at sampling.samplesPerPrompt", () =>
      Effect.gen(function*() {
        for (const type of ["rloo", "ppo_clip"]) {
          const err = yield* Effect.flip(decodeRunConfig(rl({ type }, { sampling: { samplesPerPrompt: 1 } }), "rl.json"))
          assert.strictEqual(err.path, "$.sampling.samplesPerPrompt")
          assert.include(err.message, `rl.json: $.sampling.samplesPerPrompt: loss.type "${type}" needs at least 2 samples per prompt (got 1)`)
        }
        // K = 2 is enough for RL, and for preference losses
        yield* decodeRunConfig(rl({ type: "rloo" }, { sampling: { samplesPerPrompt: 2 } }))
        yield* decodeRunConfig({ task: { name: "bandit" }, sampling: { samplesPerPrompt: 2 } })
      }))

    it.effect("K = 1 makes no preference pair: a DPO-family loss refuses it at sampling.samplesPerPrompt", () =>
      Effect.gen(function*() {
        for (const type of ["sigmoid", "ipo"]) {
          const err = yield* Effect.flip(decodeRunConfig({ task: { name: "bandit" }, loss: { type }, sampling: { samplesPerPrompt: 1 } }, "dpo.json"))
          assert.strictEqual(err.path, "$.sampling.samplesPerPrompt")
          assert.include(err.message, `dpo.json: $.sampling.samplesPerPrompt: loss.type "${type}" trains on preference pairs, two samples of one prompt, and with 1 sample per prompt there are none`)
        }
      }))

    it.effect("ε ≤ 0 is an error at loss.ppoClipEpsilon", () =>
      Effect.gen(function*() {
        for (const eps of [0, -0.2]) {
          const err = yield* Effect.flip(decodeRunConfig(rl({ type: "ppo_clip", ppoClipEpsilon: eps }), "ppo.json"))
          assert.strictEqual(err.path, "$.loss.ppoClipEpsilon")
          assert.include(err.message, "ppo.json: $.loss.ppoClipEpsilon:")
          assert.include(err.message, "greater than 0")
        }
      }))

    it.effect("a pairing section given to an RL objective is an error at $.pairing, even an empty one", () =>
      Effect.gen(function*() {
        for (const pairing of [{ strategy: "max_min" }, {}]) {
          const err = yield* Effect.flip(decodeRunConfig(rl({ type: "rloo" }, { pairing }), "rl.json"))
          assert.strictEqual(err.path, "$.pairing")
          assert.include(err.message, "rl.json: $.pairing: loss.type \"rloo\" trains on every sample with its advantage and makes no preference pairs")
        }
        yield* decodeRunConfig({ task: { name: "bandit" }, pairing: { strategy: "random" } })
      }))

    it.effect("a stored RL config (defaults filled in, pairing included) decodes again; its value checks still apply", () =>
      Effect.gen(function*() {
        const c = yield* decodeRunConfig(rl({ type: "ppo_clip" }))
        const again = yield* decodeStoredConfig(JSON.parse(JSON.stringify(c)))
        assert.deepStrictEqual(again, c)
        const err = yield* Effect.flip(decodeRunConfig(JSON.parse(JSON.stringify(c))))
        assert.strictEqual(err.path, "$.pairing")
        const k1 = yield* Effect.flip(decodeStoredConfig({ ...JSON.parse(JSON.stringify(c)), sampling: { samplesPerPrompt: 1 } }))
        assert.strictEqual(k1.path, "$.sampling.samplesPerPrompt")
      }))

    it.effect("warns when RL samples do not come from the policy it trains (temperature ≠ 1, truncation)", () =>
      Effect.gen(function*() {
        assert.deepStrictEqual(samplingWarnings(yield* decodeRunConfig(rl({ type: "rloo" }))), [])
        assert.deepStrictEqual(samplingWarnings(yield* decodeRunConfig({ task: { name: "bandit" }, sampling: { temperature: 0.7 } })), [])
        const w = samplingWarnings(yield* decodeRunConfig(rl({ type: "ppo_clip" }, { sampling: { temperature: 0.7, topP: 0.9 } })))
        assert.lengthOf(w, 1)
        assert.include(w[0]!, "sampling.temperature 0.7, sampling.topP 0.9")
        assert.include(w[0]!, "biased")
      }))
  })
})
