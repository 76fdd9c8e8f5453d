#!/usr/bin/env bash
# Claim 3 (Xiong et al. 2023; RLHFlow 2024): iterative best-vs-worst DPO gains every iteration, with and without r − λ|y|. experiments/arith/README.md
# Usage: scripts/studies/iterative.sh [--db FILE] [--backend NAME] [--seeds "0 1 2"]   (default --db runs/iterative.duckdb)
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/seeds.sh --db runs/iterative.duckdb "$@" \
  experiments/arith/online.json experiments/arith/offline.json experiments/arith/online-lenpen.json
