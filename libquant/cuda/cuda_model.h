/* cuda_model.h - a qz_model's whole decoder on a GPU, from the packed
 * tensors of its checkpoint (qz_cuda.h kernels), and the perplexity
 * protocol of eval.h run there, optionally checked against the CPU path on
 * the same windows (qz-eval --device cuda [--check-cpu]; docs/cuda.md).
 *
 * What goes to the device: GPTQ qweight/qzeros/g_idx and AWQ
 * qweight/qzeros as stored (int32 words), their FP16 scales as FP32,
 * compressed-tensors int8 weights as stored with FP32 scales, and
 * sparse-24-bitmask values + bitmask, decompressed on the device into a
 * dense FP32 weight. Linears a checkpoint keeps in floating point, norms,
 * biases, embeddings and lm_head go as FP32. Each layer is first loaded
 * once on the CPU with qz_layer_load, which validates every tensor (dtype,
 * shape, g_idx range, 2:4 masks) before anything is uploaded.
 *
 * Plain C over qz_cuda.h: in a build without CUDA every entry point fails
 * with qz_cuda.h's "built without CUDA" message.
 */
#ifndef QZ_CUDA_MODEL_H
#define QZ_CUDA_MODEL_H

#include "eval.h"
#include "qz_cuda.h"

/* --check-cpu tolerances (GPU vs CPU on the same windows, both FP32). A
 * wrong packed index changes most weights of a linear by a whole grid step
 * and moves logits by O(1) and the mean NLL by percents, far outside these;
 * summation order and FMA contraction move logits by ~1e-5 x their scale.
 * W8A8 gets wider ones: its activation codes are a step function of the
 * input, so an input that differs by one ulp across a rounding boundary
 * moves one activation by a whole step (amax/127), and that compounds
 * through the layers (on stories260K, a host run of the same arithmetic in
 * another summation order gives max |dlogit| 0.45, mean NLL rel 7e-4, top-1
 * 0.990, where weight-only formats give 5e-5, 3e-8, 1.000). */
#define QZ_CUDA_TOL_DLOGIT 2e-2    /* max |logit_gpu - logit_cpu| */
#define QZ_CUDA_TOL_NLL_REL 1e-3   /* |mean NLL gpu - cpu| / mean NLL cpu */
#define QZ_CUDA_TOL_TOP1 0.99      /* minimum fraction of equal argmax */
#define QZ_CUDA_TOL_W8A8_DLOGIT 2.0
#define QZ_CUDA_TOL_W8A8_NLL_REL 5e-3
#define QZ_CUDA_TOL_W8A8_TOP1 0.97

typedef struct qz_cuda_model qz_cuda_model;

/* Uploads m's decoder for windows of up to max_T tokens. QZ_EINPUT for a
 * model the GPU path cannot run as stored (simulated --act-bits /
 * --weight-bits, a W8A8 activation scheme other than dynamic per-token
 * int8), naming why. */
int qz_cuda_model_load(qz_cuda_model **out, qz_cuda *g, qz_model *m, int64_t max_T, qz_error *err);
void qz_cuda_model_free(qz_cuda_model *gm);

/* One window tokens[0..T) (ids checked by the caller): *nll_sum = NLL of
 * tokens[1..T) under rows 0..T-2, reduced on the device; logits (T, vocab)
 * copied to the host when not NULL. */
int qz_cuda_model_window(qz_cuda_model *gm, const int32_t *tokens, int64_t T, float *logits, double *nll_sum,
                         qz_error *err);

/* --check-cpu's figures over every scored position. */
typedef struct qz_cuda_check {
    double max_dlogit;
    double cpu_mean_nll;
    double nll_rel_diff; /* |gpu - cpu| / cpu mean NLL */
    double top1_agree;   /* fraction of positions with the same argmax */
    int64_t positions;
    double tol_dlogit, tol_nll_rel, tol_top1; /* the QZ_CUDA_TOL_* applied (W8A8's or the others') */
    int passed;          /* every figure within its tolerance */
} qz_cuda_check;

/* eval.h's protocol (windows of o->seqlen, o->max_windows) on device
 * `device`: r as qz_eval_ppl gives it, timed over the GPU passes only.
 * check != NULL: also runs the CPU path on the same windows and fills it. */
int qz_cuda_eval_ppl(qz_model *m, const int32_t *tokens, int64_t n_tokens, const qz_ppl_opts *o, int device,
                     qz_ppl_result *r, qz_cuda_check *check, qz_error *err);

#endif
