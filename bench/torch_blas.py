"""Which BLAS this PyTorch runs its matmuls on, for the benches' fairness check.

Debian builds torch 1.13 with BLAS_INFO=generic: it calls whatever libblas.so.3 the
`libblas.so.3-x86_64-linux-gnu` alternative points at — the Netlib reference BLAS (libblas3) unless
an optimised one is installed (`apt-get install libopenblas0-pthread`). The library torch actually
loaded is read from /proc/self/maps after a matmul, so the answer is what ran, not what was meant.
"""
import os

import torch


def blas_in_use():
    torch.ones(64, 64) @ torch.ones(64, 64)
    config = torch.__config__.show()
    info = next((part.split("=", 1)[1] for part in config.replace(",", " ").split() if part.startswith("BLAS_INFO=")), "?")
    loaded = set()
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.split()[-1] if len(line.split()) >= 6 else ""
                base = os.path.basename(path)
                if base.startswith(("libblas", "libopenblas", "libmkl", "libblis", "libcblas")):
                    loaded.add(os.path.realpath(path))
    except OSError:
        pass
    lower = " ".join(sorted(loaded)).lower()
    if info == "mkl" or "mkl" in lower:
        kind = "mkl"
    elif "openblas" in lower or info == "open":
        kind = "openblas"
    elif "blis" in lower:
        kind = "blis"
    elif "atlas" in lower:
        kind = "atlas"
    elif loaded:
        kind = "reference"  # Netlib libblas3: /usr/lib/x86_64-linux-gnu/blas/libblas.so.3
    else:
        kind = "unknown"
    return {"kind": kind, "blas_info": info, "libraries": sorted(loaded)}


if __name__ == "__main__":
    import json

    print(json.dumps(blas_in_use()))
