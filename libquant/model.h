/* model.h - the LLaMA-family decoder (llama, mistral, qwen2) in FP32 on
 * OpenBLAS, one decoder layer at a time.
 *
 * A qz_model holds only what every pass needs: config, token embeddings,
 * final norm, lm_head and the RoPE tables. Decoder layers are loaded one at a
 * time with qz_layer_load (dequantizing packed formats to FP32) and freed
 * after use, so memory is one layer plus activations, not the model.
 *
 * A forward pass takes whole sequences of T tokens (positions 0..T-1), several
 * at once, through a layer with sgemm. An observer sees the input of every linear layer, once
 * per input site (q/k/v share one input, gate/up share one).
 */
#ifndef QZ_MODEL_H
#define QZ_MODEL_H

#include "hf_model.h"
#include "kernels.h"
#include "quant_config.h"
#include "w8a8.h"

typedef enum qz_linear_id {
    QZ_LIN_Q = 0,
    QZ_LIN_K = 1,
    QZ_LIN_V = 2,
    QZ_LIN_O = 3,
    QZ_LIN_GATE = 4,
    QZ_LIN_UP = 5,
    QZ_LIN_DOWN = 6,
    QZ_LIN_COUNT
} qz_linear_id;

/* Where a linear layer's input comes from. */
typedef enum qz_site {
    QZ_SITE_ATTN_IN = 0, /* input_layernorm output: q, k, v */
    QZ_SITE_O_IN = 1,    /* attention output: o */
    QZ_SITE_MLP_IN = 2,  /* post_attention_layernorm output: gate, up */
    QZ_SITE_DOWN_IN = 3, /* silu(gate) * up: down */
    QZ_SITE_COUNT
} qz_site;

const char *qz_linear_name(qz_linear_id id); /* "self_attn.q_proj", ... */
qz_site qz_linear_site(qz_linear_id id);
/* The linears fed by a site: "self_attn.q_proj/k_proj/v_proj", ... */
const char *qz_site_name(qz_site site);
int64_t qz_linear_in(const qz_model_config *c, qz_linear_id id);
int64_t qz_linear_out(const qz_model_config *c, qz_linear_id id);
/* 1 when the config gives the linear a bias (q/k/v: qkv_bias; gate/up/down: mlp_bias). */
int qz_linear_has_bias(const qz_model_config *c, qz_linear_id id);
/* Every parameter the config implies: embeddings, lm_head when not tied,
 * the norms, and the decoder linears' weights and biases. */
int64_t qz_model_param_count(const qz_model_config *c);

typedef struct qz_linear {
    float *w;          /* (out, in) row-major, as Hugging Face stores it */
    float *bias;       /* (out) or NULL */
    int64_t out, in;
} qz_linear;

typedef struct qz_layer {
    int64_t index;
    float *attn_norm;  /* (hidden) input_layernorm.weight */
    float *mlp_norm;   /* (hidden) post_attention_layernorm.weight */
    qz_linear lin[QZ_LIN_COUNT];
} qz_layer;

/* Simulated integer quantization applied while the model runs (qz-eval
 * --act-bits / --weight-bits, or a compressed-tensors W8A8 checkpoint's
 * declared activation scheme): every decoder linear's input is
 * fake-quantized dynamically (w8a8.h), and weights once at load. */
typedef struct qz_quant_sim {
    int act_bits;              /* 0 = off */
    qz_granularity act_gran;   /* TOKEN or TENSOR */
    int weight_bits;           /* 0 = off */
    qz_granularity weight_gran; /* CHANNEL or TENSOR */
} qz_quant_sim;

typedef struct qz_model {
    qz_hf_model *hf;   /* owned */
    qz_quant_sim sim;
    qz_model_config cfg;
    qz_quant_config quant; /* what config.json's quantization_config declares */
    float *embed;      /* (vocab, hidden) */
    float *final_norm; /* (hidden) */
    float *lm_head;    /* (vocab, hidden); == embed when tied */
    float *rope_cos;   /* (max_T, head_dim/2) */
    float *rope_sin;   /* (max_T, head_dim/2) */
    int64_t rope_len;  /* rows in the rope tables */
} qz_model;

/* Opens dir and loads embeddings, final norm and lm_head as FP32. */
int qz_model_open(qz_model **out, const char *dir, qz_error *err);
void qz_model_free(qz_model *m);

/* Makes the RoPE tables cover positions [0, T). */
int qz_model_reserve(qz_model *m, int64_t T, qz_error *err);

