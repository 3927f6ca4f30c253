/* cuda_model.c - the decoder of a packed checkpoint on the GPU and the
 * perplexity protocol run there (see cuda_model.h). The forward is
 * model.c's, op for op: embed, per layer RMSNorm -> q/k/v -> RoPE ->
 * causal GQA attention -> o + residual, RMSNorm -> gate/up -> SwiGLU ->
 * down + residual; final RMSNorm, lm_head, log-softmax + NLL on the device.
 * --check-cpu runs eval.c's chunk walk on the CPU over the same windows and
 * compares logits row by row. Leaves out: --base / top-k comparisons on the
 * GPU, batching several windows per pass, and KV caches (whole windows
 * only, as the protocol needs).
 */
#include "cuda_model.h"

#include "half.h"

#include <math.h>
#include <string.h>

/* ------------------------------------------------------------ allocations */

/* Every device buffer of a model, freed together. */
typedef struct dev_pool {
    qz_cuda *g;
    void **ptr;
    int64_t n, cap;
} dev_pool;

static int pool_alloc(dev_pool *p, void **d, size_t bytes, qz_error *err)
{
    if (p->n == p->cap) {
        int64_t cap = p->cap ? 2 * p->cap : 64;
        void **np = realloc(p->ptr, (size_t)cap * sizeof *np);
        if (!np) return qz_fail(err, QZ_EINTERNAL, "out of memory");
        p->ptr = np, p->cap = cap;
    }
    int rc = qz_cuda_alloc(p->g, d, bytes, err);
    if (rc == QZ_OK) p->ptr[p->n++] = *d;
    return rc;
}

/* A device copy of host bytes. */
static int pool_upload(dev_pool *p, void **d, const void *src, size_t bytes, qz_error *err)
{
    int rc = pool_alloc(p, d, bytes, err);
    return rc ? rc : qz_cuda_upload(p->g, *d, src, bytes, err);
}

static void pool_free(dev_pool *p)
{
    for (int64_t i = 0; i < p->n; i++) qz_cuda_free(p->g, p->ptr[i]);
    free(p->ptr);
}

/* ------------------------------------------------------------------ model */

typedef struct dev_layer {
    const float *attn_norm, *mlp_norm; /* (hidden) */
    qz_cuda_linear lin[QZ_LIN_COUNT];
} dev_layer;

/* Activations of one window of up to max_T tokens. */
typedef struct dev_acts {
    int32_t *tokens;                         /* (T) */
    float *x, *xn, *q, *k, *v, *att, *out;   /* (T, hidden | n_heads*hd | n_kv*hd) */
    float *gate, *up;                        /* (T, intermediate) */
    float *logits;                           /* (T, vocab) */
    double *nll;                             /* (T + 1) */
    void *work;                              /* linear workspace */
    size_t work_bytes;
} dev_acts;

struct qz_cuda_model {
    qz_cuda *g;
    qz_model *m;
    dev_pool pool;
    int64_t max_T;
    const float *embed, *final_norm, *lm_head, *rope_cos, *rope_sin;
    qz_cuda_linear head; /* DENSE (vocab, hidden) */
    dev_layer *layers;
    dev_acts a;
};

/* The stored tensor lin.suffix (qz_layer_load has already checked it). */
static const qz_st_tensor *stored(const qz_model *m, const char *lin, const char *suffix)
{
    char name[600];
    snprintf(name, sizeof name, "%s.%s", lin, suffix);
    return qz_hf_model_find(m->hf, name);
}

/* A device FP32 copy of an F32 / F16 / BF16 tensor. */
static int upload_f32(dev_pool *p, const qz_st_tensor *t, void **d, qz_error *err)
{
    QZ_ASSERT(t->dtype == QZ_DTYPE_F32 || t->dtype == QZ_DTYPE_F16 || t->dtype == QZ_DTYPE_BF16);
    float *h = qz_malloc_array((size_t)t->numel, sizeof *h);
    void *copy = NULL;
    const void *src = qz_st_aligned_data(t, qz_dtype_size(t->dtype), &copy);
    int rc = h && src ? QZ_OK : qz_fail(err, QZ_EINTERNAL, "out of memory uploading %s", t->name);
    if (rc == QZ_OK) {
        if (t->dtype == QZ_DTYPE_F32) memcpy(h, src, (size_t)t->numel * sizeof *h);
        else if (t->dtype == QZ_DTYPE_F16) qz_fp16_to_fp32_row(src, h, t->numel);
        else qz_bf16_to_fp32_row(src, h, t->numel);
        rc = pool_upload(p, d, h, (size_t)t->numel * sizeof *h, err);
    }
    free(h);
    free(copy);
    return rc;
}

