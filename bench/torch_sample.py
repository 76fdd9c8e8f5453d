"""The sampler benchmark's work in PyTorch, for the tfjs/torch ratio (run by hand, not in CI):

    apt-get install -y python3-torch   # if absent
    /usr/bin/python3 bench/torch_sample.py [--device cuda] [--prompts 64 --samples 8 --new 32 --batch 256] [--threads 2] [--json]

Reference model V=64, D=128, L=4, H=4, context 64 (GPT-2 shape, random init); 64 prompts (BOS + 4…11
tokens, as bench/sampler.bench.ts) × 8 samples × 32 new tokens, 256 rows per batch, left padding with
per-row positions and a key mask, a KV cache (and full recompute for comparison), raw-policy
log-probs recorded per token as the tfjs engine does. Prints tokens/s. On a GPU machine
scripts/gpu/measure.sh runs it with --device cuda --prompts 64 --batch 512 --no-recompute --json
(512 rows × 32 new tokens, as the webgpu bench). --arch llama --shape V,D,L,H,KV,I samples from
torch_llama.py's decoder (SmolLM2-135M: --shape 49152,576,30,9,3,1536), prompts of tokens 3…63 as here.
"""
import argparse
import json
import math
import time

import torch
import torch.nn.functional as F

from torch_blas import blas_in_use
from torch_llama import Llama

ap = argparse.ArgumentParser()
ap.add_argument("--device", default="cpu", help="cpu or cuda (fp32: TF32 off)")
ap.add_argument("--prompts", type=int, default=64)
ap.add_argument("--samples", type=int, default=8)
ap.add_argument("--new", type=int, default=32)
ap.add_argument("--batch", type=int, default=256, help="rows per generate call")
ap.add_argument("--no-recompute", action="store_true", help="skip the full-recompute comparison")
ap.add_argument("--threads", type=int, default=2, help="CPU threads")
ap.add_argument("--json", action="store_true", help="only the KV-cache run over all prompts, as JSON (what onnx.bench.ts compares with)")
ap.add_argument("--arch", default="gpt2", choices=["gpt2", "llama"])
ap.add_argument("--shape", default="", help="--arch llama: V,D,L,H,KV,I")
ARGS = ap.parse_args()

V, C, D, L, H = 64, 64, 128, 4, 4
if ARGS.arch == "llama":
    V, D, L, H, KV, I = (int(x) for x in ARGS.shape.split(","))
PROMPTS, SAMPLES, NEW, BATCH = ARGS.prompts, ARGS.samples, ARGS.new, ARGS.batch
PAD, BOS = 0, 1
DEV = torch.device(ARGS.device)
if DEV.type == "cuda":
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
else:
    torch.set_num_threads(ARGS.threads)
torch.manual_seed(0)


