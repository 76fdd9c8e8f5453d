// Rewards from the user: a TS/JS function (TRL's reward_funcs contract) and a reward server on
// 127.0.0.1 (OpenRLHF's protocol) serving an ONNX reward model's scores — and every way they fail.
import { assert, describe, it } from "@effect/vitest"
import { type Domain, type RunConfig, Scorer, Tasks } from "@odpo/core"
import { Effect } from "effect"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { layer } from "../src/RewardScorer.ts"
import { startRewardServer } from "./RewardServer.ts"

const dir = mkdtempSync(join(tmpdir(), "odpo-user-rewards-"))
const module = (name: string, text: string) => {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}
const task = { name: "prompts", mu: 70, sigma: 10, seed: 0, trainPrompts: 1, heldoutPrompts: 1 } as const

const items: Array<Domain.ScoreItem> = [
  { rolloutId: "run/1/train/p0/0", promptId: "p0", promptText: "2+2=", prompt: "2+2=", completionText: "4", completionTokenIds: [7], finishReason: "eos", columns: { answer: 4 } },
  { rolloutId: "run/1/train/p0/1", promptId: "p0", promptText: "2+2=", prompt: "2+2=", completionText: "5", completionTokenIds: [8], finishReason: "eos", columns: { answer: 4 } },
  { rolloutId: "run/1/train/p1/0", promptId: "p1", promptText: "chat", prompt: [{ role: "user", content: "3+4?" }], completionText: "7!", completionTokenIds: [9, 10], finishReason: "length", columns: { answer: 7 } }
]

const score = (reward: Record<string, unknown>, gold?: Record<string, unknown>) =>
  Effect.flatMap(Scorer.Scorer, (s) =>
    s.score({ reward: reward as RunConfig.RewardSpec, ...(gold ? { gold: gold as RunConfig.RewardSpec } : {}), task, items }))
const failure = (reward: Record<string, unknown>) => Effect.flip(score(reward))

describe("function rewards", () => {
  it.effect("a .ts function gets prompts, completions and the rows' columns as named arrays, in batches; sums and gold combine with it", () =>
    Effect.gen(function*() {
      const ts = module("exact.ts", `
        type Batch = { prompts: unknown[]; completions: string[]; answer: number[]; completion_ids: number[][] }
        let calls = 0
        export const reward = (b: Batch): number[] => {
          calls++
          return b.completions.map((c, i) => (parseInt(c) === b.answer[i] ? 1 : 0) + 10 * calls + (typeof b.prompts[i] === "string" ? 0 : 0.5))
        }`)
      const r = yield* score({ type: "function", module: ts, batchSize: 2 })
      // batch 1 (calls = 1): 1 + 10, 0 + 10; batch 2 (calls = 2): 1 + 20 + 0.5 (a chat prompt)
      assert.deepStrictEqual(r.scores.map((s) => s.reward), [11, 10, 21.5])
      assert.deepStrictEqual(r.scores.map((s) => s.goldReward), [null, null, null])
      assert.strictEqual(r.source, `function:${ts}#reward`)
      const js = module("async.mjs", `export async function judge({ completions }) { await new Promise((r) => setTimeout(r, 5)); return completions.map((c) => c.length) }`)
      const sum = yield* score({ type: "sum", terms: [{ weight: 2, source: { type: "function", module: js, export: "judge" } }, { weight: 1, source: { type: "missing_eos_penalty", penalty: 0.5 } }] },
        { type: "function", module: js, export: "judge" })
      assert.deepStrictEqual(sum.scores.map((s) => s.reward), [2, 2, 3.5])
      assert.deepStrictEqual(sum.scores.map((s) => s.goldReward), [1, 1, 2])
    }).pipe(Effect.provide(layer)))

  it.effect("a missing module, a missing export, a throw, NaN, a missing value: errors naming the source and the rollout", () =>
    Effect.gen(function*() {
      const missing = yield* failure({ type: "function", module: join(dir, "nope.ts") })
      assert.strictEqual(missing._tag, "ConfigError")
      assert.include(missing.message, "nope.ts does not exist")
      const two = module("two.ts", `export const a = () => [1, 1, 1]; export function b() { return [0, 0, 0] }; export const n = 3`)
      const noExport = yield* failure({ type: "function", module: two })
      assert.include(noExport.message, `has no function export "reward"; its function exports are "a", "b": set reward.export to one`)
      const throws = module("throws.ts", `export const reward = () => { throw new Error("judge is down") }`)
      const thrown = yield* failure({ type: "function", module: throws })
      assert.strictEqual(thrown._tag, "RewardError")
      assert.include(thrown.message, `reward function:${throws}#reward threw on the batch starting at rollout run/1/train/p0/0: judge is down`)
      const nan = module("nan.ts", `export const reward = ({ completions }: { completions: string[] }) => completions.map((c) => (c === "5" ? NaN : 1))`)
      const bad = yield* failure({ type: "function", module: nan })
      assert.strictEqual(bad._tag, "RewardError")
      assert.include(bad.message, `gave NaN for rollout run/1/train/p0/1: every reward must be a finite number`)
      const short = module("short.ts", `export const reward = () => [1]`)
      assert.include((yield* failure({ type: "function", module: short })).message, "returned 1 values for a batch of 3 completions (from rollout run/1/train/p0/0)")
      const holes = module("holes.ts", `export const reward = () => [1, undefined, 2]`)
      assert.include((yield* failure({ type: "function", module: holes })).message, "gave no reward for rollout run/1/train/p0/1")
    }).pipe(Effect.provide(layer)))
})

