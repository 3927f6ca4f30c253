/* train.c - FP32 forward with saved activations and the hand-written
 * backward of the LLaMA-family decoder (train.h), after llm.c's
 * train_gpt2.c: one parameter buffer, one activation buffer, every matmul
 * an sgemm over all B*T rows. The forward uses kernels.c's RMSNorm, SwiGLU,
 * RoPE and exp (shared, not copied) and model.c's linear; only attention is
 * its own, unfused (the backward needs the probabilities P), the same
 * softmax(QK^T/sqrt(d))V as kernels.c's flash attention up to the order of
 * the sums, so qz-eval scores a trained model as the trainer saw it.
 * Leaves out: mixed precision, activation recomputation, llama3 RoPE
 * scaling in the backward (the tables already hold it; the rotation is the
 * same). */
#include "train.h"

#include "kernels.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* ------------------------------------------------------------ parameters */

static void put_tensor(qz_train_tensor *t, int *n, int64_t *off, const char *name, int ndim, int64_t d0, int64_t d1, int decay,
                       int linear)
{
    if (t) {
        qz_train_tensor *x = &t[*n];
        snprintf(x->name, sizeof x->name, "%s", name);
        x->off = *off;
        x->ndim = ndim;
        x->shape[0] = d0;
        x->shape[1] = ndim == 2 ? d1 : 1;
        x->numel = d0 * x->shape[1];
        x->decay = decay;
        x->linear = linear;
    }
    *off += d0 * (ndim == 2 ? d1 : 1);
    (*n)++;
}

/* The tensors in buffer order (t NULL: count only): embeddings; per layer
 * the two norms, then each linear's weight and bias; final norm; lm_head
 * when untied. make_view walks the same order. */
static int layout(const qz_model_config *c, qz_train_tensor *t, int64_t *n_params)
{
    int n = 0;
    int64_t off = 0;
    char name[96];
    put_tensor(t, &n, &off, "model.embed_tokens.weight", 2, c->vocab, c->hidden, 1, 0);
    for (int64_t l = 0; l < c->n_layers; l++) {
        snprintf(name, sizeof name, "model.layers.%lld.input_layernorm.weight", (long long)l);
        put_tensor(t, &n, &off, name, 1, c->hidden, 1, 0, 0);
        snprintf(name, sizeof name, "model.layers.%lld.post_attention_layernorm.weight", (long long)l);
        put_tensor(t, &n, &off, name, 1, c->hidden, 1, 0, 0);
        for (int id = 0; id < QZ_LIN_COUNT; id++) {
            int64_t out = qz_linear_out(c, (qz_linear_id)id), in = qz_linear_in(c, (qz_linear_id)id);
            snprintf(name, sizeof name, "model.layers.%lld.%s.weight", (long long)l, qz_linear_name((qz_linear_id)id));
            put_tensor(t, &n, &off, name, 2, out, in, 1, 1);
            if (!qz_linear_has_bias(c, (qz_linear_id)id)) continue;
            snprintf(name, sizeof name, "model.layers.%lld.%s.bias", (long long)l, qz_linear_name((qz_linear_id)id));
            put_tensor(t, &n, &off, name, 1, out, 1, 0, 0);
        }
    }
    put_tensor(t, &n, &off, "model.norm.weight", 1, c->hidden, 1, 0, 0);
    if (!c->tie_embeddings) put_tensor(t, &n, &off, "lm_head.weight", 2, c->vocab, c->hidden, 1, 0);
    *n_params = off;
    return n;
}

static void make_view(const qz_train_model *tm, float *base, qz_train_view *v)
{
    const qz_model_config *c = &tm->cfg;
    const qz_train_tensor *t = tm->tensors;
    int k = 0;
    v->embed = base + t[k++].off;
    for (int64_t l = 0; l < c->n_layers; l++) {
        qz_train_layer *L = &v->layers[l];
        L->attn_norm = base + t[k++].off;
        L->mlp_norm = base + t[k++].off;
        for (int id = 0; id < QZ_LIN_COUNT; id++) {
            L->w[id] = base + t[k++].off;
            L->b[id] = qz_linear_has_bias(c, (qz_linear_id)id) ? base + t[k++].off : NULL;
        }
    }
    v->final_norm = base + t[k++].off;
    v->lm_head = c->tie_embeddings ? v->embed : base + t[k++].off;
    QZ_ASSERT(k == tm->n_tensors);
}