class Gpt(torch.nn.Module):
    def __init__(self):
        super().__init__()
        init = lambda *s: torch.nn.Parameter(torch.randn(*s) * 0.02)
        self.wte, self.wpe = init(V, D), init(C, D)
        self.blocks = torch.nn.ModuleList()
        for _ in range(L):
            b = torch.nn.Module()
            b.ln1, b.ln2 = torch.nn.LayerNorm(D), torch.nn.LayerNorm(D)
            b.attn, b.proj = torch.nn.Linear(D, 3 * D), torch.nn.Linear(D, D)
            b.fc, b.out = torch.nn.Linear(D, 4 * D), torch.nn.Linear(4 * D, D)
            self.blocks.append(b)
        self.ln_f = torch.nn.LayerNorm(D)

    def forward(self, ids, positions, key_mask, cache=None):
        """ids/positions [B, T]; key_mask [B, T_past + T] (1 = real); cache: list of (k, v) [B, H, T_past, hd]."""
        B, T = ids.shape
        t_past = 0 if cache is None else cache[0][0].shape[2]
        x = self.wte[ids] + self.wpe[positions]
        q_idx = torch.arange(t_past, t_past + T, device=ids.device).view(T, 1)
        k_idx = torch.arange(t_past + T, device=ids.device).view(1, -1)
        allowed = (k_idx <= q_idx).view(1, 1, T, -1) & key_mask.bool().view(B, 1, 1, -1)
        mask = (~allowed).float() * -1e9
        new_cache = []
        for i, b in enumerate(self.blocks):
            q, k, v = b.attn(b.ln1(x)).split(D, dim=2)
            heads = lambda t: t.view(B, T, H, D // H).transpose(1, 2)
            q, k, v = heads(q), heads(k), heads(v)
            if cache is not None:
                k, v = torch.cat([cache[i][0], k], 2), torch.cat([cache[i][1], v], 2)
            new_cache.append((k, v))
            att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(D // H) + mask, -1)
            x = x + b.proj((att @ v).transpose(1, 2).reshape(B, T, D))
            x = x + b.out(F.gelu(b.fc(b.ln2(x)), approximate="tanh"))
        return self.ln_f(x) @ self.wte.T, new_cache


def prompts():
    return [[BOS] + [3 + (i * 7 + t * 13) % 61 for t in range(4 + i % 8)] for i in range(PROMPTS)]


def left_pad(rows):
    T = max(len(r) for r in rows)
    ids = torch.full((len(rows), T), PAD, dtype=torch.long)
    pos = torch.zeros((len(rows), T), dtype=torch.long)
    mask = torch.zeros((len(rows), T))
    for b, r in enumerate(rows):
        off = T - len(r)
        ids[b, off:] = torch.tensor(r)
        pos[b, off:] = torch.arange(len(r))
        mask[b, off:] = 1
    return ids.to(DEV), pos.to(DEV), mask.to(DEV)


def draw(logits, logprobs):
    """Sample from the raw distribution (PAD/BOS suppressed); record the raw log-prob."""
    lp = torch.log_softmax(logits, -1)
    allowed = logits.clone()
    allowed[:, [PAD, BOS]] = -math.inf
    tok = torch.multinomial(torch.softmax(allowed, -1), 1)
    logprobs.append(lp.gather(1, tok))
    return tok


@torch.no_grad()
def generate(model, rows, kv_cache):
    ids, pos, mask = left_pad(rows)
    logits, cache = model(ids, pos, mask)
    next_pos = pos[:, -1:] + 1
    logprobs, out = [], []
    tok = draw(logits[:, -1], logprobs)
    out.append(tok)
    for _ in range(NEW - 1):
        mask = torch.cat([mask, torch.ones(len(rows), 1, device=DEV)], 1)
        if kv_cache:
            logits, cache = model(tok, next_pos, mask, cache)
        else:
            ids, pos = torch.cat([ids, tok], 1), torch.cat([pos, next_pos], 1)
            logits, _ = model(ids, pos, mask)
        next_pos = next_pos + 1
        tok = draw(logits[:, -1], logprobs)
        out.append(tok)
    return torch.cat(out, 1)


def bench(model, kv_cache, n_prompts=PROMPTS):
    """(tokens per wall second, tokens per CPU second of this process, all threads)."""
    rows = [p for p in prompts()[:n_prompts] for _ in range(SAMPLES)]
    t0, c0 = time.perf_counter(), time.process_time()
    tokens = 0
    best = 0.0  # the least disturbed batch's rate, for ratios on a shared machine
    for i in range(0, len(rows), BATCH):
        b0 = time.perf_counter()
        made = generate(model, rows[i : i + BATCH], kv_cache).numel()
        if DEV.type == "cuda":
            torch.cuda.synchronize()
        best = max(best, made / (time.perf_counter() - b0))
        tokens += made
    return tokens / (time.perf_counter() - t0), tokens / (time.process_time() - c0), best


model = (Llama(V, D, L, H, KV, I) if ARGS.arch == "llama" else Gpt()).to(DEV).eval()
generate(model, prompts()[:4], True)  # warm-up
cached = bench(model, True)
if ARGS.json:
    name = torch.cuda.get_device_name(DEV) if DEV.type == "cuda" else "cpu"
    print(json.dumps({"torch": torch.__version__, "device": name, "rows": PROMPTS * SAMPLES, "new_tokens": NEW, "batch": BATCH,
                      "threads": torch.get_num_threads(), "kv_tokens_per_wall_s": cached[0], "kv_tokens_per_cpu_s": cached[1],
                      "kv_best_batch_tokens_per_s": cached[2], "blas": blas_in_use()}))
    raise SystemExit(0)
small = bench(model, True, 8)
full = bench(model, False, 8) if not ARGS.no_recompute else (float("nan"), float("nan"), float("nan"))
print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, BLAS {blas_in_use()['kind']}")
print(f"KV cache, {PROMPTS}x{SAMPLES}x{NEW}: {cached[0]:.0f} tokens per wall s, {cached[1]:.0f} per CPU s")
print(f"KV cache, 8 prompts: {small[0]:.0f} per wall s, {small[1]:.0f} per CPU s")
print(f"full recompute, 8 prompts: {full[0]:.0f} per wall s, {full[1]:.0f} per CPU s")
print(f"KV cache speed-up (CPU s): {small[1] / full[1]:.2f}x")
