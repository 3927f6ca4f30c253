/* prune.c - magnitude, Wanda and structured pruning over the pipeline (see
 * prune.h; FORMATS-AND-ALGORITHMS.md section 7, locuslab/wanda
 * lib/prune.py). Leaves out SparseGPT (sparsegpt.h, run by quantize.c) and
 * file layouts (the sink's). */
#include "prune.h"

#include "select.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

const char *qz_prune_scope_name(qz_prune_scope s)
{
    static const char *names[QZ_PRUNE_SCOPE_COUNT] = {"layer", "row", "global"};
    return (unsigned)s < QZ_PRUNE_SCOPE_COUNT ? names[s] : "?";
}

static int check_structured(const qz_prune_opts *o, const qz_model_config *c, qz_error *err)
{
    int64_t group = c->n_heads / c->n_kv_heads;
    if (o->keep_heads < 1 || o->keep_heads > c->n_heads)
        return qz_fail(err, QZ_EINPUT, "--heads %lld: the model has %lld attention heads per layer", (long long)o->keep_heads,
                       (long long)c->n_heads);
    if (o->keep_heads % group)
        return qz_fail(err, QZ_EINPUT,
                       "--heads %lld: must be a multiple of %lld (query heads per KV head: grouped-query attention keeps a "
                       "KV head with all its query heads)",
                       (long long)o->keep_heads, (long long)group);
    if (!(o->ffn_keep > 0.0 && o->ffn_keep <= 1.0) || llround(o->ffn_keep * (double)c->intermediate) < 1)
        return qz_fail(err, QZ_EINPUT, "--ffn-keep %g: must keep at least one of %lld FFN channels and at most all", o->ffn_keep,
                       (long long)c->intermediate);
    return QZ_OK;
}

int qz_prune_check(const qz_prune_opts *o, const qz_model_config *c, qz_error *err)
{
    if (o->method == QZ_QUANT_STRUCTURED) return check_structured(o, c, err);
    if (o->method != QZ_QUANT_MAGNITUDE && o->method != QZ_QUANT_WANDA && o->method != QZ_QUANT_SPARSEGPT)
        return qz_fail(err, QZ_EINPUT, "prune: method %s is not a pruning method", qz_quant_method_name(o->method));
    if (o->scope == QZ_PRUNE_SCOPE_GLOBAL && o->method != QZ_QUANT_MAGNITUDE)
        return qz_fail(err, QZ_EINPUT, "--scope global: only for magnitude (%s scores depend on the already pruned layers)",
                       qz_quant_method_name(o->method));
    if (o->prune_m == 0) {
        if (!(o->sparsity >= 0.0 && o->sparsity < 1.0))
            return qz_fail(err, QZ_EINPUT, "--sparsity %g: must be in [0, 1)", o->sparsity);
        return QZ_OK;
    }
    if (o->prune_n <= 0 || o->prune_n >= o->prune_m)
        return qz_fail(err, QZ_EINPUT, "--pattern %d:%d: need 0 < N < M (N of every M weights are pruned)", o->prune_n, o->prune_m);
    for (int id = 0; id < QZ_LIN_COUNT; id++) {
        int64_t in = qz_linear_in(c, (qz_linear_id)id);
        if (in % o->prune_m)
            return qz_fail(err, QZ_EINPUT, "--pattern %d:%d: M = %d does not divide in_features %lld of %s", o->prune_n, o->prune_m,
                           o->prune_m, (long long)in, qz_linear_name((qz_linear_id)id));
    }
    return QZ_OK;
}

/* ------------------------------------------------------------------------- */
/* Scope global: the threshold over every decoder linear                      */

static uint32_t abs_bits(float w)
{
    float a = fabsf(w);
    uint32_t b;
    memcpy(&b, &a, sizeof b);
    return b;
}

/* hist[bits >> 16] (high) or, for weights whose high half is hi, hist[bits & 0xffff]. */
static int histogram_pass(qz_model *m, int low, uint32_t hi, int64_t *hist, qz_error *err)
{
    memset(hist, 0, 65536 * sizeof *hist);
    for (int64_t l = 0; l < m->cfg.n_layers; l++) {
        qz_layer L;
        int rc = qz_layer_load(m, l, &L, err);
        for (int id = 0; id < QZ_LIN_COUNT && rc == QZ_OK; id++)
            for (int64_t i = 0; i < L.lin[id].out * L.lin[id].in; i++) {
                uint32_t b = abs_bits(L.lin[id].w[i]);
                if (!low) hist[b >> 16]++;
                else if (b >> 16 == hi) hist[b & 0xffff]++;
            }
        qz_layer_free(&L);
        if (rc) return rc;
    }
    return QZ_OK;
}

