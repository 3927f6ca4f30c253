/* quant_config.h - what a model directory's config.json declares in
 * quantization_config: none, GPTQ (gptq_ckpt.h), AutoAWQ GEMM
 * (awq_pack.h), compressed-tensors int-quantized (ct_ckpt.h) or
 * compressed-tensors sparsity only (sparse24.h). The one reader behind
 * model loading and qz-eval --info, so both accept and refuse the same
 * configs with the same messages.
 */
#ifndef QZ_QUANT_CONFIG_H
#define QZ_QUANT_CONFIG_H

#include "awq_pack.h"
#include "ct_ckpt.h"
#include "gptq_ckpt.h"
#include "sparse24.h"

typedef enum qz_quant_kind {
    QZ_QUANT_KIND_NONE = 0, /* no quantization_config: floating point */
    QZ_QUANT_KIND_GPTQ = 1,
    QZ_QUANT_KIND_AWQ = 2,
    QZ_QUANT_KIND_CT_INT = 3, /* compressed-tensors int-quantized */
    QZ_QUANT_KIND_SPARSE = 4, /* compressed-tensors sparsity, no quantization: floating-point linears */
    QZ_QUANT_KIND_COUNT
} qz_quant_kind;

typedef struct qz_quant_config {
    qz_quant_kind kind;
    qz_gptq_config gptq; /* kind GPTQ */
    qz_awq_config awq;   /* kind AWQ */
    qz_ct_config ct;     /* kind CT_INT */
    int sparse24_bitmask; /* kind SPARSE: sparsity_config.format "sparse-24-bitmask" (else "dense") */
} qz_quant_config;

/* Fills q from config_json's quantization_config (where names the file in
 * messages). QZ_EINPUT for an unsupported quant_method or a config its
 * format's parser refuses. */
int qz_quant_config_read(const cJSON *config_json, const char *where, qz_quant_config *q, qz_error *err);

#endif
