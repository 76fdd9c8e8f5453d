#!/usr/bin/env bash
# Over-optimisation in one picture (Gao et al. 2022): proxy and gold vs KL for online DPO against 3 RM sizes, and best-of-n. experiments/sentiment/README.md
# Usage: scripts/studies/overopt.sh [--db FILE] [--backend NAME] [--seeds "0 1 2"]   (default --db runs/overopt.duckdb)
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/studies/lib.sh
for rm in rm-small rm rm-large; do ensure_rm "experiments/sentiment/$rm.json"; done
configs=(experiments/sentiment/overopt-rm-small.json experiments/sentiment/overopt-rm.json experiments/sentiment/overopt-rm-large.json)
scripts/seeds.sh --db runs/overopt.duckdb "$@" "${configs[@]}"
# best-of-n from the same π₀ against the same proxies: N = 512 samples per held-out prompt, n ≤ 256
scripts/seeds.sh --db runs/overopt.duckdb "$@" --bon --samples 512 "${configs[@]}"