/* Loads decoder layer i as FP32: from F32/F16/BF16, or dequantized from a
 * GPTQ checkpoint's qweight/qzeros/scales/g_idx or an AWQ GEMM checkpoint's
 * qweight/qzeros/scales or a compressed-tensors checkpoint's int8 weight and
 * weight_scale, or decompressed from a sparse-24-bitmask checkpoint's
 * shape/compressed/bitmask (linears left in floating point in such
 * checkpoints are read as they are); then m->sim's weight quantization.
 * Errors name the tensor; a NaN/Inf weight, bias or norm is QZ_EINPUT (every
 * tensor qz_model_open and qz_layer_load read is checked). */
int qz_layer_load(qz_model *m, int64_t i, qz_layer *L, qz_error *err);
void qz_layer_free(qz_layer *L);

/* Sees the input x (T, in_features of the site) of linear layers, one
 * sequence of T tokens per call (a batched forward calls it per sequence). */
typedef struct qz_observer {
    void (*fn)(void *ctx, const qz_layer *L, qz_site site, const float *x, int64_t T);
    void *ctx;
} qz_observer;

/* Calls obs (when set) for each of n_seq sequences of T rows of x (rows, dim). */
void qz_observe(const qz_observer *obs, const qz_layer *L, qz_site site, const float *x, int64_t n_seq, int64_t T, int64_t dim);

/* Scratch for up to max_rows token rows (n_seq * T of a forward call) and
 * the attention tiles of qz_threads() workers (at creation); allocate once,
 * reuse. */
typedef struct qz_scratch qz_scratch;
int qz_scratch_new(qz_scratch **out, const qz_model_config *c, int64_t max_rows, qz_error *err);
void qz_scratch_free(qz_scratch *s);
int64_t qz_scratch_rows(const qz_scratch *s);

/* The forward pass runs n_seq independent sequences of T tokens (positions
 * 0..T-1 each) at once: x is (n_seq*T, hidden), every linear one sgemm over
 * all n_seq*T rows, attention per sequence (kernels.h). Requires
 * n_seq*T <= the scratch's max_rows and qz_model_reserve(T).
 * x <- layer(x). obs may be NULL. */
void qz_layer_forward(const qz_model *m, const qz_layer *L, float *x, int64_t n_seq, int64_t T, qz_scratch *s,
                      const qz_observer *obs);

/* Part of a layer, for passes that need only some of it: from the input of
 * site from to the observation of site stop and no further (QZ_SITE_COUNT:
 * to the end; stop >= from). x holds what the part starts from:
 *   ATTN_IN  the layer input;
 *   O_IN     the layer input, and the attention output (n_seq*T,
 *            n_heads*head_dim) in qz_scratch_site_input(s, O_IN);
 *   MLP_IN   the post-attention residual h = x + attention block(x);
 *   DOWN_IN  h, and silu(gate) * up (n_seq*T, intermediate) in
 *            qz_scratch_site_input(s, DOWN_IN).
 * An input given in the scratch is not observed again. x becomes h once the
 * run passes the attention residual add, and the layer output when it runs
 * to the end. After a run that stops at a site, that site's input is in
 * qz_scratch_site_input(s, site). qz_layer_forward is (ATTN_IN, COUNT). */
void qz_layer_forward_part(const qz_model *m, const qz_layer *L, float *x, int64_t n_seq, int64_t T, qz_scratch *s,
                           qz_site from, qz_site stop, const qz_observer *obs);
float *qz_scratch_site_input(qz_scratch *s, qz_site site);

/* The two halves of a layer on an already normed input xn (n_seq*T, hidden),
 * without the residual: out (n_seq*T, hidden) = o_proj(attention(q, k, v of
 * xn)), and out = down(silu(gate(xn)) * up(xn)). out must not alias
 * scratch; out NULL: the last projection is skipped (only the observers see
 * its input). obs sees the O_IN / DOWN_IN inputs. qz_layer_forward is norm +
 * block + residual, twice. */
void qz_attention_block(const qz_model *m, const qz_layer *L, const float *xn, int64_t n_seq, int64_t T, qz_scratch *s,
                        float *out, const qz_observer *obs);
void qz_mlp_block(const qz_model *m, const qz_layer *L, const float *xn, int64_t n_seq, int64_t T, qz_scratch *s, float *out,
                  const qz_observer *obs);

/* x (T, hidden) <- embedding rows of tokens (ids checked by the caller). */
void qz_model_embed(const qz_model *m, const int32_t *tokens, int64_t T, float *x);

/* Final RMSNorm of x in place, then logits (T, vocab) = x lm_head^T. */
void qz_model_head(const qz_model *m, float *x, int64_t T, float *logits);

/* y (T, out) = x (T, in) W^T + bias. */
void qz_linear_apply(const qz_linear *l, const float *x, int64_t T, float *y);


#endif
