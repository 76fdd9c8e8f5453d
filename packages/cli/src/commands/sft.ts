/** `odpo sft CONFIG`: π₀ from the config's demonstrations (round 0's SFT, run alone), as a checkpoint `policy.init` takes. */
import { ConfigFile, InitialPolicy, RunContext } from "@odpo/core"
import { Console, Effect, Option } from "effect"
import { Argument, Command } from "effect/cli"
import { checkpointRootFor, experimentLayer } from "../Services.ts"
import { engineFor } from "./run.ts"
import { backendFlag, chatTemplateFlag, dbFlag, withChatTemplate } from "./shared.ts"

export const sft = Command.make(
  "sft",
  {
    config: Argument.String("config").pipe(Argument.withDescription("experiment JSON whose task names demonstrations (task.demonstrations)")),
    db: dbFlag,
    backend: backendFlag,
    chatTemplate: chatTemplateFlag
  },
  Effect.fn(function*({ config: file, db, backend, chatTemplate }) {
    const config = withChatTemplate(yield* ConfigFile.readRunConfigFile(file), chatTemplate)
    const engine = yield* engineFor(Option.getOrElse(backend, () => config.engine.backend), config)
    yield* Effect.gen(function*() {
      const ctx = yield* RunContext.taskContextChecked("", config, checkpointRootFor(db), engine.backend)
      const pi0 = yield* InitialPolicy.sftPolicy(ctx)
      yield* Console.log(`π₀ ${pi0.id}\n${pi0.path}\nstart runs from it with "policy": {"init": ${JSON.stringify(pi0.path)}}`)
    }).pipe(Effect.provide(experimentLayer(db, {}, engine, config.engine.threads)))
  })
).pipe(Command.withDescription("Supervised fine-tuning on your demonstrations (loss on completion tokens): a checkpoint for policy.init"))