static void copy_layer(qz_train_layer *dst, const qz_layer *L, int64_t hidden)
{
    memcpy(dst->attn_norm, L->attn_norm, (size_t)hidden * sizeof(float));
    memcpy(dst->mlp_norm, L->mlp_norm, (size_t)hidden * sizeof(float));
    for (int id = 0; id < QZ_LIN_COUNT; id++) {
        const qz_linear *l = &L->lin[id];
        memcpy(dst->w[id], l->w, (size_t)(l->out * l->in) * sizeof(float));
        if (dst->b[id]) memcpy(dst->b[id], l->bias, (size_t)l->out * sizeof(float));
    }
}

static int alloc_model(qz_train_model *tm, qz_error *err)
{
    const qz_model_config *c = &tm->cfg;
    tm->n_tensors = layout(c, NULL, &tm->n_params);
    tm->tensors = calloc((size_t)tm->n_tensors, sizeof *tm->tensors);
    tm->params = qz_calloc_array((size_t)tm->n_params, sizeof(float));
    tm->grads = qz_calloc_array((size_t)tm->n_params, sizeof(float));
    tm->p.layers = calloc((size_t)c->n_layers, sizeof *tm->p.layers);
    tm->g.layers = calloc((size_t)c->n_layers, sizeof *tm->g.layers);
    if (!tm->tensors || !tm->params || !tm->grads || !tm->p.layers || !tm->g.layers)
        return qz_fail(err, QZ_EINTERNAL, "out of memory for %lld trainable parameters", (long long)tm->n_params);
    layout(c, tm->tensors, &tm->n_params);
    make_view(tm, tm->params, &tm->p);
    make_view(tm, tm->grads, &tm->g);
    return QZ_OK;
}

int qz_train_model_load(qz_train_model **out, qz_model *m, qz_error *err)
{
    *out = NULL;
    qz_train_model *tm = calloc(1, sizeof *tm);
    if (!tm) return qz_fail(err, QZ_EINTERNAL, "out of memory");
    tm->cfg = m->cfg;
    tm->src = m;
    const qz_model_config *c = &tm->cfg;
    int rc = alloc_model(tm, err);
    if (rc == QZ_OK) {
        size_t emb = (size_t)(c->vocab * c->hidden) * sizeof(float);
        memcpy(tm->p.embed, m->embed, emb);
        memcpy(tm->p.final_norm, m->final_norm, (size_t)c->hidden * sizeof(float));
        if (!c->tie_embeddings) memcpy(tm->p.lm_head, m->lm_head, emb);
    }
    for (int64_t l = 0; l < c->n_layers && rc == QZ_OK; l++) {
        qz_layer L;
        rc = qz_layer_load(m, l, &L, err);
        if (rc == QZ_OK) copy_layer(&tm->p.layers[l], &L, c->hidden);
        qz_layer_free(&L);
    }
    if (rc) {
        qz_train_model_free(tm);
        return rc;
    }
    *out = tm;
    return QZ_OK;
}

void qz_train_model_free(qz_train_model *tm)
{
    if (!tm) return;
    free(tm->tensors);
    free(tm->params);
    free(tm->grads);
    free(tm->p.layers);
    free(tm->g.layers);
    free(tm);
}

void qz_train_zero_grad(qz_train_model *tm)
{
    memset(tm->grads, 0, (size_t)tm->n_params * sizeof(float));
}

/* ----------------------------------------------------------- activations */

typedef struct layer_acts {
    float *x;            /* (N, d) layer input */
    float *xn1, *rstd1;  /* (N, d), (N) input_layernorm */
    float *q, *k, *v;    /* (N, qd), (N, kvd) x2; q, k after RoPE */
    float *p;            /* (B, n_heads, T, T) attention probabilities */
    float *att;          /* (N, qd) attention output */
    float *x2;           /* (N, d) residual after attention */
    float *xn2, *rstd2;  /* (N, d), (N) post_attention_layernorm */
    float *g, *u, *h;    /* (N, ffn) gate, up, silu(gate) * up */
} layer_acts;

