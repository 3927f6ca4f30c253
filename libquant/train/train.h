/* train.h - training a LLaMA-family decoder in FP32, llm.c-style: every
 * parameter in one contiguous FP32 buffer (the master weights), a forward
 * pass that keeps the activations the backward needs, and a hand-written
 * backward for every op (embedding, RMSNorm, RoPE rotate-half, grouped-query
 * causal attention with optional sliding window, SwiGLU, final norm, tied or
 * untied lm_head, q/k/v and MLP biases; RoPE's backward is kernels.h's
 * qz_rope with the sine negated). Matrix products are OpenBLAS sgemm; the
 * forward computes what model.c computes (same RoPE tables, kernels.h's
 * RMSNorm, SwiGLU and exp, the same attention up to the order of sums), so
 * a trained model evaluates the same in qz-eval.
 *
 * Memory: parameters and gradients 2 x 4 bytes per parameter; activations
 * for B windows of T tokens are B*T*(4*hidden + 2*qd + 2*kvd + 3*ffn + 2)
 * floats per layer plus B*n_heads*T*T attention probabilities per layer
 * (qd = n_heads*head_dim, kvd = n_kv_heads*head_dim); the logits exist only
 * for QZ_TRAIN_CHUNK rows at a time.
 */
#ifndef QZ_TRAIN_H
#define QZ_TRAIN_H

#include "model.h"

/* One parameter tensor: its Hugging Face name and place in the buffer. */
typedef struct qz_train_tensor {
    char name[96];
    int64_t off, numel; /* floats from the buffer's start, count */
    int ndim;
    int64_t shape[2];
    int decay;          /* weight decay applies: matrices, not norms or biases */
    int linear;         /* a decoder linear's weight (sparsity masks apply) */
} qz_train_tensor;

/* Pointers into one parameter-shaped buffer (parameters, or gradients). */
typedef struct qz_train_layer {
    float *attn_norm, *mlp_norm; /* (hidden) */
    float *w[QZ_LIN_COUNT];      /* (out, in) */
    float *b[QZ_LIN_COUNT];      /* (out) or NULL */
} qz_train_layer;

typedef struct qz_train_view {
    float *embed;      /* (vocab, hidden) */
    float *lm_head;    /* (vocab, hidden); == embed when tied */
    float *final_norm; /* (hidden) */
    qz_train_layer *layers; /* (n_layers) */
} qz_train_view;

typedef struct qz_train_model {
    qz_model_config cfg;
    const qz_model *src;  /* the RoPE tables (qz_model_reserve(T) before a forward) */
    int n_tensors;
    qz_train_tensor *tensors;
    int64_t n_params;
    float *params, *grads; /* (n_params) each */
    qz_train_view p, g;    /* views of params and grads */
} qz_train_model;

/* Copies every parameter of m (all layers, dequantized as qz_layer_load
 * does) into FP32 master weights; grads zeroed. m must outlive the result. */
int qz_train_model_load(qz_train_model **out, qz_model *m, qz_error *err);
void qz_train_model_free(qz_train_model *tm);
void qz_train_zero_grad(qz_train_model *tm);

/* Saved activations and backward scratch for B windows of T tokens. */
typedef struct qz_train_acts qz_train_acts;
int qz_train_acts_new(qz_train_acts **out, const qz_model_config *c, int64_t B, int64_t T, qz_error *err);
void qz_train_acts_free(qz_train_acts *a);
/* Tokens per window the acts hold (T). */
int64_t qz_train_acts_seqlen(const qz_train_acts *a);
/* Bytes qz_train_acts_new allocates. */
size_t qz_train_acts_bytes(const qz_model_config *c, int64_t B, int64_t T);

#define QZ_TRAIN_CHUNK 256 /* logit rows computed at once */

/* Forward of B windows of T tokens (ids in [0, vocab), B*T of them,
 * B <= the acts' B) to the final normed hidden states; returns them
 * (B*T, hidden), valid until the next forward. */
const float *qz_train_forward(qz_train_model *tm, qz_train_acts *a, const int32_t *tokens, int64_t B);

/* logits (n, vocab) of rows [r0, r0+n) of the last forward, n <= QZ_TRAIN_CHUNK. */
void qz_train_logits(const qz_train_model *tm, const qz_train_acts *a, int64_t r0, int64_t n, float *logits);
/* Gradient dlogits (n, vocab) of those rows into the lm_head gradient and
 * the hidden-state gradient of the rows (accumulated: start with
 * qz_train_dhidden_zero). */
void qz_train_logits_backward(qz_train_model *tm, qz_train_acts *a, int64_t r0, int64_t n, const float *dlogits);
void qz_train_dhidden_zero(qz_train_acts *a);
/* Gradient of the final normed hidden states (B*T, hidden): add to it. */
float *qz_train_dhidden(qz_train_acts *a);

/* Backward of the last forward from the accumulated hidden-state gradient:
 * adds every parameter's gradient into tm->grads. */
void qz_train_backward(qz_train_model *tm, qz_train_acts *a, const int32_t *tokens, int64_t B);

/* ----------------------------------------------------- ops, for the tests */
/* Each op's backward adds into its d-inputs (dx, dw) unless it says "=". */

/* Forwards are kernels.h's (qz_rmsnorm_rstd, qz_swiglu, qz_rope) or
 * below. RMSNorm of y = x * rstd * w: dx += ..., dw += ... from dy. */
void qz_train_rmsnorm_backward(float *dx, float *dw, const float *dy, const float *x, const float *w, const float *rstd,
                               int64_t n, int64_t dim);
/* y (T, out) = x (T, in) W^T + b; backward: dx += dy W, dW += dy^T x, db += sum dy (dx may be NULL). */
void qz_train_linear(float *y, const float *x, const float *w, const float *b, int64_t T, int64_t in, int64_t out);
void qz_train_linear_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w, int64_t T,
                              int64_t in, int64_t out);
/* out (T, n_heads*hd) = causal softmax(Q K^T / sqrt(hd)) V per head for one
 * window, K/V shared by groups of query heads; p (n_heads, T, T) saved.
 * window 0 = unlimited, else sliding window of that many positions. */
void qz_train_attention(float *out, float *p, const float *q, const float *k, const float *v, int64_t T, int64_t n_heads,
                        int64_t n_kv, int64_t hd, int64_t window);
/* dq = , dk = , dv = (overwritten) from dout; dp (T, T) scratch. */
void qz_train_attention_backward(float *dq, float *dk, float *dv, float *dp, const float *dout, const float *p, const float *q,
                                 const float *k, const float *v, int64_t T, int64_t n_heads, int64_t n_kv, int64_t hd);
/* h = silu(g) * u (qz_swiglu); backward: dg = , du = (overwritten). */
void qz_train_swiglu_backward(float *dg, float *du, const float *dh, const float *g, const float *u, int64_t n);

#endif
