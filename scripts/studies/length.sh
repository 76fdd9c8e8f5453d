#!/usr/bin/env bash
# Claim 7 (Park et al. 2024): length exploitation under a length-biased labeller, and what curbs it. experiments/length/README.md
# Usage: scripts/studies/length.sh [--db FILE] [--backend NAME] [--seeds "0 1 2"]   (default --db runs/length.duckdb)
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/seeds.sh --db runs/length.duckdb "$@" \
  experiments/length/dpo.json experiments/length/rdpo.json experiments/length/penalty.json