static int upload_raw(dev_pool *p, const qz_st_tensor *t, void **d, qz_error *err)
{
    return pool_upload(p, d, t->data, t->nbytes, err);
}

static int upload_floats(dev_pool *p, const float *h, int64_t n, void **d, qz_error *err)
{
    return pool_upload(p, d, h, (size_t)n * sizeof *h, err);
}

/* GPTQ / AWQ: words, zeros and FP32 scales as stored. */
static int upload_grouped(qz_cuda_model *gm, const char *lin, qz_cuda_linear *l, qz_error *err)
{
    const qz_quant_config *q = &gm->m->quant;
    const int gptq = q->kind == QZ_QUANT_KIND_GPTQ;
    const int64_t gs = gptq ? q->gptq.group_size : q->awq.group_size;
    l->layout = gptq ? QZ_CUDA_GPTQ : QZ_CUDA_AWQ;
    l->bits = gptq ? q->gptq.bits : 4;
    l->group_size = gs > 0 ? gs : l->in;
    l->n_groups = (l->in + l->group_size - 1) / l->group_size;
    l->zero_plus_one = gptq && q->gptq.fmt == QZ_GPTQ_ZERO_V1;
    void *w = NULL, *z = NULL, *sc = NULL, *gi = NULL;
    int rc = upload_raw(&gm->pool, stored(gm->m, lin, "qweight"), &w, err);
    if (!rc) rc = upload_raw(&gm->pool, stored(gm->m, lin, "qzeros"), &z, err);
    if (!rc) rc = upload_f32(&gm->pool, stored(gm->m, lin, "scales"), &sc, err);
    if (!rc && gptq) rc = upload_raw(&gm->pool, stored(gm->m, lin, "g_idx"), &gi, err);
    l->d_w = w, l->d_qzeros = z, l->d_scales = sc, l->d_g_idx = gi;
    return rc;
}

/* sparse-24-bitmask: values and mask up, dense FP32 weight made there. */
static int upload_sparse24(qz_cuda_model *gm, const char *lin, qz_cuda_linear *l, qz_error *err)
{
    void *vals = NULL, *bits = NULL, *w = NULL;
    l->layout = QZ_CUDA_DENSE;
    int rc = upload_f32(&gm->pool, stored(gm->m, lin, "compressed"), &vals, err);
    if (!rc) rc = upload_raw(&gm->pool, stored(gm->m, lin, "bitmask"), &bits, err);
    if (!rc) rc = pool_alloc(&gm->pool, &w, (size_t)(l->out * l->in) * sizeof(float), err);
    if (!rc) rc = qz_cuda_sparse24_decompress(gm->g, w, vals, bits, l->out, l->in, err);
    l->d_w = w;
    return rc;
}

/* Which tensor marks lin as stored packed (model.c's rule). */
static const char *packed_marker(const qz_model *m)
{
    switch (m->quant.kind) {
    case QZ_QUANT_KIND_GPTQ: case QZ_QUANT_KIND_AWQ: return "qweight";
    case QZ_QUANT_KIND_CT_INT: return "weight_scale";
    case QZ_QUANT_KIND_SPARSE: return "compressed";
    default: return NULL;
    }
}

