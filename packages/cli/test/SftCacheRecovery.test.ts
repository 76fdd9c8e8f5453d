// A π₀ in the SFT cache whose files are damaged is made again (SFT is a pure function of its
// inputs), not failed on by every new run: the next run warns, re-makes the same π₀, and finishes.
import { assert, describe, it } from "@effect/vitest"
import { RunStore } from "@odpo/core"
import { Effect } from "effect"
import { createHash } from "node:crypto"
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { storeLayer } from "../src/Services.ts"
import { odpo } from "./CliProcess.ts"

const config = join(import.meta.dirname, "fixtures/tiny-bandit.json")

const runs = (db: string) =>
  Effect.gen(function*() {
    const store = yield* RunStore.RunStore
    const all = yield* store.listRuns()
    return yield* Effect.forEach(all, (r) => Effect.map(store.listRounds(r.runId), (rounds) => ({ status: r.status, pi0: rounds[0]?.policyCkpt, code: r.codeVersion })))
  }).pipe(Effect.provide(storeLayer(db)))

describe("the SFT cache", () => {
  it.live("a damaged cached π₀ is made again by the next run, which finishes with the same π₀; no failed row", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "odpo-sft-cache-"))
      const db = join(dir, "odpo.duckdb")
      const first = yield* Effect.promise(() => odpo(["run", config, "--db", db]))
      assert.strictEqual(first.code, 0, first.stderr)
      const [{ pi0 }] = yield* runs(db)
      const weights = join(dir, "checkpoints", pi0!, "model.safetensors")
      const bytes = readFileSync(weights)
      for (let i = bytes.length - 64; i < bytes.length; i++) bytes[i] = 255 - bytes[i]!
      writeFileSync(weights, bytes)

      const second = yield* Effect.promise(() => odpo(["run", config, "--db", db, "--name", "tiny-2"]))
      assert.strictEqual(second.code, 0, second.stderr)
      assert.match(second.stderr, new RegExp(`warning: round 0: the SFT cache's checkpoint ${pi0!.slice(0, 12)} is damaged \\(.*\\): making π₀ again`))
      assert.strictEqual(createHash("sha256").update(readFileSync(weights)).digest("hex"), pi0, "π₀'s weights were not made whole again")
      const third = yield* Effect.promise(() => odpo(["run", config, "--db", db, "--name", "tiny-3"]))
      assert.strictEqual(third.code, 0, third.stderr)
      assert.match(third.stderr, new RegExp(`round 0: π₀ ${pi0!.slice(0, 12)} reused`))
      // runs.code_version is the build that ran it (from the sources: a hash of packages/<name>/src), the same for all three
      const all = yield* runs(db)
      assert.match(all[0]!.code, /^\d+\.\d+\.\d+\+src\.[0-9a-f]{12}$/)
      assert.deepStrictEqual(all, [1, 2, 3].map(() => ({ status: "finished", pi0, code: all[0]!.code })))
    }))
})
