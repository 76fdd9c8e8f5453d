#!/usr/bin/env bash
# Claim 8 (Ethayarajh et al. 2024): KTO on binary labels vs DPO on pairs (also at DPO's optimizer steps), then with 90 % of desirable examples dropped. experiments/arith/README.md
# Usage: scripts/studies/kto.sh [--db FILE] [--backend NAME] [--seeds "0 1 2"]   (default --db runs/kto.duckdb)
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/seeds.sh --db runs/kto.duckdb "$@" \
  experiments/arith/kto-dpo.json experiments/arith/kto.json experiments/arith/kto-drop90.json \
  experiments/arith/kto-steps.json
