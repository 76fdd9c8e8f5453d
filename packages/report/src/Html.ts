/** The report page: one self-contained HTML file (inline SVG and CSS, no script, a CSP that forbids loading anything). */

export const escapeHtml = (s: string): string =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;")

/** One chart or table of the page. */
export interface Figure {
  readonly kind: "chart" | "table"
  readonly id: string
  readonly title: string
  readonly about: string
  readonly sql: string
  /** The SVG or table HTML; null when there was nothing to draw. */
  readonly body: string | null
  /** Sentences on what is missing (every arm, or some arms). */
  readonly missing: ReadonlyArray<string>
}

export interface Page {
  readonly title: string
  /** Lines under the title (database, selection). */
  readonly subtitle: ReadonlyArray<string>
  /** Things a reader must know before reading the charts (several tasks, runs with round 0 only …). */
  readonly notices: ReadonlyArray<string>
  /** The runs table: header and rows of already-escaped cells. */
  readonly runs: { readonly head: ReadonlyArray<string>; readonly rows: ReadonlyArray<ReadonlyArray<string>> }
  readonly figures: ReadonlyArray<Figure>
}

const css = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #222; margin: 2rem auto; max-width: 1100px; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; } h2 { font-size: 1.15rem; margin: 0 0 .3rem; }
.sub { color: #555; margin: 0; } .about { color: #444; max-width: 60rem; margin: 0 0 .6rem; }
.notice { background: #fff8e1; border-left: 4px solid #f0b400; padding: .5rem 1rem; }
.missing { color: #8a4b00; font-style: italic; }
section.figure { border-top: 1px solid #ddd; padding: 1.2rem 0; }
.plot { overflow-x: auto; } .plot svg { max-width: none; height: auto; }
table { border-collapse: collapse; font-size: 12.5px; margin: .4rem 0; }
th, td { border-bottom: 1px solid #e5e5e5; padding: .2rem .55rem; text-align: left; vertical-align: top; }
th { background: #f6f6f6; font-weight: 600; }
td code { font-size: 12px; white-space: pre-wrap; word-break: break-word; }
.flag { color: #b22222; font-weight: 600; margin-right: .4rem; }
details > summary { cursor: pointer; color: #355; margin-top: .4rem; }
pre { background: #f6f8fa; padding: .6rem .8rem; overflow-x: auto; font-size: 12px; }
nav ol { columns: 2; padding-left: 1.2rem; } footer { color: #777; font-size: 12px; margin-top: 2rem; }
`

const figureHtml = (f: Figure): string => {
  const missing = f.missing.map((m) => `<p class="missing">${escapeHtml(m)}</p>`).join("\n")
  const body = f.body === null ? "" : f.kind === "chart" ? `<div class="plot">${f.body}</div>` : f.body
  return `<section class="figure ${f.kind}" id="${f.id}" data-${f.kind}="${f.id}" data-drawn="${f.body !== null}">
<h2>${escapeHtml(f.title)}</h2>
<p class="about">${escapeHtml(f.about)}</p>
${body}
${missing}
<details class="sql"><summary>SQL</summary><pre><code>${escapeHtml(f.sql.trim())}</code></pre></details>
</section>`
}

export const page = (p: Page): string => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="odpo report">
<title>${escapeHtml(p.title)}</title>
<style>${css}</style>
</head>
<body>
<h1>${escapeHtml(p.title)}</h1>
${p.subtitle.map((s) => `<p class="sub">${escapeHtml(s)}</p>`).join("\n")}
${p.notices.length === 0 ? "" : `<div class="notice"><ul>${p.notices.map((n) => `<li>${escapeHtml(n)}</li>`).join("")}</ul></div>`}
<h2 style="margin-top:1.2rem">Runs</h2>
<table class="runs"><thead><tr>${p.runs.head.map((h) => `<th>${escapeHtml(h)}</th>`).join("")}</tr></thead>
<tbody>
${p.runs.rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join("")}</tr>`).join("\n")}
</tbody></table>
<nav><ol>${p.figures.map((f) => `<li><a href="#${f.id}">${escapeHtml(f.title)}</a></li>`).join("")}</ol></nav>
${p.figures.map(figureHtml).join("\n")}
<footer>Written by <code>odpo report</code>: charts are SVG drawn with Vega-Lite when the report was built, so this page runs no script and loads nothing.
Each chart's SQL runs as it is under <code>odpo query</code> on the same database.</footer>
</body>
</html>
`
