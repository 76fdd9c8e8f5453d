#!/usr/bin/env node
/** Entry point: `pnpm odpo …` (tsx) or packages/cli/bin/odpo.js. */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Effect } from "effect"
import "../../../scripts/node20-polyfills.mjs"
import { cli } from "./Cli.ts"
import { plainLogger, reportFailure, usagePresenter } from "./Errors.ts"

reportFailure(cli).pipe(
  Effect.provide([NodeServices.layer, usagePresenter, plainLogger]),
  (program) => NodeRuntime.runMain(program, { disableErrorReporting: true })
)