struct qz_train_acts {
    int64_t B, T, hidden;
    layer_acts *L;
    float *xf, *xnf, *rstdf; /* (N, d) last layer's output, final norm's output, (N) */
    float *dxnf;             /* (N, d) gradient of xnf */
    float *dx, *dx2, *dxn;   /* (N, d) backward scratch */
    float *dq, *datt;        /* (N, qd) */
    float *dk, *dv;          /* (N, kvd) */
    float *dp;               /* (T, T) */
    float *dh, *dg, *du;     /* (N, ffn) */
    float *sin_neg;          /* (T, head_dim/2) -sin of the RoPE angles: RoPE's backward */
    float *mem;
};

/* Every buffer's pointer and size in floats (ptrs NULL: sizes only). */
static int act_slots(const qz_model_config *c, int64_t B, int64_t T, qz_train_acts *a, float ***ptrs, int64_t *sizes)
{
    int64_t N = B * T, d = c->hidden, qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim, ff = c->intermediate;
    int n = 0;
#define SLOT(field, size)                        \
    do {                                         \
        if (ptrs) ptrs[n] = &(field);            \
        sizes[n++] = (size);                     \
    } while (0)
    for (int64_t l = 0; l < c->n_layers; l++) {
        layer_acts *L = a ? &a->L[l] : NULL, dummy;
        if (!L) L = &dummy;
        SLOT(L->x, N * d); SLOT(L->xn1, N * d); SLOT(L->rstd1, N); SLOT(L->q, N * qd); SLOT(L->k, N * kvd); SLOT(L->v, N * kvd);
        SLOT(L->p, B * c->n_heads * T * T); SLOT(L->att, N * qd); SLOT(L->x2, N * d); SLOT(L->xn2, N * d); SLOT(L->rstd2, N);
        SLOT(L->g, N * ff); SLOT(L->u, N * ff); SLOT(L->h, N * ff);
    }
    qz_train_acts dummy_a;
    if (!a) a = &dummy_a;
    SLOT(a->xf, N * d); SLOT(a->xnf, N * d); SLOT(a->rstdf, N); SLOT(a->dxnf, N * d); SLOT(a->dx, N * d); SLOT(a->dx2, N * d);
    SLOT(a->dxn, N * d); SLOT(a->dq, N * qd); SLOT(a->datt, N * qd); SLOT(a->dk, N * kvd); SLOT(a->dv, N * kvd); SLOT(a->dp, T * T);
    SLOT(a->dh, N * ff); SLOT(a->dg, N * ff); SLOT(a->du, N * ff);
    SLOT(a->sin_neg, T * (c->head_dim / 2));
#undef SLOT
    return n;
}

static int64_t act_floats(const qz_model_config *c, int64_t B, int64_t T)
{
    int64_t *sizes = malloc((size_t)(14 * c->n_layers + 17) * sizeof *sizes), total = 0;
    QZ_ASSERT(sizes);
    int n = act_slots(c, B, T, NULL, NULL, sizes);
    for (int i = 0; i < n; i++) total += sizes[i];
    free(sizes);
    return total;
}

size_t qz_train_acts_bytes(const qz_model_config *c, int64_t B, int64_t T)
{
    return (size_t)act_floats(c, B, T) * sizeof(float);
}

int qz_train_acts_new(qz_train_acts **out, const qz_model_config *c, int64_t B, int64_t T, qz_error *err)
{
    *out = NULL;
    int cap = (int)(14 * c->n_layers + 17);
    qz_train_acts *a = calloc(1, sizeof *a);
    float ***ptrs = calloc((size_t)cap, sizeof *ptrs);
    int64_t *sizes = calloc((size_t)cap, sizeof *sizes);
    if (a) a->L = calloc((size_t)c->n_layers, sizeof *a->L);
    if (a && a->L) a->mem = qz_malloc_array((size_t)act_floats(c, B, T), sizeof(float));
    if (!a || !a->L || !a->mem || !ptrs || !sizes) {
        free(ptrs);
        free(sizes);
        qz_train_acts_free(a);
        return qz_fail(err, QZ_EINTERNAL, "out of memory for the activations of %lld x %lld tokens (%.0f MiB)", (long long)B,
                       (long long)T, (double)qz_train_acts_bytes(c, B, T) / 1048576.0);
    }
    int n = act_slots(c, B, T, a, ptrs, sizes);
    float *mem = a->mem;
    for (int i = 0; i < n; i++) {
        *ptrs[i] = mem;
        mem += sizes[i];
    }
    free(ptrs);
    free(sizes);
    a->B = B;
    a->T = T;
    a->hidden = c->hidden;
    *out = a;
    return QZ_OK;
}

