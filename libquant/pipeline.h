/* pipeline.h - the one layer-wise calibration pass every calibrated method
 * shares (DESIGN.md "The one pipeline").
 *
 *   X = embed(windows)                              (nsamples, seqlen, hidden)
 *   for each decoder layer L:
 *     load L (FP32); layer_begin
 *     for each stage (one stage of all 7 linears, or with true_sequential
 *     [q,k,v] -> [o] -> [gate,up] -> [down]):
 *       run L over every sample, observe() seeing the inputs of the stage's
 *       sites (computed with the earlier stages already transformed);
 *       transform(stage's linears)
 *     next X = L(X) recomputed with the transformed weights (sequential), or
 *     the outputs of the first, untransformed pass (feed_fp_outputs: AWQ)
 *     layer_end (the method hands the final layer to its sink); free L
 *
 * Samples run through a layer in groups as large as QZ_PIPELINE_BATCH_BYTES
 * of activations allow (one sgemm per linear over the group's rows); the
 * observers still see one sample per call, in sample order at each site
 * (a group's samples pass one site before the next is computed). With
 * true_sequential (and no feed_fp_outputs), a stage computes only what its
 * observers need, and the attention output is computed for the last time in
 * the gate/up stage: the down stage and the final pass start from the
 * post-attention residual. When one site's inputs over all samples fit in
 * the cache budget, the o stage keeps the attention outputs and the down
 * stage the SwiGLU outputs, and the next pass starts from them, so each
 * linear runs once per layer (GPTQ's reference recomputes the whole layer
 * in every stage; the inputs each stage sees are the same, bit for bit).
 *
 * Memory: X (and with feed_fp_outputs a second copy) plus one layer plus
 * one group's activations plus whatever the method keeps per layer (e.g.
 * Hessians), plus for true_sequential the cache: nsamples * seqlen *
 * max(n_heads * head_dim, intermediate) floats, when that is at most
 * QZ_PIPELINE_CACHE_MIB MiB (environment; default QZ_PIPELINE_CACHE_BYTES,
 * 0 turns it off) - above that the stages recompute instead.
 */
#ifndef QZ_PIPELINE_H
#define QZ_PIPELINE_H

#include "eval.h"

typedef struct qz_method {
    void *ctx;
    int true_sequential;  /* four stages per layer instead of one */
    int feed_fp_outputs;  /* next layer sees FP outputs, not transformed ones */
    /* Optional. Before the first pass over L (reset per-layer statistics). */
    int (*layer_begin)(void *ctx, const qz_model *m, qz_layer *L, qz_error *err);
    /* Sees x (T, in_features of site) for the sites of the current stage. */
    void (*observe)(void *ctx, const qz_layer *L, qz_site site, const float *x, int64_t T);
    /* Transforms the n linears ids[] of L in place. NULL (with observe
     * NULL): a plain forward pass, one pass per layer - what qz-eval runs. */
    int (*transform)(void *ctx, qz_layer *L, const qz_linear_id *ids, int n, qz_error *err);
    /* Optional. L is final (weights as transformed). */
    int (*layer_end)(void *ctx, const qz_model *m, const qz_layer *L, qz_error *err);
} qz_method;

/* Activation bytes per forward call (a group of samples; at least one). */
#define QZ_PIPELINE_BATCH_BYTES ((size_t)64 << 20)
/* Default budget of the true-sequential cache (LLaMA-7B shapes, 128 x 512
 * calibration tokens: 2.75 GiB; 128 x 2048 does not fit and recomputes). */
#define QZ_PIPELINE_CACHE_BYTES ((size_t)4 << 30)

/* windows: (nsamples, seqlen) token ids. progress may be NULL. x: NULL, or
 * caller memory (nsamples*seqlen, hidden) that receives the final hidden
 * states (before the final norm). */
int qz_pipeline_run(qz_model *m, const int32_t *windows, int64_t nsamples, int64_t seqlen, const qz_method *meth,
                    qz_progress_fn progress, void *progress_ctx, float *x, qz_error *err);

#endif
