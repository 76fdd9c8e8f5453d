// A run that cannot use its reward fails before its row is written (a missing ONNX file, a model
// whose tokenizer does not fit the task), and a failed run never hides the good run of its name:
// `compare` and `report` take the newest *finished* run of a name, and say which.
import { assert, describe, it } from "@effect/vitest"
import { RunStore, Tasks } from "@odpo/core"
import { BagOfWords } from "@odpo/scorer"
import { Effect } from "effect"
import { createHash } from "node:crypto"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { storeLayer } from "../src/Services.ts"
import { odpo, runOnly } from "./CliProcess.ts"

const tiny = JSON.parse(readFileSync(join(import.meta.dirname, "fixtures/tiny-bandit.json"), "utf8"))
const sha = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex")

describe("failed commands leave no run row; a name means its newest finished run", () => {
  it.live("a missing or unfitting ONNX reward is refused with the database unchanged; compare and report skip a newer failed run", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "odpo-failed-"))
      const db = join(dir, "odpo.duckdb")
      const good = yield* Effect.promise(() => odpo(["run", join(import.meta.dirname, "fixtures/tiny-bandit.json"), "--db", db]))
      assert.strictEqual(good.code, 0, good.stderr)
      const finished = yield* runOnly(db)
      const before = sha(db)

      // a review-text model without its tokenizer.json: the bandit task's 103-token tokenizer is lent, and does not fit its 31 rows
      const model = join(dir, "rm", "model.onnx")
      const weights = BagOfWords.randomBagOfWords({ vocabSize: Tasks.reviewTokenizer.vocabSize, dim: 4, labels: 1, seed: 1 })
      yield* BagOfWords.writeBagOfWordsRewardModel(model, { tokenizer: Tasks.reviewTokenizer, weights })
      rmSync(join(dir, "rm", "tokenizer.json"))
      const config = (name: string, path: string) => {
        const file = join(dir, `${name}.json`)
        writeFileSync(file, JSON.stringify({ ...tiny, reward: { type: "onnx", path } }))
        return file
      }
      const cases: Array<[string, RegExp]> = [
        [config("missing", join(dir, "nope.onnx")), /cannot read reward model \S+nope\.onnx: .*check the reward spec's "path"/],
        [config("unfit", model), /the tokenizer has 103 tokens but the model's embedding has 31 rows: use the tokenizer the model was trained with/]
      ]
      for (const [file, message] of cases) {
        const r = yield* Effect.promise(() => odpo(["run", file, "--db", db]))
        assert.strictEqual(r.code, 1, r.stderr)
        const lines = r.stderr.split("\n").filter((l) => l.startsWith("odpo: "))
        assert.strictEqual(lines.length, 1, r.stderr)
        assert.match(lines[0]!, message)
        assert.notMatch(r.stderr, /round 0 · sft/) // refused before any training
      }
      assert.strictEqual(sha(db), before, "a refused run wrote to the database")

      // a newer run of the same name that failed (as a crash in round 1 leaves it)
      yield* Effect.gen(function*() {
        const store = yield* RunStore.RunStore
        yield* store.createRun({ ...finished, runId: "tiny-newer-failed", status: "failed", createdAt: new Date(Date.now() + 1000).toISOString() })
      }).pipe(Effect.provide(storeLayer(db)))
      const compared = yield* Effect.promise(() => odpo(["compare", "tiny", "--db", db, "--format", "json"]))
      assert.strictEqual(compared.code, 0, compared.stderr)
      const rows = JSON.parse(compared.stdout) as Array<{ round: number; run_id: string }>
      assert.deepStrictEqual(rows.map((r) => [r.round, r.run_id]), [0, 1, 2].map((r) => [r, finished.runId]))
      assert.include(compared.stderr, `"tiny" is run ${finished.runId} (finished), the newest finished run of that name; newer, not finished: tiny-newer-failed (failed)`)
      // every pair the finished run trained on has its implicit reward under π_r, asked of the newest finished run by name
      const asked = yield* Effect.promise(() => odpo(["query",
        "SELECT (SELECT count(*) FROM pairs WHERE run_id = latest_run('tiny')) AS pairs, count(*) AS rewarded, latest_run('tiny') AS run FROM pair_rewards WHERE run_id = latest_run('tiny')",
        "--db", db, "--format", "json"]))
      assert.strictEqual(asked.code, 0, asked.stderr)
      const [answer] = JSON.parse(asked.stdout) as Array<{ pairs: number; rewarded: number; run: string }>
      assert.isAbove(answer!.pairs, 0)
      assert.deepStrictEqual(answer, { pairs: answer!.pairs, rewarded: answer!.pairs, run: finished.runId })
      // train-rm --db: a stored run's pairs, by name (the newest finished run), from the database the flag names
      const rm = join(dir, "rm.json")
      writeFileSync(rm, JSON.stringify({ task: tiny.task, source: { run: "tiny" }, model: { contextLength: 11, dModel: 8, nLayers: 1, nHeads: 2 }, steps: 3, batchSize: 4, out: join(dir, "rm-out", "rm.onnx") }))
      const trained = yield* Effect.promise(() => odpo(["train-rm", rm, "--db", db, "--backend", "cpu"]))
      assert.strictEqual(trained.code, 0, trained.stderr)
      assert.include(trained.stdout, `reward model: ${answer!.pairs} pairs,`)
      const reported = yield* Effect.promise(() => odpo(["report", "tiny", "--db", db, "--out", join(dir, "r.html")]))
      assert.strictEqual(reported.code, 0, reported.stderr)
      const [, drawn, all] = reported.stdout.match(/(\d+) of (\d+) charts drawn/)!
      assert.isAbove(Number(drawn), 0)
      assert.isAtLeast(Number(all), Number(drawn))
      assert.include(reported.stderr, `"tiny" is run ${finished.runId} (finished)`)
    }))
})