int64_t qz_train_acts_seqlen(const qz_train_acts *a) { return a->T; }

void qz_train_acts_free(qz_train_acts *a)
{
    if (!a) return;
    free(a->mem);
    free(a->L);
    free(a);
}

/* ------------------------------------------------------------------- ops */

/* y_i = w_i x_i r, r = (mean x^2 + eps)^-1/2:
 * dx_j = r w_j dy_j - r^3 x_j / dim * sum_i w_i dy_i x_i, dw_i += dy_i x_i r. */
void qz_train_rmsnorm_backward(float *dx, float *dw, const float *dy, const float *x, const float *w, const float *rstd,
                               int64_t n, int64_t dim)
{
    for (int64_t r = 0; r < n; r++) {
        const float *xr = x + r * dim, *dyr = dy + r * dim;
        double dot = 0, rs = rstd[r];
        for (int64_t i = 0; i < dim; i++) dot += (double)w[i] * dyr[i] * xr[i];
        double k = rs * rs * rs * dot / (double)dim;
        for (int64_t i = 0; i < dim; i++) {
            dx[r * dim + i] += (float)(rs * w[i] * dyr[i] - k * xr[i]);
            dw[i] += (float)((double)dyr[i] * xr[i] * rs);
        }
    }
}

void qz_train_linear(float *y, const float *x, const float *w, const float *b, int64_t T, int64_t in, int64_t out)
{
    qz_linear l = {(float *)w, (float *)b, out, in};
    qz_linear_apply(&l, x, T, y);
}

void qz_train_linear_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w, int64_t T,
                              int64_t in, int64_t out)
{
    if (dx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)T, (int)in, (int)out, 1.0f, dy, (int)out, w, (int)in, 1.0f, dx,
                    (int)in);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)out, (int)in, (int)T, 1.0f, dy, (int)out, x, (int)in, 1.0f, dw, (int)in);
    if (db)
        for (int64_t t = 0; t < T; t++)
            for (int64_t o = 0; o < out; o++) db[o] += dy[t * out + o];
}

/* Row-wise causal softmax of scores (T, T) in place; entries outside
 * [t - window + 1, t] become 0 (window 0 = unlimited). The backward needs
 * the probabilities, which kernels.c's flash attention never forms. */
static void causal_softmax(float *scores, int64_t T, int64_t window)
{
    for (int64_t t = 0; t < T; t++) {
        float *row = scores + t * T;
        int64_t lo = window > 0 && t >= window ? t - window + 1 : 0, n = t + 1 - lo;
        float mx = -INFINITY;
        for (int64_t j = lo; j <= t; j++) mx = row[j] > mx ? row[j] : mx;
        float *seg = row + lo;
        for (int64_t j = 0; j < n; j++) seg[j] -= mx;
        qz_exp_nonpos_row(seg, n);
        float sum = 0;
        for (int64_t j = 0; j < n; j++) sum += seg[j];
        float inv = 1.0f / sum;
        for (int64_t j = 0; j < n; j++) seg[j] *= inv;
        memset(row, 0, (size_t)lo * sizeof(float));
        memset(row + t + 1, 0, (size_t)(T - t - 1) * sizeof(float));
    }
}

void qz_train_attention(float *out, float *p, const float *q, const float *k, const float *v, int64_t T, int64_t n_heads,
                        int64_t n_kv, int64_t hd, int64_t window)
{
    int64_t qd = n_heads * hd, kvd = n_kv * hd, group = n_heads / n_kv;
    float scale = (float)(1.0 / sqrt((double)hd));
    for (int64_t h = 0; h < n_heads; h++) {
        int64_t g = h / group;
        float *P = p + h * T * T;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, (int)T, (int)hd, scale, q + h * hd, (int)qd, k + g * hd, (int)kvd,
                    0.0f, P, (int)T);
        causal_softmax(P, T, window);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)T, (int)hd, (int)T, 1.0f, P, (int)T, v + g * hd, (int)kvd, 0.0f,
                    out + h * hd, (int)qd);
    }
}

