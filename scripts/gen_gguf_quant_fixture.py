#!/usr/bin/env python3
"""Writes tests/fixtures/gguf-quant/<type>.qzfx: float rows and the blocks
the `gguf` Python package's quantizer (gguf.quants.quantize, llama.cpp's own
gguf-py, numpy) makes of them, for every type it can quantize: Q4_0 Q4_1
Q5_0 Q5_1 Q8_0. (Its Q4_K, Q5_K and Q6_K have a dequantizer only, so those
are tested against hand-worked blocks in tests/unit/test_gguf_write.c.)
Run once with /opt/qzpy/bin/python; the C test never needs Python.

Each file holds "x" (f32, 4 rows x 256) and "blocks" (u8, the 4 rows'
bytes). Row 0 is Gaussian, row 1 has outliers, row 2 is all positive with
one all-zero block, row 3 has tiny values (subnormal FP16 scales).
File format (.qzfx): see scripts/gen_gptq_fixture.py.
"""
import os
import sys

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf.quants import quantize

sys.path.insert(0, os.path.dirname(__file__))
from gen_gguf_fixture import write_qzfx  # noqa: E402


def rows(rng):
    x = rng.standard_normal((4, 256)).astype(np.float32)
    x[1, ::37] *= 20
    x[2] = np.abs(x[2]) + 0.1
    x[2, 32:64] = 0
    x[3] *= 1e-6
    return x


def main():
    out = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "gguf-quant")
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(17)
    for qtype in (T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0):
        x = rows(rng)
        blocks = quantize(x, qtype)
        write_qzfx(os.path.join(out, qtype.name.lower() + ".qzfx"), [("x", x), ("blocks", blocks)])
        print(qtype.name, blocks.shape)


if __name__ == "__main__":
    main()
