"""How big must π₀ be, and how long its SFT, to write each task? A PyTorch stand-in (run by hand).

odpo's π₀ is SFT on a task's demonstrations (packages/core/src/InitialPolicy.ts). On tfjs `cpu`
the sentiment π₀ the configs could afford (D=48, L=2, 150 steps) wrote mostly ungrammatical text,
so gold ≈ 0 in every arm. This script answers the sizing question cheaply, in PyTorch, with the
same recipe: GPT-2 blocks (pre-LN, GELU tanh, tied embeddings, N(0, 0.02) init with residual
projections scaled by 1/sqrt(2L)), AdamW (β 0.9/0.999, no weight decay, constant lr, clip 1),
NLL on completion tokens only, demonstrations drawn as the tasks draw them (Reviews.ts,
Sentiment.ts, Length.ts, Arith.ts). It then samples at temperature 1 from held-out-like prompts
and prints what the evaluation would: the share of well-formed sentences and clauses per
completion (review tasks), or accuracy (arith).

Torch's numbers are not odpo's (other PRNG streams, other kernels), so read them as "this size and
budget can / cannot learn the grammar", not as the value a run will report.

Usage: /usr/bin/python3 scripts/pi0_sizing.py --task sentiment --d 64 --layers 2 --steps 600 [--lr 3e-3] [--batch 32]
Prints one JSON line per evaluation checkpoint (--every steps).
"""
import argparse
import json
import math
import random
import time

import torch
import torch.nn.functional as F

SUBJECTS = ["food", "staff", "room", "view", "bar", "bed"]
ADJ = {"great": 1, "superb": 1, "good": 0.5, "nice": 0.5, "ok": 0, "new": 0, "big": 0, "bad": -0.5, "slow": -0.5, "awful": -1, "dirty": -1}
POS = [a for a, w in ADJ.items() if w > 0]
NEU = [a for a, w in ADJ.items() if w == 0]
NEG = [a for a, w in ADJ.items() if w < 0]
PAD, BOS, EOS = 0, 1, 2


def review_vocab():
    return [" ", "."] + list("abcdefghijklmnopqrstuvwxyz")


def arith_vocab():
    return list("0123456789") + ["+", "="]


def clause(rand):
    u = rand.random()
    adjs = NEU if u < 0.5 else POS if u < 0.75 else NEG
    return f"{rand.choice(SUBJECTS)} is {rand.choice(adjs)}."


def review_demo(rand, task):
    prefix = " ".join(clause(rand) for _ in range(rand.choice([1, 2]))) + " "
    n = 2 if task == "sentiment" else rand.choice([1, 2])
    return prefix, " ".join(clause(rand) for _ in range(n))


def arith_demo(rand):
    a, b = rand.randint(10, 99), rand.randint(10, 99)
    s = a + b
    if rand.random() >= 0.6:
        if (a % 10) + (b % 10) >= 10 and rand.random() < 0.7:
            s = s - 10
        else:
            place = 1 if rand.random() < 0.5 else 10
            s = s + place if rand.random() < 0.5 or s - place < 0 else s - place
    return f"{a}+{b}=", str(s)


def count_clauses(text):
    wf = sent = 0
    for part in text.split("."):
        s = part.strip()
        if not s:
            continue
        sent += 1
        w = s.split(" ")
        if len(w) == 3 and w[0] in SUBJECTS and w[1] == "is" and w[2] in ADJ:
            wf += 1
    return wf, sent


