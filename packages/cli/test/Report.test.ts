import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { DuckDBInstance } from "@duckdb/node-api"
import { createHash } from "node:crypto"
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { chromiumMissing, openReport, type Opened } from "./Browser.ts"
import { exited, odpo, spawnOdpo } from "./CliProcess.ts"

const fixtures = join(import.meta.dirname, "fixtures")
const tiny = JSON.parse(readFileSync(join(fixtures, "tiny-bandit.json"), "utf8"))
const sha = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex")

const dir = mkdtempSync(join(tmpdir(), "odpo-report-"))
const db = join(dir, "odpo.duckdb")
const arms = { "study-online": "online", "study-offline": "offline" } as const
const runOutput: Record<string, string> = {}

const ok = async (args: ReadonlyArray<string>, env: Record<string, string> = {}) => {
  const r = await odpo(args, env)
  assert.strictEqual(r.code, 0, `odpo ${args.join(" ")}\n${r.stderr}`)
  return r
}

/** The one `odpo: …` line of a failed command (exit 1). */
const fails = async (args: ReadonlyArray<string>) => {
  const r = await odpo(args)
  assert.strictEqual(r.code, 1, `odpo ${args.join(" ")} should fail: ${r.stdout}${r.stderr}`)
  const lines = r.stderr.trim().split("\n").filter((l) => l.startsWith("odpo: "))
  assert.strictEqual(lines.length, 1, r.stderr)
  return lines[0]!
}

// A real 2-arm × 2-seed study, named as scripts/seeds.sh names it (<arm>-s<seed>); a run of
// another task; and a run killed after round 0 (π₀ only).
beforeAll(async () => {
  for (const [arm, pairSource] of Object.entries(arms)) {
    const config = join(dir, `${arm}.json`)
    writeFileSync(config, JSON.stringify({ ...tiny, name: arm, pairSource }))
    for (const seed of [0, 1]) runOutput[`${arm}-s${seed}`] = (await ok(["run", config, "--db", db, "--seed", String(seed), "--name", `${arm}-s${seed}`])).stdout
  }
  await ok(["run", join(fixtures, "tiny-arith.json"), "--db", db])
  const marker = join(dir, "paused")
  const child = spawnOdpo(["run", join(fixtures, "tiny-bandit.json"), "--db", db, "--name", "lonely"], { ODPO_PAUSE_BEFORE_RECORD: "1:started", ODPO_PAUSE_MARKER: marker })
  const exit = exited(child)
  while (!existsSync(marker)) {
    if (child.exitCode !== null) throw new Error((await exit).stderr)
    await new Promise((r) => setTimeout(r, 100))
  }
  child.kill("SIGKILL")
  await exit
}, 300_000)

afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** Every chart either drew marks or says why not: never empty axes. */
const assertNoEmptyAxes = (page: Opened) => {
  for (const s of page.sections.filter((s) => s.kind === "chart")) {
    if (s.drawn) assert.isAbove(s.marks, 0, `${s.id}: an SVG with no marks`)
    else {
      assert.strictEqual(s.svgs, 0, `${s.id}: not drawn, yet an SVG`)
      assert.match(s.missing[0] ?? "", /^Not drawn: /, s.id)
    }
  }
  assert.deepStrictEqual(page.consoleErrors, [])
  assert.deepStrictEqual(page.requests, [])
}