/* The bucket holding the k-th smallest (1-based k); *below = count before it. */
static uint32_t find_bucket(const int64_t *hist, int64_t k, int64_t *below)
{
    int64_t cum = 0;
    for (uint32_t b = 0; b < 65536; b++) {
        if (cum + hist[b] >= k) {
            *below = cum;
            return b;
        }
        cum += hist[b];
    }
    QZ_ASSERT(!"k beyond the histogram");
}

int qz_prune_global_threshold(qz_model *m, double sparsity, qz_prune_threshold *t, qz_error *err)
{
    memset(t, 0, sizeof *t);
    for (int id = 0; id < QZ_LIN_COUNT; id++)
        t->n += qz_linear_out(&m->cfg, (qz_linear_id)id) * qz_linear_in(&m->cfg, (qz_linear_id)id) * m->cfg.n_layers;
    t->k = (int64_t)((double)t->n * sparsity);
    if (t->k == 0) return QZ_OK;
    int64_t *hist = qz_malloc_array(65536, sizeof *hist);
    if (!hist) return qz_fail(err, QZ_EINTERNAL, "out of memory for the global threshold histogram");
    int64_t below_hi = 0, below_lo = 0;
    int rc = histogram_pass(m, 0, 0, hist, err);
    uint32_t hi = rc ? 0 : find_bucket(hist, t->k, &below_hi);
    if (rc == QZ_OK) rc = histogram_pass(m, 1, hi, hist, err);
    if (rc == QZ_OK) {
        uint32_t lo = find_bucket(hist, t->k - below_hi, &below_lo);
        t->bits = hi << 16 | lo;
        t->ties = t->k - below_hi - below_lo;
    }
    free(hist);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* The method                                                                 */

struct qz_pruner {
    qz_prune_opts o;
    qz_model_config cfg;
    qz_quant_sink sink;
    qz_method method;
    int64_t site_dim[QZ_SITE_COUNT];
    double *sumsq[QZ_SITE_COUNT];  /* (site dim) sum_t x_tj^2 (wanda: every site; structured: DOWN_IN) */
    double *gram;                  /* structured: (n_heads, hd, hd) G_h at O_IN */
    float *gram_f;                 /* (hd, hd) one batch's G_h */
    float *score;                  /* (max out*in) */
    uint8_t *keep;                 /* (max out*in) */
    int64_t global_ties;           /* scope global: ties still to prune */
    /* structured: kept units of the current layer, ascending */
    int64_t *kept_kv, n_kv_keep;   /* (n_kv_heads) */
    int64_t *kept_ch, n_ch_keep;   /* (intermediate) */
    float *unit_score;             /* (max(n_kv_heads, intermediate)) */
    qz_layer small;                /* the shrunken layer handed to the sink */
    float *bias_buf[QZ_LIN_COUNT]; /* (small out) used where the linear has a bias */
    qz_module_report rep[QZ_LIN_COUNT];
};

static int p_layer_begin(void *ctx, const qz_model *m, qz_layer *L, qz_error *err)
{
    (void)m, (void)err;
    qz_pruner *p = ctx;
    for (int s = 0; s < QZ_SITE_COUNT; s++)
        if (p->sumsq[s]) memset(p->sumsq[s], 0, (size_t)p->site_dim[s] * sizeof(double));
    if (p->gram) memset(p->gram, 0, (size_t)(p->cfg.n_heads * p->cfg.head_dim * p->cfg.head_dim) * sizeof(double));
    for (int id = 0; id < QZ_LIN_COUNT; id++)
        p->rep[id] = (qz_module_report){.layer = L->index, .id = (qz_linear_id)id, .method = p->o.method, .pruned = 1};
    return QZ_OK;
}

/* G_h += X_h^T X_h for every head's head_dim slice of x (T, n_heads*hd). */
static void observe_heads(qz_pruner *p, const float *x, int64_t T)
{
    int64_t hd = p->cfg.head_dim, qd = p->cfg.n_heads * hd;
    for (int64_t h = 0; h < p->cfg.n_heads; h++) {
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (blasint)hd, (blasint)T, 1.0f, x + h * hd, (blasint)qd, 0.0f, p->gram_f,
                    (blasint)hd);
        double *g = p->gram + h * hd * hd;
        for (int64_t a = 0; a < hd; a++)
            for (int64_t b = a; b < hd; b++) g[a * hd + b] += p->gram_f[a * hd + b];
    }
}

