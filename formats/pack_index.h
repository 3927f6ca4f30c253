/* pack_index.h - where each value of qz's packed layouts lives: which bits
 * of which word hold weight (row, column), which group a weight belongs to,
 * which word and bits hold its zero point. One header shared by the C
 * readers and writers in formats/ and the CUDA kernels in libquant/cuda/, so
 * the CPU tests of formats/ exercise the index arithmetic the GPU uses.
 * Plain C, static inline, no allocation, no checks: callers validate shapes
 * first (gptq_pack.h, awq_pack.h, ct_ckpt.h, sparse24.h state the rules).
 *
 * Layouts (FORMATS-AND-ALGORITHMS.md 2a, 3e, 5; FORMAT.md):
 *  - GPTQ (AutoGPTQ v1 "gptq" / GPTQModel v2 "gptq_v2"), bits 2, 3, 4, 8:
 *    qweight int32 (in*bits/32, out): column o is a little-endian bit stream
 *    down the rows, value k (input k) at stream bits [bits*k, bits*k+bits),
 *    so word row k*bits/32, shift k*bits%32; at 3 bits values 10 and 21 of
 *    each 32 straddle two words. qzeros int32 (n_groups, out*bits/32): row g
 *    is one stream along the output dim. v1 stores z - 1, v2 stores z.
 *    Group of input k: g_idx[k] (act-order) or k / group_size.
 *  - AWQ GEMM (AutoAWQ WQLinear_GEMM), 4 bits: qweight int32 (in, out/8) and
 *    qzeros int32 (n_groups, out/8); channel o sits in word o/8 at nibble
 *    REV[o%8], REV = [0,4,1,5,2,6,3,7] (the inverse of the packing order
 *    [0,2,4,6,1,3,5,7]); zeros raw. Group of input k: k / group_size.
 *  - compressed-tensors int-quantized (W8A8): weight int8 (out, in) plain
 *    row-major; weight_scale (out, 1) per channel or (1) per tensor.
 *  - sparse-24-bitmask: bitmask uint8 (out, ceil(in/8)), input k of a row at
 *    bit k%8 of byte k/8; the 4 bits of group g (inputs 4g..4g+3) are nibble
 *    g%2 of byte g/2; compressed (out, in/2) holds the 2 kept values of each
 *    group in ascending column order, so group g's values start at 2g.
 * compressed-tensors pack-quantized is not a layout qz reads or writes, so
 * it has no entry here.
 */
#ifndef QZ_PACK_INDEX_H
#define QZ_PACK_INDEX_H

#include <stdint.h>

#ifdef __CUDACC__
#define QZ_PACK_FN static inline __host__ __device__
#else
#define QZ_PACK_FN static inline
#endif

/* ------------------------------------------------------- bit streams (GPTQ) */

/* Position of value k of a `bits`-wide little-endian stream: word index and
 * shift inside it; the value straddles into word + 1 when shift + bits > 32. */
typedef struct qz_bitpos {
    int64_t word;
    int shift;
} qz_bitpos;

QZ_PACK_FN qz_bitpos qz_bitpos_of(int64_t k, int bits)
{
    const int64_t pos = (int64_t)bits * k;
    qz_bitpos p;
    p.word = pos / 32;
    p.shift = (int)(pos % 32);
    return p;
}

/* Value k of the stream whose word t is w[t * stride]. */
QZ_PACK_FN uint32_t qz_stream_get(const int32_t *w, int64_t stride, int64_t k, int bits)
{
    const qz_bitpos p = qz_bitpos_of(k, bits);
    uint32_t x = (uint32_t)w[p.word * stride] >> p.shift;
    if (p.shift + bits > 32) x |= (uint32_t)w[(p.word + 1) * stride] << (32 - p.shift);
    return x & ((1u << bits) - 1u);
}

