// `odpo compare --study` as a user runs it, on a committed results database (real DuckDB, read
// only): per-round intervals, a measure per arm, a claimed pair with its verdict, the per-seed SQL
// that `odpo query` runs as is, and bad flags failing with one clear message.
import { assert, describe, it } from "@effect/vitest"
import { statSync } from "node:fs"
import { join } from "node:path"
import { odpo, repoRoot } from "./CliProcess.ts"

// the rlhf-vs-dpo study's bandit arms (5 seeds): its online and offline DPO arms are the bandit study's μ = 70 configs
const db = join(repoRoot, "experiments/rlhf-vs-dpo/results/rlhf-vs-dpo.duckdb.gz")

describe("odpo compare --study", () => {
  it("bandit: means over seeds with bootstrap intervals, the paired difference and its verdict", async () => {
    const before = statSync(db).mtimeMs
    const r = await odpo(["compare", "--study", "bandit-", "--db", db, "--measure", "round:8", "--pair", "online-dpo>offline-dpo", "--pair", "bandit-ppo=bandit-offline-dpo", "--format", "json"])
    assert.strictEqual(r.code, 0, r.stderr)
    const out = JSON.parse(r.stdout)
    assert.match(out.study, /20 runs in 4 arms · gold_reward · bootstrap: 10000 resamples/)
    assert.strictEqual(out.measure, "gold_reward at round 8")
    // 4 arms × rounds 0–8
    assert.strictEqual(out.per_round.length, 36)
    const online8 = out.per_round.find((x: any) => x.arm === "bandit-online-dpo" && x.round === 8)
    assert.strictEqual(online8.seeds, 5)
    assert.closeTo(online8.mean, 0.7571, 5e-5)
    // 5 seeds (0.736 … 0.788): the bootstrap interval of the mean lies inside the seeds' range
    assert.closeTo(online8.lo, 0.7425, 5e-5)
    assert.closeTo(online8.hi, 0.7731, 5e-5)
    const offline = out.per_arm.find((x: any) => x.arm === "bandit-offline-dpo")
    assert.closeTo(offline.mean, 0.1381, 5e-5)
    const [far, near] = out.pairs
    assert.strictEqual(far.claim, "bandit-online-dpo > bandit-offline-dpo")
    assert.closeTo(far["A − B"], 0.6189, 5e-5)
    assert.closeTo(far.lo, 0.5046, 5e-5)
    assert.closeTo(far.hi, 0.7317, 5e-5)
    // every one of the 5 differences positive: 2 of the 2⁵ sign flips reach the observed |sum|
    assert.strictEqual(far["p (sign-flip)"], 0.0625)
    assert.strictEqual(far.verdict, "holds")
    // a claimed tie of PPO-clip and offline DPO: no difference detected (the interval spans 0)
    assert.strictEqual(near.claim, "bandit-ppo = bandit-offline-dpo")
    assert.strictEqual(near.verdict, "not detected")
    assert.closeTo(near.lo, -0.2049, 5e-5)
    assert.closeTo(near.hi, 0.0023, 5e-5)
    // the per-seed SQL runs as is under odpo query and gives the seeds the means came from
    const q = await odpo(["query", out.measure_sql, "--db", db, "--format", "json"])
    assert.strictEqual(q.code, 0, q.stderr)
    const seeds = JSON.parse(q.stdout).filter((x: any) => x.arm === "bandit-online-dpo")
    assert.deepStrictEqual(seeds.map((x: any) => x.seed), [0, 1, 2, 3, 4])
    assert.closeTo(seeds.reduce((s: number, x: any) => s + x.value, 0) / 5, 0.7571, 5e-5)
    const values = seeds.map((x: any) => x.value as number)
    assert.isTrue(Math.min(...values) < online8.lo && online8.hi < Math.max(...values))
    assert.strictEqual(statSync(db).mtimeMs, before)
  })

  it("the table format prints the sections and the SQL; best, auc and change measures", async () => {
    const t = await odpo(["compare", "--study", "bandit-", "--db", db, "--measure", "auc", "--pair", "online-dpo>offline-dpo"])
    assert.strictEqual(t.code, 0, t.stderr)
    assert.include(t.stdout, "per round: mean over seeds and its interval [lo, hi]")
    assert.include(t.stdout, "measure: area under gold_reward over rounds 0…last")
    assert.include(t.stdout, "per-seed SQL (odpo query runs it as is):")
    const best = JSON.parse((await odpo(["compare", "--study", "bandit-", "--db", db, "--measure", "best", "--format", "json"])).stdout)
    // offline DPO (μ = 70) peaks at round 3 on seeds 0, 1 and 3 (0.105, 0.204, 0.312), at the last round on seeds 2 and 4 (0.294, 0.277)
    const off = best.per_arm.find((x: any) => x.arm === "bandit-offline-dpo")
    assert.strictEqual(off["at round"], "3 8")
    const change = JSON.parse((await odpo(["compare", "--study", "bandit-", "--db", db, "--measure", "change:0:8", "--pair", "online-dpo>0", "--format", "json"])).stdout)
    assert.closeTo(change.pairs[0]["A − B"], 0.7569, 1e-3)
    assert.strictEqual(change.pairs[0].verdict, "holds")
  })

  it("bad flags fail with one message naming the flag and the choices", async () => {
    const cases: Array<[Array<string>, RegExp]> = [
      [["--measure", "peak"], /--measure "peak": not a measure; write round:N/],
      [["--metric", "goldd"], /--metric "goldd": not a held-out metric; take a column \(gold_reward/],
      [["--pair", "online>offline"], /--pair "online>offline": no arm "online" in study bandit-; its arms: bandit-offline-dpo, bandit-online-dpo/],
      [["--pair", "online-dpo"], /--pair "online-dpo": write ARM>ARM/],
      [["--measure", "round:8", "--max-kl", "2"], /--max-kl applies to best only/],
      [["--resamples", "10"], /--resamples 10: take at least 100/],
      [["bandit-online-dpo-s0"], /name runs or --study PREFIX, not both/],
      [["--measure", "round:12", "--pair", "online-dpo>offline-dpo"], /--pair "bandit-online-dpo > bandit-offline-dpo": no seed has a value of gold_reward at round 12 in both arms/]
    ]
    const exits = await Promise.all(cases.map(([extra]) => odpo(["compare", "--study", "bandit-", "--db", db, ...extra])))
    cases.forEach(([extra, message], i) => {
      assert.strictEqual(exits[i]!.code, 1, `${extra.join(" ")}: ${exits[i]!.stdout}`)
      assert.match(exits[i]!.stderr, message)
    })
    const stray = await odpo(["compare", "bandit-online-dpo-s0", "--db", db, "--pair", "a>b"])
    assert.strictEqual(stray.code, 1)
    assert.match(stray.stderr, /--pair, --measure and --max-kl take --study PREFIX/)
    const none = await odpo(["compare", "--study", "nope-", "--db", db])
    assert.strictEqual(none.code, 1)
    assert.match(none.stderr, /--study "nope-": no run name in .* starts with it/)
  })
})