static void p_observe(void *ctx, const qz_layer *L, qz_site site, const float *x, int64_t T)
{
    (void)L;
    qz_pruner *p = ctx;
    if (p->o.method == QZ_QUANT_STRUCTURED && site == QZ_SITE_O_IN) {
        observe_heads(p, x, T);
        return;
    }
    double *s = p->sumsq[site];
    if (!s) return;
    int64_t d = p->site_dim[site];
    for (int64_t t = 0; t < T; t++)
        for (int64_t j = 0; j < d; j++) s[j] += (double)x[t * d + j] * (double)x[t * d + j];
}

static int check_stats(qz_pruner *p, const qz_layer *L, qz_error *err)
{
    int64_t ng = p->gram ? p->cfg.n_heads * p->cfg.head_dim * p->cfg.head_dim : 0;
    for (int64_t i = 0; i < ng; i++)
        if (!isfinite(p->gram[i]))
            return qz_fail(err, QZ_EINPUT, "layer %lld %s: input activations are not finite", (long long)L->index,
                           qz_site_name(QZ_SITE_O_IN));
    for (int s = 0; s < QZ_SITE_COUNT; s++)
        for (int64_t j = 0; p->sumsq[s] && j < p->site_dim[s]; j++)
            if (!isfinite(p->sumsq[s][j]))
                return qz_fail(err, QZ_EINPUT, "layer %lld %s: input activations are not finite (column %lld)", (long long)L->index,
                               qz_site_name((qz_site)s), (long long)j);
    return QZ_OK;
}

/* keep[] for linear l from its scores, by pattern and scope. */
static void unstructured_mask(qz_pruner *p, const qz_linear *l)
{
    int64_t n = l->out * l->in;
    const qz_prune_opts *o = &p->o;
    if (o->prune_m) qz_select_nm(p->score, n, o->prune_n, o->prune_m, p->keep);
    else if (o->scope == QZ_PRUNE_SCOPE_ROW)
        for (int64_t r = 0; r < l->out; r++)
            qz_select_smallest(p->score + r * l->in, l->in, (int64_t)((double)l->in * o->sparsity), p->keep + r * l->in);
    else if (o->scope == QZ_PRUNE_SCOPE_LAYER) qz_select_smallest(p->score, n, (int64_t)((double)n * o->sparsity), p->keep);
    else
        for (int64_t i = 0; i < n; i++) {
            uint32_t b = abs_bits(l->w[i]);
            p->keep[i] = b > o->global.bits || (b == o->global.bits && p->global_ties == 0);
            if (b == o->global.bits && p->global_ties > 0) p->global_ties--;
        }
}

static void prune_linear(qz_pruner *p, qz_layer *L, qz_linear_id id)
{
    double t0 = qz_now();
    qz_linear *l = &L->lin[id];
    const double *ss = p->o.method == QZ_QUANT_WANDA ? p->sumsq[qz_linear_site(id)] : NULL;
    for (int64_t r = 0; r < l->out; r++)
        for (int64_t j = 0; j < l->in; j++)
            p->score[r * l->in + j] = fabsf(l->w[r * l->in + j]) * (ss ? (float)sqrt(ss[j]) : 1.0f);
    unstructured_mask(p, l);
    for (int64_t i = 0; i < l->out * l->in; i++)
        if (!p->keep[i]) l->w[i] = 0.0f;
    p->rep[id].sparsity = (double)qz_count_zeros(l->w, l->out * l->in) / (double)(l->out * l->in);
    p->rep[id].seconds = qz_now() - t0;
}

/* ------------------------------------------------------------------------- */
/* Structured                                                                 */

/* Keeps the n_keep best of score[0..n) (the others pruned as smallest); kept
 * indices ascending into kept. */
static void keep_best(qz_pruner *p, const float *score, int64_t n, int64_t n_keep, int64_t *kept)
{
    qz_select_smallest(score, n, n - n_keep, p->keep);
    for (int64_t i = 0, k = 0; i < n; i++)
        if (p->keep[i]) kept[k++] = i;
}

