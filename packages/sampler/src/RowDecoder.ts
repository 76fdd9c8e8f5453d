/**
 * The per-row half of generation, shared by every engine: given one row's raw next-token logits,
 * pick the token (processors + the row's own PRNG, or argmax), record its log-prob under the
 * *unprocessed* policy, and decide whether the row is finished (EOS, stop string, length).
 * Nothing here depends on the other rows of a batch.
 */
import { type Domain, Seeds } from "@odpo/core"
import { applyProcessors, argmax, drawToken, type LogitsProcessor, logSoftmaxAt, processorsFor } from "./LogitsProcessors.ts"

const { splitmix32 } = Seeds

type FinishReason = Domain.FinishReason

/** What every row of a batch shares. */
export interface DecodeSpec {
  readonly params: Domain.SamplingParams
  /** Ids that end a row (EOS, and every id of generation_config.json's eos_token_id list). */
  readonly eosIds: ReadonlyArray<number>
  /** Ids never sampled (PAD, BOS). */
  readonly suppressIds: ReadonlyArray<number>
  /** Ids → text with special tokens dropped (the tokenizer's decode). */
  readonly decode: (ids: ReadonlyArray<number>) => string
  readonly contextLength: number
}

export interface DecodedRow {
  readonly tokenIds: ReadonlyArray<number>
  readonly text: string
  readonly tokenLogprobs: ReadonlyArray<number>
  readonly finishReason: FinishReason
}

export class RowDecoder {
  readonly tokens: Array<number> = []
  readonly logprobs: Array<number> = []
  finishReason: FinishReason | undefined
  private text: string | undefined
  private readonly seen: Set<number>
  private readonly uniform: () => number
  private readonly processors: ReadonlyArray<LogitsProcessor>
  /** min(maxNewTokens, room left in the context): prompt + completion must fit for training. */
  readonly maxNew: number

  constructor(readonly promptTokenIds: ReadonlyArray<number>, rngSeed: number, private readonly spec: DecodeSpec) {
    this.seen = new Set(promptTokenIds)
    this.uniform = splitmix32(rngSeed)
    this.processors = processorsFor(spec.params, spec.suppressIds)
    this.maxNew = Math.min(spec.params.maxNewTokens, spec.contextLength - promptTokenIds.length)
    if (this.maxNew < 1) throw new Error(`a prompt of ${promptTokenIds.length} tokens leaves no room in a context of ${spec.contextLength}`)
  }

  get active(): boolean {
    return this.finishReason === undefined
  }

  /** The last token taken (the next input of an active row). */
  get lastToken(): number {
    return this.tokens[this.tokens.length - 1]!
  }

  /** Take one token from this step's raw logits (length V). Returns whether the row goes on. */
  step(raw: ArrayLike<number>): boolean {
    if (!this.active) throw new Error("RowDecoder.step on a finished row")
    const logits = applyProcessors(this.processors, raw, this.seen)
    // One uniform per step even when greedy, so a row's stream never depends on its parameters' path.
    const u = this.uniform()
    const token = this.spec.params.temperature === 0 ? argmax(logits) : drawToken(logits, u)
    this.tokens.push(token)
    // The recorded log-prob is of the raw policy: logSoftmax(logits) at temperature 1, no truncation.
    this.logprobs.push(logSoftmaxAt(raw, token))
    this.seen.add(token)
    if (this.spec.eosIds.includes(token)) this.finishReason = "eos"
    else if (this.hitStop()) this.finishReason = "stop"
    else if (this.tokens.length >= this.maxNew) this.finishReason = "length"
    return this.active
  }

  /** Decode the completion and look for a stop string anywhere in it; trim the text before the earliest. */
  private hitStop(): boolean {
    const stops = this.spec.params.stop
    if (stops.length === 0) return false
    const text = this.spec.decode(this.tokens)
    let at = -1
    for (const s of stops) {
      const i = text.indexOf(s)
      if (i >= 0 && (at < 0 || i < at)) at = i
    }
    if (at < 0) return false
    this.text = text.slice(0, at)
    return true
  }

  result(): DecodedRow {
    if (this.finishReason === undefined) throw new Error("RowDecoder.result before the row finished")
    return {
      tokenIds: this.tokens,
      text: this.text ?? this.spec.decode(this.tokens),
      tokenLogprobs: this.logprobs,
      finishReason: this.finishReason
    }
  }
}
