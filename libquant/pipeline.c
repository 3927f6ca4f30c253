/* pipeline.c - the layer-wise calibration pass (see pipeline.h): samples go
 * through each layer in groups (one sgemm per linear over a group's rows);
 * true-sequential stages compute only what their observers need, and resume
 * from what the stage before computed when it fits in the cache budget. */
#include "pipeline.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    qz_site sites[QZ_SITE_COUNT];
    int n_sites;
    qz_linear_id ids[QZ_LIN_COUNT];
    int n_ids;
} stage;

/* GPTQ's true-sequential order (its inside_layer_modules), or one stage. */
static int make_stages(int true_sequential, stage *st)
{
    if (!true_sequential) {
        stage all = {{QZ_SITE_ATTN_IN, QZ_SITE_O_IN, QZ_SITE_MLP_IN, QZ_SITE_DOWN_IN}, 4,
                     {QZ_LIN_Q, QZ_LIN_K, QZ_LIN_V, QZ_LIN_O, QZ_LIN_GATE, QZ_LIN_UP, QZ_LIN_DOWN}, 7};
        st[0] = all;
        return 1;
    }
    stage seq[4] = {{{QZ_SITE_ATTN_IN}, 1, {QZ_LIN_Q, QZ_LIN_K, QZ_LIN_V}, 3},
                    {{QZ_SITE_O_IN}, 1, {QZ_LIN_O}, 1},
                    {{QZ_SITE_MLP_IN}, 1, {QZ_LIN_GATE, QZ_LIN_UP}, 2},
                    {{QZ_SITE_DOWN_IN}, 1, {QZ_LIN_DOWN}, 1}};
    memcpy(st, seq, sizeof seq);
    return 4;
}

typedef struct {
    const qz_method *meth;
    const stage *st;
} stage_filter;

static void filtered_observe(void *ctx, const qz_layer *L, qz_site site, const float *x, int64_t T)
{
    const stage_filter *f = ctx;
    for (int i = 0; i < f->st->n_sites; i++)
        if (f->st->sites[i] == site) f->meth->observe(f->meth->ctx, L, site, x, T);
}

typedef struct {
    qz_model *m;
    int64_t nsamples, seqlen, L;
    int64_t group; /* samples per forward call */
    qz_scratch *s;
    float *copy; /* (group*seqlen, hidden) a pass's discarded copy */
    float *cache; /* (nsamples*seqlen, width of the kept site) a site's inputs kept for the next stage, or NULL */
    qz_progress_fn progress;
    void *pctx;
    double t0;
    int64_t passes_done, passes_total; /* sample passes */
    int64_t passes_per_sample;         /* layer passes per sample over the model */
} run_state;

static void count_passes(run_state *rs, const qz_layer *L, int64_t n)
{
    rs->passes_done += n;
    if (rs->progress) {
        qz_progress p = {"layer", L->index + 1, rs->L, rs->passes_done, rs->passes_total, qz_now() - rs->t0,
                         rs->passes_done * rs->seqlen * rs->m->cfg.n_layers / rs->passes_per_sample};
        rs->progress(rs->pctx, &p);
    }
}

static int64_t group_at(const run_state *rs, int64_t i)
{
    return rs->nsamples - i < rs->group ? rs->nsamples - i : rs->group;
}

/* Row width of a site's input. */
static int64_t site_dim(const qz_model_config *c, qz_site site)
{
    return site == QZ_SITE_O_IN ? c->n_heads * c->head_dim : site == QZ_SITE_DOWN_IN ? c->intermediate : c->hidden;
}

/* Samples [i, i+g) of the cache when it holds site's inputs; *bytes their size. */
static float *cache_rows(const run_state *rs, qz_site site, int64_t i, int64_t g, size_t *bytes)
{
    int64_t w = site_dim(&rs->m->cfg, site);
    QZ_ASSERT(rs->cache);
    *bytes = (size_t)(g * rs->seqlen * w) * sizeof(float);
    return rs->cache + i * rs->seqlen * w;
}

/* One pass over every sample, rs->group samples per forward call, of the
 * part of L that qz_layer_forward_part(from, stop) runs, on x in place, or
 * on a copy in out (NULL: a scratch copy, discarded). A from site whose
 * input the part takes from the scratch (O_IN, DOWN_IN) gets it from
 * rs->cache; keep: the stop site's inputs go to rs->cache. */
