/** Which runs a report or export covers: runs named by id or name, or every seed of each arm of a study (a name prefix). */
import { RunStore } from "@odpo/core"
import { Effect } from "effect"
import { StudyNotFound } from "./Errors.ts"

/** One run, with the arm it belongs to (its name less `-s<seed>`, as scripts/seeds.sh names seeds). */
export interface SelectedRun {
  readonly runId: string
  readonly name: string
  readonly arm: string
  readonly seed: number
  readonly task: string
  readonly loss: string
  readonly beta: number
  readonly pairSource: string
  readonly status: string
  /** The last round with a held-out evaluation; null when not even π₀ was evaluated. */
  readonly lastRound: number | null
}

export interface Selection {
  /** How the runs were chosen, for the page title: "study bandit-", or the runs' names. */
  readonly label: string
  /** Grouped by arm (arms in the order asked for, or by name for a study), seeds ascending. */
  readonly runs: ReadonlyArray<SelectedRun>
}

export const quote = (s: string) => `'${s.replace(/'/g, "''")}'`

/** A SQL list of run ids: `('a', 'b')`. */
export const inList = (runs: ReadonlyArray<{ readonly runId: string }>) => `(${runs.map((r) => quote(r.runId)).join(", ")})`

/** The distinct arms of a selection, in its order. */
export const arms = (selection: Selection): Array<string> => [...new Set(selection.runs.map((r) => r.arm))]

const describeRuns = (where: string) => `
  SELECT a.run_id, a.name, a.arm, a.seed, a.task, a.loss, a.beta, a.pair_source, a.status,
    (SELECT max(e.round) FROM evals e WHERE e.run_id = a.run_id AND e.split = 'heldout') AS last_round
  FROM run_arms a WHERE ${where}
  ORDER BY a.arm, a.seed, a.created_at DESC`

const toRuns = (result: RunStore.QueryResult): Array<SelectedRun> =>
  result.rows.map((row) => {
    const v = Object.fromEntries(result.columns.map((c, i) => [c, row[i]]))
    return {
      runId: String(v.run_id), name: String(v.name), arm: String(v.arm), seed: Number(v.seed), task: String(v.task),
      loss: String(v.loss), beta: Number(v.beta), pairSource: String(v.pair_source), status: String(v.status),
      lastRound: v.last_round === null ? null : Number(v.last_round)
    }
  })

/** Runs by id or name (a name means its newest run), each once, grouped by arm in the order first named. */
export const byRuns = Effect.fn("Selection.byRuns")(function*(idsOrNames: ReadonlyArray<string>) {
  const store = yield* RunStore.RunStore
  const ids: Array<string> = []
  for (const x of idsOrNames) {
    const id = (yield* store.getRun(x)).runId
    if (!ids.includes(id)) ids.push(id)
  }
  const found = toRuns(yield* store.query(describeRuns(`a.run_id IN ${inList(ids.map((runId) => ({ runId })))}`)))
  const armOrder = [...new Set(ids.map((id) => found.find((r) => r.runId === id)!.arm))]
  const runs = [...found].sort((a, b) => armOrder.indexOf(a.arm) - armOrder.indexOf(b.arm) || a.seed - b.seed)
  return { label: runs.map((r) => r.name).join(", "), runs } satisfies Selection
})

/** Edit distance (Levenshtein), for suggesting names near a mistyped prefix. */
export const editDistance = (a: string, b: string): number => {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const cur = [i]
    for (let j = 1; j <= b.length; j++) cur.push(Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)))
    prev = cur
  }
  return prev[b.length]!
}

/** The names closest to `prefix`: by the distance to the name's start of the same length, then to the whole name. */
export const nearNames = (prefix: string, names: ReadonlyArray<string>, n = 5): Array<string> =>
  [...new Set(names)]
    .map((name) => ({ name, head: editDistance(prefix, name.slice(0, prefix.length)), whole: editDistance(prefix, name) }))
    .sort((a, b) => a.head - b.head || a.whole - b.whole || a.name.localeCompare(b.name))
    .slice(0, n)
    .map((x) => x.name)

/**
 * Every run whose name starts with `prefix`; of runs that share a name and seed (a re-run) the
 * newest. Arms by name, seeds ascending.
 */
export const byStudy = Effect.fn("Selection.byStudy")(function*(prefix: string) {
  const store = yield* RunStore.RunStore
  const all = toRuns(yield* store.query(describeRuns(`starts_with(a.name, ${quote(prefix)})`)))
  const runs = all.filter((r, i) => all.findIndex((s) => s.name === r.name && s.seed === r.seed) === i)
  if (runs.length === 0) {
    const names = (yield* store.query("SELECT DISTINCT name FROM runs")).rows.map((r) => String(r[0]))
    const near = names.length === 0 ? `${store.file} holds no runs yet` : `near names: ${nearNames(prefix, names).join(", ")}`
    return yield* new StudyNotFound({ prefix, message: `--study "${prefix}": no run name in ${store.file} starts with it; ${near}` })
  }
  return { label: `study ${prefix}`, runs } satisfies Selection
})
