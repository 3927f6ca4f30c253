/* test_sparsegpt.c - SparseGPT mask selection on the GPTQ solver.
 *
 * Golden values: the .qzfx files in tests/fixtures/sparsegpt, written once by
 * scripts/gen_sparsegpt_fixture.py (an independent numpy transcription of the
 * IST-DASLab fasterprune with qz's exact-k rule), and hand-worked cases with
 * H = I (no error propagation, so the mask is a plain selection on |w|).
 * Masks must match except for near-ties that sgemm summation order and the
 * fp64 inverse can flip: at most 0.1% of entries per case (the count is
 * printed); W after within abs + rel tolerance where masks and codes agree.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "gptq.h"
#include "quant_grid.h"
#include "qz_common.h"
#include "rng.h"
#include "sparsegpt.h"
#include "tests/qz_fixture.h"
#include "tests/qz_test.h"

#define TOL_W_ABS 1e-5    /* W after, where masks and codes agree */
#define TOL_W_REL 1e-5
#define TOL_LOSS_REL 1e-5 /* total loss vs the fixture's */
#define TOL_SCALE_REL 1e-5
#define MAX_TIE_FRAC 1e-3 /* mask / code mismatches allowed (near-ties) */

/* ------------------------------------------------------------------------- */
/* Helpers                                                                    */

static float *dup_f32(const float *x, int64_t n)
{
    float *y = malloc((size_t)n * sizeof *y);
    if (y) memcpy(y, x, (size_t)n * sizeof *y);
    return y;
}

/* H = X^T X of integer activations, summed exactly in int64 (fits fp32). */
static float *hessian_int8(const int8_t *X, int64_t tokens, int64_t cols)
{
    float *H = malloc((size_t)(cols * cols) * sizeof *H);
    if (!H) return NULL;
    for (int64_t a = 0; a < cols; a++)
        for (int64_t b = 0; b < cols; b++) {
            int64_t s = 0;
            for (int64_t t = 0; t < tokens; t++) s += (int64_t)X[t * cols + a] * X[t * cols + b];
            H[a * cols + b] = (float)s;
        }
    return H;
}

/* Every N:M group of every row has exactly N pruned; every block of an
 * unstructured run exactly floor(rows * width * sparsity). */
static void check_counts(const char *name, const uint8_t *keep, int64_t rows, int64_t cols,
                         const qz_sparsegpt_opts *o)
{
    int64_t bad = 0;
    if (o->prune_n > 0) {
        for (int64_t r = 0; r < rows; r++)
            for (int64_t g = 0; g < cols; g += o->prune_m) {
                int pruned = 0;
                for (int j = 0; j < o->prune_m; j++) pruned += !keep[r * cols + g + j];
                bad += pruned != o->prune_n;
            }
        CHECK(bad == 0, "%s: %lld groups without exactly %d of %d pruned", name, (long long)bad,
              o->prune_n, o->prune_m);
        return;
    }
    int64_t bs = o->gptq.block_size < cols ? o->gptq.block_size : cols;
    for (int64_t i1 = 0; i1 < cols; i1 += bs) {
        int64_t i2 = i1 + bs < cols ? i1 + bs : cols, pruned = 0;
        int64_t k = (int64_t)((double)(rows * (i2 - i1)) * o->sparsity);
        for (int64_t r = 0; r < rows; r++)
            for (int64_t j = i1; j < i2; j++) pruned += !keep[r * cols + j];
        CHECK(pruned == k, "%s: block [%lld, %lld) has %lld pruned, want %lld", name,
              (long long)i1, (long long)i2, (long long)pruned, (long long)k);
    }
}

