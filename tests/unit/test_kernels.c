/* test_kernels.c - every fast forward-pass kernel (kernels.h) against its
 * scalar reference, on odd sizes, and the thread-count independence of the
 * threaded ones (identical bytes for 1 and 3 threads).
 *
 * Tolerances: the fast kernels sum in another order (lanes, tiles) and use a
 * ~2 ulp polynomial exp where the references call expf, so results agree to
 * a few float ulps per term: RMSNorm 1e-6 relative (double sums in both),
 * SwiGLU 4e-7 relative + 1e-30 absolute, log-sum-exp 1e-6 relative (exp
 * errors of 2 ulp ~ 2.4e-7 add up at most linearly), attention 1e-5 absolute
 * + 1e-5 relative on outputs of size ~1 (a weighted mean over up to 300 keys
 * in float, online rescaling).
 * The elementwise kernels are split across workers only above 64 Ki floats
 * (kernels.c), so they are also run at sizes that split, where 1 and 3
 * threads must give the same bytes and the split must not move a row's
 * position (RoPE) or its per-row output (RMSNorm's rstd).
 */
#include "kernels.h"
#include "qz_common.h"
#include "qz_test.h"
#include "rng.h"

#include <cblas.h>
#include <float.h>
#include <stdatomic.h>
#include <time.h>

static void fill(float *x, int64_t n, qz_rng *r, double sd)
{
    for (int64_t i = 0; i < n; i++) x[i] = (float)(sd * qz_rng_normal(r));
}

static float *alloc_f(int64_t n)
{
    float *p = qz_malloc_array((size_t)(n > 0 ? n : 1), sizeof(float));
    QZ_ASSERT(p);
    return p;
}

static void test_rmsnorm_matches_ref(void)
{
    static const int64_t dims[] = {1, 7, 64, 576, 1001};
    qz_rng r;
    qz_rng_seed(&r, 1);
    for (size_t k = 0; k < sizeof dims / sizeof *dims; k++) {
        int64_t n = 3, d = dims[k];
        float *x = alloc_f(n * d), *w = alloc_f(d), *y = alloc_f(n * d), *y_ref = alloc_f(n * d);
        fill(x, n * d, &r, 3.0);
        fill(w, d, &r, 1.0);
        qz_rmsnorm(y, x, w, n, d, 1e-5);
        qz_rmsnorm_ref(y_ref, x, w, n, d, 1e-5);
        for (int64_t i = 0; i < n * d; i++) CHECK_CLOSE(y[i], y_ref[i], 0, 1e-6);
        qz_rmsnorm(x, x, w, n, d, 1e-5); /* in place */
        CHECK(memcmp(x, y, (size_t)(n * d) * sizeof(float)) == 0, "in place differs (dim %lld)", (long long)d);
        free(x), free(w), free(y), free(y_ref);
    }
}

static void test_swiglu_matches_ref(void)
{
    int64_t n = 1037;
    qz_rng r;
    qz_rng_seed(&r, 2);
    float *g = alloc_f(n), *g_ref = alloc_f(n), *up = alloc_f(n);
    fill(g, n, &r, 8.0);
    fill(up, n, &r, 1.0);
    g[0] = -100.0f, g[1] = 100.0f, g[2] = 0.0f, g[3] = -0.0f;
    memcpy(g_ref, g, (size_t)n * sizeof(float));
    qz_swiglu(g, up, n);
    qz_swiglu_ref(g_ref, up, n);
    for (int64_t i = 0; i < n; i++) CHECK_CLOSE(g[i], g_ref[i], 1e-30, 4e-7);
    free(g), free(g_ref), free(up);
}

static void test_rope_matches_ref(void)
{
    int64_t n_seq = 2, T = 5, heads = 3, hd = 8, half = hd / 2;
    qz_rng r;
    qz_rng_seed(&r, 3);
    float *x = alloc_f(n_seq * T * heads * hd), *x_ref = alloc_f(n_seq * T * heads * hd);
    float *cs = alloc_f(T * half), *sn = alloc_f(T * half);
    fill(x, n_seq * T * heads * hd, &r, 1.0);
    memcpy(x_ref, x, (size_t)(n_seq * T * heads * hd) * sizeof(float));
    for (int64_t p = 0; p < T; p++)
        for (int64_t i = 0; i < half; i++) cs[p * half + i] = cosf((float)p / (float)(i + 1)), sn[p * half + i] = sinf((float)p / (float)(i + 1));
    qz_rope(x, n_seq, T, heads, hd, cs, sn);
    qz_rope_ref(x_ref, n_seq, T, heads, hd, cs, sn);
    /* the same products and sums in the same order: identical */
    CHECK(memcmp(x, x_ref, (size_t)(n_seq * T * heads * hd) * sizeof(float)) == 0, "rope differs from its reference");
    /* position 0 is the identity, and row T (sequence 2, position 0) too */
    qz_rng_seed(&r, 3);
    float *x0 = alloc_f(n_seq * T * heads * hd);
    fill(x0, n_seq * T * heads * hd, &r, 1.0);
    CHECK(memcmp(x, x0, (size_t)(heads * hd) * sizeof(float)) == 0, "position 0 rotated");
    CHECK(memcmp(x + T * heads * hd, x0 + T * heads * hd, (size_t)(heads * hd) * sizeof(float)) == 0, "second sequence not at position 0");
    free(x), free(x_ref), free(cs), free(sn), free(x0);
}

