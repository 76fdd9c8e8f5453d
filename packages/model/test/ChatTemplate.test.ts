// A chat prompt through a Hugging Face tokenizer's own chat_template (tokenizer_config.json),
// rendered by @huggingface/jinja with the generation prompt and the specials' texts.
import { assert, describe, it } from "@effect/vitest"
import { RunConfig, Tasks } from "@odpo/core"
import { Effect } from "effect"
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { tokenizerFromJson } from "../src/TokenizerFile.ts"

const json = JSON.parse(readFileSync(join(import.meta.dirname, "fixtures", "tokenizers", "wordlevel.json"), "utf8"))
const template = "{% for m in messages %}{% if m.role == 'user' %}{{ m.content }} {% endif %}{% endfor %}{% if add_generation_prompt %}was{% endif %}{{ eos_token }}"

describe("chat templates", () => {
  it.effect("tokenizer_config.json's chat_template renders a chat prompt; a named list of templates takes 'default'", () =>
    Effect.gen(function*() {
      const tok = yield* tokenizerFromJson(json, "t", { eos_token: "[EOS]", chat_template: template })
      assert.strictEqual(tok.chat?.template, template)
      assert.strictEqual(tok.chat?.eosToken, "[EOS]")
      const named = yield* tokenizerFromJson(json, "t", { chat_template: [{ name: "tool_use", template: "x" }, { name: "default", template }] })
      assert.strictEqual(named.chat?.template, template)
      const none = yield* tokenizerFromJson(json, "t", {})
      assert.isNull(none.chat?.template)

      const dir = mkdtempSync(join(tmpdir(), "odpo-chat-"))
      const file = join(dir, "chat.jsonl")
      writeFileSync(file, JSON.stringify({ prompt: [{ role: "system", content: "great" }, { role: "user", content: "the film" }] }) + "\n" +
        JSON.stringify({ prompt: "the film" }) + "\n")
      const config = (yield* RunConfig.decodeRunConfig({
        task: { name: "prompts", train: file, evalFraction: 0.5, demonstrations: "d.jsonl" }, reward: { type: "function", module: "r.ts" }
      })).task
      const task = yield* Tasks.loadTask({ ...config, demonstrations: null, seed: 3 }, () => Effect.succeed({ tokenizer: tok, maxPromptTokens: 16 }))
      const all = [...task.prompts(config, "train"), ...task.prompts(config, "heldout")]
      const chat = all.find((p) => p.text.includes("[EOS]"))!
      // "the film " (user only) + "was" (generation prompt) + eos_token: the, film, was, [EOS]; no BOS added to a rendered chat.
      assert.strictEqual(chat.text, "the film was[EOS]")
      assert.deepStrictEqual(chat.tokenIds, [1, 2, 4, 9])
      // Text prompts are tokenized as they are (this tokenizer has no BOS).
      assert.deepStrictEqual(all.find((p) => p !== chat)!.tokenIds, [1, 2])
    }))
})