/* E_h for every query head summed into its KV group. */
static void score_kv_groups(qz_pruner *p, const qz_layer *L)
{
    const qz_model_config *c = &p->cfg;
    int64_t hd = c->head_dim, qd = c->n_heads * hd, group = c->n_heads / c->n_kv_heads;
    const float *wo = L->lin[QZ_LIN_O].w; /* (hidden, qd) */
    for (int64_t g = 0; g < c->n_kv_heads; g++) p->unit_score[g] = 0.0f;
    for (int64_t h = 0; h < c->n_heads; h++) {
        const double *G = p->gram + h * hd * hd; /* upper triangle */
        double e = 0;
        for (int64_t r = 0; r < c->hidden; r++) {
            const float *w = wo + r * qd + h * hd;
            for (int64_t a = 0; a < hd; a++) {
                e += (double)w[a] * w[a] * G[a * hd + a];
                for (int64_t b = a + 1; b < hd; b++) e += 2.0 * (double)w[a] * w[b] * G[a * hd + b];
            }
        }
        p->unit_score[h / group] += (float)e;
    }
}

static void score_channels(qz_pruner *p, const qz_layer *L)
{
    const qz_linear *down = &L->lin[QZ_LIN_DOWN]; /* (hidden, intermediate) */
    for (int64_t j = 0; j < down->in; j++) {
        double n2 = 0;
        for (int64_t r = 0; r < down->out; r++) n2 += (double)down->w[r * down->in + j] * down->w[r * down->in + j];
        p->unit_score[j] = (float)(n2 * p->sumsq[QZ_SITE_DOWN_IN][j]);
    }
}

/* Zeroes rows [r0, r0+n) of l (and their biases) or columns [c0, c0+n). */
static void zero_rows(qz_linear *l, int64_t r0, int64_t n)
{
    memset(l->w + r0 * l->in, 0, (size_t)(n * l->in) * sizeof(float));
    if (l->bias) memset(l->bias + r0, 0, (size_t)n * sizeof(float));
}

static void zero_cols(qz_linear *l, int64_t c0, int64_t n)
{
    for (int64_t r = 0; r < l->out; r++) memset(l->w + r * l->in + c0, 0, (size_t)n * sizeof(float));
}

static void mask_structured(qz_pruner *p, qz_layer *L)
{
    const qz_model_config *c = &p->cfg;
    int64_t hd = c->head_dim, group = c->n_heads / c->n_kv_heads;
    for (int64_t g = 0, k = 0; g < c->n_kv_heads; g++) {
        if (k < p->n_kv_keep && p->kept_kv[k] == g) {
            k++;
            continue;
        }
        zero_rows(&L->lin[QZ_LIN_K], g * hd, hd);
        zero_rows(&L->lin[QZ_LIN_V], g * hd, hd);
        zero_rows(&L->lin[QZ_LIN_Q], g * group * hd, group * hd);
        zero_cols(&L->lin[QZ_LIN_O], g * group * hd, group * hd);
    }
    for (int64_t j = 0, k = 0; j < c->intermediate; j++) {
        if (k < p->n_ch_keep && p->kept_ch[k] == j) {
            k++;
            continue;
        }
        zero_rows(&L->lin[QZ_LIN_GATE], j, 1);
        zero_rows(&L->lin[QZ_LIN_UP], j, 1);
        zero_cols(&L->lin[QZ_LIN_DOWN], j, 1);
    }
}

static int prune_structured(qz_pruner *p, qz_layer *L)
{
    double t0 = qz_now();
    score_kv_groups(p, L);
    keep_best(p, p->unit_score, p->cfg.n_kv_heads, p->n_kv_keep, p->kept_kv);
    score_channels(p, L);
    keep_best(p, p->unit_score, p->cfg.intermediate, p->n_ch_keep, p->kept_ch);
    mask_structured(p, L);
    double secs = (qz_now() - t0) / QZ_LIN_COUNT;
    for (int id = 0; id < QZ_LIN_COUNT; id++) {
        const qz_linear *l = &L->lin[id], *s = &p->small.lin[id];
        p->rep[id].sparsity = 1.0 - (double)(s->out * s->in) / (double)(l->out * l->in);
        p->rep[id].seconds = secs;
    }
    return QZ_OK;
}

