/* gptq_pack.h - byte layout of GPTQ checkpoints (AutoGPTQ / GPTQModel
 * QuantLinear; FORMATS-AND-ALGORITHMS.md 2a). Layout only, no algorithms:
 * the integer codes and zero points come from libquant (gptq.h).
 *
 * Tensors of one quantized Linear with in_features `in`, out_features `out`:
 *   qweight int32 (in*bits/32, out)        codes packed along the INPUT dim
 *   qzeros  int32 (n_groups, out*bits/32)  zero points packed along OUTPUT
 *   scales  fp16  (n_groups, out)          written by the caller
 *   g_idx   int32 (in)                     group of each input row
 *
 * Bit order: each packed run is a little-endian bit stream; value k of the
 * run occupies bits [bits*k, bits*k + bits) counted from bit 0 of the run's
 * first word. For 2/4/8 bits a word holds 32/bits whole values (value j of
 * word t at bits bits*j); for 3 bits 32 values fill 3 words and values 10 and
 * 21 straddle word boundaries (word0 bits 30-31 + word1 bit 0; word1 bit 31 +
 * word2 bits 0-1). Hence in must be a multiple of 32/bits (32 for 3-bit) to
 * pack qweight, and out the same to pack qzeros.
 *
 * Zero points: v1 ("gptq", what AutoGPTQ/transformers/vLLM read) stores z - 1
 * and loaders add 1 back, so z = 0 cannot be written (packing refuses it);
 * v2 ("gptq_v2", GPTQModel only) stores z as is.
 *
 * Codes from gptq.c are (rows = out, cols = in) row-major, which is the
 * `codes` layout below; dequantized weights are (out, in) like HF weights.
 */
#ifndef QZ_GPTQ_PACK_H
#define QZ_GPTQ_PACK_H

#include <stdint.h>

#include "qz_common.h"

typedef enum qz_gptq_zero_fmt {
    QZ_GPTQ_ZERO_V1 = 0, /* stores z - 1 (checkpoint_format "gptq") */
    QZ_GPTQ_ZERO_V2 = 1, /* stores z (checkpoint_format "gptq_v2") */
    QZ_GPTQ_ZERO_COUNT
} qz_gptq_zero_fmt;

/* "gptq" / "gptq_v2" (the checkpoint_format string), or "?" */
const char *qz_gptq_zero_fmt_name(qz_gptq_zero_fmt f);

/* Values per packing unit: 32/bits for 2/4/8 bits, 32 for 3 bits; 0 if bits
 * is not one of 2, 3, 4, 8. A packed dim must be a multiple of it. */
int64_t qz_gptq_pack_align(int bits);

/* QZ_OK if (out, in) can be packed at `bits`, else QZ_EINPUT naming the dim,
 * its value and the required multiple. */
int qz_gptq_pack_check(int64_t out, int64_t in, int bits, qz_error *err);

/* codes (out, in) uint8 in [0, 2^bits - 1] -> qweight (in*bits/32, out).
 * QZ_EINPUT on a bad shape or a code out of range. */
int qz_gptq_pack_qweight(int32_t *qweight, const uint8_t *codes, int64_t out, int64_t in,
                         int bits, qz_error *err);

/* qweight (in*bits/32, out) -> codes (out, in). */
int qz_gptq_unpack_qweight(uint8_t *codes, const int32_t *qweight, int64_t out, int64_t in,
                           int bits, qz_error *err);

/* zeros (n_groups, out) -> qzeros (n_groups, out*bits/32). v1 needs z in
 * [1, 2^bits] (z = 0 is refused: write v2, or a symmetric grid); v2 needs z in
 * [0, 2^bits - 1]. */
int qz_gptq_pack_qzeros(int32_t *qzeros, const int32_t *zeros, int64_t n_groups, int64_t out,
                        int bits, qz_gptq_zero_fmt fmt, qz_error *err);

/* qzeros (n_groups, out*bits/32) -> zeros (n_groups, out), as loaders read
 * them (v1: field + 1, so in [1, 2^bits]). */
int qz_gptq_unpack_qzeros(int32_t *zeros, const int32_t *qzeros, int64_t n_groups,
                          int64_t out, int bits, qz_gptq_zero_fmt fmt, qz_error *err);

/* W[o, k] = scales[g, o] * (q[k, o] - z[g, o]) with g = g_idx[k], in fp32,
 * into W (out, in). scales are given as fp32 (convert fp16 first).
 * QZ_EINPUT on a bad shape or a g_idx outside [0, n_groups). No allocation:
 * each weight is read in place with pack_index.h (as the CUDA kernels do). */
int qz_gptq_dequantize(float *W /* (out, in) */, const int32_t *qweight, const int32_t *qzeros,
                       const float *scales /* (n_groups, out) */,
                       const int32_t *g_idx /* (in) */, int64_t out, int64_t in,
                       int64_t n_groups, int bits, qz_gptq_zero_fmt fmt, qz_error *err);

#endif
