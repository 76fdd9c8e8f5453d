/**
 * One tokenizer interface for the built-in tasks' symbol tokenizer and Hugging Face
 * tokenizer.json files (HfTokenizer.ts). Special ids are part of the vocabulary.
 */

export interface Tokenizer {
  readonly kind: "char" | "hf"
  readonly vocabSize: number
  readonly bosId: number | null
  readonly eosId: number | null
  /**
   * Ids that end a completion as EOS does, besides eosId: generation_config.json's eos_token_id list,
   * and the chat template's end-of-turn token (e.g. <|im_end|>); absent = eosId alone.
   */
  readonly stopIds?: ReadonlyArray<number>
  readonly padId: number
  /** Text → ids, without special tokens. */
  readonly encode: (text: string) => number[]
  /** Ids → text; special tokens are dropped. */
  readonly decode: (ids: ReadonlyArray<number>) => string
  /** The tokenizer.json content that round-trips through `tokenizerFromJson`. */
  readonly toJSON: () => unknown
  /** What a chat template needs (tokenizer_config.json): its `chat_template` and the specials' texts; absent when there is none. */
  readonly chat?: ChatSpecials
}

/** tokenizer_config.json's chat template and the special tokens' texts it refers to (bos_token, eos_token). */
export interface ChatSpecials {
  readonly template: string | null
  readonly bosToken: string | null
  readonly eosToken: string | null
}

export interface CharTokenizerSpec {
  /** The symbols, in id order after the specials. Usually single characters. */
  readonly symbols: ReadonlyArray<string>
  /** When set, text is split on it (multi-character symbols, e.g. the bandit's "00".."99"). */
  readonly separator?: string
}

/**
 * The built-in tasks' tokenizer: ids 0,1,2 are PAD, BOS, EOS; then one id per symbol.
 * Encoding an unknown character is an error that names it.
 */
export class CharTokenizer implements Tokenizer {
  readonly kind = "char" as const
  readonly padId = 0
  readonly bosId = 1
  readonly eosId = 2
  readonly vocabSize: number
  private readonly index: Map<string, number>

  constructor(readonly spec: CharTokenizerSpec) {
    this.index = new Map(spec.symbols.map((s, i) => [s, i + 3]))
    if (this.index.size !== spec.symbols.length) throw new Error("CharTokenizer: symbols must be distinct")
    this.vocabSize = spec.symbols.length + 3
  }

  encode = (text: string): number[] => {
    const parts = this.spec.separator !== undefined
      ? text.split(this.spec.separator).filter((p) => p.length > 0)
      : Array.from(text)
    return parts.map((p) => {
      const id = this.index.get(p)
      if (id === undefined) throw new Error(`CharTokenizer: symbol ${JSON.stringify(p)} is not in the vocabulary`)
      return id
    })
  }

  decode = (ids: ReadonlyArray<number>): string =>
    ids.filter((id) => id >= 3 && id < this.vocabSize).map((id) => this.spec.symbols[id - 3]!).join(this.spec.separator ?? "")

  toJSON = (): unknown => ({ odpo: "char", version: 1, symbols: this.spec.symbols, separator: this.spec.separator ?? null })
}
