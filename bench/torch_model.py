"""The same work as bench/model.bench.ts in PyTorch: forward + backward of a GPT-2-shaped model
(V=64, D=128, L=4, H=4, T=64, batch 32; loss = -mean next-token log-prob), in tokens/s.

Run by hand (Debian: apt-get install python3-torch):  python3 bench/torch_model.py [--threads N] [--json] [--device cuda] [--forward]
model.bench.ts also runs it, when torch is importable, to report the tfjs/torch ratio; on a GPU
machine scripts/gpu/measure.sh runs it with --device cuda beside the webgpu bench (fp32, no TF32).
--forward times the reference log-probs instead (no gradient: masked next-token log-probs summed per
sequence, 16 prompt tokens, as onnx.bench.ts). --arch llama --llama KV,I runs the Llama decoder of
torch_llama.py at --shape's V,D,L,H instead (SmolLM2-135M: --shape 49152,576,30,9,128,8 --llama 3,1536).
"""
import argparse
import json
import math
import time

import torch

from torch_blas import blas_in_use
from torch_llama import Llama, parse_llama

V, D, L, H, T, B = 64, 128, 4, 4, 64, 32


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


class Gpt(torch.nn.Module):
    """GPT-2's block written as Gpt.ts writes it: Conv1D weights [in, out], pre-LN, tied head."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        p = lambda *s, std=0.02: torch.nn.Parameter(torch.randn(*s, generator=g) * std)
        self.wte, self.wpe = p(V, D), p(T, D)
        self.blocks = torch.nn.ModuleList()
        for _ in range(L):
            b = torch.nn.Module()
            b.ln1 = torch.nn.LayerNorm(D, eps=1e-5)
            b.ln2 = torch.nn.LayerNorm(D, eps=1e-5)
            b.w_attn, b.b_attn = p(D, 3 * D), p(3 * D, std=0)
            b.w_aproj, b.b_aproj = p(D, D), p(D, std=0)
            b.w_fc, b.b_fc = p(D, 4 * D), p(4 * D, std=0)
            b.w_mproj, b.b_mproj = p(4 * D, D), p(D, std=0)
            self.blocks.append(b)
        self.ln_f = torch.nn.LayerNorm(D, eps=1e-5)
        self.register_buffer("causal", torch.tril(torch.ones(T, T, dtype=torch.bool)))

    def forward(self, ids):
        Bn, Tn = ids.shape
        x = self.wte[ids] + self.wpe[torch.arange(Tn, device=ids.device)]
        hd = D // H
        for b in self.blocks:
            q, k, v = (b.ln1(x) @ b.w_attn + b.b_attn).split(D, dim=-1)
            q, k, v = (t.view(Bn, Tn, H, hd).transpose(1, 2) for t in (q, k, v))
            att = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
            att = att.masked_fill(~self.causal[:Tn, :Tn], float("-inf")).softmax(-1)
            y = (att @ v).transpose(1, 2).reshape(Bn, Tn, D)
            x = x + y @ b.w_aproj + b.b_aproj
            x = x + gelu_tanh(b.ln2(x) @ b.w_fc + b.b_fc) @ b.w_mproj + b.b_mproj
        return self.ln_f(x) @ self.wte.T


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (fp32: TF32 off, as tfjs computes)")
    ap.add_argument("--shape", default="", help="V,D,L,H,T,B to replace the reference 64,128,4,4,64,32 (e.g. 8192,768,12,12,256,8)")
    ap.add_argument("--forward", action="store_true", help="time the reference log-probs (forward only)")
    ap.add_argument("--arch", default="gpt2", choices=["gpt2", "llama"])
    ap.add_argument("--llama", default="", help="KV heads,intermediate size[,rope theta] of --arch llama")
    a = ap.parse_args()
    if a.shape:
        global V, D, L, H, T, B
        V, D, L, H, T, B = (int(x) for x in a.shape.split(","))
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    if a.arch == "llama":
        llama = Llama(V, D, L, H, *parse_llama(a.llama)).to(dev)
        model = lambda ids: llama(ids)[0]
        model.zero_grad = llama.zero_grad
    else:
        model = Gpt().to(dev)
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, V, (B, T), generator=g).to(dev)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

    def step():
        model.zero_grad(set_to_none=True)
        logits = model(ids)
        logp = torch.log_softmax(logits[:, :-1], -1)
        loss = -logp.gather(-1, ids[:, 1:].unsqueeze(-1)).mean()
        loss.backward()
        return loss.item()

    target_mask = torch.zeros(B, T - 1, device=dev)
    target_mask[:, 15:] = 1  # 16 prompt tokens, the rest completion

    @torch.no_grad()
    def reference_logps():
        logp = torch.log_softmax(model(ids)[:, :-1], -1).gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
        return (logp * target_mask).sum(-1)

    if a.forward:
        step = reference_logps
    step()  # warm-up
    sync()
    times = []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
    dt = sum(times) / a.steps
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    # best: the least disturbed step, for ratios on a shared machine
    out = {"tokens_per_s": B * T / dt, "best_tokens_per_s": B * T / min(times), "seconds_per_step": dt, "threads": torch.get_num_threads(),
           "torch": torch.__version__, "device": name, "blas": blas_in_use(), "shape": {"V": V, "D": D, "L": L, "H": H, "T": T, "B": B}, "arch": a.arch}
    print(json.dumps(out) if a.json else f"torch {out['torch']} ({out['blas']['kind']} BLAS), {out['threads']} threads: {out['tokens_per_s']:.0f} tokens/s ({dt * 1000:.1f} ms/step)")


if __name__ == "__main__":
    main()