static int p_transform(void *ctx, qz_layer *L, const qz_linear_id *ids, int n, qz_error *err)
{
    qz_pruner *p = ctx;
    int rc = check_stats(p, L, err);
    if (rc) return rc;
    if (p->o.method == QZ_QUANT_STRUCTURED) return prune_structured(p, L);
    for (int i = 0; i < n; i++) prune_linear(p, L, ids[i]);
    return QZ_OK;
}

/* Gathers rows (units of `unit` rows at the kept indices) of src into dst. */
static void gather_rows(qz_linear *dst, const qz_linear *src, const int64_t *kept, int64_t n_kept, int64_t unit)
{
    for (int64_t k = 0; k < n_kept; k++) {
        memcpy(dst->w + k * unit * src->in, src->w + kept[k] * unit * src->in, (size_t)(unit * src->in) * sizeof(float));
        if (src->bias) memcpy(dst->bias + k * unit, src->bias + kept[k] * unit, (size_t)unit * sizeof(float));
    }
}

static void gather_cols(qz_linear *dst, const qz_linear *src, const int64_t *kept, int64_t n_kept, int64_t unit)
{
    for (int64_t r = 0; r < src->out; r++)
        for (int64_t k = 0; k < n_kept; k++)
            memcpy(dst->w + r * dst->in + k * unit, src->w + r * src->in + kept[k] * unit, (size_t)unit * sizeof(float));
    if (src->bias) memcpy(dst->bias, src->bias, (size_t)src->out * sizeof(float));
}

static const qz_layer *shrink(qz_pruner *p, const qz_layer *L)
{
    int64_t hd = p->cfg.head_dim, group = p->cfg.n_heads / p->cfg.n_kv_heads;
    qz_layer *s = &p->small;
    s->index = L->index;
    s->attn_norm = L->attn_norm;
    s->mlp_norm = L->mlp_norm;
    for (int id = 0; id < QZ_LIN_COUNT; id++) s->lin[id].bias = L->lin[id].bias ? p->bias_buf[id] : NULL;
    gather_rows(&s->lin[QZ_LIN_Q], &L->lin[QZ_LIN_Q], p->kept_kv, p->n_kv_keep, group * hd);
    gather_rows(&s->lin[QZ_LIN_K], &L->lin[QZ_LIN_K], p->kept_kv, p->n_kv_keep, hd);
    gather_rows(&s->lin[QZ_LIN_V], &L->lin[QZ_LIN_V], p->kept_kv, p->n_kv_keep, hd);
    gather_cols(&s->lin[QZ_LIN_O], &L->lin[QZ_LIN_O], p->kept_kv, p->n_kv_keep, group * hd);
    gather_rows(&s->lin[QZ_LIN_GATE], &L->lin[QZ_LIN_GATE], p->kept_ch, p->n_ch_keep, 1);
    gather_rows(&s->lin[QZ_LIN_UP], &L->lin[QZ_LIN_UP], p->kept_ch, p->n_ch_keep, 1);
    gather_cols(&s->lin[QZ_LIN_DOWN], &L->lin[QZ_LIN_DOWN], p->kept_ch, p->n_ch_keep, 1);
    return s;
}

static int p_layer_end(void *ctx, const qz_model *m, const qz_layer *L, qz_error *err)
{
    (void)m;
    qz_pruner *p = ctx;
    const qz_quant_result *none[QZ_LIN_COUNT] = {0};
    const qz_layer *out = p->o.method == QZ_QUANT_STRUCTURED ? shrink(p, L) : L;
    return p->sink.write_layer(p->sink.ctx, out, none, p->rep, err);
}

/* ------------------------------------------------------------------------- */
/* Construction                                                               */

/* The shrunken config: shapes of p->small. */
static qz_model_config small_config(const qz_prune_opts *o, const qz_model_config *c)
{
    qz_model_config s = *c;
    s.n_heads = o->keep_heads;
    s.n_kv_heads = o->keep_heads / (c->n_heads / c->n_kv_heads);
    s.intermediate = llround(o->ffn_keep * (double)c->intermediate);
    return s;
}

cJSON *qz_prune_config_patch(const qz_prune_opts *o, const qz_model_config *c)
{
    qz_model_config s = small_config(o, c);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "num_attention_heads", (double)s.n_heads);
    cJSON_AddNumberToObject(j, "num_key_value_heads", (double)s.n_kv_heads);
    cJSON_AddNumberToObject(j, "head_dim", (double)s.head_dim);
    cJSON_AddNumberToObject(j, "intermediate_size", (double)s.intermediate);
    return j;
}

