import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { TestRunner } from "effect/cluster"
import { ClusterEngine, RolloutWorker, Sampler, Scorer } from "../src/index.ts"

const params = { temperature: 1, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1, maxNewTokens: 4, stop: [] }
const prompts = Array.from({ length: 5 }, (_, i) => ({ promptId: `p${i}`, tokenIds: [1, 2 + i] }))
const policy = { id: "a".repeat(64), path: "/nowhere" }
const self = { codeVersion: "0.1.0", backend: "cpu", address: "127.0.0.1:1" }

/** The cluster's Sampler and Scorer over one in-memory runner whose worker samples and scores with the test services. */
const onCluster = (require: RolloutWorker.Requirement, shards: number) => {
  const offered: Array<string> = []
  const worker = RolloutWorker.layer(self, (source) => Effect.succeed(`/cache/${source.sha256}`)).pipe(
    Layer.provide([Sampler.Sampler.layerTest, Scorer.Scorer.layerTest])
  )
  const engine = ClusterEngine.layer({ require, shards, checkpointUrl: "http://127.0.0.1:9", offer: (ref) => Effect.sync(() => void offered.push(ref.id)) })
  const layer = Layer.mergeAll(engine, worker).pipe(Layer.provide(TestRunner.layer))
  return { layer, offered }
}

describe("ClusterEngine", () => {
  it("split: at most k contiguous near-equal chunks whose concatenation is the input", () => {
    assert.deepStrictEqual(ClusterEngine.split([1, 2, 3, 4, 5], 3), [[1], [2, 3], [4, 5]])
    assert.deepStrictEqual(ClusterEngine.split([1, 2], 6), [[1], [2]])
    assert.deepStrictEqual(ClusterEngine.split([], 4), [])
  })

  it.live("3 shards on the cluster answer exactly the rows of one in-process request, in request order", () =>
    Effect.gen(function*() {
      const request = { policy, prompts, n: 3, params, seed: 17 }
      const direct = yield* Effect.gen(function*() {
        return yield* (yield* Sampler.Sampler).sample(request)
      }).pipe(Effect.provide(Sampler.Sampler.layerTest))
      const { layer, offered } = onCluster({ codeVersion: "0.1.0", backend: "cpu" }, 3)
      const sharded = yield* Effect.gen(function*() {
        const rollouts = yield* (yield* Sampler.Sampler).sample({ ...request, label: "round 1 · sample" })
        const scored = yield* (yield* Scorer.Scorer).score({
          reward: { type: "task" }, task: { name: "bandit", mu: 70, sigma: 10, seed: 0, trainPrompts: 8, heldoutPrompts: 4 },
          items: rollouts.map((r) => ({
            promptId: r.promptId, promptText: "", completionText: r.text, completionTokenIds: r.tokenIds, finishReason: r.finishReason
          }))
        })
        return { rollouts, scored }
      }).pipe(Effect.provide(layer))
      assert.strictEqual(sharded.rollouts.length, 15)
      // The wire (msgpack, and the JSON of SQL message storage) carries −0 as 0, as JSON does: compare as JSON.
      assert.deepStrictEqual(JSON.parse(JSON.stringify(sharded.rollouts)), JSON.parse(JSON.stringify(direct)))
      assert.deepStrictEqual(offered, [policy.id])
      // Scorer.layerTest: reward = first completion token / 10, for each of the 15, in order.
      assert.deepStrictEqual(sharded.scored.scores.map((s) => s.reward), direct.map((r) => (r.tokenIds[0] ?? 0) / 10))
      assert.strictEqual(sharded.scored.source, "test")
    }))

  it.live("a worker of another odpo version or engine refuses the shard, naming itself and what to start", () =>
    Effect.gen(function*() {
      const version = yield* Effect.gen(function*() {
        return yield* (yield* Sampler.Sampler).sample({ policy, prompts, n: 1, params, seed: 1, label: "round 2 · sample" })
      }).pipe(
        Effect.flip,
        Effect.provide(onCluster({ codeVersion: "0.2.0", backend: "cpu" }, 2).layer)
      )
      assert.strictEqual(version._tag, "WorkerRefused")
      assert.match(version.message, /^worker 127\.0\.0\.1:1 refused round 2 · sample \[\d\/2\]: it runs odpo 0\.1\.0, the coordinator odpo 0\.2\.0/)
      const engine = RolloutWorker.refusal(self, { shard: "s", require: { codeVersion: "0.1.0", backend: "onnx" } })
      assert.strictEqual(engine?.message, "worker 127.0.0.1:1 refused s: it runs on backend cpu, the run on onnx: restart it with `odpo worker --backend onnx`")
      assert.isUndefined(RolloutWorker.refusal(self, { shard: "s", require: { codeVersion: "0.1.0", backend: "cpu" } }))
    }))
})
