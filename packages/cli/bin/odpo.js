#!/usr/bin/env node
// `odpo`: runs the bundled CLI (packages/cli/dist, see build.mjs), building it first when it is
// missing or older than a source file, so that a fresh clone and an edited checkout both just work.
// One process: no shell or transpiler in between, so signals reach the command itself.
import { isStale, build, currentBuild } from "../build.mjs"
import { join } from "node:path"
import { pathToFileURL } from "node:url"

let dir = currentBuild()
if (!dir || isStale()) {
  try {
    dir = await build()
  } catch (e) {
    if (!dir) throw e
    process.stderr.write(`odpo: could not rebuild the CLI bundle (${String(e?.message ?? e).split("\n")[0]}); running the previous build\n`)
  }
}
await import(pathToFileURL(join(dir, "odpo.mjs")).href)
