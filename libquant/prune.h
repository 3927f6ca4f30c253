/* prune.h - pruning of every decoder linear as a pipeline method
 * (pipeline.h): magnitude, Wanda and structured (attention heads and FFN
 * channels). SparseGPT shares GPTQ's Hessians and solver and is a method of
 * quantize.h. Algorithms: FORMATS-AND-ALGORITHMS.md section 7.
 *
 * Unstructured and N:M (scores s_ij, the k smallest of a comparison group
 * pruned; ties go to the lower index, so counts are exact):
 *   magnitude  s = |W_ij|; group = the whole matrix (scope layer, the
 *              reference), a row (scope row), or every decoder linear of the
 *              model (scope global: one threshold, found by two streaming
 *              passes over the weights before the pipeline runs);
 *   wanda      s = |W_ij| * ||X_j||_2 over every calibration token of the
 *              linear's input; group = each output row (the reference), or
 *              the whole matrix (scope layer); sequential: the next layer
 *              sees the pruned layer's outputs; no weight update.
 *   N:M        prune_n of every prune_m consecutive input weights of a row
 *              (the "2:4" flag prunes 2 of every 4), any scope ignored.
 * k = floor(group size * sparsity); among equal scores the lower index is
 * pruned first, here and below. DEVIATION: the reference magnitude prunes
 * |w| <= sorted[k], i.e. k+1 weights and any ties.
 *
 * Structured: per layer, the output energy each unit adds to the residual
 * stream over the calibration tokens,
 *   FFN channel j:  E_j = ||W_down[:, j]||^2 * sum_t x_tj^2     (x = down_proj input)
 *   query head h:   E_h = sum_t ||W_o[:, h] x_t,h||^2 = sum_r w_r,h^T G_h w_r,h,
 *                   G_h = sum_t x_t,h x_t,h^T (o_proj input, the head's head_dim slice)
 * and a KV group (a KV head with the n_heads/n_kv_heads query heads that
 * read it) scores the sum of its query heads' E_h. The keep_heads/group
 * best KV groups and the round(ffn_keep * intermediate) best channels are
 * kept, the same counts in every layer. The layer is
 * masked in place (q/k/v/gate/up rows and biases, o/down columns zeroed), so
 * the pipeline's recompute sees the pruned layer; the sink receives the
 * shrunken layer (qz_layer with the smaller shapes), which with the config
 * of qz_prune_config_patch is a smaller dense model.
 */
#ifndef QZ_PRUNE_H
#define QZ_PRUNE_H

#include "quantize.h"

typedef enum qz_prune_scope {
    QZ_PRUNE_SCOPE_LAYER = 0,
    QZ_PRUNE_SCOPE_ROW = 1,
    QZ_PRUNE_SCOPE_GLOBAL = 2,
    QZ_PRUNE_SCOPE_COUNT
} qz_prune_scope;

const char *qz_prune_scope_name(qz_prune_scope s); /* "layer", "row", "global" */

/* Scope global: the k-th smallest |w| over every decoder linear, as FP32
 * bits (non-negative floats order like their bits), and how many weights
 * equal to it are pruned (the first ones in layer, module, row-major order). */
typedef struct qz_prune_threshold {
    uint32_t bits;
    int64_t ties;
    int64_t k, n;           /* pruned of all decoder linear weights */
} qz_prune_threshold;

typedef struct qz_prune_opts {
    qz_quant_method method; /* QZ_QUANT_MAGNITUDE, _WANDA or _STRUCTURED */
    double sparsity;        /* unstructured: fraction pruned, [0, 1) */
    int prune_n, prune_m;   /* N:M, 0 < prune_n < prune_m; 0, 0 = unstructured */
    qz_prune_scope scope;
    qz_prune_threshold global; /* scope global: from qz_prune_global_threshold */
    int64_t keep_heads;     /* structured: query heads kept per layer */
    double ffn_keep;        /* structured: fraction of FFN channels kept, (0, 1] */
} qz_prune_opts;

/* Two streaming passes over every decoder layer's weights (a 16-bit radix
 * histogram of the |w| bits, then the low 16 bits inside the bucket holding
 * the k-th smallest): exact, with memory independent of the model size. */
int qz_prune_global_threshold(qz_model *m, double sparsity, qz_prune_threshold *t, qz_error *err);

/* Checks o against the model's shapes: QZ_EINPUT naming the flag's problem
 * (sparsity outside [0, 1), M not dividing a linear's in_features, more
 * heads than exist, heads not a multiple of the KV group, ...). */
int qz_prune_check(const qz_prune_opts *o, const qz_model_config *cfg, qz_error *err);

/* ---------------------------------------------------------------------------
 * The method, handing each finished layer to sink (every linear in FP: the
 * q[] codes are NULL; the reports say pruned and sparsity, for structured
 * the fraction of the module's original weights removed). */
typedef struct qz_pruner qz_pruner;

int qz_pruner_new(qz_pruner **out, const qz_model_config *cfg, const qz_prune_opts *o, const qz_quant_sink *sink,
                  qz_error *err);
const qz_method *qz_pruner_method(qz_pruner *p);
void qz_pruner_free(qz_pruner *p);

/* Structured: the config.json fields that change (num_attention_heads,
 * num_key_value_heads, head_dim, intermediate_size); caller owns. */
cJSON *qz_prune_config_patch(const qz_prune_opts *o, const qz_model_config *cfg);

#endif
