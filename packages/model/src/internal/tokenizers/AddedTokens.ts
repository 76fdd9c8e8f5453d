/**
 * tokenizer.json's added tokens (specials such as <|endoftext|>, and words added by hand): found in
 * the text before the model sees it, as AddedVocabulary does in Hugging Face's `tokenizers` —
 * leftmost-longest, `single_word` only between word boundaries, `lstrip`/`rstrip` taking the
 * whitespace beside them; `normalized` ones are looked for in the normalized text, the others in the raw text.
 */

export interface AddedToken {
  readonly id: number
  readonly content: string
  readonly singleWord: boolean
  readonly lstrip: boolean
  readonly rstrip: boolean
  readonly normalized: boolean
  readonly special: boolean
}

export const addedTokens = (list: unknown): Array<AddedToken> =>
  (Array.isArray(list) ? list : []).map((t: Record<string, unknown>) => ({
    id: Number(t.id),
    content: String(t.content),
    singleWord: t.single_word === true,
    lstrip: t.lstrip === true,
    rstrip: t.rstrip === true,
    // Hugging Face's default: specials match the raw text, other added tokens the normalized text.
    normalized: typeof t.normalized === "boolean" ? t.normalized : t.special !== true,
    special: t.special === true
  }))

/** A piece of text, or an added token found in it. */
export type Segment = { readonly text: string } | { readonly token: AddedToken }

const isWordChar = (c: string | undefined) => c !== undefined && /^[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}]$/u.test(c)
const isSpace = (c: string | undefined) => c !== undefined && /^\p{White_Space}$/u.test(c)

/** Split `text` around the tokens of `tokens` it holds. */
export const splitOnAdded = (text: string, tokens: ReadonlyArray<AddedToken>): Array<Segment> => {
  if (tokens.length === 0 || text.length === 0) return text.length === 0 ? [] : [{ text }]
  const out: Array<Segment> = []
  let rest = 0 // start of the text not yet emitted
  let i = 0
  while (i < text.length) {
    let found: AddedToken | undefined
    for (const t of tokens) {
      if (t.content.length === 0 || !text.startsWith(t.content, i)) continue
      if (t.singleWord && (isWordChar(text[i - 1]) || isWordChar(text[i + t.content.length]))) continue
      if (!found || t.content.length > found.content.length) found = t
    }
    if (!found) {
      i++
      continue
    }
    let start = i
    let end = i + found.content.length
    if (found.lstrip) while (start > rest && isSpace(text[start - 1])) start--
    if (found.rstrip) while (end < text.length && isSpace(text[end])) end++
    if (start > rest) out.push({ text: text.slice(rest, start) })
    out.push({ token: found })
    rest = i = end
  }
  if (rest < text.length) out.push({ text: text.slice(rest) })
  return out
}
