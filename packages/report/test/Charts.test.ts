// Lines a reader could misread: a round a series lacks between two it has breaks the line (no
// straight run across a NULL), and arms with equal values stay apart by their dash pattern.
import { assert, describe, it } from "@effect/vitest"
import { DuckDBInstance } from "@duckdb/node-api"
import { Effect } from "effect"
import { acrossSeeds } from "../src/Charts.ts"
import { toSvg } from "../src/Render.ts"
import { band, type SpecContext } from "../src/Specs.ts"

const ctx: SpecContext = { arms: ["online", "offline"], tasks: ["bandit"] }

/** The line paths of an SVG: their `d` and dash pattern. */
const lines = (svg: string) =>
  [...svg.matchAll(/<g class="mark-line role-mark[^"]*"[^>]*>(.*?)<\/g>/g)].flatMap((g) =>
    [...g[1]!.matchAll(/<path ([^>]*)>/g)].map((p) => ({
      moves: (p[1]!.match(/d="([^"]*)"/)?.[1]?.match(/M/g) ?? []).length,
      dash: p[1]!.match(/stroke-dasharray="([^"]*)"/)?.[1] ?? "none"
    })))

describe("Charts", () => {
  it("acrossSeeds keeps a NULL round between two values (mean NULL), drops leading and trailing ones and a series never measured", async () => {
    const db = await DuckDBInstance.create(":memory:")
    const conn = await db.connect()
    // two seeds; the correlation is NULL at round 2 for both, and at round 4; gold is never measured
    await conn.run(`CREATE TABLE r AS SELECT * FROM (VALUES
      ('bandit', 'online', 'a', 1, 0.5, NULL), ('bandit', 'online', 'b', 1, 0.3, NULL),
      ('bandit', 'online', 'a', 2, NULL, NULL), ('bandit', 'online', 'b', 2, NULL, NULL),
      ('bandit', 'online', 'a', 3, 0.1, NULL), ('bandit', 'online', 'b', 3, -0.1, NULL),
      ('bandit', 'online', 'a', 4, NULL, NULL), ('bandit', 'online', 'b', 4, NULL, NULL)
    ) t(task, arm, run_id, round, corr, gold)`)
    const sql = acrossSeeds(`SELECT task, arm, run_id, round, corr::DOUBLE AS "corr", gold::DOUBLE AS "gold" FROM r`, ["corr", "gold"])
    const rows = (await conn.runAndReadAll(sql)).getRowObjects().map((r) => [r.round, r.metric, r.mean === null ? null : Number(Number(r.mean).toFixed(6)), Number(r.seeds)])
    assert.deepStrictEqual(rows, [[1, "corr", 0.4, 2], [2, "corr", null, 0], [3, "corr", 0, 2]])
    conn.closeSync()
    db.closeSync()
  })

  it.effect("a NULL mean breaks the line in two; two arms with equal values are drawn with different dashes", () =>
    Effect.gen(function*() {
      const rows = ["online", "offline"].flatMap((arm) =>
        [1, 2, 3, 4].map((round) => {
          const mean = round === 2 ? null : 0.25 // equal in both arms
          return { task: "bandit", arm, round, metric: "corr", mean, lo: mean, hi: mean, seeds: mean === null ? 0 : 2 }
        }))
      const svg = yield* toSvg("diag", band(rows, ctx, { x: "round", xTitle: "round", yTitle: "r", colorBy: "arm" }))
      const drawn = lines(svg)
      assert.strictEqual(drawn.length, 2)
      for (const l of drawn) assert.strictEqual(l.moves, 2, "the line should break at round 2")
      assert.notStrictEqual(drawn[0]!.dash, drawn[1]!.dash)
    }))
})
