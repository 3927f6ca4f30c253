/* gptq_ckpt.h - GPTQ checkpoints as transformers / vLLM / exllama load them
 * (FORMATS-AND-ALGORITHMS.md 2a-2c): the tensors of one quantized linear
 * (qweight, qzeros, scales FP16, g_idx, bias) and config.json's
 * quantization_config. Layout only: codes and grids come from libquant.
 */
#ifndef QZ_GPTQ_CKPT_H
#define QZ_GPTQ_CKPT_H

#include "gptq_pack.h"
#include "safetensors.h"

typedef struct qz_gptq_config {
    int bits;
    int64_t group_size;    /* -1 = per channel */
    int sym;
    int desc_act;          /* act-order (non-trivial g_idx) */
    int static_groups;
    int true_sequential;
    double damp;           /* damp_percent */
    qz_gptq_zero_fmt fmt;  /* checkpoint_format gptq (z-1) or gptq_v2 (raw z) */
} qz_gptq_config;

/* Writes prefix.{qweight,qzeros,scales,g_idx}[,bias] for codes (out, in),
 * scales/zeros (n_groups, out), g_idx (in). Scales are stored as FP16. */
int qz_gptq_write_linear(qz_st_writer *w, const char *prefix, const uint8_t *codes, const float *scales,
                         const int32_t *zeros, const int32_t *g_idx, int64_t n_groups, int64_t out, int64_t in,
                         const float *bias, qz_dtype bias_dtype, const qz_gptq_config *c, qz_error *err);

/* The quantization_config object (also the content of quantize_config.json).
 * quantized: the linear names quantized in every block, e.g.
 * "self_attn.q_proj" (transformers' modules_in_block_to_quantize); fp: the
 * ones left in floating point (listed as qz_modules_not_quantized and as
 * GPTQModel "dynamic" rules, qz_gptq_dynamic_fp_rules). NULL when out of
 * memory. */
cJSON *qz_gptq_config_json(const qz_gptq_config *c, const char *const *quantized, int n_quantized,
                           const char *const *fp, int n_fp);

/* Adds GPTQModel's "dynamic" key to qc: one negative rule
 * "-:^model\\.layers\\.\\d+\\.<name>$": {} per name of fp (per-block
 * linear names, e.g. "mlp.down_proj", left in floating point in every
 * layer). GPTQModel picks the modules to quantize from its own model
 * definitions and skips only those a negative rule matches (PCRE match(),
 * anchored at the start, on the full module name); it ignores
 * modules_in_block_to_quantize and modules_to_not_convert. Nothing is added
 * when n_fp == 0. 0, or -1 when out of memory or a name is over 200 bytes. */
int qz_gptq_dynamic_fp_rules(cJSON *qc, const char *const *fp, int n_fp);

/* Reads bits, group_size, sym, desc_act, checkpoint_format from a
 * quantization_config object with quant_method "gptq". */
int qz_gptq_config_parse(const cJSON *qc, const char *where, qz_gptq_config *c, qz_error *err);

/* Dequantizes prefix.* of a GPTQ checkpoint into W (out, in) FP32; tensors
 * are looked up with find (shards). Shapes and dtypes are checked. */
int qz_gptq_read_linear(qz_tensor_lookup find, void *find_ctx, const char *prefix, const qz_gptq_config *c,
                        int64_t out, int64_t in, float *W, qz_error *err);

#endif
