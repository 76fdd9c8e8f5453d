// The onnx engine's log-probs, statistics and VJP gradients against the tfjs model (the reference), on real onnxruntime sessions.
import { assert, describe, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs-core"
import { Effect } from "effect"
import * as ort from "onnxruntime-node"
import { Gpt, type GptConfig, initialParameters, parameterShapes } from "../src/Gpt.ts"
import * as LogProbs from "../src/LogProbs.ts"
import * as OnnxPolicy from "../src/onnx/OnnxPolicy.ts"
import * as OnnxPolicyEngine from "../src/onnx/OnnxPolicyEngine.ts"
import * as OnnxSessions from "../src/onnx/OnnxSessions.ts"
import type { SequenceLogps } from "../src/PolicyEngine.ts"
import { tfjsPolicyEngine } from "../src/TfjsPolicyEngine.ts"

const config: GptConfig = { vocabSize: 19, contextLength: 16, dModel: 16, nLayers: 2, nHeads: 2, dropout: 0 }

/** GPT-2's init times `scale` (LayerNorms untouched): distributions far from uniform. */
const weightsOf = (seed: number, scale = 10, cfg = config) => {
  const w = initialParameters(cfg, seed)
  for (const [name, data] of w) if (!name.includes("ln_")) for (let i = 0; i < data.length; i++) data[i] = data[i]! * scale
  return w
}

/** Mixed prompt and completion lengths (right padding differs per row), ids 3…18. */
const sequences = (n: number, seed: number) =>
  Array.from({ length: n }, (_, i) => {
    const tok = (t: number) => 3 + ((i * 7 + t * 5 + seed) % 16)
    return {
      promptTokenIds: [1, ...Array.from({ length: i % 4 }, (_, t) => tok(t))],
      completionTokenIds: Array.from({ length: 1 + ((i * 3) % 9) }, (_, t) => tok(t + 10))
    }
  })

const pool = OnnxSessions.make({ provider: "cpu", threads: 1 })
const engineOn = (sessions: OnnxSessions.OnnxSessions) =>
  OnnxPolicyEngine.make("onnx").pipe(Effect.provideService(OnnxSessions.OnnxSessionPool, sessions))

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let d = 0
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!))
  return d
}