class Gpt(torch.nn.Module):
    def __init__(self, V, T, D, L, H, seed):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        p = lambda *s, std=0.02: torch.nn.Parameter(torch.randn(*s, generator=g) * std)
        self.D, self.H = D, H
        self.wte, self.wpe = p(V, D), p(T, D)
        self.blocks = torch.nn.ModuleList()
        for _ in range(L):
            b = torch.nn.Module()
            b.ln1, b.ln2 = torch.nn.LayerNorm(D), torch.nn.LayerNorm(D)
            b.w_attn, b.b_attn = p(D, 3 * D), p(3 * D, std=0)
            b.w_aproj, b.b_aproj = p(D, D, std=0.02 / math.sqrt(2 * L)), p(D, std=0)
            b.w_fc, b.b_fc = p(D, 4 * D), p(4 * D, std=0)
            b.w_mproj, b.b_mproj = p(4 * D, D, std=0.02 / math.sqrt(2 * L)), p(D, std=0)
            self.blocks.append(b)
        self.ln_f = torch.nn.LayerNorm(D)

    def forward(self, ids):
        B, T = ids.shape
        D, H = self.D, self.H
        x = self.wte[ids] + self.wpe[:T]
        causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
        for b in self.blocks:
            q, k, v = (b.ln1(x) @ b.w_attn + b.b_attn).split(D, dim=-1)
            q, k, v = (t.view(B, T, H, D // H).transpose(1, 2) for t in (q, k, v))
            att = ((q @ k.transpose(-1, -2)) / math.sqrt(D // H)).masked_fill(~causal, float("-inf")).softmax(-1)
            x = x + (att @ v).transpose(1, 2).reshape(B, T, D) @ b.w_aproj + b.b_aproj
            x = x + F.gelu(b.ln2(x) @ b.w_fc + b.b_fc, approximate="tanh") @ b.w_mproj + b.b_mproj
        return self.ln_f(x) @ self.wte.T


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", choices=["sentiment", "length", "arith"], default="sentiment")
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--every", type=int, default=200)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--demos", type=int, default=4096)
    ap.add_argument("--eval", type=int, default=256)
    ap.add_argument("--max-new", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rand = random.Random(args.seed)
    vocab = arith_vocab() if args.task == "arith" else review_vocab()
    index = {s: i + 3 for i, s in enumerate(vocab)}
    enc = lambda s: [index[c] for c in s]
    dec = lambda ids: "".join(vocab[i - 3] for i in ids if i >= 3)
    make = (lambda: arith_demo(rand)) if args.task == "arith" else (lambda: review_demo(rand, args.task))
    demos = [make() for _ in range(args.demos)]
    seqs = [([BOS] + enc(p), enc(c) + [EOS]) for p, c in demos]
    T = max(len(p) + len(c) for p, c in seqs)
    T = max(T, max(len(p) for p, _ in seqs) + args.max_new)
    model = Gpt(len(vocab) + 3, T, args.d, args.layers, args.heads, args.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0)
    order, pos = list(range(len(seqs))), len(seqs)
    t0 = time.time()
    for step in range(1, args.steps + 1):
        batch = []
        for _ in range(args.batch):
            if pos == len(order):
                rand.shuffle(order)
                pos = 0
            batch.append(seqs[order[pos]])
            pos += 1
        L = max(len(p) + len(c) for p, c in batch)
        ids = torch.full((len(batch), L), PAD)
        mask = torch.zeros(len(batch), L - 1)
        for i, (p, c) in enumerate(batch):
            ids[i, : len(p) + len(c)] = torch.tensor(p + c)
            mask[i, len(p) - 1 : len(p) + len(c) - 1] = 1
        logp = model(ids[:, :-1]).log_softmax(-1).gather(-1, ids[:, 1:, None])[..., 0]
        loss = -(logp * mask).sum() / mask.sum()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % args.every == 0 or step == args.steps:
            print(json.dumps({"step": step, "loss": round(loss.item(), 4), **evaluate(model, args, make, enc, dec, T), "seconds": round(time.time() - t0, 1)}), flush=True)


@torch.no_grad()
def evaluate(model, args, make, enc, dec, T):
    g = torch.Generator().manual_seed(12345)
    prompts = [make() for _ in range(args.eval)]
    wf = sent = clauses = right = 0
    for p, _ in prompts:
        ids = [BOS] + enc(p)
        out = []
        for _ in range(args.max_new):
            if len(ids) >= T:
                break
            probs = model(torch.tensor([ids]))[0, -1].softmax(-1)
            t = int(torch.multinomial(probs, 1, generator=g))
            if t == EOS:
                break
            ids.append(t)
            out.append(t)
        text = dec(out)
        if args.task == "arith":
            a, b = p[:-1].split("+")
            right += text == str(int(a) + int(b))
        else:
            w, s = count_clauses(text)
            wf, sent, clauses = wf + w, sent + s, clauses + w
    if args.task == "arith":
        return {"accuracy": right / len(prompts)}
    return {"well_formed": round(wf / max(1, sent), 3), "clauses": round(clauses / len(prompts), 3)}


if __name__ == "__main__":
    main()
