/**
 * Every study claim put to the verdict rule (README.md, "Verdicts: the rule"): where its numbers
 * are, and what `odpo compare --study` is asked — the claimed pair, the measure (its round fixed
 * before any rerun) and the metric (held-out gold unless said). experiments/Verdicts.ts evaluates them.
 */
import type { Claim } from "./Verdicts.ts"

/** A study's claims share its README, results database and arm prefix. */
const study = (name: string, readme: string, db: string, prefix: string) =>
  (claim: string, pair: string, measure: string, o: { readonly metric?: string; readonly maxKl?: number } = {}): Claim => ({
    study: name, readme, db, prefix, claim, pair, measure, metric: o.metric ?? "gold_reward", ...(o.maxKl === undefined ? {} : { maxKl: o.maxKl })
  })

const frontier = study("frontier", "sentiment/README.md", "experiments/sentiment/results/frontier.duckdb.gz", "frontier-")
const onlineOffline = study("online-offline", "sentiment/README.md", "experiments/sentiment/results/online-offline.duckdb.gz", "sentiment-")
const iterative = study("iterative", "arith/README.md", "experiments/arith/results/iterative.duckdb.gz", "arith-")
const raft = study("raft", "sentiment/README.md", "experiments/sentiment/results/raft.duckdb.gz", "sentiment-raft-")
const bandit = study("bandit", "bandit/README.md", "experiments/bandit/results/bandit.duckdb.gz", "bandit-")
const ipo = study("ipo", "order/README.md", "experiments/order/results/ipo.duckdb.gz", "order-")
const length = study("length", "length/README.md", "experiments/length/results/length.duckdb.gz", "length-")
const kto = study("kto", "arith/README.md", "experiments/arith/results/kto.duckdb.gz", "arith-kto")
const overopt = study("overopt", "sentiment/README.md", "experiments/sentiment/results/overopt.duckdb.gz", "overopt-")
const noiseBandit = study("noise-bandit", "bandit/README.md", "experiments/bandit/results/noise-bandit.duckdb.gz", "noise-bandit-")
const noiseSentiment = study("noise-sentiment", "sentiment/README.md", "experiments/sentiment/results/noise-sentiment.duckdb.gz", "noise-sentiment-")
const rlhfBandit = study("rlhf-vs-dpo", "rlhf-vs-dpo/README.md", "experiments/rlhf-vs-dpo/results/rlhf-vs-dpo.duckdb.gz", "bandit-")
const rlhfSentiment = study("rlhf-vs-dpo", "rlhf-vs-dpo/README.md", "experiments/rlhf-vs-dpo/results/rlhf-vs-dpo.duckdb.gz", "sentiment-")

