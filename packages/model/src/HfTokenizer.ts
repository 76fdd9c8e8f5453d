/** A Hugging Face tokenizer.json (BPE, WordPiece, Unigram…) behind our Tokenizer interface, via @huggingface/tokenizers. */
import { Tokenizer as HfLib } from "@huggingface/tokenizers"
import type { Tokenizer as TokenizerModule } from "@odpo/core"

type Tokenizer = TokenizerModule.Tokenizer

/** The special tokens of tokenizer_config.json that we read (all optional). */
export interface HfTokenizerConfig {
  readonly bos_token?: unknown
  readonly eos_token?: unknown
  readonly pad_token?: unknown
  readonly [key: string]: unknown
}

// Conventional names of the specials, tried in order when tokenizer_config.json does not name them.
const BOS_NAMES = ["<|endoftext|>", "<s>", "<bos>", "<|begin_of_text|>", "[CLS]", "<|bos|>"]
const EOS_NAMES = ["<|endoftext|>", "</s>", "<eos>", "<|end_of_text|>", "[SEP]", "<|eos|>"]
const PAD_NAMES = ["<pad>", "[PAD]", "<|pad|>", "<|padding|>"]

/** tokenizer_config.json writes a special either as a string or as {content: "..."}. */
const tokenName = (t: unknown): string | undefined =>
  typeof t === "string" ? t : typeof t === "object" && t !== null && typeof (t as { content?: unknown }).content === "string"
  ? (t as { content: string }).content
  : undefined

export class HfTokenizer implements Tokenizer {
  readonly kind = "hf" as const
  readonly vocabSize: number
  readonly bosId: number | null
  readonly eosId: number | null
  readonly padId: number
  private readonly lib: HfLib

  /**
   * `json` is the parsed tokenizer.json; `config` the optional tokenizer_config.json (it names the
   * specials when their conventional names are not used). Throws (with the library's message) on a
   * tokenizer.json the library cannot build.
   */
  constructor(readonly json: Record<string, unknown>, readonly config: HfTokenizerConfig = {}) {
    // The library insists on every top-level key; tokenizer.json files written by hand often omit the null ones.
    const full = { added_tokens: [], normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, ...json }
    this.lib = new HfLib(full, { clean_up_tokenization_spaces: false, ...config })
    const vocab = this.lib.get_vocab(true)
    // vocabSize is one past the largest id (vocab ids may leave gaps; the model still needs a row per id).
    let max = -1
    for (const id of vocab.values()) if (id > max) max = id
    this.vocabSize = max + 1
    const special = new Map<string, number>()
    for (const [id, t] of this.lib.get_added_tokens_decoder()) if (t.special) special.set(t.content, id)
    const find = (configured: unknown, names: ReadonlyArray<string>): number | null => {
      const name = tokenName(configured)
      if (name !== undefined) {
        const id = vocab.get(name)
        if (id === undefined) throw new Error(`tokenizer_config.json names special token ${JSON.stringify(name)}, which is not in the vocabulary`)
        return id
      }
      for (const n of names) if (special.has(n)) return special.get(n)!
      return null
    }
    this.bosId = find(config.bos_token, BOS_NAMES)
    this.eosId = find(config.eos_token, EOS_NAMES)
    // GPT-2 has no pad token: padding positions are masked anyway, so EOS (or 0) serves.
    this.padId = find(config.pad_token, PAD_NAMES) ?? this.eosId ?? 0
  }

  encode = (text: string): number[] => {
    const enc: { ids: number[]; tokens: string[] } = this.lib.encode(text, { add_special_tokens: false })
    const bad = enc.ids.findIndex((id: unknown) => typeof id !== "number")
    if (bad >= 0) {
      throw new Error(`HfTokenizer: token ${JSON.stringify(enc.tokens[bad])} is not in the vocabulary and the tokenizer has no unk_token`)
    }
    return enc.ids
  }

  decode = (ids: ReadonlyArray<number>): string =>
    ids.length === 0 ? "" : this.lib.decode([...ids], { skip_special_tokens: true })

  /** The tokenizer.json content as loaded (tokenizer_config.json travels separately: see `config`). */
  toJSON = (): unknown => this.json
}
