// Tiny seeded policies for the sampler tests: a char tokenizer over "abcdefgh" and a GPT whose
// weights are scaled up from GPT-2's init so its next-token distributions are far from uniform.
import { afterAll, beforeAll } from "@effect/vitest"
import { type Domain, Tokenizer } from "@odpo/core"
import { Checkpoint, Gpt } from "@odpo/model"
import { Effect } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

export const tokenizer = new Tokenizer.CharTokenizer({ symbols: Array.from("abcdefgh") })

export const config: Gpt.GptConfig = { vocabSize: tokenizer.vocabSize, contextLength: 16, dModel: 16, nLayers: 2, nHeads: 2, dropout: 0 }

/** A policy with logits of a few units (GPT-2's N(0, 0.02) init times `scale`). */
export const tinyPolicy = (seed: number, scale = 20, cfg: Gpt.GptConfig = config): Gpt.Gpt => {
  const weights = Gpt.initialParameters(cfg, seed)
  for (const [name, data] of weights) {
    if (name.includes("ln_")) continue
    for (let i = 0; i < data.length; i++) data[i] = data[i]! * scale
  }
  return new Gpt.Gpt(cfg, weights)
}

/**
 * A test file's temporary directory holding `tinyPolicy(seed, scale)` saved as a checkpoint
 * (`dir`/ckpt, saved before the file's tests, the directory removed after them).
 */
export const savedTinyPolicy = (prefix: string, seed: number, scale?: number) => {
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`))
  let ref: Domain.CheckpointRef | undefined
  beforeAll(async () => {
    const model = tinyPolicy(seed, scale)
    ref = await Effect.runPromise(Checkpoint.saveCheckpoint(join(dir, "ckpt"), model, tokenizer))
    model.dispose()
  })
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true })
  })
  return {
    dir,
    /** The saved checkpoint (read inside a test: it is saved in beforeAll). */
    get policy(): Domain.CheckpointRef {
      if (ref === undefined) throw new Error("savedTinyPolicy: the checkpoint is saved in beforeAll; read it inside a test")
      return ref
    }
  }
}

/** BOS + the text's ids. */
export const prompt = (text: string): Array<number> => [tokenizer.bosId, ...tokenizer.encode(text)]

export const params = (over: Partial<{
  temperature: number
  topK: number
  topP: number
  minP: number
  repetitionPenalty: number
  maxNewTokens: number
  stop: ReadonlyArray<string>
}> = {}) => ({ temperature: 1, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1, maxNewTokens: 8, stop: [], ...over })

/**
 * Drive two LogitsSources with the same rows step by step — each row's next token a fixed function
 * of the step, a row leaving when it fills the context (and row 1 at step 2, early) — and measure
 * how far their logits ever are apart. Returns the worst gap, the steps taken and the logits compared.
 */
export const driveTogether = async (
  a: { start: (p: ReadonlyArray<ReadonlyArray<number>>) => Promise<Float32Array>; next: (keep: ReadonlyArray<number>, tokens: ReadonlyArray<number>) => Promise<Float32Array> },
  b: typeof a,
  prompts: ReadonlyArray<ReadonlyArray<number>>,
  contextLength: number,
  vocabSize: number
): Promise<{ worst: number; steps: number; compared: number }> => {
  let x = await a.start(prompts)
  let y = await b.start(prompts)
  let lengths = prompts.map((p) => p.length)
  let steps = 0
  let compared = 0
  let worst = 0
  while (lengths.length > 0) {
    if (x.length !== lengths.length * vocabSize || y.length !== x.length) throw new Error(`step ${steps}: ${x.length} / ${y.length} logits for ${lengths.length} rows`)
    for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!))
    compared += x.length
    const keep: Array<number> = []
    const tokens: Array<number> = []
    lengths.forEach((len, r) => {
      if (len >= contextLength || (steps === 2 && r === 1)) return
      keep.push(r)
      tokens.push(3 + ((steps + r) % 8))
    })
    if (keep.length === 0) break
    lengths = keep.map((r) => lengths[r]! + 1)
    x = await a.next(keep, tokens)
    y = await b.next(keep, tokens)
    steps++
  }
  return { worst, steps, compared }
}
