#!/usr/bin/env bash
# Claim 4 (Dong et al. 2023): RAFT reward rises with K and across iterations; length drifts. experiments/sentiment/README.md
# Usage: scripts/studies/raft.sh [--db FILE] [--backend NAME] [--seeds "0 1 2"]   (default --db runs/raft.duckdb)
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/seeds.sh --db runs/raft.duckdb "$@" \
  experiments/sentiment/raft.json experiments/sentiment/raft-k16.json experiments/sentiment/raft-k32.json