/* Pruned weights are exactly 0.0f, and their codes the zero point. */
static void check_pruned_zero(const char *name, const float *w, const uint8_t *keep,
                              const qz_quant_result *r, int64_t rows, int64_t cols)
{
    int64_t nonzero = 0, badcode = 0;
    for (int64_t i = 0; i < rows * cols; i++) {
        if (keep[i]) continue;
        nonzero += w[i] != 0.0f || signbit(w[i]);
        if (r->codes) badcode += r->codes[i] != r->zeros[r->g_idx[i % cols] * rows + i / cols];
    }
    CHECK(nonzero == 0, "%s: %lld pruned weights are not +0.0f", name, (long long)nonzero);
    CHECK(badcode == 0, "%s: %lld pruned codes are not the zero point", name, (long long)badcode);
}

/* ------------------------------------------------------------------------- */
/* Against the numpy reference                                                */

typedef struct fx_want {
    const uint8_t *keep, *codes;
    const float *Q, *scales;
    const int32_t *zeros;
    double loss;
    int64_t n_groups;
} fx_want;

static int64_t count_diff_u8(const uint8_t *a, const uint8_t *b, int64_t n)
{
    int64_t m = 0;
    for (int64_t i = 0; i < n && b; i++) m += a[i] != b[i];
    return m;
}

static void compare_quant(const char *name, const qz_quant_result *r, const fx_want *x,
                          int64_t rows)
{
    CHECK(r->n_groups == x->n_groups, "%s: n_groups %lld, want %lld", name,
          (long long)r->n_groups, (long long)x->n_groups);
    for (int64_t i = 0; r->n_groups == x->n_groups && i < x->n_groups * rows; i++) {
        CHECK_CLOSE(r->scales[i], x->scales[i], 0.0, TOL_SCALE_REL);
        CHECK(r->zeros[i] == x->zeros[i], "%s: zero[%lld] = %d, want %d", name, (long long)i,
              r->zeros[i], x->zeros[i]);
    }
}

static void compare(const char *name, const float *w, const uint8_t *keep,
                    const qz_quant_result *r, const fx_want *x, int64_t rows, int64_t cols)
{
    const int64_t n = rows * cols, allowed = (int64_t)(MAX_TIE_FRAC * (double)n);
    int64_t mask_diff = count_diff_u8(keep, x->keep, n);
    int64_t code_diff = r->codes ? count_diff_u8(r->codes, x->codes, n) : 0;
    CHECK(mask_diff <= allowed, "%s: %lld of %lld mask entries differ", name,
          (long long)mask_diff, (long long)n);
    CHECK(code_diff <= allowed, "%s: %lld of %lld codes differ", name, (long long)code_diff,
          (long long)n);
    int64_t wbad = 0;
    double maxd = 0.0;
    for (int64_t i = 0; i < n; i++) {
        if (keep[i] != x->keep[i] || (r->codes && r->codes[i] != x->codes[i])) continue;
        double d = fabs((double)w[i] - x->Q[i]);
        maxd = d > maxd ? d : maxd;
        wbad += d > TOL_W_ABS + TOL_W_REL * fabs((double)x->Q[i]);
    }
    CHECK(wbad == 0, "%s: %lld weights differ beyond tolerance (max %g)", name, (long long)wbad,
          maxd);
    CHECK_CLOSE(r->loss, x->loss, 0.0, TOL_LOSS_REL);
    CHECK_CLOSE(r->damp_used, 0.01, 0.0, 1e-12);
    if (r->codes) compare_quant(name, r, x, rows);
    printf("  %-22s mask differing (near-ties): %lld/%lld, codes differing: %lld, "
           "max |dW| %.3g, loss %.9g (numpy %.9g)\n", name, (long long)mask_diff, (long long)n,
           (long long)code_diff, maxd, r->loss, x->loss);
}

/* Options from the fixture's params [N, M, block, bits, gs, sym, mse]. */
static qz_sparsegpt_opts fixture_opts(const int32_t *p, double sparsity, double damp)
{
    qz_sparsegpt_opts o = qz_sparsegpt_opts_default();
    o.sparsity = sparsity;
    o.prune_n = p[0];
    o.prune_m = p[1];
    o.gptq.block_size = p[2];
    o.gptq.bits = p[3];
    o.gptq.group_size = p[4];
    o.gptq.sym = p[5];
    o.gptq.mse = p[6];
    o.gptq.damp = damp;
    return o;
}

