/** Per-row random streams: each (seed, promptId, sampleIdx) draws from its own, so batching never changes a draw. */

/** murmur3's 32-bit finaliser: every input bit flips each output bit with probability ~½. */
const fmix32 = (h: number): number => {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/**
 * The seed of row (promptId, sampleIdx) under a request seed: FNV-1a over the three parts
 * (NUL-separated, so "a"+"1" ≠ "a1"+""), then fmix32 so that neighbouring sample indices get
 * unrelated streams. Any integer seed is accepted (its decimal text is hashed).
 */
export const rowSeed = (seed: number, promptId: string, sampleIdx: number): number => {
  let h = 0x811c9dc5
  const text = `${seed}\u0000${promptId}\u0000${sampleIdx}`
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return fmix32(h)
}

/** splitmix32: a Weyl sequence through fmix32; uniform numbers in [0, 1) with 32-bit resolution. */
export const splitmix32 = (seed: number): (() => number) => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x9e3779b9) >>> 0
    return fmix32(state) / 4294967296
  }
}
