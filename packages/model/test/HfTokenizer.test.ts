import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { tokenizerFromJson } from "../src/TokenizerFile.ts"

// One small tokenizer.json per model type, written by hand in Hugging Face's documented format
// (Python `tokenizers` is not installable here: Debian has no python3-tokenizers and PyPI is
// unreachable). The expected ids are derived by hand from the Rust sources of `tokenizers`
// (pre_tokenizers/*.rs, NormalizedString::split, models/*/model.rs); each derivation is in a comment.
const fixture = (name: string) => JSON.parse(readFileSync(join(import.meta.dirname, "fixtures", "tokenizers", name), "utf8"))
const load = (json: unknown) => Effect.runSync(tokenizerFromJson(json, "test"))
const encodeError = (json: unknown, text: string) => {
  try {
    load(json).encode(text)
  } catch (e) {
    return (e as Error).message
  }
  return assert.fail(`encoding ${JSON.stringify(text)} should fail`)
}

describe("HfTokenizer: the four tokenizer.json models as Hugging Face's tokenizers runs them", () => {
  it("WordLevel (NFC + Lowercase, Whitespace): unknown words are unk_token's id", () => {
    const tok = load(fixture("wordlevel.json"))
    assert.strictEqual(tok.vocabSize, 10)
    // lowercased; Whitespace keeps \w+ and [^\w\s]+ runs: the, film, was, great, "."
    assert.deepStrictEqual(tok.encode("  The film was GREAT. "), [1, 2, 4, 5, 3])
    assert.deepStrictEqual(tok.encode("film."), [2, 3])
    // Unicode \w: "café" is one word (an ASCII-only \w would split it "caf" + "é"); NFC joins e + U+0301.
    assert.deepStrictEqual(tok.encode("The café film."), [1, 6, 2, 3])
    assert.deepStrictEqual(tok.encode("The cafe\u0301 film."), [1, 6, 2, 3])
    // movie, boring and "!!" (one [^\w\s]+ run) are not in the vocabulary → [UNK] = 0
    assert.deepStrictEqual(tok.encode("the movie was boring!!"), [1, 0, 4, 0, 0])
    assert.deepStrictEqual(tok.encode("naïve 😀 FiLm"), [0, 0, 2])
    // an added special in the text is its id, not split by the pre-tokenizer
    assert.deepStrictEqual(tok.encode("film[EOS]"), [2, 9])
    assert.deepStrictEqual(tok.encode("   "), [])
    assert.strictEqual(tok.decode([1, 2, 4, 5, 3, 9]), "the film was great .")
    // Without an unk_token an unknown word is an error, as in Rust (Error::MissingUnkToken).
    const noUnk = fixture("wordlevel.json")
    delete noUnk.model.unk_token
    assert.strictEqual(encodeError(noUnk, "the movie"), `"movie" is not in the WordLevel vocabulary and the tokenizer has no unk_token`)
  })

  it("WordPiece (BertNormalizer, BertPreTokenizer): greedy longest match, a word with an unmatched piece is one [UNK]", () => {
    const tok = load(fixture("wordpiece.json"))
    // the | films → film ##s | were → no piece for "w" → [UNK] | unbelievable → un ##believ ##able | .
    assert.deepStrictEqual(tok.encode("  The films were UNbelievable. "), [2, 3, 4, 1, 7, 8, 9, 5])
    assert.deepStrictEqual(tok.encode("film."), [3, 5])
    // lowercase strips accents (NFD, drop marks): Café → cafe; "!" is isolated punctuation
    assert.deepStrictEqual(tok.encode("Café GREAT!"), [10, 6, 11])
    // CJK characters get spaces around them, so each is a word: 日, 本 → [UNK] each
    assert.deepStrictEqual(tok.encode("日本film"), [1, 1, 3])
    // "..." is three punctuation pieces (Isolated), each "."
    assert.deepStrictEqual(tok.encode("film..."), [3, 5, 5, 5])
    assert.strictEqual(tok.decode([2, 3, 4, 7, 8, 9, 5]), "the films unbelievable.")
  })

  it("BPE (Lowercase, Whitespace, unk_token, fuse_unk, byte_fallback): unknown characters become unk before merging", () => {
    const json = fixture("bpe_unk.json")
    const tok = load(json)
    // film: f i l m → (f,i) rank 0 → fi l m → (l,m) rank 1 → fi lm → (fi,lm) rank 2 → film
    assert.deepStrictEqual(tok.encode("Film."), [11, 5])
    // good: g o o d → go o d → goo d → good; films: f i l m s, s unknown → film <unk>
    assert.deepStrictEqual(tok.encode("  GOOD films "), [14, 11, 0])
    // fuse_unk false: one <unk> per unknown character; é is unknown
    assert.deepStrictEqual(tok.encode("fizz filmé"), [9, 0, 0, 11, 0])
    const fused = load({ ...json, model: { ...json.model, fuse_unk: true } })
    assert.deepStrictEqual(fused.encode("fizz filmé"), [9, 0, 11, 0])
    // byte_fallback: é is bytes C3 A9 → <0xC3> <0xA9>; z (0x7A) has no byte token → <unk>
    const bytes = load({ ...json, model: { ...json.model, byte_fallback: true } })
    assert.deepStrictEqual(bytes.encode("filmé fiz"), [11, 15, 16, 9, 0])
    // no unk_token: unknown characters are dropped, as Rust's merge_word does
    const noUnk = load({ ...json, model: { ...json.model, unk_token: null } })
    assert.deepStrictEqual(noUnk.encode("fizz filmé"), [9, 11])
  })

  it("Unigram (Lowercase, Metaspace): the best-scoring segmentation; a run of unknown characters is one unk", () => {
    const tok = load(fixture("unigram.json"))
    // "▁the▁film." splits before each ▁: ▁the (−1) | ▁film (−2) + . (−2) beats ▁fil m . (−8)
    assert.deepStrictEqual(tok.encode("The film."), [1, 2, 7])
    assert.deepStrictEqual(tok.encode("film."), [2, 7])
    // ▁film s, then "!" unknown: unk scores min (−4) − 10 = −14
    assert.deepStrictEqual(tok.encode("FILMS!"), [2, 6, 0])
    // ▁good | ▁ then x y z unknown, fused into one unk
    assert.deepStrictEqual(tok.encode("good xyz"), [8, 5, 0])
    // leading/trailing spaces: "▁▁the▁" → ▁ | ▁the | ▁ (MergedWithNext)
    assert.deepStrictEqual(tok.encode("  the "), [5, 1, 5])
    // é is unknown and "▁the" cannot match "▁thé": ▁ t h <unk>
    assert.deepStrictEqual(tok.encode("thé"), [5, 9, 10, 0])
    assert.strictEqual(tok.decode([1, 2, 7]), "the film.")
  })

  it("the byte-level BPE fixture keeps its ids (ByteLevel pre-tokenizer, leading space, added token)", () => {
    const tok = load(JSON.parse(readFileSync(join(import.meta.dirname, "fixtures", "bpe_tokenizer.json"), "utf8")))
    assert.deepStrictEqual(tok.encode("abcd ab e"), [10, 5, 6, 5, 4])
    assert.deepStrictEqual(tok.encode(" a"), [7])
    assert.deepStrictEqual(tok.encode("ab<|endoftext|>cd"), [6, 11, 9])
  })
})