static void test_logsumexp_and_nll(void)
{
    static const int64_t ns[] = {1, 17, 256, 257, 49152};
    qz_rng r;
    qz_rng_seed(&r, 4);
    for (size_t k = 0; k < sizeof ns / sizeof *ns; k++) {
        float *x = alloc_f(ns[k]);
        fill(x, ns[k], &r, 6.0);
        CHECK_CLOSE(qz_logsumexp(x, ns[k]), qz_logsumexp_ref(x, ns[k]), 0, 1e-6);
        free(x);
    }
    float two[2] = {0.0f, 0.0f}; /* hand-worked: log 2 */
    CHECK_CLOSE(qz_logsumexp(two, 2), 0.69314718055994531, 0, 1e-7);
    /* rows x vocab: each row's NLL, and the same bytes for 1 and 3 threads */
    int64_t n = 37, V = 1000;
    float *lg = alloc_f(n * V);
    int32_t next[37];
    double nll1[37], nll3[37];
    fill(lg, n * V, &r, 4.0);
    for (int64_t i = 0; i < n; i++) next[i] = (int32_t)qz_rng_below(&r, (uint64_t)V);
    qz_set_threads(1);
    qz_nll_rows(lg, n, V, next, nll1);
    qz_set_threads(3);
    qz_nll_rows(lg, n, V, next, nll3);
    qz_set_threads(0);
    for (int64_t i = 0; i < n; i++) CHECK_CLOSE(nll1[i], qz_logsumexp_ref(lg + i * V, V) - lg[i * V + next[i]], 0, 1e-6);
    CHECK(memcmp(nll1, nll3, sizeof nll1) == 0, "NLLs depend on the thread count");
    free(lg);
}

/* One attention case: fast (1 and 3 threads) against the reference. */
static void check_attention(qz_attn_shape sh, uint64_t seed)
{
    int64_t rows = sh.n_seq * sh.T, qd = sh.n_heads * sh.hd, kvd = sh.n_kv * sh.hd;
    qz_rng r;
    qz_rng_seed(&r, seed);
    float *q = alloc_f(rows * qd), *k = alloc_f(rows * kvd), *v = alloc_f(rows * kvd);
    float *o1 = alloc_f(rows * qd), *o3 = alloc_f(rows * qd), *o_ref = alloc_f(rows * qd);
    float *work = alloc_f(3 * qz_attention_work(&sh));
    fill(q, rows * qd, &r, 2.0);
    fill(k, rows * kvd, &r, 2.0);
    fill(v, rows * kvd, &r, 1.0);
    qz_set_threads(1);
    qz_attention(&sh, q, k, v, o1, work, 3);
    qz_set_threads(3);
    qz_attention(&sh, q, k, v, o3, work, 3);
    qz_set_threads(0);
    qz_attention_ref(&sh, q, k, v, o_ref);
    int bad = 0;
    for (int64_t i = 0; i < rows * qd && bad < 10; i++) {
        double tol = 1e-5 + 1e-5 * fabs((double)o_ref[i]);
        if (!(fabs((double)o1[i] - o_ref[i]) <= tol)) {
            bad++;
            CHECK(0, "T %lld hd %lld window %lld: out[%lld] = %.9g, reference %.9g", (long long)sh.T, (long long)sh.hd,
                  (long long)sh.window, (long long)i, (double)o1[i], (double)o_ref[i]);
        }
    }
    CHECK(memcmp(o1, o3, (size_t)(rows * qd) * sizeof(float)) == 0, "T %lld: 1 and 3 threads differ", (long long)sh.T);
    free(q), free(k), free(v), free(o1), free(o3), free(o_ref), free(work);
}

static void test_attention_matches_ref(void)
{
    /* GQA 9:3 at head_dim 64 (SmolLM2), T not a multiple of the tile */
    check_attention((qz_attn_shape){2, 300, 9, 3, 64, 0}, 5);
    /* head_dim 8, 8 heads (stories260K), T just over one tile */
    check_attention((qz_attn_shape){3, QZ_ATTN_TILE + 2, 8, 8, 8, 0}, 6);
    /* seqlen 1, and exactly one tile */
    check_attention((qz_attn_shape){2, 1, 4, 2, 16, 0}, 7);
    check_attention((qz_attn_shape){1, QZ_ATTN_TILE, 4, 1, 16, 0}, 8);
    /* sliding windows that start inside a tile and skip whole tiles */
    check_attention((qz_attn_shape){1, 300, 4, 2, 16, 100}, 9);
    check_attention((qz_attn_shape){1, 3 * QZ_ATTN_TILE + 5, 2, 1, 8, 1}, 10);
}

