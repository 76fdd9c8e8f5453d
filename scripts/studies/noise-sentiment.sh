#!/usr/bin/env bash
# Label noise on sentiment: DPO vs cDPO vs rDPO with a share ε of pairs flipped. experiments/sentiment/README.md
# Usage: scripts/studies/noise-sentiment.sh [--db FILE] [--backend NAME] [--seeds "0 1 2"]   (default --db runs/noise-sentiment.duckdb)
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/seeds.sh --db runs/noise-sentiment.duckdb "$@" \
  experiments/sentiment/noise-dpo-e0.json experiments/sentiment/noise-dpo-e0.1.json experiments/sentiment/noise-dpo-e0.2.json experiments/sentiment/noise-dpo-e0.4.json \
  experiments/sentiment/noise-cdpo-e0.json experiments/sentiment/noise-cdpo-e0.1.json experiments/sentiment/noise-cdpo-e0.2.json experiments/sentiment/noise-cdpo-e0.4.json \
  experiments/sentiment/noise-rdpo-e0.json experiments/sentiment/noise-rdpo-e0.1.json experiments/sentiment/noise-rdpo-e0.2.json experiments/sentiment/noise-rdpo-e0.4.json
