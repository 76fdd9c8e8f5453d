/**
 * A Hugging Face tokenizer.json (BPE, WordPiece, Unigram, WordLevel) behind our Tokenizer
 * interface. Encoding runs the file's added tokens, normalizer, pre-tokenizer and model as
 * Hugging Face's `tokenizers` does (internal/tokenizers/); decoding uses @huggingface/tokenizers.
 */
import * as HfLibrary from "@huggingface/tokenizers"
import type { Tokenizer as TokenizerModule } from "@odpo/core"
import { addedTokens, splitOnAdded } from "./internal/tokenizers/AddedTokens.ts"
import { model } from "./internal/tokenizers/Models.ts"
import { normalizer } from "./internal/tokenizers/Normalizers.ts"
import { preTokenizer } from "./internal/tokenizers/PreTokenizers.ts"

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
const END_OF_TURN = ["<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>"]

/** generation_config.json's field that decoding reads: one EOS id or a list (stop at any). */
export interface HfGenerationConfig {
  readonly eos_token_id?: number | ReadonlyArray<number> | null
  readonly [key: string]: unknown
}

/**
 * The BOS a prompt starts with, as transformers' tokenizer adds it: tokenizer_config.json's
 * add_bos_token when it says; else the special token a TemplateProcessing post-processor puts
 * before the text ($A), or none; else none when tokenizer_config.json sets bos_token to null.
 * `undefined` = nothing says: the conventional names decide (GPT-2's <|endoftext|>).
 */
const bosRule = (json: Record<string, unknown>, config: HfTokenizerConfig): { readonly name: string | null } | undefined => {
  if (config.add_bos_token === false) return { name: null }
  if (config.add_bos_token === true) return { name: tokenName(config.bos_token) ?? null }
  const post = json.post_processor as { type?: unknown; single?: unknown } | null | undefined
  if (post?.type === "TemplateProcessing" && Array.isArray(post.single)) {
    const first = post.single[0] as { SpecialToken?: { id?: unknown } } | undefined
    return { name: typeof first?.SpecialToken?.id === "string" ? first.SpecialToken.id : null }
  }
  if ("bos_token" in config && config.bos_token === null) return { name: null }
  return undefined
}

/** tokenizer_config.json writes a special either as a string or as {content: "..."}. */
const tokenName = (t: unknown): string | undefined =>
  typeof t === "string" ? t : typeof t === "object" && t !== null && typeof (t as { content?: unknown }).content === "string"
  ? (t as { content: string }).content
  : undefined

/**
 * Text → ids without specials added: added tokens found first (in the raw text, then in the
 * normalized text), each remaining piece normalized, pre-tokenized, and each word through the model.
 */
const encoder = (json: Record<string, unknown>): ((text: string) => number[]) => {
  const added = addedTokens(json.added_tokens)
  const raw = added.filter((t) => !t.normalized)
  const normalizedAdded = added.filter((t) => t.normalized)
  // Precompiled (SentencePiece's charsmap) is the one normalizer left to the library.
  const normalize = normalizer(json.normalizer as Record<string, unknown> | null, (j) => {
    if (j.type !== "Precompiled") throw new Error(`normalizer ${JSON.stringify(j.type)} is not supported`)
    // Exported at run time, missing from the package's type files.
    const Precompiled = (HfLibrary as unknown as { PrecompiledNormalizer: new (j: unknown) => { normalize: (t: string) => string } }).PrecompiledNormalizer
    const precompiled = new Precompiled(j)
    return (t) => precompiled.normalize(t)
  })
  const preTokenize = preTokenizer(json.pre_tokenizer as Record<string, unknown> | null)
  const toIds = model(json.model as Record<string, unknown>)
  return (text) => {
    const ids: Array<number> = []
    let first = true
    for (const segment of splitOnAdded(text, raw)) {
      if ("token" in segment) {
        ids.push(segment.token.id)
        first = false
        continue
      }
      for (const piece of splitOnAdded(normalize(segment.text), normalizedAdded)) {
        if ("token" in piece) ids.push(piece.token.id)
        else for (const word of preTokenize([piece.text], first)) ids.push(...toIds(word))
        first = false
      }
    }
    return ids
  }
}

export class HfTokenizer implements Tokenizer {
  readonly kind = "hf" as const
  readonly vocabSize: number
  readonly bosId: number | null
  readonly eosId: number | null
  readonly stopIds: ReadonlyArray<number>
  readonly padId: number
  private readonly lib: HfLibrary.Tokenizer
  readonly encode: (text: string) => number[]
  readonly chat: TokenizerModule.ChatSpecials

  /**
   * `json` is the parsed tokenizer.json; `config` the optional tokenizer_config.json (it names the
   * specials when their conventional names are not used). Throws (with the library's message) on a
   * tokenizer.json the library cannot build.
   */
  constructor(readonly json: Record<string, unknown>, readonly config: HfTokenizerConfig = {}, readonly generation: HfGenerationConfig = {}) {
    // The library insists on every top-level key; tokenizer.json files written by hand often omit the null ones.
    const full = { added_tokens: [], normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, ...json }
    // The library reads a WordLevel's unk_token from its options (for decoding ids it does not know).
    const modelJson = json.model as Record<string, unknown>
    const unk = typeof modelJson.unk_token === "string" ? { unk_token: modelJson.unk_token } : {}
    this.lib = new HfLibrary.Tokenizer(full, { clean_up_tokenization_spaces: false, ...unk, ...config })
    this.encode = encoder(full)
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
    const bos = bosRule(json, config)
    this.bosId = bos === undefined ? find(config.bos_token, BOS_NAMES) : bos.name === null ? null : find(bos.name, [])
    this.eosId = find(config.eos_token, EOS_NAMES)
    const listed = generation.eos_token_id
    const extra = typeof listed === "number" ? [listed] : Array.isArray(listed) ? listed : []
    for (const id of extra) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) throw new Error(`generation_config.json's eos_token_id ${id} is outside the vocabulary [0, ${this.vocabSize})`)
    }
    // GPT-2 has no pad token: padding positions are masked anyway, so EOS (or 0) serves.
    this.padId = find(config.pad_token, PAD_NAMES) ?? this.eosId ?? 0
    const text = (id: number | null) => (id === null ? null : this.lib.decode([id], { skip_special_tokens: false }))
    // A template may be one string or a list of named ones ({name: "default", template}).
    const named = Array.isArray(config.chat_template)
      ? (config.chat_template as Array<{ name?: unknown; template?: unknown }>).find((t) => t.name === "default")?.template
      : config.chat_template
    // The end-of-turn token: a special the template writes, by its conventional names (ChatML, Llama 3, Gemma, Phi).
    const endOfTurn = typeof named === "string" ? END_OF_TURN.filter((n) => special.has(n) && named.includes(n)).map((n) => special.get(n)!) : []
    // Every id that ends a completion: EOS, generation_config.json's list, the template's end of turn.
    this.stopIds = [...new Set([...(this.eosId !== null ? [this.eosId] : []), ...extra, ...endOfTurn])]
    this.chat = { template: typeof named === "string" ? named : null, bosToken: tokenName(config.bos_token) ?? text(this.bosId), eosToken: tokenName(config.eos_token) ?? text(this.eosId) }
  }

  decode = (ids: ReadonlyArray<number>): string =>
    ids.length === 0 ? "" : this.lib.decode([...ids], { skip_special_tokens: true })

  /** The tokenizer.json content as loaded (tokenizer_config.json travels separately: see `config`). */
  toJSON = (): unknown => this.json
}
