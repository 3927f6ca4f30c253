/* smooth.c - SmoothQuant over the pipeline (see smooth.h). */
#include "smooth.h"

#include <math.h>
#include <string.h>

qz_smooth_opts qz_smooth_opts_default(void)
{
    return (qz_smooth_opts){.alpha = 0.5, .auto_alpha = 0, .alpha_step = 0.05, .auto_samples = 32, .w8a8 = 0};
}

void qz_smooth_scales(const float *act_max, float *const *W, const int64_t *rows, int n, int64_t in, double alpha, float *s)
{
    for (int64_t j = 0; j < in; j++) {
        float wmax = 0;
        for (int k = 0; k < n; k++)
            for (int64_t r = 0; r < rows[k]; r++) wmax = fmaxf(wmax, fabsf(W[k][r * in + j]));
        double a = fmax(act_max[j], 1e-5), w = fmax(wmax, 1e-5);
        s[j] = (float)fmax(pow(a, alpha) / pow(w, 1.0 - alpha), 1e-5);
    }
}

/* The two smoothed groups: a norm and the linears it feeds. */
typedef struct {
    qz_site site;
    qz_linear_id ids[3];
    int n;
} smooth_group;

static const smooth_group groups[2] = {{QZ_SITE_ATTN_IN, {QZ_LIN_Q, QZ_LIN_K, QZ_LIN_V}, 3},
                                       {QZ_SITE_MLP_IN, {QZ_LIN_GATE, QZ_LIN_UP}, 2}};

struct qz_smoother {
    qz_smooth_opts o;
    const qz_model *m;
    qz_quant_sink sink;
    qz_method method;
    int64_t nsamples, seqlen, n_auto; /* n_auto: windows cached for the auto search */
    qz_dtype fp_dtype;                /* the checkpoint's floating-point dtype */
    float *act_max[2];                /* (hidden) per group */
    float *cache[2];                  /* (n_auto*seqlen, hidden) FP inputs per group */
    int64_t seen[2];
    qz_scratch *scratch;
    qz_quant_result res[QZ_LIN_COUNT];
    qz_module_report rep[QZ_LIN_COUNT];
};

static int group_of(qz_site site)
{
    return site == QZ_SITE_ATTN_IN ? 0 : site == QZ_SITE_MLP_IN ? 1 : -1;
}

static void sm_observe(void *ctx, const qz_layer *L, qz_site site, const float *x, int64_t T)
{
    (void)L;
    qz_smoother *sm = ctx;
    int g = group_of(site);
    if (g < 0) return;
    int64_t d = sm->m->cfg.hidden;
    for (int64_t t = 0; t < T; t++)
        for (int64_t j = 0; j < d; j++) sm->act_max[g][j] = fmaxf(sm->act_max[g][j], fabsf(x[t * d + j]));
    if (sm->seen[g] < sm->n_auto) memcpy(sm->cache[g] + sm->seen[g] * T * d, x, (size_t)(T * d) * sizeof(float));
    sm->seen[g]++;
}

static int sm_layer_begin(void *ctx, const qz_model *m, qz_layer *L, qz_error *err)
{
    (void)m, (void)err;
    qz_smoother *sm = ctx;
    for (int g = 0; g < 2; g++) memset(sm->act_max[g], 0, (size_t)sm->m->cfg.hidden * sizeof(float));
    memset(sm->seen, 0, sizeof sm->seen);
    for (int id = 0; id < QZ_LIN_COUNT; id++)
        sm->rep[id] = (qz_module_report){.layer = L->index, .id = (qz_linear_id)id, .method = QZ_QUANT_SMOOTH, .sq_alpha = -1};
    return QZ_OK;
}

static float max_abs(const float *x, int64_t n)
{
    float m = 0;
    for (int64_t i = 0; i < n; i++) m = fmaxf(m, fabsf(x[i]));
    return m;
}

/* Group g's linears: column j *= s_j. */
static void scale_columns(qz_layer *L, int g, const float *s, int64_t d)
{
    for (int k = 0; k < groups[g].n; k++) {
        qz_linear *l = &L->lin[groups[g].ids[k]];
        for (int64_t r = 0; r < l->out; r++)
            for (int64_t j = 0; j < d; j++) l->w[r * d + j] *= s[j];
    }
}

