"""A plain-PyTorch Llama decoder for the benches' PyTorch peers (torch_model.py, torch_dpo.py,
torch_sample.py with --arch llama), written from transformers' modeling_llama the way
packages/model/src/Llama.ts reads: RMSNorm in float32 with the weight after, RoPE in the
rotate-half convention, grouped-query attention (the KV cache holds the KV heads only; the query
heads of a group read their KV head through repeat_kv's expand, no copy made by us), SwiGLU MLP,
tied head. No fused kernels (torch 1.13 has no scaled_dot_product_attention): the same ops the
engine's graphs do.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def parse_llama(text):
    """"KV,I[,theta]" (the --llama flag): KV heads, intermediate size, rope theta (default 100000, SmolLM2's)."""
    parts = [float(x) for x in text.split(",")]
    return int(parts[0]), int(parts[1]), parts[2] if len(parts) > 2 else 100000.0


class RmsNorm(nn.Module):
    def __init__(self, n, eps=1e-5):
        super().__init__()
        self.weight, self.eps = nn.Parameter(torch.ones(n)), eps

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


class Block(nn.Module):
    def __init__(self, D, H, KV, I):
        super().__init__()
        hd = D // H
        self.H, self.KV, self.hd = H, KV, hd
        self.input_layernorm, self.post_attention_layernorm = RmsNorm(D), RmsNorm(D)
        self.q_proj, self.k_proj, self.v_proj = nn.Linear(D, H * hd, bias=False), nn.Linear(D, KV * hd, bias=False), nn.Linear(D, KV * hd, bias=False)
        self.o_proj = nn.Linear(H * hd, D, bias=False)
        self.gate_proj, self.up_proj, self.down_proj = nn.Linear(D, I, bias=False), nn.Linear(D, I, bias=False), nn.Linear(I, D, bias=False)

    def forward(self, x, cos, sin, mask, past=None):
        B, T, _ = x.shape
        h = self.input_layernorm(x)
        q = self.q_proj(h).view(B, T, self.H, self.hd).transpose(1, 2)
        k = self.k_proj(h).view(B, T, self.KV, self.hd).transpose(1, 2)
        v = self.v_proj(h).view(B, T, self.KV, self.hd).transpose(1, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        if past is not None:
            k, v = torch.cat([past[0], k], 2), torch.cat([past[1], v], 2)
        n = self.H // self.KV
        # repeat_kv: [B, KV, S, hd] → [B, H, S, hd]
        rep = lambda t: t[:, :, None].expand(B, self.KV, n, t.shape[2], self.hd).reshape(B, self.H, t.shape[2], self.hd)
        att = torch.softmax(q @ rep(k).transpose(-1, -2) / math.sqrt(self.hd) + mask, -1)
        x = x + self.o_proj((att @ rep(v)).transpose(1, 2).reshape(B, T, self.H * self.hd))
        h2 = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(h2)) * self.up_proj(h2)), (k, v)


class Llama(nn.Module):
    def __init__(self, V, D, L, H, KV, I, theta=100000.0):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.embed_tokens = nn.Embedding(V, D)
        self.layers = nn.ModuleList([Block(D, H, KV, I) for _ in range(L)])
        self.norm = RmsNorm(D)
        with torch.no_grad():
            for p in self.parameters():
                if p.dim() == 2:
                    p.copy_(torch.randn(p.shape, generator=g) * 0.02)
        hd = D // H
        self.register_buffer("inv_freq", 1.0 / theta ** (torch.arange(0, hd, 2).float() / hd), persistent=False)

    def forward(self, ids, positions=None, key_mask=None, cache=None):
        """ids/positions [B, T]; key_mask [B, T_past + T] (1 = real); cache: per layer (k, v) [B, KV, T_past, hd]. Tied head."""
        B, T = ids.shape
        t_past = 0 if cache is None else cache[0][0].shape[2]
        if positions is None:
            positions = torch.arange(t_past, t_past + T, device=ids.device).expand(B, T)
        freqs = positions[..., None].float() * self.inv_freq
        angles = torch.cat([freqs, freqs], -1)[:, None]  # [B, 1, T, hd]
        cos, sin = angles.cos(), angles.sin()
        q_idx = torch.arange(t_past, t_past + T, device=ids.device).view(T, 1)
        k_idx = torch.arange(t_past + T, device=ids.device).view(1, -1)
        allowed = (k_idx <= q_idx).view(1, 1, T, -1)
        if key_mask is not None:
            allowed = allowed & key_mask.bool().view(B, 1, 1, -1)
        mask = (~allowed).float() * -1e9
        x = self.embed_tokens(ids)
        new_cache = []
        for i, layer in enumerate(self.layers):
            x, kv = layer(x, cos, sin, mask, None if cache is None else cache[i])
            new_cache.append(kv)
        return self.norm(x) @ self.embed_tokens.weight.T, new_cache
