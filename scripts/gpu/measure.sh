#!/usr/bin/env bash
# Every GPU figure issue 9 asks for, in one call on a GPU machine (from the pack: ./run.sh measure OUT;
# from a checkout with Node: bash scripts/gpu/measure.sh OUT). Writes into OUT:
#   bandit.log, bandit.duckdb   odpo run experiments/bandit/online.json --backend webgpu (8 rounds)
#   bandit-onnx.*               the same run on onnxruntime's WebGPU provider (--backend onnx-webgpu)
#   sentiment-sft.log           the GPU-sized sentiment π₀ (experiments/sentiment/gpu-online.json, 1 round)
#   bench/                      the webgpu bench (results.json, RESULTS.md)
#   torch-*.json                the PyTorch peers on CUDA (fp32, TF32 off), same shapes
#   hf-export.json              transformers' from_pretrained on odpo export-hf of the tiny Llama/Qwen fixtures
#   RESULTS-gpu.md              the table for bench/RESULTS.md: webgpu vs PyTorch CUDA, targets
#   all.tar.gz                  everything above in one file (a device call brings back at most 8 files)
# ODPO_MEASURE_QUICK=1 (scripts/gpu/test-pack.sh, on a machine without a GPU): the same steps on the
# tiny test config, the PyTorch peers on the CPU for a few steps and no bench or sentiment π₀ — it
# checks that every step runs, not how fast.
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
# odpo: the pack's bundle (run.sh sets ODPO_APP to its unpacked app) or a checkout's bin
if [ -n "${ODPO_APP:-}" ]; then ODPO=(node "$ODPO_APP/odpo.mjs"); BENCH=(node "$ODPO_APP/bench.mjs")
else ODPO=(node "$ROOT/packages/cli/bin/odpo.js"); BENCH=(node --import tsx "$ROOT/bench/run.ts"); fi
QUICK="${ODPO_MEASURE_QUICK:-}"
if [ -n "$QUICK" ]; then
  BANDIT=packages/cli/test/fixtures/tiny-bandit.json; ONNX_BACKEND="${ODPO_MEASURE_ONNX_BACKEND:-onnx}"
  TORCH_DEVICE=cpu; TORCH_CHECK=(-c 'import torch')
else
  BANDIT=experiments/bandit/online.json; ONNX_BACKEND="${ODPO_MEASURE_ONNX_BACKEND:-onnx-webgpu}"
  TORCH_DEVICE=cuda; TORCH_CHECK=(-c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)')
fi
[ -f "$BANDIT" ] || { echo "measure.sh: $BANDIT is missing: run from a checkout of odpo" >&2; exit 1; }
step() { echo "== $*" >&2; }
timed() { local t0=$EPOCHREALTIME; "$@"; local rc=$?; awk "BEGIN { print $EPOCHREALTIME - $t0 }" > "$OUT/.last_wall"; return $rc; }

{ nvidia-smi -L 2>/dev/null || echo "no nvidia-smi"; } > "$OUT/device.txt"

step "1. odpo run $BANDIT --backend webgpu"
rm -f "$OUT/bandit.duckdb"* "$OUT/bandit-onnx.duckdb"* "$OUT/failures.txt"
timed timeout "$(limit 240)" "${ODPO[@]}" run "$BANDIT" --backend webgpu --db "$OUT/bandit.duckdb" > "$OUT/bandit.log" 2>&1 \
  || echo "bandit run failed (exit $?): see bandit.log" >> "$OUT/failures.txt"
cp "$OUT/.last_wall" "$OUT/bandit.wall_s"
"${ODPO[@]}" query "SELECT round, stage, wall_s, backend FROM stage_times ORDER BY round, stage" --db "$OUT/bandit.duckdb" --format json > "$OUT/bandit-stages.json" 2>/dev/null
"${ODPO[@]}" query "SELECT backend, device FROM runs" --db "$OUT/bandit.duckdb" --format json > "$OUT/bandit-device.json" 2>/dev/null

step "1b. the same run on $ONNX_BACKEND"
timed timeout "$(limit 120)" "${ODPO[@]}" run "$BANDIT" --backend "$ONNX_BACKEND" --db "$OUT/bandit-onnx.duckdb" > "$OUT/bandit-onnx.log" 2>&1 \
  || echo "$ONNX_BACKEND bandit run failed (exit $?): see bandit-onnx.log" >> "$OUT/failures.txt"
cp "$OUT/.last_wall" "$OUT/bandit-onnx.wall_s"
"${ODPO[@]}" query "SELECT round, stage, wall_s, backend FROM stage_times ORDER BY round, stage" --db "$OUT/bandit-onnx.duckdb" --format json > "$OUT/bandit-onnx-stages.json" 2>/dev/null
"${ODPO[@]}" query "SELECT backend, device FROM runs" --db "$OUT/bandit-onnx.duckdb" --format json > "$OUT/bandit-onnx-device.json" 2>/dev/null

step "2. the webgpu bench"
if [ -n "$QUICK" ]; then echo "quick: no bench" > "$OUT/bench.log"; else
timeout "$(limit 240)" "${BENCH[@]}" --backend webgpu --out "$OUT/bench" > "$OUT/bench.log" 2>&1 \
  || echo "bench failed (exit $?): see bench.log" >> "$OUT/failures.txt"
fi

