/**
 * tokenizer.json pre-tokenizers, as Hugging Face's Rust `tokenizers` runs them
 * (tokenizers/src/pre_tokenizers, NormalizedString::split). Written here rather than
 * taken from @huggingface/tokenizers 0.2.0, whose Whitespace is ASCII-only (it splits "café"),
 * whose Punctuation groups "..." into one piece, and whose Metaspace ignores `split`.
 */

type Json = Record<string, unknown>

/** How a split treats the matched delimiters (SplitDelimiterBehavior). */
type Behavior = "Removed" | "Isolated" | "MergedWithPrevious" | "MergedWithNext" | "Contiguous"

/** A piece of text and whether it is a match of the pattern, in order, covering the text. */
type Span = { text: string; match: boolean }

/** One span per code point that satisfies `pred`, with the runs between as non-matches. */
const charMatches = (text: string, pred: (c: string) => boolean): Array<Span> => {
  const spans: Array<Span> = []
  let run = ""
  for (const c of text) {
    if (pred(c)) {
      if (run) spans.push({ text: run, match: false })
      run = ""
      spans.push({ text: c, match: true })
    } else run += c
  }
  if (run) spans.push({ text: run, match: false })
  return spans
}

const regexMatches = (text: string, re: RegExp): Array<Span> => {
  const spans: Array<Span> = []
  let prev = 0
  for (const m of text.matchAll(re)) {
    if (m[0].length === 0) continue
    if (m.index > prev) spans.push({ text: text.slice(prev, m.index), match: false })
    spans.push({ text: m[0], match: true })
    prev = m.index + m[0].length
  }
  if (prev < text.length) spans.push({ text: text.slice(prev), match: false })
  return spans
}

/** NormalizedString::split: group the spans by `behavior`, drop removed delimiters and empty pieces. */
const applyBehavior = (spans: ReadonlyArray<Span>, behavior: Behavior): Array<string> => {
  const out: Array<{ text: string; remove: boolean }> = []
  if (behavior === "MergedWithNext") {
    // Walk backwards: a match joins the piece after it.
    let previousMatch = false
    for (let i = spans.length - 1; i >= 0; i--) {
      const s = spans[i]!
      if (s.match && !previousMatch && out.length > 0) out[out.length - 1]!.text = s.text + out[out.length - 1]!.text
      else out.push({ text: s.text, remove: false })
      previousMatch = s.match
    }
    out.reverse()
  } else {
    let previousMatch = false
    for (const s of spans) {
      const last = out[out.length - 1]
      if (behavior === "Removed") out.push({ text: s.text, remove: s.match })
      else if (behavior === "Isolated") out.push({ text: s.text, remove: false })
      else if (behavior === "Contiguous" && s.match === previousMatch && last) last.text += s.text
      else if (behavior === "MergedWithPrevious" && s.match && !previousMatch && last) last.text += s.text
      else out.push({ text: s.text, remove: false })
      previousMatch = s.match
    }
  }
  return out.filter((p) => !p.remove && p.text.length > 0).map((p) => p.text)
}

const invert = (spans: Array<Span>) => spans.map((s) => ({ text: s.text, match: !s.match }))

