import { assert, describe, it } from "@effect/vitest"
import { createHash } from "node:crypto"
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Tasks } from "@odpo/core"
import { Checkpoint, Gpt } from "@odpo/model"
import { Effect } from "effect"
import { exited, odpo, spawnOdpo } from "./CliProcess.ts"

const tiny = join(import.meta.dirname, "fixtures/tiny-bandit.json")
const sha = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex")

describe("odpo CLI (real processes)", () => {
  it("--help lists the commands", async () => {
    const r = await odpo(["--help"])
    assert.strictEqual(r.code, 0)
    for (const c of ["run", "resume", "query", "compare", "report", "export", "sample", "score", "train-rm"]) assert.include(r.stdout, c)
  })

  it("a live run can be queried and compared from a second process; bad input fails cleanly and leaves the database as it was", async () => {
    const dir = mkdtempSync(join(tmpdir(), "odpo-cli-"))
    const db = join(dir, "odpo.duckdb")
    const marker = join(dir, "paused")
    // the run pauses (alive, mid-stage) before recording round 1's training
    const run = spawnOdpo(["run", tiny, "--db", db, "--name", "live"], { ODPO_PAUSE_BEFORE_RECORD: "1:train", ODPO_PAUSE_MARKER: marker })
    const runExit = exited(run)
    while (!existsSync(marker)) {
      if (run.exitCode !== null) throw new Error((await runExit).stderr)
      await new Promise((r) => setTimeout(r, 100))
    }
    const q = await odpo(["query", "SELECT purpose, count(*) AS n FROM rollouts GROUP BY purpose ORDER BY purpose", "--db", db, "--format", "json"])
    assert.strictEqual(q.code, 0, q.stderr)
    assert.deepStrictEqual(JSON.parse(q.stdout), [{ purpose: "eval", n: 8 }, { purpose: "eval_ref", n: 8 }, { purpose: "train", n: 16 }])
    const c = await odpo(["compare", "live", "--db", db, "--format", "csv"])
    assert.strictEqual(c.code, 0, c.stderr)
    assert.match(c.stdout.split("\n")[1]!, /^0,live,online,sigmoid,/)
    run.kill("SIGKILL")
    await runExit

    const before = sha(db)
    const bad = join(dir, "bad.json")
    writeFileSync(bad, JSON.stringify({ ...JSON.parse(readFileSync(tiny, "utf8")), sampling: { temprature: 0.7 } }))
    const cases: Array<[ReadonlyArray<string>, RegExp]> = [
      [["run", bad, "--db", db], /bad\.json: \$\.sampling\.temprature: unknown field/],
      [["run", join(dir, "missing.json"), "--db", db], /missing\.json: no such experiment file/],
      [["resume", "no-such-run", "--db", db], /no-such-run/],
      [["compare", "live", "nope", "--db", db], /nope/],
      [["query", "SELEC count(*) FROM runs", "--db", db], /syntax error/i],
      [["query", "SELECT missing_column FROM runs", "--db", db], /missing_column/]
    ]
    for (const [args, message] of cases) {
      const r = await odpo(args)
      assert.strictEqual(r.code, 1, `${args.join(" ")}: ${r.stderr}`)
      const lines = r.stderr.trim().split("\n").filter((l) => l.startsWith("odpo: "))
      assert.strictEqual(lines.length, 1, r.stderr)
      assert.match(lines[0]!, message)
    }
    assert.strictEqual(sha(db), before, "a failed command changed the database")
    rmSync(dir, { recursive: true, force: true })
  })

  it("odpo sample then odpo score: JSONL in and out, rewards equal the task's gold", async () => {
    const dir = mkdtempSync(join(tmpdir(), "odpo-sample-"))
    const task = Tasks.getTask({ name: "bandit", mu: 70, sigma: 10, seed: 0, trainPrompts: 4, heldoutPrompts: 4 })
    const model = Gpt.Gpt.init({ vocabSize: task.tokenizer.vocabSize, contextLength: 12, dModel: 16, nLayers: 1, nHeads: 2, dropout: 0 }, 5)
    const ref = await Effect.runPromise(Checkpoint.saveCheckpoint(join(dir, "ckpt"), model, task.tokenizer))
    model.dispose()
    writeFileSync(join(dir, "prompts.jsonl"), `{"id": "a", "prompt": ""}\n{"id": "b", "prompt": "20 21"}\n`)
    const s = await odpo(["sample", "--policy", ref.path, "--prompts", join(dir, "prompts.jsonl"), "-n", "3", "--max-new-tokens", "8", "--seed", "4", "--out", join(dir, "rollouts.jsonl")])
    assert.strictEqual(s.code, 0, s.stderr)
    assert.notInclude(s.stderr, "warning: --max-new-tokens")
    // more new tokens than the context (12) leaves after a prompt: said, with the tightest cap
    const long = await odpo(["sample", "--policy", ref.path, "--prompts", join(dir, "prompts.jsonl"), "-n", "1", "--max-new-tokens", "20", "--out", join(dir, "long.jsonl")])
    assert.strictEqual(long.code, 0, long.stderr)
    const bTokens = 1 + task.tokenizer.encode("20 21").length
    assert.include(long.stderr, `warning: --max-new-tokens 20 is more than the policy's context of 12 tokens leaves after 2 of 2 prompt(s): their completions stop at the context (as few as ${12 - bTokens} tokens, prompt b)`)
    const longest = Math.max(...readFileSync(join(dir, "long.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l).length))
    assert.isAtMost(longest, 11)
    const rollouts = readFileSync(join(dir, "rollouts.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l))
    assert.strictEqual(rollouts.length, 6)
    assert.deepStrictEqual(rollouts.map((r) => [r.promptId, r.sampleIdx]), [["a", 0], ["a", 1], ["a", 2], ["b", 0], ["b", 1], ["b", 2]])
    for (const r of rollouts) {
      assert.strictEqual(r.policyCkpt, ref.id)
      assert.strictEqual(r.tokenLogprobs.length, r.tokenIds.length)
      assert.closeTo(r.logprobSum, r.tokenLogprobs.reduce((a: number, b: number) => a + b, 0), 1e-4)
    }
    const sc = await odpo(["score", "--reward", '{"type": "task"}', "--task", "bandit", "--input", join(dir, "rollouts.jsonl"), "--out", join(dir, "scored.jsonl")])
    assert.strictEqual(sc.code, 0, sc.stderr)
    const scored = readFileSync(join(dir, "scored.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l))
    assert.strictEqual(scored.length, 6)
    for (const r of scored) assert.closeTo(r.reward, Tasks.banditReward(70, 10)(r.tokenIds), 1e-12)
    const bad = await odpo(["score", "--reward", '{"type": "task", "weight": 2}', "--task", "bandit", "--input", join(dir, "rollouts.jsonl"), "--out", join(dir, "x.jsonl")])
    assert.strictEqual(bad.code, 1)
    assert.match(bad.stderr, /weight/)
    const missing = await odpo(["sample", "--policy", join(dir, "nope"), "--prompts", join(dir, "prompts.jsonl"), "--out", join(dir, "y.jsonl")])
    assert.strictEqual(missing.code, 1)
    assert.match(missing.stderr, /nope/)
  })
})
