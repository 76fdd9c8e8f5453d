#!/usr/bin/env node
/**
 * Entry point of the `odpo` command: bundled into packages/cli/dist by build.mjs and started by
 * bin/odpo.js (`pnpm odpo …`, node_modules/.bin/odpo), or run from source by the tests (tsx).
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Effect } from "effect"
import "../../../scripts/node20-polyfills.mjs"
import { cli } from "./Cli.ts"
import { plainLogger, reportFailure, usagePresenter } from "./Errors.ts"
import { exitWithLaunchers } from "./Orphan.ts"

exitWithLaunchers()

reportFailure(cli).pipe(
  Effect.provide([NodeServices.layer, usagePresenter, plainLogger]),
  (program) => NodeRuntime.runMain(program, { disableErrorReporting: true })
)
