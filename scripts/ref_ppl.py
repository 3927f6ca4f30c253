#!/usr/bin/env python3
"""Independent float64 reference for qz-eval's perplexity (run once to make
tests/fixtures/ppl_reference.txt; tests never run Python).

Tokenizes with Hugging Face `tokenizers` (Rust), runs a LLaMA forward pass
written here in numpy float64 from the safetensors weights, and applies the
protocol of DESIGN.md: BOS + whole text, non-overlapping windows, every token
after a window's first scored.

usage: ref_ppl.py MODEL_DIR TEXT SEQLEN MAX_WINDOWS [--ids]
  --ids also prints the token ids of the scored windows (for fixtures that
  test the forward pass without the tokenizer).
"""
import json
import sys

import numpy as np
from tokenizers import Tokenizer


def rmsnorm(x, w, eps):
    return w * (x / np.sqrt((x * x).mean(-1, keepdims=True) + eps))


def rope(x, theta):  # x: (T, heads, hd), rotate-half convention
    T, _, hd = x.shape
    inv = theta ** (-np.arange(0, hd, 2, dtype=np.float64) / hd)
    ang = np.arange(T, dtype=np.float64)[:, None] * inv[None, :]
    cos = np.concatenate([np.cos(ang)] * 2, -1)[:, None, :]
    sin = np.concatenate([np.sin(ang)] * 2, -1)[:, None, :]
    rot = np.concatenate([-x[..., hd // 2:], x[..., : hd // 2]], -1)
    return x * cos + rot * sin


def forward(W, cfg, toks):
    d, nh, nkv = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd, eps, theta = d // nh, cfg["rms_norm_eps"], cfg.get("rope_theta", 10000.0)
    T = len(toks)
    x = W["model.embed_tokens.weight"][toks]
    mask = np.triu(np.full((T, T), -np.inf), 1)
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        h = rmsnorm(x, W[p + "input_layernorm.weight"], eps)
        q = (h @ W[p + "self_attn.q_proj.weight"].T).reshape(T, nh, hd)
        k = (h @ W[p + "self_attn.k_proj.weight"].T).reshape(T, nkv, hd)
        v = (h @ W[p + "self_attn.v_proj.weight"].T).reshape(T, nkv, hd)
        q, k = rope(q, theta), rope(k, theta)
        rep = nh // nkv
        k, v = np.repeat(k, rep, 1), np.repeat(v, rep, 1)
        s = np.einsum("thd,shd->hts", q, k) / np.sqrt(hd) + mask
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        o = np.einsum("hts,shd->thd", s, v).reshape(T, nh * hd)
        x = x + o @ W[p + "self_attn.o_proj.weight"].T
        h = rmsnorm(x, W[p + "post_attention_layernorm.weight"], eps)
        g, u = h @ W[p + "mlp.gate_proj.weight"].T, h @ W[p + "mlp.up_proj.weight"].T
        x = x + ((g / (1 + np.exp(-g))) * u) @ W[p + "mlp.down_proj.weight"].T
    x = rmsnorm(x, W["model.norm.weight"], eps)
    head = W.get("lm_head.weight", W["model.embed_tokens.weight"])
    return x @ head.T


def window_nll(W, cfg, ids, seqlen, maxw):
    """(windows, scored tokens, summed NLL) of the protocol on ids."""
    nwin = min(len(ids) // seqlen, maxw)
    nll = 0.0
    for w in range(nwin):
        t = ids[w * seqlen:(w + 1) * seqlen]
        z = forward(W, cfg, t)[:-1]
        m = z.max(-1, keepdims=True)
        lse = (np.log(np.exp(z - m).sum(-1, keepdims=True)) + m)[:, 0]
        nll += float((lse - z[np.arange(seqlen - 1), t[1:]]).sum())
    return nwin, nwin * (seqlen - 1), nll


def main():
    from safetensors.numpy import load_file  # here, so that importers of forward() need no safetensors

    mdir, text, seqlen, maxw = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    cfg = json.load(open(f"{mdir}/config.json"))
    W = {k: v.astype(np.float64) for k, v in load_file(f"{mdir}/model.safetensors").items()}
    tok = Tokenizer.from_file(f"{mdir}/tokenizer.json")
    ids = tok.encode(open(text, encoding="utf-8").read()).ids
    nwin, scored, nll = window_nll(W, cfg, ids, seqlen, maxw)
    if "--ids" in sys.argv:
        print("ids", " ".join(map(str, ids[: nwin * seqlen])))
    print(f"tokens {len(ids)} windows {nwin} scored {scored} mean_nll {nll / scored:.9f} ppl {np.exp(nll / scored):.9f}")


if __name__ == "__main__":
    main()