/* Folds s into group g of L: norm /= s, columns *= s. */
static void fold(qz_layer *L, int g, const float *s, int64_t d)
{
    float *norm = g == 0 ? L->attn_norm : L->mlp_norm;
    for (int64_t j = 0; j < d; j++) norm[j] /= s[j];
    scale_columns(L, g, s, d);
}

static void group_scales(const qz_smoother *sm, const qz_layer *L, int g, double alpha, float *s)
{
    float *W[3];
    int64_t rows[3];
    for (int k = 0; k < groups[g].n; k++) W[k] = L->lin[groups[g].ids[k]].w, rows[k] = L->lin[groups[g].ids[k]].out;
    qz_smooth_scales(sm->act_max[g], W, rows, groups[g].n, sm->m->cfg.hidden, alpha, s);
}

/* ------------------------------------------------------------ alpha auto */

typedef struct {
    qz_layer t;            /* working copy: smoothed, W8A8-quantized weights */
    float *x;              /* (n_auto*T, d) smoothed block input */
    float *y_fp[2], *y;    /* (n_auto*T, d) block outputs */
    qz_model sim;          /* the model with 8-bit per-token input quantization */
} auto_ws;

/* Output of block g (0 attention, 1 MLP) over the cached windows. */
static void run_block(qz_smoother *sm, const qz_model *m, const qz_layer *L, int g, const float *X, float *Y)
{
    int64_t T = sm->seqlen, d = sm->m->cfg.hidden;
    for (int64_t i = 0; i < sm->n_auto; i++) {
        if (g == 0) qz_attention_block(m, L, X + i * T * d, 1, T, sm->scratch, Y + i * T * d, NULL);
        else qz_mlp_block(m, L, X + i * T * d, 1, T, sm->scratch, Y + i * T * d, NULL);
    }
}

static double mse(const float *a, const float *b, int64_t n)
{
    double e = 0;
    for (int64_t i = 0; i < n; i++) e += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return e / (double)n;
}

/* W8A8 error of L smoothed with alpha. */
static double w8a8_error(qz_smoother *sm, const qz_layer *L, auto_ws *ws, double alpha, float *s)
{
    int64_t d = sm->m->cfg.hidden, n = sm->n_auto * sm->seqlen;
    for (int id = 0; id < QZ_LIN_COUNT; id++)
        memcpy(ws->t.lin[id].w, L->lin[id].w, (size_t)(L->lin[id].out * L->lin[id].in) * sizeof(float));
    double err = 0;
    for (int g = 0; g < 2; g++) {
        group_scales(sm, L, g, alpha, s);
        scale_columns(&ws->t, g, s, d); /* the norm's part is the input's division below */
        for (int64_t i = 0; i < n * d; i++) ws->x[i] = sm->cache[g][i] / s[i % d];
        for (int id = 0; id < QZ_LIN_COUNT; id++) {
            if (g == 0 && id > QZ_LIN_O) continue; /* each block quantizes its own linears */
            if (g == 1 && id < QZ_LIN_GATE) continue;
            qz_fake_quant_sym(ws->t.lin[id].w, L->lin[id].out, L->lin[id].in, 8, QZ_GRAN_CHANNEL, NULL, NULL);
        }
        run_block(sm, &ws->sim, &ws->t, g, ws->x, ws->y);
        err += mse(ws->y, ws->y_fp[g], n * d);
    }
    return err;
}

