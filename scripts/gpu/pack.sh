#!/usr/bin/env bash
# Builds a folder (≤ 60 MiB) that runs odpo on a GPU machine with no Node and no network:
#   node.xz          Node's binary (this machine's, linux-x64)
#   app.tar.xz       the esbuild bundle of the CLI and the bench, the JavaScript of the native
#                    packages, experiments/, the PyTorch peers, measure.sh
#   natives/*.xz     dawn.node, libduckdb.so + duckdb.node, libonnxruntime.so.1 + its binding:
#                    decompressed by run.sh, loaded by odpo only when a command needs them
#   debs/            Debian's libvulkan1 (the Vulkan loader; run.sh unpacks it with dpkg -x
#                    when the machine has none)
#   run.sh, MANIFEST
# Usage: scripts/gpu/pack.sh [OUT_DIR]    (default dist/odpo-gpu; XZ_LEVEL=-9e by default)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="$(realpath -m "${1:-$ROOT/dist/odpo-gpu}")"
XZ_LEVEL="${XZ_LEVEL:--9e}"
LIMIT=$((60 * 1024 * 1024))
[ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] || { echo "pack.sh: builds a linux-x64 pack; this is $(uname -s)-$(uname -m)" >&2; exit 1; }
command -v xz >/dev/null || { echo "pack.sh: needs xz (apt-get install xz-utils)" >&2; exit 1; }

STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
APP="$STAGE/app"
rm -rf "$OUT"
mkdir -p "$OUT/natives" "$OUT/debs" "$APP/node_modules"

echo "pack: bundle (CLI + bench)"
node "$ROOT/packages/cli/build.mjs" --out "$APP" --bench >/dev/null

# A package's directory as Node resolves it from packages/cli (where the bundle's externals live).
# (Its package.json may not be exported: resolve the entry point and walk up to the manifest.)
pkgdir() {
  local d
  d="$(cd "$ROOT/packages/cli" && node -e '
    const { dirname, join } = require("path"), { existsSync, readFileSync } = require("fs")
    const [name, base] = [process.argv[1], process.argv[2] || process.cwd()]
    try { console.log(dirname(require.resolve(name + "/package.json", { paths: [base] }))); process.exit(0) } catch {}
    let d = dirname(require.resolve(name, { paths: [base] }))
    while (!(existsSync(join(d, "package.json")) && JSON.parse(readFileSync(join(d, "package.json"), "utf8")).name === name)) {
      if (dirname(d) === d) throw new Error("no package.json named " + name)
      d = dirname(d)
    }
    console.log(d)' "$1" "${2:-}")" || true
  [ -n "$d" ] && [ -f "$d/package.json" ] || { echo "pack.sh: cannot find package $1" >&2; exit 1; }
  echo "$d"
}
# Copy a package's JavaScript (no docs, no other platforms' binaries, no natives).
copy_js() {
  local name="$1" from="$2" dest="$APP/node_modules/$1"
  mkdir -p "$dest"
  (cd "$from" && find . -type f \( -name '*.js' -o -name '*.cjs' -o -name '*.mjs' -o -name 'package.json' \) \
      -not -path './build/*' -not -path './test/*' -not -path '*/node_modules/*' -print0 | tar --null -T - -cf - | tar -xf - -C "$dest")
}
# Compress a native file to natives/<path under node_modules>.xz.
native() {
  local rel="$1" file="$2"
  mkdir -p "$OUT/natives/$(dirname "$rel")"
  xz $XZ_LEVEL -T0 -c "$file" > "$OUT/natives/$rel.xz"
}

echo "pack: native packages"
WEBGPU="$(pkgdir webgpu)"
copy_js webgpu "$WEBGPU"
native webgpu/dist/linux-x64/dawn.node "$WEBGPU/dist/linux-x64/dawn.node"

DUCK_API="$(pkgdir @duckdb/node-api)"
DUCK_BIND="$(pkgdir @duckdb/node-bindings "$DUCK_API")"
DUCK_LINUX="$(pkgdir @duckdb/node-bindings-linux-x64 "$DUCK_BIND")"
copy_js @duckdb/node-api "$DUCK_API"
copy_js @duckdb/node-bindings "$DUCK_BIND"
copy_js detect-libc "$(pkgdir detect-libc "$DUCK_BIND")"
copy_js @duckdb/node-bindings-linux-x64 "$DUCK_LINUX"
native @duckdb/node-bindings-linux-x64/duckdb.node "$DUCK_LINUX/duckdb.node"
native @duckdb/node-bindings-linux-x64/libduckdb.so "$DUCK_LINUX/libduckdb.so"

ORT="$(pkgdir onnxruntime-node)"
copy_js onnxruntime-node "$ORT"
find "$APP/node_modules/onnxruntime-node" -path '*/script/*' -delete 2>/dev/null || true
copy_js onnxruntime-common "$(pkgdir onnxruntime-common "$ORT")"
native onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node "$ORT/bin/napi-v6/linux/x64/onnxruntime_binding.node"
native onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1 "$ORT/bin/napi-v6/linux/x64/libonnxruntime.so.1"

echo "pack: experiments, PyTorch peers, measure.sh"
cp -r "$ROOT/experiments" "$APP/experiments"
rm -rf "$APP/experiments/node_modules"
mkdir -p "$APP/bench" "$APP/scripts/gpu"
cp "$ROOT"/bench/torch_*.py "$APP/bench/"
cp "$ROOT/scripts/gpu/measure.sh" "$ROOT/scripts/gpu/report.mjs" "$APP/scripts/gpu/"
tar -C "$STAGE" -cf - app | xz $XZ_LEVEL -T0 > "$OUT/app.tar.xz"

echo "pack: Node $(node --version)"
xz $XZ_LEVEL -T0 -c "$(readlink -f "$(command -v node)")" > "$OUT/node.xz"

echo "pack: Vulkan loader (Debian's libvulkan1)"
if (cd "$OUT/debs" && apt-get download libvulkan1 >/dev/null 2>&1); then :; else
  echo "pack: could not download libvulkan1 (no Debian registry here): the pack needs a machine with a Vulkan loader" >&2
fi

cp "$ROOT/scripts/gpu/run.sh" "$OUT/run.sh"
chmod +x "$OUT/run.sh"
{
  echo "odpo GPU pack · $(date -u +%FT%TZ) · $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "node $(node --version) · webgpu $(node -p "require('$WEBGPU/package.json').version") · duckdb $(node -p "require('$DUCK_API/package.json').version") · onnxruntime-node $(node -p "require('$ORT/package.json').version")"
  (cd "$OUT" && find . -type f ! -name MANIFEST -print0 | sort -z | xargs -0 sha256sum)
} > "$OUT/MANIFEST"

size=$(du -sb "$OUT" | cut -f1)
echo "pack: $OUT: $((size / 1024 / 1024)) MiB ($size bytes)"
if [ "$size" -gt "$LIMIT" ]; then echo "pack: over the 60 MiB limit" >&2; exit 1; fi
