const mod = await import("./optimizer.bench.ts")
console.log(JSON.stringify(await mod.default(), null, 1))