/* dP = dO V^T, dV += P^T dO, dS = P * (dP - rowsum(P * dP)) (softmax's
 * Jacobian; masked entries have P = 0), dQ = s dS K, dK += s dS^T Q. */
void qz_train_attention_backward(float *dq, float *dk, float *dv, float *dp, const float *dout, const float *p, const float *q,
                                 const float *k, const float *v, int64_t T, int64_t n_heads, int64_t n_kv, int64_t hd)
{
    int64_t qd = n_heads * hd, kvd = n_kv * hd, group = n_heads / n_kv;
    float scale = (float)(1.0 / sqrt((double)hd));
    memset(dk, 0, (size_t)(T * kvd) * sizeof(float));
    memset(dv, 0, (size_t)(T * kvd) * sizeof(float));
    for (int64_t h = 0; h < n_heads; h++) {
        int64_t g = h / group;
        const float *P = p + h * T * T;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, (int)T, (int)hd, 1.0f, dout + h * hd, (int)qd, v + g * hd, (int)kvd,
                    0.0f, dp, (int)T);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)T, (int)hd, (int)T, 1.0f, P, (int)T, dout + h * hd, (int)qd, 1.0f,
                    dv + g * hd, (int)kvd);
        for (int64_t t = 0; t < T; t++) {
            float *row = dp + t * T;
            const float *pr = P + t * T;
            double s = 0;
            for (int64_t j = 0; j <= t; j++) s += (double)pr[j] * row[j];
            for (int64_t j = 0; j < T; j++) row[j] = (float)(pr[j] * (row[j] - s));
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)T, (int)hd, (int)T, scale, dp, (int)T, k + g * hd, (int)kvd, 0.0f,
                    dq + h * hd, (int)qd);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)T, (int)hd, (int)T, scale, dp, (int)T, q + h * hd, (int)qd, 1.0f,
                    dk + g * hd, (int)kvd);
    }
}

/* h = g s(g) u: dg = dh u s (1 + g (1 - s)), du = dh g s. */
void qz_train_swiglu_backward(float *dg, float *du, const float *dh, const float *g, const float *u, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float s = 1.0f / (1.0f + expf(-g[i]));
        dg[i] = dh[i] * u[i] * s * (1.0f + g[i] * (1.0f - s));
        du[i] = dh[i] * g[i] * s;
    }
}

/* --------------------------------------------------------------- forward */

