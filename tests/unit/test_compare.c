/* test_compare.c - the base-vs-candidate statistics (compare.h) on
 * hand-worked values: t quantiles against table values, quantiles, CIs, KL
 * of small distributions, the top-k estimate and its bound; the top-k cache
 * file (topk_cache.h) round trip and rejections; the gate (gate.h) and its
 * file; JUnit output; and batching invariance on synthetic models. */
#include "compare.h"
#include "gate.h"
#include "junit.h"
#include "qz_test.h"
#include "rng.h"
#include "synth.h"

#include <float.h>

/* ------------------------------------------------------------ statistics */

static void test_t_quantile_table(void)
{
    /* two-sided 95% critical values from printed t tables (7 digits) */
    static const struct { double df, t; } tab[] = {{1, 12.7062047}, {2, 4.3026527}, {4, 2.7764451}, {10, 2.2281389},
                                                   {30, 2.0422725}, {1e7, 1.9599641}};
    for (size_t i = 0; i < sizeof tab / sizeof *tab; i++) CHECK_CLOSE(qz_t_quantile(0.975, tab[i].df), tab[i].t, 1e-6, 0);
    /* the 3-digit table the brief names, and the normal limit 1.960 */
    CHECK_CLOSE(qz_t_quantile(0.975, 1), 12.706, 5e-4, 0);
    CHECK_CLOSE(qz_t_quantile(0.975, 10), 2.228, 5e-4, 0);
    CHECK_CLOSE(qz_t_quantile(0.975, 30), 2.042, 5e-4, 0);
    CHECK_CLOSE(qz_t_quantile(0.975, 1e9), 1.960, 5e-4, 0);
    /* df 1 is Cauchy: F(t) = 1/2 + atan(t)/pi; df 2: t = (2p-1) / sqrt(2p(1-p)) */
    CHECK_CLOSE(qz_t_cdf(1, 1), 0.75, 1e-12, 0);
    CHECK_CLOSE(qz_t_quantile(0.9, 2), 0.8 / sqrt(2 * 0.9 * 0.1), 1e-10, 0);
    CHECK_CLOSE(qz_t_cdf(0, 5), 0.5, 1e-15, 0);
    CHECK_CLOSE(qz_t_quantile(0.025, 10), -2.2281389, 1e-6, 0);
    for (double p = 0.01; p < 1; p += 0.07) CHECK_CLOSE(qz_t_cdf(qz_t_quantile(p, 7.5), 7.5), p, 1e-12, 0);
    CHECK(isnan(qz_t_quantile(1, 3)) && isnan(qz_t_quantile(0.5, 0)) && isnan(qz_t_cdf(1, -1)), "out-of-range arguments");
}

static void test_quantiles(void)
{
    const double a[] = {1, 2, 3, 4}, b[] = {1, 2, 3}, one[] = {5};
    CHECK_CLOSE(qz_quantile_sorted(a, 4, 0.5), 2.5, 1e-15, 0);
    CHECK_CLOSE(qz_quantile_sorted(a, 4, 0.99), 3.97, 1e-12, 0); /* h = 2.97 */
    CHECK_CLOSE(qz_quantile_sorted(a, 4, 0), 1, 0, 0);
    CHECK_CLOSE(qz_quantile_sorted(a, 4, 1), 4, 0, 0);
    CHECK_CLOSE(qz_quantile_sorted(b, 3, 0.5), 2, 0, 0);
    CHECK_CLOSE(qz_quantile_sorted(b, 3, 0.99), 2.98, 1e-12, 0); /* h = 1.98 */
    CHECK_CLOSE(qz_quantile_sorted(one, 1, 0.99), 5, 0, 0);
}

static void test_mean_ci(void)
{
    const double x[] = {1, 2, 3, 4, 5};
    double ci[2];
    /* sd = sqrt(2.5), t_{0.975,4} = 2.7764451: half-width 2.7764451 * 1.5811388 / 2.2360680 = 1.9632432 */
    CHECK_CLOSE(qz_mean_ci95(x, 5, ci), 3, 1e-15, 0);
    CHECK_CLOSE(ci[0], 3 - 1.9632432, 1e-6, 0);
    CHECK_CLOSE(ci[1], 3 + 1.9632432, 1e-6, 0);
    CHECK_CLOSE(qz_mean_ci95(x + 2, 1, ci), 3, 0, 0);
    CHECK(isnan(ci[0]) && isnan(ci[1]), "one value: no CI");
}

