#!/usr/bin/env python3
"""Independent float64 reference for `qz-eval CANDIDATE --base BASE` (run once
to make tests/fixtures/kl_reference.txt; tests never run Python).

The LLaMA forward pass is scripts/ref_ppl.py's (imported). The candidate is a
GPTQ checkpoint, dequantized here from the packed layout of
FORMATS-AND-ALGORITHMS.md section 2a / FORMAT.md "GPTQ checkpoints" by a
bit-stream unpacker written for this script (value k of a packed run at bits
[b*k, b*k+b)). Tokens come from Hugging Face `tokenizers`; windows follow
DESIGN.md's protocol. Per scored token, in float64:
  KL(base||cand) = sum_v p_b (log p_b - log p_c), top-1 agreement, nll of both,
  dp = p_c(y) - p_b(y),
and the top-k estimate of KL with one "rest" bucket (k entries of the base,
ties to the lower id). Confidence intervals use scipy's t quantile on the
per-window values (compare.h says which); quantiles are numpy's default
(linear interpolation).

usage: ref_kl.py BASE_DIR CAND_DIR TEXT SEQLEN MAX_WINDOWS [K]
"""
import hashlib
import json
import os
import sys

import numpy as np
from safetensors.numpy import load_file
from scipy.stats import t as student_t
from tokenizers import Tokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ref_ppl import forward  # noqa: E402


def unpack_stream(words, n, bits):
    """words (nw, cols) int32, one little-endian bit stream per column -> (n, cols)."""
    w = words.astype(np.int64) & 0xFFFFFFFF
    out = np.empty((n, w.shape[1]), dtype=np.int64)
    for k in range(n):
        i, off = divmod(bits * k, 32)
        v = w[i] >> off
        if off + bits > 32:
            v = v | (w[i + 1] << (32 - off))
        out[k] = v & ((1 << bits) - 1)
    return out


def dequant_gptq(W, prefix, qc, out_f, in_f):
    bits = qc["bits"]
    q = unpack_stream(W[prefix + "qweight"], in_f, bits)  # (in, out)
    groups = W[prefix + "qzeros"].shape[0]
    z = unpack_stream(W[prefix + "qzeros"].T, out_f, bits).T  # (groups, out)
    if qc.get("checkpoint_format", "gptq") == "gptq":
        z = z + 1  # v1 stores z - 1
    g = W[prefix + "g_idx"].astype(np.int64)
    assert g.min() >= 0 and g.max() < groups
    s = W[prefix + "scales"].astype(np.float64)  # (groups, out)
    return (s[g] * (q - z[g])).T  # (out, in)


def load_model(mdir):
    cfg = json.load(open(f"{mdir}/config.json"))
    raw = load_file(f"{mdir}/model.safetensors")
    W = {k: v.astype(np.float64) for k, v in raw.items() if not k.endswith(("qweight", "qzeros", "scales", "g_idx"))}
    qc = cfg.get("quantization_config")
    for k in raw:
        if k.endswith(".qweight"):
            prefix = k[: -len("qweight")]
            out_f = raw[prefix + "scales"].shape[1]
            in_f = raw[prefix + "g_idx"].shape[0]
            W[prefix + "weight"] = dequant_gptq(raw, prefix, qc, out_f, in_f)
    return cfg, W


def log_softmax(z):
    m = z.max(-1, keepdims=True)
    return z - (m + np.log(np.exp(z - m).sum(-1, keepdims=True)))


def topk_kl(lb, lc, k):
    """Top-k + rest estimate of KL per row (k largest of the base, ties to the lower id)."""
    idx = np.argsort(-lb, axis=-1, kind="stable")[:, :k]
    rows = np.arange(lb.shape[0])[:, None]
    pb, lbk, lck = np.exp(lb[rows, idx]), lb[rows, idx], lc[rows, idx]
    head = (pb * (lbk - lck)).sum(-1)
    mask = np.ones_like(lb, dtype=bool)
    mask[rows, idx] = False
    p_rest = np.where(mask, np.exp(lb), 0).sum(-1)
    q_rest = np.where(mask, np.exp(lc), 0).sum(-1)
    tail = np.where(p_rest > 0, p_rest * (np.log(np.maximum(p_rest, 1e-300)) - np.log(np.maximum(q_rest, 1e-300))), 0)
    return head + tail, p_rest


def ci95(x):
    x = np.asarray(x, dtype=np.float64)
    h = student_t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return x.mean() - h, x.mean() + h


