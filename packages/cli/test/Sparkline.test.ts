import { assert, describe, it } from "@effect/vitest"
import { goldSparklines, sparkline } from "../src/Sparkline.ts"

describe("Sparkline", () => {
  it("one block per value on the given scale; a missing value is a space", () => {
    assert.strictEqual(sparkline([0, 0.5, 1, null, 2, -1], 0, 1), "▁▅█ █▁")
    assert.strictEqual(sparkline([3, 3], 3, 3), "▁▁")
  })

  it("one line per run, on one scale shared by every run", () => {
    const result = {
      columns: ["round", "name", "gold_reward", "run_id"],
      rows: [[0, "a", 0, "A"], [0, "b", 0.2, "B"], [1, "a", 0.4, "A"], [1, "b", 0.1, "B"], [2, "a", 0.8, "A"]]
    }
    assert.strictEqual(goldSparklines(result), [
      "gold reward by round (rounds 0…, one scale 0.000–0.800):",
      "  a  ▁▅█  0.000 → 0.800", // 0.4 of 0.8 is 3.5 of 7 steps: rounds to the 5th block
      "  b  ▃▂  0.200 → 0.100"
    ].join("\n"))
    assert.strictEqual(goldSparklines({ columns: ["round", "name", "gold_reward", "run_id"], rows: [[0, "a", null, "A"]] }), "gold reward by round: no gold reward recorded")
  })
})
