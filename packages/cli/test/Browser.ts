// Test helper: open a report in Debian's chromium (headless, JavaScript off, no network of its own)
// and read back what a reader sees: each section's drawn marks, console errors, requests made.
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { chromium } from "playwright-core"

export const chromiumPath = "/usr/bin/chromium"
export const hasChromium = existsSync(chromiumPath)

/** Why the browser checks cannot run here, or null when they can. On CI (CI=true) a missing chromium is a failure, not a skip. */
export const chromiumMissing = (): string | null => {
  if (hasChromium) return null
  const why = `${chromiumPath} is not installed (apt-get install -y --no-install-recommends chromium; .ci/run does)`
  if (process.env.CI === "true") throw new Error(`CI=true but ${why}: the report's browser test cannot be skipped on CI`)
  return `skipped: ${why}`
}

// The flags of a browser that talks to nothing: no updates, sync, field trials or QUIC probes.
const flags = [
  "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
  "--disable-component-update", "--disable-sync"
]

export interface Section {
  readonly id: string
  readonly kind: "chart" | "table"
  readonly drawn: boolean
  /** Mark items (paths, symbols, rects, texts) inside the section's SVG `role-mark` groups, empty paths left out. */
  readonly marks: number
  /** Mark items by mark type, e.g. {"line": 4, "area": 4, "symbol": 6}. */
  readonly byType: Readonly<Record<string, number>>
  readonly svgs: number
  readonly tableRows: number
  readonly missing: ReadonlyArray<string>
}

export interface Opened {
  readonly sections: ReadonlyArray<Section>
  readonly consoleErrors: ReadonlyArray<string>
  /** Every request the page made other than loading the report file itself. */
  readonly requests: ReadonlyArray<string>
  readonly title: string
  readonly notices: ReadonlyArray<string>
}

/** Load `htmlFile` with JavaScript disabled, screenshot the full page to `png`, and report what rendered. */
export const openReport = async (htmlFile: string, png: string): Promise<Opened> => {
  const userDataDir = mkdtempSync(join(tmpdir(), "odpo-chromium-"))
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: chromiumPath, headless: true, javaScriptEnabled: false, args: flags, viewport: { width: 1200, height: 900 }
  })
  try {
    const url = pathToFileURL(htmlFile).href
    const requests: Array<string> = []
    const consoleErrors: Array<string> = []
    context.on("request", (r) => void (r.url() !== url && requests.push(r.url())))
    // Anything but the report itself is refused as well as recorded.
    await context.route("**/*", (route) => (route.request().url() === url ? route.continue() : route.abort()))
    const page = context.pages()[0] ?? (await context.newPage())
    page.on("console", (m) => void (m.type() === "error" && consoleErrors.push(m.text())))
    page.on("pageerror", (e) => void consoleErrors.push(e.message))
    await page.goto(url, { waitUntil: "load" })
    await page.screenshot({ path: png, fullPage: true })
    const sections = await page.locator("section.figure").evaluateAll((els) =>
      els.map((el) => {
        const items = [...el.querySelectorAll("svg g.role-mark > *")].filter((n) => !(n.tagName === "path" && !(n.getAttribute("d") ?? "").trim()))
        const byType: Record<string, number> = {}
        for (const n of items) {
          const type = [...n.parentElement!.classList].find((c) => c.startsWith("mark-"))!.slice(5)
          byType[type] = (byType[type] ?? 0) + 1
        }
        return {
          id: el.id,
          kind: el.classList.contains("chart") ? "chart" as const : "table" as const,
          drawn: el.getAttribute("data-drawn") === "true",
          marks: items.length,
          byType,
          svgs: el.querySelectorAll("svg").length,
          tableRows: el.querySelectorAll("tbody tr").length,
          missing: [...el.querySelectorAll(".missing")].map((m) => m.textContent ?? "")
        }
      }))
    const notices = await page.locator(".notice li").allTextContents()
    return { sections, consoleErrors, requests, title: await page.title(), notices }
  } finally {
    await context.close()
    rmSync(userDataDir, { recursive: true, force: true })
  }
}
