/* compare.c - base vs candidate statistics (see compare.h): per-token KL,
 * top-1 and dp from log-softmax in double, the top-k cache estimate,
 * quantiles, t-distribution confidence intervals, and the runs that feed
 * them chunk by chunk from qz_eval_chunks. */
#include "compare.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* ------------------------------------------------------------ t quantile */

/* Continued fraction of the regularized incomplete beta function I_x(a, b)
 * (modified Lentz), converging for x < (a + 1) / (a + b + 2):
 *   I_x = x^a y^b / (a B(a, b)) * 1 / (1 + d1 / (1 + d2 / (1 + ...))),
 *   d_{2m+1} = -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1)),
 *   d_{2m}   = m (b - m) x / ((a + 2m - 1)(a + 2m)). */
static double beta_cf(double a, double b, double x)
{
    const double tiny = 1e-300;
    double c = 1, d = 1 - (a + b) * x / (a + 1);
    d = 1 / (fabs(d) < tiny ? tiny : d);
    double f = d;
    for (int m = 1; m <= 10000; m++) {
        for (int odd = 0; odd < 2; odd++) {
            double num = odd ? -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
                             : m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m));
            d = 1 + num * d;
            d = 1 / (fabs(d) < tiny ? tiny : d);
            c = 1 + num / c;
            c = fabs(c) < tiny ? tiny : c;
            f *= c * d;
            if (odd && fabs(c * d - 1) < 1e-15) return f;
        }
    }
    return f;
}

/* I_x(a, b) with y = 1 - x given separately (no cancellation near x = 1). */
static double ibeta(double a, double b, double x, double y)
{
    if (x <= 0) return 0;
    if (y <= 0) return 1;
    double front = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log(y));
    return x < (a + 1) / (a + b + 2) ? front * beta_cf(a, b, x) / a : 1 - front * beta_cf(b, a, y) / b;
}

/* P(T > t) for t >= 0: I_{df/(df+t^2)}(df/2, 1/2) / 2. */
static double t_upper(double t, double df)
{
    double t2 = t * t;
    return 0.5 * ibeta(df / 2, 0.5, df / (df + t2), t2 / (df + t2));
}

double qz_t_cdf(double t, double df)
{
    if (!(df > 0) || isnan(t)) return NAN;
    return t >= 0 ? 1 - t_upper(t, df) : t_upper(-t, df);
}

double qz_t_quantile(double p, double df)
{
    if (!(df > 0) || !(p > 0 && p < 1)) return NAN;
    if (p < 0.5) return -qz_t_quantile(1 - p, df);
    double tail = 1 - p, lo = 0, hi = 1;
    while (t_upper(hi, df) > tail && hi < 1e300) lo = hi, hi *= 2;
    for (int i = 0; i < 200 && hi - lo > 1e-14 * hi; i++) {
        double mid = 0.5 * (lo + hi);
        if (t_upper(mid, df) > tail) lo = mid;
        else hi = mid;
    }
    return 0.5 * (lo + hi);
}

/* ---------------------------------------------------- means and quantiles */

double qz_quantile_sorted(const double *x, int64_t n, double q)
{
    QZ_ASSERT(n >= 1 && q >= 0 && q <= 1);
    double h = (double)(n - 1) * q;
    int64_t lo = (int64_t)floor(h), hi = lo + 1 < n ? lo + 1 : n - 1;
    return x[lo] + (h - (double)lo) * (x[hi] - x[lo]);
}

double qz_mean_ci95(const double *x, int64_t n, double ci[2])
{
    QZ_ASSERT(n >= 1);
    double mean = 0, ss = 0;
    for (int64_t i = 0; i < n; i++) mean += x[i];
    mean /= (double)n;
    for (int64_t i = 0; i < n; i++) ss += (x[i] - mean) * (x[i] - mean);
    ci[0] = ci[1] = NAN;
    if (n >= 2) {
        double half = qz_t_quantile(0.975, (double)(n - 1)) * sqrt(ss / (double)(n - 1)) / sqrt((double)n);
        ci[0] = mean - half, ci[1] = mean + half;
    }
    return mean;
}

/* -------------------------------------------------------------- per token */

/* max of z (and its first index *argmax); *sum = sum_v exp(z_v - max) in
 * double, the terms stored in e when e is not NULL. log-softmax:
 * z_v - (max + log(*sum)). */