/* logits of distribution p (n), shifted by c (softmax does not care) */
static void logits_of(const double *p, int n, double c, float *z)
{
    for (int i = 0; i < n; i++) z[i] = (float)(log(p[i]) + c);
}

static void test_kl_hand_worked(void)
{
    const double p[] = {0.5, 0.25, 0.25}, q[] = {0.25, 0.5, 0.25};
    float zb[3], zc[3];
    double scratch[3];
    logits_of(p, 3, 3.0, zb);
    logits_of(q, 3, -1.0, zc);
    qz_token_cmp t;
    qz_cmp_token(zb, zc, 3, 0, scratch, &t);
    /* 0.5 ln 2 + 0.25 ln(1/2) + 0 = 0.25 ln 2 */
    CHECK_CLOSE(t.kl, 0.25 * log(2), 1e-7, 0);
    CHECK_CLOSE(t.nll_base, log(2), 1e-7, 0);
    CHECK_CLOSE(t.nll_cand, log(4), 1e-7, 0);
    CHECK_CLOSE(t.dp, 0.25 - 0.5, 1e-7, 0);
    CHECK(!t.top1_same, "argmax 0 vs 1");
    logits_of(p, 3, 7.0, zc); /* the same distribution */
    qz_cmp_token(zb, zc, 3, 2, scratch, &t);
    CHECK_CLOSE(t.kl, 0, 1e-7, 0);
    CHECK_CLOSE(t.dp, 0, 1e-7, 0);
    CHECK(t.top1_same, "same argmax");
}

/* A block of one row of k entries in caller storage. */
typedef struct {
    double logp_next[1], p_rest[1];
    int32_t ids[64];
    float logp[64];
    qz_topk_block b;
} one_row;

static void one_row_init(one_row *r, int k)
{
    r->b = (qz_topk_block){1, k, r->logp_next, r->p_rest, r->ids, r->logp};
}

static void test_topk_hand_worked(void)
{
    const double p[] = {0.5, 0.25, 0.125, 0.125}, q[] = {0.4, 0.3, 0.2, 0.1};
    float zb[4], zc[4];
    double scratch[4];
    uint8_t mark[4] = {0};
    logits_of(p, 4, 0.5, zb);
    logits_of(q, 4, 0, zc);
    one_row r;
    one_row_init(&r, 2);
    qz_cmp_topk_row(zb, 4, 2, &r.b, 0, mark);
    CHECK(r.ids[0] == 0 && r.ids[1] == 1, "top-2 ids %d %d", r.ids[0], r.ids[1]);
    CHECK_CLOSE(r.p_rest[0], 0.25, 1e-7, 0);
    CHECK_CLOSE(r.logp_next[0], log(0.125), 1e-7, 0);
    CHECK_CLOSE(r.logp[1], log(0.25), 1e-6, 0);
    CHECK(mark[0] == 0 && mark[1] == 0 && mark[2] == 0 && mark[3] == 0, "mark left clean");
    qz_token_cmp approx, exact;
    qz_cmp_token_topk(&r.b, 0, zc, 4, 2, mark, &approx);
    qz_cmp_token(zb, zc, 4, 2, scratch, &exact);
    double want = 0.5 * log(0.5 / 0.4) + 0.25 * log(0.25 / 0.3) + 0.25 * log(0.25 / 0.3);
    double gap = 0.25 * (0.5 * log(0.5 / (2.0 / 3)) + 0.5 * log(0.5 / (1.0 / 3))); /* p_rest KL(tails) */
    CHECK_CLOSE(approx.kl, want, 1e-6, 0);
    CHECK_CLOSE(exact.kl - approx.kl, gap, 1e-6, 0);
    /* nll, top-1 and dp are exact from the cache */
    CHECK_CLOSE(approx.nll_base, exact.nll_base, 1e-15, 0);
    CHECK_CLOSE(approx.nll_cand, exact.nll_cand, 0, 0);
    CHECK_CLOSE(approx.dp, exact.dp, 1e-15, 0);
    CHECK(approx.top1_same == exact.top1_same && approx.top1_same, "top-1");
    /* ties keep ascending ids */
    float flat[4] = {1, 1, 1, 1};
    qz_cmp_topk_row(flat, 4, 0, &r.b, 0, mark);
    CHECK(r.ids[0] == 0 && r.ids[1] == 1, "ties: ids %d %d", r.ids[0], r.ids[1]);
}

