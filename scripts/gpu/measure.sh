#!/usr/bin/env bash
# Every GPU figure issue 9 asks for, in one call on a GPU machine (from the pack: ./run.sh measure OUT;
# from a checkout with Node: bash scripts/gpu/measure.sh OUT). Writes into OUT:
#   bandit.log, bandit.duckdb   odpo run experiments/bandit/online.json --backend webgpu (8 rounds)
#   sentiment-sft.log           the GPU-sized sentiment π₀ (experiments/sentiment/gpu-online.json, 1 round)
#   bench/                      the webgpu bench (results.json, RESULTS.md)
#   torch-*.json                the PyTorch peers on CUDA (fp32, TF32 off), same shapes
#   RESULTS-gpu.md              the table for bench/RESULTS.md: webgpu vs PyTorch CUDA, targets
# The whole call keeps within ODPO_MEASURE_SECONDS (default 540: a device session allows 600 s a
# command); each step gets at most its own limit and what is left, so one slow or hung step cannot
# take the rest. A step that fails or runs out of time is noted in failures.txt.
set -uo pipefail
START=$SECONDS
TOTAL="${ODPO_MEASURE_SECONDS:-540}"
# seconds a step may take: its own limit, or what is left of the total (at least 1)
limit() { local left=$((TOTAL - (SECONDS - START) - 15)); [ "$left" -lt "$1" ] && echo $((left > 1 ? left : 1)) || echo "$1"; }
OUT="$(realpath -m "${1:-gpu-figures}")"
mkdir -p "$OUT"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
cd "$ROOT"
# odpo: the pack's bundle (app/odpo.mjs) or a checkout's bin
if [ -f "$ROOT/odpo.mjs" ]; then ODPO=(node "$ROOT/odpo.mjs"); BENCH=(node "$ROOT/bench.mjs")
else ODPO=(node "$ROOT/packages/cli/bin/odpo.js"); BENCH=(node --import tsx "$ROOT/bench/run.ts"); fi
step() { echo "== $*" >&2; }
timed() { local t0=$EPOCHREALTIME; "$@"; local rc=$?; awk "BEGIN { print $EPOCHREALTIME - $t0 }" > "$OUT/.last_wall"; return $rc; }

{ nvidia-smi -L 2>/dev/null || echo "no nvidia-smi"; } > "$OUT/device.txt"

step "1. odpo run experiments/bandit/online.json --backend webgpu"
rm -f "$OUT/bandit.duckdb"*
timed timeout "$(limit 240)" "${ODPO[@]}" run experiments/bandit/online.json --backend webgpu --db "$OUT/bandit.duckdb" > "$OUT/bandit.log" 2>&1 \
  || echo "bandit run failed (exit $?): see bandit.log" >> "$OUT/failures.txt"
cp "$OUT/.last_wall" "$OUT/bandit.wall_s"
"${ODPO[@]}" query "SELECT round, stage, wall_s, backend FROM stage_times ORDER BY round, stage" --db "$OUT/bandit.duckdb" --format json > "$OUT/bandit-stages.json" 2>/dev/null
"${ODPO[@]}" query "SELECT backend, device FROM runs" --db "$OUT/bandit.duckdb" --format json > "$OUT/bandit-device.json" 2>/dev/null

step "2. the webgpu bench"
timeout "$(limit 200)" "${BENCH[@]}" --backend webgpu --out "$OUT/bench" > "$OUT/bench.log" 2>&1 \
  || echo "bench failed (exit $?): see bench.log" >> "$OUT/failures.txt"

step "3. PyTorch peers on CUDA"
PY="${PYTHON:-python3}"
if "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  timeout "$(limit 60)" "$PY" bench/torch_model.py --device cuda --json --steps 20 > "$OUT/torch-train.json" 2>>"$OUT/torch.log"
  timeout "$(limit 60)" "$PY" bench/torch_model.py --device cuda --json --steps 5 --shape 8192,768,12,12,256,8 > "$OUT/torch-train-90m.json" 2>>"$OUT/torch.log"
  timeout "$(limit 60)" "$PY" bench/torch_sample.py --device cuda --json --prompts 64 --samples 8 --new 32 --batch 512 > "$OUT/torch-decode.json" 2>>"$OUT/torch.log"
  timeout "$(limit 60)" "$PY" bench/torch_dpo.py --device cuda --steps 20 > "$OUT/torch-dpo.json" 2>>"$OUT/torch.log"
else
  echo "no python3 with CUDA torch here: the PyTorch peers were not run" >> "$OUT/failures.txt"
fi

step "4. GPU-sized sentiment π₀ (SFT time)"
SENT="$OUT/sentiment-1round.json"
node -e 'const c=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));c.rounds=1;require("fs").writeFileSync(process.argv[2],JSON.stringify(c))' \
  experiments/sentiment/gpu-online.json "$SENT"
rm -f "$OUT/sentiment.duckdb"*
timeout "$(limit 240)" "${ODPO[@]}" run "$SENT" --backend webgpu --db "$OUT/sentiment.duckdb" > "$OUT/sentiment-sft.log" 2>&1 \
  || echo "sentiment run failed (exit $?): see sentiment-sft.log" >> "$OUT/failures.txt"
"${ODPO[@]}" query "SELECT round, stage, wall_s FROM stage_times ORDER BY round, stage" --db "$OUT/sentiment.duckdb" --format json > "$OUT/sentiment-stages.json" 2>/dev/null

step "5. RESULTS-gpu.md"
node "$HERE/report.mjs" "$OUT" > "$OUT/RESULTS-gpu.md"
cat "$OUT/RESULTS-gpu.md"
[ -f "$OUT/failures.txt" ] && { echo; cat "$OUT/failures.txt"; }
exit 0
