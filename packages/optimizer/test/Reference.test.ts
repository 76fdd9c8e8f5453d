// Reference log-probs (cached), sequence KL / entropy / log-prob, and the TR-DPO soft update.
import { assert, describe, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs-core"
import { Effect } from "effect"
import { Domain, Tokenizer } from "@odpo/core"
import { Checkpoint, Gpt, LoadedModels, LogProbs, TfjsPolicyEngine } from "@odpo/model"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { emaReferenceWith, makeReferenceCache, sequenceStatsWith } from "../src/Reference.ts"

const engine = TfjsPolicyEngine.tfjsPolicyEngine
/** The Reference functions on a fresh LoadedModels, as the Trainer layer wires them. */
const withReference = <A, E>(f: (r: {
  models: LoadedModels.LoadedModels["Service"]
  cache: ReturnType<typeof makeReferenceCache>
  sequenceStats: ReturnType<typeof sequenceStatsWith>
  emaReference: ReturnType<typeof emaReferenceWith>
}) => Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const models = yield* LoadedModels.LoadedModels
    return yield* f({ models, cache: makeReferenceCache(engine, models), sequenceStats: sequenceStatsWith(engine, models), emaReference: emaReferenceWith(models) })
  }).pipe(Effect.provide(LoadedModels.LoadedModels.layer))

const tokenizer = new Tokenizer.CharTokenizer({ symbols: ["a", "b", "c", "d", "e"] })
const config: Gpt.GptConfig = { vocabSize: 8, contextLength: 8, dModel: 8, nLayers: 1, nHeads: 2, dropout: 0 }
const root = mkdtempSync(join(tmpdir(), "odpo-ref-"))
const save = (seed: number) =>
  Effect.gen(function*() {
    const m = Gpt.Gpt.init(config, seed)
    const ref = yield* Checkpoint.saveCheckpoint(root, m, tokenizer)
    m.dispose()
    return ref
  })
const seqs: Array<Domain.Sequence> = [
  { promptTokenIds: [1, 3], completionTokenIds: [4, 5, 2] },
  { promptTokenIds: [1, 4, 5], completionTokenIds: [6] },
  { promptTokenIds: [1], completionTokenIds: [7, 7, 3, 2] }
]

describe("Reference", () => {
  it.effect("referenceLogps equals scoreSequences and is computed once per (checkpoint, tokens)", () =>
    withReference(({ models, cache }) => Effect.gen(function*() {
      const { referenceLogps } = cache
      const ref = yield* save(11)
      const a = yield* referenceLogps(ref, seqs)
      assert.strictEqual(cache.size(), 3)
      const loaded = yield* models.load(ref)
      const direct = yield* Effect.promise(() => LogProbs.scoreSequences(loaded.model, seqs, 0))
      a.forEach((x, i) => assert.closeTo(x, direct[i]!, 1e-6))
      assert.isBelow(a[0]!, 0)
      // same sequences again, plus one new: only the new one is added
      const b = yield* referenceLogps(ref, [seqs[1]!, { promptTokenIds: [1], completionTokenIds: [3] }, seqs[1]!])
      assert.strictEqual(cache.size(), 4)
      assert.strictEqual(b[0], a[1])
      assert.strictEqual(b[2], a[1])
    })))

  it.effect("sequenceStats: KL to itself is 0; against another model it equals Σ LogProbs.tokenKl", () =>
    withReference(({ models, sequenceStats }) => Effect.gen(function*() {
      const p = yield* save(12)
      const q = yield* save(13)
      const self = yield* sequenceStats(p, p, seqs)
      for (const s of self) assert.closeTo(s.kl, 0, 1e-5)
      const stats = yield* sequenceStats(p, q, seqs)
      const P = (yield* models.load(p)).model
      const Q = (yield* models.load(q)).model
      const batch = LogProbs.makeBatch(seqs, 0, 8)
      const kl = tf.tidy(() => tf.sum(LogProbs.tokenKl(P, Q, batch), -1).arraySync() as number[])
      const ent = tf.tidy(() => tf.sum(LogProbs.tokenEntropy(P, batch), -1).arraySync() as number[])
      const lp = tf.tidy(() => LogProbs.sequenceLogProbs(P, batch).arraySync() as number[])
      LogProbs.disposeBatch(batch)
      stats.forEach((s, i) => {
        assert.closeTo(s.kl, kl[i]!, 1e-5)
        assert.closeTo(s.entropy, ent[i]!, 1e-5)
        assert.closeTo(s.logp, lp[i]!, 1e-5)
      })
      assert.isAbove(stats[0]!.kl, 1e-6)
      // entropy of 3 completion tokens over 8 symbols: between 0 and 3 log 8
      assert.isAbove(stats[0]!.entropy, 0)
      assert.isBelow(stats[0]!.entropy, 3 * Math.log(8))
    })))

  it.effect("emaReference writes α·policy + (1−α)·reference", () =>
    withReference(({ models, emaReference }) => Effect.gen(function*() {
      const p = yield* save(14)
      const q = yield* save(15)
      const ema = yield* emaReference(p, q, 0.25, root)
      const loaded = yield* Checkpoint.loadCheckpoint(ema.path)
      const pm = (yield* models.load(p)).model
      const qm = (yield* models.load(q)).model
      const [P, Q, E] = yield* Effect.promise(() => Promise.all([pm.weights(), qm.weights(), loaded.model.weights()]))
      for (const name of ["wte.weight", "h.0.attn.c_attn.weight", "ln_f.bias"]) {
        const e = E.get(name)!, a = P.get(name)!, b = Q.get(name)!
        for (let i = 0; i < e.length; i += 7) assert.closeTo(e[i]!, 0.25 * a[i]! + 0.75 * b[i]!, 1e-7)
      }
      assert.notStrictEqual(ema.id, p.id)
      loaded.model.dispose()
      const same = yield* emaReference(p, q, 1, root)
      assert.strictEqual(same.id, p.id) // α = 1 is the policy itself (content-addressed)
    })))
})