static double softmax_sum(const float *z, int64_t V, double *e, double *sum, int64_t *argmax)
{
    int64_t am = 0;
    for (int64_t v = 1; v < V; v++) am = z[v] > z[am] ? v : am;
    double mx = z[am], s = 0;
    for (int64_t v = 0; v < V; v++) {
        double ev = exp((double)z[v] - mx);
        if (e) e[v] = ev;
        s += ev;
    }
    *sum = s;
    *argmax = am;
    return mx;
}

void qz_cmp_token(const float *zb, const float *zc, int64_t V, int32_t y, double *scratch, qz_token_cmp *t)
{
    double sb, sc;
    int64_t ab, ac;
    double lse_b = softmax_sum(zb, V, scratch, &sb, &ab), lse_c = softmax_sum(zc, V, NULL, &sc, &ac);
    lse_b += log(sb), lse_c += log(sc);
    double kl = 0;
    for (int64_t v = 0; v < V; v++)
        if (scratch[v] > 0) kl += scratch[v] / sb * (((double)zb[v] - lse_b) - ((double)zc[v] - lse_c));
    t->nll_base = lse_b - zb[y];
    t->nll_cand = lse_c - zc[y];
    t->kl = kl;
    t->dp = exp(-t->nll_cand) - exp(-t->nll_base);
    t->top1_same = ab == ac;
}

/* ids (k) <- the k largest of z, descending; equal values keep ascending ids. */
static void top_k_ids(const float *z, int64_t V, int k, int32_t *ids)
{
    int m = 0;
    for (int64_t v = 0; v < V; v++) {
        if (m == k && !(z[v] > z[ids[k - 1]])) continue;
        int j = m < k ? m++ : k - 1;
        for (; j > 0 && z[v] > z[ids[j - 1]]; j--) ids[j] = ids[j - 1];
        ids[j] = (int32_t)v;
    }
}

/* sum over the ids not in ids[k] of exp(z_v - mx); leaves mark zero. */
static double tail_sum(const float *z, int64_t V, double mx, const int32_t *ids, int k, uint8_t *mark)
{
    double s = 0;
    for (int j = 0; j < k; j++) mark[ids[j]] = 1;
    for (int64_t v = 0; v < V; v++)
        if (!mark[v]) s += exp((double)z[v] - mx);
    for (int j = 0; j < k; j++) mark[ids[j]] = 0;
    return s;
}

void qz_cmp_topk_row(const float *z, int64_t V, int32_t y, qz_topk_block *b, int64_t i, uint8_t *mark)
{
    int k = b->k;
    QZ_ASSERT(k >= 1 && k <= V);
    int32_t *ids = b->ids + i * k;
    float *lp = b->logp + i * k;
    double s;
    int64_t am;
    double mx = softmax_sum(z, V, NULL, &s, &am), lse = mx + log(s);
    top_k_ids(z, V, k, ids);
    for (int j = 0; j < k; j++) lp[j] = (float)((double)z[ids[j]] - lse);
    b->logp_next[i] = (double)z[y] - lse;
    b->p_rest[i] = tail_sum(z, V, mx, ids, k, mark) / s;
}

void qz_cmp_token_topk(const qz_topk_block *b, int64_t i, const float *zc, int64_t V, int32_t y, uint8_t *mark,
                       qz_token_cmp *t)
{
    int k = b->k;
    const int32_t *ids = b->ids + i * k;
    const float *lp = b->logp + i * k;
    double sc;
    int64_t ac;
    double mx = softmax_sum(zc, V, NULL, &sc, &ac), lse_c = mx + log(sc);
    double kl = 0, p_rest = b->p_rest[i];
    for (int j = 0; j < k; j++) kl += exp((double)lp[j]) * ((double)lp[j] - ((double)zc[ids[j]] - lse_c));
    if (p_rest > 0) {
        double q_rest = tail_sum(zc, V, mx, ids, k, mark) / sc;
        kl += p_rest * (log(p_rest) - log(q_rest > DBL_MIN ? q_rest : DBL_MIN));
    }
    t->nll_base = -b->logp_next[i];
    t->nll_cand = lse_c - zc[y];
    t->kl = kl;
    t->dp = exp(-t->nll_cand) - exp(b->logp_next[i]);
    t->top1_same = ac == ids[0];
}

/* ---------------------------------------------------------------- summary */

