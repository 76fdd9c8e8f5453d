"""Reference numbers for packages/report/src/Statistics.ts, computed independently with numpy (and scipy).

Run: /usr/bin/python3 scripts/statistics_reference.py > packages/report/test/fixtures/statistics.json
 or: /usr/bin/python3 scripts/statistics_reference.py --diffs 0.1,0.2,… [--resamples B] [--seed S]
     (the mean, interval and p-value of given per-seed differences, as one JSON line)
The bootstrap draws its indices from the same stream as Statistics.bootstrapMeans (mulberry32,
i = floor(u * n), resample after resample), so numpy's interval must match the TypeScript one to
rounding; the sign-flip p-value is enumerated here over all 2^n sign vectors with numpy, and checked
against scipy.stats.permutation_test (permutation_type="samples", paired) where scipy is installed.
"""
import itertools
import json
import sys

import numpy as np

M32 = 0xFFFFFFFF


def imul(a, b):
    return (a * b) & M32


def mulberry32(seed):
    a = seed & M32
    while True:
        a = (a + 0x6D2B79F5) & M32
        t = a
        t = imul(t ^ (t >> 15), t | 1)
        t = (t ^ ((t + imul(t ^ (t >> 7), t | 61)) & M32)) & M32
        yield ((t ^ (t >> 14)) & M32) / 4294967296


def bootstrap(xs, resamples, seed, level=0.95):
    xs = np.asarray(xs, dtype=np.float64)
    n = len(xs)
    rand = mulberry32(seed)
    idx = np.array([[int(next(rand) * n) for _ in range(n)] for _ in range(resamples)])
    means = xs[idx].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2], method="linear")
    return {"mean": float(xs.mean()), "lo": float(lo), "hi": float(hi), "first_means": [float(m) for m in means[:5]]}


def sign_flip_p(d):
    d = np.asarray(d, dtype=np.float64)
    signs = np.array(list(itertools.product([1.0, -1.0], repeat=len(d))))
    sums = np.abs(signs @ d)
    observed = abs(d.sum())
    tol = 1e-9 * max(1.0, np.abs(d).sum())
    return float(np.mean(sums >= observed - tol))


def scipy_p(a, b):
    try:
        from scipy import stats
    except ImportError:
        return None
    res = stats.permutation_test((np.asarray(a), np.asarray(b)), lambda x, y: np.mean(x - y),
                                 permutation_type="samples", alternative="two-sided", n_resamples=np.inf)
    return float(res.pvalue)


if __name__ == "__main__" and "--diffs" in sys.argv:
    arg = lambda name, default: sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default
    d = [float(x) for x in arg("--diffs", "").split(",")]
    b = bootstrap(d, int(arg("--resamples", "10000")), int(arg("--seed", "0")))
    print(json.dumps({"n": len(d), "mean": b["mean"], "lo": b["lo"], "hi": b["hi"], "p": sign_flip_p(d)}))
    sys.exit(0)

# Fixed data: ten seeds of two arms (paired by position), three seeds, and a difference with ties.
a10 = [0.747, 0.358, 0.760, 0.737, 0.702, 0.815, 0.690, 0.744, 0.801, 0.512]
b10 = [0.128, 0.201, 0.090, 0.640, 0.150, 0.399, 0.722, 0.105, 0.160, 0.300]
a3 = [0.618, 0.701, 0.655]
b3 = [0.634, 0.580, 0.602]
ties = [0.1, -0.1, 0.2, 0.0, 0.1]

cases = []
for name, xs, b, resamples, seed in [
    ("ten seeds", a10, b10, 10000, 0),
    ("three seeds", a3, b3, 10000, 7),
    ("ten seeds, 2000 resamples, seed 42", a10, b10, 2000, 42),
]:
    d = [x - y for x, y in zip(xs, b)]
    cases.append({
        "name": name, "a": xs, "b": b, "resamples": resamples, "seed": seed,
        "mean_a": bootstrap(xs, resamples, seed),
        "difference": bootstrap(d, resamples, seed),
        "p": sign_flip_p(d),
        "p_scipy": scipy_p(xs, b),
    })

rand = mulberry32(0)
print(json.dumps({
    "mulberry32_seed0_first": [next(rand) for _ in range(5)],
    "cases": cases,
    "ties": {"d": ties, "p": sign_flip_p(ties)},
    "quantiles": {"xs": [3.0, 1.0, 4.0, 1.5, 9.0, 2.6], "q": [0.025, 0.5, 0.975],
                  "values": [float(v) for v in np.quantile([3.0, 1.0, 4.0, 1.5, 9.0, 2.6], [0.025, 0.5, 0.975], method="linear")]},
}, indent=1))
