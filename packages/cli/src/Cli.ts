/** The `odpo` command: subcommands wired to the layers. */
import { Command } from "effect/cli"
import { bon } from "./commands/bon.ts"
import { compare } from "./commands/compare.ts"
import { exportHf } from "./commands/exportHf.ts"
import { query } from "./commands/query.ts"
import { exportCommand, report } from "./commands/report.ts"
import { resume, run } from "./commands/run.ts"
import { sample, score } from "./commands/sample.ts"
import { init } from "./commands/init.ts"
import { sft } from "./commands/sft.ts"
import { trainRm } from "./commands/trainRm.ts"
import { worker } from "./commands/worker.ts"
import { odpoVersion } from "./Version.ts"

export const odpo = Command.make("odpo").pipe(
  Command.withDescription("Iterative online DPO experiments: sample → score → pair → train, every round in DuckDB"),
  Command.withSubcommands([run, resume, query, compare, report, exportCommand, exportHf, sample, score, trainRm, sft, init, bon, worker])
)

export const cli = Command.run(odpo, { version: odpoVersion })
