// A PNG of the top of an `odpo report` page — its held-out reward and reward–KL charts — for an
// experiment README (experiments/<task>/results/<study>.png). Debian's chromium, driven as
// packages/cli/test/Browser.ts drives it: headless, JavaScript off, no network, no browser download.
//
// Usage: node scripts/report-png.mjs REPORT.html OUT.png [SECTION_ID …]   (default sections: reward frontier)
import { chromium } from "playwright-core"
import { mkdtempSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { pathToFileURL } from "node:url"

const [html, png, ...ids] = process.argv.slice(2)
if (html === undefined || png === undefined) {
  console.error("usage: node scripts/report-png.mjs REPORT.html OUT.png [SECTION_ID …]")
  process.exit(2)
}
const sections = ids.length > 0 ? ids : ["reward", "frontier"]
const flags = [
  "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
  "--disable-component-update", "--disable-sync"
]

const userDataDir = mkdtempSync(join(tmpdir(), "odpo-chromium-"))
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: "/usr/bin/chromium", headless: true, javaScriptEnabled: false, args: flags,
  viewport: { width: 1100, height: 900 }, deviceScaleFactor: 1
})
try {
  const url = pathToFileURL(resolve(html)).href
  await context.route("**/*", (route) => (route.request().url() === url ? route.continue() : route.abort()))
  const page = context.pages()[0] ?? (await context.newPage())
  await page.goto(url, { waitUntil: "load" })
  // The union of the sections' boxes (they stack vertically), from the top of the first.
  const boxes = []
  for (const id of sections) {
    const box = await page.locator(`section#${id}`).boundingBox()
    if (box === null) throw new Error(`${html} has no section #${id} (the report's section ids: reward, frontier, length, …)`)
    boxes.push(box)
  }
  const x = Math.min(...boxes.map((b) => b.x)), y = Math.min(...boxes.map((b) => b.y))
  const right = Math.max(...boxes.map((b) => b.x + b.width)), bottom = Math.max(...boxes.map((b) => b.y + b.height))
  await page.screenshot({ path: png, clip: { x, y, width: right - x, height: bottom - y }, fullPage: true })
  console.log(`${png}: ${Math.round(right - x)} × ${Math.round(bottom - y)} px, ${(statSync(png).size / 1024).toFixed(0)} KB`)
} finally {
  await context.close()
  rmSync(userDataDir, { recursive: true, force: true })
}
