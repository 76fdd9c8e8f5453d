#!/usr/bin/env bash
# Over-optimisation in one picture (Gao et al. 2022): proxy and gold vs KL for online DPO against 3 RM sizes, and best-of-n. experiments/sentiment/README.md
# Usage: scripts/studies/overopt.sh [--db FILE] [--backend NAME] [--seeds "0 1 2 3 4"]   (default --db runs/overopt.duckdb)
# Each seed s has its own reward model of each size, trained with seed s (its own 2000 pairs drawn, 400 of
# them held out for its validation accuracy): runs/rm/overopt-<size>-s<s>.onnx, which the arms name as overopt-<size>-s{seed}.onnx.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/studies/lib.sh
seeds="0 1 2 3 4"
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do [ "${args[$i]}" = "--seeds" ] && seeds="${args[$((i + 1))]}"; done
for size in small medium large; do
  for seed in $seeds; do ensure_rm "experiments/sentiment/rm-overopt-$size.json" "$seed"; done
done
configs=(experiments/sentiment/overopt-rm-small.json experiments/sentiment/overopt-rm.json experiments/sentiment/overopt-rm-large.json)
scripts/seeds.sh --db runs/overopt.duckdb --seeds "$seeds" "$@" "${configs[@]}"
# best-of-n from the same π₀ against the same proxies: N = 512 samples per held-out prompt, n ≤ 256
scripts/seeds.sh --db runs/overopt.duckdb --seeds "$seeds" "$@" --bon --samples 512 "${configs[@]}"