/* The first query row of a sequence sees only itself: its output is its v. */
static void test_attention_first_row_and_nan(void)
{
    qz_attn_shape sh = {1, 4, 2, 1, 8, 0};
    float q[4 * 16], k[4 * 8], v[4 * 8], o[4 * 16];
    float *work = alloc_f(qz_attention_work(&sh));
    for (int i = 0; i < 64; i++) q[i] = (float)(i % 5) - 2.0f;
    for (int i = 0; i < 32; i++) k[i] = (float)(i % 3), v[i] = (float)i;
    qz_attention(&sh, q, k, v, o, work, 1);
    for (int h = 0; h < 2; h++)
        for (int d = 0; d < 8; d++) CHECK(o[h * 8 + d] == v[d], "head %d: out[%d] = %g, want v[%d] = %g", h, d, (double)o[h * 8 + d], d, (double)v[d]);
    k[8] = NAN; /* key 1: queries 1.. of both heads must see NaN */
    qz_attention(&sh, q, k, v, o, work, 1);
    CHECK(!isnan(o[0]) && isnan(o[16]) && isnan(o[3 * 16 + 8]), "NaN key not propagated: %g %g %g", (double)o[0], (double)o[16],
          (double)o[56]);
    free(work);
}

static void test_exp_row_matches_expf(void)
{
    int64_t n = 1000;
    float *x = alloc_f(n);
    for (int64_t i = 0; i < n; i++) x[i] = -87.0f * (float)i / (float)(n - 1);
    float *y = alloc_f(n);
    memcpy(y, x, (size_t)n * sizeof(float));
    qz_exp_nonpos_row(y, n);
    for (int64_t i = 0; i < n; i++) CHECK_CLOSE(y[i], expf(x[i]), 0, 3e-7);
    free(x), free(y);
}

/* Finite values at the edges of the range: the largest floats and a
 * denormal. */
static void fill_finite(float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) x[i] = i % 3 == 0 ? FLT_MAX : i % 3 == 1 ? -FLT_MAX : 1e-45f;
}

/* NaN, +Inf or -Inf at offsets in and across chunk edges, lengths that are
 * and are not chunk multiples, with and without a later one: the index
 * isfinite gives. */
static void test_first_nonfinite_matches_ref(void)
{
    const int64_t lens[] = {0, 1, 255, 256, 257, 1000};
    const float bad[] = {NAN, INFINITY, -INFINITY};
    float *x = alloc_f(1000);
    int wrong = 0;
    for (size_t l = 0; l < sizeof lens / sizeof *lens; l++) {
        int64_t n = lens[l];
        fill_finite(x, n);
        wrong += qz_first_nonfinite(x, n) != -1;
        for (int64_t at = 0; at < n; at += n > 300 ? 37 : 1)
            for (int b = 0; b < 3; b++)
                for (int later = 0; later < 2; later++) {
                    fill_finite(x, n);
                    x[at] = bad[b];
                    if (later) x[n - 1] = bad[(b + 1) % 3];
                    int64_t want = qz_first_nonfinite_ref(x, n);
                    wrong += want != at || qz_first_nonfinite(x, n) != want;
                }
    }
    CHECK(wrong == 0, "%d wrong answers", wrong);
    free(x);
}

/* Elementwise kernels at sizes that split into spans: the same bytes for
 * 1 and 3 threads, and still their references (RoPE's positions cross the
 * span edges: T = 7 does not divide a span). */
