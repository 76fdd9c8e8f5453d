#!/usr/bin/env bash
# Claim 1 (Rafailov et al. 2023, Fig. 2): the DPO reward–KL frontier vs Preferred-FT on sentiment. experiments/sentiment/README.md
# Usage: scripts/studies/frontier.sh [--db FILE] [--backend NAME] [--seeds "0 1 2"]   (default --db runs/frontier.duckdb)
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/seeds.sh --db runs/frontier.duckdb "$@" \
  experiments/sentiment/frontier-dpo-b0.05.json experiments/sentiment/frontier-dpo-b0.1.json \
  experiments/sentiment/frontier-dpo-b1.json experiments/sentiment/frontier-dpo-b5.json \
  experiments/sentiment/frontier-pft.json
