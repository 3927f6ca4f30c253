#!/usr/bin/env python3
"""gen_train_fixture.py - golden values for tests/unit/test_train.c.

An independent float64 torch transcription (autograd, no qz code) of the
LLaMA decoder as Hugging Face's LlamaForCausalLM computes it (RMSNorm,
rotate-half RoPE, grouped-query causal attention, SwiGLU, untied lm_head,
q/k/v biases) and of qz-distill's loss (docs/qz-distill.md, libquant/train/
loss.h), run once; outputs are committed:

    /opt/qzpy/bin/python scripts/gen_train_fixture.py [tests/fixtures/train]

model.qzfx: the config, every parameter as one float32 array in qz's buffer
order (train.c layout(): embeddings; per layer input_layernorm,
post_attention_layernorm, then q,k,v,o,gate,up,down, each weight followed by
its bias when it has one; model.norm; lm_head), two windows of tokens,
teacher logits and teacher final hidden states (random, as given), and for
four loss settings (opts rows: kind 0 kl / 1 rkl / 2 jsd / 3 ce, alpha,
temperature, hidden weight) the loss and the gradient of every parameter.

adamw.qzfx: two torch.optim.AdamW steps (float32) on a small vector.
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_gptq_fixture import write_qzfx  # noqa: E402

V, D, FF, L, H, KV, B, T = 32, 16, 24, 2, 4, 2, 2, 6
HD = D // H
EPS, THETA = 1e-5, 10000.0
LINEARS = [("q", H * HD, D, True), ("k", KV * HD, D, True), ("v", KV * HD, D, True), ("o", D, H * HD, False),
           ("gate", FF, D, False), ("up", FF, D, False), ("down", D, FF, False)]


def make_params(rng):
    """[(name, float32 array)] in qz's buffer order."""
    ps = [("embed", rng.standard_normal((V, D)))]
    for l in range(L):
        ps.append((f"{l}.attn_norm", 1 + 0.1 * rng.standard_normal(D)))
        ps.append((f"{l}.mlp_norm", 1 + 0.1 * rng.standard_normal(D)))
        for name, out, inn, bias in LINEARS:
            ps.append((f"{l}.{name}.w", rng.standard_normal((out, inn)) / np.sqrt(inn)))
            if bias:
                ps.append((f"{l}.{name}.b", 0.1 * rng.standard_normal(out)))
    ps.append(("norm", 1 + 0.1 * rng.standard_normal(D)))
    ps.append(("lm_head", rng.standard_normal((V, D)) / np.sqrt(D)))
    return [(n, a.astype(np.float32)) for n, a in ps]


def rmsnorm(x, w):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS))


def rope(x):  # x (B, T, heads, HD), rotate-half
    half = HD // 2
    inv = THETA ** (-2.0 * torch.arange(half, dtype=torch.float64) / HD)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv[None, :]
    c, s = torch.cos(ang)[None, :, None, :], torch.sin(ang)[None, :, None, :]
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * c - x2 * s, x2 * c + x1 * s], dim=-1)


