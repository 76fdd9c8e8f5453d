import { assert, describe, it } from "@effect/vitest"
import { editDistance, inList, nearNames } from "../src/Selection.ts"

describe("Selection", () => {
  it("edit distance and near names for a mistyped --study prefix", () => {
    assert.strictEqual(editDistance("kitten", "sitting"), 3)
    assert.strictEqual(editDistance("", "abc"), 3)
    assert.strictEqual(editDistance("same", "same"), 0)
    const names = ["bandit-mu70-online-s0", "bandit-mu70-offline-s0", "sentiment-online-s0", "arith-kto-s1", "bandit-mu70-online-s0"]
    // "bandt-mu70" is one edit from the start of every bandit name; ties go to the shorter whole-name distance
    assert.deepStrictEqual(nearNames("bandt-mu70", names, 3), ["bandit-mu70-online-s0", "bandit-mu70-offline-s0", "arith-kto-s1"])
    assert.deepStrictEqual(nearNames("sentimnt", names, 1), ["sentiment-online-s0"])
  })

  it("run ids are quoted for SQL", () => {
    assert.strictEqual(inList([{ runId: "a" }, { runId: "o'brien" }]), "('a', 'o''brien')")
  })
})
