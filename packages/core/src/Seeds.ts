/**
 * Every random number of odpo comes from here: seeds derived from (run seed, round, stage, …) by
 * FNV-1a, per-row sampling streams, and two small PRNGs. The same config and seed give the same rows.
 */

/** FNV-1a over a string's UTF-16 code units: a stable 32-bit hash. */
export const fnv1a = (text: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h >>> 0
}

/** murmur3's 32-bit finaliser: every input bit flips each output bit with probability ~½. */
export const fmix32 = (h: number): number => {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** A stable 32-bit seed for (seed, round, stage, …): FNV-1a over the parts joined by NUL. */
export const deriveSeed = (...parts: ReadonlyArray<string | number>): number => fnv1a(parts.join("\u0000"))

/**
 * The seed of sampling row (promptId, sampleIdx) under a request seed: FNV-1a over the three parts
 * (NUL-separated, so "a"+"1" ≠ "a1"+""), then fmix32 so that neighbouring sample indices get
 * unrelated streams. Each row draws from its own stream, so batching never changes a draw.
 */
export const rowSeed = (seed: number, promptId: string, sampleIdx: number): number =>
  fmix32(fnv1a(`${seed}\u0000${promptId}\u0000${sampleIdx}`))

/** mulberry32: uniform numbers in [0, 1) (initialisation, shuffles, task generators). */
export const mulberry32 = (seed: number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** splitmix32: a Weyl sequence through fmix32; uniform numbers in [0, 1) with 32-bit resolution (sampling draws). */
export const splitmix32 = (seed: number): (() => number) => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x9e3779b9) >>> 0
    return fmix32(state) / 4294967296
  }
}

/** Fisher–Yates shuffle driven by `rand` (a copy; the input is untouched). */
export const shuffled = <A>(items: ReadonlyArray<A>, rand: () => number): Array<A> => {
  const out = items.slice()
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1))
    const t = out[i]!
    out[i] = out[j]!
    out[j] = t
  }
  return out
}
