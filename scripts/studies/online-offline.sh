#!/usr/bin/env bash
# Claim 2 (Guo et al. 2024; Tang et al. 2024): online beats offline, learned RM labels, gold judges. experiments/sentiment/README.md
# Usage: scripts/studies/online-offline.sh [--db FILE] [--backend NAME] [--seeds "0 1 2"]   (default --db runs/online-offline.duckdb)
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/studies/lib.sh
ensure_rm experiments/sentiment/rm.json
scripts/seeds.sh --db runs/online-offline.duckdb "$@" \
  experiments/sentiment/online-rm.json experiments/sentiment/offline-rm.json
