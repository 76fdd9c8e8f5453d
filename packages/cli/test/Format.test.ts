import { assert, describe, it } from "@effect/vitest"
import { formatCsv, formatTable, shellQuote } from "../src/Format.ts"
import { formatRate } from "../src/ProgressBar.ts"

describe("Format", () => {
  it("one number format per column: integers, four decimals, or exponents when the column's scale is huge or tiny", () => {
    const table = formatTable({
      columns: ["round", "reward", "kl", "p", "name"],
      rows: [[0, 1, 5.127e-7, 2e-5, "a"], [1, 0.5, 0.25, 3.5e-4, "b"], [2, 0.125, null, 1e-6, "c"]]
    })
    assert.strictEqual(table, [
      "round  reward      kl         p  name",
      "─────  ──────  ──────  ────────  ────",
      "    0  1.0000  0.0000  2.000e-5  a",
      "    1  0.5000  0.2500  3.500e-4  b",
      "    2  0.1250          1.000e-6  c",
      "(3 rows)"
    ].join("\n"))
    // CSV keeps full precision
    assert.strictEqual(formatCsv({ columns: ["x"], rows: [[5.127e-7]] }), "x\n5.127e-7")
  })

  it("rates at three significant digits; shell words quoted only when they need it", () => {
    assert.deepStrictEqual([64000, 642.4, 12.34, 1.5, 0.52].map(formatRate), ["64.0k", "642", "12.3", "1.50", "0.52"])
    assert.strictEqual(shellQuote("tiny-20250101-ab12"), "tiny-20250101-ab12")
    assert.strictEqual(shellQuote("my run"), "'my run'")
    assert.strictEqual(shellQuote("it's"), "'it'\\''s'")
  })
})