// Rust's char classes: is_whitespace = White_Space; regex \w = Alphabetic + M + Nd + Pc + Join_Control;
// is_numeric = N; punctuation = ASCII punctuation or Unicode P.
export const isWhitespace = (c: string) => /^\p{White_Space}$/u.test(c)
const isNumeric = (c: string) => /^\p{N}$/u.test(c)
const isPunctuation = (c: string) => /^[\p{P}!-/:-@[-`{-~]$/u.test(c)
const WORD = String.raw`\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}`
const WHITESPACE_WORDS = new RegExp(`[${WORD}]+|[^${WORD}\\p{White_Space}]+`, "gu")

// GPT-2's byte-to-unicode table: printable bytes map to themselves, the rest to U+0100 onwards.
const BYTE_TO_CHAR: ReadonlyArray<string> = (() => {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff)
  let n = 0
  return Array.from({ length: 256 }, (_, b) => String.fromCodePoint(printable(b) ? b : 256 + n++))
})()
const GPT2_PATTERN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu
const utf8 = new TextEncoder()

/** A pre-tokenizer: pieces in, pieces out. `first` marks the piece at the start of the input (Metaspace "first"). */
export type PreTokenizer = (pieces: ReadonlyArray<string>, first: boolean) => Array<string>

const each = (f: (piece: string, first: boolean) => Array<string>): PreTokenizer => (pieces, first) =>
  pieces.flatMap((p, i) => f(p, first && i === 0))

/** A Split's or Replace's pattern: {String} matched literally, {Regex} as a Unicode regex. */
export const splitPattern = (j: Json): RegExp => {
  const pattern = j.pattern as { String?: string; Regex?: string }
  if (typeof pattern?.String === "string") return new RegExp(pattern.String.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), "gu")
  if (typeof pattern?.Regex === "string") {
    try {
      return new RegExp(pattern.Regex, "gu")
    } catch (e) {
      throw new Error(`pre_tokenizer Split: its regex ${JSON.stringify(pattern.Regex)} is not one JavaScript can run (${(e as Error).message})`)
    }
  }
  throw new Error(`pre_tokenizer Split needs a pattern {"String": …} or {"Regex": …}, got ${JSON.stringify(j.pattern)}`)
}

/** The pre-tokenizer a tokenizer.json names (null: the whole text is one piece). */
export const preTokenizer = (j: Json | null): PreTokenizer => {
  if (j === null || j === undefined) return (pieces) => [...pieces]
  switch (j.type) {
    case "Sequence": {
      const steps = (j.pretokenizers as Array<Json>).map(preTokenizer)
      return (pieces, first) => steps.reduce<Array<string>>((acc, step) => step(acc, first), [...pieces])
    }
    case "Whitespace":
      return each((p) => applyBehavior(invert(regexMatches(p, WHITESPACE_WORDS)), "Removed"))
    case "WhitespaceSplit":
      return each((p) => applyBehavior(charMatches(p, isWhitespace), "Removed"))
    case "BertPreTokenizer":
      return each((p) => applyBehavior(charMatches(p, isWhitespace), "Removed").flatMap((w) => applyBehavior(charMatches(w, isPunctuation), "Isolated")))
    case "Punctuation":
      return each((p) => applyBehavior(charMatches(p, isPunctuation), (j.behavior as Behavior | undefined) ?? "Isolated"))
    case "Digits":
      return each((p) => applyBehavior(charMatches(p, isNumeric), j.individual_digits === true ? "Isolated" : "Contiguous"))
    case "CharDelimiterSplit":
      return each((p) => applyBehavior(charMatches(p, (c) => c === j.delimiter), "Removed"))
    case "FixedLength": {
      const n = Number(j.length ?? 5)
      return each((p) => {
        const chars = Array.from(p)
        return Array.from({ length: Math.ceil(chars.length / n) }, (_, i) => chars.slice(i * n, i * n + n).join(""))
      })
    }
    case "Split": {
      const re = splitPattern(j)
      const behavior = j.behavior as Behavior
      return each((p) => applyBehavior(j.invert === true ? invert(regexMatches(p, re)) : regexMatches(p, re), behavior))
    }
    case "Metaspace": {
      const replacement = (j.replacement as string | undefined) ?? "▁"
      const scheme = j.add_prefix_space === false ? "never" : ((j.prepend_scheme as string | undefined) ?? "always")
      const split = j.split !== false
      return each((p, first) => {
        let text = p.replaceAll(" ", replacement)
        if (!text.startsWith(replacement) && (scheme === "always" || (scheme === "first" && first))) text = replacement + text
        return split ? applyBehavior(charMatches(text, (c) => c === replacement), "MergedWithNext") : [text]
      })
    }
    case "ByteLevel": {
      const addPrefixSpace = j.add_prefix_space === true
      const useRegex = j.use_regex !== false
      return each((p) => {
        const text = addPrefixSpace && !p.startsWith(" ") ? " " + p : p
        const words = useRegex ? applyBehavior(regexMatches(text, GPT2_PATTERN), "Isolated") : [text]
        return words.map((w) => Array.from(utf8.encode(w), (b) => BYTE_TO_CHAR[b]!).join(""))
      })
    }
    default:
      throw new Error(`pre_tokenizer ${JSON.stringify(j.type)} is not supported (Whitespace, WhitespaceSplit, BertPreTokenizer, Punctuation, Digits, CharDelimiterSplit, FixedLength, Split, Metaspace, ByteLevel, Sequence)`)
  }
}
