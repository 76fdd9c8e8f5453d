// A chat tokenizer's end-of-turn token (the special its chat_template writes) ends a row as EOS does.
import { assert, describe, it } from "@effect/vitest"
import { TokenizerFile } from "@odpo/model"
import { Effect } from "effect"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { decodeSpec } from "../src/Decoding.ts"
import { RowDecoder } from "../src/RowDecoder.ts"

const base = JSON.parse(readFileSync(join(import.meta.dirname, "../../model/test/fixtures/tokenizers/wordlevel.json"), "utf8"))
// The fixture's vocabulary (ids 0–9, [EOS] = 9) and one more special: <|im_end|> = 10.
const json = {
  ...base,
  model: { ...base.model, vocab: { ...base.model.vocab, "<|im_end|>": 10 } },
  added_tokens: [...base.added_tokens, { id: 10, content: "<|im_end|>", single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }]
}
const params = { temperature: 0, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1, maxNewTokens: 5, stop: [] }
const peaked = (id: number) => Array.from({ length: 11 }, (_, i) => (i === id ? 10 : 0))

describe("end-of-turn", () => {
  it.effect("the template's <|im_end|> is a stop id; drawing it finishes the row as eos; without a template there is none", () =>
    Effect.gen(function*() {
      const chat = yield* TokenizerFile.tokenizerFromJson(json, "t", { eos_token: "[EOS]", chat_template: "{% for m in messages %}{{ m.content }}<|im_end|>{% endfor %}" })
      assert.deepStrictEqual(chat.stopIds, [9, 10]) // [EOS], then the end of turn
      const spec = decodeSpec(chat, params, 16, 11)
      assert.notInclude(spec.suppressIds, 10)
      const row = new RowDecoder([1], 0, spec)
      assert.isTrue(row.step(peaked(2)))
      assert.isFalse(row.step(peaked(10)))
      assert.strictEqual(row.finishReason, "eos")
      assert.deepStrictEqual(row.tokens, [2, 10])
      const plain = yield* TokenizerFile.tokenizerFromJson(json, "t", { eos_token: "[EOS]" })
      assert.deepStrictEqual(plain.stopIds, [9]) // [EOS] alone
      const other = new RowDecoder([1], 0, decodeSpec(plain, params, 16, 11))
      assert.isTrue(other.step(peaked(10)))
      assert.strictEqual(other.finishReason, undefined)
    }))
})