/* Linear id of layer L as it is stored; host copy h (FP32, checked). */
static int upload_linear(qz_cuda_model *gm, const char *prefix, qz_linear_id id, const qz_linear *h, qz_cuda_linear *l,
                         qz_error *err)
{
    char lin[512];
    snprintf(lin, sizeof lin, "%s.%s", prefix, qz_linear_name(id));
    const char *marker = packed_marker(gm->m);
    const int packed = marker && stored(gm->m, lin, marker);
    memset(l, 0, sizeof *l);
    l->out = h->out, l->in = h->in, l->bits = 32;
    void *bias = NULL, *w = NULL, *sc = NULL;
    int rc = h->bias ? upload_floats(&gm->pool, h->bias, h->out, &bias, err) : QZ_OK;
    l->d_bias = bias;
    if (rc) return rc;
    if (gm->m->quant.kind == QZ_QUANT_KIND_CT_INT && !packed)
        return qz_fail(err, QZ_EINPUT, "%s is left in floating point in a W8A8 checkpoint; --device cuda runs W8A8 only "
                       "with every decoder linear in int8 (run it on the CPU)", lin);
    if (!packed) {
        l->layout = QZ_CUDA_DENSE;
        rc = upload_floats(&gm->pool, h->w, h->out * h->in, &w, err);
        l->d_w = w;
        return rc;
    }
    switch (gm->m->quant.kind) {
    case QZ_QUANT_KIND_GPTQ: case QZ_QUANT_KIND_AWQ: return upload_grouped(gm, lin, l, err);
    case QZ_QUANT_KIND_SPARSE: return upload_sparse24(gm, lin, l, err);
    default:
        l->layout = QZ_CUDA_W8A8, l->bits = 8, l->per_channel = gm->m->quant.ct.weight_per_channel;
        rc = upload_raw(&gm->pool, stored(gm->m, lin, "weight"), &w, err);
        if (!rc) rc = upload_f32(&gm->pool, stored(gm->m, lin, "weight_scale"), &sc, err);
        l->d_w = w, l->d_scales = sc;
        return rc;
    }
}

static int upload_layer(qz_cuda_model *gm, int64_t i, qz_error *err)
{
    qz_layer L;
    int rc = qz_layer_load(gm->m, i, &L, err);
    if (rc) return rc;
    const int64_t d = gm->m->cfg.hidden;
    char prefix[128];
    snprintf(prefix, sizeof prefix, "model.layers.%lld", (long long)i);
    dev_layer *dl = &gm->layers[i];
    void *an = NULL, *mn = NULL;
    rc = upload_floats(&gm->pool, L.attn_norm, d, &an, err);
    if (!rc) rc = upload_floats(&gm->pool, L.mlp_norm, d, &mn, err);
    dl->attn_norm = an, dl->mlp_norm = mn;
    for (int id = 0; id < QZ_LIN_COUNT && !rc; id++) rc = upload_linear(gm, prefix, (qz_linear_id)id, &L.lin[id], &dl->lin[id], err);
    qz_layer_free(&L);
    return rc;
}

/* The GPU runs a checkpoint as stored: the only simulation it has is a
 * W8A8 checkpoint's own dynamic per-token int8 activations. */
static int check_runnable(const qz_model *m, qz_error *err)
{
    const qz_quant_sim *s = &m->sim;
    const int w8a8 = m->quant.kind == QZ_QUANT_KIND_CT_INT;
    if (s->weight_bits || (s->act_bits && !w8a8))
        return qz_fail(err, QZ_EINPUT, "--device cuda runs a checkpoint as stored: --act-bits / --weight-bits "
                       "simulation runs on the CPU only (drop --device)");
    if (w8a8 && (s->act_bits != 8 || s->act_gran != QZ_GRAN_TOKEN || m->quant.ct.weight_bits != 8))
        return qz_fail(err, QZ_EINPUT, "--device cuda runs W8A8 as int8 weights x dynamic per-token int8 activations; "
                       "this checkpoint has %d-bit weights and %d-bit %s activations", m->quant.ct.weight_bits,
                       s->act_bits, qz_granularity_name(s->act_gran));
    return QZ_OK;
}

static int alloc_acts(qz_cuda_model *gm, qz_error *err)
{
    const qz_model_config *c = &gm->m->cfg;
    const int64_t T = gm->max_T, qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim;
    dev_acts *a = &gm->a;
    for (int64_t i = 0; i < c->n_layers; i++)
        for (int id = 0; id < QZ_LIN_COUNT; id++) {
            size_t w = qz_cuda_linear_workspace(&gm->layers[i].lin[id], T);
            a->work_bytes = w > a->work_bytes ? w : a->work_bytes;
        }
    /* float buffers in dev_acts order: x, xn, q, k, v, att, out, gate, up, logits */
    const int64_t floats[] = {T * c->hidden, T * c->hidden, T * qd, T * kvd, T * kvd, T * qd, T * c->hidden,
                              T * c->intermediate, T * c->intermediate, T * c->vocab};
    float **fp[] = {&a->x, &a->xn, &a->q, &a->k, &a->v, &a->att, &a->out, &a->gate, &a->up, &a->logits};
    void *d = NULL;
    int rc = QZ_OK;
    for (size_t i = 0; i < sizeof floats / sizeof *floats && !rc; i++) {
        rc = pool_alloc(&gm->pool, &d, (size_t)floats[i] * sizeof(float), err);
        *fp[i] = d;
    }
    if (!rc) rc = pool_alloc(&gm->pool, &d, (size_t)T * sizeof(int32_t), err);
    a->tokens = d;
    if (!rc) rc = pool_alloc(&gm->pool, &d, (size_t)(T + 1) * sizeof(double), err);
    a->nll = d;
    if (!rc) rc = pool_alloc(&gm->pool, &a->work, a->work_bytes, err);
    return rc;
}

