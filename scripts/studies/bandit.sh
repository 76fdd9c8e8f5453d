#!/usr/bin/env bash
# Claim 5 (Tajwar et al. 2024): on-policy data matters where the reward peak is unlikely under π_ref. experiments/bandit/README.md
# Usage: scripts/studies/bandit.sh [--db FILE] [--backend NAME] [--seeds "0 1 2"]   (default --db runs/bandit-study.duckdb)
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/seeds.sh --db runs/bandit-study.duckdb "$@" \
  experiments/bandit/online.json experiments/bandit/offline.json \
  experiments/bandit/mu20-online.json experiments/bandit/mu20-offline.json
