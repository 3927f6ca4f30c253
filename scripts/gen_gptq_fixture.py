#!/usr/bin/env python3
"""gen_gptq_fixture.py - golden values for tests/unit/test_gptq.c.

An independent numpy implementation of the IST-DASLab GPTQ reference
(gptq.py fasterquant + quant.py Quantizer, FORMATS-AND-ALGORITHMS.md 1b/1c)
and of the AutoGPTQ qweight/qzeros bit layout (2a), written from the
algorithm text. Run once; the outputs are committed:

    python3 scripts/gen_gptq_fixture.py [tests/fixtures/gptq]

Arithmetic mirrors torch: float32 everywhere (numpy 2 keeps float32 when a
Python scalar meets a float32 array, and rounds the scalar to float32 first,
as torch does), round = round-half-to-even. Like qz (our documented
deviation), damping and the Cholesky / inverse / Cholesky chain are float64,
then U is rounded to float32. act-order uses a stable descending sort (ties by
ascending column). Sums of MSE errors and of the losses are float64.

Hessians come from integer activations X (int8), so H = X^T X is exact in
float32 whatever the summation order; the C test rebuilds H from X.

File format (.qzfx): the line "QZFX 1", then records, each a text line
"name dtype ndim d0 d1 ..." followed by the raw little-endian array bytes
(dtype f32 f64 i32 u8 i8), then the line "END".
"""
import os
import sys

import numpy as np

F32 = np.float32
DTYPES = {"f32": np.float32, "f64": np.float64, "i32": np.int32, "u8": np.uint8, "i8": np.int8}


def write_qzfx(path, arrays):
    with open(path, "wb") as f:
        f.write(b"QZFX 1\n")
        for name, (dt, a) in arrays.items():
            a = np.ascontiguousarray(np.asarray(a, dtype=DTYPES[dt]))
            dims = " ".join(str(d) for d in a.shape)
            f.write(f"{name} {dt} {a.ndim} {dims}\n".encode())
            f.write(a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes())
        f.write(b"END\n")


# --------------------------------------------------------------------------
# quant.py Quantizer (perchannel=True)

def quantize(x, scale, zero, maxq):
    q = np.clip(np.round(x / scale) + zero, F32(0), maxq)
    return scale * (q - zero)


def codes_of(x, scale, zero, maxq):
    return np.clip(np.round(x / scale) + zero, F32(0), maxq)


def find_params(x, bits, sym, mse):
    """x: float32 [rows, n] -> (scale[rows], zero[rows]) float32."""
    x = x.astype(F32)
    maxq = F32(2 ** bits - 1)
    xmin = np.minimum(x.min(axis=1), F32(0))
    xmax = np.maximum(x.max(axis=1), F32(0))
    if sym:
        xmax = np.maximum(np.abs(xmin), xmax)
        xmin = np.where(xmin < 0, -xmax, xmin)
    dead = (xmin == 0) & (xmax == 0)
    xmin = np.where(dead, F32(-1), xmin)
    xmax = np.where(dead, F32(1), xmax)
    scale = (xmax - xmin) / maxq
    if sym:
        zero = np.full_like(scale, (maxq + F32(1)) / F32(2))
    else:
        zero = np.round(-xmin / scale)
    if mse:
        best = np.full(x.shape[0], np.inf)
        for i in range(int(0.8 * 100)):
            p = F32(1 - i / 100)
            xmin1, xmax1 = p * xmin, p * xmax
            scale1 = (xmax1 - xmin1) / maxq
            zero1 = zero if sym else np.round(-xmin1 / scale1)
            q = quantize(x, scale1[:, None], zero1[:, None], maxq)
            e = (np.abs(q - x) ** F32(2.4)).astype(np.float64).sum(axis=1)
            better = e < best
            best = np.where(better, e, best)
            scale = np.where(better, scale1, scale)
            zero = np.where(better, zero1, zero)
    return scale.astype(F32), zero.astype(F32)


# --------------------------------------------------------------------------
# gptq.py fasterquant

def upper_chol_of_inverse(H, damp):
    H64 = H.astype(np.float64)
    n = H64.shape[0]
    H64[np.arange(n), np.arange(n)] += damp * np.mean(np.diag(H64))
    L = np.linalg.cholesky(H64)
    Linv = np.linalg.inv(L)
    Hinv = Linv.T @ Linv
    return np.linalg.cholesky(Hinv).T.astype(F32)  # Hinv = U^T U


