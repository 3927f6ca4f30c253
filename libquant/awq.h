/* awq.h - activation-aware weight quantization (Lin et al. 2023, "AWQ:
 * Activation-aware Weight Quantization for LLM Compression and
 * Acceleration"), as AutoAWQ / llm-awq do it (FORMATS-AND-ALGORITHMS.md
 * section 3), as a pipeline method.
 *
 * Per decoder layer, from the FP layer's cached inputs:
 *  1. scale search for four groups, each against its own module's FP output:
 *       input_layernorm -> q,k,v   inspecting the attention block
 *       v_proj -> o_proj           inspecting o_proj (only when v and o have the
 *                                  same weight shape: never under GQA)
 *       post_attention_layernorm -> gate,up   inspecting the MLP
 *       up_proj -> down_proj       inspecting down_proj
 *     x_mean[c] = mean |x_c| over the calibration tokens; for r = k/n_grid,
 *     k = 0..n_grid-1: s = x_mean^r / (w_mean^(1-r) + 1e-4) (duo scaling;
 *     w_mean[c] = mean over rows of |w| / (max |w| of its group + 1e-6)) or
 *     s = x_mean^r, clamped at 1e-4, divided by sqrt(max s * min s); loss =
 *     mean squared difference of the inspected output with W <- Q(W s)/s.
 *     The r with the lowest loss wins (ties: the first).
 *  2. folding, exact: the previous op's weight (norm, or the previous
 *     linear's rows) /= s, the group's columns *= s; cached inputs /= s.
 *  3. clip search on every linear but q and k: per output row and group, the
 *     max in amax * (1 - i/n_grid), i = 0..n_grid/2-1, minimising the mean
 *     over (up to 512 evenly subsampled) tokens of the squared difference of
 *     the group's partial dot product; W is clamped to it.
 *  4. AWQ's quantizer on every linear: per group of input columns, true
 *     min/max (0 not forced in), s = max(max-min, 1e-5)/(2^b-1),
 *     z = clamp(-round(min/s), 0, 2^b-1); without zero point s = amax/(2^(b-1)-1),
 *     codes = round(w/s) + 2^(b-1).
 * Next layer's input: the FP layer's output (the reference), or with
 * sequential the transformed layer's.
 *
 * Deviations: all arithmetic in FP32 (AutoAWQ runs the layer in FP16);
 * clip search has no out % 64 requirement (rows are independent).
 */
#ifndef QZ_AWQ_H
#define QZ_AWQ_H

#include "quantize.h"

typedef struct qz_awq_opts {
    int bits;            /* 2..8; the AWQ GEMM layout holds 4 */
    int64_t group_size;  /* > 0, or -1 = per channel */
    int zero_point;      /* 1: asymmetric min/max grid (default) */
    int n_grid;          /* 20 */
    int duo_scaling;     /* 1: s = x^r / w^(1-r) */
    int clip;            /* 1: clip search */
    int sequential;      /* 1: next layer sees the quantized layer's outputs */
    int quantize;        /* 0: scale + clip only (weights stay FP) */
    uint8_t skip[QZ_LIN_COUNT]; /* scaled and clipped but not quantized */
    /* GGUF output: (n_layers, QZ_LIN_COUNT) ggml type of each linear, or
     * NULL. A linear with a quantized type is searched (scales and clip)
     * and rounded on that type's block grid (ggml_grid.h, round to nearest)
     * instead of AWQ's min/max grid, its clip groups being the type's
     * blocks; F16/F32 linears are left in FP. bits, group_size and
     * zero_point then apply to none of them. */
    const int8_t *ggml_types;
    /* GGUF output: 1 = the final rounding's block parameters by llama.cpp's
     * reference rule; 0 = weighted by the sum over the calibration tokens of
     * the (scaled) input's x^2 per column, as llama-quantize --imatrix. The
     * scale and clip searches use the reference rule either way. */
    int ggml_ref_params;
} qz_awq_opts;

qz_awq_opts qz_awq_opts_default(void);

/* AWQ's quantizer on W (rows, cols) in place, groups of group_size columns
 * (-1: all). res (may be NULL) receives codes, scales, zeros, g_idx as
 * quant_grid.h describes (zero point 2^(b-1) without zero_point). */
int qz_awq_fake_quant(float *W, int64_t rows, int64_t cols, int64_t group_size, int bits, int zero_point,
                      qz_quant_result *res, qz_error *err);

typedef struct qz_awq qz_awq;

/* A method for qz_pipeline_run; nsamples*seqlen tokens will be observed. */
int qz_awq_new(qz_awq **out, const qz_model *m, const qz_awq_opts *o, int64_t nsamples, int64_t seqlen,
               const qz_quant_sink *sink, qz_error *err);
const qz_method *qz_awq_method(qz_awq *a);
void qz_awq_free(qz_awq *a);

/* The search steps on their own, for tests: the best scales s (in) of one
 * linear group inspected by itself (y = x W^T of the concatenated linears),
 * and the clip search of one linear. X (n, in). */
int qz_awq_search_linear(const float *X, int64_t n, float *const *W, const int64_t *rows, int n_lin, int64_t in,
                         const qz_awq_opts *o, float *s, double *ratio, double *loss_before, double *loss_after,
                         qz_error *err);
int qz_awq_clip_linear(float *W, int64_t rows, int64_t cols, const float *X, int64_t n, const qz_awq_opts *o,
                       double *mean_clip, qz_error *err);

#endif
