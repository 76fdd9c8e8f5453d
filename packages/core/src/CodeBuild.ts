/**
 * Which build of odpo this process runs (the CLI provides its build id: the version and a hash
 * of the bundle or of the sources). Runs record it in runs.code_version, and the SFT cache keys
 * π₀ on it: a π₀ trained by other code is not reused, so a run's π₀ is what its own code makes.
 * Outside the CLI (tests, a library user) it is "dev".
 */
import { Context } from "effect"

export const CodeBuild = Context.Reference<string>("@odpo/core/CodeBuild", { defaultValue: () => "dev" })
