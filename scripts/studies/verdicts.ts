/**
 * The study verdicts of experiments/Claims.ts, computed by `odpo compare --study` on the
 * committed results databases, written into the READMEs between `<!-- verdicts: NAME -->` and
 * `<!-- /verdicts -->` (the Summary of experiments/README.md, and a block per study README).
 *
 * Usage: npx -y pnpm@12.4.2 exec tsx --import ./scripts/node20-polyfills.mjs scripts/studies/verdicts.ts [--write]
 * Without --write it prints what differs and exits 1 when a README is out of date.
 */
import { Console, Effect } from "effect"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { block, claims, evaluate, expected, fill, root } from "../../experiments/Verdicts.ts"

const write = process.argv.includes("--write")

const main = Effect.gen(function*() {
  const es = yield* evaluate(claims())
  let stale = 0
  for (const e of expected(es)) {
    const file = join(root, e.file)
    const text = readFileSync(file, "utf8")
    const now = block(text, e.name)
    if (now === undefined) {
      yield* Console.error(`${e.file}: no <!-- verdicts: ${e.name} --> … <!-- /verdicts --> block; add one where the table belongs`)
      stale++
    } else if (now !== e.text) {
      if (write) writeFileSync(file, fill(text, e.name, e.text))
      else stale++
      yield* Console.log(`${e.file} (${e.name}): ${write ? "written" : "out of date"}`)
    }
  }
  if (stale > 0) return yield* Effect.fail(new Error(`${stale} README block(s) missing or out of date${write ? "" : ": run with --write"}`))
  yield* Console.log(`${es.length} claims: every README block matches`)
})

Effect.runPromise(main).catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e))
  process.exit(1)
})
