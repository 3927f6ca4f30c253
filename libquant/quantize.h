/* quantize.h - weight quantization of every decoder linear as a pipeline
 * method (pipeline.h): GPTQ (Hessians observed per input site, one
 * H = 2/N sum x x^T shared by the linears of a site), round-to-nearest on
 * the same grid (no calibration needed, except onto GGUF blocks with
 * parameters weighted by diag(H)), or SparseGPT (sparsegpt.h: the same
 * Hessians and solver with a pruning mask, optionally quantizing jointly).
 *
 * The method never touches files: each finished layer goes to a sink with
 * the integer codes of every quantized linear (NULL for a linear left in FP)
 * and a per-module report, and the tool's sink writes the format it chose.
 */
#ifndef QZ_QUANTIZE_H
#define QZ_QUANTIZE_H

#include "gptq.h"
#include "pipeline.h"
#include "sparsegpt.h"

typedef enum qz_quant_method {
    QZ_QUANT_GPTQ = 0,
    QZ_QUANT_RTN = 1,
    QZ_QUANT_AWQ = 2,
    QZ_QUANT_SMOOTH = 3,
    QZ_QUANT_MAGNITUDE = 4,  /* pruning methods (prune.h; SparseGPT here) */
    QZ_QUANT_WANDA = 5,
    QZ_QUANT_SPARSEGPT = 6,
    QZ_QUANT_STRUCTURED = 7,
    QZ_QUANT_METHOD_COUNT
} qz_quant_method;

/* "gptq", "rtn", "awq", "smoothquant", "magnitude", "wanda", "sparsegpt", "structured" */
const char *qz_quant_method_name(qz_quant_method m);

/* Weights of w[0..n) that are exactly 0 (+0 or -0): a pruned module's sparsity. */
int64_t qz_count_zeros(const float *w, int64_t n);

typedef struct qz_quant_opts {
    qz_quant_method method; /* GPTQ, RTN or SPARSEGPT */
    qz_gptq_opts gptq;    /* bits, group_size, sym, act_order, static_groups, mse, damp, block_size */
    qz_sparsegpt_opts sparsegpt; /* SPARSEGPT: sparsity or N:M, and its own gptq options (bits 0 = prune only) */
    int true_sequential;  /* GPTQ: [q,k,v] -> [o] -> [gate,up] -> [down] */
    int keep_sparsity;    /* weights that are exactly 0 stay exactly 0 */
    const int8_t *ggml_types; /* GPTQ / RTN onto llama.cpp's blocks (ggml_grid.h): (n_layers, QZ_LIN_COUNT)
                                 ggml type of each linear (F16/F32: left in FP), or NULL */
    int ggml_ref_params;  /* with ggml_types: 1 = llama.cpp's unweighted reference block parameters;
                             0 = weighted by diag(H), as llama-quantize --imatrix (GPTQ; RTN then
                             observes Hessians too, so it needs calibration windows) */
    uint8_t skip[QZ_LIN_COUNT]; /* 1: leave this linear in FP (e.g. the format cannot pack it);
                                   SparseGPT still prunes it, without quantizing */
} qz_quant_opts;

typedef struct qz_module_report {
    int64_t layer;
    qz_linear_id id;
    qz_quant_method method;
    int quantized;        /* 0: left in FP (skip[]) */
    double loss;          /* GPTQ: sum of the reference's Losses; RTN: sum (w-q)^2;
                             AWQ: output MSE of the inspected block with the chosen scales */
    double damp_used;     /* GPTQ: relative damping used (after retries) */
    double awq_ratio;     /* AWQ: chosen grid ratio r (s = x^r / w^(1-r)); -1 when not scaled */
    double awq_loss_before; /* AWQ: the same MSE without scaling (s = 1) */
    double awq_clip;      /* AWQ: mean chosen clip max / original max over rows and groups (1 = no clip) */
    double sq_alpha;      /* SmoothQuant: migration strength used; -1 when not smoothed */
    double sq_act_max[2]; /* SmoothQuant: max |x| of the smoothed input before, after */
    double sq_w_max[2];   /* SmoothQuant: max |w| of the linear before, after */
    int pruned;           /* pruning methods: sparsity below is set */
    double sparsity;      /* fraction of the written weights that are exactly 0 */
    double seconds;
} qz_module_report;

typedef struct qz_quant_sink {
    void *ctx;
    /* L holds the dequantized weights of quantized linears; q[id] their codes
     * and grid (NULL where left in FP). */
    int (*write_layer)(void *ctx, const qz_layer *L, const qz_quant_result *const q[QZ_LIN_COUNT],
                       const qz_module_report rep[QZ_LIN_COUNT], qz_error *err);
} qz_quant_sink;

typedef struct qz_quantizer qz_quantizer;

/* A method for qz_pipeline_run over model m, handing layers to sink. */
int qz_quantizer_new(qz_quantizer **out, const qz_model_config *cfg, const qz_quant_opts *o, const qz_quant_sink *sink,
                     qz_error *err);
const qz_method *qz_quantizer_method(qz_quantizer *q);
void qz_quantizer_free(qz_quantizer *q);

#endif
