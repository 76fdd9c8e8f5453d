// The READMEs' verdict tables are the tool's numbers: every claim of Claims.ts recomputed by
// `odpo compare --study` on the committed results databases must give the README blocks as they
// are; and the bandit study's headline interval, recomputed here from its per-seed rows by hand.
import { assert, describe, it } from "@effect/vitest"
import { RunStore } from "@odpo/core"
import { Effect } from "effect"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { Services } from "@odpo/cli"
import { block, claims, evaluate, expected, root } from "../Verdicts.ts"

describe("study verdicts", () => {
  it.live("every README verdict block is what odpo compare --study computes from the committed databases", () =>
    Effect.gen(function*() {
      const cs = claims()
      assert.isAtLeast(cs.length, 50)
      const es = yield* evaluate(cs)
      for (const e of es) assert.isAtLeast(e.result.n, 3, `${e.claim.study}: ${e.claim.claim} has ${e.result.n} matched seeds`)
      for (const want of expected(es)) {
        const text = readFileSync(join(root, want.file), "utf8")
        const have = block(text, want.name)
        assert.isDefined(have, `${want.file}: no "verdicts: ${want.name}" block`)
        // run scripts/studies/verdicts.ts --write when the tool or a database changed on purpose
        assert.strictEqual(have, want.text, `${want.file} (${want.name}) is not what the tool computes`)
      }
    }))

  it.live("bandit, μ = 70 online − offline at round 8 over 10 seeds: the tool's numbers are numpy's on the database's per-seed differences", () =>
    Effect.gen(function*() {
      const db = join(root, "experiments/bandit/results/bandit.duckdb.gz")
      const rows = yield* Effect.flatMap(RunStore.RunStore, (s) =>
        s.query(`SELECT o.seed, o.gold_reward - f.gold_reward AS d
          FROM run_compare o JOIN run_compare f ON f.seed = o.seed AND f.round = o.round
          WHERE o.name LIKE 'bandit-mu70-online-s%' AND f.name LIKE 'bandit-mu70-offline-s%' AND o.round = 8 ORDER BY o.seed`)
      ).pipe(Effect.provide(Services.storeLayer(db, { create: false })))
      const d = rows.rows.map((r) => Number(r[1]))
      assert.deepStrictEqual(rows.rows.map((r) => Number(r[0])), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
      const [e] = yield* evaluate(claims().filter((c) => c.study === "bandit" && c.pair === "mu70-online>mu70-offline"))
      const r = e!.result
      assert.deepStrictEqual(r.differences, d)
      // /usr/bin/python3 scripts/statistics_reference.py --diffs <d, as printed by the query above>
      // (numpy on the same mulberry32 indices; the p-value enumerated over the 2^10 sign vectors)
      const numpy = { mean: 0.598647582875848, lo: 0.5111560956323946, hi: 0.681635386499126, p: 0.001953125 }
      assert.closeTo(r.mean, numpy.mean, 1e-12)
      assert.closeTo(r.lo, numpy.lo, 1e-12)
      assert.closeTo(r.hi, numpy.hi, 1e-12)
      assert.strictEqual(r.p, numpy.p)
      assert.strictEqual(r.verdict, "holds")
      // the numbers the README commits
      const readme = readFileSync(join(root, "experiments/README.md"), "utf8")
      assert.include(readme, "| +0.599 [+0.511, +0.682] | 0.699 / 0.100 | 10 | 0.002 | **holds** |")
    }))
})