export const claims: ReadonlyArray<Claim> = [
  frontier("1: DPO (β = 5) above Preferred-FT within 2 nats of KL", "dpo-b5>pft", "best", { maxKl: 2 }),
  frontier("1: … within 1 nat, the KL Preferred-FT reaches", "dpo-b5>pft", "best", { maxKl: 1 }),
  onlineOffline("2: online above offline at the last round", "online-rm>offline-rm", "round:10"),
  onlineOffline("2: … at round 3", "online-rm>offline-rm", "round:3"),
  onlineOffline("2: … at each run's best round", "online-rm>offline-rm", "best"),
  onlineOffline("2: … in area under the curve", "online-rm>offline-rm", "auc"),
  onlineOffline("2: … at each run's best round within 5 nats of KL, where both arms are well-formed", "online-rm>offline-rm", "best", { maxKl: 5 }),
  onlineOffline("2: offline's gold falls after its round-2 peak", "offline-rm<0", "change:2:10"),
  iterative("3: iterative gains over π₀ (round 3 − round 0)", "online>0", "change:0:3"),
  iterative("3: … over one offline round (round 3 − round 1)", "online>0", "change:1:3"),
  iterative("3: … in iteration 2", "online>0", "change:1:2"),
  iterative("3: … in iteration 3", "online>0", "change:2:3"),
  iterative("3: iterative above 3 rounds of offline DPO", "online>offline", "round:3"),
  raft("4: RAFT reward rises over iterations (K = 8)", "k8>0", "change:0:8"),
  raft("4: more with larger K, at round 8", "k32>k8", "round:8"),
  raft("4: … at round 2", "k32>k8", "round:2"),
  raft("4: length drifts up (K = 8, held-out length)", "k8>0", "change:0:8", { metric: "length" }),
  bandit("5: online above offline at μ = 70", "mu70-online>mu70-offline", "round:8"),
  bandit("5: a tie at μ = 20", "mu20-online=mu20-offline", "round:8"),
  bandit("5: offline μ = 70 falls after its round-3 peak", "mu70-offline<0", "change:3:8"),
  ipo("6: DPO drifts past IPO, β = τ = 1 (π(a))", "dpo-b1>ipo-t1", "round:10", { metric: "eval/p_best" }),
  ipo("6: DPO drifts past IPO, β = τ = 5 (π(a))", "dpo-b5>ipo-t5", "round:10", { metric: "eval/p_best" }),
  ipo("6: DPO drifts past IPO, β = τ = 0.1 (π(a))", "dpo-b0.1>ipo-t0.1", "round:10", { metric: "eval/p_best" }),
  length("7: DPO's held-out length grows", "dpo>0", "change:0:8", { metric: "length" }),
  length("7: R-DPO shorter than DPO", "dpo>rdpo", "round:8", { metric: "length" }),
  length("7: the length penalty shorter than DPO", "dpo>penalty", "round:8", { metric: "length" }),
  length("7: R-DPO at DPO's gold (a tie)", "rdpo=dpo", "round:8"),
  kto("8: KTO ≈ DPO (a tie)", "arith-kto=arith-kto-dpo", "round:4"),
  kto("8: KTO ≈ DPO at DPO's optimizer steps (8 a round; a tie)", "arith-kto-steps=arith-kto-dpo", "round:4"),
  kto("8: KTO with 90 % desirable dropped ≈ KTO (a tie)", "arith-kto-drop90=arith-kto", "round:4"),
  kto("8: … ≈ KTO at DPO's steps (the drop takes 9 a round; a tie)", "arith-kto-drop90=arith-kto-steps", "round:4"),
  overopt("over-opt.: the proxy rises (small RM)", "rm-small>0", "change:0:20", { metric: "reward" }),
  overopt("over-opt.: the proxy rises (medium RM)", "rm>0", "change:0:20", { metric: "reward" }),
  overopt("over-opt.: the proxy rises (large RM)", "rm-large>0", "change:0:20", { metric: "reward" }),
  overopt("over-opt.: gold falls after round 2 (small RM)", "rm-small<0", "change:2:20"),
  overopt("over-opt.: gold falls after round 2 (medium RM)", "rm<0", "change:2:20"),
  overopt("over-opt.: gold falls after round 2 (large RM)", "rm-large<0", "change:2:20"),
  overopt("over-opt.: a higher gold peak, medium RM above small", "rm>rm-small", "best"),
  overopt("over-opt.: … large RM above medium", "rm-large>rm", "best"),
  overopt("over-opt.: the large RM holds up longer (round 20)", "rm-large>rm", "round:20"),
  noiseBandit("noise hurts DPO, ε = 0.1 (bandit)", "dpo-e0>dpo-e0.1", "round:8"),
  noiseBandit("… ε = 0.2", "dpo-e0>dpo-e0.2", "round:8"),
  noiseBandit("rDPO recovers, ε = 0.1", "rdpo-e0.1>dpo-e0.1", "round:8"),
  noiseBandit("rDPO recovers, ε = 0.2", "rdpo-e0.2>dpo-e0.2", "round:8"),
  noiseBandit("rDPO recovers, ε = 0.4", "rdpo-e0.4>dpo-e0.4", "round:8"),
  noiseBandit("rDPO at DPO's gold without noise (ε = 0; a tie)", "rdpo-e0=dpo-e0", "round:8"),
  noiseBandit("… at equal KL: each run's best round within 30 nats (a tie)", "rdpo-e0=dpo-e0", "best", { maxKl: 30 }),
  noiseBandit("rDPO recovers, ε = 0.2, at equal KL (best round within 30 nats)", "rdpo-e0.2>dpo-e0.2", "best", { maxKl: 30 }),
  noiseBandit("cDPO recovers, ε = 0.1", "cdpo-e0.1>dpo-e0.1", "round:8"),
  noiseBandit("cDPO recovers, ε = 0.2", "cdpo-e0.2>dpo-e0.2", "round:8"),
  noiseSentiment("noise hurts DPO, ε = 0.2 (sentiment)", "dpo-e0>dpo-e0.2", "round:8"),
  noiseSentiment("noise hurts DPO, ε = 0.4 (sentiment)", "dpo-e0>dpo-e0.4", "round:8"),
  noiseSentiment("cDPO recovers, ε = 0.4", "cdpo-e0.4>dpo-e0.4", "round:8"),
  noiseSentiment("rDPO recovers, ε = 0.4", "rdpo-e0.4>dpo-e0.4", "round:8"),
  rlhfBandit("RLHF 1: RLOO above offline DPO (bandit μ = 70)", "rloo>offline-dpo", "round:8"),
  rlhfBandit("RLHF 1: PPO-clip above offline DPO", "ppo>offline-dpo", "round:8"),
  rlhfBandit("RLHF 1: online DPO above offline DPO", "online-dpo>offline-dpo", "round:8"),
  rlhfBandit("RLHF 2: online DPO ≥ RLOO at about equal KL", "online-dpo>rloo", "round:8"),
  rlhfSentiment("RLHF 2: online DPO ≥ PPO-clip within 5 nats (sentiment)", "online-dpo>ppo", "best", { maxKl: 5 }),
  rlhfSentiment("RLHF 2: online DPO ≥ RLOO within 5 nats", "online-dpo>rloo", "best", { maxKl: 5 }),
  rlhfSentiment("RLHF 3: RLOO keeps to its KL budget, online DPO does not", "rloo<online-dpo", "round:5", { metric: "kl" })
]
