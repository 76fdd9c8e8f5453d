import { assert, describe, it } from "@effect/vitest"
import { odpo } from "./CliProcess.ts"

// Usage errors: one line naming the problem and the command's --help, exit 2 (real processes).
describe("odpo usage errors", () => {
  it("an unknown subcommand, a missing argument or flag, --seed abc and --format xml exit 2 with one line", async () => {
    const cases: Array<[ReadonlyArray<string>, RegExp]> = [
      [["nope"], /^odpo: Unknown subcommand "nope" for "odpo" \(see `odpo --help`\)$/],
      [["run"], /^odpo: Missing required argument: config \(see `odpo run --help`\)$/],
      [["run", "x.json", "--seed", "abc"], /^odpo: Invalid value for flag --seed: "abc"\. .* \(see `odpo run --help`\)$/],
      [["query", "SELECT 1", "--format", "xml"], /^odpo: Invalid value for flag --format: "xml"\. Expected: "table" \| "csv" \| "json" \(see `odpo query --help`\)$/],
      [["sample", "--policy", "x"], /^odpo: Missing required flag: --prompts \(see `odpo sample --help`\)$/]
    ]
    const results = await Promise.all(cases.map(([args]) => odpo(args)))
    cases.forEach(([args, message], i) => {
      const r = results[i]!
      assert.strictEqual(r.code, 2, `${args.join(" ")}: ${r.stderr}`)
      assert.strictEqual(r.stdout, "", `${args.join(" ")} printed the help page`)
      const lines = r.stderr.trim().split("\n")
      assert.strictEqual(lines.length, 1, r.stderr)
      assert.match(lines[0]!, message)
    })
  })

  it("--help and --version still print and exit 0", async () => {
    const [help, version] = await Promise.all([odpo(["run", "--help"]), odpo(["--version"])])
    assert.strictEqual(help.code, 0)
    assert.include(help.stdout, "--seed")
    assert.strictEqual(version.code, 0)
    assert.include(version.stdout, "0.1.0")
  })

  it("the --help of sample and train-rm speaks of their own inputs: no config engine.backend; train-rm has --db", async () => {
    const [sample, trainRm] = await Promise.all([odpo(["sample", "--help"]), odpo(["train-rm", "--help"])])
    for (const h of [sample, trainRm]) {
      assert.strictEqual(h.code, 0)
      assert.notInclude(h.stdout, "engine.backend")
    }
    assert.include(sample.stdout, "engine that runs the policy (default auto)")
    assert.include(trainRm.stdout, "engine that trains the reward model (default auto)")
    assert.match(trainRm.stdout, /--db string\s+the run store of source \{"run": …\} \(overrides the config's source\.db, default runs\/odpo\.duckdb\)/)
  })
})
