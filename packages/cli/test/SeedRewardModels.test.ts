// One reward model per seed: `odpo train-rm --seed N` with `{seed}` in `out`, and a run config whose
// reward path names `{seed}` scores seed N with model N (the path stored filled in); a seed whose
// model was never trained is refused, naming the file, with the database unchanged.
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { createHash } from "node:crypto"
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { odpo } from "./CliProcess.ts"

const tiny = JSON.parse(readFileSync(join(import.meta.dirname, "fixtures/tiny-bandit.json"), "utf8"))
const sha = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex")

describe("a reward model per seed ({seed} in train-rm's out and in a reward's path)", () => {
  it.live("train-rm --seed writes each seed's model; run --seed N scores with model N; a missing seed's model is refused", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "odpo-seed-rm-"))
      const rmConfig = join(dir, "rm.json")
      writeFileSync(rmConfig, JSON.stringify({
        task: tiny.task, pairs: 40, model: { contextLength: 11, dModel: 8, nLayers: 1, nHeads: 2 }, steps: 4, batchSize: 8,
        out: join(dir, "rm", "bandit-rm-s{seed}.onnx")
      }))
      for (const seed of [1, 2]) {
        const trained = yield* Effect.promise(() => odpo(["train-rm", rmConfig, "--seed", String(seed), "--backend", "cpu"]))
        assert.strictEqual(trained.code, 0, trained.stderr)
        assert.include(trained.stdout, `→ ${join(dir, "rm", `bandit-rm-s${seed}.onnx`)}`)
      }
      assert.isFalse(existsSync(join(dir, "rm", "bandit-rm-s{seed}.onnx")))
      // different seeds: different pairs drawn, initialisation and batches, so different weights
      assert.notStrictEqual(sha(join(dir, "rm", "bandit-rm-s1.onnx")), sha(join(dir, "rm", "bandit-rm-s2.onnx")))

      const config = join(dir, "per-seed.json")
      writeFileSync(config, JSON.stringify({ ...tiny, rounds: 1, reward: { type: "onnx", path: join(dir, "rm", "bandit-rm-s{seed}.onnx") } }))
      const db = join(dir, "odpo.duckdb")
      for (const seed of [1, 2]) {
        const r = yield* Effect.promise(() => odpo(["run", config, "--db", db, "--seed", String(seed), "--name", `per-seed-s${seed}`, "--backend", "cpu"]))
        assert.strictEqual(r.code, 0, r.stderr)
      }
      const stored = yield* Effect.promise(() =>
        odpo(["query", "SELECT name, seed, config->>'$.reward.path' AS path FROM runs ORDER BY name", "--db", db, "--format", "json"]))
      assert.strictEqual(stored.code, 0, stored.stderr)
      assert.deepStrictEqual(JSON.parse(stored.stdout), [1, 2].map((s) => ({ name: `per-seed-s${s}`, seed: s, path: join(dir, "rm", `bandit-rm-s${s}.onnx`) })))

      const before = sha(db)
      const refused = yield* Effect.promise(() => odpo(["run", config, "--db", db, "--seed", "3", "--name", "per-seed-s3", "--backend", "cpu"]))
      assert.strictEqual(refused.code, 1, refused.stderr)
      assert.match(refused.stderr, /cannot read reward model \S+bandit-rm-s3\.onnx: .*check the reward spec's "path"/)
      assert.strictEqual(sha(db), before, "a refused run wrote to the database")
    }))
})
