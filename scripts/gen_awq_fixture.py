#!/usr/bin/env python3
"""gen_awq_fixture.py - golden values for tests/unit/test_awq_pack.c.

An independent numpy implementation of AutoAWQ's GEMM packing
(WQLinear_GEMM; FORMATS-AND-ALGORITHMS.md 3e), written from the layout facts:

  * the int matrix is taken as [in, out] (the transpose of the (out, in)
    codes), and each row is packed 8 consecutive output channels per int32
    word, nibble i (bits 4i..4i+3) holding channel 8c + AWQ_ORDER[i] with
    AWQ_ORDER = [0, 2, 4, 6, 1, 3, 5, 7];
  * qzeros [n_groups, out] is packed the same way, zeros stored raw;
  * dequant W[o, k] = scales[k // gs, o] * (q[k, o] - z[k // gs, o]), float32.

The script also unpacks with AWQ_REVERSE_ORDER = [0, 4, 1, 5, 2, 6, 3, 7] and
asserts the round trip. Run once; the output is committed:

    python3 scripts/gen_awq_fixture.py [tests/fixtures/awq]

File format (awq_gemm.txt), line based, '#' lines are comments:
    AWQFX 1
    case NAME OUT IN GS            (GS = -1: one group, gs = in)
    codes    then OUT lines of IN hex digits       (codes (out, in))
    zeros    then NG lines of OUT hex digits       (zeros (n_groups, out))
    scales   then NG lines of OUT C99 hex floats   (float32, fp16-exact)
    qweight  then IN lines of OUT/8 words, 8 hex digits each (uint32 bits)
    qzeros   then NG lines of OUT/8 words
    w        then OUT lines of IN C99 hex floats   (dequantized, float32)
    end
    ... more cases ...
    EOF
"""
import os
import sys

import numpy as np

AWQ_ORDER = [0, 2, 4, 6, 1, 3, 5, 7]
AWQ_REVERSE_ORDER = [0, 4, 1, 5, 2, 6, 3, 7]

CASES = [  # name, out, in, group size
    ("out16_in32_g16", 16, 32, 16),
    ("out64_in128_g64", 64, 128, 64),
    ("out24_in64_gm1", 24, 64, -1),
    ("out32_in96_g32", 32, 96, 32),
]


def pack_rows(mat):
    """mat: [rows, cols] ints in [0, 15], cols % 8 == 0 -> [rows, cols/8] int32."""
    mat = mat.astype(np.uint32)
    rows, cols = mat.shape
    packed = np.zeros((rows, cols // 8), dtype=np.uint32)
    for col in range(cols // 8):
        for i in range(8):
            packed[:, col] |= mat[:, col * 8 + AWQ_ORDER[i]] << np.uint32(4 * i)
    return packed.view(np.int32)


def unpack_rows(packed):
    """Inverse of pack_rows: take nibbles i = 0..7, then reorder with REV."""
    u = packed.view(np.uint32)
    rows, words = u.shape
    nib = np.stack([(u >> np.uint32(4 * i)) & np.uint32(15) for i in range(8)], axis=2)  # [rows, words, 8]
    return nib[:, :, AWQ_REVERSE_ORDER].reshape(rows, words * 8).astype(np.int64)


def make_case(rng, out, inn, gs):
    g = inn if gs == -1 else gs
    ng = inn // g
    codes = rng.integers(0, 16, size=(out, inn), dtype=np.int64)  # (out, in) like HF weights
    zeros = rng.integers(0, 16, size=(ng, out), dtype=np.int64)
    # fp16-representable positive scales, so an fp16 round trip is exact
    scales = rng.uniform(1e-3, 0.05, size=(ng, out)).astype(np.float16).astype(np.float32)
    intweight = codes.T  # [in, out]
    qweight = pack_rows(intweight)  # [in, out/8]
    qzeros = pack_rows(zeros)  # [ng, out/8]
    assert (unpack_rows(qweight) == intweight).all()
    assert (unpack_rows(qzeros) == zeros).all()
    gidx = np.arange(inn) // g
    diff = (intweight - zeros[gidx, :]).astype(np.float32)  # [in, out], exact small ints
    w = (scales[gidx, :] * diff).T.astype(np.float32)  # one float32 multiply per entry
    return codes, zeros, scales, qweight, qzeros, w


def hexf(x):
    """Exact C99 hex float, trailing zero digits dropped: 0x1.21cp-6."""
    mant, exp = float(np.float32(x)).hex().split("p")
    mant = mant.rstrip("0").rstrip(".")
    return mant + "p" + exp


def write_case(f, name, out, inn, gs, arrs):
    codes, zeros, scales, qweight, qzeros, w = arrs
    f.write(f"case {name} {out} {inn} {gs}\n")
    f.write("codes\n")
    for row in codes:
        f.write("".join("%x" % v for v in row) + "\n")
    f.write("zeros\n")
    for row in zeros:
        f.write("".join("%x" % v for v in row) + "\n")
    f.write("scales\n")
    for row in scales:
        f.write(" ".join(hexf(v) for v in row) + "\n")
    for label, mat in (("qweight", qweight), ("qzeros", qzeros)):
        f.write(label + "\n")
        for row in mat.view(np.uint32):
            f.write(" ".join("%08x" % int(v) for v in row) + "\n")
    f.write("w\n")
    for row in w:
        f.write(" ".join(hexf(v) for v in row) + "\n")
    f.write("end\n")


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/awq"
    os.makedirs(outdir, exist_ok=True)
    rng = np.random.default_rng(20240611)
    path = os.path.join(outdir, "awq_gemm.txt")
    with open(path, "w") as f:
        f.write("AWQFX 1\n")
        f.write("# AutoAWQ GEMM packing golden values; written by scripts/gen_awq_fixture.py\n")
        for name, out, inn, gs in CASES:
            write_case(f, name, out, inn, gs, make_case(rng, out, inn, gs))
        f.write("EOF\n")
    print("wrote", path)


if __name__ == "__main__":
    main()
