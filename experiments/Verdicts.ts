/**
 * Every study claim of experiments/Claims.ts put to the verdict rule (README.md, "Verdicts")
 * by `odpo compare --study`, on the committed results databases, and the README tables those
 * numbers fill: the Summary of experiments/README.md and a block in each study's README.
 * `scripts/studies/verdicts.ts` writes the tables; experiments/test/Verdicts.test.ts recomputes
 * them and fails when a README's numbers are not the tool's.
 */
import { Services, StudyCompare } from "@odpo/cli"
import type { Study } from "@odpo/report"
import { Effect, Option } from "effect"
import { join, resolve } from "node:path"
import { claims as allClaims } from "./Claims.ts"

export const root = resolve(import.meta.dirname, "..")

/** One claim: the study it belongs to, where its numbers are, and what `odpo compare --study` is asked. */
export interface Claim {
  readonly study: string
  /** The study's README, relative to experiments/. */
  readonly readme: string
  /** The committed results database, relative to the repository root. */
  readonly db: string
  readonly prefix: string
  readonly claim: string
  readonly metric: string
  readonly measure: string
  readonly maxKl?: number
  /** `A>B`, `A<B`, `A=B` or `A>0`, as `--pair` takes it. */
  readonly pair: string
}

/** The claims of Claims.ts. */
export const claims = (): ReadonlyArray<Claim> => allClaims

export interface Evaluated {
  readonly claim: Claim
  readonly measure: string
  readonly result: Study.PairResult
}

/** The `odpo compare` command that prints a claim's row. */
export const command = (c: Claim) =>
  `odpo compare --study ${c.prefix} --db ${c.db}${c.metric === "gold_reward" ? "" : ` --metric ${c.metric}`} --measure ${c.measure}${
    c.maxKl === undefined ? "" : ` --max-kl ${c.maxKl}`
  } --pair '${c.pair}'`

/** Each claim through the tool itself (the default bootstrap: 10 000 resamples, seed 0), each database opened once. */
export const evaluate = (cs: ReadonlyArray<Claim>) =>
  Effect.gen(function*() {
    const out = new Map<Claim, Evaluated>()
    for (const db of new Set(cs.map((c) => c.db))) {
      const own = cs.filter((c) => c.db === db)
      const done = yield* Effect.forEach(own, (claim) =>
        StudyCompare.studyComparison({
          prefix: claim.prefix, metric: claim.metric, measure: claim.measure, maxKl: Option.fromUndefinedOr(claim.maxKl),
          pairs: [claim.pair], resamples: 10_000, bootstrapSeed: 0
        }).pipe(Effect.map((r) => ({ claim, measure: r.measure, result: r.pairResults[0]! }) satisfies Evaluated))).pipe(
          Effect.provide(Services.storeLayer(join(root, db), { create: false }))
        )
      for (const e of done) out.set(e.claim, e)
    }
    return cs.map((c) => out.get(c)!)
  })

/** Three decimals, or one when the row's numbers reach 10 (lengths, KL, a proxy's logit). */
const formatter = (xs: ReadonlyArray<number>) => {
  const digits = xs.some((x) => Math.abs(x) >= 10) ? 1 : 3
  return (x: number, sign = false) => `${x < 0 ? "−" : sign ? "+" : ""}${Math.abs(x).toFixed(digits)}`
}

const bold = (v: string) => (v === "not detected" ? v : `**${v}**`)

const cells = (e: Evaluated) => {
  const r = e.result
  const fmt = formatter([r.mean, r.lo, r.hi, r.meanA, r.meanB])
  const b = r.claim.b === "0" ? "0" : fmt(r.meanB)
  return [
    e.claim.claim,
    `${e.measure}; \`${e.claim.pair}\``,
    `${fmt(r.mean, true)} [${fmt(r.lo, true)}, ${fmt(r.hi, true)}]`,
    `${fmt(r.meanA)} / ${b}`,
    String(r.n),
    r.p < 0.01 ? r.p.toFixed(3) : r.p.toFixed(2),
    bold(r.verdict)
  ]
}

const row = (xs: ReadonlyArray<string>) => `| ${xs.join(" | ")} |`
const head = ["claim", "measure; A vs B", "A − B [95 % interval]", "mean A / B", "seeds", "p", "verdict"]

/** The Summary table of experiments/README.md: every claim, grouped by study, each study linked to its README. */
export const summary = (es: ReadonlyArray<Evaluated>): string =>
  [row(["study", ...head]), row(["---", ...head.map(() => "---")]), ...es.map((e) => row([`[${e.claim.study}](${e.claim.readme})`, ...cells(e)]))].join("\n")

/** A study's block in its README: its claims' rows, then the command that prints each. */
export const studyBlock = (study: string, es: ReadonlyArray<Evaluated>): string => {
  const own = es.filter((e) => e.claim.study === study)
  return [
    row(head), row(head.map(() => "---")), ...own.map((e) => row(cells(e))), "",
    "Each row is printed by (`npx -y pnpm@12.4.2` before `odpo`):", "", "```sh",
    ...own.map((e) => command(e.claim)), "```"
  ].join("\n")
}

/** A block: its opening marker, its lines (none, or each ending in a newline), its closing marker; never across another block. */
const marker = (name: string) => new RegExp(`<!-- verdicts: ${name.replace(/-/g, "\\-")} -->\\n((?:(?!<!-- verdicts:)[\\s\\S])*?)<!-- /verdicts -->`)

/** The README text with the block named `name` replaced (the markers kept); the text as it is when it has no such block. */
export const fill = (text: string, name: string, block: string): string =>
  text.replace(marker(name), () => `<!-- verdicts: ${name} -->\n${block}\n<!-- /verdicts -->`)

/** The text between a README's markers for `name` (without the last newline), or undefined. */
export const block = (text: string, name: string): string | undefined => marker(name).exec(text)?.[1]!.replace(/\n$/, "")

/** Every README that takes a block, and what it should hold. */
export const expected = (es: ReadonlyArray<Evaluated>): Array<{ readonly file: string; readonly name: string; readonly text: string }> => [
  { file: "experiments/README.md", name: "summary", text: summary(es) },
  ...[...new Set(es.map((e) => e.claim.study))].map((study) => ({
    file: `experiments/${es.find((e) => e.claim.study === study)!.claim.readme}`, name: study, text: studyBlock(study, es)
  }))
]
