/** `odpo compare RUN RUN…`: the headline metrics of several runs, round by round. */
import { Errors, RunStore } from "@odpo/core"
import { Console, Effect, Option } from "effect"
import { Argument, Command } from "effect/cli"
import { formats } from "../Format.ts"
import { goldSparklines } from "../Sparkline.ts"
import { storeLayer } from "../Services.ts"
import { dbFlag, formatFlag } from "./shared.ts"
import { printStudy, studyComparison, studyFlags } from "./studyCompare.ts"

const quote = (s: string) => `'${s.replace(/'/g, "''")}'`

/** Held-out evaluation per round for the given runs (ids or names), one row per run × round. */
export const compareRuns = (idsOrNames: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const store = yield* RunStore.RunStore
    const ids: Array<string> = []
    for (const x of idsOrNames) ids.push((yield* store.getRun(x)).runId)
    return yield* store.query(`
      SELECT e.round, r.name, r.pair_source AS source, r.loss, r.beta, r.seed,
             e.gold_reward, e.reward, e.win_rate, e.kl, e.entropy, e.length, e.eos_rate,
             (SELECT count(*) FROM pairs p WHERE p.run_id = e.run_id AND p.round = e.round) AS pairs,
             c.wall_s AS seconds, e.run_id
      FROM evals e JOIN runs r USING (run_id) LEFT JOIN round_costs c USING (run_id, round)
      WHERE e.split = 'heldout' AND e.run_id IN (${ids.map(quote).join(", ")})
      ORDER BY e.round, list_position([${ids.map(quote).join(", ")}], e.run_id)`)
  })

export const compare = Command.make(
  "compare",
  {
    runs: Argument.String("run").pipe(Argument.withDescription("run ids or names"), Argument.variadic()),
    db: dbFlag,
    format: formatFlag,
    ...studyFlags
  },
  Effect.fn(function*({ runs, db, format, study, ...o }) {
    if (Option.isSome(study)) {
      if (runs.length > 0) return yield* new Errors.InvalidInput({ message: "odpo compare: name runs or --study PREFIX, not both" })
      const result = yield* studyComparison({ prefix: study.value, ...o, pairs: o.pair }).pipe(Effect.provide(storeLayer(db, { create: false })))
      return yield* printStudy(result, format)
    }
    if (runs.length === 0) return yield* new Errors.InvalidInput({ message: "odpo compare: name at least one run (id or name), or --study PREFIX for a study's arms over seeds" })
    if (o.pair.length > 0 || o.measure !== "last" || Option.isSome(o.maxKl)) {
      return yield* new Errors.InvalidInput({ message: "odpo compare: --pair, --measure and --max-kl take --study PREFIX (a study's arms over seeds)" })
    }
    // seconds: the round's wall time over its stages (round_costs, from stage_times)
    const result = yield* compareRuns(runs).pipe(Effect.provide(storeLayer(db, { create: false })))
    yield* Console.log(formats[format](result))
    if (format === "table") yield* Console.log(goldSparklines(result))
  })
).pipe(Command.withDescription("Round-by-round table of held-out gold reward, reward, win rate, KL, entropy, length, and each round's seconds; with --study, a study's arms over seeds with bootstrap intervals and paired verdicts"))