describe("odpo report, export and sparklines (real processes, real browser)", () => {
  it("a 2-arm × 2-seed study: every chart renders in chromium with JavaScript off, no console error, no request", async (ctx) => {
    const out = join(dir, "study", "report.html")
    const r = await ok(["report", "--study", "study-", "--db", db, "--out", out])
    assert.match(r.stdout, /report of 4 run\(s\) in 2 arm\(s\): 8 of 8 charts drawn → .*report\.html/)
    const html = readFileSync(out, "utf8")
    assert.notMatch(html, /<script/i)
    assert.notMatch(html, /\s(src|href)="(?!#)/) // nothing to load: only in-page links
    // 8 charts and 3 tables (over seeds, warnings, completions), each with its SQL
    assert.strictEqual((html.match(/<details class="sql">/g) ?? []).length, 11)
    // the over-seeds table: one row per arm (2 seeds each), then the one pair of arms
    assert.match(html, /<td><strong>study-offline<\/strong><\/td><td>2<\/td><td>2<\/td><td>[-\d.]+ \[[-\d.]+, [-\d.]+\]<\/td>/)

    const skip = chromiumMissing()
    if (skip !== null) return ctx.skip(skip)
    const png = join(dir, "study-report.png")
    const page = await openReport(out, png)
    assert.strictEqual(page.title, "odpo report — study study-")
    assertNoEmptyAxes(page)
    const charts = page.sections.filter((s) => s.kind === "chart")
    assert.deepStrictEqual(charts.map((s) => s.id), ["reward", "frontier", "length", "pairs", "distinct", "training", "gap", "diagnostics"])
    for (const s of charts) {
      assert.isTrue(s.drawn, `${s.id} was not drawn: ${s.missing.join(" ")}`)
      assert.strictEqual(s.svgs, 1, s.id)
    }
    const byId = Object.fromEntries(page.sections.map((s) => [s.id, s]))
    // Seeds fold into arms: one mean line and one bootstrap band per arm and panel (gold, proxy) …
    assert.strictEqual(byId.reward!.byType.line, 4)
    assert.strictEqual(byId.reward!.byType.area, 4)
    // … and the frontier has one point per arm and round (rounds 0, 1, 2), one line per arm.
    assert.strictEqual(byId.frontier!.byType.symbol, 6)
    assert.strictEqual(byId.frontier!.byType.line, 2)
    // 2 arms × rounds 1–2 of kept pairs (every tiny-bandit pair survives): 4 bars at least.
    assert.isAtLeast(byId.pairs!.byType.rect ?? 0, 4)
    // the completions table: 3 fixed held-out prompts × 3 rounds for each arm's lowest seed
    assert.strictEqual(byId.completions!.tableRows, 2 * 3 * 3)
    assert.strictEqual(byId["over-seeds"]!.tableRows, 2 + 1)
    // The checks can fail: an image from elsewhere is refused by the page's CSP (a console error),
    // and without the CSP it is a request.
    const img = `<img src="http://127.0.0.1:9/pixel.png">`
    const withCsp = join(dir, "with-csp.html")
    writeFileSync(withCsp, html.replace("<h1>", `${img}<h1>`))
    assert.match((await openReport(withCsp, join(dir, "with-csp.png"))).consoleErrors.join("\n"), /Content Security Policy/)
    const withoutCsp = join(dir, "without-csp.html")
    writeFileSync(withoutCsp, html.replace(/<meta http-equiv="Content-Security-Policy"[^>]*>/, "").replace("<h1>", `${img}<h1>`))
    assert.deepStrictEqual((await openReport(withoutCsp, join(dir, "without-csp.png"))).requests, ["http://127.0.0.1:9/pixel.png"])

    const bytes = readFileSync(png)
    assert.deepStrictEqual([...bytes.subarray(1, 4)], [0x50, 0x4e, 0x47]) // "PNG"
    assert.isAbove(statSync(png).size, 20_000)
  }, 120_000)

  it("odpo run and odpo compare print a gold-reward sparkline per run", async () => {
    const lines = runOutput["study-online-s0"]!.split("\n")
    const at = lines.findIndex((l) => l.startsWith("gold reward by round"))
    assert.isAtLeast(at, 0, runOutput["study-online-s0"])
    assert.match(lines[at + 1]!, /^ {2}study-online-s0 {2}[▁▂▃▄▅▆▇█]{3} {2}\d\.\d{3} → \d\.\d{3}$/)
    const c = await ok(["compare", "study-online-s0", "study-offline-s0", "--db", db])
    const spark = c.stdout.split("\n").filter((l) => /[▁▂▃▄▅▆▇█]{3}/.test(l))
    assert.strictEqual(spark.length, 2, c.stdout)
    // one shared scale: the highest gold reward of the two runs is a full block
    assert.include(spark.join(""), "█")
    const csv = await ok(["compare", "study-online-s0", "--db", db, "--format", "csv"])
    assert.notMatch(csv.stdout, /[▁█]/) // machine formats stay as they were
  }, 60_000)

  it("odpo export: Parquet reads back in DuckDB with identical rows; CSV and JSON lines hold the same counts", async () => {
    const runs = ["study-online-s0", "study-offline-s1"]
    const parquet = join(dir, "export", "parquet")
    const r = await ok(["export", ...runs, "--db", db, "--format", "parquet", "--out", parquet])
    assert.match(r.stdout, /rollouts\s+\d+ rows →/)
    await Promise.all(["csv", "jsonl"].map((format) => ok(["export", ...runs, "--db", db, "--format", format, "--out", join(dir, "export", format)])))

    const instance = await DuckDBInstance.create(db, { access_mode: "READ_ONLY" })
    const conn = await instance.connect()
    try {
      const rows = async (sql: string) => (await conn.runAndReadAll(sql)).getRowsJson()
      const ids = `(SELECT run_id FROM runs WHERE name IN ('${runs.join("', '")}'))`
      // What belongs to the runs, written here independently of odpo's export.
      const expected: Record<string, string> = {
        runs: `run_id IN ${ids}`, rounds: `run_id IN ${ids}`, rollouts: `run_id IN ${ids}`, pairs: `run_id IN ${ids}`,
        pair_filters: `run_id IN ${ids}`, train_steps: `run_id IN ${ids}`, evals: `run_id IN ${ids}`,
        scores: `rollout_id IN (SELECT rollout_id FROM rollouts WHERE run_id IN ${ids})`,
        prompts: `prompt_id IN (SELECT prompt_id FROM rollouts WHERE run_id IN ${ids})`,
        checkpoints: `ckpt_id IN (SELECT unnest([policy_ckpt, ref_ckpt, output_ckpt]) FROM rounds WHERE run_id IN ${ids}) OR run_id IN ${ids}
          OR ckpt_id IN (SELECT parent FROM checkpoints WHERE ckpt_id IN (SELECT policy_ckpt FROM rounds WHERE run_id IN ${ids}))`
      }
      for (const [table, where] of Object.entries(expected)) {
        const file = join(parquet, `${table}.parquet`)
        const stored = await rows(`SELECT * FROM ${table} WHERE ${where} ORDER BY ALL`)
        const back = await rows(`SELECT * FROM read_parquet('${file}') ORDER BY ALL`)
        assert.isAbove(stored.length, 0, table)
        assert.deepStrictEqual(back, stored, table)
        const types = async (sql: string) => (await conn.runAndReadAll(`DESCRIBE ${sql}`)).getRows().map((r) => [r[0], r[1]])
        assert.deepStrictEqual(await types(`SELECT * FROM read_parquet('${file}')`), await types(`SELECT * FROM ${table}`), table)
        const csv = await rows(`SELECT count(*) FROM read_csv('${join(dir, "export", "csv", `${table}.csv`)}')`)
        const jsonl = await rows(`SELECT count(*) FROM read_json('${join(dir, "export", "jsonl", `${table}.jsonl`)}', format = 'newline_delimited')`)
        assert.deepStrictEqual([csv[0]![0], jsonl[0]![0]], [String(stored.length), String(stored.length)], table)
      }
    } finally {
      conn.closeSync()
      instance.closeSync()
    }
  }, 120_000)

  it("a run with only round 0, and runs of different tasks, still render and say what is missing", async (ctx) => {
    const lonely = join(dir, "lonely.html")
    const mixed = join(dir, "mixed.html")
    await Promise.all([
      ok(["report", "lonely", "--db", db, "--out", lonely]),
      ok(["report", "study-online-s0", "tiny-arith", "--db", db, "--out", mixed])
    ])
    const lonelyHtml = readFileSync(lonely, "utf8")
    assert.include(lonelyHtml, "has only round 0 (π₀ made and evaluated)")
    assert.include(lonelyHtml, "is still running (or was killed)")
    assert.include(readFileSync(mixed, "utf8"), "These runs span 2 tasks (bandit: 1 run, arith: 1 run)")

    const skip = chromiumMissing()
    if (skip !== null) return ctx.skip(skip)
    const a = await openReport(lonely, join(dir, "lonely.png"))
    assertNoEmptyAxes(a)
    const drawn = (page: Opened) => Object.fromEntries(page.sections.filter((s) => s.kind === "chart").map((s) => [s.id, s.drawn]))
    // π₀ has a held-out evaluation (reward, KL 0, length) and nothing else
    assert.deepStrictEqual(drawn(a), {
      reward: true, frontier: true, length: true, pairs: false, distinct: false, training: false, gap: true, diagnostics: false
    })
    assert.match(a.sections.find((s) => s.id === "training")!.missing[0]!, /^Not drawn: no training steps recorded/)
    assert.isTrue(a.notices.some((n) => n.startsWith("lonely has only round 0")))

    const b = await openReport(mixed, join(dir, "mixed.png"))
    assertNoEmptyAxes(b)
    assert.isTrue(b.sections.filter((s) => s.kind === "chart").every((s) => s.drawn))
    // tiny-arith's rewards are all 0: every pair is a tie, nothing trains, and the chart says so
    assert.match(b.sections.find((s) => s.id === "training")!.missing[0]!, /^Not in this chart: tiny-arith — no training steps recorded/)
    assert.isTrue(b.notices.some((n) => n.startsWith("These runs span 2 tasks")))
    // the collapse the arith run printed is in the warnings table
    assert.isAbove(b.sections.find((s) => s.id === "warnings")!.tableRows, 0)
  }, 120_000)

  it("bad input: unknown run, non-writable --out, --study with no match — one clear line, exit 1, database unchanged", async () => {
    const before = sha(db)
    const file = join(dir, "a-file")
    writeFileSync(file, "")
    mkdirSync(join(dir, "a-dir"), { recursive: true })
    // read-only opens of one file can run side by side
    const cases: Array<[ReadonlyArray<string>, RegExp]> = [
      [["report", "study-online-s0", "nope", "--db", db, "--out", join(dir, "x.html")], /no run with id or name "nope" in .*; recent runs: /],
      [["report", "study-online-s0", "--db", db, "--out", join(file, "report.html")], /cannot write the report into .*a-file: .*a-file is a file, not a directory; choose a writable --out/],
      [["report", "study-online-s0", "--db", db, "--out", join(dir, "a-dir")], /cannot write the report to .*a-dir: it is a directory/],
      [["report", "--study", "stuyd-onl", "--db", db], /--study "stuyd-onl": no run name in .* starts with it; near names: study-online-s0, study-online-s1/],
      [["report", "lonely", "--study", "study-", "--db", db], /name runs or --study PREFIX, not both/],
      [["report", "lonely", "--db", join(dir, "none.duckdb")], /no run store at .*none\.duckdb/],
      [["export", "study-online-s0", "--db", db, "--out", join(file, "sub")], /cannot write the export into .*a-file is a file, not a directory/],
      [["export", "ghost", "--db", db, "--out", join(dir, "ghost")], /no run with id or name "ghost"/]
    ]
    const lines = await Promise.all(cases.map(([args]) => fails(args)))
    cases.forEach(([args, message], i) => assert.match(lines[i]!, message, args.join(" ")))
    assert.isFalse(existsSync(join(dir, "x.html")))
    assert.isFalse(existsSync(join(dir, "ghost")))
    assert.isFalse(existsSync(join(dir, "none.duckdb")))
    assert.strictEqual(sha(db), before, "a failed report or export changed the database")
  }, 120_000)
})
