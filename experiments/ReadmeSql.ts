/**
 * The SQL of the experiments' READMEs: every `odpo query --db FILE "…"` (unescaped as the shell
 * would: \$ → $, \" → "), with the file it names; every ```sql block, meant for the README's own
 * committed results file (its folder's one results/*.duckdb.gz); and every ```sql full-database
 * block, which reads per-sample tables (rollouts, pairs) only the full database of a study run has.
 * A folder with no results/ at all (an experiment you run yourself, e.g. custom/) has no committed
 * file: its ```sql blocks are for the database your own run writes (`ownRun`).
 * experiments/test/ReadmeSql.test.ts runs all but the last as written on the committed files;
 * experiments/smoke.ts runs them all on toy runs.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { dirname, join, relative, resolve } from "node:path"

export const root = resolve(import.meta.dirname, "..")

export interface ReadmeQuery {
  /** The README, relative to the repository root. */
  readonly where: string
  /**
   * The results file it runs on, relative to the root: the --db the README names, or for a ```sql
   * block the folder's results file (undefined when the folder has none or several, or for a
   * full-database block).
   */
  readonly db: string | undefined
  /** A ```sql full-database block: it needs the study run's per-sample tables. */
  readonly fullDatabase: boolean
  /** A ```sql block of a folder that commits no results: it reads the database your own run writes. */
  readonly ownRun: boolean
  readonly sql: string
}

const readmes = () =>
  readdirSync(join(root, "experiments"), { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(root, "experiments", e.name, "README.md")))
    .map((e) => join(root, "experiments", e.name, "README.md"))

export const readmeQueries = (): Array<ReadmeQuery> =>
  readmes().flatMap((file) => {
    const text = readFileSync(file, "utf8")
    const where = relative(root, file)
    const results = join(dirname(file), "results")
    const files = existsSync(results) ? readdirSync(results).filter((f) => f.endsWith(".duckdb.gz")) : []
    const own = files.length === 1 ? relative(root, join(results, files[0]!)) : undefined
    return [
      ...[...text.matchAll(/odpo query --db (\S+) "((?:[^"\\]|\\.)*)"/g)].map((m) => ({
        where, db: m[1]!, fullDatabase: false, ownRun: false, sql: m[2]!.replace(/\\([$"])/g, "$1")
      })),
      ...[...text.matchAll(/```sql( full-database)?\n([\s\S]*?)```/g)].map((m) => ({
        where, db: m[1] === undefined ? own : undefined, fullDatabase: m[1] !== undefined, ownRun: m[1] === undefined && !existsSync(results), sql: m[2]!
      }))
    ]
  })
