// A runs folder moves and copies whole: checkpoint paths are recorded relative to the database's
// folder, so `odpo resume` after `mv A B` finishes in B (nothing written back into A), and a copy
// reads its own weights, never the original folder's.
import { assert, describe, it } from "@effect/vitest"
import { RunStore } from "@odpo/core"
import { Effect } from "effect"
import { cpSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { storeLayer } from "../src/Services.ts"
import { killBeforeRecording, odpo, runOnly } from "./CliProcess.ts"

const config = join(import.meta.dirname, "fixtures/tiny-bandit.json")

const checkpointPaths = (db: string) =>
  Effect.gen(function*() {
    const store = yield* RunStore.RunStore
    const raw = (yield* store.query("SELECT ckpt_id, path FROM checkpoints ORDER BY ckpt_id")).rows as ReadonlyArray<[string, string]>
    const resolved = yield* Effect.forEach(raw, ([id]) => Effect.map(store.readCheckpoint(id), (c) => c!.path))
    return { raw, resolved }
  }).pipe(Effect.provide(storeLayer(db)))

describe("a runs folder that moves", () => {
  it.live("killed in A, moved to B, resumed in B: finished with every checkpoint in B; a copy C reads only its own", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "odpo-moved-"))
      mkdirSync(join(dir, "A"))
      yield* Effect.promise(() => killBeforeRecording(["run", config, "--db", join(dir, "A", "a.duckdb")], "1:train", dir))
      renameSync(join(dir, "A"), join(dir, "B"))
      const b = join(dir, "B", "a.duckdb")
      const resumed = yield* Effect.promise(() => odpo(["resume", "tiny", "--db", b]))
      assert.strictEqual(resumed.code, 0, resumed.stderr)
      assert.strictEqual((yield* runOnly(b)).status, "finished")
      assert.isFalse(existsSync(join(dir, "A")), "resume wrote into the folder the runs moved from")
      const { raw, resolved } = yield* checkpointPaths(b)
      assert.isAtLeast(raw.length, 4) // init, π₀, and one per round
      for (const [id, path] of raw) assert.strictEqual(path, join("checkpoints", id))
      for (const path of resolved) assert.isTrue(path.startsWith(join(dir, "B", "checkpoints")) && existsSync(path), path)

      // a copy, with the original gone: a new run there reuses the copy's π₀ and resolves into C
      cpSync(join(dir, "B"), join(dir, "C"), { recursive: true })
      rmSync(join(dir, "B"), { recursive: true })
      const c = join(dir, "C", "a.duckdb")
      const again = yield* Effect.promise(() => odpo(["run", config, "--db", c, "--name", "tiny-again"]))
      assert.strictEqual(again.code, 0, again.stderr)
      assert.match(again.stderr, /π₀ \w+ reused/)
      const copied = yield* checkpointPaths(c)
      for (const path of copied.resolved) assert.isTrue(path.startsWith(join(dir, "C", "checkpoints")) && existsSync(path), path)
    }))
})
