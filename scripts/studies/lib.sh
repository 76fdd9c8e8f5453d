# Shared by the study scripts (sourced, from the repository root).

# Train a reward model (`odpo train-rm CONFIG [--seed S]`) unless the .onnx file its config names
# exists: a study's proxy is trained once and shared by its arms (and, without S, by its seeds).
# `{seed}` in the config's out becomes S, else the config's own seed (0 by default), as train-rm does.
ensure_rm() {
  local out seed=()
  out=$(node -e 'const c = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); console.log(c.out.split("{seed}").join(process.argv[2] || String(c.seed ?? 0)))' "$1" "${2:-}")
  [ -n "${2:-}" ] && seed=(--seed "$2")
  if [ -f "$out" ]; then echo "study: reward model $out exists; reused" >&2
  else node packages/cli/bin/odpo.js train-rm "$1" "${seed[@]}"; fi
}