/* Random distributions: the estimate never exceeds the exact KL (up to the
 * float32 rounding of the stored log-probabilities), and k = V is exact. */
static void test_topk_bound_random(void)
{
    enum { V = 50 };
    qz_rng rng;
    qz_rng_seed(&rng, 3);
    float zb[V], zc[V];
    double scratch[V];
    uint8_t mark[V] = {0};
    one_row r;
    double worst_excess = -1, worst_full = 0;
    for (int trial = 0; trial < 500; trial++) {
        double spread = 0.5 + 4 * qz_rng_uniform(&rng);
        for (int v = 0; v < V; v++) {
            zb[v] = (float)(spread * qz_rng_normal(&rng));
            zc[v] = (float)(zb[v] + 0.7 * qz_rng_normal(&rng));
        }
        int k = 1 + trial % V;
        int32_t y = (int32_t)(trial % V);
        one_row_init(&r, k);
        qz_token_cmp a, e;
        qz_cmp_topk_row(zb, V, y, &r.b, 0, mark);
        qz_cmp_token_topk(&r.b, 0, zc, V, y, mark, &a);
        qz_cmp_token(zb, zc, V, y, scratch, &e);
        worst_excess = fmax(worst_excess, a.kl - e.kl);
        if (k == V) worst_full = fmax(worst_full, fabs(a.kl - e.kl));
        CHECK(a.top1_same == e.top1_same && a.nll_cand == e.nll_cand, "trial %d: exact figures differ", trial);
    }
    CHECK(worst_excess <= 1e-6, "estimate above the exact KL by %g", worst_excess);
    CHECK(worst_full <= 1e-6, "k = V differs from the exact KL by %g", worst_full);
}

/* Two windows of two tokens, every figure worked by hand. */
static void test_summarize_hand_worked(void)
{
    const qz_token_cmp tok[4] = {{1, 1.1, 0.01, 0.1, 1}, {1, 1.1, 0.03, -0.1, 1}, {1, 1.2, 0.05, 0.2, 1}, {1, 1.4, 0.07, 0.0, 0}};
    qz_cmp_result r;
    qz_error err = {0};
    CHECK(qz_cmp_summarize(tok, 2, 2, 10, 1.0, &r, &err) == 0, "%s", err.msg);
    const double t1 = 12.7062047; /* t_{0.975, 1}; half-width = t * sd / sqrt(2) = t * |a - b| / 2 */
    CHECK(r.cand.windows == 2 && r.cand.scored == 4 && r.cand.tokens == 10, "counts");
    CHECK_CLOSE(r.base_mean_nll, 1, 1e-15, 0);
    CHECK_CLOSE(r.cand.mean_nll, 1.2, 1e-15, 0);
    CHECK_CLOSE(r.ppl_ratio, exp(0.2), 1e-12, 0); /* per-window differences 0.1 and 0.3 */
    CHECK_CLOSE(r.ppl_ratio_ci[0], exp(0.2 - t1 * 0.1), 1e-6, 0);
    CHECK_CLOSE(r.ppl_ratio_ci[1], exp(0.2 + t1 * 0.1), 1e-6, 0);
    CHECK_CLOSE(r.ppl_delta, exp(1.2) - exp(1), 1e-12, 0);
    CHECK_CLOSE(r.ppl_delta_ci[1], exp(1) * (exp(0.2 + t1 * 0.1) - 1), 1e-5, 0);
    CHECK_CLOSE(r.kld_mean, 0.04, 1e-15, 0); /* window means 0.02, 0.06 */
    CHECK_CLOSE(r.kld_mean_ci[0], 0.04 - t1 * 0.02, 1e-7, 0);
    CHECK_CLOSE(r.kld_median, 0.04, 1e-15, 0);
    CHECK_CLOSE(r.kld_p99, 0.0694, 1e-12, 0); /* 0.05 + 0.97 * 0.02 */
    CHECK_CLOSE(r.kld_max, 0.07, 0, 0);
    CHECK_CLOSE(r.top1, 0.75, 0, 0); /* window fractions 1, 0.5 */
    CHECK_CLOSE(r.top1_ci[1], 0.75 + t1 * 0.25, 1e-6, 0);
    CHECK_CLOSE(r.dp_mean, 0.05, 1e-15, 0); /* window means 0, 0.1 */
    CHECK_CLOSE(r.dp_mean_ci[0], 0.05 - t1 * 0.05, 1e-6, 0);
    CHECK_CLOSE(r.dp_rms, sqrt(0.015), 1e-12, 0); /* window means of dp^2: 0.01, 0.02 */
    CHECK_CLOSE(r.dp_rms_ci[0], 0, 0, 0);          /* 0.015 - t1 * 0.005 < 0: clamped */
    CHECK_CLOSE(r.dp_rms_ci[1], sqrt(0.015 + t1 * 0.005), 1e-7, 0);
    CHECK(qz_cmp_summarize(tok, 1, 4, 10, 1.0, &r, &err) == 0, "%s", err.msg);
    CHECK(isnan(r.kld_mean_ci[0]) && isnan(r.ppl_ratio_ci[1]) && isnan(r.top1_ci[0]) && isnan(r.dp_rms_ci[0]),
          "one window: CIs are NaN");
}