def fasterquant(W, H, bits, gs, sym, act, static, mse, bs=128, damp=0.01, keep=None):
    W = W.astype(F32).copy()
    H = H.astype(F32).copy()
    rows, cols = W.shape
    quant = bits > 0
    maxq = F32(2 ** bits - 1) if quant else None
    if quant:
        scale, zero = find_params(W, bits, sym, mse)  # once, on the whole W
    dead = np.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    if quant and static and gs > 0:
        groups = [find_params(W[:, i:i + gs], bits, sym, mse) for i in range(0, cols, gs)]
    perm = np.arange(cols)
    if act:
        perm = np.argsort(-np.diag(H), kind="stable")
        W = W[:, perm]
        H = H[perm][:, perm]
    invperm = np.argsort(perm)
    if keep is not None:
        keep = keep[:, perm]
    U = upper_chol_of_inverse(H, damp)

    Q = np.zeros_like(W)
    C = np.zeros(W.shape, np.int32)
    Losses = np.zeros_like(W)
    scales, zeros = [], []
    for i1 in range(0, cols, bs):
        i2 = min(i1 + bs, cols)
        W1 = W[:, i1:i2].copy()
        Q1 = np.zeros_like(W1)
        Err1 = np.zeros_like(W1)
        Losses1 = np.zeros_like(W1)
        U1 = U[i1:i2, i1:i2]
        for i in range(i2 - i1):
            w = W1[:, i].copy()
            d = U1[i, i]
            if quant and gs > 0:
                if not static:
                    if (i1 + i) % gs == 0:
                        # from W (block-start state), not W1: the reference quirk
                        scale, zero = find_params(W[:, i1 + i:i1 + i + gs], bits, sym, mse)
                        scales.append(scale)
                        zeros.append(zero)
                else:
                    scale, zero = groups[perm[i1 + i] // gs]
            if quant:
                c = codes_of(w, scale, zero, maxq)
                q = scale * (c - zero)
            else:
                c = np.zeros(rows, F32)
                q = w.copy()
            if keep is not None:
                k = keep[:, i1 + i] != 0
                q = np.where(k, q, F32(0))
                if quant:
                    c = np.where(k, c, zero)
            Q1[:, i] = q
            C[:, i1 + i] = c.astype(np.int32)
            Losses1[:, i] = (w - q) ** 2 / d ** 2
            err1 = (w - q) / d
            W1[:, i:] -= np.outer(err1, U1[i, i:])
            Err1[:, i] = err1
        Q[:, i1:i2] = Q1
        Losses[:, i1:i2] = Losses1 / F32(2)
        W[:, i2:] -= Err1 @ U[i1:i2, i2:]

    out = {"Q": Q[:, invperm], "loss": Losses.astype(np.float64).sum()}
    if quant:
        out["codes"] = C[:, invperm]
        if gs <= 0:
            out["scales"], out["zeros"] = scale[None, :], zero[None, :]
            out["g_idx"] = np.zeros(cols, np.int32)
        elif static:
            out["scales"] = np.stack([g[0] for g in groups])
            out["zeros"] = np.stack([g[1] for g in groups])
            out["g_idx"] = np.arange(cols) // gs
        else:
            out["scales"], out["zeros"] = np.stack(scales), np.stack(zeros)
            out["g_idx"] = invperm // gs  # = (i // gs in loop order)[invperm]
    return out


def rtn(W, bits, gs, sym, mse):
    rows, cols = W.shape
    gs = cols if gs <= 0 else gs
    maxq = F32(2 ** bits - 1)
    Q = np.zeros_like(W)
    C = np.zeros(W.shape, np.int32)
    scales, zeros = [], []
    for c0 in range(0, cols, gs):
        s, z = find_params(W[:, c0:c0 + gs], bits, sym, mse)
        c = codes_of(W[:, c0:c0 + gs], s[:, None], z[:, None], maxq)
        C[:, c0:c0 + gs] = c.astype(np.int32)
        Q[:, c0:c0 + gs] = s[:, None] * (c - z[:, None])
        scales.append(s)
        zeros.append(z)
    return {"Q": Q, "codes": C, "scales": np.stack(scales), "zeros": np.stack(zeros),
            "g_idx": np.arange(cols) // gs}


# --------------------------------------------------------------------------
# Problems

def make_weights(rng, rows, cols, special_rows):
    W = (rng.standard_normal((rows, cols)) * 0.02).astype(F32)
    W[rng.integers(0, rows, 4), rng.integers(0, cols, 4)] *= F32(8)  # outlier weights
    if special_rows:
        W[1] = np.abs(W[1])  # all-positive row: the sym clipping quirk
        W[2] = 0             # degenerate row: range [-1, 1]
        # row extremes in the dead column (cols - 5, see make_activations):
        # per-channel params are found before dead columns are zeroed
        W[0, cols - 5] = F32(0.2)
        W[3, cols - 5] = F32(-0.2)
    return W


def make_activations(rng, tokens, cols):
    Z = rng.integers(-3, 4, size=(tokens, cols))
    X = Z + np.roll(Z, 1, axis=1)  # correlated neighbours
    X[:, [3, cols // 2]] *= 6      # outlier channels
    X[:, cols - 5] = 0             # dead column
    X[:, 7] = X[:, 9]              # equal diagonals (act-order tie)
    return X.astype(np.int8)


CASES = [
    # name,     rows cols tokens bits gs  sym act static mse bs  keep
    ("a_sym4_pc",   16, 64, 128, 4, -1, 1, 0, 0, 0, 128, 0),
    ("b_asym4_pc",  16, 64, 128, 4, -1, 0, 0, 0, 0, 128, 0),
    ("c_asym3_g32", 24, 96, 160, 3, 32, 0, 0, 0, 0, 128, 0),
    ("d_sym4_g32_act", 24, 96, 160, 4, 32, 1, 1, 0, 0, 128, 0),
    ("e_asym4_g64_act_320", 16, 320, 384, 4, 64, 0, 1, 0, 0, 128, 0),
    ("f_sym3_g64_320", 16, 320, 384, 3, 64, 1, 0, 0, 0, 128, 0),
    ("g_sym4_g32_act_static", 24, 96, 160, 4, 32, 1, 1, 1, 0, 128, 0),
    ("h_sym8_g16", 16, 64, 128, 8, 16, 1, 0, 0, 0, 128, 0),
    ("i_asym8_pc_act", 16, 64, 128, 8, -1, 0, 1, 0, 0, 128, 0),
    ("j_asym2_g16", 16, 64, 128, 2, 16, 0, 0, 0, 0, 128, 0),
    ("k_asym4_g32_mse", 16, 64, 128, 4, 32, 0, 0, 0, 1, 128, 0),
    ("l_asym4_g32_bs48", 16, 96, 160, 4, 32, 0, 0, 0, 0, 48, 0),
    ("m_sym4_g32_act_keep", 24, 96, 160, 4, 32, 1, 1, 0, 0, 128, 1),
    ("n_prune_only_320", 16, 320, 384, 0, -1, 0, 0, 0, 0, 128, 1),
    ("o_sym4_g64_act_static_320", 16, 320, 384, 4, 64, 1, 1, 1, 0, 128, 0),
    # partial last group, as SmolLM2's in_features 576 = 4.5 groups of 128 (issue 11):
    # 320 = 128 + 128 + 64; at a block start (bs 128) and mid-block (bs 48)
    ("p_sym4_g128_partial_320", 16, 320, 384, 4, 128, 1, 0, 0, 0, 128, 0),
    ("q_asym4_g128_partial_act_320", 16, 320, 384, 4, 128, 0, 1, 0, 0, 128, 0),
    ("r_sym4_g128_partial_bs48_320", 16, 320, 384, 4, 128, 1, 0, 0, 0, 48, 0),
]

RTN_CASES = [
    # name,  rows cols bits gs sym mse
    ("rtn_asym4_pc", 16, 64, 4, -1, 0, 0),
    ("rtn_sym3_g32", 24, 96, 3, 32, 1, 0),
    ("rtn_asym4_g32_mse", 16, 64, 4, 32, 0, 1),
    ("rtn_sym8_g16_mse", 16, 64, 8, 16, 1, 1),
]


def gen_cases(outdir):
    for n, (name, rows, cols, tokens, bits, gs, sym, act, static, mse, bs, keep) in enumerate(CASES):
        rng = np.random.default_rng(1000 + n)
        W = make_weights(rng, rows, cols, True)
        X = make_activations(rng, tokens, cols)
        H = (X.astype(np.int64).T @ X.astype(np.int64)).astype(F32)  # exact
        mask = (rng.random((rows, cols)) >= 0.5).astype(np.uint8) if keep else None
        r = fasterquant(W, H, bits, gs, sym, act, static, mse, bs=bs, damp=0.01, keep=mask)
        arrays = {
            "params": ("i32", [bits, gs, sym, act, static, mse, bs, 2]),  # last: n_seqs
            "damp": ("f64", [0.01]),
            "W": ("f32", W),
            "X": ("i8", X),
            "Q": ("f32", r["Q"]),
            "loss": ("f64", [r["loss"]]),
            "damp_used": ("f64", [0.01]),
        }
        if mask is not None:
            arrays["keep"] = ("u8", mask)
        if bits:
            arrays.update(codes=("u8", r["codes"]), scales=("f32", r["scales"]),
                          zeros=("i32", r["zeros"]), g_idx=("i32", r["g_idx"]))
        write_qzfx(os.path.join(outdir, name + ".qzfx"), arrays)
        print(name, "loss", r["loss"])
    for n, (name, rows, cols, bits, gs, sym, mse) in enumerate(RTN_CASES):
        rng = np.random.default_rng(2000 + n)
        W = make_weights(rng, rows, cols, True)
        r = rtn(W, bits, gs, sym, mse)
        write_qzfx(os.path.join(outdir, name + ".qzfx"), {
            "params": ("i32", [bits, gs, sym, mse]),
            "W": ("f32", W), "Q": ("f32", r["Q"]), "codes": ("u8", r["codes"]),
            "scales": ("f32", r["scales"]), "zeros": ("i32", r["zeros"]),
            "g_idx": ("i32", r["g_idx"]),
        })
        print(name)


# --------------------------------------------------------------------------
# AutoGPTQ bit layout, spelled out word by word (2a)

def pack_along_rows(v, bits):
    """v: uint32 [n, m] -> uint32 [n*bits/32, m], packing along axis 0."""
    n, m = v.shape
    words = np.zeros((n * bits // 32, m), np.uint32)
    i = row = 0
    while row < words.shape[0]:
        if bits in (2, 4, 8):
            for j in range(32 // bits):
                words[row] |= v[i + j] << np.uint32(bits * j)
            i += 32 // bits
            row += 1
        else:  # 3 bits: 32 values in 3 words, values 10 and 21 straddle
            for j in range(10):
                words[row] |= v[i + j] << np.uint32(3 * j)
            i += 10
            words[row] |= (v[i] << np.uint32(30)) & np.uint32(0xFFFFFFFF)
            row += 1
            words[row] |= (v[i] >> np.uint32(2)) & np.uint32(1)
            i += 1
            for j in range(10):
                words[row] |= v[i + j] << np.uint32(3 * j + 1)
            i += 10
            words[row] |= (v[i] << np.uint32(31)) & np.uint32(0xFFFFFFFF)
            row += 1
            words[row] |= (v[i] >> np.uint32(1)) & np.uint32(3)
            i += 1
            for j in range(10):
                words[row] |= v[i + j] << np.uint32(3 * j + 2)
            i += 10
            row += 1
    return words


def gen_pack(outdir):
    for bits in (2, 3, 4, 8):
        rng = np.random.default_rng(3000 + bits)
        out_f, in_f, gs = 64, 96, 32
        maxq = 2 ** bits - 1
        ng = in_f // gs
        codes = rng.integers(0, maxq + 1, size=(out_f, in_f)).astype(np.uint32)  # [out, in]
        zeros = rng.integers(1, maxq + 1, size=(ng, out_f)).astype(np.uint32)    # v1-safe
        scales = (rng.random((ng, out_f)) * 0.01 + 0.001).astype(F32)
        g_idx = (rng.permutation(in_f) // gs).astype(np.int32)                   # act-order style
        qweight = pack_along_rows(codes.T.copy(), bits)                           # [in*b/32, out]
        qz_v2 = pack_along_rows(zeros.T.copy(), bits).T                           # [ng, out*b/32]
        qz_v1 = pack_along_rows((zeros - 1).T.copy(), bits).T
        deq = np.zeros((out_f, in_f), F32)
        for k in range(in_f):
            g = g_idx[k]
            deq[:, k] = scales[g] * (codes[:, k].astype(F32) - zeros[g].astype(F32))
        write_qzfx(os.path.join(outdir, f"pack_b{bits}.qzfx"), {
            "shape": ("i32", [bits, out_f, in_f, ng]),
            "codes": ("u8", codes), "zeros": ("i32", zeros),
            "qweight": ("i32", qweight.view(np.int32)),
            "qzeros_v1": ("i32", np.ascontiguousarray(qz_v1).view(np.int32)),
            "qzeros_v2": ("i32", np.ascontiguousarray(qz_v2).view(np.int32)),
            "scales": ("f32", scales), "g_idx": ("i32", g_idx), "W": ("f32", deq),
        })
        print(f"pack_b{bits}")


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/gptq"
    os.makedirs(outdir, exist_ok=True)
    gen_cases(outdir)
    gen_pack(outdir)


if __name__ == "__main__":
    main()
