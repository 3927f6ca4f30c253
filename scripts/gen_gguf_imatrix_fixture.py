#!/usr/bin/env python3
"""Writes tests/fixtures/gguf-imatrix/<type>.qzfx: float rows, random
positive importances and the blocks llama.cpp's importance-weighted
quantizers (ggml-quants.c quantize_row_<type>_impl with quant_weights, the
path llama-quantize --imatrix takes) make of them, for Q4_0 Q5_0 Q4_1 Q5_1
Q4_K Q5_K Q6_K. A plain transcription of those C functions into numpy
float32 scalar arithmetic (every operation rounded to fp32 in ggml's order,
sums accumulated one element at a time, ggml's nearest_int bit trick,
FP16 by numpy's round-to-nearest-even), written from the llama.cpp source,
independently of qz's C. Run once with /opt/qzpy/bin/python; the C test
never needs Python.

Each file holds "x" (f32, 4 rows x 512), "qw" (f32, 4 x 512: the
importances, the same layout) and "blocks" (u8, the 4 rows' bytes). Row 0
is Gaussian with log-normal importances; row 1 has outliers and strongly
skewed importances; row 2 is all positive with an all-zero block (32
elements; for the K-quants a zero sub-block), a block of equal values and
a block of equal negative values; row 3 has tiny values (subnormal FP16
scales). File format (.qzfx): see scripts/gen_gptq_fixture.py.
"""
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from gen_gguf_fixture import write_qzfx  # noqa: E402

F = np.float32
GROUP_MAX_EPS = F(1e-15)
QK_K = 256


def nearest_int(v):
    """ggml's nearest_int: add 1.5 * 2^23 in fp32 and read the mantissa."""
    v = F(v)
    assert abs(v) <= 4194303.0
    bits = struct.unpack("<i", struct.pack("<f", F(v + F(12582912.0))))[0]
    return (bits & 0x007FFFFF) - 0x00400000


def fp16_bits(v):
    return int(np.array([F(v)], dtype=np.float32).astype(np.float16).view(np.uint16)[0])


def fp16_value(v):
    return F(np.array([F(v)], dtype=np.float32).astype(np.float16)[0])


def clamp(v, lo, hi):
    return max(lo, min(hi, v))


# ------------------------------------------------------------ ggml helpers

def make_qx_quants(n, nmax, x, rmse_type, qw):
    """rmse_type 1 with quant_weights qw: returns (scale, L in [0, 2 nmax))."""
    assert rmse_type == 1
    mx = F(0)
    amax = F(0)
    for i in range(n):
        ax = F(abs(x[i]))
        if ax > amax:
            amax = ax
            mx = x[i]
    if amax < GROUP_MAX_EPS:
        return F(0), [0] * n
    iscale = F(F(-nmax) / mx)
    L = [0] * n
    sumlx = F(0)
    suml2 = F(0)
    for i in range(n):
        l = clamp(nearest_int(F(iscale * x[i])), -nmax, nmax - 1)
        L[i] = l + nmax
        w = qw[i]
        sumlx = F(sumlx + F(F(w * x[i]) * F(l)))
        suml2 = F(suml2 + F(F(w * F(l)) * F(l)))
    scale = F(sumlx / suml2) if suml2 != 0 else F(0)
    best = F(scale * sumlx)
    for is_ in range(-9, 10):
        if is_ == 0:
            continue
        iscale = F(-F(F(nmax) + F(F(0.1) * F(is_))) / mx)
        sumlx = F(0)
        suml2 = F(0)
        for i in range(n):
            l = clamp(nearest_int(F(iscale * x[i])), -nmax, nmax - 1)
            w = qw[i]
            sumlx = F(sumlx + F(F(w * x[i]) * F(l)))
            suml2 = F(suml2 + F(F(w * F(l)) * F(l)))
        if suml2 > 0 and F(sumlx * sumlx) > F(best * suml2):
            for i in range(n):
                L[i] = nmax + clamp(nearest_int(F(iscale * x[i])), -nmax, nmax - 1)
            scale = F(sumlx / suml2)
            best = F(scale * sumlx)
    return scale, L


