#!/usr/bin/env python3
"""gen_sparse24_fixture.py - golden values for tests/unit/test_sparse24.c.

An independent numpy implementation of compressed-tensors' sparse-24-bitmask
compressor (neuralmagic/compressed-tensors
compressors/sparse_compressors/sparse_24_bitmask.py: get_24_bytemasks,
sparse24_bitmask_compress; utils/helpers.py: pack_bitmasks), written from
the algorithm text. Run once; the outputs are committed:

    python3 scripts/gen_sparse24_fixture.py [tests/fixtures/sparse24]

Per linear W [rows, cols] (cols % 4 == 0):
  mask       top-2 |w| of every 4 consecutive inputs of a row (torch.topk(2)
             over W.view(-1, 4).abs(), scattered into a bool mask); where a
             group holds fewer than 2 nonzeros the remaining slots go to its
             lowest-column zeros (qz's rule; torch.topk's choice among equal
             values is unspecified - see the torch check below);
  compressed W[mask].reshape(rows, cols // 2): the kept values in row-major
             order, so each group's two values in ascending column order;
  bitmask    numpy.packbits(mask, axis=-1, bitorder="little"): uint8
             [rows, ceil(cols / 8)], input k of a row at bit k % 8 of byte
             k // 8, the last byte's unused bits 0;
  shape      int64 [[rows], [cols]].

The weights are small multiples of 1/8 (exact in F16 and BF16), so the
expected F16 and BF16 bytes of `compressed` are plain conversions. Some
groups hold 3 or 4 zeros, one keeps a -0.0 (its sign must survive).

File format: .qzfx, written by gen_gptq_fixture.write_qzfx (documented
there). Arrays per case: W f32 [rows, cols], compressed f32 [rows, cols/2],
compressed_f16 / compressed_bf16 u8 (the little-endian bytes, [rows, cols]),
bitmask u8 [rows, ceil(cols/8)].

When torch is importable (Debian's python3-torch), the script also runs the
reference's own torch operations on each W and checks that they keep the
same values wherever the choice is forced (every group with exactly 2
nonzeros) and decode to the same dense matrix; it prints how many of the
tie groups torch marks differently.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_gptq_fixture import write_qzfx  # noqa: E402

F32 = np.float32


def make_weights(rows, cols, rng):
    """A 2:4 matrix of multiples of 1/8 with every group pattern present."""
    assert cols % 4 == 0
    w = np.zeros((rows, cols), dtype=F32)
    for r in range(rows):
        for g in range(cols // 4):
            kind = rng.integers(0, 10)
            if kind < 6:
                keep = rng.choice(4, size=2, replace=False)      # exactly 2 nonzeros
            elif kind < 9:
                keep = rng.choice(4, size=1)                      # 3 zeros
            else:
                keep = np.array([], dtype=int)                    # 4 zeros
            for k in keep:
                v = F32(rng.integers(1, 64)) / F32(8)
                w[r, 4 * g + k] = -v if rng.integers(0, 2) else v
    w[0, 0:4] = [F32(-0.0), 0, 0, F32(2.5)]                       # a kept -0.0
    return w


def bytemask_24(w):
    """Top-2 |w| per group of 4; ties to the lower column (stable sort)."""
    groups = np.abs(w.reshape(-1, 4))
    order = np.argsort(-groups, axis=1, kind="stable")[:, :2]
    mask = np.zeros(groups.shape, dtype=bool)
    np.put_along_axis(mask, order, True, axis=1)
    return mask.reshape(w.shape)


def compress(w):
    mask = bytemask_24(w)
    rows, cols = w.shape
    compressed = w[mask].reshape(rows, cols // 2)
    bitmask = np.packbits(mask, axis=-1, bitorder="little")
    return mask, compressed, bitmask


def torch_check(name, w, mask):
    try:
        import torch
    except ImportError:
        print(f"{name}: torch not importable, reference cross-check skipped")
        return
    t = torch.from_numpy(w.copy())
    top = t.view(-1, 4).abs().topk(2, dim=1).indices
    tm = torch.zeros(t.view(-1, 4).shape, dtype=torch.bool)
    tm.scatter_(1, top, True)
    tm = tm.view(t.shape).numpy()
    nz = (w != 0).reshape(-1, 4).sum(axis=1)
    forced = (nz == 2)
    same = (tm.reshape(-1, 4) == mask.reshape(-1, 4)).all(axis=1)
    assert same[forced].all(), f"{name}: torch disagrees on a forced group"
    dense_t = np.zeros_like(w)
    dense_t[tm] = t[torch.from_numpy(tm)].numpy()
    assert np.array_equal(dense_t, w), f"{name}: torch's compression does not decode to W"
    print(f"{name}: torch {torch.__version__} agrees on {forced.sum()} forced groups; "
          f"marks {(~same).sum()} of {(~forced).sum()} tie groups differently (same dense W)")


def case(name, rows, cols, seed, out_dir):
    rng = np.random.default_rng(seed)
    w = make_weights(rows, cols, rng)
    mask, compressed, bitmask = compress(w)
    assert mask.reshape(-1, 4).sum(axis=1).tolist() == [2] * (rows * cols // 4)
    assert bitmask.shape == (rows, (cols + 7) // 8)
    f16 = compressed.astype(np.float16)
    assert np.array_equal(f16.astype(F32), compressed)
    bf16 = (compressed.view(np.uint32) >> 16).astype(np.uint16)
    assert np.array_equal((bf16.astype(np.uint32) << 16).view(F32), compressed)
    torch_check(name, w, mask)
    write_qzfx(os.path.join(out_dir, name + ".qzfx"), {
        "W": ("f32", w),
        "compressed": ("f32", compressed),
        "compressed_f16": ("u8", f16.astype("<f2").view(np.uint8).reshape(rows, cols)),
        "compressed_bf16": ("u8", bf16.astype("<u2").view(np.uint8).reshape(rows, cols)),
        "bitmask": ("u8", bitmask),
    })


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/sparse24"
    os.makedirs(out_dir, exist_ok=True)
    case("a_6x12", 6, 12, 1, out_dir)      # bitmask padded: 12 bits -> 2 bytes
    case("b_4x16", 4, 16, 2, out_dir)      # no padding
    case("c_3x172", 3, 172, 3, out_dir)    # stories260K's intermediate width
    print(f"wrote {out_dir}")


if __name__ == "__main__":
    main()
