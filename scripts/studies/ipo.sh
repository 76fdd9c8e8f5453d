#!/usr/bin/env bash
# Claim 6 (Azar et al. 2023): IPO bounds the drift DPO does not, on the 3-action total order. experiments/order/README.md
# Usage: scripts/studies/ipo.sh [--db FILE] [--backend NAME] [--seeds "0 1 2"]   (default --db runs/ipo.duckdb)
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/seeds.sh --db runs/ipo.duckdb "$@" \
  experiments/order/dpo-b0.1.json experiments/order/dpo-b1.json experiments/order/dpo-b5.json \
  experiments/order/ipo-t0.1.json experiments/order/ipo-t1.json experiments/order/ipo-t5.json
