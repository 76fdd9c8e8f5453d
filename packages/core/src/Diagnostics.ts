/** The warnings `odpo run` prints after each round — collapse, over-optimisation, length exploitation — read from the `diagnostics` view. */
import { Effect } from "effect"
import { RunStore } from "./RunStore.ts"

/** One row of the `diagnostics` view (the thresholds live in the view's SQL, so report and terminal agree). */
export interface RoundDiagnostics {
  readonly runId: string
  readonly round: number
  readonly candidates: number | null
  readonly ties: number | null
  readonly duplicates: number | null
  /** (ties + duplicates) / candidates; null before pairing. */
  readonly tieFraction: number | null
  /** Held-out proxy reward and gold reward, change from the round before. */
  readonly rewardChange: number | null
  readonly goldChange: number | null
  /** Pearson correlation of length and reward over the round's train samples (null when lengths are all equal). */
  readonly lengthRewardCorr: number | null
  readonly collapse: boolean
  readonly overOptimisation: boolean
  readonly lengthExploitation: boolean
}

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v))
const signed = (x: number | null) => (x === null ? "?" : `${x >= 0 ? "+" : "−"}${Math.abs(x).toFixed(3)}`)

/** The warning lines for one round (none when nothing is flagged). */
export const warnings = (d: RoundDiagnostics): Array<string> => {
  const out: Array<string> = []
  const at = `round ${d.round}`
  if (d.collapse) {
    const dropped = (d.ties ?? 0) + (d.duplicates ?? 0)
    out.push(
      `${at} · collapse: ${dropped} of ${d.candidates} candidate pairs (${Math.round((d.tieFraction ?? 0) * 100)}%) dropped as ties ` +
        `(${d.ties} equal rewards, ${d.duplicates} identical samples): a prompt's samples score alike, so little is left to learn from — see pair_filters and round_summary.distinct_per_prompt`
    )
  }
  if (d.overOptimisation) {
    out.push(
      `${at} · over-optimisation: held-out proxy reward rose (${signed(d.rewardChange)} this round) while gold reward fell ` +
        `(${signed(d.goldChange)}) for 2 rounds running; the policy is exploiting the reward — see run_compare`
    )
  }
  if (d.lengthExploitation) {
    out.push(
      `${at} · length exploitation: length–reward correlation ${d.lengthRewardCorr?.toFixed(2)} over the round's samples (> 0.5); ` +
        `the reward may be paying for length — see length_drift`
    )
  }
  return out
}

const quote = (s: string) => `'${s.replace(/'/g, "''")}'`

/** The `diagnostics` row of one run's round (null when the round is not recorded). */
export const read = Effect.fn("Diagnostics.read")(function*(runId: string, round: number) {
  const store = yield* RunStore
  const result = yield* store.query(`SELECT * FROM diagnostics WHERE run_id = ${quote(runId)} AND round = ${Math.trunc(round)}`)
  if (result.rows.length === 0) return null
  const row = Object.fromEntries(result.columns.map((c, i) => [c, result.rows[0]![i]]))
  return {
    runId, round,
    candidates: num(row.candidates), ties: num(row.ties), duplicates: num(row.duplicates), tieFraction: num(row.tie_fraction),
    rewardChange: num(row.reward_change), goldChange: num(row.gold_change), lengthRewardCorr: num(row.length_reward_corr),
    collapse: row.collapse === true, overOptimisation: row.over_optimisation === true, lengthExploitation: row.length_exploitation === true
  } satisfies RoundDiagnostics
})

/** Log a warning line for each flag the round raised (the round loop calls this after each round's eval). */
export const warnRound = Effect.fn("Diagnostics.warnRound")(function*(runId: string, round: number) {
  const d = yield* read(runId, round)
  if (d !== null) for (const line of warnings(d)) yield* Effect.logWarning(line)
})
