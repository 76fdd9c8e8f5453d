/**
 * `odpo bon CONFIG`: the best-of-n arm of the over-optimisation study (BestOfN.ts). The config is
 * a DPO arm's own experiment file: the same π₀, proxy reward, held-out prompts and seed, so that
 * best-of-n and online DPO land in one database as two reward–KL curves from one starting point.
 */
import { BestOfN, ConfigFile, Run } from "@odpo/core"
import { Console, Effect, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { formatTable } from "../Format.ts"
import { checkpointRootFor, experimentLayer } from "../Services.ts"
import { compareRuns } from "./compare.ts"
import { engineFor } from "./run.ts"
import { backendFlag, dbFlag } from "./shared.ts"

export const bon = Command.make(
  "bon",
  {
    config: Argument.String("config").pipe(Argument.withDescription("experiment JSON whose π₀, reward (the proxy) and held-out prompts to use")),
    db: dbFlag,
    name: Flag.String("name").pipe(Flag.withDescription("run name (default: the config's name + \"-bon\")"), Flag.optional),
    seed: Flag.Int("seed").pipe(Flag.withDescription("master seed (default: the config's seed)"), Flag.optional),
    samples: Flag.Int("samples").pipe(Flag.withDescription("samples drawn per held-out prompt (N)"), Flag.withDefault(512)),
    maxN: Flag.Int("max-n").pipe(Flag.withDescription("largest n (a power of 2 ≤ N); default N/2"), Flag.optional),
    backend: backendFlag
  },
  Effect.fn(function*({ config: file, db, name, seed, samples, maxN, backend }) {
    const config = yield* ConfigFile.readRunConfigFile(file)
    const engine = yield* engineFor(Option.getOrElse(backend, () => config.engine.backend), config)
    const options = { samples, maxN: Option.getOrElse(maxN, () => 2 ** Math.floor(Math.log2(Math.max(1, samples / 2)))) }
    yield* Effect.gen(function*() {
      const start: Run.StartOptions = {
        name: Option.getOrElse(name, () => `${config.name}-bon`),
        ...(Option.isSome(seed) ? { seed: seed.value } : {}),
        checkpointRoot: checkpointRootFor(db),
        engine
      }
      const runId = yield* BestOfN.runBestOfN(config, start, options)
      yield* Console.log(`\nbest-of-n run ${runId} finished (${db}): round k holds n = 2^k`)
      yield* Console.log(formatTable(yield* compareRuns([runId])))
    }).pipe(Effect.provide(experimentLayer(db, {}, engine, config.engine.threads)))
  })
).pipe(Command.withDescription("Best-of-n from π₀ on held-out prompts: proxy and gold reward of the proxy-best of n = 1, 2, 4, … at KL log n − (n−1)/n"))
