/* ct_ckpt.h - compressed-tensors "int-quantized" checkpoints (vLLM's W8A8
 * int8 path; FORMATS-AND-ALGORITHMS.md section 5): per quantized linear
 *   weight        I8   (out, in)   integer weights
 *   weight_scale  F32/F16/BF16 (out, 1) per channel, or (1) per tensor
 * dequantized as weight * scale; and config.json's quantization_config with
 * one config group targeting "Linear": symmetric int weights (channel or
 * tensor strategy, static) and symmetric int input activations (token or
 * tensor strategy, dynamic), format "int-quantized". Layout only.
 */
#ifndef QZ_CT_CKPT_H
#define QZ_CT_CKPT_H

#include "safetensors.h"

typedef struct qz_ct_config {
    int weight_bits;          /* 8 */
    int weight_per_channel;   /* 1: strategy "channel", 0: "tensor" */
    int act_bits;             /* 0: no input_activations scheme */
    int act_per_token;        /* 1: strategy "token", 0: "tensor" (both dynamic) */
} qz_ct_config;

/* Writes prefix.weight (I8, (out, in)), prefix.weight_scale (scale_dtype,
 * (out, 1) or (1)) and prefix.bias when bias != NULL. */
int qz_ct_write_linear(qz_st_writer *w, const char *prefix, const int8_t *q, const float *scales, int64_t out, int64_t in,
                       const float *bias, qz_dtype scale_dtype, const qz_ct_config *c, qz_error *err);

/* The quantization_config object; ignore: module names left unquantized
 * (lm_head is always listed). */
cJSON *qz_ct_config_json(const qz_ct_config *c, const char *const *ignore, int n_ignore);
int qz_ct_config_parse(const cJSON *qc, const char *where, qz_ct_config *c, qz_error *err);

/* W (out, in) = weight * weight_scale, checking dtypes and shapes. */
int qz_ct_read_linear(qz_tensor_lookup find, void *ctx, const char *prefix, const qz_ct_config *c, int64_t out, int64_t in,
                      float *W, qz_error *err);

#endif
