// Test helper: the lineage every finished online run with a fixed reference shows, whatever its objective.
import { assert } from "@effect/vitest"

type Tables = Record<string, ReadonlyArray<Record<string, unknown>>>

/**
 * Rounds 0…R all evaluated; round r trains π_{r−1} (round r−1's output) into a new π_r whose
 * checkpoint has π_{r−1} as parent; the reference stays π₀; checkpoints are init, π₀, π₁…π_R;
 * each round's P×K train rollouts come from its policy; eval and eval_ref rollouts every round;
 * one score per rollout.
 */
export const checkLineage = (t: Tables, o: { readonly rounds: number; readonly prompts: number; readonly train: number; readonly eval: number }) => {
  const rounds = t.rounds!
  assert.deepStrictEqual(rounds.map((r) => [r.round, r.stage]), Array.from({ length: o.rounds + 1 }, (_, r) => [r, "eval"]))
  for (let r = 1; r <= o.rounds; r++) {
    assert.strictEqual(rounds[r]!.policy_ckpt, rounds[r - 1]!.output_ckpt)
    assert.notStrictEqual(rounds[r]!.output_ckpt, rounds[r]!.policy_ckpt)
    const out = t.checkpoints!.find((c) => c.ckpt_id === rounds[r]!.output_ckpt)!
    assert.deepStrictEqual([out.parent, out.round], [rounds[r]!.policy_ckpt, r])
    const train = t.rollouts!.filter((x) => x.round === r && x.purpose === "train")
    assert.strictEqual(train.length, o.train)
    for (const x of train) assert.strictEqual(x.policy_ckpt, rounds[r]!.policy_ckpt)
  }
  for (const r of rounds) assert.strictEqual(r.ref_ckpt, rounds[0]!.policy_ckpt)
  assert.strictEqual(t.checkpoints!.length, o.rounds + 2)
  assert.strictEqual(t.prompts!.length, o.prompts)
  for (let r = 0; r <= o.rounds; r++) {
    assert.strictEqual(t.rollouts!.filter((x) => x.round === r && x.purpose === "eval").length, o.eval)
    assert.strictEqual(t.rollouts!.filter((x) => x.round === r && x.purpose === "eval_ref").length, o.eval)
  }
  assert.strictEqual(t.scores!.length, t.rollouts!.length)
}