static int auto_alpha(qz_smoother *sm, const qz_layer *L, double *best_alpha, qz_error *err)
{
    int64_t d = sm->m->cfg.hidden, n = sm->n_auto * sm->seqlen;
    auto_ws ws = {.sim = *sm->m};
    ws.sim.sim = (qz_quant_sim){.act_bits = 8, .act_gran = QZ_GRAN_TOKEN};
    ws.t = *L;
    int ok = 1;
    for (int id = 0; id < QZ_LIN_COUNT; id++) ws.t.lin[id].w = NULL;
    for (int id = 0; id < QZ_LIN_COUNT && ok; id++)
        ok = (ws.t.lin[id].w = qz_malloc_array((size_t)(L->lin[id].out * L->lin[id].in), sizeof(float))) != NULL;
    ws.x = qz_malloc_array((size_t)(n * d), sizeof(float));
    ws.y = qz_malloc_array((size_t)(n * d), sizeof(float));
    ws.y_fp[0] = qz_malloc_array((size_t)(n * d), sizeof(float));
    ws.y_fp[1] = qz_malloc_array((size_t)(n * d), sizeof(float));
    float *s = qz_malloc_array((size_t)d, sizeof(float));
    int rc = ok && ws.x && ws.y && ws.y_fp[0] && ws.y_fp[1] && s ? QZ_OK : qz_fail(err, QZ_EINTERNAL, "out of memory for --alpha auto");
    if (rc == QZ_OK) {
        for (int g = 0; g < 2; g++) run_block(sm, sm->m, L, g, sm->cache[g], ws.y_fp[g]);
        double best = INFINITY;
        int steps = (int)floor(1.0 / sm->o.alpha_step + 1e-9);
        for (int k = 0; k <= steps; k++) {
            double a = k * sm->o.alpha_step, e = w8a8_error(sm, L, &ws, a, s);
            if (e < best) best = e, *best_alpha = a;
        }
        if (!isfinite(best)) rc = qz_fail(err, QZ_EINPUT, "layer %lld: every alpha gave a non-finite error", (long long)L->index);
    }
    for (int id = 0; id < QZ_LIN_COUNT; id++) free(ws.t.lin[id].w);
    free(ws.x), free(ws.y), free(ws.y_fp[0]), free(ws.y_fp[1]), free(s);
    return rc;
}

/* ------------------------------------------------------------- transform */

static int quantize_w8(qz_smoother *sm, qz_layer *L, qz_error *err)
{
    for (int id = 0; id < QZ_LIN_COUNT; id++) {
        qz_linear *l = &L->lin[id];
        qz_quant_result *r = &sm->res[id];
        int rc = qz_quant_result_alloc(r, l->out, l->in, -1, err);
        if (rc) return rc;
        int8_t *q = qz_malloc_array((size_t)(l->out * l->in), 1);
        if (!q) return qz_fail(err, QZ_EINTERNAL, "out of memory");
        /* as the smoothed checkpoint stores them, so that its W8A8 simulation and this artifact agree */
        qz_dtype_round_f32(l->w, l->out * l->in, sm->fp_dtype);
        qz_fake_quant_sym(l->w, l->out, l->in, 8, QZ_GRAN_CHANNEL, r->scales, q);
        for (int64_t i = 0; i < l->out * l->in; i++) r->codes[i] = (uint8_t)(q[i] + 128);
        for (int64_t o = 0; o < l->out; o++) r->zeros[o] = 128;
        free(q);
        sm->rep[id].quantized = 1;
    }
    return QZ_OK;
}

static int sm_transform(void *ctx, qz_layer *L, const qz_linear_id *ids, int n, qz_error *err)
{
    (void)ids, (void)n;
    qz_smoother *sm = ctx;
    int64_t d = sm->m->cfg.hidden;
    double t0 = qz_now(), alpha = sm->o.alpha;
    int rc = sm->o.auto_alpha ? auto_alpha(sm, L, &alpha, err) : QZ_OK;
    float *s = qz_malloc_array((size_t)d, sizeof(float));
    if (rc == QZ_OK && !s) rc = qz_fail(err, QZ_EINTERNAL, "out of memory");
    for (int g = 0; g < 2 && rc == QZ_OK; g++) {
        double wmax_before[3];
        for (int k = 0; k < groups[g].n; k++) {
            const qz_linear *l = &L->lin[groups[g].ids[k]];
            wmax_before[k] = max_abs(l->w, l->out * l->in);
        }
        group_scales(sm, L, g, alpha, s);
        fold(L, g, s, d);
        double amax_after = 0;
        for (int64_t j = 0; j < d; j++) amax_after = fmax(amax_after, sm->act_max[g][j] / s[j]);
        for (int k = 0; k < groups[g].n; k++) {
            const qz_linear *l = &L->lin[groups[g].ids[k]];
            qz_module_report *r = &sm->rep[groups[g].ids[k]];
            r->sq_alpha = alpha;
            r->sq_act_max[0] = max_abs(sm->act_max[g], d), r->sq_act_max[1] = amax_after;
            r->sq_w_max[0] = wmax_before[k], r->sq_w_max[1] = max_abs(l->w, l->out * l->in);
        }
    }
    free(s);
    if (rc == QZ_OK && sm->o.w8a8) rc = quantize_w8(sm, L, err);
    for (int id = 0; id < QZ_LIN_COUNT; id++) sm->rep[id].seconds = qz_now() - t0;
    return rc;
}

