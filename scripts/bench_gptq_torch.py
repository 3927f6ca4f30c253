#!/usr/bin/env python3
"""The torch reference GPTQ solve for tests/bench/bench_gptq_solve.c.

Usage: bench_gptq_torch.py DIR TOKENS N CHUNK THREADS
DIR holds X.f32 (TOKENS, N) and W.f32 (N, N), raw little-endian fp32.
Prints one JSON line: torch version, Hessian seconds, solve seconds, loss.

Transcribed from the algorithm facts in FORMATS-AND-ALGORITHMS.md 1a-1c
(IST-DASLab gptq.py add_batch / fasterquant, quant.py Quantizer with
perchannel=True), fp32 throughout as the reference runs it: H by running
means over batches of CHUNK tokens (one sequence each), dead columns,
act-order, damping 0.01, H^-1 via chol -> cholesky_inverse -> chol(upper),
blocks of 128 with groups found from W at each group start. This is the
baseline qz is compared with, not a test oracle.
"""
import json
import sys
import time

import numpy as np
import torch


def find_params(x, maxq, sym):
    """Per-row scale and zero over the columns of x (quant.py find_params)."""
    zero_t = torch.zeros(x.shape[0])
    xmin = torch.minimum(x.min(1).values, zero_t)
    xmax = torch.maximum(x.max(1).values, zero_t)
    if sym:
        xmax = torch.maximum(torch.abs(xmin), xmax)
        neg = xmin < 0
        xmin[neg] = -xmax[neg]
    dead = (xmin == 0) & (xmax == 0)
    xmin[dead] = -1
    xmax[dead] = +1
    scale = (xmax - xmin) / maxq
    if sym:
        zero = torch.full_like(scale, (maxq + 1) / 2)
    else:
        zero = torch.round(-xmin / scale)
    return scale.unsqueeze(1), zero.unsqueeze(1)


def quantize(x, scale, zero, maxq):
    q = torch.clamp(torch.round(x / scale) + zero, 0, maxq)
    return scale * (q - zero)


def hessian(X, chunk):
    """add_batch over batches of chunk tokens, each one sequence (b = 1)."""
    cols = X.shape[1]
    H = torch.zeros(cols, cols)
    nsamples = 0
    for t in range(0, X.shape[0], chunk):
        inp = X[t:t + chunk].t()
        H *= nsamples / (nsamples + 1)
        nsamples += 1
        inp = np.sqrt(2 / nsamples) * inp.float()
        H += inp.matmul(inp.t())
    return H


def fasterquant(W, H, bits=4, groupsize=128, sym=True, actorder=True, blocksize=128,
                percdamp=.01):
    maxq = 2 ** bits - 1
    W = W.clone()
    cols = W.shape[1]
    if groupsize == -1:
        scale, zero = find_params(W, maxq, sym)
    dead = torch.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    if actorder:
        perm = torch.argsort(torch.diag(H), descending=True)
        W = W[:, perm]
        H = H[perm][:, perm]
        invperm = torch.argsort(perm)
    Losses = torch.zeros_like(W)
    Q = torch.zeros_like(W)
    damp = percdamp * torch.mean(torch.diag(H))
    idx = torch.arange(cols)
    H[idx, idx] += damp
    H = torch.linalg.cholesky(H)
    H = torch.cholesky_inverse(H)
    Hinv = torch.linalg.cholesky(H, upper=True)
    for i1 in range(0, cols, blocksize):
        i2 = min(i1 + blocksize, cols)
        count = i2 - i1
        W1 = W[:, i1:i2].clone()
        Q1 = torch.zeros_like(W1)
        Err1 = torch.zeros_like(W1)
        Losses1 = torch.zeros_like(W1)
        Hinv1 = Hinv[i1:i2, i1:i2]
        for i in range(count):
            w = W1[:, i]
            d = Hinv1[i, i]
            if groupsize != -1 and (i1 + i) % groupsize == 0:
                scale, zero = find_params(W[:, i1 + i:i1 + i + groupsize], maxq, sym)
            q = quantize(w.unsqueeze(1), scale, zero, maxq).flatten()
            Q1[:, i] = q
            Losses1[:, i] = (w - q) ** 2 / d ** 2
            err1 = (w - q) / d
            W1[:, i:] -= err1.unsqueeze(1).matmul(Hinv1[i, i:].unsqueeze(0))
            Err1[:, i] = err1
        Q[:, i1:i2] = Q1
        Losses[:, i1:i2] = Losses1 / 2
        W[:, i2:] -= Err1.matmul(Hinv[i1:i2, i2:])
    if actorder:
        Q = Q[:, invperm]
    return Q, float(torch.sum(Losses).item())


def main():
    d, tokens, n, chunk, threads = sys.argv[1], *map(int, sys.argv[2:6])
    torch.set_num_threads(threads)
    X = torch.from_numpy(np.fromfile(f"{d}/X.f32", dtype="<f4").reshape(tokens, n))
    W = torch.from_numpy(np.fromfile(f"{d}/W.f32", dtype="<f4").reshape(n, n))
    t0 = time.perf_counter()
    H = hessian(X, chunk)
    th = time.perf_counter() - t0
    t0 = time.perf_counter()
    _, loss = fasterquant(W, H)
    ts = time.perf_counter() - t0
    print(json.dumps({"version": torch.__version__, "hessian_seconds": th, "seconds": ts,
                      "loss": loss}))


if __name__ == "__main__":
    main()
