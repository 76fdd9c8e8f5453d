// Builds the `odpo` CLI (and the bench) into one esbuild bundle, split so that heavy modules
// (tfjs, the trainer, onnxruntime, Dawn) load only when a command needs them. Used by bin/odpo.js
// (rebuilds when a source is newer than the bundle), by `pnpm install` (prepare) and by
// scripts/gpu/pack.sh. Natives stay external: node_modules (or the GPU pack) provides them.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs"
import { dirname, join, relative, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const cliDir = dirname(fileURLToPath(import.meta.url))
export const repoRoot = resolve(cliDir, "../..")
export const distDir = join(cliDir, "dist")

/** Packages with native code or files found at run time: never bundled. */
export const externals = ["@duckdb/node-api", "onnxruntime-node", "esbuild", "webgpu", "@tensorflow/tfjs-node", "@tensorflow/tfjs-node-gpu"]

/** Everything whose change means a rebuild: sources, package manifests, the lock file, this script. */
const inputs = () => {
  const files = [join(repoRoot, "pnpm-lock.yaml"), fileURLToPath(import.meta.url)]
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, entry.name)
      if (entry.isDirectory()) walk(p)
      else if (/\.(ts|mjs|js|json)$/.test(entry.name)) files.push(p)
    }
  }
  for (const pkg of readdirSync(join(repoRoot, "packages"))) {
    const src = join(repoRoot, "packages", pkg, "src")
    if (existsSync(src)) walk(src)
    files.push(join(repoRoot, "packages", pkg, "package.json"))
  }
  walk(join(repoRoot, "bench"))
  files.push(join(repoRoot, "scripts", "node20-polyfills.mjs"))
  return files.filter((f) => existsSync(f))
}

/** The build the launcher runs: dist/current names its directory (switched by an atomic rename). */
export const currentBuild = () => {
  const pointer = join(distDir, "current")
  if (!existsSync(pointer)) return undefined
  const dir = join(distDir, readFileSync(pointer, "utf8").trim())
  return existsSync(join(dir, "odpo.mjs")) ? dir : undefined
}

/** True when there is no build, or a source is newer than it. */
export const isStale = () => {
  const dir = currentBuild()
  if (!dir) return true
  const built = statSync(join(dir, "odpo.mjs")).mtimeMs
  return inputs().some((f) => statSync(f).mtimeMs > built)
}

/** esbuild options for the CLI (and the bench): ESM, split chunks, Node 20. */
export const buildOptions = (outdir, { bench = false } = {}) => ({
  absWorkingDir: repoRoot,
  entryPoints: { odpo: "packages/cli/src/bin.ts", ...(bench ? { bench: "bench/run.ts" } : {}) },
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  outdir,
  chunkNames: "chunks/[name]-[hash]",
  outExtension: { ".js": ".mjs" },
  external: externals,
  // Bundled CommonJS (tfjs) calls require(); ESM output has none unless the banner makes one.
  banner: { js: "import { createRequire as __odpoCreateRequire } from 'node:module'; const require = __odpoCreateRequire(import.meta.url);" },
  logLevel: "error",
  legalComments: "none"
})

/**
 * Build into a fresh directory and make it current. Older builds stay a day (at most 10): a running
 * process may still load a chunk of the build it started from.
 */
export const build = async ({ bench = false } = {}) => {
  const esbuild = await import("esbuild")
  mkdirSync(distDir, { recursive: true })
  const name = `build-${Date.now()}-${process.pid}`
  const out = join(distDir, name)
  await esbuild.build(buildOptions(out, { bench }))
  const tmp = join(distDir, `current.${process.pid}`)
  writeFileSync(tmp, name + "\n")
  renameSync(tmp, join(distDir, "current"))
  const dayAgo = Date.now() - 24 * 3600 * 1000
  const older = readdirSync(distDir)
    .filter((d) => d.startsWith("build-") && d !== name)
    .map((d) => ({ d, t: statSync(join(distDir, d)).mtimeMs }))
    .sort((x, y) => y.t - x.t)
  older.forEach(({ d, t }, i) => {
    if (t < dayAgo || i >= 10) rmSync(join(distDir, d), { recursive: true, force: true })
  })
  return out
}

// `node packages/cli/build.mjs [--if-stale] [--bench] [--out DIR]`
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2)
  const outAt = args.indexOf("--out")
  if (outAt >= 0) {
    const esbuild = await import("esbuild")
    await esbuild.build(buildOptions(resolve(args[outAt + 1]), { bench: args.includes("--bench") }))
    console.log(`odpo bundle → ${relative(process.cwd(), resolve(args[outAt + 1]))}`)
  } else if (!args.includes("--if-stale") || isStale()) {
    console.log(`odpo bundle → ${relative(process.cwd(), await build({ bench: args.includes("--bench") }))}`)
  }
}