static int sm_layer_end(void *ctx, const qz_model *m, const qz_layer *L, qz_error *err)
{
    (void)m;
    qz_smoother *sm = ctx;
    const qz_quant_result *res[QZ_LIN_COUNT];
    for (int id = 0; id < QZ_LIN_COUNT; id++) res[id] = sm->rep[id].quantized ? &sm->res[id] : NULL;
    int rc = sm->sink.write_layer(sm->sink.ctx, L, res, sm->rep, err);
    for (int id = 0; id < QZ_LIN_COUNT; id++) qz_quant_result_free(&sm->res[id]);
    return rc;
}

int qz_smoother_new(qz_smoother **out, const qz_model *m, const qz_smooth_opts *o, int64_t nsamples, int64_t seqlen,
                    const qz_quant_sink *sink, qz_error *err)
{
    *out = NULL;
    if (!(o->alpha >= 0 && o->alpha <= 1) || !(o->alpha_step > 0 && o->alpha_step <= 1))
        return qz_fail(err, QZ_EINPUT, "smoothquant: alpha %g must be in [0, 1] and its step in (0, 1]", o->alpha);
    qz_smoother *sm = calloc(1, sizeof *sm);
    if (!sm) return qz_fail(err, QZ_EINTERNAL, "out of memory");
    sm->o = *o, sm->m = m, sm->sink = *sink, sm->nsamples = nsamples, sm->seqlen = seqlen;
    const qz_st_tensor *emb = qz_hf_model_find(m->hf, "model.embed_tokens.weight");
    sm->fp_dtype = emb ? emb->dtype : QZ_DTYPE_F32;
    sm->n_auto = o->auto_alpha ? (o->auto_samples < nsamples ? o->auto_samples : nsamples) : 0;
    int64_t d = m->cfg.hidden;
    int ok = 1;
    for (int g = 0; g < 2 && ok; g++) {
        ok = (sm->act_max[g] = qz_calloc_array((size_t)d, sizeof(float))) != NULL;
        if (ok && sm->n_auto) ok = (sm->cache[g] = qz_malloc_array((size_t)(sm->n_auto * seqlen * d), sizeof(float))) != NULL;
    }
    int rc = ok ? (sm->n_auto ? qz_scratch_new(&sm->scratch, &m->cfg, seqlen, err) : QZ_OK)
                : qz_fail(err, QZ_EINTERNAL, "out of memory for SmoothQuant statistics");
    if (rc) {
        qz_smoother_free(sm);
        return rc;
    }
    sm->method = (qz_method){.ctx = sm, .feed_fp_outputs = 1, .layer_begin = sm_layer_begin, .observe = sm_observe, .transform = sm_transform,
                             .layer_end = sm_layer_end};
    *out = sm;
    return QZ_OK;
}

const qz_method *qz_smoother_method(qz_smoother *sm)
{
    return &sm->method;
}

void qz_smoother_free(qz_smoother *sm)
{
    if (!sm) return;
    for (int g = 0; g < 2; g++) free(sm->act_max[g]), free(sm->cache[g]);
    for (int id = 0; id < QZ_LIN_COUNT; id++) qz_quant_result_free(&sm->res[id]);
    qz_scratch_free(sm->scratch);
    free(sm);
}