/* Embeddings, final norm, lm_head (shared when tied) and the RoPE tables. */
static int upload_globals(qz_cuda_model *gm, qz_error *err)
{
    qz_model *m = gm->m;
    const qz_model_config *c = &m->cfg;
    const int64_t half = c->head_dim / 2;
    void *e = NULL, *fn = NULL, *head = NULL, *cs = NULL, *sn = NULL;
    int rc = qz_model_reserve(m, gm->max_T, err);
    if (!rc) rc = upload_floats(&gm->pool, m->embed, c->vocab * c->hidden, &e, err);
    if (!rc) rc = upload_floats(&gm->pool, m->final_norm, c->hidden, &fn, err);
    if (!rc && m->lm_head == m->embed) head = e;
    else if (!rc) rc = upload_floats(&gm->pool, m->lm_head, c->vocab * c->hidden, &head, err);
    if (!rc) rc = upload_floats(&gm->pool, m->rope_cos, gm->max_T * half, &cs, err);
    if (!rc) rc = upload_floats(&gm->pool, m->rope_sin, gm->max_T * half, &sn, err);
    gm->embed = e, gm->final_norm = fn, gm->lm_head = head, gm->rope_cos = cs, gm->rope_sin = sn;
    gm->head = (qz_cuda_linear){.layout = QZ_CUDA_DENSE, .out = c->vocab, .in = c->hidden, .bits = 32, .d_w = gm->lm_head};
    return rc;
}

int qz_cuda_model_load(qz_cuda_model **out, qz_cuda *g, qz_model *m, int64_t max_T, qz_error *err)
{
    *out = NULL;
    int rc = check_runnable(m, err);
    if (rc) return rc;
    qz_cuda_model *gm = calloc(1, sizeof *gm);
    if (gm) gm->layers = qz_calloc_array((size_t)m->cfg.n_layers, sizeof *gm->layers);
    if (!gm || !gm->layers) {
        free(gm);
        return qz_fail(err, QZ_EINTERNAL, "out of memory");
    }
    gm->g = g, gm->m = m, gm->max_T = max_T, gm->pool.g = g;
    rc = upload_globals(gm, err);
    for (int64_t i = 0; i < m->cfg.n_layers && !rc; i++) rc = upload_layer(gm, i, err);
    if (!rc) rc = alloc_acts(gm, err);
    if (rc) qz_cuda_model_free(gm);
    else *out = gm;
    return rc;
}

void qz_cuda_model_free(qz_cuda_model *gm)
{
    if (!gm) return;
    pool_free(&gm->pool);
    free(gm->layers);
    free(gm);
}

/* ---------------------------------------------------------------- forward */

static int linear(qz_cuda_model *gm, const qz_cuda_linear *l, float *y, const float *x, int64_t T, qz_error *err)
{
    return qz_cuda_linear_apply(gm->g, l, y, x, T, gm->a.work, gm->a.work_bytes, err);
}

/* x += o_proj(attention(rope(q), rope(k), v)) of rmsnorm(x). */
static int attention_half(qz_cuda_model *gm, const dev_layer *L, int64_t T, qz_error *err)
{
    const qz_model_config *c = &gm->m->cfg;
    dev_acts *a = &gm->a;
    int rc = qz_cuda_rmsnorm(gm->g, a->xn, a->x, L->attn_norm, T, c->hidden, c->rms_eps, err);
    if (!rc) rc = linear(gm, &L->lin[QZ_LIN_Q], a->q, a->xn, T, err);
    if (!rc) rc = linear(gm, &L->lin[QZ_LIN_K], a->k, a->xn, T, err);
    if (!rc) rc = linear(gm, &L->lin[QZ_LIN_V], a->v, a->xn, T, err);
    if (!rc) rc = qz_cuda_rope(gm->g, a->q, gm->rope_cos, gm->rope_sin, T, c->n_heads, c->head_dim, err);
    if (!rc) rc = qz_cuda_rope(gm->g, a->k, gm->rope_cos, gm->rope_sin, T, c->n_kv_heads, c->head_dim, err);
    if (!rc)
        rc = qz_cuda_attention(gm->g, a->att, a->q, a->k, a->v, T, c->n_heads, c->n_kv_heads, c->head_dim,
                               c->sliding_window, err);
    if (!rc) rc = linear(gm, &L->lin[QZ_LIN_O], a->out, a->att, T, err);
    return rc ? rc : qz_cuda_add(gm->g, a->x, a->out, T * c->hidden, err);
}