static void layer_pass(run_state *rs, const qz_layer *L, float *x, float *out, qz_site from, qz_site stop, int keep,
                       const qz_observer *obs)
{
    int64_t n = rs->seqlen * rs->m->cfg.hidden;
    for (int64_t i = 0; i < rs->nsamples; i += rs->group) {
        int64_t g = group_at(rs, i);
        float *y = out ? out + i * n : rs->copy;
        if (y != x + i * n) memcpy(y, x + i * n, (size_t)(g * n) * sizeof(float));
        size_t bytes;
        if (from == QZ_SITE_O_IN || from == QZ_SITE_DOWN_IN) {
            const float *kept = cache_rows(rs, from, i, g, &bytes);
            memcpy(qz_scratch_site_input(rs->s, from), kept, bytes);
        }
        qz_layer_forward_part(rs->m, L, y, g, rs->seqlen, rs->s, from, stop, obs);
        if (keep) {
            float *kept = cache_rows(rs, stop, i, g, &bytes);
            memcpy(kept, qz_scratch_site_input(rs->s, stop), bytes);
        }
        count_passes(rs, L, g);
    }
}

/* The four true-sequential stages, each run only as far as its site. The
 * attention half does not change after the o stage, so the gate/up stage
 * leaves the post-attention residual in x and the down stage and the final
 * pass start from it. With the cache, the gate/up stage starts from the
 * attention outputs the o stage computed, and the final pass from the
 * SwiGLU outputs the down stage computed: each linear runs once, with its
 * transformed weights. */
static int run_true_sequential(run_state *rs, const qz_method *meth, const stage *st, qz_layer *L, float *x, qz_error *err)
{
    int rc = QZ_OK, cached = rs->cache != NULL;
    static const qz_site from_cached[4] = {QZ_SITE_ATTN_IN, QZ_SITE_ATTN_IN, QZ_SITE_O_IN, QZ_SITE_MLP_IN};
    static const qz_site from_plain[4] = {QZ_SITE_ATTN_IN, QZ_SITE_ATTN_IN, QZ_SITE_ATTN_IN, QZ_SITE_MLP_IN};
    for (int k = 0; k < 4 && rc == QZ_OK; k++) {
        stage_filter f = {meth, &st[k]};
        qz_observer obs = {meth->observe ? filtered_observe : NULL, &f};
        qz_site stop = st[k].sites[0];
        /* only the gate/up stage changes x: to h */
        layer_pass(rs, L, x, x, cached ? from_cached[k] : from_plain[k], stop, cached && (k == 1 || k == 3), &obs);
        rc = meth->transform(meth->ctx, L, st[k].ids, st[k].n_ids, err);
    }
    if (rc == QZ_OK) layer_pass(rs, L, x, x, cached ? QZ_SITE_DOWN_IN : QZ_SITE_MLP_IN, QZ_SITE_COUNT, 0, NULL);
    return rc;
}

/* Whether a layer runs the four true-sequential stages (observed, sequential). */
static int staged(const qz_method *meth)
{
    return meth->transform && meth->observe && meth->true_sequential && !meth->feed_fp_outputs;
}

/* Whether a layer needs passes before its transform: something observes the
 * inputs, or the method keeps the untransformed outputs. */
static int observing(const qz_method *meth)
{
    return meth->transform && (meth->observe || meth->feed_fp_outputs);
}

static int run_layer(run_state *rs, const qz_method *meth, int64_t l, float *x, float *fp_out, qz_error *err)
{
    stage st[4];
    int n_st = make_stages(meth->true_sequential, st);
    qz_layer L;
    int rc = qz_layer_load(rs->m, l, &L, err);
    if (rc == QZ_OK && meth->layer_begin) rc = meth->layer_begin(meth->ctx, rs->m, &L, err);
    if (rc == QZ_OK && staged(meth)) {
        rc = run_true_sequential(rs, meth, st, &L, x, err);
    } else if (rc == QZ_OK) {
        if (!observing(meth)) { /* nothing to observe (plain forward, RTN, magnitude): one pass after the transforms */
            for (int s = 0; s < n_st && rc == QZ_OK && meth->transform; s++) rc = meth->transform(meth->ctx, &L, st[s].ids, st[s].n_ids, err);
            n_st = 0;
        }
        for (int s = 0; s < n_st && rc == QZ_OK; s++) {
            stage_filter f = {meth, &st[s]};
            qz_observer obs = {meth->observe ? filtered_observe : NULL, &f};
            /* an output nobody keeps needs no down_proj */
            layer_pass(rs, &L, x, s == 0 ? fp_out : NULL, QZ_SITE_ATTN_IN, s == 0 && fp_out ? QZ_SITE_COUNT : QZ_SITE_DOWN_IN, 0, &obs);
            rc = meth->transform(meth->ctx, &L, st[s].ids, st[s].n_ids, err);
        }
        if (rc == QZ_OK) {
            if (fp_out) memcpy(x, fp_out, (size_t)(rs->nsamples * rs->seqlen * rs->m->cfg.hidden) * sizeof(float));
            else layer_pass(rs, &L, x, x, QZ_SITE_ATTN_IN, QZ_SITE_COUNT, 0, NULL);
        }
    }
    if (rc == QZ_OK && meth->layer_end) rc = meth->layer_end(meth->ctx, rs->m, &L, err);
    qz_layer_free(&L);
    return rc;
}