static int fixture_want(fx_file *f, fx_want *x)
{
    fx_array *K = fx_get(f, "keep", "u8"), *Q = fx_get(f, "Q", "f32"),
             *L = fx_get(f, "loss", "f64"), *C = fx_get(f, "codes", "u8"),
             *S = fx_get(f, "scales", "f32"), *Z = fx_get(f, "zeros", "i32");
    if (!K || !Q || !L || (C && (!S || !Z))) return -1;
    *x = (fx_want){K->data, C ? C->data : NULL, Q->data, S ? S->data : NULL,
                   Z ? Z->data : NULL, *(double *)L->data, S ? S->dims[0] : 0};
    return 0;
}

static void sgpt_case(const char *name)
{
    fx_file f;
    if (fx_open(&f, name)) return;
    fx_array *P = fx_get(&f, "params", "i32"), *SP = fx_get(&f, "sparsity", "f64"),
             *D = fx_get(&f, "damp", "f64"), *W = fx_get(&f, "W", "f32"),
             *X = fx_get(&f, "X", "i8");
    fx_want want;
    if (!P || !SP || !D || !W || !X || fixture_want(&f, &want)) {
        CHECK(0, "%s: fixture incomplete", name);
        fx_free(&f);
        return;
    }
    int64_t rows = W->dims[0], cols = W->dims[1];
    qz_sparsegpt_opts o = fixture_opts(P->data, *(double *)SP->data, *(double *)D->data);
    float *H = hessian_int8(X->data, X->dims[0], cols), *w = dup_f32(W->data, rows * cols);
    uint8_t *keep = malloc((size_t)(rows * cols));
    qz_quant_result r;
    qz_error err = {0};
    int rc = H && w && keep ? qz_sparsegpt_prune(w, rows, cols, H, &o, keep, &r, &err) : -1;
    CHECK(rc == QZ_OK, "%s: sparsegpt failed: %s", name, err.msg);
    if (rc == QZ_OK) {
        check_counts(name, keep, rows, cols, &o);
        check_pruned_zero(name, w, keep, &r, rows, cols);
        compare(name, w, keep, &r, &want, rows, cols);
        qz_quant_result_free(&r);
    }
    free(H);
    free(w);
    free(keep);
    fx_free(&f);
}

static void test_unstructured_50(void) { sgpt_case("a_unstr50"); }
static void test_unstructured_30_blocks_320(void) { sgpt_case("b_unstr30_320"); }
static void test_2of4(void) { sgpt_case("c_2of4"); }
static void test_4of8(void) { sgpt_case("d_4of8"); }
static void test_2of4_joint_sym4(void) { sgpt_case("e_2of4_sym4_pc"); }
static void test_unstructured_joint_asym3_g32(void) { sgpt_case("f_unstr50_asym3_g32"); }
static void test_dead_columns(void) { sgpt_case("g_dead_unstr50"); }
static void test_2of4_block64(void) { sgpt_case("h_2of4_bs64"); }

/* ------------------------------------------------------------------------- */
/* Hand-worked: H = I                                                         */

/* With H = I: damp = 0.01, U = I / sqrt(1.01) (no error propagation), so
 * kept weights stay as they are and score = w^2 / d^2 with the same d. */
static float *identity_h(int64_t n)
{
    float *H = calloc((size_t)(n * n), sizeof *H);
    for (int64_t i = 0; H && i < n; i++) H[i * n + i] = 1.0f;
    return H;
}

typedef struct scored {
    float s;
    int64_t idx;
} scored;