/* x += down(silu(gate(xn)) * up(xn)) with xn = rmsnorm(x). */
static int mlp_half(qz_cuda_model *gm, const dev_layer *L, int64_t T, qz_error *err)
{
    const qz_model_config *c = &gm->m->cfg;
    dev_acts *a = &gm->a;
    int rc = qz_cuda_rmsnorm(gm->g, a->xn, a->x, L->mlp_norm, T, c->hidden, c->rms_eps, err);
    if (!rc) rc = linear(gm, &L->lin[QZ_LIN_GATE], a->gate, a->xn, T, err);
    if (!rc) rc = linear(gm, &L->lin[QZ_LIN_UP], a->up, a->xn, T, err);
    if (!rc) rc = qz_cuda_swiglu(gm->g, a->gate, a->up, T * c->intermediate, err);
    if (!rc) rc = linear(gm, &L->lin[QZ_LIN_DOWN], a->out, a->gate, T, err);
    return rc ? rc : qz_cuda_add(gm->g, a->x, a->out, T * c->hidden, err);
}

int qz_cuda_model_window(qz_cuda_model *gm, const int32_t *tokens, int64_t T, float *logits, double *nll_sum,
                         qz_error *err)
{
    const qz_model_config *c = &gm->m->cfg;
    dev_acts *a = &gm->a;
    *nll_sum = 0;
    if (T < 2 || T > gm->max_T)
        return qz_fail(err, QZ_EINPUT, "cuda window of %lld tokens (allowed 2..%lld)", (long long)T, (long long)gm->max_T);
    int rc = qz_cuda_upload(gm->g, a->tokens, tokens, (size_t)T * sizeof *tokens, err);
    if (!rc) rc = qz_cuda_embed(gm->g, a->x, gm->embed, a->tokens, T, c->hidden, err);
    for (int64_t i = 0; i < c->n_layers && !rc; i++) {
        rc = attention_half(gm, &gm->layers[i], T, err);
        if (!rc) rc = mlp_half(gm, &gm->layers[i], T, err);
    }
    if (!rc) rc = qz_cuda_rmsnorm(gm->g, a->xn, a->x, gm->final_norm, T, c->hidden, c->rms_eps, err);
    if (!rc) rc = linear(gm, &gm->head, a->logits, a->xn, T, err);
    if (!rc) rc = qz_cuda_nll(gm->g, nll_sum, NULL, a->logits, a->tokens + 1, T - 1, c->vocab, a->nll, err);
    if (!rc && logits) rc = qz_cuda_download(gm->g, logits, a->logits, (size_t)(T * c->vocab) * sizeof *logits, err);
    return rc;
}

/* ------------------------------------------------------------- evaluation */

/* The --check-cpu walk: GPU logits of the current window beside the CPU's
 * chunk of the same rows. */
typedef struct check_walk {
    qz_cuda_model *gm;
    const int32_t *tokens;
    int64_t seqlen;
    float *gpu_logits; /* (seqlen, vocab) of window `window` */
    int64_t window;
    double nll_sum, max_d;
    int64_t agree, rows;
} check_walk;

static int64_t argmax(const float *x, int64_t n)
{
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++) best = x[i] > x[best] ? i : best;
    return best;
}

/* log-sum-exp NLL of y under row, in double (eval.c's scoring). */
static double row_nll(const float *row, int64_t V, int32_t y)
{
    const float mx = row[argmax(row, V)];
    double s = 0;
    for (int64_t v = 0; v < V; v++) s += exp((double)row[v] - mx);
    return log(s) + mx - row[y];
}

