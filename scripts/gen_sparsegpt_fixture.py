#!/usr/bin/env python3
"""gen_sparsegpt_fixture.py - golden values for tests/unit/test_sparsegpt.c.

An independent numpy transcription of the IST-DASLab SparseGPT reference
(sparsegpt.py fasterprune, FORMATS-AND-ALGORITHMS.md 7), written from the
algorithm text, with qz's one deliberate change: the unstructured mask prunes
exactly k = int(numel * sparsity) entries per block (the k smallest scores,
ties by the lower row-major index; a stable sort) instead of the reference's
`score <= sorted[k]`. N:M ties go to the lower column index (stable sort;
the reference's topk leaves them unspecified). Run once; outputs are
committed:

    python3 scripts/gen_sparsegpt_fixture.py [tests/fixtures/sparsegpt]

The optional joint quantizer is GPTQ's quant.py Quantizer (per channel: params
once on the whole W before dead columns are zeroed, as fasterprune does; with
groups: params at each group start from the block-start W, GPTQ's rule, since
the reference SparseGPT has no groups). Its helpers, the float64 U = upper
Cholesky factor of H^-1 (qz's documented deviation), the synthetic weights /
activations and the .qzfx writer are imported from gen_gptq_fixture.py.
Arithmetic is float32 where the reference uses float32; loss sums in float64.

Each .qzfx stores the inputs (W, int8 activations X with H = X^T X, exact in
float32, and the options) and the expected outputs (keep mask, W after, loss,
and codes / scales / zeros when quantizing).
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_gptq_fixture as gq  # noqa: E402

F32 = np.float32


def block_mask(W1, dU, sparsity):
    """Unstructured: True = pruned, the k smallest of W1^2 / diag(U)^2."""
    tmp = W1 ** 2 / dU.reshape((1, -1)) ** 2
    k = int(tmp.size * sparsity)
    pruned = np.zeros(tmp.size, bool)
    pruned[np.argsort(tmp.ravel(), kind="stable")[:k]] = True
    return pruned.reshape(tmp.shape)


def nm_mask(W1g, dUg, prunen):
    """N:M group of the running block: True = pruned, N smallest per row."""
    tmp = W1g ** 2 / dUg.reshape((1, -1)) ** 2
    pruned = np.zeros(tmp.shape, bool)
    np.put_along_axis(pruned, np.argsort(tmp, axis=1, kind="stable")[:, :prunen], True, axis=1)
    return pruned


def fasterprune(W, H, sparsity, prunen, prunem, bs, damp, bits, gs, sym, mse):
    W = W.astype(F32).copy()
    H = H.astype(F32).copy()
    rows, cols = W.shape
    quant = bits > 0
    if quant:
        maxq = F32(2 ** bits - 1)
        scale, zero = gq.find_params(W, bits, sym, mse)  # once, before dead columns
        scales, zeros = ([scale], [zero]) if gs <= 0 else ([], [])
    dead = np.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    U = gq.upper_chol_of_inverse(H, damp)

    keep = np.ones((rows, cols), np.uint8)
    codes = np.zeros((rows, cols), np.int32)
    Losses = np.zeros((rows, cols), F32)
    for i1 in range(0, cols, bs):
        i2 = min(i1 + bs, cols)
        W1 = W[:, i1:i2].copy()
        Q1 = np.zeros_like(W1)
        Err1 = np.zeros_like(W1)
        Losses1 = np.zeros_like(W1)
        U1 = U[i1:i2, i1:i2]
        dU = np.diag(U1)
        mask1 = block_mask(W1, dU, sparsity) if prunen == 0 else np.zeros(W1.shape, bool)
        for i in range(i2 - i1):
            w = W1[:, i].copy()
            d = U1[i, i]
            if prunen != 0 and i % prunem == 0:
                mask1[:, i:i + prunem] = nm_mask(W1[:, i:i + prunem], dU[i:i + prunem], prunen)
            if quant and gs > 0 and (i1 + i) % gs == 0:
                # from W (block-start state), not W1: GPTQ's group rule
                scale, zero = gq.find_params(W[:, i1 + i:i1 + i + gs], bits, sym, mse)
                scales.append(scale)
                zeros.append(zero)
            q = w.copy()
            q[mask1[:, i]] = 0
            if quant:
                c = gq.codes_of(q, scale, zero, maxq)
                codes[:, i1 + i] = c.astype(np.int32)
                q = gq.quantize(q, scale, zero, maxq)
            Q1[:, i] = q
            Losses1[:, i] = (w - q) ** 2 / d ** 2
            err1 = (w - q) / d
            W1[:, i:] -= np.outer(err1, U1[i, i:])
            Err1[:, i] = err1
        W[:, i1:i2] = Q1
        Losses[:, i1:i2] = Losses1 / F32(2)
        keep[:, i1:i2] = ~mask1
        W[:, i2:] -= Err1 @ U[i1:i2, i2:]

    out = {"Q": W, "keep": keep, "loss": Losses.astype(np.float64).sum()}
    if quant:
        out.update(codes=codes, scales=np.stack(scales), zeros=np.stack(zeros))
    return out


CASES = [
    # name,            rows cols tokens sparsity N  M  bs  bits gs sym mse dead
    ("a_unstr50",        16, 64, 128, 0.5, 0, 0, 128, 0, -1, 0, 0, 0),
    ("b_unstr30_320",     8, 320, 192, 0.3, 0, 0, 128, 0, -1, 0, 0, 0),
    ("c_2of4",           16, 64, 128, 0.0, 2, 4, 128, 0, -1, 0, 0, 0),
    ("d_4of8",           16, 96, 128, 0.0, 4, 8, 128, 0, -1, 0, 0, 0),
    ("e_2of4_sym4_pc",   16, 64, 128, 0.0, 2, 4, 128, 4, -1, 1, 0, 0),
    ("f_unstr50_asym3_g32", 16, 96, 128, 0.5, 0, 0, 128, 3, 32, 0, 0, 0),
    ("g_dead_unstr50",   16, 64, 128, 0.5, 0, 0, 128, 0, -1, 0, 0, 1),
    ("h_2of4_bs64",      16, 192, 160, 0.0, 2, 4, 64, 0, -1, 0, 0, 0),
]


def make_problem(rng, rows, cols, tokens, dead):
    W = gq.make_weights(rng, rows, cols, True)
    X = gq.make_activations(rng, tokens, cols)
    if dead:
        X[:, [0, 33]] = 0  # two more dead columns (cols - 5 is one already)
    else:  # revive make_activations' dead column
        X[:, cols - 5] = rng.integers(-3, 4, size=tokens)
    H = (X.astype(np.int64).T @ X.astype(np.int64)).astype(F32)  # exact
    return W, X, H


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/sparsegpt"
    os.makedirs(outdir, exist_ok=True)
    for n, (name, rows, cols, tokens, sp, pn, pm, bs, bits, gs, sym, mse, dead) in enumerate(CASES):
        rng = np.random.default_rng(4000 + n)
        W, X, H = make_problem(rng, rows, cols, tokens, dead)
        r = fasterprune(W, H, sp, pn, pm, bs, 0.01, bits, gs, sym, mse)
        arrays = {
            "params": ("i32", [pn, pm, bs, bits, gs, sym, mse]),
            "sparsity": ("f64", [sp]),
            "damp": ("f64", [0.01]),
            "W": ("f32", W),
            "X": ("i8", X),
            "keep": ("u8", r["keep"]),
            "Q": ("f32", r["Q"]),
            "loss": ("f64", [r["loss"]]),
        }
        if bits:
            arrays.update(codes=("u8", r["codes"]), scales=("f32", r["scales"]),
                          zeros=("i32", r["zeros"]))
        gq.write_qzfx(os.path.join(outdir, name + ".qzfx"), arrays)
        print(f"{name}: pruned {int((r['keep'] == 0).sum())}/{rows * cols}, loss {r['loss']:.9g}")


if __name__ == "__main__":
    main()
