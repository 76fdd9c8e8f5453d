import { assert, describe, it } from "@effect/vitest"
import { createHash } from "node:crypto"
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { exited, odpo, spawnOdpo } from "./CliProcess.ts"

const tiny = join(import.meta.dirname, "fixtures/tiny-bandit.json")
const sha = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex")

describe("odpo CLI (real processes)", () => {
  it("--help lists the commands", async () => {
    const r = await odpo(["--help"])
    assert.strictEqual(r.code, 0)
    for (const c of ["run", "resume", "query", "compare", "sample", "score", "train-rm"]) assert.include(r.stdout, c)
  })

  it("a live run can be queried and compared from a second process; bad input fails cleanly and leaves the database as it was", async () => {
    const dir = mkdtempSync(join(tmpdir(), "odpo-cli-"))
    const db = join(dir, "odpo.duckdb")
    const marker = join(dir, "paused")
    // the run pauses (alive, mid-stage) before recording round 1's training
    const run = spawnOdpo(["run", tiny, "--db", db, "--name", "live"], { ODPO_PAUSE_BEFORE_RECORD: "1:train", ODPO_PAUSE_MARKER: marker })
    const runExit = exited(run)
    const deadline = Date.now() + 150_000
    while (!existsSync(marker)) {
      if (run.exitCode !== null) throw new Error((await runExit).stderr)
      if (Date.now() > deadline) throw new Error("the run never reached round 1's training")
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
  }, 400_000)
})