step "3. PyTorch peers on $TORCH_DEVICE"
PY="${PYTHON:-python3}"
# one peer: its JSON to OUT/NAME.json, a failure noted (never a silent empty file)
peer() { local name="$1"; shift; timeout "$(limit 60)" "$PY" "$@" > "$OUT/$name.json" 2>>"$OUT/torch.log" || echo "$name failed (exit $?): see torch.log" >> "$OUT/failures.txt"; }
if "$PY" "${TORCH_CHECK[@]}" 2>/dev/null; then
  if [ -n "$QUICK" ]; then S=(2 1 1); else S=(20 5 20); fi
  peer torch-train bench/torch_model.py --device "$TORCH_DEVICE" --json --steps "${S[0]}"
  peer torch-train-90m bench/torch_model.py --device "$TORCH_DEVICE" --json --steps "${S[1]}" --shape "$([ -n "$QUICK" ] && echo 256,64,2,2,32,2 || echo 8192,768,12,12,256,8)"
  peer torch-decode bench/torch_sample.py --device "$TORCH_DEVICE" --json $([ -n "$QUICK" ] && echo "--prompts 4 --samples 2 --new 4 --batch 8" || echo "--prompts 64 --samples 8 --new 32 --batch 512")
  peer torch-dpo bench/torch_dpo.py --device "$TORCH_DEVICE" --steps "${S[2]}"
  # a Llama at SmolLM2-135M's shape (V 49152, D 576, 30 layers, 9/3 heads, I 1536), as the webgpu bench
  if [ -n "$QUICK" ]; then LT=(256,64,2,4,32,2 2,128); LS=(256,64,2,4,2,128 --prompts 4 --samples 2 --new 4 --batch 8)
  else LT=(49152,576,30,9,128,8 3,1536,100000); LS=(49152,576,30,9,3,1536 --prompts 64 --samples 8 --new 32 --batch 512); fi
  peer torch-train-smollm bench/torch_model.py --device "$TORCH_DEVICE" --json --steps "${S[1]}" --arch llama --shape "${LT[0]}" --llama "${LT[1]}"
  peer torch-decode-smollm bench/torch_sample.py --device "$TORCH_DEVICE" --json --arch llama --shape "${LS[@]}"
else
  echo "no python3 with CUDA torch here: the PyTorch peers were not run" >> "$OUT/failures.txt"
fi

step "4. GPU-sized sentiment π₀ (SFT time)"
if [ -n "$QUICK" ]; then echo "quick: no sentiment π₀" > "$OUT/sentiment-sft.log"; else
SENT="$OUT/sentiment-1round.json"
node -e 'const c=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));c.rounds=1;require("fs").writeFileSync(process.argv[2],JSON.stringify(c))' \
  experiments/sentiment/gpu-online.json "$SENT"
rm -f "$OUT/sentiment.duckdb"*
timeout "$(limit 240)" "${ODPO[@]}" run "$SENT" --backend webgpu --db "$OUT/sentiment.duckdb" > "$OUT/sentiment-sft.log" 2>&1 \
  || echo "sentiment run failed (exit $?): see sentiment-sft.log" >> "$OUT/failures.txt"
"${ODPO[@]}" query "SELECT round, stage, wall_s FROM stage_times ORDER BY round, stage" --db "$OUT/sentiment.duckdb" --format json > "$OUT/sentiment-stages.json" 2>/dev/null
fi

step "4b. transformers loads odpo's Hugging Face export (issue 19)"
if "$PY" -c 'import transformers' 2>/dev/null; then
  rm -rf "$OUT/hf"; mkdir -p "$OUT/hf"; exports=()
  for name in llama_tiny qwen2_tiny qwen3_tiny; do
    "${ODPO[@]}" export-hf packages/model/test/fixtures/llama/$name --out "$OUT/hf/$name-export" --dtype F32 >> "$OUT/hf-export.log" 2>&1 \
      && exports+=("$OUT/hf/$name-export") || echo "odpo export-hf $name failed: see hf-export.log" >> "$OUT/failures.txt"
  done
  timeout "$(limit 90)" "$PY" scripts/gpu/hf-export-check.py packages/model/test/fixtures/llama "${exports[@]}" > "$OUT/hf-export.json" 2>> "$OUT/hf-export.log" \
    || echo "transformers did not load every export as odpo's numbers say: see hf-export.json, hf-export.log" >> "$OUT/failures.txt"
  rm -rf "$OUT/hf"
elif [ -z "$QUICK" ]; then echo "no transformers in $PY: the export check was not run" >> "$OUT/failures.txt"; fi

step "5. RESULTS-gpu.md"
node "$HERE/report.mjs" "$OUT" > "$OUT/RESULTS-gpu.md"
cat "$OUT/RESULTS-gpu.md"
[ -f "$OUT/failures.txt" ] && { echo; cat "$OUT/failures.txt"; }
# Written outside $OUT, then moved in: an archive written into the folder it reads changes that
# folder under tar ("file changed as we read it"), which fails it.
archive="$(mktemp "${TMPDIR:-/tmp}/odpo-figures.XXXXXX")"
tar -C "$OUT" --exclude=all.tar.gz -czf "$archive" . && mv "$archive" "$OUT/all.tar.gz" \
  || { rm -f "$archive"; echo "measure: could not archive $OUT into all.tar.gz (the files are there one by one)" >&2; }
exit 0