static int check_chunk(void *ctx, const qz_eval_chunk *c, qz_error *err)
{
    check_walk *w = ctx;
    if (c->window != w->window) {
        double unused;
        int rc = qz_cuda_model_window(w->gm, w->tokens + c->window * w->seqlen, w->seqlen, w->gpu_logits, &unused, err);
        if (rc) return rc;
        w->window = c->window;
    }
    for (int64_t i = 0; i < c->n; i++) {
        const float *cpu = c->logits[0] + i * c->vocab, *gpu = w->gpu_logits + (c->pos + i) * c->vocab;
        for (int64_t v = 0; v < c->vocab; v++) {
            const double d = fabs((double)cpu[v] - gpu[v]);
            w->max_d = d > w->max_d || isnan(d) ? d : w->max_d;
        }
        w->agree += argmax(cpu, c->vocab) == argmax(gpu, c->vocab);
        w->nll_sum += row_nll(cpu, c->vocab, c->next[i]);
        w->rows++;
    }
    return QZ_OK;
}

static int run_check(qz_cuda_model *gm, const int32_t *tokens, int64_t windows, const qz_ppl_opts *o, double gpu_mean_nll,
                     qz_cuda_check *chk, qz_error *err)
{
    qz_model *m = gm->m;
    check_walk w = {gm, tokens, o->seqlen, qz_malloc_array((size_t)(o->seqlen * m->cfg.vocab), sizeof(float)), -1, 0, 0, 0, 0};
    if (!w.gpu_logits) return qz_fail(err, QZ_EINTERNAL, "out of memory for a window of logits");
    int rc = qz_eval_chunks(&m, 1, tokens, windows, o, check_chunk, &w, err);
    free(w.gpu_logits);
    if (rc) return rc;
    memset(chk, 0, sizeof *chk);
    chk->positions = w.rows;
    chk->max_dlogit = w.max_d;
    chk->cpu_mean_nll = w.nll_sum / (double)w.rows;
    chk->nll_rel_diff = fabs(gpu_mean_nll - chk->cpu_mean_nll) / chk->cpu_mean_nll;
    chk->top1_agree = (double)w.agree / (double)w.rows;
    const int w8a8 = m->quant.kind == QZ_QUANT_KIND_CT_INT;
    chk->tol_dlogit = w8a8 ? QZ_CUDA_TOL_W8A8_DLOGIT : QZ_CUDA_TOL_DLOGIT;
    chk->tol_nll_rel = w8a8 ? QZ_CUDA_TOL_W8A8_NLL_REL : QZ_CUDA_TOL_NLL_REL;
    chk->tol_top1 = w8a8 ? QZ_CUDA_TOL_W8A8_TOP1 : QZ_CUDA_TOL_TOP1;
    chk->passed = chk->max_dlogit <= chk->tol_dlogit && chk->nll_rel_diff <= chk->tol_nll_rel &&
                  chk->top1_agree >= chk->tol_top1;
    return QZ_OK;
}

static int check_ids(const qz_model *m, const int32_t *tokens, int64_t n, qz_error *err)
{
    for (int64_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= m->cfg.vocab)
            return qz_fail(err, QZ_EINPUT, "token %lld = %d outside the vocabulary [0, %lld)", (long long)i, (int)tokens[i],
                           (long long)m->cfg.vocab);
    return QZ_OK;
}

int qz_cuda_eval_ppl(qz_model *m, const int32_t *tokens, int64_t n_tokens, const qz_ppl_opts *o, int device,
                     qz_ppl_result *r, qz_cuda_check *check, qz_error *err)
{
    int64_t windows;
    qz_cuda *g = NULL;
    qz_cuda_model *gm = NULL;
    int rc = qz_eval_windows(n_tokens, o, &windows, err);
    if (!rc && o->score_from) rc = qz_fail(err, QZ_EINPUT, "--device cuda scores every token of a window (no second-half scoring)");
    if (!rc) rc = check_ids(m, tokens, windows * o->seqlen, err);
    if (!rc) rc = qz_cuda_open(&g, device, err);
    if (!rc) rc = qz_cuda_model_load(&gm, g, m, o->seqlen, err);
    double t0 = qz_now(), sum = 0;
    for (int64_t w = 0; w < windows && !rc; w++) {
        double s;
        rc = qz_cuda_model_window(gm, tokens + w * o->seqlen, o->seqlen, NULL, &s, err);
        sum += s;
    }
    if (!rc) qz_ppl_result_set(r, n_tokens, windows, o->seqlen, o->seqlen - 1, sum, qz_now() - t0);
    if (!rc && check) rc = run_check(gm, tokens, windows, o, r->mean_nll, check, err);
    qz_cuda_model_free(gm);
    qz_cuda_close(g);
    return rc;
}
