/* smooth.h - SmoothQuant (Xiao et al. 2023, "SmoothQuant: Accurate and
 * Efficient Post-Training Quantization for Large Language Models"), as
 * mit-han-lab/smoothquant's smooth.py does it (FORMATS-AND-ALGORITHMS.md
 * section 4), as a pipeline method.
 *
 * Per decoder layer: act_max[j] = max |x_j| over every calibration token at
 * the input of q_proj (shared by q, k, v) and of gate_proj (shared by gate,
 * up); w_max[j] = max over the fused linears and their rows of |W[:, j]|,
 * both clamped at 1e-5; s_j = clamp(act_max_j^alpha / w_max_j^(1-alpha),
 * 1e-5); the RMSNorm weight /= s, each fused linear's column j *= s_j.
 * o_proj and down_proj are not smoothed. The model is mathematically
 * unchanged; its activations are easier to quantize.
 *
 * alpha auto (qz's addition): per layer, every alpha in 0, step, ..., 1 is
 * tried and the one with the smallest W8A8 error is kept: the sum of the
 * attention block's and the MLP block's output MSE (each on its cached FP
 * input) with weights quantized per channel and inputs per token, 8 bits,
 * against the FP blocks, on the first auto_samples calibration windows.
 *
 * Activation statistics come from the original model: each layer's input is
 * the FP model's (feed_fp_outputs), as the reference's hooks on the FP model.
 * With w8a8 the smoothed weights are also quantized (per output channel,
 * symmetric, scale max|w|/127, every linear) and handed to the sink with
 * codes offset by 128 (zero point 128).
 */
#ifndef QZ_SMOOTH_H
#define QZ_SMOOTH_H

#include "quantize.h"

typedef struct qz_smooth_opts {
    double alpha;        /* 0.5; ignored when auto_alpha */
    int auto_alpha;
    double alpha_step;   /* 0.05 */
    int64_t auto_samples; /* windows the auto search measures on (<= nsamples) */
    int w8a8;            /* quantize weights to int8 per channel */
} qz_smooth_opts;

qz_smooth_opts qz_smooth_opts_default(void);

/* s (in) for the fused linears W[0..n) (rows[k], in) and act_max (in). */
void qz_smooth_scales(const float *act_max, float *const *W, const int64_t *rows, int n, int64_t in, double alpha, float *s);

typedef struct qz_smoother qz_smoother;

int qz_smoother_new(qz_smoother **out, const qz_model *m, const qz_smooth_opts *o, int64_t nsamples, int64_t seqlen,
                    const qz_quant_sink *sink, qz_error *err);
const qz_method *qz_smoother_method(qz_smoother *sm);
void qz_smoother_free(qz_smoother *sm);

#endif
