// Tiny seeded policies for the sampler tests: a char tokenizer over "abcdefgh" and a GPT whose
// weights are scaled up from GPT-2's init so its next-token distributions are far from uniform.
import { Tokenizer } from "@odpo/core"
import { Gpt } from "@odpo/model"

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