def main():
    bdir, cdir, text, seqlen, maxw = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    k = int(sys.argv[6]) if len(sys.argv) > 6 else 32
    bcfg, bW = load_model(bdir)
    ccfg, cW = load_model(cdir)
    ids = Tokenizer.from_file(f"{bdir}/tokenizer.json").encode(open(text, encoding="utf-8").read()).ids
    nwin = min(len(ids) // seqlen, maxw)
    per = {n: [] for n in ("dnll", "kl", "top1", "dp", "dp2")}
    tok = {n: [] for n in ("kl", "klk", "nll_b", "nll_c", "p_rest")}
    near_ties = 0
    for w in range(nwin):
        t = np.array(ids[w * seqlen:(w + 1) * seqlen])
        zb, zc = forward(bW, bcfg, t)[:-1], forward(cW, ccfg, t)[:-1]
        lb, lc = log_softmax(zb), log_softmax(zc)
        y = t[1:]
        r = np.arange(seqlen - 1)
        kl = (np.exp(lb) * (lb - lc)).sum(-1)
        klk, p_rest = topk_kl(lb, lc, k)
        nll_b, nll_c = -lb[r, y], -lc[r, y]
        top1 = (zb.argmax(-1) == zc.argmax(-1)).astype(np.float64)
        dp = np.exp(-nll_c) - np.exp(-nll_b)
        for z in (zb, zc):  # margins float32 logits could flip
            s = np.sort(z, -1)
            near_ties += int((s[:, -1] - s[:, -2] < 1e-3).sum())
        for n, v in (("dnll", nll_c - nll_b), ("kl", kl), ("top1", top1), ("dp", dp), ("dp2", dp * dp)):
            per[n].append(v.mean())
        for n, v in (("kl", kl), ("klk", klk), ("nll_b", nll_b), ("nll_c", nll_c), ("p_rest", p_rest)):
            tok[n].append(v)
    tok = {n: np.concatenate(v) for n, v in tok.items()}
    base_nll, cand_nll = tok["nll_b"].mean(), tok["nll_c"].mean()
    lo, hi = ci95(per["dnll"])
    dlo, dhi = ci95(per["dp2"])
    sha = hashlib.sha256(open(f"{cdir}/model.safetensors", "rb").read()).hexdigest()
    rows = [
        ("artifact_sha256", sha), ("seqlen", seqlen), ("windows", nwin), ("tokens", len(ids)), ("scored", nwin * (seqlen - 1)),
        ("base_mean_nll", base_nll), ("base_ppl", np.exp(base_nll)), ("mean_nll", cand_nll), ("ppl", np.exp(cand_nll)),
        ("ppl_ratio", np.exp(cand_nll - base_nll)), ("ppl_delta", np.exp(cand_nll) - np.exp(base_nll)),
        ("kld_mean", tok["kl"].mean()), ("kld_median", np.percentile(tok["kl"], 50)),
        ("kld_p99", np.percentile(tok["kl"], 99)), ("kld_max", tok["kl"].max()),
        ("top1_agreement", np.mean(per["top1"])), ("top1_near_ties", near_ties),
        ("dp_mean", np.mean(per["dp"])), ("dp_rms", np.sqrt(np.mean(per["dp2"]))),
        ("ppl_ratio_ci95", (np.exp(lo), np.exp(hi))),
        ("ppl_delta_ci95", (np.exp(base_nll) * (np.exp(lo) - 1), np.exp(base_nll) * (np.exp(hi) - 1))),
        ("kld_mean_ci95", ci95(per["kl"])), ("top1_agreement_ci95", ci95(per["top1"])), ("dp_mean_ci95", ci95(per["dp"])),
        ("dp_rms_ci95", (np.sqrt(max(dlo, 0)), np.sqrt(dhi))),
        ("topk_k", k), ("topk_kld_mean", tok["klk"].mean()), ("topk_kld_median", np.percentile(tok["klk"], 50)),
        ("topk_kld_p99", np.percentile(tok["klk"], 99)), ("topk_kld_max", tok["klk"].max()),
        ("topk_p_rest_mean", tok["p_rest"].mean()), ("topk_gap_max", (tok["kl"] - tok["klk"]).max()),
        ("topk_gap_min", (tok["kl"] - tok["klk"]).min()),
    ]
    for name, v in rows:
        if isinstance(v, tuple):
            print(name, f"{v[0]:.12g}", f"{v[1]:.12g}")
        elif isinstance(v, (str, int)):
            print(name, v)
        else:
            print(name, f"{v:.12g}")


if __name__ == "__main__":
    main()
