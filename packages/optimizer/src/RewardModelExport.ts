/**
 * Export a RewardModel to ONNX in Hugging Face's sequence-classification layout: inputs
 * `input_ids` and `attention_mask` (int64 [batch, seq], right-padded), output `logits`
 * (float [batch, 1]) read at the last real token (Σ attention_mask − 1). Opset 17.
 * The trunk is the policy's own ONNX forward (model/onnx/GptGraph.forward, as Gpt.hidden is the
 * tfjs trunk), in standard ops only so that any ONNX runtime reads the file.
 */
import { Errors, type Tokenizer } from "@odpo/core"
import { Architectures, type Gpt, Onnx, OnnxWriter, TokenizerFile } from "@odpo/model"
import { Effect } from "effect"
import { mkdir, writeFile } from "node:fs/promises"
import { dirname, join } from "node:path"
import { type FitOptions, fitRewardModel, type RewardModel } from "./RewardModel.ts"

const { GptGraph, GraphBuilder } = Onnx

export const rewardModelGraph = async (model: RewardModel): Promise<OnnxWriter.OnnxGraph> => {
  // The reward model's graph is written on GptGraph's forward: a GPT-2 trunk only, for now.
  if (Architectures.architectureOf(model.config) !== "gpt2") {
    throw new Error(`a reward model's ONNX export needs a gpt2 trunk (this one is ${Architectures.architectureOf(model.config)})`)
  }
  const config = model.config as Gpt.GptConfig
  const { dModel: D } = config
  const b = new GraphBuilder.GraphBuilder("odpo_reward_model")
  const ids = b.input("input_ids", "int64", ["batch", "sequence"])
  const attention = b.input("attention_mask", "int64", ["batch", "sequence"])
  const p = GptGraph.paramInitializers(b, config, await model.trunk.weights())
  const score = b.initializer("score.weight", [D, 1], (await model.head.data()) as Float32Array)
  // The GPT's forward up to ln_f over right-padded rows (positions 0…T−1, padding keys masked).
  const { hidden } = GptGraph.forward(b, p, config, {
    ids: b.op("Cast", [ids], { to: GraphBuilder.ONNX_TYPE.int32 }),
    keyMask: b.op("Cast", [attention], { to: GraphBuilder.ONNX_TYPE.float32 })
  })
  // r = ln_f(x) · score at the last real token: index Σ attention_mask − 1
  const r = b.op("Squeeze", [b.op("MatMul", [hidden, score]), b.ints([2])]) // [B, T]
  const last = b.op("Sub", [b.op("ReduceSum", [attention, b.ints([1])], { keepdims: 1 }), b.int(1)]) // [B, 1]
  b.output(b.op("GatherElements", [r, last], { axis: 1 }, "logits", true), "float32", ["batch", 1])
  return b.build()
}

/** Write `<outFile>` (ONNX) and tokenizer.json beside it. Returns the tokenizer file's path. */
export const exportRewardModel = (model: RewardModel, tokenizer: Tokenizer.Tokenizer, outFile: string) =>
  Effect.gen(function*() {
    const tokenizerFile = join(dirname(outFile), "tokenizer.json")
    const fail = (cause: unknown) => new Errors.OnnxError({ message: `cannot write the reward model to ${outFile}: ${String(cause)}`, file: outFile, cause })
    yield* Effect.tryPromise({
      try: async () => {
        await mkdir(dirname(outFile), { recursive: true })
        await writeFile(outFile, OnnxWriter.encodeOnnxModel(await rewardModelGraph(model), { opset: 17, producer: "odpo" }))
      },
      catch: fail
    })
    yield* TokenizerFile.saveTokenizer(tokenizerFile, tokenizer).pipe(Effect.mapError(fail))
    return tokenizerFile
  })

export interface TrainRewardModelOptions extends FitOptions {
  /** The .onnx file to write; tokenizer.json goes beside it. */
  readonly outFile: string
}

export interface TrainRewardModelResult {
  readonly outFile: string
  readonly tokenizerFile: string
  readonly validationAccuracy: number
  readonly trainAccuracy: number
  readonly losses: ReadonlyArray<number>
}

/** `odpo train-rm`: fit a Bradley–Terry reward model and export it for the scorer. */
export const trainRewardModel = Effect.fn("RewardModel.train")(function*(o: TrainRewardModelOptions) {
  const fit = yield* fitRewardModel(o)
  const tokenizerFile = yield* exportRewardModel(fit.model, o.tokenizer, o.outFile).pipe(Effect.ensuring(Effect.sync(() => fit.model.dispose())))
  return {
    outFile: o.outFile, tokenizerFile, validationAccuracy: fit.validationAccuracy, trainAccuracy: fit.trainAccuracy, losses: fit.losses
  } satisfies TrainRewardModelResult
})