static void add_rows(float *y, const float *a, const float *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

static void attention_forward(const qz_train_model *tm, layer_acts *A, const qz_train_layer *P, int64_t B, int64_t T)
{
    const qz_model_config *c = &tm->cfg;
    int64_t N = B * T, d = c->hidden, hd = c->head_dim, qd = c->n_heads * hd, kvd = c->n_kv_heads * hd;
    qz_train_linear(A->q, A->xn1, P->w[QZ_LIN_Q], P->b[QZ_LIN_Q], N, d, qd);
    qz_train_linear(A->k, A->xn1, P->w[QZ_LIN_K], P->b[QZ_LIN_K], N, d, kvd);
    qz_train_linear(A->v, A->xn1, P->w[QZ_LIN_V], P->b[QZ_LIN_V], N, d, kvd);
    qz_rope(A->q, B, T, c->n_heads, hd, tm->src->rope_cos, tm->src->rope_sin);
    qz_rope(A->k, B, T, c->n_kv_heads, hd, tm->src->rope_cos, tm->src->rope_sin);
    for (int64_t b = 0; b < B; b++)
        qz_train_attention(A->att + b * T * qd, A->p + b * c->n_heads * T * T, A->q + b * T * qd, A->k + b * T * kvd,
                           A->v + b * T * kvd, T, c->n_heads, c->n_kv_heads, hd, c->sliding_window);
}

/* out (N, d) = layer(A->x), keeping A's activations; out may be the next layer's x. */
static void layer_forward(const qz_train_model *tm, layer_acts *A, const qz_train_layer *P, int64_t B, int64_t T, float *out)
{
    const qz_model_config *c = &tm->cfg;
    int64_t N = B * T, d = c->hidden, qd = c->n_heads * c->head_dim, ff = c->intermediate;
    qz_rmsnorm_rstd(A->xn1, A->rstd1, A->x, P->attn_norm, N, d, c->rms_eps);
    attention_forward(tm, A, P, B, T);
    qz_train_linear(A->x2, A->att, P->w[QZ_LIN_O], NULL, N, qd, d);
    add_rows(A->x2, A->x, A->x2, N * d);
    qz_rmsnorm_rstd(A->xn2, A->rstd2, A->x2, P->mlp_norm, N, d, c->rms_eps);
    qz_train_linear(A->g, A->xn2, P->w[QZ_LIN_GATE], P->b[QZ_LIN_GATE], N, d, ff);
    qz_train_linear(A->u, A->xn2, P->w[QZ_LIN_UP], P->b[QZ_LIN_UP], N, d, ff);
    memcpy(A->h, A->g, (size_t)(N * ff) * sizeof(float)); /* g stays for the backward */
    qz_swiglu(A->h, A->u, N * ff);
    qz_train_linear(out, A->h, P->w[QZ_LIN_DOWN], P->b[QZ_LIN_DOWN], N, ff, d);
    add_rows(out, A->x2, out, N * d);
}

const float *qz_train_forward(qz_train_model *tm, qz_train_acts *a, const int32_t *tokens, int64_t B)
{
    const qz_model_config *c = &tm->cfg;
    int64_t T = a->T, N = B * T, d = c->hidden;
    QZ_ASSERT(B <= a->B && T <= tm->src->rope_len);
    for (int64_t i = 0; i < T * (c->head_dim / 2); i++) a->sin_neg[i] = -tm->src->rope_sin[i];
    for (int64_t t = 0; t < N; t++) {
        QZ_ASSERT(tokens[t] >= 0 && tokens[t] < c->vocab);
        memcpy(a->L[0].x + t * d, tm->p.embed + (int64_t)tokens[t] * d, (size_t)d * sizeof(float));
    }
    for (int64_t l = 0; l < c->n_layers; l++)
        layer_forward(tm, &a->L[l], &tm->p.layers[l], B, T, l + 1 < c->n_layers ? a->L[l + 1].x : a->xf);
    qz_rmsnorm_rstd(a->xnf, a->rstdf, a->xf, tm->p.final_norm, N, d, c->rms_eps);
    return a->xnf;
}

void qz_train_logits(const qz_train_model *tm, const qz_train_acts *a, int64_t r0, int64_t n, float *logits)
{
    const qz_model_config *c = &tm->cfg;
    QZ_ASSERT(n <= QZ_TRAIN_CHUNK);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)c->vocab, (int)c->hidden, 1.0f, a->xnf + r0 * c->hidden,
                (int)c->hidden, tm->p.lm_head, (int)c->hidden, 0.0f, logits, (int)c->vocab);
}

void qz_train_logits_backward(qz_train_model *tm, qz_train_acts *a, int64_t r0, int64_t n, const float *dlogits)
{
    const qz_model_config *c = &tm->cfg;
    qz_train_linear_backward(a->dxnf + r0 * c->hidden, tm->g.lm_head, NULL, dlogits, a->xnf + r0 * c->hidden, tm->p.lm_head, n,
                             c->hidden, c->vocab);
}

void qz_train_dhidden_zero(qz_train_acts *a)
{
    memset(a->dxnf, 0, (size_t)(a->B * a->T * a->hidden) * sizeof(float));
}

float *qz_train_dhidden(qz_train_acts *a) { return a->dxnf; }

/* -------------------------------------------------------------- backward */