/* ORs value v (< 2^bits) in as value k of the stream w (stride 1, zeroed). */
QZ_PACK_FN void qz_stream_put(uint32_t *w, int64_t k, int bits, uint32_t v)
{
    const qz_bitpos p = qz_bitpos_of(k, bits);
    w[p.word] |= v << p.shift;
    if (p.shift + bits > 32) w[p.word + 1] |= v >> (32 - p.shift);
}

/* ------------------------------------------------------------------ GPTQ */

/* Code of weight (o, k) in qweight (in*bits/32, out). */
QZ_PACK_FN uint32_t qz_gptq_code(const int32_t *qweight, int64_t out, int64_t o, int64_t k, int bits)
{
    return qz_stream_get(qweight + o, out, k, bits);
}

/* Zero point of output o in group g from qzeros (n_groups, out*bits/32), as
 * loaders use it: v1 (zero_plus_one = 1) stores z - 1. */
QZ_PACK_FN int32_t qz_gptq_zero(const int32_t *qzeros, int64_t out, int64_t g, int64_t o, int bits,
                                int zero_plus_one)
{
    const int64_t nw = out * bits / 32;
    return (int32_t)qz_stream_get(qzeros + g * nw, 1, o, bits) + zero_plus_one;
}

/* Group of input k: g_idx[k] with act-order, else k / group_size. */
QZ_PACK_FN int64_t qz_group_of(const int32_t *g_idx, int64_t group_size, int64_t k)
{
    return g_idx ? (int64_t)g_idx[k] : k / group_size;
}

/* ------------------------------------------------------------------- AWQ */

#define QZ_AWQ_PACK 8 /* 4-bit values per int32 word */

/* Bit shift of channel j (0..7) of an AWQ word: 4 * REV[j] with REV =
 * [0,4,1,5,2,6,3,7], i.e. even channels in nibbles 0-3, odd ones in 4-7. */
QZ_PACK_FN int qz_awq_shift(int64_t j)
{
    return 4 * (int)((j >> 1) + 4 * (j & 1));
}

/* Value of channel o in row r of an AWQ tensor (rows, out/8): a code of
 * qweight (r = input) or a zero point of qzeros (r = group). */
QZ_PACK_FN uint32_t qz_awq_get(const int32_t *w, int64_t out, int64_t r, int64_t o)
{
    const int64_t nw = out / QZ_AWQ_PACK;
    return ((uint32_t)w[r * nw + o / QZ_AWQ_PACK] >> qz_awq_shift(o % QZ_AWQ_PACK)) & 15u;
}

/* ------------------------------------------------ compressed-tensors int8 */

/* Index of weight (o, k) in weight (out, in) and of its scale. */
QZ_PACK_FN int64_t qz_ct_weight_index(int64_t in, int64_t o, int64_t k)
{
    return o * in + k;
}

QZ_PACK_FN int64_t qz_ct_scale_index(int per_channel, int64_t o)
{
    return per_channel ? o : 0;
}

/* ------------------------------------------------------ sparse-24-bitmask */

/* Bytes per bitmask row. */
QZ_PACK_FN int64_t qz_s24_row_bytes(int64_t in)
{
    return (in + 7) / 8;
}

/* The 4 mask bits of group g of a row (bit j = input 4g + j kept). */
QZ_PACK_FN unsigned qz_s24_group_bits(const uint8_t *row_bits, int64_t g)
{
    return (unsigned)(row_bits[g / 2] >> (4 * (g % 2))) & 0xFu;
}

/* ORs the 4 mask bits m of group g into a zeroed row. */
QZ_PACK_FN void qz_s24_put_group_bits(uint8_t *row_bits, int64_t g, unsigned m)
{
    row_bits[g / 2] |= (uint8_t)(m << (4 * (g % 2)));
}

QZ_PACK_FN int qz_s24_popcount4(unsigned m)
{
    return (int)(m & 1) + (int)(m >> 1 & 1) + (int)(m >> 2 & 1) + (int)(m >> 3 & 1);
}

/* Index in the row's kept values (in/2 per row) of group g's first value. */
QZ_PACK_FN int64_t qz_s24_value_index(int64_t g)
{
    return 2 * g;
}

#endif
