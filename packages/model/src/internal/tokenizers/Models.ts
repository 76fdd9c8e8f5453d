/**
 * The four tokenizer.json models — BPE, WordPiece, Unigram, WordLevel — turning one pre-tokenized
 * word into ids, with unknown words handled as Hugging Face's Rust `tokenizers` handles them
 * (tokenizers/src/models/*): WordLevel and WordPiece give unk_token's id, or fail when there is
 * none; BPE gives unk per unknown character (fused when `fuse_unk`), tries `<0xNN>` bytes first
 * with `byte_fallback`, and drops the character when there is no unk_token; Unigram gives unk_id,
 * fusing a run of unknown characters into one.
 */

type Json = Record<string, unknown>

/** A model: one word in, its ids out. */
export type Model = (word: string) => Array<number>

const vocabMap = (j: Json, type: string): Map<string, number> => {
  if (typeof j.vocab !== "object" || j.vocab === null || Array.isArray(j.vocab)) {
    throw new Error(`model ${type} needs "vocab" as an object of token → id`)
  }
  return new Map(Object.entries(j.vocab as Record<string, number>))
}

/** The id of `token`, which the file names as its unknown token; an error when the vocabulary lacks it. */
const unkId = (vocab: ReadonlyMap<string, number>, token: string | null, type: string) => (word: string): number => {
  const id = token === null ? undefined : vocab.get(token)
  if (id === undefined) {
    throw new Error(
      token === null
        ? `${JSON.stringify(word)} is not in the ${type} vocabulary and the tokenizer has no unk_token`
        : `${JSON.stringify(word)} is not in the ${type} vocabulary, and its unk_token ${JSON.stringify(token)} is not either`
    )
  }
  return id
}

const str = (v: unknown): string | null => (typeof v === "string" ? v : null)

const wordLevel = (j: Json): Model => {
  const vocab = vocabMap(j, "WordLevel")
  const unk = unkId(vocab, str(j.unk_token), "WordLevel")
  return (word) => [vocab.get(word) ?? unk(word)]
}

const wordPiece = (j: Json): Model => {
  const vocab = vocabMap(j, "WordPiece")
  const unk = unkId(vocab, str(j.unk_token), "WordPiece")
  const prefix = str(j.continuing_subword_prefix) ?? "##"
  const maxChars = typeof j.max_input_chars_per_word === "number" ? j.max_input_chars_per_word : 100
  return (word) => {
    const chars = Array.from(word)
    if (chars.length > maxChars) return [unk(word)]
    // Greedy longest match first; one piece that matches nothing makes the whole word unknown.
    const ids: Array<number> = []
    for (let start = 0; start < chars.length;) {
      let end = chars.length
      let id: number | undefined
      for (; end > start; end--) {
        id = vocab.get((start > 0 ? prefix : "") + chars.slice(start, end).join(""))
        if (id !== undefined) break
      }
      if (id === undefined) return [unk(word)]
      ids.push(id)
      start = end
    }
    return ids
  }
}