static void attention_backward(qz_train_model *tm, qz_train_acts *a, const layer_acts *A, const qz_train_layer *P,
                               qz_train_layer *G, int64_t B)
{
    const qz_model_config *c = &tm->cfg;
    int64_t T = a->T, N = B * T, d = c->hidden, hd = c->head_dim, qd = c->n_heads * hd, kvd = c->n_kv_heads * hd;
    for (int64_t b = 0; b < B; b++)
        qz_train_attention_backward(a->dq + b * T * qd, a->dk + b * T * kvd, a->dv + b * T * kvd, a->dp, a->datt + b * T * qd,
                                    A->p + b * c->n_heads * T * T, A->q + b * T * qd, A->k + b * T * kvd, A->v + b * T * kvd, T,
                                    c->n_heads, c->n_kv_heads, hd);
    /* RoPE is a rotation per pair: its transpose is the rotation by -angle */
    qz_rope(a->dq, B, T, c->n_heads, hd, tm->src->rope_cos, a->sin_neg);
    qz_rope(a->dk, B, T, c->n_kv_heads, hd, tm->src->rope_cos, a->sin_neg);
    memset(a->dxn, 0, (size_t)(N * d) * sizeof(float));
    qz_train_linear_backward(a->dxn, G->w[QZ_LIN_Q], G->b[QZ_LIN_Q], a->dq, A->xn1, P->w[QZ_LIN_Q], N, d, qd);
    qz_train_linear_backward(a->dxn, G->w[QZ_LIN_K], G->b[QZ_LIN_K], a->dk, A->xn1, P->w[QZ_LIN_K], N, d, kvd);
    qz_train_linear_backward(a->dxn, G->w[QZ_LIN_V], G->b[QZ_LIN_V], a->dv, A->xn1, P->w[QZ_LIN_V], N, d, kvd);
}

/* dy (N, d): the gradient of the layer's output in, of its input out. */
static void layer_backward(qz_train_model *tm, qz_train_acts *a, int64_t l, int64_t B, float *dy)
{
    const qz_model_config *c = &tm->cfg;
    const layer_acts *A = &a->L[l];
    const qz_train_layer *P = &tm->p.layers[l];
    qz_train_layer *G = &tm->g.layers[l];
    int64_t N = B * a->T, d = c->hidden, qd = c->n_heads * c->head_dim, ff = c->intermediate;
    size_t nd = (size_t)(N * d) * sizeof(float);
    /* out = x2 + down(swiglu(gate(xn2), up(xn2))), xn2 = norm(x2) */
    memcpy(a->dx2, dy, nd);
    memset(a->dh, 0, (size_t)(N * ff) * sizeof(float));
    qz_train_linear_backward(a->dh, G->w[QZ_LIN_DOWN], G->b[QZ_LIN_DOWN], dy, A->h, P->w[QZ_LIN_DOWN], N, ff, d);
    qz_train_swiglu_backward(a->dg, a->du, a->dh, A->g, A->u, N * ff);
    memset(a->dxn, 0, nd);
    qz_train_linear_backward(a->dxn, G->w[QZ_LIN_GATE], G->b[QZ_LIN_GATE], a->dg, A->xn2, P->w[QZ_LIN_GATE], N, d, ff);
    qz_train_linear_backward(a->dxn, G->w[QZ_LIN_UP], G->b[QZ_LIN_UP], a->du, A->xn2, P->w[QZ_LIN_UP], N, d, ff);
    qz_train_rmsnorm_backward(a->dx2, G->mlp_norm, a->dxn, A->x2, P->mlp_norm, A->rstd2, N, d);
    /* x2 = x + o(attention(rope(q(xn1)), rope(k(xn1)), v(xn1))), xn1 = norm(x) */
    memcpy(dy, a->dx2, nd);
    memset(a->datt, 0, (size_t)(N * qd) * sizeof(float));
    qz_train_linear_backward(a->datt, G->w[QZ_LIN_O], NULL, a->dx2, A->att, P->w[QZ_LIN_O], N, qd, d);
    attention_backward(tm, a, A, P, G, B);
    qz_train_rmsnorm_backward(dy, G->attn_norm, a->dxn, A->x, P->attn_norm, A->rstd1, N, d);
}

void qz_train_backward(qz_train_model *tm, qz_train_acts *a, const int32_t *tokens, int64_t B)
{
    const qz_model_config *c = &tm->cfg;
    int64_t N = B * a->T, d = c->hidden;
    float *dy = a->dx;
    memset(dy, 0, (size_t)(N * d) * sizeof(float));
    qz_train_rmsnorm_backward(dy, tm->g.final_norm, a->dxnf, a->xf, tm->p.final_norm, a->rstdf, N, d);
    for (int64_t l = c->n_layers - 1; l >= 0; l--) layer_backward(tm, a, l, B, dy);
    for (int64_t t = 0; t < N; t++) {
        float *ge = tm->g.embed + (int64_t)tokens[t] * d;
        for (int64_t i = 0; i < d; i++) ge[i] += dy[t * d + i];
    }
}
