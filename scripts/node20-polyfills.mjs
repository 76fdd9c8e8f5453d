// vitest 5 targets Node ≥ 22 and calls Map.groupBy / Object.groupBy (Node 21+) when it reports
// failures; Node 20 lacks them. Loaded with `node --import` by the test command.
if (typeof Map.groupBy !== "function") {
  Map.groupBy = (items, key) => {
    const out = new Map()
    let i = 0
    for (const item of items) {
      const k = key(item, i++)
      const list = out.get(k)
      if (list) list.push(item)
      else out.set(k, [item])
    }
    return out
  }
}
if (typeof Object.groupBy !== "function") {
  Object.groupBy = (items, key) => {
    const out = Object.create(null)
    let i = 0
    for (const item of items) {
      const k = key(item, i++)
      ;(out[k] ??= []).push(item)
    }
    return out
  }
}