def make_qkx3_quants(n, nmax, x, weights, rmin, rdelta, nstep):
    """use_mad false: returns (scale, the_min, L)."""
    rmin, rdelta = F(rmin), F(rdelta)
    mn = x[0]
    mx = x[0]
    sum_w = weights[0]
    sum_x = F(sum_w * x[0])
    for i in range(1, n):
        if x[i] < mn:
            mn = x[i]
        if x[i] > mx:
            mx = x[i]
        w = weights[i]
        sum_w = F(sum_w + w)
        sum_x = F(sum_x + F(w * x[i]))
    if mn > 0:
        mn = F(0)
    if mx <= mn:
        return F(0), F(-mn), [0] * n
    iscale = F(F(nmax) / F(mx - mn))
    scale = F(F(1) / iscale)
    best_mad = F(0)
    L = [0] * n
    for i in range(n):
        l = nearest_int(F(iscale * F(x[i] - mn)))
        L[i] = clamp(l, 0, nmax)
        diff = F(F(F(scale * F(L[i])) + mn) - x[i])
        diff = F(diff * diff)
        best_mad = F(best_mad + F(weights[i] * diff))
    for is_ in range(nstep + 1):
        with np.errstate(all="ignore"):
            iscale = F(F(F(rmin + F(rdelta * F(is_))) + F(nmax)) / F(mx - mn))
        sum_l = F(0)
        sum_l2 = F(0)
        sum_xl = F(0)
        Laux = [0] * n
        for i in range(n):
            with np.errstate(all="ignore"):
                v = F(iscale * F(x[i] - mn))
            l = nearest_int(min(v, F(nmax))) if v > 0 else 0
            Laux[i] = l
            w = weights[i]
            sum_l = F(sum_l + F(w * F(l)))
            sum_l2 = F(sum_l2 + F(F(w * F(l)) * F(l)))
            sum_xl = F(sum_xl + F(F(w * F(l)) * x[i]))
        D = F(F(sum_w * sum_l2) - F(sum_l * sum_l))
        if D > 0:
            this_scale = F(F(F(sum_w * sum_xl) - F(sum_x * sum_l)) / D)
            this_min = F(F(F(sum_l2 * sum_x) - F(sum_l * sum_xl)) / D)
            if this_min > 0:
                this_min = F(0)
                this_scale = F(sum_xl / sum_l2)
            mad = F(0)
            for i in range(n):
                diff = F(F(F(this_scale * F(Laux[i])) + this_min) - x[i])
                diff = F(diff * diff)
                mad = F(mad + F(weights[i] * diff))
            if mad < best_mad:
                L = list(Laux)
                best_mad = mad
                scale = this_scale
                mn = this_min
    return scale, F(-mn), L


def make_qp_quants(n, nmax, x, quant_weights):
    """Returns (scale, L) with L as ggml's uint8_t."""
    mx = F(0)
    for i in range(n):
        mx = max(mx, x[i])
    if mx < GROUP_MAX_EPS:
        return F(0), [0] * n
    iscale = F(F(nmax) / mx)
    L = [nearest_int(F(iscale * x[i])) & 0xFF for i in range(n)]
    scale = F(F(1) / iscale)
    best_mse = F(0)
    for i in range(n):
        diff = F(x[i] - F(scale * F(L[i])))
        best_mse = F(best_mse + F(F(quant_weights[i] * diff) * diff))
    for is_ in range(-4, 5):
        if is_ == 0:
            continue
        iscale_is = F(F(F(F(0.1) * F(is_)) + F(nmax)) / mx)
        scale_is = F(F(1) / iscale_is)
        mse = F(0)
        for i in range(n):
            l = min(nmax, nearest_int(F(iscale_is * x[i])))
            diff = F(x[i] - F(scale_is * F(l)))
            mse = F(mse + F(F(quant_weights[i] * diff) * diff))
        if mse < best_mse:
            best_mse = mse
            iscale = iscale_is
    sumlx = F(0)
    suml2 = F(0)
    for i in range(n):
        l = min(nmax, nearest_int(F(iscale * x[i])))
        L[i] = l & 0xFF
        w = quant_weights[i]
        sumlx = F(sumlx + F(F(w * x[i]) * F(L[i])))
        suml2 = F(suml2 + F(F(w * F(L[i])) * F(L[i])))
    for _ in range(5):
        n_changed = 0
        for i in range(n):
            w = quant_weights[i]
            slx = F(sumlx - F(F(w * x[i]) * F(L[i])))
            sl2 = F(suml2 - F(F(w * F(L[i])) * F(L[i])))
            if slx > 0 and sl2 > 0:
                new_l = min(nmax, nearest_int(F(F(x[i] * sl2) / slx)))
                if new_l != L[i]:
                    slx = F(slx + F(F(w * x[i]) * F(new_l)))
                    sl2 = F(sl2 + F(F(w * F(new_l)) * F(new_l)))
                    if F(F(slx * slx) * suml2) > F(F(sumlx * sumlx) * sl2):
                        L[i] = new_l & 0xFF
                        sumlx = slx
                        suml2 = sl2
                        n_changed += 1
        if not n_changed:
            break
    return (F(sumlx / suml2) if suml2 > 0 else F(0)), L