static void test_same_tokens(void)
{
    const int32_t a[] = {1, 5, 7, 9}, b[] = {1, 5, 8, 9};
    qz_error err = {0};
    CHECK(qz_cmp_same_tokens(a, 4, a, 4, "A", "B", &err) == 0, "equal");
    CHECK(qz_cmp_same_tokens(a, 4, b, 4, "A", "B", &err) == QZ_EINPUT && strstr(err.msg, "tokenizer mismatch") &&
              strstr(err.msg, "token 2: id 7 vs 8"), "%s", err.msg);
    CHECK(qz_cmp_same_tokens(a, 4, a, 3, "A", "B", &err) == QZ_EINPUT && strstr(err.msg, "4 vs 3 tokens"), "%s", err.msg);
}

/* ------------------------------------------------------------- top-k file */

static char tmpdir[256];

static void fill_block(qz_topk_block *b, int64_t first)
{
    for (int64_t i = 0; i < b->n; i++) {
        b->logp_next[i] = -0.5 - (double)(first + i) / 7;
        b->p_rest[i] = 0.001 * (double)((first + i) % 5);
        for (int j = 0; j < b->k; j++) {
            b->ids[i * b->k + j] = (int32_t)((first + i + 3 * j) % 40);
            b->logp[i * b->k + j] = -(float)j - 0.25f;
        }
    }
}

/* Writes a cache of 3 windows x 5 records (seqlen 6), k 4, to path. */
static int write_cache(const char *path, qz_error *err)
{
    qz_topk_header h = {4, 40, 20, 0xabcdef01u, 6, 3, "base/dir"};
    double ln[5], pr[5];
    int32_t ids[20];
    float lp[20];
    qz_topk_block b = {5, 4, ln, pr, ids, lp};
    qz_topk_writer *w = NULL;
    int rc = qz_topk_writer_open(&w, path, &h, err);
    for (int i = 0; i < 3 && rc == QZ_OK; i++) {
        fill_block(&b, 5 * i);
        rc = qz_topk_writer_write(w, &b, err);
    }
    if (rc == QZ_OK) rc = qz_topk_writer_commit(w, err);
    qz_topk_writer_free(w);
    return rc;
}

/* Reads every record of path; returns the first failure's status. */
static int read_cache(const char *path, int *same, qz_error *err)
{
    double ln[15], pr[15], wln[15], wpr[15];
    int32_t ids[60], wids[60];
    float lp[60], wlp[60];
    qz_topk_block b = {15, 4, ln, pr, ids, lp}, want = {15, 4, wln, wpr, wids, wlp};
    qz_topk_header h;
    qz_topk_reader *r = NULL;
    int rc = qz_topk_reader_open(&r, path, &h, err);
    if (rc == QZ_OK) rc = qz_topk_reader_read(r, &b, err);
    if (rc == QZ_OK) rc = qz_topk_reader_finish(r, err);
    qz_topk_reader_free(r);
    fill_block(&want, 0);
    *same = rc == QZ_OK && h.k == 4 && h.vocab == 40 && h.n_tokens == 20 && h.tokens_crc == 0xabcdef01u && h.seqlen == 6 &&
            h.windows == 3 && !strcmp(h.base, "base/dir") && !memcmp(ln, wln, sizeof ln) && !memcmp(pr, wpr, sizeof pr) &&
            !memcmp(ids, wids, sizeof ids) && !memcmp(lp, wlp, sizeof lp);
    return rc;
}