enum { PW_DNLL, PW_KL, PW_TOP1, PW_DP, PW_DP2, PW_COUNT }; /* per-window means */

/* Per-window means into pw (PW_COUNT, W); token sums of nll into sums[2]. */
static void window_means(const qz_token_cmp *tok, int64_t W, int64_t P, double *pw, double sums[2])
{
    sums[0] = sums[1] = 0;
    for (int64_t w = 0; w < W; w++) {
        double acc[PW_COUNT] = {0};
        for (int64_t t = 0; t < P; t++) {
            const qz_token_cmp *x = tok + w * P + t;
            acc[PW_DNLL] += x->nll_cand - x->nll_base;
            acc[PW_KL] += x->kl;
            acc[PW_TOP1] += x->top1_same;
            acc[PW_DP] += x->dp;
            acc[PW_DP2] += x->dp * x->dp;
            sums[0] += x->nll_base, sums[1] += x->nll_cand;
        }
        for (int s = 0; s < PW_COUNT; s++) pw[s * W + w] = acc[s] / (double)P;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int qz_cmp_summarize(const qz_token_cmp *tok, int64_t W, int64_t P, int64_t n_tokens, double seconds, qz_cmp_result *r,
                     qz_error *err)
{
    memset(r, 0, sizeof *r);
    int64_t N = W * P;
    double *pw = qz_malloc_array((size_t)(PW_COUNT * W), sizeof(double)), *kl = qz_malloc_array((size_t)N, sizeof(double));
    if (!pw || !kl) {
        free(pw), free(kl);
        return qz_fail(err, QZ_EINTERNAL, "out of memory for the statistics of %lld tokens", (long long)N);
    }
    double sums[2], ci[2];
    window_means(tok, W, P, pw, sums);
    qz_ppl_result_set(&r->cand, n_tokens, W, P + 1, P, sums[1], seconds);
    r->base_mean_nll = sums[0] / (double)N;
    r->base_ppl = exp(r->base_mean_nll);
    r->ppl_ratio = exp(r->cand.mean_nll - r->base_mean_nll);
    r->ppl_delta = r->cand.ppl - r->base_ppl;
    qz_mean_ci95(pw + PW_DNLL * W, W, ci);
    for (int i = 0; i < 2; i++) r->ppl_ratio_ci[i] = exp(ci[i]), r->ppl_delta_ci[i] = r->base_ppl * (exp(ci[i]) - 1);
    r->kld_mean = qz_mean_ci95(pw + PW_KL * W, W, r->kld_mean_ci);
    r->top1 = qz_mean_ci95(pw + PW_TOP1 * W, W, r->top1_ci);
    r->dp_mean = qz_mean_ci95(pw + PW_DP * W, W, r->dp_mean_ci);
    r->dp_rms = sqrt(qz_mean_ci95(pw + PW_DP2 * W, W, ci));
    r->dp_rms_ci[0] = sqrt(ci[0] > 0 ? ci[0] : 0), r->dp_rms_ci[1] = sqrt(ci[1]);
    if (isnan(ci[0])) r->dp_rms_ci[0] = NAN;
    for (int64_t i = 0; i < N; i++) kl[i] = tok[i].kl;
    qsort(kl, (size_t)N, sizeof *kl, cmp_double);
    r->kld_median = qz_quantile_sorted(kl, N, 0.5);
    r->kld_p99 = qz_quantile_sorted(kl, N, 0.99);
    r->kld_max = kl[N - 1];
    free(pw), free(kl);
    int rc = qz_ppl_check_finite(r->cand.mean_nll, "evaluated", err);
    return rc ? rc : qz_ppl_check_finite(r->base_mean_nll, "base", err);
}

/* ------------------------------------------------------------------- runs */

int qz_cmp_same_tokens(const int32_t *a, int64_t na, const int32_t *b, int64_t nb, const char *name_a, const char *name_b,
                       qz_error *err)
{
    int64_t i = 0;
    while (i < na && i < nb && a[i] == b[i]) i++;
    if (i == na && i == nb) return QZ_OK;
    if (i < na && i < nb)
        return qz_fail(err, QZ_EINPUT, "tokenizer mismatch: %s and %s tokenize the text differently (%lld vs %lld tokens; "
                       "first difference at token %lld: id %d vs %d)", name_a, name_b, (long long)na, (long long)nb,
                       (long long)i, a[i], b[i]);
    return qz_fail(err, QZ_EINPUT, "tokenizer mismatch: %s and %s tokenize the text differently (%lld vs %lld tokens)", name_a,
                   name_b, (long long)na, (long long)nb);
}

/* What the chunk callbacks share. */
typedef struct {
    int64_t V, P;          /* vocab, scored tokens per window */
    qz_token_cmp *tok;     /* (windows * P) */
    double *scratch;       /* (V) */
    uint8_t *mark;         /* (V), zero */
    qz_topk_block blk;     /* QZ_EVAL_CHUNK rows of k */
    qz_topk_writer *w;     /* compare_models writing a cache, else NULL */
    qz_topk_reader *r;     /* compare_cache */
} cmp_run;

static int run_init(cmp_run *s, int64_t V, int64_t W, int64_t P, int k, qz_error *err)
{
    memset(s, 0, sizeof *s);
    s->V = V, s->P = P;
    s->tok = qz_malloc_array((size_t)(W * P), sizeof *s->tok);
    s->scratch = qz_malloc_array((size_t)V, sizeof *s->scratch);
    s->mark = qz_calloc_array((size_t)V, 1);
    s->blk.k = k;
    if (k > 0) {
        s->blk.logp_next = qz_malloc_array(QZ_EVAL_CHUNK, sizeof(double));
        s->blk.p_rest = qz_malloc_array(QZ_EVAL_CHUNK, sizeof(double));
        s->blk.ids = qz_malloc_array((size_t)QZ_EVAL_CHUNK * (size_t)k, sizeof(int32_t));
        s->blk.logp = qz_malloc_array((size_t)QZ_EVAL_CHUNK * (size_t)k, sizeof(float));
    }
    int blk_ok = k == 0 || (s->blk.logp_next && s->blk.p_rest && s->blk.ids && s->blk.logp);
    if (!s->tok || !s->scratch || !s->mark || !blk_ok)
        return qz_fail(err, QZ_EINTERNAL, "out of memory for comparing %lld windows", (long long)W);
    return QZ_OK;
}

static void run_free(cmp_run *s)
{
    free(s->tok), free(s->scratch), free(s->mark);
    free(s->blk.logp_next), free(s->blk.p_rest), free(s->blk.ids), free(s->blk.logp);
    qz_topk_writer_free(s->w);
    qz_topk_reader_free(s->r);
}

static int chunk_models(void *ctx, const qz_eval_chunk *c, qz_error *err)
{
    cmp_run *s = ctx;
    qz_token_cmp *t = s->tok + c->window * s->P + c->pos;
    for (int64_t i = 0; i < c->n; i++)
        qz_cmp_token(c->logits[0] + i * s->V, c->logits[1] + i * s->V, s->V, c->next[i], s->scratch, &t[i]);
    if (!s->w) return QZ_OK;
    s->blk.n = c->n;
    for (int64_t i = 0; i < c->n; i++) qz_cmp_topk_row(c->logits[0] + i * s->V, s->V, c->next[i], &s->blk, i, s->mark);
    return qz_topk_writer_write(s->w, &s->blk, err);
}

static int chunk_cache(void *ctx, const qz_eval_chunk *c, qz_error *err)
{
    cmp_run *s = ctx;
    qz_token_cmp *t = s->tok + c->window * s->P + c->pos;
    s->blk.n = c->n;
    int rc = qz_topk_reader_read(s->r, &s->blk, err);
    for (int64_t i = 0; i < c->n && rc == QZ_OK; i++)
        qz_cmp_token_topk(&s->blk, i, c->logits[0] + i * s->V, s->V, c->next[i], s->mark, &t[i]);
    return rc;
}

/* The comparison scores every token after a window's first (its per-token
 * arrays and the top-k cache are laid out so). */
static int no_partial_scoring(const qz_ppl_opts *o, qz_error *err)
{
    if (o->score_from == 0) return QZ_OK;
    return qz_fail(err, QZ_EINPUT, "comparing models scores every token of a window; second-half scoring is for the perplexity alone");
}

int qz_compare_models(qz_model *base, qz_model *cand, const int32_t *tokens, int64_t n_tokens, const qz_cmp_opts *o,
                      qz_cmp_result *r, qz_error *err)
{
    int64_t W = 0, T = o->eval.seqlen, V = base->cfg.vocab;
    int rc = no_partial_scoring(&o->eval, err);
    if (rc == QZ_OK) rc = qz_eval_windows(n_tokens, &o->eval, &W, err);
    if (rc) return rc;
    if (o->cache && (o->top_k < 1 || o->top_k > V))
        return qz_fail(err, QZ_EINPUT, "--top-k %d: must be in [1, %lld] (the vocabulary)", o->top_k, (long long)V);
    double t0 = qz_now();
    cmp_run s;
    rc = run_init(&s, V, W, T - 1, o->cache ? o->top_k : 0, err);
    if (rc == QZ_OK && o->cache) {
        qz_topk_header h = {o->top_k, V, n_tokens, qz_topk_tokens_crc(tokens, n_tokens), T, W, {0}};
        snprintf(h.base, sizeof h.base, "%s", o->base_name ? o->base_name : "");
        rc = qz_topk_writer_open(&s.w, o->cache, &h, err);
    }
    qz_model *models[2] = {base, cand};
    if (rc == QZ_OK) rc = qz_eval_chunks(models, 2, tokens, W, &o->eval, chunk_models, &s, err);
    if (rc == QZ_OK && s.w) rc = qz_topk_writer_commit(s.w, err);
    if (rc == QZ_OK) rc = qz_cmp_summarize(s.tok, W, T - 1, n_tokens, qz_now() - t0, r, err);
    run_free(&s);
    return rc;
}

/* The cache h must describe this run. */
static int check_cache(const char *path, const qz_topk_header *h, const int32_t *tokens, int64_t n_tokens, int64_t T,
                       int64_t W, int64_t V, int k, qz_error *err)
{
    uint32_t crc = qz_topk_tokens_crc(tokens, n_tokens);
    if (h->n_tokens != n_tokens || h->tokens_crc != crc)
        return qz_fail(err, QZ_EINPUT, "%s: top-k cache was made from other tokens (%lld tokens, CRC-32 %08x; this text gives "
                       "%lld tokens, CRC-32 %08x): another text or tokenizer", path, (long long)h->n_tokens, h->tokens_crc,
                       (long long)n_tokens, crc);
    if (h->seqlen != T)
        return qz_fail(err, QZ_EINPUT, "%s: top-k cache has seqlen %lld, this run %lld (--seqlen)", path, (long long)h->seqlen,
                       (long long)T);
    if (h->windows != W)
        return qz_fail(err, QZ_EINPUT, "%s: top-k cache has %lld windows, this run %lld (--max-windows)", path,
                       (long long)h->windows, (long long)W);
    if (h->vocab != V)
        return qz_fail(err, QZ_EINPUT, "%s: top-k cache has vocab %lld, the candidate %lld", path, (long long)h->vocab, (long long)V);
    if (k && h->k != k) return qz_fail(err, QZ_EINPUT, "%s: top-k cache has k %d, --top-k asks for %d", path, h->k, k);
    return QZ_OK;
}

int qz_compare_cache(qz_model *cand, const int32_t *tokens, int64_t n_tokens, const qz_cmp_opts *o, qz_cmp_result *r,
                     qz_error *err)
{
    int64_t W = 0, T = o->eval.seqlen, V = cand->cfg.vocab;
    qz_topk_header h;
    qz_topk_reader *rd = NULL;
    int rc = no_partial_scoring(&o->eval, err);
    if (rc) return rc;
    rc = qz_topk_reader_open(&rd, o->cache, &h, err);
    if (rc == QZ_OK) rc = qz_eval_windows(n_tokens, &o->eval, &W, err);
    if (rc == QZ_OK) rc = check_cache(o->cache, &h, tokens, n_tokens, T, W, V, o->top_k, err);
    if (rc) {
        qz_topk_reader_free(rd);
        return rc;
    }
    double t0 = qz_now();
    cmp_run s;
    rc = run_init(&s, V, W, T - 1, h.k, err);
    s.r = rd;
    if (rc == QZ_OK) rc = qz_eval_chunks(&cand, 1, tokens, W, &o->eval, chunk_cache, &s, err);
    if (rc == QZ_OK) rc = qz_topk_reader_finish(s.r, err);
    if (rc == QZ_OK) rc = qz_cmp_summarize(s.tok, W, T - 1, n_tokens, qz_now() - t0, r, err);
    if (rc == QZ_OK) r->kld_top_k = h.k;
    run_free(&s);
    return rc;
}