static void test_elementwise_spans(void)
{
    int64_t n_seq = 3, T = 7, heads = 9, hd = 64, half = hd / 2, rows = 300, d = 1001;
    int64_t nr = n_seq * T * 40 * heads * hd, ne = rows * d; /* 40 x the sequences: 483840 floats */
    qz_rng r;
    qz_rng_seed(&r, 7);
    float *a = alloc_f(ne), *b = alloc_f(ne), *w = alloc_f(d), *y1 = alloc_f(ne), *y3 = alloc_f(ne), *yr = alloc_f(ne);
    float *rs1 = alloc_f(rows), *rs3 = alloc_f(rows);
    fill(a, ne, &r, 3.0);
    fill(b, ne, &r, 1.0);
    fill(w, d, &r, 1.0);
    qz_set_threads(1);
    qz_rmsnorm_rstd(y1, rs1, a, w, rows, d, 1e-5);
    qz_set_threads(3);
    qz_rmsnorm_rstd(y3, rs3, a, w, rows, d, 1e-5);
    qz_rmsnorm_ref(yr, a, w, rows, d, 1e-5);
    CHECK(memcmp(y1, y3, (size_t)ne * sizeof(float)) == 0 && memcmp(rs1, rs3, (size_t)rows * sizeof(float)) == 0,
          "rmsnorm depends on the thread count");
    for (int64_t i = 0; i < ne; i++) CHECK_CLOSE(y3[i], yr[i], 0, 1e-6);
    for (int k = 0; k < 2; k++) { /* add, then swiglu */
        memcpy(y1, a, (size_t)ne * sizeof(float));
        memcpy(y3, a, (size_t)ne * sizeof(float));
        memcpy(yr, a, (size_t)ne * sizeof(float));
        qz_set_threads(1);
        k ? qz_swiglu(y1, b, ne) : qz_add(y1, b, ne);
        qz_set_threads(3);
        k ? qz_swiglu(y3, b, ne) : qz_add(y3, b, ne);
        if (k) qz_swiglu_ref(yr, b, ne);
        else
            for (int64_t i = 0; i < ne; i++) yr[i] += b[i];
        CHECK(memcmp(y1, y3, (size_t)ne * sizeof(float)) == 0, "%s depends on the thread count", k ? "swiglu" : "add");
        int bad = 0;
        for (int64_t i = 0; i < ne; i++) bad += k ? fabsf(y3[i] - yr[i]) > 1e-30f + 4e-7f * fabsf(yr[i]) : y3[i] != yr[i];
        CHECK(bad == 0, "%s: %d elements off their reference", k ? "swiglu" : "add", bad);
    }
    float *x = alloc_f(nr), *x1 = alloc_f(nr), *x3 = alloc_f(nr), *cs = alloc_f(T * half), *sn = alloc_f(T * half);
    fill(x, nr, &r, 1.0);
    for (int64_t p = 0; p < T * half; p++) cs[p] = cosf(0.1f * (float)p), sn[p] = sinf(0.1f * (float)p);
    memcpy(x1, x, (size_t)nr * sizeof(float));
    memcpy(x3, x, (size_t)nr * sizeof(float));
    qz_set_threads(1);
    qz_rope(x1, n_seq * 40, T, heads, hd, cs, sn);
    qz_set_threads(3);
    qz_rope(x3, n_seq * 40, T, heads, hd, cs, sn);
    qz_set_threads(0);
    qz_rope_ref(x, n_seq * 40, T, heads, hd, cs, sn);
    CHECK(memcmp(x1, x3, (size_t)nr * sizeof(float)) == 0 && memcmp(x3, x, (size_t)nr * sizeof(float)) == 0,
          "rope split across threads differs");
    free(a), free(b), free(w), free(y1), free(y3), free(yr), free(rs1), free(rs3);
    free(x), free(x1), free(x3), free(cs), free(sn);
}

/* qz_parallel_for runs its tasks on exactly the workers asked for, even
 * when OpenBLAS is single-threaded at the time (as inside qz_attention,
 * where qz_threads() follows it): each of the 3 tasks waits until all 3
 * run at once, which fewer threads can never reach (each wait bounded by 10 s). */
typedef struct {
    atomic_int arrived;
    atomic_int met;
} rendezvous;

static void meet_task(void *ctx, int64_t task, int worker)
{
    (void)task, (void)worker;
    rendezvous *rv = ctx;
    atomic_fetch_add(&rv->arrived, 1);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        if (atomic_load(&rv->arrived) == 3) {
            atomic_fetch_add(&rv->met, 1);
            return;
        }
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while (t.tv_sec - t0.tv_sec < 10);
}

static void test_parallel_for_exact_workers(void)
{
    int blas = openblas_get_num_threads();
    qz_set_threads(0);
    openblas_set_num_threads(1);
    rendezvous rv = {0, 0};
    qz_parallel_for(3, 3, meet_task, &rv);
    openblas_set_num_threads(blas);
    CHECK(atomic_load(&rv.met) == 3, "%d of 3 tasks ran concurrently", atomic_load(&rv.met));
}

int main(void)
{
    QZ_RUN(test_rmsnorm_matches_ref);
    QZ_RUN(test_swiglu_matches_ref);
    QZ_RUN(test_rope_matches_ref);
    QZ_RUN(test_logsumexp_and_nll);
    QZ_RUN(test_attention_matches_ref);
    QZ_RUN(test_attention_first_row_and_nan);
    QZ_RUN(test_exp_row_matches_expf);
    QZ_RUN(test_first_nonfinite_matches_ref);
    QZ_RUN(test_elementwise_spans);
    QZ_RUN(test_parallel_for_exact_workers);
    QZ_TEST_EXIT();
}
