/** `odpo report` (one HTML page of charts) and `odpo export` (the runs' tables as Parquet, CSV or JSON lines). */
import { Errors } from "@odpo/core"
import { Export, Output, Report, Selection } from "@odpo/report"
import { Console, Effect, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { existsSync } from "node:fs"
import { storeLayer } from "../Services.ts"
import { dbFlag } from "./shared.ts"

const runsArgument = Argument.String("run").pipe(
  Argument.withDescription("run ids or names (a name means its newest run)"),
  Argument.variadic()
)

const studyFlag = Flag.String("study").pipe(
  Flag.withDescription("every run whose name starts with PREFIX: each arm's seeds (scripts/seeds.sh names them <arm>-s<seed>)"),
  Flag.optional
)

/** Runs named, or a study: exactly one of the two, in a database that exists (a report never creates one). */
const select = (command: string, runs: ReadonlyArray<string>, study: Option.Option<string>, db: string) =>
  Effect.gen(function*() {
    if (!existsSync(db)) {
      return yield* new Errors.InvalidInput({ message: `no run store at ${db}: run an experiment first (odpo run …) or name the database with --db` })
    }
    if (Option.isSome(study) && runs.length > 0) {
      return yield* new Errors.InvalidInput({ message: `odpo ${command}: name runs or --study PREFIX, not both` })
    }
    if (Option.isSome(study)) return yield* Selection.byStudy(study.value)
    if (runs.length === 0) {
      return yield* new Errors.InvalidInput({ message: `odpo ${command}: name at least one run (id or name), or --study PREFIX for every seed of each arm` })
    }
    return yield* Selection.byRuns(runs)
  })

export const report = Command.make(
  "report",
  {
    runs: runsArgument,
    study: studyFlag,
    db: dbFlag,
    out: Flag.String("out").pipe(Flag.withDescription("the HTML file to write"), Flag.withDefault("report.html"))
  },
  Effect.fn(function*({ runs, study, db, out }) {
    yield* Output.checkFile(out)
    const { html, selection } = yield* Effect.gen(function*() {
      const selection = yield* select("report", runs, study, db)
      return { html: yield* Report.build(selection), selection }
    }).pipe(Effect.provide(storeLayer(db)))
    yield* Output.writeFile(out, html)
    const drawn = (html.match(/data-chart="[^"]+" data-drawn="true"/g) ?? []).length
    const charts = (html.match(/data-chart="/g) ?? []).length
    const arms = Selection.arms(selection).length
    yield* Console.log(`report of ${selection.runs.length} run(s) in ${arms} arm(s): ${drawn} of ${charts} charts drawn → ${out}`)
  })
).pipe(Command.withDescription("One self-contained HTML page of charts (reward, reward vs KL, length, pairs, training, diagnostics) for runs or a study"))

export const exportCommand = Command.make(
  "export",
  {
    runs: runsArgument,
    study: studyFlag,
    db: dbFlag,
    format: Flag.Literals("format", Export.formats).pipe(Flag.withDescription("file format of each table"), Flag.withDefault("parquet")),
    out: Flag.String("out").pipe(Flag.withDescription("directory for <table>.<format> files (created if missing)"))
  },
  Effect.fn(function*({ runs, study, db, format, out }) {
    yield* Output.checkDirectoryOut(out)
    const result = yield* Effect.gen(function*() {
      const selection = yield* select("export", runs, study, db)
      return yield* Export.exportRuns(selection.runs, format, out)
    }).pipe(Effect.provide(storeLayer(db)))
    for (const t of result.tables) yield* Console.log(`${t.table.padEnd(14)} ${String(t.rows).padStart(8)} rows → ${t.file}`)
    if (result.skipped.length > 0) yield* Console.log(`not exported (no run_id to filter on): ${result.skipped.join(", ")}`)
  })
).pipe(Command.withDescription("Write every table of some runs to Parquet, CSV or JSON lines (DuckDB COPY), one file per table"))