def get_scale_min_k4(j, q):
    if j < 4:
        return q[j] & 63, q[j + 4] & 63
    return (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4)


# --------------------------------------------------------- the _impl rows

def row_sigma2(x):
    s = F(0)
    for v in x:
        s = F(s + F(v * v))
    return F(s / F(len(x)))


def imatrix_weights(xb, qwb, sigma2):
    return [F(qwb[j] * np.sqrt(F(sigma2 + F(xb[j] * xb[j])))) for j in range(len(xb))]


def pack_32(L, with_high):
    qs = bytes((L[j] & 0x0F) | ((L[j + 16] & 0x0F) << 4) for j in range(16))
    if not with_high:
        return qs, b""
    qh = 0
    for j in range(16):
        qh |= ((L[j] & 0x10) >> 4) << j
        qh |= ((L[j + 16] & 0x10) >> 4) << (j + 16)
    return qs, struct.pack("<I", qh)


def quant_q4_0_q5_0(x, qw, half):
    sigma2 = row_sigma2(x)
    out = b""
    for ib in range(len(x) // 32):
        xb, qb = x[32 * ib:32 * ib + 32], qw[32 * ib:32 * ib + 32]
        d, L = make_qx_quants(32, half, xb, 1, imatrix_weights(xb, qb, sigma2))
        qs, qh = pack_32(L, half == 16)
        out += struct.pack("<H", fp16_bits(d)) + qh + qs
    return out


def quant_q4_1_q5_1(x, qw, nmax):
    sigma2 = row_sigma2(x)
    out = b""
    for ib in range(len(x) // 32):
        xb, qb = x[32 * ib:32 * ib + 32], qw[32 * ib:32 * ib + 32]
        d, the_min, L = make_qkx3_quants(32, nmax, xb, imatrix_weights(xb, qb, sigma2), -0.9, 0.05, 36)
        qs, qh = pack_32(L, nmax == 31)
        out += struct.pack("<HH", fp16_bits(d), fp16_bits(F(-the_min))) + qh + qs
    return out


def quant_k45(x, qw, nmax):
    out = b""
    for i in range(len(x) // QK_K):
        xs, qs_w = x[QK_K * i:QK_K * (i + 1)], qw[QK_K * i:QK_K * (i + 1)]
        sum_x2 = F(0)
        for v in xs:
            sum_x2 = F(sum_x2 + F(v * v))
        sigma2 = F(F(F(2) * sum_x2) / F(QK_K))
        scales, mins, sw, L = [], [], [], [0] * QK_K
        for j in range(8):
            xb = xs[32 * j:32 * j + 32]
            w = imatrix_weights(xb, qs_w[32 * j:32 * j + 32], sigma2)
            s = F(0)
            for v in w:
                s = F(s + v)
            sw.append(s)
            sc, mn, Lj = make_qkx3_quants(32, nmax, xb, w, -0.9, 0.05, 36)
            scales.append(sc)
            mins.append(mn)
            L[32 * j:32 * j + 32] = Lj
        d_block, Ls = make_qp_quants(8, 63, scales, sw)
        m_block, Lm = make_qp_quants(8, 63, mins, sw)
        sc12 = [0] * 12
        for j in range(8):
            ls, lm = min(63, Ls[j]), min(63, Lm[j])
            if j < 4:
                sc12[j] = ls
                sc12[j + 4] = lm
            else:
                sc12[j + 4] = (ls & 0xF) | ((lm & 0xF) << 4)
                sc12[j - 4] |= (ls >> 4) << 6
                sc12[j] |= (lm >> 4) << 6
        d16, dm16 = fp16_bits(d_block), fp16_bits(m_block)
        dv, dmv = fp16_value(d_block), fp16_value(m_block)
        for j in range(8):
            sc, m = get_scale_min_k4(j, sc12)
            d = F(dv * F(sc))
            if d == 0:
                continue
            dm = F(dmv * F(m))
            for ii in range(32):
                L[32 * j + ii] = clamp(nearest_int(F(F(xs[32 * j + ii] + dm) / d)), 0, nmax)
        qs = bytearray(128)
        qh = bytearray(32)
        for n, k in zip(range(0, QK_K, 64), range(0, 8, 2)):
            for l in range(32):
                l1, l2 = L[n + l], L[n + l + 32]
                if l1 > 15:
                    l1 -= 16
                    qh[l] |= 1 << k
                if l2 > 15:
                    l2 -= 16
                    qh[l] |= 2 << k
                qs[n // 2 + l] = l1 | (l2 << 4)
        out += struct.pack("<HH", d16, dm16) + bytes(sc12) + (bytes(qh) if nmax == 31 else b"") + bytes(qs)
    return out


def quant_q6_k(x, qw):
    out = b""
    for i in range(len(x) // QK_K):
        xs, qs_w = x[QK_K * i:QK_K * (i + 1)], qw[QK_K * i:QK_K * (i + 1)]
        scales, L = [], [0] * QK_K
        max_scale = F(0)
        max_abs_scale = F(0)
        for ib in range(16):
            sc, Lb = make_qx_quants(16, 32, xs[16 * ib:16 * ib + 16], 1, qs_w[16 * ib:16 * ib + 16])
            scales.append(sc)
            L[16 * ib:16 * ib + 16] = Lb
            if abs(sc) > max_abs_scale:
                max_abs_scale = F(abs(sc))
                max_scale = sc
        if max_abs_scale < GROUP_MAX_EPS:
            out += bytes(210)
            continue
        iscale = F(F(-128) / max_scale)
        d16 = fp16_bits(F(F(1) / iscale))
        dv = fp16_value(F(F(1) / iscale))
        sc8 = [min(127, nearest_int(F(iscale * s))) for s in scales]
        for j in range(16):
            d = F(dv * F(sc8[j]))
            if d == 0:
                continue
            for ii in range(16):
                L[16 * j + ii] = clamp(nearest_int(F(xs[16 * j + ii] / d)), -32, 31) + 32
        ql = bytearray(128)
        qh = bytearray(64)
        for j in range(0, QK_K, 128):
            for l in range(32):
                q1, q2, q3, q4 = (L[j + l + o] for o in (0, 32, 64, 96))
                ql[j // 2 + l] = (q1 & 0xF) | ((q3 & 0xF) << 4)
                ql[j // 2 + l + 32] = (q2 & 0xF) | ((q4 & 0xF) << 4)
                qh[j // 4 + l] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6)
        out += bytes(ql) + bytes(qh) + struct.pack("<16b", *sc8) + struct.pack("<H", d16)
    return out


TYPES = {
    "q4_0": lambda x, w: quant_q4_0_q5_0(x, w, 8),
    "q5_0": lambda x, w: quant_q4_0_q5_0(x, w, 16),
    "q4_1": lambda x, w: quant_q4_1_q5_1(x, w, 15),
    "q5_1": lambda x, w: quant_q4_1_q5_1(x, w, 31),
    "q4_k": lambda x, w: quant_k45(x, w, 15),
    "q5_k": lambda x, w: quant_k45(x, w, 31),
    "q6_k": quant_q6_k,
}


def rows(rng, n=512):
    x = rng.standard_normal((4, n)).astype(np.float32)
    qw = np.exp(rng.standard_normal((4, n)) * 1.0).astype(np.float32)
    x[1, ::37] *= 20
    qw[1] = np.exp(rng.standard_normal(n) * 3.0).astype(np.float32)
    qw[1, ::11] *= 1000
    x[2] = np.abs(x[2]) + 0.1
    x[2, 32:64] = 0
    x[2, 96:128] = 0.75
    x[2, 160:192] = -0.3
    x[3] *= 1e-6
    return x, qw


def main():
    out = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "gguf-imatrix")
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(1717)
    for name, fn in TYPES.items():
        x, qw = rows(rng)
        xs = [[F(v) for v in r] for r in x]
        ws = [[F(v) for v in r] for r in qw]
        blocks = np.frombuffer(b"".join(fn(xr, wr) for xr, wr in zip(xs, ws)), dtype=np.uint8).reshape(4, -1)
        write_qzfx(os.path.join(out, name + ".qzfx"), [("x", x), ("qw", qw), ("blocks", blocks.copy())])
        print(name, blocks.shape)


if __name__ == "__main__":
    main()
