// Every experiment file decodes (extends resolved), fits its task, and has its own name; every
// reward-model file decodes; every study script names files that exist. No run: see experiments/smoke.ts.
import { assert, describe, it } from "@effect/vitest"
import { TrainRm } from "@odpo/cli"
import { Checkpoints, ConfigFile, Run, RunStore, Scorer } from "@odpo/core"
import { Effect, Layer, Schema } from "effect"
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, relative, resolve } from "node:path"

const root = resolve(import.meta.dirname, "../..")
const experiments = join(root, "experiments")

/** JSON files under experiments/ (node_modules and results excluded). */
const jsonFiles = (dir: string): Array<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? (e.name === "node_modules" || e.name === "results" ? [] : jsonFiles(join(dir, e.name)))
      : e.name.endsWith(".json") && e.name !== "package.json" ? [join(dir, e.name)] : [])

/** Reward-model configs (`odpo train-rm`) are named rm*.json; everything else is an experiment. */
const isRewardModel = (file: string) => /(^|\/)rm[^/]*\.json$/.test(file)
const files = jsonFiles(experiments)
const runFiles = files.filter((f) => !isRewardModel(f))
const rmFiles = files.filter(isRewardModel)
const raw = (file: string) => JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>

describe("experiments/", () => {
  it("holds the study configs", () => {
    assert.isAtLeast(runFiles.length, 60)
    assert.isAtLeast(rmFiles.length, 3)
  })

  it.live("every experiment decodes, fits its task's prompts and context, and has a name of its own", () => {
    const db = join(mkdtempSync(join(tmpdir(), "odpo-experiments-")), "odpo.duckdb")
    return Effect.gen(function*() {
      const names = new Map<string, string>()
      for (const file of runFiles) {
        const where = relative(root, file)
        const config = yield* ConfigFile.readRunConfigFile(file).pipe(Effect.mapError((e) => new Error(`${where}: ${e.message}`)))
        // the name is the file's own, never inherited from the file it extends (run names must tell arms apart)
        assert.strictEqual(raw(file).name, config.name, `${where} must set its own "name"`)
        assert.isFalse(names.has(config.name), `${where} and ${names.get(config.name)} share the name ${config.name}`)
        names.set(config.name, where)
        // createRun validates against the task (context length, held-out prompts) before it writes
        // (the test scorer: reward-model files under runs/rm/ are made by train-rm, not kept in git)
        yield* Run.createRun(config, { checkpointRoot: join(db, "..", "ckpt") }).pipe(Effect.mapError((e) => new Error(`${where}: ${e.message}`)))
      }
      assert.strictEqual(names.size, runFiles.length)
    }).pipe(Effect.provide(Layer.mergeAll(RunStore.RunStore.layer(db), Checkpoints.Checkpoints.layerTest, Scorer.Scorer.layerTest)))
  })

  it.effect("every reward-model config decodes", () =>
    Effect.gen(function*() {
      for (const file of rmFiles) {
        const config = yield* Schema.decodeUnknownEffect(TrainRm.TrainRmConfig)(raw(file), { onExcessProperty: "error" })
        assert.match(config.out, /^runs\/rm\/.+\.onnx$/, relative(root, file))
      }
    }))

  it("every study script runs files that exist", () => {
    // the study scripts: every one that runs seeds.sh (lib.sh and all.sh only help)
    const scripts = readdirSync(join(root, "scripts/studies"))
      .filter((f) => f.endsWith(".sh") && readFileSync(join(root, "scripts/studies", f), "utf8").includes("scripts/seeds.sh"))
    assert.isAtLeast(scripts.length, 11)
    for (const script of scripts) {
      const text = readFileSync(join(root, "scripts/studies", script), "utf8")
      const named = [...text.matchAll(/experiments\/[\w./-]+\.json/g)].map((m) => m[0])
      assert.isAbove(named.length, 0, script)
      for (const f of named) assert.isTrue(existsSync(join(root, f)), `${script} names ${f}, which does not exist`)
    }
  })
})