describe("http rewards", () => {
  it.live("a reward server on 127.0.0.1 scores with its ONNX model: batches, bounded concurrency, 500s retried, then clear errors", () =>
    Effect.gen(function*() {
      const server = yield* Effect.promise(() => startRewardServer(dir, Tasks.asciiTokenizer))
      yield* Effect.addFinalizer(() => Effect.promise(() => server.close()))
      const many: Array<Domain.ScoreItem> = Array.from({ length: 10 }, (_, i) => ({ ...items[0]!, rolloutId: `r${i}`, completionText: `${i} apples` }))
      const expected = yield* Effect.promise(() => server.rewardOf(many.map((it) => it.promptText + it.completionText)))
      const scorer = yield* Scorer.Scorer
      const spec = { type: "http", url: server.url, batchSize: 2, concurrency: 2, timeoutMs: 2000, retries: 2, backoffMs: 10, labelColumn: "answer" }
      server.behaviour.delayMs = 30
      const r = yield* scorer.score({ reward: spec as RunConfig.RewardSpec, task, items: many })
      r.scores.forEach((s, i) => assert.closeTo(s.reward, expected[i]!, 1e-6))
      assert.strictEqual(server.stats.requests, 5)
      assert.strictEqual(server.stats.queries, 10)
      assert.strictEqual(server.stats.maxInFlight, 2)
      assert.strictEqual(r.source, `http:${server.url}`)

      // Two 500s then success: within retries 2, the same rewards.
      server.behaviour.delayMs = 0
      server.behaviour.fail500 = 2
      const again = yield* scorer.score({ reward: { ...spec, concurrency: 1 } as RunConfig.RewardSpec, task, items: many.slice(0, 2) })
      again.scores.forEach((s, i) => assert.closeTo(s.reward, expected[i]!, 1e-6))
      // Three 500s: retries spent.
      server.behaviour.fail500 = 3
      const spent = yield* Effect.flip(scorer.score({ reward: spec as RunConfig.RewardSpec, task, items: many.slice(0, 2) }))
      assert.strictEqual(spent._tag, "RewardError")
      assert.include(spent.message, `reward server ${server.url} answered 500 Internal Server Error: reward model overloaded (batch from rollout r0, 3 tries; raise reward.retries`)
      // A stalled server: timeoutMs, retried, then the error.
      server.behaviour.fail500 = 0
      server.behaviour.delayMs = 400
      const stalled = yield* Effect.flip(scorer.score({ reward: { ...spec, timeoutMs: 100, retries: 1 } as RunConfig.RewardSpec, task, items: many.slice(0, 2) }))
      assert.include(stalled.message, `did not answer within timeoutMs 100 (batch from rollout r0, 2 tries`)
      // One reward short: no retry, the count said.
      server.behaviour.delayMs = 0
      server.behaviour.miscount = true
      const before = server.stats.requests
      const short = yield* Effect.flip(scorer.score({ reward: spec as RunConfig.RewardSpec, task, items: many.slice(0, 2) }))
      assert.include(short.message, `returned 1 rewards for a batch of 2 completions (from rollout r0): it must answer one per query`)
      assert.strictEqual(server.stats.requests, before + 1)
      // Nobody listening.
      const closed = yield* Effect.flip(scorer.score({ reward: { ...spec, url: "http://127.0.0.1:9/get_reward", retries: 0 } as RunConfig.RewardSpec, task, items: many.slice(0, 1) }))
      assert.include(closed.message, "http://127.0.0.1:9/get_reward could not be reached")
    }).pipe(Effect.provide(layer), Effect.scoped))
})
