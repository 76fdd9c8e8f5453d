// Every `odpo query --db FILE "…"` and ```sql block in the experiments' READMEs runs as written on
// the committed results file, returning rows (the Conventions' promise); SQL that needs the full
// database of a study run is a ```sql full-database block, which experiments/smoke.ts runs on toy runs.
import { assert, describe, it } from "@effect/vitest"
import { Services } from "@odpo/cli"
import { RunStore } from "@odpo/core"
import { Effect } from "effect"
import { existsSync } from "node:fs"
import { join } from "node:path"
import { readmeQueries, root } from "../ReadmeSql.ts"

describe("README SQL", () => {
  it.live("every odpo query and ```sql block of experiments/*/README.md runs as written on the committed results file", () =>
    Effect.gen(function*() {
      const all = readmeQueries()
      for (const q of all) if (!q.fullDatabase && !q.ownRun) assert.isDefined(q.db, `${q.where}: a \`\`\`sql block in a folder without exactly one results file; name it with odpo query --db`)
      const queries = all.filter((q) => q.db !== undefined)
      assert.isAtLeast(queries.length, 30)
      for (const db of new Set(queries.map((q) => q.db!))) {
        const own = queries.filter((q) => q.db === db)
        assert.match(db, /^experiments\/[\w-]+\/results\/[\w-]+\.duckdb\.gz$/, `${own[0]!.where}: --db ${db} is not a committed results file`)
        assert.isTrue(existsSync(join(root, db)), `${own[0]!.where}: ${db} does not exist`)
        yield* Effect.gen(function*() {
          const store = yield* RunStore.RunStore
          for (const q of own) {
            const result = yield* store.query(q.sql).pipe(Effect.mapError((e) => new Error(`${q.where} on ${db}: ${e.message}\n${q.sql}`)))
            assert.isAbove(result.rows.length, 0, `${q.where}: no rows on ${db}\n${q.sql}`)
          }
        }).pipe(Effect.provide(Services.storeLayer(join(root, db), { create: false })))
      }
    }))

  it("only SQL that reads per-sample tables is marked full-database", () => {
    const blocks = readmeQueries().filter((q) => q.fullDatabase)
    assert.isAtLeast(blocks.length, 2)
    for (const q of blocks) assert.match(q.sql, /length_drift|samples_used|rollouts|pairs/, `${q.where}: a full-database block that reads no per-sample table should run on the results file`)
  })
})
