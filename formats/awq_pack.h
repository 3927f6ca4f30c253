/* awq_pack.h - byte layout of AWQ checkpoints in AutoAWQ's GEMM layout
 * (WQLinear_GEMM; FORMATS-AND-ALGORITHMS.md 3e), and the checkpoint-level
 * helpers (tensors of one linear, quantization_config). Layout only, no
 * algorithms: codes, zero points and scales come from libquant.
 *
 * Tensors of one quantized Linear with in_features `in`, out_features `out`,
 * group size gs (n_groups = in / gs):
 *   qweight int32 (in, out/8)        codes packed along the OUTPUT dim
 *   qzeros  int32 (n_groups, out/8)  zero points, same packing
 *   scales  fp16  (n_groups, out)
 *   bias    fp16  (out)              optional
 *
 * Interleave (4-bit only): nibble i (bits 4i..4i+3) of word [r, c] holds
 * output channel 8c + AWQ_ORDER[i], AWQ_ORDER = [0,2,4,6,1,3,5,7]; reading
 * the other way, channel 8c + j sits in nibble REV[j], REV = [0,4,1,5,2,6,3,7].
 * So the 8 channels 0..7 of a word appear, from bit 0 up, as 0 2 4 6 1 3 5 7.
 * Zero points are stored RAW (unlike GPTQ v1, no minus one): z in [0, 15].
 *
 *   W[o, k] = scales[k/gs, o] * (q[k, o] - z[k/gs, o])
 *
 * Requirements: out % 8 == 0 and in % gs == 0. Group size -1 means one group
 * over the whole input (gs = in); AutoAWQ itself always writes a positive
 * group size and its kernels (and vLLM's "awq") expect one, so prefer it.
 *
 * Codes from libquant are (out, in) row-major uint8 like HF weights; zeros are
 * int32 (n_groups, out); scales fp32 (n_groups, out). Dequantized weights are
 * fp32 (out, in).
 *
 * Errors: QZ_EINPUT for a bad shape, group size, code or zero point out of
 * range, bad config or a checkpoint tensor with the wrong dtype / shape (the
 * message names it); QZ_EINTERNAL when memory runs out. Inputs are checked
 * before anything is written: on failure the outputs are untouched.
 */
#ifndef QZ_AWQ_PACK_H
#define QZ_AWQ_PACK_H

#include <stdint.h>

#include "safetensors.h"
#include "qz_common.h"
#include "safetensors.h"

/* ------------------------------------------------------------------ layout */

/* QZ_OK if (out, in, group_size) can be stored in the AWQ GEMM layout:
 * out a positive multiple of 8, in positive, group_size -1 or a positive
 * divisor of in. Else QZ_EINPUT naming the dim, its value and the rule. */
int qz_awq_pack_check(int64_t out, int64_t in, int64_t group_size, qz_error *err);

/* codes (out, in) in [0, 15] -> qweight (in, out/8). */
int qz_awq_pack_qweight(int32_t *qweight /* (in, out/8) */, const uint8_t *codes /* (out, in) */,
                        int64_t out, int64_t in, qz_error *err);

/* qweight (in, out/8) -> codes (out, in). */
int qz_awq_unpack_qweight(uint8_t *codes /* (out, in) */, const int32_t *qweight /* (in, out/8) */,
                          int64_t out, int64_t in, qz_error *err);

/* zeros (n_groups, out) in [0, 15] -> qzeros (n_groups, out/8). */
int qz_awq_pack_qzeros(int32_t *qzeros /* (n_groups, out/8) */, const int32_t *zeros /* (n_groups, out) */,
                       int64_t n_groups, int64_t out, qz_error *err);

/* qzeros (n_groups, out/8) -> zeros (n_groups, out), raw as stored. */
int qz_awq_unpack_qzeros(int32_t *zeros /* (n_groups, out) */, const int32_t *qzeros /* (n_groups, out/8) */,
                         int64_t n_groups, int64_t out, qz_error *err);

/* W = scales * (q - z) per the formula above, in fp32, from the packed
 * tensors; scales are fp32 (convert the fp16 tensor first). No allocation. */
int qz_awq_dequantize(float *W /* (out, in) */, const int32_t *qweight /* (in, out/8) */,
                      const int32_t *qzeros /* (n_groups, out/8) */, const float *scales /* (n_groups, out) */,
                      int64_t out, int64_t in, int64_t group_size, qz_error *err);

/* -------------------------------------------------------------- checkpoint */

typedef struct qz_awq_config {
    int bits;            /* 4: the only width the GEMM layout has */
    int64_t group_size;  /* positive, or -1 = one group per row (gs = in) */
    int zero_point;      /* asymmetric grid; AutoAWQ always writes true. The
                          * layout always carries qzeros either way. */
} qz_awq_config;

/* Packs and adds prefix.qweight (I32), prefix.qzeros (I32), prefix.scales
 * (F16) and, when bias != NULL, prefix.bias (bias_dtype: F32, F16 or BF16)
 * to w. codes (out, in), scales / zeros (n_groups, out) with n_groups =
 * in / gs, bias (out). QZ_EINPUT if c->bits != 4 or the shape does not fit. */
int qz_awq_write_linear(qz_st_writer *w, const char *prefix, const uint8_t *codes, const float *scales,
                        const int32_t *zeros, int64_t out, int64_t in, const float *bias, qz_dtype bias_dtype,
                        const qz_awq_config *c, qz_error *err);

/* config.json's quantization_config as AutoAWQ writes it:
 * {"quant_method":"awq","zero_point":b,"group_size":g,"bits":4,
 *  "version":"gemm","format":"gemm",
 *  "modules_to_not_convert":[names] or null (n == 0)} (version for AutoAWQ,
 *  format for GPTQModel; transformers reads either),
 * plus GPTQModel's "dynamic" negative rules for the same names
 * (qz_gptq_dynamic_fp_rules: GPTQModel ignores modules_to_not_convert).
 * not_converted: per-block linear names kept in floating point
 * ("mlp.down_proj"). Caller owns (cJSON_Delete); NULL when out of memory. */
cJSON *qz_awq_config_json(const qz_awq_config *c, const char *const *not_converted, int n);

/* Parses a quantization_config object: bits (or w_bit) must be 4,
 * group_size (or q_group_size) -1 or positive, zero_point a bool (default
 * true), version "gemm" (any case; default gemm), quant_method "awq" when
 * present. where names the file in messages. QZ_EINPUT otherwise. */
int qz_awq_config_parse(const cJSON *qc, const char *where, qz_awq_config *c, qz_error *err);

/* Dequantizes prefix.{qweight,qzeros,scales} into W (out, in) fp32; tensors
 * are looked up with find (shards), their dtypes and shapes checked. Bias is
 * not read. Tensors need not be aligned in the file. */
int qz_awq_read_linear(qz_tensor_lookup find, void *ctx, const char *prefix, const qz_awq_config *c,
                       int64_t out, int64_t in, float *W /* (out, in) */, qz_error *err);

#endif