/* Samples per forward call: as many as QZ_PIPELINE_BATCH_BYTES of
 * activations hold (the scratch plus the copy above), at least one. */
static int64_t forward_group(const qz_model_config *c, int64_t nsamples, int64_t seqlen)
{
    int64_t qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim;
    int64_t widest = c->intermediate > qd ? c->intermediate : qd;
    widest = widest > c->hidden ? widest : c->hidden;
    int64_t per_row = 3 * c->hidden + 2 * qd + 2 * kvd + 2 * c->intermediate + widest;
    int64_t g = (int64_t)(QZ_PIPELINE_BATCH_BYTES / sizeof(float)) / (per_row * seqlen);
    return g < 1 ? 1 : g < nsamples ? g : nsamples;
}

/* QZ_PIPELINE_CACHE_MIB (a count of MiB, 0: no cache), or the default. */
static size_t cache_budget(void)
{
    const char *e = getenv("QZ_PIPELINE_CACHE_MIB");
    char *end = NULL;
    long long mib = e && *e ? strtoll(e, &end, 10) : -1;
    return mib >= 0 && end && !*end ? (size_t)mib << 20 : QZ_PIPELINE_CACHE_BYTES;
}

/* The true-sequential cache when the method takes that path and one site's
 * inputs over all samples fit in the budget; NULL otherwise (recompute). */
static float *cache_new(const qz_model_config *c, int64_t nsamples, int64_t seqlen, const qz_method *meth)
{
    if (!staged(meth)) return NULL;
    int64_t dim = site_dim(c, QZ_SITE_O_IN) > site_dim(c, QZ_SITE_DOWN_IN) ? site_dim(c, QZ_SITE_O_IN) : site_dim(c, QZ_SITE_DOWN_IN);
    if ((double)nsamples * (double)seqlen * (double)dim * sizeof(float) > (double)cache_budget()) return NULL;
    return qz_malloc_array((size_t)(nsamples * seqlen * dim), sizeof(float)); /* NULL: recompute */
}

int qz_pipeline_run(qz_model *m, const int32_t *windows, int64_t nsamples, int64_t seqlen, const qz_method *meth,
                    qz_progress_fn progress, void *progress_ctx, float *x_out, qz_error *err)
{
    int64_t n = nsamples * seqlen * m->cfg.hidden;
    for (int64_t i = 0; i < nsamples * seqlen; i++)
        if (windows[i] < 0 || windows[i] >= m->cfg.vocab)
            return qz_fail(err, QZ_EINPUT, "token id %d outside the model's vocabulary of %lld (tokenizer does not match the model)", windows[i], (long long)m->cfg.vocab);
    run_state rs = {m, nsamples, seqlen, m->cfg.n_layers, forward_group(&m->cfg, nsamples, seqlen), NULL, NULL,
                    cache_new(&m->cfg, nsamples, seqlen, meth), progress, progress_ctx, qz_now(), 0, 0, 0};
    int64_t stages = !observing(meth) ? 0 : meth->true_sequential ? 4 : 1;
    rs.passes_per_sample = m->cfg.n_layers * (stages + (meth->feed_fp_outputs ? 0 : 1));
    rs.passes_total = rs.passes_per_sample * nsamples;
    float *x = x_out ? x_out : qz_malloc_array((size_t)n, sizeof(float));
    float *fp_out = meth->feed_fp_outputs ? qz_malloc_array((size_t)n, sizeof(float)) : NULL;
    rs.copy = qz_malloc_array((size_t)(rs.group * seqlen * m->cfg.hidden), sizeof(float));
    int rc = x && rs.copy && (fp_out || !meth->feed_fp_outputs)
                 ? QZ_OK
                 : qz_fail(err, QZ_EINTERNAL, "out of memory for %lld calibration samples of %lld tokens", (long long)nsamples, (long long)seqlen);
    if (rc == QZ_OK) rc = qz_model_reserve(m, seqlen, err);
    if (rc == QZ_OK) rc = qz_scratch_new(&rs.s, &m->cfg, rs.group * seqlen, err);
    if (rc == QZ_OK) qz_model_embed(m, windows, nsamples * seqlen, x);
    for (int64_t l = 0; l < m->cfg.n_layers && rc == QZ_OK; l++) rc = run_layer(&rs, meth, l, x, fp_out, err);
    qz_scratch_free(rs.s);
    free(rs.copy);
    free(rs.cache);
    free(fp_out);
    if (x != x_out) free(x);
    return rc;
}
