# Shared by the study scripts (sourced, from the repository root).

# Train a reward model (`odpo train-rm CONFIG`) unless the .onnx file its config names exists:
# a study's proxy is trained once and shared by its arms and seeds.
ensure_rm() {
  local out
  out=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).out)' "$1")
  if [ -f "$out" ]; then echo "study: reward model $out exists; reused" >&2
  else npx -y pnpm@12.4.2 odpo train-rm "$1"; fi
}
