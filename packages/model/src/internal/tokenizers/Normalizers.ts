/**
 * tokenizer.json normalizers, as Hugging Face's Rust `tokenizers` runs them
 * (tokenizers/src/normalizers): Unicode forms, Lowercase (char by char), Strip, StripAccents,
 * Prepend, Replace, BertNormalizer and Sequence; others (Precompiled) come from `fallback`.
 */
import { isWhitespace, splitPattern } from "./PreTokenizers.ts"

type Json = Record<string, unknown>

/** A normalizer: text in, text out. */
export type Normalizer = (text: string) => string

const isChinese = (cp: number) =>
  (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf) || (cp >= 0x20000 && cp <= 0x2a6df) ||
  (cp >= 0x2a700 && cp <= 0x2b73f) || (cp >= 0x2b740 && cp <= 0x2b81f) || (cp >= 0x2b820 && cp <= 0x2ceaf) ||
  (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0x2f800 && cp <= 0x2fa1f)

// Rust lowercases char by char (no final-sigma rule): "ΟΔΟΣ" → "οδοσ", where JS's toLowerCase gives "οδος".
const lowercase: Normalizer = (t) => Array.from(t, (c) => c.toLowerCase()).join("")
const stripAccents: Normalizer = (t) => t.replace(/\p{M}/gu, "")

/** The normalizer a tokenizer.json names (null: none). `fallback` builds the ones written only in the library (Precompiled). */
export const normalizer = (j: Json | null, fallback: (j: Json) => Normalizer): Normalizer => {
  if (j === null || j === undefined) return (t) => t
  switch (j.type) {
    case "Sequence": {
      const steps = (j.normalizers as Array<Json>).map((n) => normalizer(n, fallback))
      return (t) => steps.reduce((acc, step) => step(acc), t)
    }
    case "NFC":
    case "NFD":
    case "NFKC":
    case "NFKD":
      return (t) => t.normalize(j.type as string)
    case "Lowercase":
      return lowercase
    case "StripAccents":
      return stripAccents
    case "Strip":
      return (t) => {
        let s = t
        if (j.strip_left !== false) s = s.replace(/^\p{White_Space}+/u, "")
        if (j.strip_right !== false) s = s.replace(/\p{White_Space}+$/u, "")
        return s
      }
    case "Prepend":
      return (t) => (t.length > 0 ? String(j.prepend) + t : t)
    case "Replace": {
      const re = splitPattern(j)
      return (t) => t.replace(re, String(j.content ?? ""))
    }
    case "BertNormalizer":
      return (t) => {
        let s = t
        if (j.clean_text !== false) {
          s = Array.from(s).filter((c) => c !== "\0" && c !== "\ufffd" && (c === "\t" || c === "\n" || c === "\r" || !/^\p{C}$/u.test(c)))
            .map((c) => (isWhitespace(c) ? " " : c)).join("")
        }
        if (j.handle_chinese_chars !== false) s = Array.from(s, (c) => (isChinese(c.codePointAt(0)!) ? ` ${c} ` : c)).join("")
        const lower = j.lowercase !== false
        const strip = j.strip_accents === null || j.strip_accents === undefined ? lower : j.strip_accents === true
        if (strip) s = stripAccents(s.normalize("NFD"))
        if (lower) s = lowercase(s)
        return s
      }
    default:
      return fallback(j)
  }
}