static int scored_cmp(const void *a, const void *b)
{
    const scored *x = a, *y = b;
    if (x->s != y->s) return x->s < y->s ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

static void test_all_ties(void)
{
    /* W = 1 everywhere: every score ties, so the lowest row-major indices of
     * each block go: block 8 -> rows 0-1; block 4 -> rows 0-1 of each block;
     * 2:4 -> the first two of every group. loss = 16 * 1.01 / 2 = 8.08. */
    enum { R = 4, C = 8 };
    static const int bsz[2] = {8, 4};
    for (int t = 0; t < 3; t++) {
        float W[R * C], *H = identity_h(C);
        uint8_t keep[R * C];
        for (int i = 0; i < R * C; i++) W[i] = 1.0f;
        qz_sparsegpt_opts o = qz_sparsegpt_opts_default();
        o.gptq.block_size = t < 2 ? bsz[t] : 8;
        o.prune_n = t == 2 ? 2 : 0;
        o.prune_m = t == 2 ? 4 : 0;
        qz_quant_result r;
        qz_error err = {0};
        CHECK(H && qz_sparsegpt_prune(W, R, C, H, &o, keep, &r, &err) == QZ_OK, "%s", err.msg);
        for (int i = 0; i < R * C; i++) {
            int row = i / C, col = i % C;
            int want = t == 2 ? col % 4 >= 2 : row >= 2;
            CHECK(keep[i] == want, "case %d: keep[%d][%d] = %d", t, row, col, keep[i]);
            CHECK(W[i] == (want ? 1.0f : 0.0f), "case %d: W[%d][%d] = %g", t, row, col, W[i]);
        }
        CHECK_CLOSE(r.loss, 8.08, 0.0, 1e-6);
        qz_quant_result_free(&r);
        free(H);
    }
}

/* Many ties (values from a small set) over several blocks, against a full
 * stable sort of the block's scores. */
static void test_selection_vs_sort(void)
{
    enum { R = 24, C = 200, BS = 64 };
    float *W = malloc(R * C * sizeof *W), *W0 = malloc(R * C * sizeof *W), *H = identity_h(C);
    uint8_t *keep = malloc(R * C);
    scored *sc = malloc(R * BS * sizeof *sc);
    qz_rng g;
    qz_rng_seed(&g, 7);
    for (int i = 0; i < R * C; i++) W0[i] = W[i] = (float)((int)qz_rng_below(&g, 33) - 16) / 8.0f;
    qz_sparsegpt_opts o = qz_sparsegpt_opts_default();
    o.sparsity = 0.37;
    o.gptq.block_size = BS;
    qz_quant_result r;
    qz_error err = {0};
    CHECK(qz_sparsegpt_prune(W, R, C, H, &o, keep, &r, &err) == QZ_OK, "%s", err.msg);
    const float d = (float)(1.0 / sqrt(1.01));
    int64_t bad = 0, wbad = 0;
    double loss = 0.0;
    for (int i1 = 0; i1 < C; i1 += BS) {
        int n = i1 + BS < C ? BS : C - i1, k = (int)((double)(R * n) * o.sparsity);
        for (int rr = 0; rr < R; rr++)
            for (int j = 0; j < n; j++) {
                float w = W0[rr * C + i1 + j];
                sc[rr * n + j] = (scored){(w * w) / (d * d), rr * n + j};
            }
        qsort(sc, (size_t)(R * n), sizeof *sc, scored_cmp);
        for (int p = 0; p < R * n; p++) {
            int64_t idx = (int64_t)(sc[p].idx / n) * C + i1 + sc[p].idx % n;
            bad += keep[idx] != (p >= k);
            wbad += W[idx] != (p >= k ? W0[idx] : 0.0f);
            if (p < k) loss += 0.5 * (double)sc[p].s;
        }
    }
    CHECK(bad == 0 && wbad == 0, "%lld mask / %lld weight entries differ from the sort",
          (long long)bad, (long long)wbad);
    CHECK_CLOSE(r.loss, loss, 0.0, 1e-9);
    qz_quant_result_free(&r);
    free(W);
    free(W0);
    free(H);
    free(keep);
    free(sc);
}

/* ------------------------------------------------------------------------- */
/* Against magnitude pruning on correlated inputs                             */

enum { MG_R = 32, MG_C = 128, MG_T = 512, MG_F = 8 };

/* x_t = z_t A + 0.3 noise: MG_F latent factors make the channels correlated. */
static void correlated_inputs(float *X, qz_rng *g)
{
    static float A[MG_F * MG_C];
    for (int i = 0; i < MG_F * MG_C; i++) A[i] = (float)qz_rng_normal(g);
    for (int t = 0; t < MG_T; t++) {
        float z[MG_F];
        for (int f = 0; f < MG_F; f++) z[f] = (float)qz_rng_normal(g);
        for (int j = 0; j < MG_C; j++) {
            float x = 0.3f * (float)qz_rng_normal(g);
            for (int f = 0; f < MG_F; f++) x += z[f] * A[f * MG_C + j];
            X[t * MG_C + j] = x;
        }
    }
}

/* ||W X^T - W' X^T||_F. */
static double output_error(const float *W, const float *Wp, const float *X)
{
    double e = 0.0;
    for (int r = 0; r < MG_R; r++)
        for (int t = 0; t < MG_T; t++) {
            double y = 0.0;
            for (int j = 0; j < MG_C; j++)
                y += ((double)W[r * MG_C + j] - Wp[r * MG_C + j]) * X[t * MG_C + j];
            e += y * y;
        }
    return sqrt(e);
}

/* Per row (m = 0) or per group of m: prune the smallest half of |w|, ties by index. */
static void magnitude_prune(float *W, int m)
{
    const int g = m ? m : MG_C;
    scored sc[MG_C];
    for (int r = 0; r < MG_R; r++)
        for (int c0 = 0; c0 < MG_C; c0 += g) {
            for (int j = 0; j < g; j++) sc[j] = (scored){fabsf(W[r * MG_C + c0 + j]), j};
            qsort(sc, (size_t)g, sizeof *sc, scored_cmp);
            for (int p = 0; p < g / 2; p++) W[r * MG_C + c0 + sc[p].idx] = 0.0f;
        }
}

static void test_beats_magnitude(void)
{
    static float X[MG_T * MG_C], W[MG_R * MG_C], Ws[MG_R * MG_C], Wm[MG_R * MG_C],
        H[MG_C * MG_C];
    qz_rng g;
    qz_rng_seed(&g, 42);
    correlated_inputs(X, &g);
    for (int i = 0; i < MG_R * MG_C; i++) W[i] = 0.05f * (float)qz_rng_normal(&g);
    for (int m = 0; m <= 4; m += 4) { /* 50% unstructured, then 2:4 */
        for (int a = 0; a < MG_C; a++)
            for (int b = 0; b < MG_C; b++) {
                double s = 0.0;
                for (int t = 0; t < MG_T; t++) s += (double)X[t * MG_C + a] * X[t * MG_C + b];
                H[a * MG_C + b] = (float)(2.0 * s / MG_T);
            }
        memcpy(Ws, W, sizeof W);
        memcpy(Wm, W, sizeof W);
        qz_sparsegpt_opts o = qz_sparsegpt_opts_default();
        o.prune_n = m / 2;
        o.prune_m = m;
        qz_quant_result r;
        qz_error err = {0};
        CHECK(qz_sparsegpt_prune(Ws, MG_R, MG_C, H, &o, NULL, &r, &err) == QZ_OK, "%s", err.msg);
        qz_quant_result_free(&r);
        magnitude_prune(Wm, m);
        double es = output_error(W, Ws, X), em = output_error(W, Wm, X);
        CHECK(es < em, "%s: sparsegpt error %g not below magnitude %g", m ? "2:4" : "50%", es, em);
        printf("  %-4s ||WX - W'X||: sparsegpt %.6g, magnitude %.6g (ratio %.3f)\n",
               m ? "2:4" : "50%", es, em, es / em);
    }
}

/* ------------------------------------------------------------------------- */
/* Options, determinism                                                       */

static int run_opts(const qz_sparsegpt_opts *o, int64_t cols, qz_error *err)
{
    enum { R = 2, C = 72 };
    float W[R * C], *H = identity_h(C);
    for (int i = 0; i < R * C; i++) W[i] = (float)(i % 7) - 3.0f;
    qz_quant_result r;
    int rc = H ? qz_sparsegpt_prune(W, R, cols, H, o, NULL, &r, err) : QZ_EINTERNAL;
    CHECK(rc != QZ_OK || r.loss >= 0.0, "loss %g", r.loss);
    CHECK(rc == QZ_OK || (r.codes == NULL && r.loss == 0.0), "result not cleared on failure");
    qz_quant_result_free(&r);
    free(H);
    return rc;
}

static void expect_refused(qz_sparsegpt_opts o, int64_t cols, const char *what, const char *msg)
{
    qz_error err = {0};
    int rc = run_opts(&o, cols, &err);
    CHECK(rc == QZ_EINPUT, "%s accepted (rc %d)", what, rc);
    CHECK(strstr(err.msg, msg) != NULL, "%s: message '%s' lacks '%s'", what, err.msg, msg);
}

static void test_bad_options(void)
{
    qz_sparsegpt_opts d = qz_sparsegpt_opts_default(), o;
    qz_error err = {0};
    CHECK(run_opts(&d, 72, &err) == QZ_OK, "defaults refused: %s", err.msg);
    o = d, o.sparsity = 1.0;
    expect_refused(o, 72, "sparsity 1", "sparsity");
    o = d, o.sparsity = -0.1;
    expect_refused(o, 72, "sparsity -0.1", "sparsity");
    o = d, o.sparsity = NAN;
    expect_refused(o, 72, "sparsity NaN", "sparsity");
    static const int nm[][2] = {{0, 4}, {4, 4}, {3, 2}, {-1, 4}, {2, 0}};
    for (int i = 0; i < 5; i++) {
        o = d, o.prune_n = nm[i][0], o.prune_m = nm[i][1];
        expect_refused(o, 72, "bad N:M", "N:M");
    }
    o = d, o.prune_n = 2, o.prune_m = 4, o.gptq.block_size = 6;
    expect_refused(o, 72, "block 6 with 2:4", "block_size");
    o = d, o.prune_n = 3, o.prune_m = 8, o.gptq.block_size = 64;
    expect_refused(o, 68, "68 columns with 3:8", "multiple of M");
    o = d, o.gptq.act_order = 1;
    expect_refused(o, 72, "act_order", "act_order");
    o = d, o.gptq.block_size = 0;
    expect_refused(o, 72, "block 0", "block_size");
    o = d, o.gptq.bits = 5;
    expect_refused(o, 72, "bits 5", "bits");
    expect_refused(d, 0, "0 columns", "shape");
    qz_quant_result r;
    CHECK(qz_sparsegpt_prune(NULL, 1, 1, NULL, NULL, NULL, &r, &err) == QZ_EINPUT,
          "NULL options accepted");
    o = d, o.prune_n = 2, o.prune_m = 4, o.sparsity = 7.0; /* ignored with N:M */
    CHECK(run_opts(&o, 72, &err) == QZ_OK, "2:4 with sparsity 7 refused: %s", err.msg);
}

static void test_deterministic_and_noop(void)
{
    enum { R = 8, C = 160 };
    static float X[200 * C], H[C * C], H2[C * C], W[R * C], W2[R * C];
    static uint8_t k1[R * C], k2[R * C];
    qz_rng g;
    qz_rng_seed(&g, 3);
    for (int i = 0; i < 200 * C; i++) X[i] = (float)qz_rng_below(&g, 17) - 8.0f;
    int64_t n = 0;
    qz_error err = {0};
    memset(H, 0, sizeof H);
    CHECK(qz_hessian_add(H, &n, X, 200, C, 4, &err) == QZ_OK, "%s", err.msg);
    qz_hessian_symmetrize(H, C);
    memcpy(H2, H, sizeof H);
    for (int i = 0; i < R * C; i++) W[i] = W2[i] = 0.01f * (float)qz_rng_normal(&g);
    qz_sparsegpt_opts o = qz_sparsegpt_opts_default();
    o.gptq.bits = 4;
    o.gptq.block_size = 64;
    qz_quant_result a, b;
    CHECK(qz_sparsegpt_prune(W, R, C, H, &o, k1, &a, &err) == QZ_OK, "%s", err.msg);
    CHECK(qz_sparsegpt_prune(W2, R, C, H2, &o, k2, &b, &err) == QZ_OK, "%s", err.msg);
    CHECK(!memcmp(W, W2, sizeof W) && !memcmp(k1, k2, sizeof k1) &&
              !memcmp(a.codes, b.codes, R * C) && a.loss == b.loss, "two runs differ");
    qz_quant_result_free(&a);
    qz_quant_result_free(&b);
    /* sparsity 0, no quantization: nothing pruned, nothing moves */
    for (int i = 0; i < R * C; i++) W[i] = W2[i] = 0.01f * (float)qz_rng_normal(&g);
    n = 0;
    memset(H, 0, sizeof H);
    CHECK(qz_hessian_add(H, &n, X, 200, C, 4, &err) == QZ_OK, "%s", err.msg);
    qz_hessian_symmetrize(H, C);
    o = qz_sparsegpt_opts_default();
    o.sparsity = 0.0;
    CHECK(qz_sparsegpt_prune(W, R, C, H, &o, k1, &a, &err) == QZ_OK, "%s", err.msg);
    int kept = 0;
    for (int i = 0; i < R * C; i++) kept += k1[i];
    CHECK(kept == R * C && !memcmp(W, W2, sizeof W) && a.loss == 0.0 && a.codes == NULL,
          "sparsity 0 moved W (kept %d)", kept);
    qz_quant_result_free(&a);
}

/* The blocked GPTQ solver against the reference-order one under the
 * SparseGPT hook: the N:M hook reads M columns ahead, so the blocked
 * solver's sub-blocks must align to M (also M = 64 > QZ_GPTQ_LEAF). Masks
 * and codes may differ at near-ties only (MAX_TIE_FRAC), the loss within
 * TOL_LOSS_REL, W within TOL_W_ABS in rows without a differing mask/code. */
static void blocked_vs_ref(const char *name, int64_t rows, int64_t cols, const qz_sparsegpt_opts *o,
                           qz_rng *g)
{
    const int64_t tokens = 2 * cols + 9;
    float *X = malloc((size_t)(tokens * cols) * sizeof *X), *H = calloc((size_t)(cols * cols), sizeof *H);
    float *W[2], *Hc = malloc((size_t)(cols * cols) * sizeof *Hc);
    uint8_t *keep[2] = {malloc((size_t)(rows * cols)), malloc((size_t)(rows * cols))};
    W[0] = malloc((size_t)(rows * cols) * sizeof(float));
    W[1] = malloc((size_t)(rows * cols) * sizeof(float));
    QZ_ASSERT(X && H && Hc && W[0] && W[1] && keep[0] && keep[1]);
    for (int64_t i = 0; i < tokens * cols; i++)
        X[i] = (float)(qz_rng_uniform(g) * 2 - 1) * (float)(1 + (i % cols) % 5);
    for (int64_t i = 0; i < rows * cols; i++) W[0][i] = W[1][i] = 0.02f * (float)qz_rng_normal(g);
    int64_t n = 0;
    qz_error err = {0};
    CHECK(qz_hessian_add(H, &n, X, tokens, cols, 2, &err) == QZ_OK, "%s", err.msg);
    qz_hessian_symmetrize(H, cols);
    qz_quant_result r[2];
    int rc[2];
    for (int k = 0; k < 2; k++) {
        qz_sparsegpt_opts so = *o;
        so.gptq.solver = k ? QZ_GPTQ_SOLVER_REF : QZ_GPTQ_SOLVER_BLOCKED;
        memcpy(Hc, H, (size_t)(cols * cols) * sizeof *Hc);
        rc[k] = qz_sparsegpt_prune(W[k], rows, cols, Hc, &so, keep[k], &r[k], &err);
        CHECK(rc[k] == QZ_OK, "%s: %s", name, err.msg);
    }
    if (rc[0] == QZ_OK && rc[1] == QZ_OK) {
        CHECK_CLOSE(r[0].loss, r[1].loss, 1e-12, TOL_LOSS_REL);
        check_counts(name, keep[0], rows, cols, o);
        int64_t diff = 0, bad = 0;
        for (int64_t row = 0; row < rows; row++) {
            int64_t d = 0;
            for (int64_t j = 0; j < cols; j++) {
                int64_t i = row * cols + j;
                d += keep[0][i] != keep[1][i] || (r[0].codes && r[0].codes[i] != r[1].codes[i]);
            }
            diff += d;
            for (int64_t j = 0; j < cols && d == 0; j++)
                bad += fabsf(W[0][row * cols + j] - W[1][row * cols + j]) > TOL_W_ABS;
        }
        CHECK(diff <= (int64_t)(MAX_TIE_FRAC * (double)(rows * cols)), "%s: %lld masks/codes differ",
              name, (long long)diff);
        CHECK(bad == 0, "%s: %lld weights differ by > %g in rows without a tie", name,
              (long long)bad, TOL_W_ABS);
        printf("  %-32s masks/codes differing (ties): %lld/%lld\n", name, (long long)diff,
               (long long)(rows * cols));
    }
    for (int k = 0; k < 2; k++) {
        if (rc[k] == QZ_OK) qz_quant_result_free(&r[k]);
        free(W[k]);
        free(keep[k]);
    }
    free(X);
    free(H);
    free(Hc);
}

static void test_blocked_vs_ref(void)
{
    qz_rng g;
    qz_rng_seed(&g, 11);
    qz_sparsegpt_opts o = qz_sparsegpt_opts_default();
    blocked_vs_ref("unstructured 50% 21x150", 21, 150, &o, &g);
    o.sparsity = 0.3;
    o.gptq.block_size = 48;
    o.gptq.bits = 3;
    o.gptq.group_size = 32;
    blocked_vs_ref("unstructured 30% b3 g32 bs48", 13, 101, &o, &g);
    o = qz_sparsegpt_opts_default();
    o.prune_n = 2, o.prune_m = 4;
    blocked_vs_ref("2:4 17x164", 17, 164, &o, &g);
    o.gptq.bits = 4;
    o.gptq.sym = 1;
    blocked_vs_ref("2:4 b4 sym 17x164", 17, 164, &o, &g);
    o = qz_sparsegpt_opts_default();
    o.prune_n = 4, o.prune_m = 8;
    o.gptq.block_size = 40;
    blocked_vs_ref("4:8 bs40 9x200", 9, 200, &o, &g);
    o.prune_n = 2, o.prune_m = 3;
    o.gptq.block_size = 48;
    blocked_vs_ref("2:3 bs48 9x141", 9, 141, &o, &g);
    o.prune_n = 32, o.prune_m = 64;
    o.gptq.block_size = 128;
    blocked_vs_ref("32:64 11x320", 11, 320, &o, &g);
}

int main(int argc, char **argv)
{
    (void)argc;
    fx_init(argv[0], "sparsegpt", "scripts/gen_sparsegpt_fixture.py");
    QZ_RUN(test_unstructured_50);
    QZ_RUN(test_unstructured_30_blocks_320);
    QZ_RUN(test_2of4);
    QZ_RUN(test_4of8);
    QZ_RUN(test_2of4_joint_sym4);
    QZ_RUN(test_unstructured_joint_asym3_g32);
    QZ_RUN(test_dead_columns);
    QZ_RUN(test_2of4_block64);
    QZ_RUN(test_all_ties);
    QZ_RUN(test_selection_vs_sort);
    QZ_RUN(test_beats_magnitude);
    QZ_RUN(test_bad_options);
    QZ_RUN(test_deterministic_and_noop);
    QZ_RUN(test_blocked_vs_ref);
    QZ_TEST_EXIT();
}