def forward(P, tokens):
    """Final normed hidden states (B, T, D) and logits (B, T, V)."""
    x = P["embed"][tokens]
    mask = torch.triu(torch.ones(T, T, dtype=torch.bool), 1)
    for l in range(L):
        lin = lambda n, y: y @ P[f"{l}.{n}.w"].T + (P[f"{l}.{n}.b"] if f"{l}.{n}.b" in P else 0)  # noqa: E731
        xn = rmsnorm(x, P[f"{l}.attn_norm"])
        q = rope(lin("q", xn).view(B, T, H, HD)).transpose(1, 2)
        k = rope(lin("k", xn).view(B, T, KV, HD)).transpose(1, 2).repeat_interleave(H // KV, dim=1)
        v = lin("v", xn).view(B, T, KV, HD).transpose(1, 2).repeat_interleave(H // KV, dim=1)
        s = (q @ k.transpose(-1, -2)) / np.sqrt(HD)
        p = torch.softmax(s.masked_fill(mask, float("-inf")), dim=-1)
        att = (p @ v).transpose(1, 2).reshape(B, T, H * HD)
        x = x + lin("o", att)
        xn = rmsnorm(x, P[f"{l}.mlp_norm"])
        x = x + lin("down", torch.nn.functional.silu(lin("gate", xn)) * lin("up", xn))
    h = rmsnorm(x, P["norm"])
    return h, h @ P["lm_head"].T


def loss_of(h, z, zt, ht, y, kind, alpha, tau, hw):
    """Mean over the scored positions (t < T-1) of qz-distill's loss."""
    zs, zt, h, ht = z[:, :-1].reshape(-1, V), zt[:, :-1].reshape(-1, V), h[:, :-1].reshape(-1, D), ht[:, :-1].reshape(-1, D)
    ce = torch.nn.functional.cross_entropy(zs, y.reshape(-1))
    if kind == 3:
        loss = ce
    else:
        lq, lp = torch.log_softmax(zs / tau, -1), torch.log_softmax(zt / tau, -1)
        q, p = lq.exp(), lp.exp()
        if kind == 0:
            d = (p * (lp - lq)).sum(-1)
        elif kind == 1:
            d = (q * (lq - lp)).sum(-1)
        else:
            lm = torch.log(0.5 * (p + q))
            d = 0.5 * (p * (lp - lm)).sum(-1) + 0.5 * (q * (lq - lm)).sum(-1)
        loss = alpha * tau * tau * d.mean() + (1 - alpha) * ce
    return loss + hw * ((h - ht) ** 2).mean()


def gen_model(outdir, rng):
    params = make_params(rng)
    tokens = rng.integers(0, V, size=(B, T)).astype(np.int32)
    zt = (2.0 * rng.standard_normal((B, T, V))).astype(np.float32)
    ht = rng.standard_normal((B, T, D)).astype(np.float32)
    opts = np.array([[0, 0.7, 2.0, 0.3], [1, 1.0, 1.5, 0.0], [2, 0.5, 1.0, 0.0], [3, 0.0, 1.0, 0.0]])
    out = {"cfg": ("i32", [V, D, FF, L, H, KV, B, T]), "params": ("f32", np.concatenate([a.ravel() for _, a in params])),
           "tokens": ("i32", tokens), "teacher_logits": ("f32", zt), "teacher_hidden": ("f32", ht), "opts": ("f64", opts)}
    tok = torch.from_numpy(tokens.astype(np.int64))
    for i, (kind, alpha, tau, hw) in enumerate(opts):
        P = {n: torch.tensor(a, dtype=torch.float64, requires_grad=True) for n, a in params}
        h, z = forward(P, tok)
        loss = loss_of(h, z, torch.from_numpy(zt).double(), torch.from_numpy(ht).double(), tok[:, 1:], int(kind), alpha, tau, hw)
        loss.backward()
        out[f"loss{i}"] = ("f64", [loss.item()])
        out[f"grad{i}"] = ("f64", np.concatenate([P[n].grad.numpy().ravel() for n, _ in params]))
    write_qzfx(os.path.join(outdir, "model.qzfx"), out)


def gen_adamw(outdir, rng):
    p0 = rng.standard_normal(10).astype(np.float32)
    g = [rng.standard_normal(10).astype(np.float32) for _ in range(2)]
    p = torch.tensor(p0, requires_grad=True)
    opt = torch.optim.AdamW([p], lr=1e-2, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
    out = {"p0": ("f32", p0), "g1": ("f32", g[0]), "g2": ("f32", g[1]), "hyper": ("f64", [1e-2, 0.9, 0.95, 1e-8, 0.1])}
    for i in range(2):
        p.grad = torch.from_numpy(g[i])
        opt.step()
        out[f"p{i + 1}"] = ("f32", p.detach().numpy().copy())
    write_qzfx(os.path.join(outdir, "adamw.qzfx"), out)


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "train")
    os.makedirs(outdir, exist_ok=True)
    rng = np.random.default_rng(20261202)
    gen_model(outdir, rng)
    gen_adamw(outdir, rng)


if __name__ == "__main__":
    main()
