#!/usr/bin/env python3
"""Writes tests/fixtures/gguf/<type>.qzfx: random but valid ggml blocks of
every type qz dequantizes, and their floats as dequantized by an independent
implementation, the `gguf` Python package's gguf.quants.dequantize (numpy,
llama.cpp's own gguf-py). Run once with /opt/qzpy/bin/python; the C test
(tests/unit/test_gguf.c) never needs Python.

Each file holds two arrays: "blocks" (u8, the raw bytes of 2 rows) and
"values" (f32, 2 x row elements). Every byte is random except the FP16
scale fields (d, dmin, m), which are set to finite values (some negative,
some subnormal) so that the reference has no NaN to compare.
File format (.qzfx): see scripts/gen_gptq_fixture.py.
"""
import os
import sys

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize, GGML_QUANT_SIZES

# type -> byte offsets of its FP16 fields inside one block
HALF_FIELDS = {
    T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0],
    T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208],
}
BLOCKS_PER_ROW = {32: 8, 256: 3}


def write_qzfx(path, arrays):
    with open(path, "wb") as f:
        f.write(b"QZFX 1\n")
        for name, a in arrays:
            dt = {np.dtype(np.float32): "f32", np.dtype(np.uint8): "u8"}[a.dtype]
            f.write(("%s %s %d %s\n" % (name, dt, a.ndim, " ".join(str(d) for d in a.shape))).encode())
            f.write(np.ascontiguousarray(a).tobytes())
        f.write(b"END\n")


def random_halves(rng, n):
    h = rng.uniform(-0.5, 0.5, n).astype(np.float16)
    h[::5] = np.float16(rng.uniform(-1, 1) * 2.0**-20)  # subnormal scales too
    return h


def quant_rows(rng, qtype, rows):
    bs, ts = GGML_QUANT_SIZES[qtype]
    nb = BLOCKS_PER_ROW[bs]
    raw = rng.integers(0, 256, size=(rows * nb, ts), dtype=np.uint8)
    for off in HALF_FIELDS[qtype]:
        raw[:, off:off + 2] = random_halves(rng, rows * nb).view(np.uint8).reshape(-1, 2)
    return raw.reshape(rows, nb * ts), nb * bs


def float_rows(rng, qtype, rows, n=40):
    x = (rng.standard_normal((rows, n)) * 3).astype(np.float32)
    x[0, :4] = [0.0, -0.0, 1e-40, 65504.0]
    if qtype == T.F16:
        return x.astype(np.float16).view(np.uint8), n
    if qtype == T.BF16:
        return (x.view(np.uint32) >> 16).astype(np.uint16).view(np.uint8), n
    return x.view(np.uint8), n


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "gguf")
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(20261202)
    types = [T.F32, T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K]
    for qt in types:
        raw, n = (quant_rows if qt in HALF_FIELDS else float_rows)(rng, qt, 2)
        raw = np.ascontiguousarray(raw.reshape(2, -1))
        vals = dequantize(raw, qt).astype(np.float32).reshape(2, n)
        assert np.all(np.isfinite(vals)), qt.name
        write_qzfx(os.path.join(out, qt.name.lower() + ".qzfx"), [("blocks", raw), ("values", vals)])
        print(qt.name, raw.shape, vals.shape, file=sys.stderr)


if __name__ == "__main__":
    main()
