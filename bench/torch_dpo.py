"""The DPO training step of bench/optimizer.bench.ts in PyTorch, for a speed reference (run by hand).

Same shape: GPT-2 (V=64, D=128, L=4, H=4, T=64, tied embeddings, gelu_new), 16 pairs a step,
chosen and rejected in one forward of 32 sequences, DPO sigmoid loss with β=0.1, AdamW,
clipping at 1. Prints tokens/s (2 × 16 × 64 tokens a step) as JSON. Uses all cores unless
--threads is given.
Usage: /usr/bin/python3 bench/torch_dpo.py [--steps 10] [--threads N] [--device cuda]
--arch llama --llama KV,I takes the step on torch_llama.py's decoder at --shape's V,D,L,H (SmolLM2-135M:
--shape 49152,576,30,9,128,4 --llama 3,1536). The JSON carries the process's peak RSS (ru_maxrss).
"""
import argparse
import json
import math
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from torch_blas import blas_in_use
from torch_llama import Llama, parse_llama

V, D, L, H, T, PAIRS = 64, 128, 4, 4, 64, 16


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.c_attn, self.c_proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        self.c_fc, self.mlp_proj = nn.Linear(D, 4 * D), nn.Linear(4 * D, D)

    def forward(self, x, mask):
        B = x.shape[0]
        q, k, v = self.c_attn(self.ln_1(x)).split(D, dim=2)
        q, k, v = [t.view(B, T, H, D // H).transpose(1, 2) for t in (q, k, v)]
        att = (q @ k.transpose(-2, -1)) / math.sqrt(D // H) + mask
        y = (att.softmax(-1) @ v).transpose(1, 2).reshape(B, T, D)
        x = x + self.c_proj(y)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class Gpt(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(V, D), nn.Embedding(T, D)
        self.h = nn.ModuleList([Block() for _ in range(L)])
        self.ln_f = nn.LayerNorm(D)

    def forward(self, ids, key_mask):
        B = ids.shape[0]
        x = self.wte(ids) + self.wpe(torch.arange(T, device=ids.device))
        allowed = torch.tril(torch.ones(T, T, dtype=torch.bool, device=ids.device)).view(1, 1, T, T) & key_mask.bool().view(B, 1, 1, T)
        mask = (~allowed).float() * -1e9
        for b in self.h:
            x = b(x, mask)
        return self.ln_f(x) @ self.wte.weight.T


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--device", default="cpu", help="cpu or cuda (fp32: TF32 off)")
    ap.add_argument("--shape", default="", help="V,D,L,H,T,PAIRS to replace the reference 64,128,4,4,64,16 (GPT-2 small: 50257,768,12,12,128,4)")
    ap.add_argument("--arch", default="gpt2", choices=["gpt2", "llama"])
    ap.add_argument("--llama", default="", help="KV heads,intermediate size[,rope theta] of --arch llama")
    args = ap.parse_args()
    if args.shape:
        global V, D, L, H, T, PAIRS
        V, D, L, H, T, PAIRS = (int(x) for x in args.shape.split(","))
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    torch.manual_seed(0)
    if args.arch == "llama":
        llama = Llama(V, D, L, H, *parse_llama(args.llama)).to(dev)
        model = lambda ids, key_mask: llama(ids, key_mask=key_mask)[0]
        model.parameters = llama.parameters
    else:
        model = Gpt().to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.0)
    ids = torch.randint(3, V, (2 * PAIRS, T)).to(dev)
    key_mask = torch.ones(2 * PAIRS, T, device=dev)
    target_mask = torch.zeros(2 * PAIRS, T - 1, device=dev)
    target_mask[:, 15:] = 1  # 16 prompt tokens, the rest completion tokens
    ref = (-torch.rand(2 * PAIRS) * 10 - 150).to(dev)

    def step():
        logp = model(ids, key_mask)[:, :-1].log_softmax(-1).gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
        seq = (logp * target_mask).sum(-1)
        margin = (seq[:PAIRS] - ref[:PAIRS]) - (seq[PAIRS:] - ref[PAIRS:])
        loss = -F.logsigmoid(0.1 * margin).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    step()  # warm-up
    sync()
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
    seconds = sum(times) / args.steps
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    # best: the least disturbed step, for ratios on a shared machine
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "seconds_per_step": seconds,
                      "tokens_per_second": 2 * PAIRS * T / seconds, "best_tokens_per_second": 2 * PAIRS * T / min(times), "device": name,
                      "blas": blas_in_use(), "shape": {"V": V, "D": D, "L": L, "H": H, "T": T, "pairs": PAIRS}, "arch": args.arch,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
