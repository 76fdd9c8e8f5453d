/** Seeds for every random choice, derived from (run seed, round, stage) so runs are reproducible. */
/** A small deterministic PRNG (mulberry32) (initialisation, shuffles, task generators). */
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


/** FNV-1a over the parts' text: a stable 32-bit seed for (seed, round, stage, …). */
export const deriveSeed = (...parts: ReadonlyArray<string | number>): number => {
  let h = 0x811c9dc5
  for (const ch of parts.join("\u0000")) {
    h ^= ch.codePointAt(0)!
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h >>> 0
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