static int alloc_structured(qz_pruner *p)
{
    const qz_model_config *c = &p->cfg;
    qz_model_config s = small_config(&p->o, c);
    p->n_kv_keep = s.n_kv_heads;
    p->n_ch_keep = s.intermediate;
    int64_t hd = c->head_dim, units = c->n_kv_heads > c->intermediate ? c->n_kv_heads : c->intermediate;
    int ok = (p->gram = qz_calloc_array((size_t)(c->n_heads * hd * hd), sizeof(double))) &&
             (p->gram_f = qz_malloc_array((size_t)(hd * hd), sizeof(float))) &&
             (p->sumsq[QZ_SITE_DOWN_IN] = qz_calloc_array((size_t)c->intermediate, sizeof(double))) &&
             (p->kept_kv = qz_malloc_array((size_t)c->n_kv_heads, sizeof(int64_t))) &&
             (p->kept_ch = qz_malloc_array((size_t)c->intermediate, sizeof(int64_t))) &&
             (p->unit_score = qz_malloc_array((size_t)units, sizeof(float)));
    for (int id = 0; id < QZ_LIN_COUNT && ok; id++) {
        qz_linear *l = &p->small.lin[id];
        l->out = qz_linear_out(&s, (qz_linear_id)id);
        l->in = qz_linear_in(&s, (qz_linear_id)id);
        ok = (l->w = qz_malloc_array((size_t)(l->out * l->in), sizeof(float))) &&
             (p->bias_buf[id] = qz_malloc_array((size_t)l->out, sizeof(float)));
    }
    return ok;
}

int qz_pruner_new(qz_pruner **out, const qz_model_config *cfg, const qz_prune_opts *o, const qz_quant_sink *sink, qz_error *err)
{
    *out = NULL;
    int rc = qz_prune_check(o, cfg, err);
    if (rc) return rc;
    if (o->method == QZ_QUANT_SPARSEGPT) return qz_fail(err, QZ_EINPUT, "prune: sparsegpt runs as a quantize.h method");
    qz_pruner *p = calloc(1, sizeof *p);
    if (!p) return qz_fail(err, QZ_EINTERNAL, "out of memory");
    p->o = *o;
    p->cfg = *cfg;
    p->sink = *sink;
    p->global_ties = o->global.ties;
    int64_t max_w = 0;
    for (int id = 0; id < QZ_LIN_COUNT; id++) {
        int64_t in = qz_linear_in(cfg, (qz_linear_id)id), n = in * qz_linear_out(cfg, (qz_linear_id)id);
        p->site_dim[qz_linear_site((qz_linear_id)id)] = in;
        max_w = n > max_w ? n : max_w;
    }
    int ok = (p->score = qz_malloc_array((size_t)max_w, sizeof(float))) && (p->keep = qz_malloc_array((size_t)max_w, 1));
    for (int s = 0; ok && o->method == QZ_QUANT_WANDA && s < QZ_SITE_COUNT; s++)
        ok = (p->sumsq[s] = qz_calloc_array((size_t)p->site_dim[s], sizeof(double))) != NULL;
    if (ok && o->method == QZ_QUANT_STRUCTURED) ok = alloc_structured(p);
    if (!ok) {
        qz_pruner_free(p);
        return qz_fail(err, QZ_EINTERNAL, "out of memory for pruning buffers of %lld weights", (long long)max_w);
    }
    int calibrated = o->method != QZ_QUANT_MAGNITUDE;
    p->method = (qz_method){.ctx = p, .layer_begin = p_layer_begin, .observe = calibrated ? p_observe : NULL,
                            .transform = p_transform, .layer_end = p_layer_end};
    *out = p;
    return QZ_OK;
}

const qz_method *qz_pruner_method(qz_pruner *p)
{
    return &p->method;
}

void qz_pruner_free(qz_pruner *p)
{
    if (!p) return;
    for (int s = 0; s < QZ_SITE_COUNT; s++) free(p->sumsq[s]);
    for (int id = 0; id < QZ_LIN_COUNT; id++) {
        free(p->small.lin[id].w);
        free(p->bias_buf[id]);
    }
    free(p->gram);
    free(p->gram_f);
    free(p->score);
    free(p->keep);
    free(p->kept_kv);
    free(p->kept_ch);
    free(p->unit_score);
    free(p);
}