static void flip_byte(const char *path, long off)
{
    FILE *f = fopen(path, "r+b");
    if (!f) return;
    fseek(f, off, off < 0 ? SEEK_END : SEEK_SET);
    int c = fgetc(f);
    fseek(f, off, off < 0 ? SEEK_END : SEEK_SET);
    fputc(c ^ 0x5a, f);
    fclose(f);
}

static void test_topk_cache_file(void)
{
    char path[512], tmp[600], cmd[2048];
    snprintf(path, sizeof path, "%s/c.qzk", tmpdir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    qz_error err = {0};
    int same = 0;
    CHECK(write_cache(path, &err) == 0, "%s", err.msg);
    CHECK(access(tmp, F_OK) != 0, "temporary file left");
    CHECK(read_cache(path, &same, &err) == 0 && same, "round trip: %s", err.msg);
    CHECK(qz_topk_tokens_crc((const int32_t[]){1, 2, 3}, 3) != qz_topk_tokens_crc((const int32_t[]){1, 2, 4}, 3), "crc");
    /* never overwritten */
    CHECK(write_cache(path, &err) == QZ_EINPUT && strstr(err.msg, "exists"), "%s", err.msg);
    /* one flipped payload byte (zlib stream or CRC) */
    snprintf(cmd, sizeof cmd, "cp '%s' '%s/d.qzk'", path, tmpdir);
    CHECK(system(cmd) == 0, "cp");
    snprintf(tmp, sizeof tmp, "%s/d.qzk", tmpdir);
    flip_byte(tmp, -20);
    CHECK(read_cache(tmp, &same, &err) == QZ_EINPUT && strstr(err.msg, "top-k cache"), "%s", err.msg);
    /* header: a flipped field fails the header CRC */
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", path, tmp);
    CHECK(system(cmd) == 0, "cp");
    flip_byte(tmp, 33);
    CHECK(read_cache(tmp, &same, &err) == QZ_EINPUT && strstr(err.msg, "header CRC"), "%s", err.msg);
    /* truncated, and trailing bytes */
    snprintf(cmd, sizeof cmd, "head -c 120 '%s' > '%s'", path, tmp);
    CHECK(system(cmd) == 0, "head");
    CHECK(read_cache(tmp, &same, &err) == QZ_EINPUT && strstr(err.msg, "truncated"), "%s", err.msg);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s' && printf x >> '%s'", path, tmp, tmp);
    CHECK(system(cmd) == 0, "append");
    CHECK(read_cache(tmp, &same, &err) == QZ_EINPUT && strstr(err.msg, "after"), "%s", err.msg);
    /* not a cache at all */
    snprintf(cmd, sizeof cmd, "printf 'hello world, not a cache at all......................................' > '%s'", tmp);
    CHECK(system(cmd) == 0, "printf");
    CHECK(read_cache(tmp, &same, &err) == QZ_EINPUT && strstr(err.msg, "not a qz top-k cache"), "%s", err.msg);
    /* an abandoned writer leaves nothing behind */
    snprintf(tmp, sizeof tmp, "%s/e.qzk", tmpdir);
    qz_topk_header h = {2, 10, 10, 0, 5, 2, ""};
    qz_topk_writer *w = NULL;
    CHECK(qz_topk_writer_open(&w, tmp, &h, &err) == 0, "%s", err.msg);
    qz_topk_writer_free(w);
    snprintf(cmd, sizeof cmd, "%s.tmp", tmp);
    CHECK(access(tmp, F_OK) != 0 && access(cmd, F_OK) != 0, "abandoned writer left a file");
    h.k = 11; /* k > vocab */
    CHECK(qz_topk_writer_open(&w, tmp, &h, &err) == QZ_EINPUT && strstr(err.msg, "k 11"), "%s", err.msg);
    qz_topk_writer_free(w);
}

/* ------------------------------------------------------------------ gate */

static qz_cmp_result gate_result(void)
{
    qz_cmp_result r;
    memset(&r, 0, sizeof r);
    r.ppl_ratio = 1.03, r.ppl_delta = 0.12, r.kld_mean = 0.0712, r.top1 = 0.9;
    r.ppl_ratio_ci[0] = 1.01, r.ppl_ratio_ci[1] = 1.05;
    r.ppl_delta_ci[0] = 0.04, r.ppl_delta_ci[1] = 0.2;
    r.kld_mean_ci[0] = 0.04, r.kld_mean_ci[1] = 0.1;
    r.top1_ci[0] = 0.85, r.top1_ci[1] = 0.96;
    return r;
}

static void test_gate_eval(void)
{
    qz_gate g = {{0}, {0}, 0, 0};
    qz_error err = {0};
    qz_cmp_result r = gate_result();
    qz_gate_check ck[QZ_GATE_COUNT];
    int passed;
    CHECK(qz_gate_set(&g, QZ_GATE_KLD, 0.05, "--max-kld", &err) == 0, "%s", err.msg);
    CHECK(qz_gate_set(&g, QZ_GATE_TOP1, 0.95, "--min-top1", &err) == 0, "%s", err.msg);
    CHECK(qz_gate_set(&g, QZ_GATE_PPL_RATIO, 1.05, "--max-ppl-ratio", &err) == 0, "%s", err.msg);
    int n = qz_gate_eval(&g, &r, ck, &passed);
    CHECK(n == 3 && !passed, "n %d passed %d", n, passed);
    CHECK(ck[0].metric == QZ_GATE_PPL_RATIO && ck[0].passed, "ppl ratio 1.03 <= 1.05");
    CHECK(ck[1].metric == QZ_GATE_KLD && !ck[1].passed, "kld fails");
    CHECK_CLOSE(ck[1].by, 0.0212, 1e-12, 0);
    CHECK(ck[2].metric == QZ_GATE_TOP1 && !ck[2].passed, "top1 0.9 < 0.95");
    CHECK_CLOSE(ck[2].by, 0.05, 1e-12, 0);
    /* --gate-ci: kld's CI [0.04, 0.1] reaches below 0.05 and top1's [0.85, 0.96] above 0.95: both pass */
    g.ci = 1;
    n = qz_gate_eval(&g, &r, ck, &passed);
    CHECK(passed && ck[1].used_ci && ck[2].used_ci, "CI gate passes");
    CHECK_CLOSE(ck[1].by, 0.04 - 0.05, 1e-12, 0);
    r.kld_mean_ci[0] = 0.06; /* now the whole CI is above */
    n = qz_gate_eval(&g, &r, ck, &passed);
    CHECK(!passed && !ck[1].passed && fabs(ck[1].by - 0.01) < 1e-12, "CI entirely beyond fails");
    r.kld_mean_ci[0] = r.kld_mean_ci[1] = NAN; /* one window: the value decides */
    n = qz_gate_eval(&g, &r, ck, &passed);
    CHECK(!ck[1].used_ci && !ck[1].passed, "no CI: falls back to the value");
    CHECK(qz_gate_set(&g, QZ_GATE_TOP1, 1.5, "--min-top1", &err) == QZ_EINPUT && strstr(err.msg, "[0, 1]"), "%s", err.msg);
    CHECK(qz_gate_set(&g, QZ_GATE_KLD, -1, "--max-kld", &err) == QZ_EINPUT, "negative kld");
    CHECK(qz_gate_set(&g, QZ_GATE_PPL_RATIO, 0, "--max-ppl-ratio", &err) == QZ_EINPUT, "zero ratio");
}

static int gate_file(const char *json, const char *model, qz_gate *g, qz_error *err)
{
    char path[512];
    snprintf(path, sizeof path, "%s/gate.json", tmpdir);
    FILE *f = fopen(path, "w");
    if (!f) return -100;
    fputs(json, f);
    fclose(f);
    return qz_gate_load(g, path, model, err);
}

static void test_gate_file(void)
{
    qz_error err = {0};
    qz_gate g = {{0}, {0}, 0, 0};
    CHECK(gate_file("{\"max_kld\": 0.05, \"min_top1\": 0.9, \"description\": \"flat\"}", "any", &g, &err) == 0, "%s", err.msg);
    CHECK(g.set[QZ_GATE_KLD] && g.threshold[QZ_GATE_KLD] == 0.05 && g.set[QZ_GATE_TOP1] && !g.set[QZ_GATE_PPL_RATIO], "flat");
    const char *models = "{\"max_kld\": 0.1, \"gate_ci\": true, \"models\": {\"w4\": {\"max_kld\": 0.03, \"max_ppl_ratio\": 1.05},"
                         " \"w8\": {\"max_kld\": 0.001}}}";
    memset(&g, 0, sizeof g);
    CHECK(gate_file(models, "w4", &g, &err) == 0, "%s", err.msg);
    CHECK(g.threshold[QZ_GATE_KLD] == 0.03 && g.threshold[QZ_GATE_PPL_RATIO] == 1.05 && g.ci, "entry overrides the top level");
    memset(&g, 0, sizeof g);
    g.set[QZ_GATE_KLD] = 1, g.threshold[QZ_GATE_KLD] = 0.5; /* a flag */
    CHECK(gate_file(models, "w8", &g, &err) == 0 && g.threshold[QZ_GATE_KLD] == 0.5, "flags win");
    static const struct { const char *json, *want; } bad[] = {
        {"{\"max_kld\": 0.05, \"max_kl\": 1}", "unknown key 'max_kl'"},
        {"{\"models\": {\"w4\": {\"max_kld\": 0.03, \"models\": {}}}}", "unknown key 'models'"},
        {"{\"models\": {\"w8\": {\"max_kld\": 0.03}}}", "no entry for model 'w4'"},
        {"{\"max_kld\": \"0.05\"}", "must be a number"},
        {"{\"min_top1\": 2}", "out of range"},
        {"{\"gate_ci\": 1, \"max_kld\": 1}", "true or false"},
        {"{\"description\": \"nothing\"}", "sets no threshold"},
        {"[1, 2]", "not a JSON object"},
        {"{\"max_kld\": 0.05", "not a JSON object"},
        {"{\"models\": [1]}", "'models' must be an object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        memset(&g, 0, sizeof g);
        int rc = gate_file(bad[i].json, "w4", &g, &err);
        CHECK(rc == QZ_EINPUT && strstr(err.msg, bad[i].want) && strstr(err.msg, "gate.json"), "case %zu: %s", i, err.msg);
    }
    CHECK(qz_gate_load(&g, "/nonexistent/gate.json", "w4", &err) == QZ_EINPUT && strstr(err.msg, "cannot open"), "%s", err.msg);
}

static void test_junit(void)
{
    char path[512], *text = NULL;
    snprintf(path, sizeof path, "%s/j.xml", tmpdir);
    qz_junit_case cases[3] = {{"ppl_ratio", NULL}, {"kld_mean", "kld_mean 0.07 > 0.05 (by 0.02)"}, {"top1", "a<b & \"c\""}};
    qz_error err = {0};
    CHECK(qz_junit_write(path, "qz-eval", "out/w4", cases, 3, 1.5, &err) == 0, "%s", err.msg);
    size_t len;
    CHECK(qz_read_file(path, &text, &len, &err) == 0, "%s", err.msg);
    if (!text) return;
    CHECK(strstr(text, "<testsuite name=\"qz-eval\" tests=\"3\" failures=\"2\"") != NULL, "%s", text);
    CHECK(strstr(text, "<testcase classname=\"out/w4\" name=\"ppl_ratio\" time=\"0\"/>") != NULL, "%s", text);
    CHECK(strstr(text, "message=\"kld_mean 0.07 &gt; 0.05 (by 0.02)\"") != NULL, "%s", text);
    CHECK(strstr(text, "a&lt;b &amp; &quot;c&quot;") != NULL, "escaping: %s", text);
    free(text);
}

/* --------------------------------------------------- synthetic end to end */

static int synth_model(const char *name, uint64_t seed, qz_model **m, qz_error *err)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/%s", tmpdir, name);
    mkdir(dir, 0700);
    qz_model_config c = {.arch = QZ_ARCH_LLAMA, .hidden = 32, .intermediate = 48, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2,
                         .head_dim = 8, .vocab = 64, .max_position = 64, .rms_eps = 1e-5, .rope_theta = 10000, .bos_id = 1,
                         .eos_id = 2, .torch_dtype = QZ_DTYPE_F32};
    int rc = qz_synth_write(dir, &c, seed, err);
    return rc ? rc : qz_model_open(m, dir, err);
}

static void test_compare_models_synthetic(void)
{
    qz_model *a = NULL, *b = NULL;
    qz_error err = {0};
    if (synth_model("a", 1, &a, &err) || synth_model("b", 2, &b, &err)) {
        CHECK(0, "%s", err.msg);
        qz_model_free(a);
        return;
    }
    int32_t ids[100];
    qz_rng rng;
    qz_rng_seed(&rng, 9);
    for (int i = 0; i < 100; i++) ids[i] = (int32_t)(qz_rng_next(&rng) % 64);
    qz_cmp_opts o = {{.seqlen = 16}, NULL, 0, NULL};
    qz_cmp_result self, all, one;
    CHECK(qz_compare_models(a, a, ids, 100, &o, &self, &err) == 0, "%s", err.msg);
    CHECK(self.cand.windows == 6 && self.kld_max < 1e-12 && self.top1 == 1 && self.ppl_ratio == 1 && self.dp_rms == 0, "self");
    CHECK(qz_compare_models(a, b, ids, 100, &o, &all, &err) == 0, "%s", err.msg);
    o.eval.batch_windows = 1; /* six batches: the same figures, up to the last bits of sgemm over 16 rows instead of 96
                                 (OpenBLAS's results depend on the row count) */
    CHECK(qz_compare_models(a, b, ids, 100, &o, &one, &err) == 0, "%s", err.msg);
    CHECK(all.kld_mean > 0.01 && all.top1 == one.top1, "batching changed the figures");
    CHECK_CLOSE(one.kld_mean, all.kld_mean, 0, 1e-5);
    CHECK_CLOSE(one.kld_p99, all.kld_p99, 0, 1e-5);
    CHECK_CLOSE(one.cand.mean_nll, all.cand.mean_nll, 0, 1e-6);
    CHECK_CLOSE(one.base_mean_nll, all.base_mean_nll, 0, 1e-6);
    /* the base's own perplexity run agrees (it sums float exps: 1 ulp) */
    qz_ppl_result pr;
    CHECK(qz_eval_ppl(a, ids, 100, &o.eval, &pr, &err) == 0, "%s", err.msg);
    CHECK_CLOSE(pr.mean_nll, all.base_mean_nll, 0, 1e-6);
    /* a cache with k = vocab reproduces the exact KL; nll, top-1 and dp are exact for any k */
    char path[512];
    snprintf(path, sizeof path, "%s/syn.qzk", tmpdir);
    qz_cmp_opts w = {{.seqlen = 16}, path, 64, "a"}, rd = {{.seqlen = 16}, path, 0, NULL};
    qz_cmp_result exact, cached;
    CHECK(qz_compare_models(a, b, ids, 100, &w, &exact, &err) == 0, "%s", err.msg);
    CHECK(qz_compare_cache(b, ids, 100, &rd, &cached, &err) == 0, "%s", err.msg);
    CHECK(cached.kld_top_k == 64 && exact.kld_top_k == 0, "kld source");
    CHECK_CLOSE(cached.kld_mean, exact.kld_mean, 1e-7, 1e-5);
    CHECK(cached.base_mean_nll == exact.base_mean_nll && cached.top1 == exact.top1 && cached.dp_mean == exact.dp_mean &&
              cached.cand.mean_nll == exact.cand.mean_nll, "exact figures from the cache");
    /* mismatches */
    ids[50] ^= 1;
    CHECK(qz_compare_cache(b, ids, 100, &rd, &cached, &err) == QZ_EINPUT && strstr(err.msg, "other tokens"), "%s", err.msg);
    ids[50] ^= 1;
    rd.eval.max_windows = 5;
    CHECK(qz_compare_cache(b, ids, 100, &rd, &cached, &err) == QZ_EINPUT && strstr(err.msg, "windows"), "%s", err.msg);
    rd.eval.max_windows = 0, rd.eval.seqlen = 20;
    CHECK(qz_compare_cache(b, ids, 100, &rd, &cached, &err) == QZ_EINPUT && strstr(err.msg, "seqlen"), "%s", err.msg);
    rd.eval.seqlen = 16, rd.top_k = 32;
    CHECK(qz_compare_cache(b, ids, 100, &rd, &cached, &err) == QZ_EINPUT && strstr(err.msg, "k 64"), "%s", err.msg);
    qz_model_free(a);
    qz_model_free(b);
}

int main(void)
{
    qzt_tmpdir(tmpdir, sizeof tmpdir, "compare");
    QZ_RUN(test_t_quantile_table);
    QZ_RUN(test_quantiles);
    QZ_RUN(test_mean_ci);
    QZ_RUN(test_kl_hand_worked);
    QZ_RUN(test_topk_hand_worked);
    QZ_RUN(test_topk_bound_random);
    QZ_RUN(test_summarize_hand_worked);
    QZ_RUN(test_same_tokens);
    QZ_RUN(test_topk_cache_file);
    QZ_RUN(test_gate_eval);
    QZ_RUN(test_gate_file);
    QZ_RUN(test_junit);
    QZ_RUN(test_compare_models_synthetic);
    qzt_rmdir(tmpdir);
    QZ_TEST_EXIT();
}
