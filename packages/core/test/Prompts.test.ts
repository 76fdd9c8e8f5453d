// The prompts task on real files: JSONL, Parquet (written by DuckDB), CSV; text and chat prompts;
// extra columns; splits; the context limit; and every bad input with the message it gets.
import { assert, describe, it } from "@effect/vitest"
import { DuckDBInstance } from "@duckdb/node-api"
import { Effect } from "effect"
import { createHash } from "node:crypto"
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { decodeRunConfig, type TaskConfig } from "../src/RunConfig.ts"
import { asciiTokenizer, loadPromptsTask, type PromptsEnv } from "../src/tasks/Prompts.ts"

const dir = mkdtempSync(join(tmpdir(), "odpo-prompts-"))
const file = (name: string, text: string) => {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}
const jsonl = (name: string, rows: ReadonlyArray<unknown>) => file(name, rows.map((r) => JSON.stringify(r)).join("\n") + "\n")

const taskConfig = (over: Record<string, unknown>) =>
  Effect.map(
    decodeRunConfig({ task: { name: "prompts", demonstrations: "unused.jsonl", ...over }, reward: { type: "function", module: "r.ts" } }),
    (c) => c.task as TaskConfig
  )
const env: PromptsEnv = { tokenizer: asciiTokenizer, maxPromptTokens: 24 }
// Demonstrations are named for the config check, and left out of loading (these tests are about prompts).
const load = (over: Record<string, unknown>, e: PromptsEnv = env) =>
  Effect.flatMap(taskConfig(over), (c) => loadPromptsTask({ ...c, demonstrations: null }, e))
const failure = (over: Record<string, unknown>, e: PromptsEnv = env) => Effect.map(Effect.flip(load(over, e)), (err) => err.message)

const train = jsonl("train.jsonl", [
  { id: "a", prompt: "2+2=", answer: 4 },
  { id: "b", prompt: "3+4=", answer: 7 },
  { id: "c", prompt: "1+1=", answer: 2 }
])
const evalFile = jsonl("eval.jsonl", [{ id: "z", prompt: "5+5=", answer: 10 }])

