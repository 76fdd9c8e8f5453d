/** `odpo export-hf`: any checkpoint (odpo's, or a Hugging Face directory) as a directory transformers' from_pretrained loads. */
import { Console, Effect } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"

export const exportHf = Command.make(
  "export-hf",
  {
    checkpoint: Argument.String("checkpoint").pipe(Argument.withDescription("checkpoint directory: an odpo checkpoint (e.g. a run's π_r) or a Hugging Face directory")),
    out: Flag.String("out").pipe(Flag.withDescription("the Hugging Face directory to write (must not exist)")),
    dtype: Flag.Literals("dtype", ["F32", "F16", "BF16"]).pipe(
      Flag.withDescription("safetensors dtype of the weights (F32 keeps them bit for bit)"),
      Flag.withDefault("F32" as const)
    )
  },
  Effect.fn(function*({ checkpoint, out, dtype }) {
    const { Checkpoint, HfExport, HfImport, Architectures } = yield* Effect.promise(() => import("@odpo/model"))
    const configFile = join(checkpoint, "config.json")
    const raw = existsSync(configFile) ? (JSON.parse(readFileSync(configFile, "utf8")) as Record<string, unknown>) : {}
    const loaded = yield* (HfImport.isHfDirectory(raw) ? HfImport.loadHfDirectory(checkpoint) : Checkpoint.loadCheckpoint(checkpoint))
    const dir = yield* HfExport.exportHfDirectory(loaded, out, { dtype }).pipe(Effect.ensuring(Effect.sync(() => loaded.model.dispose())))
    const entry = Architectures.entryOf(loaded.config)
    yield* Console.log(
      `${entry.displayName} (${entry.hf.className}, ${Architectures.parameterCount(loaded.config).toLocaleString("en-US")} parameters, ${dtype}) → ${dir}\n` +
        `load it with: AutoModelForCausalLM.from_pretrained(${JSON.stringify(dir)}), AutoTokenizer.from_pretrained(${JSON.stringify(dir)})`
    )
  })
).pipe(Command.withDescription("Write a checkpoint as a Hugging Face directory (config.json, model.safetensors, tokenizer files)"))
