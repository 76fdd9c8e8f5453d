/**
 * Seeded randomness for training (shuffles, batch draws, dropout seeds). Mirrors core's Seeds.ts,
 * which is not exported from @odpo/core's index yet; switch to it once it is.
 */
import { Gpt } from "@odpo/core"

export const mulberry32 = Gpt.mulberry32

/** FNV-1a over the parts' text: a stable 32-bit seed for (seed, stage, …). */
export const deriveSeed = (...parts: ReadonlyArray<string | number>): number => {
  let h = 0x811c9dc5
  for (const ch of parts.join("\u0000")) {
    h ^= ch.codePointAt(0)!
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h >>> 0
}

/** Fisher–Yates shuffle driven by `rand` (a copy). */
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