describe("OnnxPolicy", () => {
  it.effect("sequence and token log-probs equal tfjs's within 1e-4 (batched by length, returned in order)", () =>
    Effect.gen(function*() {
      const sessions = yield* pool
      const weights = weightsOf(1)
      const model = new Gpt(config, weights)
      const seqs = sequences(21, 0)
      const onnx = yield* OnnxPolicy.sequenceLogps(sessions, { config, weights }, seqs, 0, 8)
      const tfjs = yield* Effect.promise(() => LogProbs.scoreSequences(model, seqs, 0, 64))
      assert.isBelow(maxDiff(onnx, tfjs), 1e-4)
      // the distributions are far from uniform: log-probs spread over several nats
      assert.isAbove(Math.max(...tfjs) - Math.min(...tfjs), 5)
      const batch = LogProbs.makeBatch(seqs, 0, config.contextLength)
      const tokens = tf.tidy(() => LogProbs.tokenLogProbs(model, batch).dataSync())
      const host = yield* OnnxPolicy.makeHostBatch(seqs, 0, config.contextLength)
      const out = yield* OnnxPolicy.batchLogps(sessions, { config, weights }, host)
      assert.isBelow(maxDiff(out.tokenLogps, tokens), 1e-4)
      LogProbs.disposeBatch(batch)
      model.dispose()
    }).pipe(Effect.scoped))

  it.effect("sequence KL, entropy and log-prob against a reference equal tfjs's within 1e-4", () =>
    Effect.gen(function*() {
      const sessions = yield* pool
      const [pw, qw] = [weightsOf(2), weightsOf(3)]
      const [p, q] = [new Gpt(config, pw), new Gpt(config, qw)]
      const seqs = sequences(13, 4)
      const stats = yield* OnnxPolicy.sequenceStats(sessions, { config, weights: pw }, { config, weights: qw }, seqs, 0, 5)
      const batch = LogProbs.makeBatch(seqs, 0, config.contextLength)
      const [kl, entropy] = tf.tidy(() => [
        tf.sum(LogProbs.tokenKl(p, q, batch), -1).dataSync(),
        tf.sum(LogProbs.tokenEntropy(p, batch), -1).dataSync()
      ])
      const logp = yield* Effect.promise(() => LogProbs.scoreSequences(p, seqs, 0))
      assert.isBelow(maxDiff(stats.map((s) => s.kl), kl!), 1e-4)
      assert.isBelow(maxDiff(stats.map((s) => s.entropy), entropy!), 1e-4)
      assert.isBelow(maxDiff(stats.map((s) => s.logp), logp), 1e-4)
      assert.isAbove(Math.min(...stats.map((s) => s.kl)), 0.01)
      LogProbs.disposeBatch(batch)
      p.dispose()
      q.dispose()
    }).pipe(Effect.scoped))

  it.effect("the VJP graph's gradients equal tf.grad's and pass a finite-difference check", () =>
    Effect.gen(function*() {
      const sessions = yield* pool
      const weights = weightsOf(5, 4)
      const model = new Gpt(config, weights)
      const seqs = sequences(9, 1)
      const host = yield* OnnxPolicy.makeHostBatch(seqs, 0, config.contextLength)
      const upstream = Float32Array.from({ length: host.B * (host.T - 1) }, (_, i) => Math.sin(1 + i))
      const grads = yield* OnnxPolicy.gradients(sessions, { config, weights }, host, upstream)
      // tfjs: ∇ Σ upstream ⊙ token log-probs
      const batch = LogProbs.makeBatch(seqs, 0, config.contextLength)
      const up = tf.tensor2d(upstream, [host.B, host.T - 1])
      const { value, grads: ref } = tf.variableGrads(() => tf.sum(tf.mul(LogProbs.tokenLogProbs(model, batch), up)) as tf.Scalar, model.variables())
      for (const [name] of parameterShapes(config)) {
        const expected = ref[model.params.get(name)!.name]!.dataSync()
        const scale = Math.max(...Array.from(expected, Math.abs))
        assert.isAbove(scale, 0, name)
        assert.isBelow(maxDiff(grads.get(name)!, expected) / scale, 1e-4, name)
      }
      tf.dispose([value, up, ...Object.values(ref)])
      LogProbs.disposeBatch(batch)
      model.dispose()
      // Finite differences of L(w) = Σ upstream ⊙ token log-probs (the logps graph) along random directions d:
      // (L(w + εd) − L(w − εd)) / 2ε against ⟨∇L, d⟩
      const loss = (w: Map<string, Float32Array>) =>
        Effect.map(OnnxPolicy.batchLogps(sessions, { config, weights: w }, host), ({ tokenLogps }) => tokenLogps.reduce((a, v, i) => a + v * upstream[i]!, 0))
      let seed = 7
      const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1
      for (let trial = 0; trial < 3; trial++) {
        const d = new Map(parameterShapes(config).map(([name, shape]) => [name, Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, rand)]))
        const eps = 1e-3
        const shifted = (sign: number) => new Map([...weights].map(([n, w]) => [n, w.map((x, i) => x + sign * eps * d.get(n)![i]!)]))
        const numeric = ((yield* loss(shifted(1))) - (yield* loss(shifted(-1)))) / (2 * eps)
        let analytic = 0
        for (const [n, g] of grads) g.forEach((x, i) => (analytic += x * d.get(n)![i]!))
        assert.closeTo(numeric, analytic, 2e-3 * Math.abs(analytic) + 1e-2, `direction ${trial}`)
        assert.isAbove(Math.abs(analytic), 1)
      }
    }).pipe(Effect.scoped))

  it.effect("the engine's gradient of a loss (tfjs on the token log-probs, then the VJP graph) equals the tfjs engine's", () =>
    Effect.gen(function*() {
      const engine = yield* engineOn(yield* pool)
      const model = new Gpt(config, weightsOf(6, 4))
      const seqs = sequences(6, 2)
      const before = tf.memory().numTensors
      // a nonlinear loss of the summed log-probs: mean softplus(−log π(y|x) / 10), plus a masked-mean term
      const lossOf = ({ tokens, mask, sums }: SequenceLogps) =>
        tf.add(tf.mean(tf.softplus(tf.div(tf.neg(sums), 10))), tf.div(tf.sum(tokens), tf.sum(mask))) as tf.Scalar
      const onnx = yield* engine.gradients(model, seqs, lossOf, { padId: 0, dropoutSeed: 0 })
      const tfjs = yield* tfjsPolicyEngine.gradients(model, seqs, lossOf, { padId: 0, dropoutSeed: 0 })
      assert.closeTo(onnx.value.dataSync()[0]!, tfjs.value.dataSync()[0]!, 1e-5)
      parameterShapes(config).forEach(([name], i) => {
        const expected = tfjs.grads[i]!.dataSync()
        const scale = Math.max(...Array.from(expected, Math.abs))
        assert.isBelow(maxDiff(onnx.grads[i]!.dataSync(), expected) / scale, 1e-4, name)
      })
      tf.dispose([onnx.value, tfjs.value, ...onnx.grads, ...tfjs.grads])
      assert.strictEqual(tf.memory().numTensors, before)
      model.dispose()
    }).pipe(Effect.scoped))

  it.effect("per-token completion log-probs (π_ref's side of a per-token KL) equal tfjs's scoreTokens within 1e-4", () =>
    Effect.gen(function*() {
      const engine = yield* engineOn(yield* pool)
      const model = new Gpt(config, weightsOf(7))
      const seqs = sequences(11, 5)
      const onnx = yield* engine.tokenLogps(model, seqs, 0)
      const tfjs = yield* Effect.promise(() => LogProbs.scoreTokens(model, seqs, 0))
      assert.deepStrictEqual(onnx.map((r) => r.length), seqs.map((s) => s.completionTokenIds.length))
      onnx.forEach((row, i) => assert.isBelow(maxDiff(row, tfjs[i]!), 1e-4))
      model.dispose()
    }).pipe(Effect.scoped))

  it.effect("dropout is refused for training on onnx, naming the field", () =>
    Effect.gen(function*() {
      const engine = yield* engineOn(yield* pool)
      const model = new Gpt({ ...config, dropout: 0.1 }, weightsOf(1))
      const exit = yield* Effect.exit(engine.gradients(model, sequences(2, 0), ({ sums }) => tf.sum(sums) as tf.Scalar, { padId: 0, dropoutSeed: 0 }))
      assert.include(String(exit), "model.dropout is 0.1")
      // log-probs have no dropout: they run
      assert.strictEqual((yield* engine.sequenceLogps(model, sequences(2, 0), 0)).length, 2)
      model.dispose()
    }).pipe(Effect.scoped))

  it.effect("a checkpoint the exporter cannot take is an error that names the tensor and the config field", () =>
    Effect.gen(function*() {
      const weights = weightsOf(1)
      weights.set("h.1.mlp.c_fc.weight", new Float32Array(10))
      const wrong = yield* Effect.flip(OnnxPolicy.checkModel({ config, weights }, "inference"))
      assert.strictEqual(wrong._tag, "OnnxError")
      assert.include(wrong.message, "h.1.mlp.c_fc.weight")
      assert.include(wrong.message, "model.dModel × 4·model.dModel")
      assert.include(wrong.message, "[16, 64]")
      weights.delete("wpe.weight")
      assert.include((yield* Effect.flip(OnnxPolicy.checkModel({ config, weights }, "inference"))).message, "no tensor wpe.weight")
      const dropout = yield* Effect.flip(OnnxPolicy.checkModel({ config: { ...config, dropout: 0.1 }, weights: weightsOf(1) }, "training"))
      assert.include(dropout.message, "model.dropout is 0.1")
      // inference has no dropout: the same model is fine there
      yield* OnnxPolicy.checkModel({ config: { ...config, dropout: 0.1 }, weights: weightsOf(1) }, "inference")
      const heads = yield* Effect.flip(OnnxPolicy.checkModel({ config: { ...config, nHeads: 3 }, weights: weightsOf(1) }, "inference"))
      assert.include(heads.message, "model.nHeads (3) must divide model.dModel (16)")
    }))

  it.effect("sessions are released with their scope; memory stays flat over 20 rounds' worth of calls", () =>
    Effect.gen(function*() {
      const weights = weightsOf(8)
      const ref = weightsOf(9)
      const model = new Gpt(config, weights)
      const seqs = sequences(32, 3)
      const round = (sessions: OnnxSessions.OnnxSessions) =>
        Effect.gen(function*() {
          yield* OnnxPolicy.sequenceLogps(sessions, { config, weights }, seqs, 0)
          yield* OnnxPolicy.sequenceStats(sessions, { config, weights }, { config, weights: ref }, seqs, 0)
          const out = yield* (yield* engineOn(sessions)).gradients(model, seqs, ({ tokens }) => tf.mean(tokens) as tf.Scalar, { padId: 0, dropoutSeed: 0 })
          tf.dispose([out.value, ...out.grads])
        })
      const released = yield* Effect.scoped(Effect.gen(function*() {
        const sessions = yield* pool
        for (let r = 0; r < 3; r++) yield* round(sessions) // warm-up: arenas reach their size
        const tensors = tf.memory().numTensors
        global.gc?.()
        const rss = process.memoryUsage().rss
        for (let r = 0; r < 20; r++) yield* round(sessions)
        global.gc?.()
        const grown = (process.memoryUsage().rss - rss) / 2 ** 20
        assert.isBelow(grown, 40, `RSS grew ${grown.toFixed(1)} MiB over 20 rounds`)
        assert.strictEqual(tf.memory().numTensors, tensors)
        return yield* sessions.session("logps", config)
      }))
      // the pool's scope closed: its sessions are gone
      const host = yield* OnnxPolicy.makeHostBatch(seqs, 0, config.contextLength)
      const feeds = { ...OnnxPolicy.weightFeeds(ort, { config, weights }), ...OnnxPolicy.batchFeeds(ort, host) }
      const error = yield* Effect.flip(Effect.tryPromise(() => released.run(feeds)))
      assert.match(String(error.cause ?? error), /release|dispos|invalid|session/i)
      model.dispose()
    }))
})