const byteTokens = (vocab: ReadonlyMap<string, number>, text: string): Array<number> | null => {
  const ids = Array.from(new TextEncoder().encode(text), (b) => vocab.get(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`))
  return ids.every((id) => id !== undefined) ? (ids as Array<number>) : null
}

const bpe = (j: Json): Model => {
  const vocab = vocabMap(j, "BPE")
  const unkToken = str(j.unk_token)
  const unk = unkId(vocab, unkToken, "BPE")
  const prefix = str(j.continuing_subword_prefix) ?? ""
  const suffix = str(j.end_of_word_suffix) ?? ""
  const fuseUnk = j.fuse_unk === true
  const byteFallback = j.byte_fallback === true
  // Merge (left id, right id) → (rank, merged id); the merged token drops the right side's prefix.
  const merges = new Map<string, { rank: number; id: number }>()
  ;(j.merges as Array<string | [string, string]> ?? []).forEach((m, rank) => {
    const [a, b] = typeof m === "string" ? (m.split(" ", 2) as [string, string]) : m
    const left = vocab.get(a)
    const right = vocab.get(b)
    const id = vocab.get(a + b.slice(prefix.length))
    if (left === undefined || right === undefined || id === undefined) throw new Error(`BPE merge ${JSON.stringify(`${a} ${b}`)} names a token that is not in the vocabulary`)
    merges.set(`${left} ${right}`, { rank, id })
  })
  const cache = new Map<string, Array<number>>()
  return (word) => {
    if (j.ignore_merges === true && vocab.has(word)) return [vocab.get(word)!]
    const hit = cache.get(word)
    if (hit) return hit
    // Characters to ids first (unknown ones become unk before any merge, as merge_word does) …
    const chars = Array.from(word)
    let ids: Array<number> = []
    let pendingUnk = false
    chars.forEach((c, i) => {
      const s = (i > 0 ? prefix : "") + c + (i === chars.length - 1 ? suffix : "")
      const id = vocab.get(s)
      if (id !== undefined) {
        ids.push(id)
        pendingUnk = false
        return
      }
      const bytes = byteFallback ? byteTokens(vocab, s) : null
      if (bytes) {
        ids.push(...bytes)
        pendingUnk = false
      } else if (unkToken !== null) {
        if (!(fuseUnk && pendingUnk)) ids.push(unk(c))
        pendingUnk = true
      }
    })
    // … then the lowest-ranked merge present, leftmost first, until none applies.
    while (ids.length > 1) {
      let best = -1
      let bestRank = Infinity
      for (let i = 0; i + 1 < ids.length; i++) {
        const m = merges.get(`${ids[i]} ${ids[i + 1]}`)
        if (m && m.rank < bestRank) (best = i), (bestRank = m.rank)
      }
      if (best < 0) break
      const merged = merges.get(`${ids[best]} ${ids[best + 1]}`)!.id
      ids = [...ids.slice(0, best), merged, ...ids.slice(best + 2)]
    }
    if (word.length < 256) cache.set(word, ids)
    return ids
  }
}

/** Unigram: the segmentation with the highest total log-probability (Viterbi, as SentencePiece). */
const unigram = (j: Json): Model => {
  if (!Array.isArray(j.vocab)) throw new Error(`model Unigram needs "vocab" as a list of [piece, score]`)
  const pieces = j.vocab as Array<[string, number]>
  const ids = new Map(pieces.map(([p], i) => [p, i]))
  const unkIndex = typeof j.unk_id === "number" ? j.unk_id : null
  const minScore = Math.min(...pieces.map(([, s]) => s))
  const unkScore = minScore - 10 // K_UNK_PENALTY
  const maxLen = Math.max(...pieces.map(([p]) => Array.from(p).length))
  const vocab = new Map(pieces.map(([p], i) => [p, i]))
  return (word) => {
    const chars = Array.from(word)
    const best: Array<{ score: number; start: number; id: number } | null> = chars.map(() => null)
    const at = (end: number) => (end === 0 ? { score: 0, start: 0, id: -1 } : best[end - 1]!)
    const offer = (end: number, start: number, id: number, score: number) => {
      const cur = best[end - 1]
      if (cur === null || score > cur.score) best[end - 1] = { score, start, id }
    }
    for (let start = 0; start < chars.length; start++) {
      const base = at(start).score
      let single = false
      // Shorter pieces first: on equal scores the first found stays, as in the Rust trie walk.
      for (let len = 1; len <= maxLen && start + len <= chars.length; len++) {
        const id = ids.get(chars.slice(start, start + len).join(""))
        if (id === undefined) continue
        offer(start + len, start, id, base + pieces[id]![1])
        if (len === 1) single = true
      }
      if (!single) {
        if (unkIndex === null) throw new Error(`${JSON.stringify(chars[start])} is not in the Unigram vocabulary and the tokenizer has no unk_id`)
        offer(start + 1, start, unkIndex, base + unkScore)
      }
    }
    // Back from the end; a run of unknown characters is one unk (fuse_unk), or its bytes with byte_fallback.
    const out: Array<number> = []
    let unkRun = ""
    const flushUnk = () => {
      if (!unkRun) return
      const bytes = j.byte_fallback === true ? byteTokens(vocab, unkRun) : null
      out.push(...(bytes ? [...bytes].reverse() : [unkIndex!]))
      unkRun = ""
    }
    for (let end = chars.length; end > 0;) {
      const node = best[end - 1]!
      if (node.id === unkIndex) unkRun = chars.slice(node.start, end).join("") + unkRun
      else {
        flushUnk()
        out.push(node.id)
      }
      end = node.start
    }
    flushUnk()
    return out.reverse()
  }
}

/** The model a tokenizer.json names. */
export const model = (j: Json): Model => {
  switch (j.type) {
    case "WordLevel":
      return wordLevel(j)
    case "WordPiece":
      return wordPiece(j)
    case "BPE":
      return bpe(j)
    case "Unigram":
      return unigram(j)
    default:
      throw new Error(`model type ${JSON.stringify(j.type)} is not supported (BPE, WordPiece, Unigram, WordLevel)`)
  }
}
