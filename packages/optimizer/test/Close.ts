/** The tests' comparison of float32 results with PyTorch's float64 reference numbers. */
import { assert } from "@effect/vitest"

/** Within 1e-5 relative (float32 against float64), with an absolute floor for values near 0. */
export const close = (actual: ArrayLike<number>, expected: ReadonlyArray<number>, what: string, floor = 1e-7) => {
  assert.strictEqual(actual.length, expected.length, what)
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!
    const e = expected[i]!
    assert.isTrue(Number.isFinite(a), `${what}[${i}] is ${a}`)
    assert.isAtMost(Math.abs(a - e), 1e-5 * Math.abs(e) + floor, `${what}[${i}]: ${a} vs ${e}`)
  }
}
