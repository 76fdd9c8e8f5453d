import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { HfTokenizer } from "../src/HfTokenizer.ts"
import { Tokenizer } from "@odpo/core"

const { CharTokenizer } = Tokenizer
import { loadTokenizer, saveTokenizer, tokenizerFromJson } from "../src/TokenizerFile.ts"

const fixture = join(import.meta.dirname, "fixtures", "bpe_tokenizer.json")

const errorOf = <A, E extends { message: string; _tag: string }>(eff: Effect.Effect<A, E>) =>
  Effect.map(Effect.exit(eff), (exit) => {
    if (Exit.isSuccess(exit)) return assert.fail("expected a failure")
    const f = exit.cause.reasons.find((r) => r._tag === "Fail") as { error: E } | undefined
    return f ? `${f.error._tag}: ${f.error.message}` : assert.fail(String(exit.cause))
  })

describe("TokenizerFile", () => {
  it.effect("a byte-level BPE tokenizer.json encodes to the hand-derived ids and decodes back, skipping specials", () =>
    Effect.gen(function*() {
      const tok = yield* loadTokenizer(fixture)
      assert.strictEqual(tok.kind, "hf")
      assert.strictEqual(tok.vocabSize, 12)
      // <|endoftext|> (id 11) serves as BOS, EOS and (GPT-2 has no pad) PAD.
      assert.deepStrictEqual([tok.bosId, tok.eosId, tok.padId], [11, 11, 11])
      // "abcd" merges a·b → ab, c·d → cd, ab·cd → abcd; in "Ġab" the rank-0 merge a·b wins over
      // the rank-1 Ġ·a, and no merge joins Ġ·ab: [Ġ, ab]; "Ġe" has no merge.
      assert.deepStrictEqual(tok.encode("abcd ab e"), [10, 5, 6, 5, 4])
      assert.deepStrictEqual(tok.encode(" a"), [7]) // Ġ·a
      assert.deepStrictEqual(tok.encode("ba"), [1, 0])
      assert.deepStrictEqual(tok.encode("ab<|endoftext|>cd"), [6, 11, 9])
      assert.strictEqual(tok.decode([10, 5, 6, 5, 4]), "abcd ab e")
      assert.strictEqual(tok.decode([6, 11, 9, 11]), "abcd")
      assert.strictEqual(tok.decode([]), "")
      // toJSON round-trips through tokenizerFromJson to the same ids.
      const again = yield* tokenizerFromJson(JSON.parse(JSON.stringify(tok.toJSON())))
      assert.deepStrictEqual(again.encode("abcd ab e"), [10, 5, 6, 5, 4])
    }))

  it.effect("tokenizer_config.json beside the file names the specials", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "odpo-tok-"))
      const json = JSON.parse(readFileSync(fixture, "utf8"))
      json.added_tokens.push({ id: 12, content: "<pad>", special: true, normalized: false }, { id: 13, content: "<s>", special: true, normalized: false })
      writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(json))
      const conventional = yield* loadTokenizer(dir)
      assert.deepStrictEqual([conventional.vocabSize, conventional.bosId, conventional.eosId, conventional.padId], [14, 11, 11, 12])
      writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify({ bos_token: { content: "<s>" }, eos_token: "<|endoftext|>", pad_token: "<pad>" }))
      const configured = yield* loadTokenizer(dir)
      assert.deepStrictEqual([configured.bosId, configured.eosId, configured.padId], [13, 11, 12])
      // saveTokenizer writes the config beside it, so a checkpoint keeps it.
      const out = mkdtempSync(join(tmpdir(), "odpo-tok-"))
      yield* saveTokenizer(join(out, "tokenizer.json"), configured)
      const reloaded = yield* loadTokenizer(join(out, "tokenizer.json"))
      assert.deepStrictEqual([reloaded.bosId, reloaded.eosId, reloaded.padId], [13, 11, 12])
      assert.instanceOf(reloaded, HfTokenizer)
    }))

  it.effect("the char tokenizer's JSON round-trips, separator included", () =>
    Effect.gen(function*() {
      const bandit = new CharTokenizer({ symbols: ["00", "01", "02"], separator: " " })
      const back = yield* tokenizerFromJson(bandit.toJSON())
      assert.strictEqual(back.kind, "char")
      assert.strictEqual(back.vocabSize, 6)
      assert.deepStrictEqual(back.encode("02 00"), [5, 3])
      assert.strictEqual(back.decode([1, 5, 3, 2]), "02 00")
      const plain = yield* tokenizerFromJson(new CharTokenizer({ symbols: [..."ab+="] }).toJSON())
      assert.deepStrictEqual(plain.encode("a+b="), [3, 5, 4, 6])
    }))

  it.effect("malformed files are a TokenizerError naming the file and the problem", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "odpo-tok-"))
      const bad = join(dir, "tokenizer.json")
      writeFileSync(bad, "{\"model\": {\"type\": \"BPE\", ")
      assert.match(yield* errorOf(loadTokenizer(bad)), /^TokenizerError: cannot read tokenizer file .*tokenizer\.json: .*JSON/)
      writeFileSync(bad, JSON.stringify({ version: "1.0", added_tokens: [] }))
      assert.match(yield* errorOf(loadTokenizer(bad)), /^TokenizerError: cannot build a tokenizer from .*tokenizer\.json: no "model" object in .*tokenizer\.json/)
      writeFileSync(bad, JSON.stringify({ model: { type: "Nope", vocab: {} } }))
      assert.match(yield* errorOf(loadTokenizer(bad)), /^TokenizerError: cannot build a tokenizer from .*tokenizer\.json: model type "Nope" in .*tokenizer\.json is not supported \(BPE, WordPiece, Unigram, WordLevel\)/)
      writeFileSync(bad, JSON.stringify({ odpo: "char", symbols: ["a", "a"] }))
      assert.match(yield* errorOf(loadTokenizer(bad)), /symbol "a" appears twice in "symbols" in .*tokenizer\.json/)
      writeFileSync(bad, JSON.stringify({ odpo: "char", symbols: "abc" }))
      assert.match(yield* errorOf(loadTokenizer(bad)), /"symbols" must be a list of non-empty strings/)
      assert.match(yield* errorOf(loadTokenizer(join(dir, "missing.json"))), /tokenizer file .*missing\.json does not exist/)
    }))
})
