/**
 * `odpo compare --study PREFIX`: a study's arms over seeds — per round the mean with a bootstrap
 * interval, one measure per run summarised the same way, and claimed pairs (`--pair A>B`) as a
 * paired difference with its interval, sign-flip p-value and verdict. Prints the per-seed SQL.
 */
import { Errors, RunStore } from "@odpo/core"
import { Selection, Statistics, Study } from "@odpo/report"
import { Console, Effect, Option } from "effect"
import { Flag } from "effect/cli"
import { formats, type Format } from "../Format.ts"

export const studyFlags = {
  study: Flag.String("study").pipe(
    Flag.withDescription("every run whose name starts with PREFIX, grouped by arm (name less -s<seed>): means over seeds with bootstrap intervals"),
    Flag.optional
  ),
  metric: Flag.String("metric").pipe(
    Flag.withDescription(`with --study: the held-out metric — a column (${Study.columns.join(", ")}) or an evals.metrics key (eval/p_best)`),
    Flag.withDefault("gold_reward")
  ),
  measure: Flag.String("measure").pipe(
    Flag.withDescription("with --study: one number per run — round:N, last, best / best:N (highest over rounds 0…N), auc / auc:N (area over rounds 0…N), change:M:N (round N minus round M)"),
    Flag.withDefault("last")
  ),
  maxKl: Flag.Finite("max-kl").pipe(Flag.withDescription("with --measure best: only rounds whose held-out KL is at most this"), Flag.optional),
  pair: Flag.String("pair").pipe(
    Flag.withDescription("with --study: a claim ARM>ARM, ARM<ARM, ARM=ARM (a tie) or ARM>0 (arm names with or without the prefix); repeatable"),
    Flag.atLeast(0)
  ),
  resamples: Flag.Int("resamples").pipe(Flag.withDescription("with --study: bootstrap resamples"), Flag.withDefault(Statistics.defaultBootstrap.resamples)),
  bootstrapSeed: Flag.Int("bootstrap-seed").pipe(Flag.withDescription("with --study: seed of the bootstrap's mulberry32 stream"), Flag.withDefault(0))
}

export interface StudyOptions {
  readonly prefix: string
  readonly metric: Study.Metric
  readonly measure: string
  readonly maxKl: Option.Option<number>
  readonly pairs: ReadonlyArray<string>
  readonly resamples: number
  readonly bootstrapSeed: number
}

type Rows = ReadonlyArray<Record<string, unknown>>
const objects = (r: RunStore.QueryResult): Rows => r.rows.map((row) => Object.fromEntries(r.columns.map((c, i) => [c, row[i]])))

/** Everything `--study` prints, as tables and the SQL behind them. */
export const studyComparison = Effect.fn("Compare.study")(function*(o: StudyOptions) {
  const metric = Study.metricSql(o.metric)
  if (metric instanceof Errors.InvalidInput) return yield* metric
  const measure = Study.parseMeasure(o.measure, Option.getOrUndefined(o.maxKl))
  if (measure instanceof Errors.InvalidInput) return yield* measure
  if (o.resamples < 100) return yield* new Errors.InvalidInput({ message: `--resamples ${o.resamples}: take at least 100 (the default is ${Statistics.defaultBootstrap.resamples})` })
  const boot: Statistics.BootstrapOptions = { resamples: o.resamples, seed: o.bootstrapSeed, level: 0.95 }
  const store = yield* RunStore.RunStore
  const selection = yield* Selection.byStudy(o.prefix)
  const arms = Selection.arms(selection)
  const claims: Array<Study.Claim> = []
  for (const text of o.pairs) {
    const claim = Study.parseClaim(text, o.prefix, arms)
    if (claim instanceof Errors.InvalidInput) return yield* claim
    claims.push(claim)
  }
  const curveSql = Study.curveSql(selection.runs, o.metric)
  const measureSql = Study.measureSql(selection.runs, o.metric, measure)
  const curve = Study.seedValues(objects(yield* store.query(curveSql)))
  const values = Study.seedValues(objects(yield* store.query(measureSql)))
  const rounds = Study.perRound(curve, boot)
  const armRows = Study.perArm(values, boot)
  const pairs = claims.map((c) => Study.comparePair(values, c, boot))
  const unmatched = pairs.find((p) => p.n === 0)
  if (unmatched !== undefined) {
    return yield* new Errors.InvalidInput({
      message: `--pair "${Study.claimText(unmatched.claim)}": no seed has a value of ${Study.describeMeasure(o.metric, measure)} in both arms; pick a round both reach (or another measure)`
    })
  }
  const atRounds = (arm: string) => [...new Set(values.filter((v) => v.arm === arm).map((v) => v.round))].join(" ")
  const table = (columns: Array<string>, rows: Array<Array<unknown>>): RunStore.QueryResult => ({ columns, rows })
  return {
    header: `study ${o.prefix}: ${selection.runs.length} runs in ${arms.length} arms · ${o.metric} · bootstrap: ${boot.resamples} resamples of the seeds (mulberry32 seed ${boot.seed}), 95 % percentile interval`,
    measure: Study.describeMeasure(o.metric, measure),
    perRound: table(["arm", "round", "seeds", "mean", "lo", "hi"], rounds.map((r) => [r.arm, r.round, r.n, r.mean, r.lo, r.hi])),
    perArm: table(["arm", "seeds", "mean", "lo", "hi", "at round"], armRows.map((r) => [r.arm, r.n, r.mean, r.lo, r.hi, atRounds(r.arm)])),
    pairs: table(
      ["claim", "seeds", "mean A", "mean B", "A − B", "lo", "hi", "p (sign-flip)", "verdict"],
      pairs.map((p) => [Study.claimText(p.claim), p.n, p.meanA, p.meanB, p.mean, p.lo, p.hi, p.p, p.verdict])
    ),
    pairResults: pairs,
    curveSql,
    measureSql
  }
})

/** Print the comparison: in `table` format with titles and the SQL; csv and json carry the same tables. */
export const printStudy = (result: Effect.Success<ReturnType<typeof studyComparison>>, format: Format) =>
  Effect.gen(function*() {
    if (format === "json") {
      const json = (t: RunStore.QueryResult) => JSON.parse(formats.json(t)) as unknown
      return yield* Console.log(JSON.stringify({
        study: result.header, measure: result.measure, per_round: json(result.perRound), per_arm: json(result.perArm),
        pairs: json(result.pairs), curve_sql: result.curveSql, measure_sql: result.measureSql
      }, null, 2))
    }
    if (format === "csv") {
      return yield* Console.log([result.perRound, result.perArm, ...(result.pairs.rows.length > 0 ? [result.pairs] : [])].map(formats.csv).join("\n\n"))
    }
    yield* Console.log(`${result.header}\n\nper round: mean over seeds and its interval [lo, hi]\n${formats.table(result.perRound)}`)
    yield* Console.log(`\nmeasure: ${result.measure}\n${formats.table(result.perArm)}`)
    if (result.pairs.rows.length > 0) {
      yield* Console.log(`\npaired over matched seeds; verdict: holds if the interval excludes 0 in the claimed direction, contradicted if the other way, else not detected\n${formats.table(result.pairs)}`)
    }
    yield* Console.log(`\nper-seed SQL (odpo query runs it as is):\n-- the curve\n${result.curveSql};\n-- the measure\n${result.measureSql};`)
  })
