// Experiment files: `extends` chains resolved relative to each file, objects merged, errors that name the file.
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { overlay, readRunConfigFile } from "../src/ConfigFile.ts"

const dir = () => mkdtempSync(join(tmpdir(), "odpo-config-"))
const write = (file: string, json: unknown) => writeFileSync(file, typeof json === "string" ? json : JSON.stringify(json))

describe("ConfigFile", () => {
  it("overlay merges objects key by key and replaces arrays and scalars", () => {
    assert.deepStrictEqual(
      overlay({ a: 1, b: { c: 2, d: [1, 2] }, e: "x" }, { b: { d: [3], f: null }, e: "y", g: true }),
      { a: 1, b: { c: 2, d: [3], f: null }, e: "y", g: true }
    )
  })

  it.effect("an arm extends its base (through a chain, relative paths) and overrides only what it names", () =>
    Effect.gen(function*() {
      const d = dir()
      mkdirSync(join(d, "arms"))
      write(join(d, "base.json"), { name: "base", task: { name: "bandit", mu: 20 }, loss: { type: "sigmoid", beta: 0.1 }, sampling: { stop: ["x"] } })
      write(join(d, "arms", "mid.json"), { extends: "../base.json", name: "mid", loss: { beta: 5 } })
      write(join(d, "arms", "leaf.json"), { extends: "mid.json", name: "leaf", loss: { type: "ipo" }, sampling: { stop: [] } })
      const c = yield* readRunConfigFile(join(d, "arms", "leaf.json"))
      assert.deepStrictEqual([c.name, c.task.name, c.task.mu, c.loss.type, c.loss.beta, c.sampling.stop], ["leaf", "bandit", 20, "ipo", 5, []])
      assert.strictEqual(c.pairing.strategy, "max_min") // defaults still fill the rest
    }))

  it.effect("a missing base, a cycle, a non-string extends and a bad field are errors naming the file", () =>
    Effect.gen(function*() {
      const d = dir()
      write(join(d, "orphan.json"), { extends: "gone.json", task: { name: "bandit" } })
      const missing = yield* Effect.flip(readRunConfigFile(join(d, "orphan.json")))
      assert.include(missing.message, "orphan.json: $.extends names")
      assert.include(missing.message, "gone.json, which does not exist")
      write(join(d, "a.json"), { extends: "b.json" })
      write(join(d, "b.json"), { extends: "a.json" })
      assert.include((yield* Effect.flip(readRunConfigFile(join(d, "a.json")))).message, "$.extends forms a cycle")
      write(join(d, "num.json"), { extends: 3 })
      assert.include((yield* Effect.flip(readRunConfigFile(join(d, "num.json")))).message, "$.extends must be a file name")
      write(join(d, "base.json"), { task: { name: "bandit" } })
      write(join(d, "typo.json"), { extends: "base.json", loss: { bta: 1 } })
      const typo = yield* Effect.flip(readRunConfigFile(join(d, "typo.json")))
      assert.strictEqual(typo.path, "$.loss.bta")
      assert.include(typo.message, "typo.json")
      const none = yield* Effect.flip(readRunConfigFile(join(d, "nope.json")))
      assert.include(none.message, "no such experiment file")
      write(join(d, "broken.json"), "{ nope")
      assert.include((yield* Effect.flip(readRunConfigFile(join(d, "broken.json")))).message, "not valid JSON")
    }))
})