describe("prompts task", () => {
  it.effect("JSONL: text prompts get BOS + their characters, every other column is kept, the file's sha256 recorded", () =>
    Effect.gen(function*() {
      const task = yield* load({ train, eval: evalFile, idColumn: "id" })
      const prompts = task.prompts({} as never, "train")
      assert.deepStrictEqual(prompts.map((p) => p.text), ["2+2=", "3+4=", "1+1="])
      assert.deepStrictEqual(prompts[0]!.tokenIds, [1, ..."2+2=".split("").map((c) => c.charCodeAt(0) - 32 + 3)])
      const key = task.userPrompts!.key
      assert.strictEqual(prompts[1]!.promptId, `prompts/${key}/train/b`)
      assert.deepStrictEqual(task.prompts({} as never, "heldout").map((p) => p.promptId), [`prompts/${key}/heldout/z`])
      const b = task.userPrompts!.data.get(`prompts/${key}/train/b`)!
      assert.deepStrictEqual(b.columns, { id: "b", answer: 7 })
      assert.strictEqual(b.prompt, "3+4=")
      assert.strictEqual(b.ord, 1)
      const sha = createHash("sha256").update(readFileSync(train)).digest("hex")
      assert.deepStrictEqual(task.userPrompts!.files.map((f) => [f.split, f.sha256 === sha, f.rows, f.kept]), [["train", true, 3, 3], ["heldout", false, 1, 1]])
    }))

  it.effect("Parquet chat prompts are rendered by the chat template (generation prompt added); CSV reads too", () =>
    Effect.gen(function*() {
      const parquet = join(dir, "chat.parquet")
      const db = yield* Effect.promise(() => DuckDBInstance.create(":memory:"))
      const conn = yield* Effect.promise(() => db.connect())
      yield* Effect.promise(() =>
        conn.run(`COPY (SELECT * FROM (VALUES
          ([{'role': 'system', 'content': 'be brief'}, {'role': 'user', 'content': 'hi'}], 'x'),
          ([{'role': 'user', 'content': 'yo'}], 'y')) t(prompt, ground_truth)) TO '${parquet}' (FORMAT parquet)`))
      conn.closeSync()
      db.closeSync()
      const template = "{% for m in messages %}<{{ m.role }}>{{ m.content }}\n{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}"
      const task = yield* load({ train: parquet, evalFraction: 0.5 }, { ...env, maxPromptTokens: 64, chatTemplate: { text: template, source: "t.jinja" } })
      const all = [...task.prompts({} as never, "train"), ...task.prompts({} as never, "heldout")]
      assert.sameMembers(all.map((p) => p.text), ["<system>be brief\n<user>hi\n<assistant>", "<user>yo\n<assistant>"])
      // A rendered chat carries its own specials: no BOS is added.
      const yo = all.find((p) => p.text.startsWith("<user>yo"))!
      assert.strictEqual(yo.tokenIds.length, "<user>yo\n<assistant>".length)
      assert.deepStrictEqual(task.userPrompts!.data.get(yo.promptId)!.columns, { ground_truth: "y" })

      const csv = file("p.csv", "prompt,label\nhello,1\nworld,0\nagain,1\n")
      const fromCsv = yield* load({ train: csv, evalFraction: 0.34 })
      assert.strictEqual(fromCsv.prompts({} as never, "train").length, 2)
      assert.strictEqual(fromCsv.prompts({} as never, "heldout").length, 1)
      assert.deepStrictEqual(Object.keys(fromCsv.userPrompts!.data.values().next().value!.columns), ["label"])
    }))

  it.effect("evalFraction splits by task.seed: the same seed gives the same split, another seed another", () =>
    Effect.gen(function*() {
      const many = jsonl("many.jsonl", Array.from({ length: 20 }, (_, i) => ({ prompt: `q${i}` })))
      const held = (seed: number) => Effect.map(load({ train: many, evalFraction: 0.25, seed }), (t) => t.prompts({} as never, "heldout").map((p) => p.text))
      const a = yield* held(1)
      assert.strictEqual(a.length, 5)
      assert.deepStrictEqual(yield* held(1), a)
      assert.notDeepEqual(yield* held(2), a)
    }))

  it.effect("a prompt longer than the context: an error by default, else truncated (its end and BOS kept) or dropped, and counted", () =>
    Effect.gen(function*() {
      const long = jsonl("long.jsonl", [{ prompt: "short" }, { prompt: "x".repeat(30) + "END" }, { prompt: "y".repeat(40) }])
      const e = { ...env, maxPromptTokens: 10 }
      const message = yield* failure({ train: long, eval: evalFile }, e)
      assert.include(message, `long.jsonl row 2: the prompt is 34 tokens, longer than the 10 the context leaves`)
      assert.include(message, `set task.overlong to "truncate" or "drop"`)
      const truncated = yield* load({ train: long, eval: evalFile, overlong: "truncate" }, e)
      const [, second] = truncated.prompts({} as never, "train")
      assert.strictEqual(second!.tokenIds.length, 10)
      assert.strictEqual(second!.tokenIds[0], 1)
      assert.strictEqual(asciiTokenizer.decode(second!.tokenIds), "xxxxxxEND")
      assert.deepStrictEqual(truncated.userPrompts!.files.map((f) => [f.truncated, f.dropped]), [[2, 0], [0, 0]])
      assert.isTrue(truncated.userPrompts!.data.get(second!.promptId)!.truncated)
      assert.strictEqual(truncated.userPrompts!.data.get(second!.promptId)!.promptTokens, 34)
      const dropped = yield* load({ train: long, eval: evalFile, overlong: "drop" }, e)
      assert.deepStrictEqual(dropped.prompts({} as never, "train").map((p) => p.text), ["short"])
      assert.deepStrictEqual(dropped.userPrompts!.files.map((f) => [f.rows, f.kept, f.dropped]), [[3, 1, 2], [1, 1, 0]])
    }))

  it.effect("bad input: missing column (listing the file's), empty file, duplicate ids, unknown role, chat without a template, bad values", () =>
    Effect.gen(function*() {
      assert.include(yield* failure({ train, eval: evalFile, promptColumn: "question" }),
        `train.jsonl has no column "question"; its columns are "id", "prompt", "answer": set task.promptColumn to one of them`)
      assert.include(yield* failure({ train: file("empty.jsonl", ""), eval: evalFile }), "empty.jsonl is empty: it holds no rows")
      const dup = jsonl("dup.jsonl", [{ id: 1, prompt: "a" }, { id: 2, prompt: "b" }, { id: 1, prompt: "c" }])
      assert.include(yield* failure({ train: dup, eval: evalFile, idColumn: "id" }), `dup.jsonl row 3: prompt id "1" (column "id") repeats`)
      assert.include(yield* failure({ train, eval: jsonl("eval-dup.jsonl", [{ id: "a", prompt: "x" }]), idColumn: "id" }), `prompt id "a" (column "id") repeats`)
      const role = jsonl("role.jsonl", [{ prompt: [{ role: "user", content: "hi" }] }, { prompt: [{ role: "wizard", content: "hi" }] }])
      const template = { text: "{% for m in messages %}{{ m.content }}{% endfor %}", source: "t" }
      assert.include(yield* failure({ train: role, eval: evalFile }, { ...env, chatTemplate: template }),
        `role.jsonl row 2, column "prompt": message 0 has role "wizard"; roles are system, user, assistant, tool`)
      assert.include(yield* failure({ train: role, eval: evalFile }),
        `role.jsonl row 1, column "prompt" is a chat, and the policy's tokenizer has no chat_template (tokenizer_config.json): name a Jinja template file in task.chatTemplate`)
      assert.include(yield* failure({ train: jsonl("num.jsonl", [{ prompt: 42 }]), eval: evalFile }), "expected a string or a list of {role, content} messages, found 42")
      assert.include(yield* failure({ train: jsonl("uni.jsonl", [{ prompt: "héllo" }]), eval: evalFile }), `cannot tokenize the prompt: CharTokenizer: symbol "é" is not in the vocabulary`)
      assert.include(yield* failure({ train: join(dir, "nope.jsonl"), eval: evalFile }), "nope.jsonl does not exist")
      assert.include(yield* failure({ train: file("x.txt", "hi"), eval: evalFile }), `unknown extension ".txt"`)
    }))

  it.effect("config: prompts needs a train file, held-out prompts, a reward; its fields are refused on a built-in task", () =>
    Effect.gen(function*() {
      const err = (input: unknown) => Effect.map(Effect.flip(decodeRunConfig(input)), (e) => [e.path, e.message] as const)
      const [p1] = yield* err({ task: { name: "prompts" }, reward: { type: "function", module: "r.ts" } })
      assert.strictEqual(p1, "$.task.train")
      const [p2, m2] = yield* err({ task: { name: "prompts", train: "t.jsonl", demonstrations: "d.jsonl" }, reward: { type: "function", module: "r.ts" } })
      assert.strictEqual(p2, "$.task.eval")
      assert.include(m2, "task.evalFraction")
      const [p3, m3] = yield* err({ task: { name: "prompts", train: "t.jsonl", evalFraction: 0.1, demonstrations: "d.jsonl" } })
      assert.strictEqual(p3, "$.reward")
      assert.include(m3, `task "prompts" has no reward of its own`)
      const [p4] = yield* err({ task: { name: "prompts", train: "t.jsonl", evalFraction: 0.1 }, reward: { type: "function", module: "r.ts" } })
      assert.strictEqual(p4, "$.task.demonstrations")
      const [p5, m5] = yield* err({ task: { name: "arith", train: "t.jsonl" } })
      assert.strictEqual(p5, "$.task.train")
      assert.include(m5, `only task "prompts" reads train`)
    }))
})
