// `odpo score`: a rollouts JSONL in, the same rows with reward, gold_reward and source out.
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { scoreFile } from "../src/ScoreFile.ts"

const dir = mkdtempSync(join(tmpdir(), "odpo-scorefile-"))
const task = { name: "arith", mu: 70, sigma: 10, seed: 0, trainPrompts: 8, heldoutPrompts: 8 } as const

describe("scoreFile", () => {
  it.effect("scores sampler-style and store-style rows", () =>
    Effect.gen(function*() {
      const input = join(dir, "rollouts.jsonl")
      const out = join(dir, "scored.jsonl")
      writeFileSync(input, [
        JSON.stringify({ promptId: "arith/train/0", prompt: "47+38=", text: "85", tokenIds: [11, 8, 2], finishReason: "eos", sampleIdx: 0 }),
        "",
        JSON.stringify({ prompt_id: "x", prompt_text: "47+38=", completion: "84" }), // ids from the task tokenizer; no EOS → "length"
      ].join("\n"))
      const res = yield* scoreFile({
        reward: { type: "sum", terms: [{ weight: 1, source: { type: "task" } }, { weight: 1, source: { type: "missing_eos_penalty", penalty: 0.25 } }] } as never,
        task,
        input,
        out
      })
      assert.strictEqual(res.rows, 2)
      const rows = readFileSync(out, "utf8").trim().split("\n").map((l) => JSON.parse(l))
      assert.strictEqual(rows[0].reward, 1)
      assert.strictEqual(rows[0].gold_reward, 1)
      assert.strictEqual(rows[0].sampleIdx, 0) // input fields are kept
      assert.strictEqual(rows[1].reward, -0.25)
      assert.strictEqual(rows[1].gold_reward, 0)
      assert.strictEqual(rows[1].source, "sum(1*task:arith,1*missing_eos_penalty:0.25)")
    }))

  it.effect("bad rows and task-less task rewards are clear errors", () =>
    Effect.gen(function*() {
      const input = join(dir, "bad.jsonl")
      writeFileSync(input, `{"prompt": "1+1=", "text": "2", "tokenIds": [5, 2]}\n{"text": "3"}\n`)
      const e1 = yield* Effect.flip(scoreFile({ reward: { type: "length_penalty", lambda: 1 } as never, input, out: join(dir, "o.jsonl") }))
      assert.include(e1.message, `${input}:2: no prompt text`)
      writeFileSync(input, `{"prompt": "1+1=", "text": "2", "tokenIds": [5, 2]}\n`)
      const e2 = yield* Effect.flip(scoreFile({ reward: { type: "task" }, input, out: join(dir, "o.jsonl") }))
      assert.strictEqual(e2._tag, "ConfigError")
      assert.include(e2.message, "needs a task")
      // without a task, gold is null
      const ok = yield* scoreFile({ reward: { type: "length_penalty", lambda: 0.5 } as never, input, out: join(dir, "o.jsonl") })
      assert.strictEqual(ok.rows, 1)
      const row = JSON.parse(readFileSync(join(dir, "o.jsonl"), "utf8"))
      assert.strictEqual(row.reward, -1)
      assert.strictEqual(row.gold_reward, null)
    }))
})
