// Every loss and its gradient against PyTorch (fixtures/losses_reference.py), plus KTO's z₀ by hand.
import { assert, describe, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs-core"
import type { RunConfig } from "@odpo/core"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { close } from "./Close.ts"
import { kto, type PairLogps, pairLosses, type PairLossName, withSftTerm } from "../src/losses/index.ts"

interface PairCase {
  loss: PairLossName
  input: string
  config: RunConfig.LossConfig
  inputs: { pc: number[]; pr: number[]; rc: number[]; rr: number[]; lc: number[]; lr: number[] }
  losses: number[]
  mean: number
  grads: Record<"policyChosen" | "policyRejected" | "refChosen" | "refRejected", number[]>
}
interface KtoCase {
  label: string
  config: RunConfig.LossConfig
  inputs: Record<"policy" | "ref" | "desirable" | "policyMismatched" | "refMismatched", number[]>
  z0: number
  losses: number[]
  mean: number
  grads: Record<"policy" | "ref" | "policyMismatched" | "refMismatched", number[]>
}
const fixture = JSON.parse(readFileSync(join(import.meta.dirname, "fixtures/losses_reference.json"), "utf8")) as {
  pairwise: PairCase[]
  kto: KtoCase[]
}


describe("pairwise losses vs PyTorch", () => {
  assert.isAtLeast(fixture.pairwise.length, 20)
  for (const c of fixture.pairwise) {
    it(`${c.loss} β=${c.config.beta} ε=${c.config.labelSmoothing} sftWeight=${c.config.sftWeight} on ${c.input}`, () => {
      const lengths = { chosenLengths: tf.tensor1d(c.inputs.lc), rejectedLengths: tf.tensor1d(c.inputs.lr) }
      const before = tf.memory().numTensors
      const f = (pc: tf.Tensor, pr: tf.Tensor, rc: tf.Tensor, rr: tf.Tensor) => {
        const x: PairLogps = {
          policyChosen: pc as tf.Tensor1D, policyRejected: pr as tf.Tensor1D,
          refChosen: rc as tf.Tensor1D, refRejected: rr as tf.Tensor1D, ...lengths
        }
        const loss = tf.mean(withSftTerm(pairLosses[c.loss](x, c.config), x, c.config.sftWeight).losses)
        // tf.grads refuses an input the loss ignores (simpo and sft ignore the reference): 0·Σ makes its gradient 0
        return tf.add(loss, tf.mul(0, tf.sum(tf.addN([pc, pr, rc, rr]))))
      }
      const inputs = [c.inputs.pc, c.inputs.pr, c.inputs.rc, c.inputs.rr].map((v) => tf.tensor1d(v))
      const { value, grads } = tf.valueAndGrads(f)(inputs)
      close(value.dataSync(), [c.mean], "mean loss")
      close(grads[0]!.dataSync(), c.grads.policyChosen, "∂/∂ policy chosen")
      close(grads[1]!.dataSync(), c.grads.policyRejected, "∂/∂ policy rejected")
      close(grads[2]!.dataSync(), c.grads.refChosen, "∂/∂ ref chosen")
      close(grads[3]!.dataSync(), c.grads.refRejected, "∂/∂ ref rejected")
      const perPair = tf.tidy(() => {
        const x: PairLogps = { policyChosen: inputs[0] as tf.Tensor1D, policyRejected: inputs[1] as tf.Tensor1D, refChosen: inputs[2] as tf.Tensor1D, refRejected: inputs[3] as tf.Tensor1D, ...lengths }
        return withSftTerm(pairLosses[c.loss](x, c.config), x, c.config.sftWeight).losses.dataSync()
      })
      close(perPair, c.losses, "per-pair losses")
      tf.dispose([value, ...grads])
      assert.strictEqual(tf.memory().numTensors, before + 4, "only the 4 inputs remain")
      tf.dispose([...inputs, lengths.chosenLengths, lengths.rejectedLengths])
    })
  }

  it("covers every pairwise loss of the table", () => {
    const covered = new Set(fixture.pairwise.map((c) => c.loss))
    assert.deepStrictEqual([...covered].sort(), Object.keys(pairLosses).sort())
  })

  it("implicit rewards are β·h (DPO) and β·mean log π (SimPO)", () => {
    const c = fixture.pairwise.find((x) => x.loss === "sigmoid" && x.input === "typical")!
    const x: PairLogps = {
      policyChosen: tf.tensor1d(c.inputs.pc), policyRejected: tf.tensor1d(c.inputs.pr),
      refChosen: tf.tensor1d(c.inputs.rc), refRejected: tf.tensor1d(c.inputs.rr),
      chosenLengths: tf.tensor1d(c.inputs.lc), rejectedLengths: tf.tensor1d(c.inputs.lr)
    }
    const dpo = pairLosses.sigmoid(x, c.config)
    close(dpo.chosenRewards.dataSync(), c.inputs.pc.map((p, i) => 0.1 * (p - c.inputs.rc[i]!)), "rewards/chosen")
    close(dpo.rejectedRewards.dataSync(), c.inputs.pr.map((p, i) => 0.1 * (p - c.inputs.rr[i]!)), "rewards/rejected")
    const s = pairLosses.simpo(x, { ...c.config, beta: 2 })
    close(s.chosenRewards.dataSync(), c.inputs.pc.map((p, i) => (2 * p) / c.inputs.lc[i]!), "simpo rewards/chosen")
  })
})

describe("kto", () => {
  for (const c of fixture.kto) {
    it(`vs PyTorch: ${c.label}`, () => {
      const desirable = tf.tensor1d(c.inputs.desirable)
      const inputs = [c.inputs.policy, c.inputs.ref, c.inputs.policyMismatched, c.inputs.refMismatched].map((v) => tf.tensor1d(v))
      const { value, grads } = tf.valueAndGrads((p: tf.Tensor, r: tf.Tensor, pm: tf.Tensor, rm: tf.Tensor) =>
        tf.mean(kto({ policy: p as tf.Tensor1D, ref: r as tf.Tensor1D, desirable, policyMismatched: pm as tf.Tensor1D, refMismatched: rm as tf.Tensor1D }, c.config).losses)
      )(inputs)
      close(value.dataSync(), [c.mean], "mean loss")
      close(grads[0]!.dataSync(), c.grads.policy, "∂/∂ policy")
      close(grads[1]!.dataSync(), c.grads.ref, "∂/∂ ref")
      // no gradient flows through z₀
      close(grads[2]!.dataSync(), c.grads.policyMismatched, "∂/∂ policy mismatched")
      close(grads[3]!.dataSync(), c.grads.refMismatched, "∂/∂ ref mismatched")
      const z0 = tf.tidy(() => kto({ policy: inputs[0] as tf.Tensor1D, ref: inputs[1] as tf.Tensor1D, desirable, policyMismatched: inputs[2] as tf.Tensor1D, refMismatched: inputs[3] as tf.Tensor1D }, c.config).z0.dataSync()[0]!)
      assert.closeTo(z0, c.z0, 1e-6)
      tf.dispose([value, ...grads, ...inputs, desirable])
    })
  }

  it("z₀ on a hand-worked batch", () => {
    // mismatched log-ratios: (−20+21, −18+19.5, −25+24, −22+23) = (1, 1.5, −1, 1) → mean 0.625
    // example 0 desirable, r = −10+11 = 1: loss = 1 − σ(0.1·(1 − 0.625)) = 1 − σ(0.0375) = 0.490626
    // example 1 undesirable, r = −12+11.5 = −0.5, λ_U = 1.5: loss = 1.5·(1 − σ(0.1·(0.625+0.5))) = 1.5·(1 − σ(0.1125)) = 0.707852
    const out = tf.tidy(() => {
      const r = kto({
        policy: tf.tensor1d([-10, -12]), ref: tf.tensor1d([-11, -11.5]), desirable: tf.tensor1d([1, 0]),
        policyMismatched: tf.tensor1d([-20, -18, -25, -22]), refMismatched: tf.tensor1d([-21, -19.5, -24, -23])
      }, { beta: 0.1, ktoLambdaD: 1, ktoLambdaU: 1.5 } as RunConfig.LossConfig)
      return { z0: r.z0.dataSync()[0]!, losses: Array.from(r.losses.dataSync()), rewards: Array.from(r.rewards.dataSync()) }
    })
    const sig = (z: number) => 1 / (1 + Math.exp(-z))
    assert.closeTo(out.z0, 0.625, 1e-6)
    assert.closeTo(out.losses[0]!, 1 - sig(0.0375), 1e-6)
    assert.closeTo(out.losses[1]!, 1.5 * (1 - sig(0.1125)), 1e-6)
    assert.closeTo(out.losses[0]!, 0.490626, 1e-6)
    assert.closeTo(out.rewards[1]!, -0.05, 1e-6)
  })
})
