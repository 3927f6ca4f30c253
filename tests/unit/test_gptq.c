/* test_gptq.c - quant_grid, GPTQ, Hessian accumulation and GPTQ packing.
 *
 * Golden values: hand-worked grid cases below, and the .qzfx files in tests/fixtures/gptq
 * written once by scripts/gen_gptq_fixture.py (an independent numpy
 * implementation of the IST-DASLab reference and of the AutoGPTQ layout).
 * GPTQ codes must match except for rounding ties (sgemm summation order and
 * the fp64 inverse can move a value across a .5 boundary): at most 0.1% of
 * entries per case, and the count is printed.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "gptq.h"
#include "gptq_ckpt.h"
#include "gptq_pack.h"
#include "quant_grid.h"
#include "qz_common.h"
#include "tests/qz_fixture.h"
#include "tests/qz_test.h"

/* Tolerances (named per use). */
#define TOL_RECON_REL 1e-5   /* ||W-Q||/||W|| vs the fixture's, relative */
#define TOL_LOSS_REL 1e-5    /* total loss vs the fixture's, relative */
#define TOL_SCALE_REL 1e-5   /* group scales: inputs differ by sgemm rounding */
#define TOL_Q_ABS 1e-5       /* dequantized weight where the codes agree */
#define MAX_TIE_FRAC 1e-3    /* code mismatches allowed (rounding ties) */
#define TOL_TIE_FRAC 2e-3    /* blocked vs ref: code mismatches allowed (ties) */

/* ------------------------------------------------------------------------- */
/* Small helpers                                                              */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t splitmix64(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double rel_err(const float *W, const float *Q, int64_t n)
{
    double num = 0.0, den = 0.0;
    for (int64_t i = 0; i < n; i++) {
        num += ((double)W[i] - Q[i]) * ((double)W[i] - Q[i]);
        den += (double)W[i] * W[i];
    }
    return sqrt(num / den);
}

static float *dup_f32(const float *x, int64_t n)
{
    float *y = malloc((size_t)n * sizeof *y);
    if (y) memcpy(y, x, (size_t)n * sizeof *y);
    return y;
}

/* ------------------------------------------------------------------------- */
/* quant_grid: hand-worked cases                                              */

typedef struct grid_case {
    int bits, sym, n;
    float x[4];
    float scale;
    int32_t zero;
    uint8_t codes[4];
    float q[4];
} grid_case;

/* qz_round_half_even must equal nearbyintf bit for bit: the .5 ties (to
 * even), signed zeros, the 2^22 switch-over, huge values, and a sweep of
 * random floats of every magnitude. */
static void test_round_half_even(void)
{
    static const float cases[] = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 0.49999997f, -0.3f, -0.0f,
                                  0.0f, 7.5f, 8.5f, 0x1p22f - 0.5f, 0x1p22f, 0x1p22f + 1.0f,
                                  -0x1p22f + 0.5f, 0x1.8p22f + 0.5f, 0x1p23f, 1e30f, -1e30f,
                                  INFINITY, -INFINITY, 1e-40f};
    int bad = 0;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        float a = qz_round_half_even(cases[k]), b = nearbyintf(cases[k]);
        if (memcmp(&a, &b, sizeof a)) bad++, printf("  round(%a) = %a, nearbyintf %a\n", (double)cases[k], (double)a, (double)b);
    }
    for (int k = 0; k < 200000; k++) {
        uint32_t u = (uint32_t)splitmix64();
        float x;
        memcpy(&x, &u, sizeof x);
        if (isnan(x)) continue;
        float a = qz_round_half_even(x), b = nearbyintf(x);
        bad += memcmp(&a, &b, sizeof a) != 0;
        x = (float)((double)(int32_t)u / 256.0); /* many exact halves */
        a = qz_round_half_even(x), b = nearbyintf(x);
        bad += memcmp(&a, &b, sizeof a) != 0;
    }
    CHECK(bad == 0, "%d values round differently from nearbyintf", bad);
    CHECK(isnan(qz_round_half_even(NAN)), "NaN");
}

static void test_grid_hand(void)
{
    /* All values below are exact in fp32 except the 0.2 and 2/15 scales,
     * worked by hand in fp32 (1/(2/15 in fp32) = 7.49999962 -> 7.4999995f -> 7). */
    static const grid_case cases[] = {
        /* asym: s = 3/15, z = round(1/0.2f) = 5; 0.5/0.2f = 2.5 -> 2 (half-even) */
        {4, 0, 3, {-1.0f, 0.5f, 2.0f}, 0.2f, 5, {0, 7, 15}, {-1.0f, 0.4f, 2.0f}},
        /* sym: xmax 1.875, s = 3.75/15 = .25, z = 8; -7.5 -> -8, 7.5 -> 8 -> clip 15 */
        {4, 1, 4, {-1.875f, 0.375f, 0.625f, 1.875f}, 0.25f, 8, {0, 10, 10, 15},
         {-2.0f, 0.5f, 0.5f, 1.75f}},
        /* sym all-positive quirk: xmin stays 0, s = 3.75/15, z = 8, 3.75 clips to 7*s */
        {4, 1, 2, {0.5f, 3.75f}, 0.25f, 8, {10, 15}, {0.5f, 1.75f}},
        /* degenerate rows -> [-1, 1] */
        {4, 0, 2, {0.0f, 0.0f}, 2.0f / 15.0f, 7, {7, 7}, {0.0f, 0.0f}},
        {4, 1, 2, {0.0f, 0.0f}, 2.0f / 15.0f, 8, {8, 8}, {0.0f, 0.0f}},
        /* 3-bit asym: s = 3.5/7, z = 2 */
        {3, 0, 2, {-1.0f, 2.5f}, 0.5f, 2, {0, 7}, {-1.0f, 2.5f}},
        /* 8-bit sym: s = 15.9375/255 = 1/16, z = 128; 127.5 -> 128 -> clip 255 */
        {8, 1, 3, {-7.96875f, 0.09375f, 7.96875f}, 0.0625f, 128, {0, 130, 255},
         {-8.0f, 0.125f, 7.9375f}},
        /* 2-bit asym: s = 1.5/3, z = 1; 0.5 -> 0, 1.5 -> 2 */
        {2, 0, 4, {-0.5f, 0.25f, 0.75f, 1.0f}, 0.5f, 1, {0, 1, 3, 3}, {-0.5f, 0.0f, 1.0f, 1.0f}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const grid_case *t = &cases[c];
        qz_grid_cfg g = {t->bits, t->sym, 0};
        float s;
        int32_t z;
        qz_grid_find_params(&g, t->x, t->n, 1, 0, t->n, &s, &z);
        CHECK(s == t->scale, "case %zu: scale %.9g, want %.9g", c, s, t->scale);
        CHECK(z == t->zero, "case %zu: zero %d, want %d", c, z, t->zero);
        float maxq = (float)qz_grid_maxq(t->bits);
        for (int j = 0; j < t->n; j++) {
            float code = qz_grid_codef(t->x[j], s, (float)z, maxq);
            float q = qz_grid_quantize(t->x[j], s, (float)z, maxq);
            CHECK(code == t->codes[j], "case %zu x[%d]: code %g, want %d", c, j, code, t->codes[j]);
            CHECK(q == t->q[j], "case %zu x[%d]: q %.9g, want %.9g", c, j, q, t->q[j]);
        }
    }
}

static void test_grid_column_range(void)
{
    /* Row 0 columns [1, 3) = {-1, 2.5} (3-bit asym: s .5, z 2); row 1 = {0, 0}. */
    const float W[2 * 4] = {100.0f, -1.0f, 2.5f, -100.0f, 9.0f, 0.0f, 0.0f, 9.0f};
    qz_grid_cfg g = {3, 0, 0};
    float s[2];
    int32_t z[2];
    qz_grid_find_params(&g, W, 4, 2, 1, 3, s, z);
    CHECK(s[0] == 0.5f && z[0] == 2, "row 0: s %g z %d", s[0], z[0]);
    CHECK(s[1] == 2.0f / 7.0f && z[1] == 3, "row 1: s %g z %d", s[1], z[1]);
    qz_error err = {0};
    CHECK(qz_grid_check(&(qz_grid_cfg){5, 0, 0}, &err) == QZ_EINPUT, "bits 5 accepted");
    CHECK(qz_grid_check(&(qz_grid_cfg){8, 1, 1}, &err) == QZ_OK, "bits 8 refused");
}

/* ------------------------------------------------------------------------- */
/* RTN against the numpy fixture (pure fp32 elementwise: bit-exact)           */

static void rtn_case(const char *name)
{
    fx_file f;
    if (fx_open(&f, name)) return;
    fx_array *P = fx_get(&f, "params", "i32"), *W = fx_get(&f, "W", "f32"),
             *Q = fx_get(&f, "Q", "f32"), *C = fx_get(&f, "codes", "u8"),
             *S = fx_get(&f, "scales", "f32"), *Z = fx_get(&f, "zeros", "i32"),
             *G = fx_get(&f, "g_idx", "i32");
    if (!P || !W || !Q || !C || !S || !Z || !G) {
        CHECK(0, "%s: fixture incomplete", name);
        fx_free(&f);
        return;
    }
    const int32_t *p = P->data;
    int64_t rows = W->dims[0], cols = W->dims[1];
    qz_grid_cfg g = {p[0], p[2], p[3]};
    qz_quant_result r;
    qz_error err = {0};
    float *w = dup_f32(W->data, rows * cols);
    int rc = qz_rtn_quantize(w, rows, cols, &g, p[1], &r, &err);
    CHECK(rc == QZ_OK, "%s: rtn failed: %s", name, err.msg);
    if (rc == QZ_OK) {
        CHECK(r.n_groups == S->dims[0], "%s: n_groups %lld", name, (long long)r.n_groups);
        int64_t bad = 0;
        for (int64_t i = 0; i < rows * cols; i++)
            bad += r.codes[i] != ((uint8_t *)C->data)[i] || w[i] != ((float *)Q->data)[i];
        CHECK(bad == 0, "%s: %lld codes/values differ", name, (long long)bad);
        for (int64_t i = 0; i < S->n && r.n_groups == S->dims[0]; i++) {
            CHECK(r.scales[i] == ((float *)S->data)[i], "%s: scale[%lld]", name, (long long)i);
            CHECK(r.zeros[i] == ((int32_t *)Z->data)[i], "%s: zero[%lld]", name, (long long)i);
        }
        for (int64_t j = 0; j < cols; j++)
            CHECK(r.g_idx[j] == ((int32_t *)G->data)[j], "%s: g_idx[%lld]", name, (long long)j);
    }
    qz_quant_result_free(&r);
    free(w);
    fx_free(&f);
}

static void test_rtn_fixture(void)
{
    rtn_case("rtn_asym4_pc");
    rtn_case("rtn_sym3_g32");
    rtn_case("rtn_asym4_g32_mse");
    rtn_case("rtn_sym8_g16_mse");
}

/* ------------------------------------------------------------------------- */
/* Hessian                                                                    */

/* H from integer activations via qz_hessian_add with one batch of 2
 * sequences (alpha = 2/2 = 1): exactly X^T X, compared to an int64 sum. */
static float *hessian_from_int8(const int8_t *X8, int64_t tokens, int64_t cols)
{
    float *X = malloc((size_t)(tokens * cols) * sizeof *X);
    float *H = calloc((size_t)(cols * cols), sizeof *H);
    if (!X || !H) {
        free(X);
        free(H);
        return NULL;
    }
    for (int64_t i = 0; i < tokens * cols; i++) X[i] = (float)X8[i];
    int64_t n = 0;
    qz_error err = {0};
    int rc = qz_hessian_add(H, &n, X, tokens, cols, 2, &err);
    qz_hessian_symmetrize(H, cols);
    CHECK(rc == QZ_OK && n == 2, "hessian_add: %s", err.msg);
    int64_t bad = 0;
    for (int64_t a = 0; a < cols; a++)
        for (int64_t b = 0; b < cols; b++) {
            int64_t s = 0;
            for (int64_t t = 0; t < tokens; t++) s += (int64_t)X8[t * cols + a] * X8[t * cols + b];
            bad += H[a * cols + b] != (float)s;
        }
    CHECK(bad == 0, "hessian_add: %lld entries differ from X^T X", (long long)bad);
    free(X);
    return H;
}

static void test_hessian_running_mean(void)
{
    /* Batches of 3 and 5 sequences: H = 2/8 * sum over all tokens x x^T. */
    enum { T1 = 6, T2 = 10, N = 5 };
    float X[(T1 + T2) * N], H[N * N] = {0};
    for (int i = 0; i < (T1 + T2) * N; i++) X[i] = (float)((int)(splitmix64() % 2001) - 1000) / 500.0f;
    int64_t n = 0;
    qz_error err = {0};
    CHECK(qz_hessian_add(H, &n, X, T1, N, 3, &err) == QZ_OK, "%s", err.msg);
    CHECK(qz_hessian_add(H, &n, X + T1 * N, T2, N, 5, &err) == QZ_OK, "%s", err.msg);
    qz_hessian_symmetrize(H, N);
    CHECK(n == 8, "n_seen %lld", (long long)n);
    for (int a = 0; a < N; a++)
        for (int b = 0; b < N; b++) {
            double s = 0.0;
            for (int t = 0; t < T1 + T2; t++) s += (double)X[t * N + a] * X[t * N + b];
            CHECK_CLOSE(H[a * N + b], 2.0 / 8.0 * s, 1e-5, 1e-5);
            CHECK(H[a * N + b] == H[b * N + a], "H not symmetric at %d,%d", a, b);
        }
    X[7] = NAN;
    CHECK(qz_hessian_add(H, &n, X, T1, N, 1, &err) == QZ_EINPUT, "NaN activation accepted");
    CHECK(qz_hessian_add(H, &n, X, T1, N, 0, &err) == QZ_EINPUT, "n_seqs 0 accepted");
}

/* ------------------------------------------------------------------------- */
/* GPTQ against the numpy reference                                           */

static int64_t count_code_mismatch(const uint8_t *a, const uint8_t *b, int64_t n)
{
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++) m += a[i] != b[i];
    return m;
}

static void gptq_compare(const char *name, const qz_quant_result *r, const float *w,
                         fx_file *f, int64_t rows, int64_t cols)
{
    fx_array *W0 = fx_get(f, "W", "f32"), *Q = fx_get(f, "Q", "f32"),
             *L = fx_get(f, "loss", "f64"), *C = fx_get(f, "codes", "u8"),
             *S = fx_get(f, "scales", "f32"), *Z = fx_get(f, "zeros", "i32"),
             *G = fx_get(f, "g_idx", "i32");
    const float *q = Q->data;
    double e_got = rel_err(W0->data, w, rows * cols), e_want = rel_err(W0->data, q, rows * cols);
    CHECK_CLOSE(e_got, e_want, 0.0, TOL_RECON_REL);
    CHECK_CLOSE(r->loss, *(double *)L->data, 0.0, TOL_LOSS_REL);
    CHECK_CLOSE(r->damp_used, 0.01, 0.0, 1e-12);
    int64_t ties = 0;
    if (C) {
        ties = count_code_mismatch(r->codes, C->data, rows * cols);
        CHECK(ties <= (int64_t)(MAX_TIE_FRAC * (double)(rows * cols)),
              "%s: %lld of %lld codes differ", name, (long long)ties, (long long)(rows * cols));
        CHECK(r->n_groups == S->dims[0], "%s: n_groups %lld, want %lld", name,
              (long long)r->n_groups, (long long)S->dims[0]);
        for (int64_t j = 0; j < cols; j++)
            CHECK(r->g_idx[j] == ((int32_t *)G->data)[j], "%s: g_idx[%lld] = %d", name,
                  (long long)j, r->g_idx[j]);
        for (int64_t i = 0; i < S->n && r->n_groups == S->dims[0]; i++) {
            CHECK_CLOSE(r->scales[i], ((float *)S->data)[i], 0.0, TOL_SCALE_REL);
            CHECK(r->zeros[i] == ((int32_t *)Z->data)[i], "%s: zero[%lld] = %d, want %d", name,
                  (long long)i, r->zeros[i], ((int32_t *)Z->data)[i]);
        }
    }
    int64_t qbad = 0;
    for (int64_t i = 0; i < rows * cols; i++)
        if (!C || r->codes[i] == ((uint8_t *)C->data)[i])
            qbad += fabs((double)w[i] - q[i]) > TOL_Q_ABS;
    CHECK(qbad == 0, "%s: %lld dequantized values differ by > %g", name, (long long)qbad, TOL_Q_ABS);
    printf("  %-28s codes differing (ties): %lld/%lld, rel err %.6g (numpy %.6g), loss %.6g\n",
           name, (long long)ties, (long long)(rows * cols), e_got, e_want, r->loss);
}

static void gptq_case(const char *name)
{
    fx_file f;
    if (fx_open(&f, name)) return;
    fx_array *P = fx_get(&f, "params", "i32"), *W = fx_get(&f, "W", "f32"),
             *X = fx_get(&f, "X", "i8"), *K = fx_get(&f, "keep", "u8");
    if (!P || !W || !X || !fx_get(&f, "Q", "f32") || !fx_get(&f, "loss", "f64")) {
        CHECK(0, "%s: fixture incomplete", name);
        fx_free(&f);
        return;
    }
    const int32_t *p = P->data;
    int64_t rows = W->dims[0], cols = W->dims[1];
    qz_gptq_opts o = {.bits = p[0], .group_size = p[1], .sym = p[2], .act_order = p[3],
                      .static_groups = p[4], .mse = p[5], .damp = 0.01, .block_size = p[6]};
    float *H = hessian_from_int8(X->data, X->dims[0], cols);
    float *w = dup_f32(W->data, rows * cols);
    qz_quant_result r;
    qz_error err = {0};
    int rc = H && w ? qz_gptq_quantize(w, rows, cols, H, &o, K ? K->data : NULL, &r, &err) : -1;
    CHECK(rc == QZ_OK, "%s: gptq failed: %s", name, err.msg);
    if (rc == QZ_OK) {
        gptq_compare(name, &r, w, &f, rows, cols);
        if (K) /* pruned weights are exactly zero, their codes the zero point */
            for (int64_t i = 0; i < rows * cols; i++)
                if (!((uint8_t *)K->data)[i]) {
                    CHECK(w[i] == 0.0f, "%s: masked weight %lld = %g", name, (long long)i, w[i]);
                    if (r.codes)
                        CHECK(r.codes[i] == r.zeros[r.g_idx[i % cols] * rows + i / cols],
                              "%s: masked code %lld", name, (long long)i);
                }
        qz_quant_result_free(&r);
    }
    free(H);
    free(w);
    fx_free(&f);
}

static void test_gptq_sym4_per_channel(void) { gptq_case("a_sym4_pc"); }
static void test_gptq_asym4_per_channel(void) { gptq_case("b_asym4_pc"); }
static void test_gptq_asym3_group32(void) { gptq_case("c_asym3_g32"); }
static void test_gptq_act_order_group32(void) { gptq_case("d_sym4_g32_act"); }
static void test_gptq_act_order_blocks_320(void) { gptq_case("e_asym4_g64_act_320"); }
static void test_gptq_stale_groups_320(void) { gptq_case("f_sym3_g64_320"); }
static void test_gptq_static_groups(void) { gptq_case("g_sym4_g32_act_static"); }
static void test_gptq_static_groups_320(void) { gptq_case("o_sym4_g64_act_static_320"); }
/* Partial last group (issue 11: SmolLM2's 576 = 4.5 groups of 128): 320 = 128+128+64. */
static void test_gptq_partial_group_320(void)
{
    gptq_case("p_sym4_g128_partial_320");
    gptq_case("q_asym4_g128_partial_act_320");
    gptq_case("r_sym4_g128_partial_bs48_320");
}
static void test_gptq_8bit(void) { gptq_case("h_sym8_g16"); gptq_case("i_asym8_pc_act"); }
static void test_gptq_2bit(void) { gptq_case("j_asym2_g16"); }
static void test_gptq_mse(void) { gptq_case("k_asym4_g32_mse"); }
static void test_gptq_block48(void) { gptq_case("l_asym4_g32_bs48"); }
static void test_gptq_keep_mask(void) { gptq_case("m_sym4_g32_act_keep"); }
static void test_gptq_prune_only(void) { gptq_case("n_prune_only_320"); }

/* ------------------------------------------------------------------------- */
/* GPTQ: damping retries, errors, determinism, no-op                          */

static void test_gptq_damp_retry(void)
{
    /* H = [[1, 1.02], [1.02, 1]] has eigenvalues 2.02 and -0.02; mean(diag) = 1,
     * so damp .01 leaves -0.01 (fails) and damp .1 gives +0.08 (succeeds). */
    float W[2 * 2] = {0.1f, -0.2f, 0.3f, 0.05f}, H[4] = {1.0f, 1.02f, 1.02f, 1.0f};
    qz_gptq_opts o = qz_gptq_opts_default();
    qz_quant_result r;
    qz_error err = {0};
    int rc = qz_gptq_quantize(W, 2, 2, H, &o, NULL, &r, &err);
    CHECK(rc == QZ_OK, "retry failed: %s", err.msg);
    CHECK_CLOSE(r.damp_used, 0.1, 0.0, 1e-12);
    qz_quant_result_free(&r);
    /* never positive definite: diag -1 */
    float H2[4] = {-1.0f, 0.0f, 0.0f, -1.0f};
    rc = qz_gptq_quantize(W, 2, 2, H2, &o, NULL, &r, &err);
    CHECK(rc == QZ_EINPUT, "indefinite H accepted (rc %d)", rc);
    CHECK(strstr(err.msg, "positive definite") != NULL, "message: %s", err.msg);
    CHECK(r.codes == NULL, "result not cleared on failure");
}

static void test_gptq_bad_input(void)
{
    float W[4] = {1, 2, 3, 4}, H[4] = {1, 0, 0, 1};
    qz_gptq_opts o = qz_gptq_opts_default();
    qz_quant_result r;
    qz_error err = {0};
    W[2] = NAN;
    CHECK(qz_gptq_quantize(W, 2, 2, H, &o, NULL, &r, &err) == QZ_EINPUT, "NaN W accepted");
    CHECK(strstr(err.msg, "weight") != NULL, "message: %s", err.msg);
    W[2] = 3;
    H[1] = INFINITY;
    CHECK(qz_gptq_quantize(W, 2, 2, H, &o, NULL, &r, &err) == QZ_EINPUT, "Inf H accepted");
    CHECK(strstr(err.msg, "Hessian") != NULL, "message: %s", err.msg);
    H[1] = 0;
    o.bits = 5;
    CHECK(qz_gptq_quantize(W, 2, 2, H, &o, NULL, &r, &err) == QZ_EINPUT, "bits 5 accepted");
    o.bits = 4;
    o.group_size = 0;
    CHECK(qz_gptq_quantize(W, 2, 2, H, &o, NULL, &r, &err) == QZ_EINPUT, "gs 0 accepted");
    o.group_size = -1;
    o.damp = 0.0;
    CHECK(qz_gptq_quantize(W, 2, 2, H, &o, NULL, &r, &err) == QZ_EINPUT, "damp 0 accepted");
    o.damp = 0.01;
    o.solver = QZ_GPTQ_SOLVER_COUNT;
    CHECK(qz_gptq_quantize(W, 2, 2, H, &o, NULL, &r, &err) == QZ_EINPUT, "solver 2 accepted");
    CHECK(strstr(err.msg, "solver") != NULL, "message: %s", err.msg);
    o.solver = QZ_GPTQ_SOLVER_REF;
    CHECK(qz_gptq_run(W, 2, 2, H, &o, NULL, NULL, 0, &r, &err) == QZ_EINPUT, "keep_span 0 accepted");
    CHECK(!strcmp(qz_gptq_solver_name(QZ_GPTQ_SOLVER_BLOCKED), "blocked") &&
              !strcmp(qz_gptq_solver_name(QZ_GPTQ_SOLVER_REF), "ref") &&
              !strcmp(qz_gptq_solver_name(7), "unknown"), "solver names");
    qz_quant_result_free(NULL);
}

static void test_gptq_deterministic_and_noop(void)
{
    enum { R = 8, C = 160 };
    static float W[R * C], W2[R * C], H[C * C], H2[C * C], X[200 * C];
    for (int i = 0; i < 200 * C; i++) X[i] = (float)((int)(splitmix64() % 17) - 8);
    int64_t n = 0;
    qz_error err = {0};
    memset(H, 0, sizeof H);
    CHECK(qz_hessian_add(H, &n, X, 200, C, 4, &err) == QZ_OK, "%s", err.msg);
    qz_hessian_symmetrize(H, C);
    memcpy(H2, H, sizeof H);
    for (int i = 0; i < R * C; i++) W[i] = (float)((int)(splitmix64() % 1001) - 500) / 1e4f;
    memcpy(W2, W, sizeof W);
    qz_gptq_opts o = {.bits = 3, .group_size = 32, .act_order = 1, .damp = 0.01, .block_size = 64};
    qz_quant_result a, b;
    CHECK(qz_gptq_quantize(W, R, C, H, &o, NULL, &a, &err) == QZ_OK, "%s", err.msg);
    CHECK(qz_gptq_quantize(W2, R, C, H2, &o, NULL, &b, &err) == QZ_OK, "%s", err.msg);
    CHECK(!memcmp(W, W2, sizeof W) && !memcmp(a.codes, b.codes, R * C) && a.loss == b.loss,
          "two runs differ");
    qz_quant_result_free(&a);
    qz_quant_result_free(&b);
    /* bits 0 without a mask: q = w, nothing moves (no dead columns here) */
    memcpy(H, H2, sizeof H);
    for (int i = 0; i < R * C; i++) W[i] = W2[i] = (float)((int)(splitmix64() % 1001) - 500) / 1e4f;
    o.bits = 0;
    CHECK(qz_gptq_quantize(W, R, C, H, &o, NULL, &a, &err) == QZ_OK, "%s", err.msg);
    CHECK(!memcmp(W, W2, sizeof W) && a.loss == 0.0 && a.codes == NULL, "prune-only no-op moved W");
    qz_quant_result_free(&a);
}

/* ------------------------------------------------------------------------- */
/* GPTQ: the blocked solver against the reference-order solver                */

/* A random problem: W (rows, cols) in [-0.05, 0.05), H = X^T X / tokens of
 * X with per-column scales in [0.25, 4) (so act-order moves columns) and
 * every 7th column dead when `dead`; keep mask ~80% ones when `mask`. */
typedef struct rand_problem {
    int64_t rows, cols;
    float *W, *H;
    uint8_t *keep;
} rand_problem;

static double unif(void) { return (double)(splitmix64() >> 11) * 0x1p-53; }

static void rand_problem_make(rand_problem *p, int64_t rows, int64_t cols, int dead, int mask)
{
    const int64_t tokens = 2 * cols + 17;
    float *X = malloc((size_t)(tokens * cols) * sizeof *X), *sc = malloc((size_t)cols * sizeof *sc);
    p->rows = rows;
    p->cols = cols;
    p->W = malloc((size_t)(rows * cols) * sizeof *p->W);
    p->H = calloc((size_t)(cols * cols), sizeof *p->H);
    p->keep = mask ? malloc((size_t)(rows * cols)) : NULL;
    QZ_ASSERT(X && sc && p->W && p->H && (!mask || p->keep));
    for (int64_t j = 0; j < cols; j++) sc[j] = dead && j % 7 == 3 ? 0.0f : (float)exp2(4 * unif() - 2);
    for (int64_t i = 0; i < tokens * cols; i++) X[i] = (float)(2 * unif() - 1) * sc[i % cols];
    for (int64_t i = 0; i < rows * cols; i++) p->W[i] = (float)(0.1 * unif() - 0.05);
    for (int64_t i = 0; mask && i < rows * cols; i++) p->keep[i] = unif() < 0.8;
    int64_t n = 0;
    qz_error err = {0};
    QZ_ASSERT(qz_hessian_add(p->H, &n, X, tokens, cols, 3, &err) == QZ_OK);
    qz_hessian_symmetrize(p->H, cols);
    free(X);
    free(sc);
}

static void rand_problem_free(rand_problem *p)
{
    free(p->W);
    free(p->H);
    free(p->keep);
}

/* One solver on a copy of the problem; returns the status. */
static int solve_copy(const rand_problem *p, const qz_gptq_opts *o, int solver, float **w,
                      qz_quant_result *r, qz_error *err)
{
    qz_gptq_opts so = *o;
    so.solver = solver;
    float *H = dup_f32(p->H, p->cols * p->cols);
    *w = dup_f32(p->W, p->rows * p->cols);
    QZ_ASSERT(H && *w);
    int rc = qz_gptq_quantize(*w, p->rows, p->cols, H, &so, p->keep, r, err);
    free(H);
    return rc;
}

/* Blocked vs ref: the same sums in another order, so only fp32 rounding
 * differs. Allowed: codes differing at ties (TOL_TIE_FRAC of the entries:
 * a value within rounding of a .5 boundary, which then feeds a slightly
 * different error into the rest of its row), the loss within TOL_LOSS_REL,
 * and dequantized weights within TOL_Q_ABS where the codes agree, except
 * in rows where a tie flipped. Returns the number of differing codes. */
static int64_t blocked_vs_ref(const char *name, const rand_problem *p, const qz_gptq_opts *o)
{
    const int64_t rows = p->rows, cols = p->cols;
    float *wb = NULL, *wr = NULL;
    qz_quant_result b, r;
    qz_error err = {0};
    int rcb = solve_copy(p, o, QZ_GPTQ_SOLVER_BLOCKED, &wb, &b, &err);
    CHECK(rcb == QZ_OK, "%s: blocked: %s", name, err.msg);
    int rcr = solve_copy(p, o, QZ_GPTQ_SOLVER_REF, &wr, &r, &err);
    CHECK(rcr == QZ_OK, "%s: ref: %s", name, err.msg);
    int64_t ties = 0, bad = 0;
    if (rcb == QZ_OK && rcr == QZ_OK) {
        CHECK_CLOSE(b.loss, r.loss, 1e-12, TOL_LOSS_REL);
        for (int64_t i = 0; b.codes && i < rows * cols; i++) ties += b.codes[i] != r.codes[i];
        CHECK(ties <= (int64_t)(TOL_TIE_FRAC * (double)(rows * cols)), "%s: %lld of %lld codes differ",
              name, (long long)ties, (long long)(rows * cols));
        for (int64_t row = 0; row < rows; row++) {
            int flipped = 0;
            for (int64_t j = 0; b.codes && j < cols; j++) flipped |= b.codes[row * cols + j] != r.codes[row * cols + j];
            for (int64_t j = 0; j < cols && !flipped; j++)
                bad += fabsf(wb[row * cols + j] - wr[row * cols + j]) > TOL_Q_ABS;
        }
        CHECK(bad == 0, "%s: %lld weights differ by > %g in rows without a tie", name,
              (long long)bad, TOL_Q_ABS);
        if (p->keep)
            for (int64_t i = 0; i < rows * cols; i++)
                if (!p->keep[i]) CHECK(wb[i] == 0.0f, "%s: masked weight %lld = %g", name, (long long)i, wb[i]);
        for (int64_t j = 0; b.g_idx && j < cols; j++)
            CHECK(b.g_idx[j] == r.g_idx[j], "%s: g_idx[%lld]", name, (long long)j);
    }
    if (rcb == QZ_OK) qz_quant_result_free(&b);
    if (rcr == QZ_OK) qz_quant_result_free(&r);
    free(wb);
    free(wr);
    return ties;
}

static void test_gptq_blocked_vs_ref(void)
{
    /* shapes: cols neither a multiple of 128 nor of QZ_GPTQ_LEAF */
    static const int64_t shapes[][2] = {{7, 45}, {33, 131}, {16, 200}, {24, 301}};
    static const int bits[] = {2, 3, 4, 8};
    static const int64_t groups[] = {32, 64, 128, -1};
    static const int blocks[] = {128, 48, 37};
    int64_t ties = 0, cases = 0;
    for (int si = 0; si < 4; si++) {
        rand_problem p;
        rand_problem_make(&p, shapes[si][0], shapes[si][1], si % 2, 0);
        for (int k = 0; k < 16; k++) {
            qz_gptq_opts o = qz_gptq_opts_default();
            o.bits = bits[k % 4];
            o.group_size = groups[(k / 4 + si) % 4];
            o.act_order = (k + si) % 2;
            o.sym = (k / 2) % 2;
            o.static_groups = o.group_size > 0 && k % 5 == 0;
            o.mse = k == 7;
            o.block_size = blocks[(k + si) % 3];
            char name[96];
            snprintf(name, sizeof name, "%lldx%lld b%d g%lld act%d sym%d st%d mse%d bs%d",
                     (long long)p.rows, (long long)p.cols, o.bits, (long long)o.group_size,
                     o.act_order, o.sym, o.static_groups, o.mse, o.block_size);
            ties += blocked_vs_ref(name, &p, &o);
            cases++;
        }
        rand_problem_free(&p);
    }
    /* keep masks: quantized, and prune-only (bits 0) */
    rand_problem p;
    rand_problem_make(&p, 19, 150, 1, 1);
    qz_gptq_opts o = qz_gptq_opts_default();
    o.group_size = 32;
    o.act_order = 1;
    ties += blocked_vs_ref("19x150 keep b4 g32 act", &p, &o);
    o.bits = 0;
    ties += blocked_vs_ref("19x150 keep prune-only", &p, &o);
    rand_problem_free(&p);
    printf("  %lld cases, %lld codes differing (ties) in all\n", (long long)cases + 2, (long long)ties);
}

/* ------------------------------------------------------------------------- */
/* Packing                                                                    */

static void test_pack_fixture(void)
{
    static const int bits_list[] = {2, 3, 4, 8};
    for (int b = 0; b < 4; b++) {
        char name[32];
        snprintf(name, sizeof name, "pack_b%d", bits_list[b]);
        fx_file f;
        if (fx_open(&f, name)) continue;
        const int32_t *sh = fx_get(&f, "shape", "i32")->data;
        int bits = sh[0];
        int64_t out = sh[1], in = sh[2], ng = sh[3];
        fx_array *C = fx_get(&f, "codes", "u8"), *Z = fx_get(&f, "zeros", "i32"),
                 *QW = fx_get(&f, "qweight", "i32"), *Z1 = fx_get(&f, "qzeros_v1", "i32"),
                 *Z2 = fx_get(&f, "qzeros_v2", "i32"), *S = fx_get(&f, "scales", "f32"),
                 *G = fx_get(&f, "g_idx", "i32"), *W = fx_get(&f, "W", "f32");
        int64_t nqw = in * bits / 32, nqz = out * bits / 32;
        CHECK(QW->dims[0] == nqw && QW->dims[1] == out && Z1->dims[1] == nqz, "%s shapes", name);
        int32_t *qw = calloc((size_t)(nqw * out), 4), *qz = calloc((size_t)(ng * nqz), 4);
        int32_t *z = calloc((size_t)(ng * out), 4);
        uint8_t *codes = calloc((size_t)(out * in), 1);
        float *w = calloc((size_t)(out * in), 4);
        qz_error err = {0};
        CHECK(qz_gptq_pack_qweight(qw, C->data, out, in, bits, &err) == QZ_OK, "%s", err.msg);
        CHECK(!memcmp(qw, QW->data, (size_t)(nqw * out) * 4), "%s: qweight words differ", name);
        CHECK(qz_gptq_unpack_qweight(codes, QW->data, out, in, bits, &err) == QZ_OK, "%s", err.msg);
        CHECK(!memcmp(codes, C->data, (size_t)(out * in)), "%s: unpacked codes differ", name);
        for (int v = 0; v < 2; v++) {
            qz_gptq_zero_fmt fmt = v ? QZ_GPTQ_ZERO_V2 : QZ_GPTQ_ZERO_V1;
            const void *want = (v ? Z2 : Z1)->data;
            CHECK(qz_gptq_pack_qzeros(qz, Z->data, ng, out, bits, fmt, &err) == QZ_OK, "%s", err.msg);
            CHECK(!memcmp(qz, want, (size_t)(ng * nqz) * 4), "%s: qzeros %s differ", name,
                  qz_gptq_zero_fmt_name(fmt));
            CHECK(qz_gptq_unpack_qzeros(z, want, ng, out, bits, fmt, &err) == QZ_OK, "%s", err.msg);
            CHECK(!memcmp(z, Z->data, (size_t)(ng * out) * 4), "%s: unpacked zeros differ", name);
            CHECK(qz_gptq_dequantize(w, QW->data, want, S->data, G->data, out, in, ng, bits, fmt,
                                     &err) == QZ_OK, "%s", err.msg);
            CHECK(!memcmp(w, W->data, (size_t)(out * in) * 4), "%s: dequantized W differs", name);
        }
        free(qw);
        free(qz);
        free(z);
        free(codes);
        free(w);
        fx_free(&f);
    }
}

static void test_pack_round_trip(void)
{
    static const int bits_list[] = {2, 3, 4, 8};
    /* (out, in, n_groups): group sizes 32, 32, 4, 128, 32 */
    static const int64_t shapes[][3] = {{32, 32, 1}, {64, 96, 3}, {96, 64, 16}, {32, 256, 2},
                                        {160, 128, 4}};
    qz_error err = {0};
    for (int b = 0; b < 4; b++)
        for (int s = 0; s < 5; s++) {
            int bits = bits_list[b];
            int64_t out = shapes[s][0], in = shapes[s][1], nqw = in * bits / 32;
            int64_t nqz = out * bits / 32, ng = shapes[s][2], gs = in / ng;
            uint8_t *c = malloc((size_t)(out * in)), *c2 = malloc((size_t)(out * in));
            int32_t *qw = malloc((size_t)(nqw * out) * 4), *z = malloc((size_t)(ng * out) * 4);
            int32_t *z2 = malloc((size_t)(ng * out) * 4), *qz = malloc((size_t)(ng * nqz) * 4);
            int32_t *g = malloc((size_t)in * 4);
            float *sc = malloc((size_t)(ng * out) * 4), *w = malloc((size_t)(out * in) * 4);
            for (int64_t i = 0; i < out * in; i++) c[i] = (uint8_t)(splitmix64() % (1u << bits));
            for (int64_t i = 0; i < ng * out; i++) {
                z[i] = (int32_t)(splitmix64() % (1u << bits));
                sc[i] = (float)(1 + splitmix64() % 64) / 1024.0f;
            }
            /* act-order style g_idx: group of a shuffled position */
            for (int64_t k = 0; k < in; k++) g[k] = (int32_t)(k / gs);
            for (int64_t k = in - 1; k > 0; k--) {
                int64_t j = (int64_t)(splitmix64() % (uint64_t)(k + 1));
                int32_t t = g[k];
                g[k] = g[j];
                g[j] = t;
            }
            CHECK(qz_gptq_pack_qweight(qw, c, out, in, bits, &err) == QZ_OK, "%s", err.msg);
            CHECK(qz_gptq_unpack_qweight(c2, qw, out, in, bits, &err) == QZ_OK, "%s", err.msg);
            CHECK(!memcmp(c, c2, (size_t)(out * in)), "codes round trip %d bits (%lld, %lld)",
                  bits, (long long)out, (long long)in);
            CHECK(qz_gptq_pack_qzeros(qz, z, ng, out, bits, QZ_GPTQ_ZERO_V2, &err) == QZ_OK, "%s", err.msg);
            CHECK(qz_gptq_unpack_qzeros(z2, qz, ng, out, bits, QZ_GPTQ_ZERO_V2, &err) == QZ_OK, "%s", err.msg);
            CHECK(!memcmp(z, z2, (size_t)(ng * out) * 4), "zeros v2 round trip %d bits", bits);
            CHECK(qz_gptq_dequantize(w, qw, qz, sc, g, out, in, ng, bits, QZ_GPTQ_ZERO_V2, &err) == QZ_OK,
                  "%s", err.msg);
            int64_t bad = 0;
            for (int64_t o = 0; o < out; o++)
                for (int64_t k = 0; k < in; k++) {
                    int64_t gi = g[k];
                    double want = (double)sc[gi * out + o] * (c[o * in + k] - z[gi * out + o]);
                    bad += w[o * in + k] != (float)want; /* exact: power-of-two scales */
                }
            CHECK(bad == 0, "dequant %d bits: %lld values differ", bits, (long long)bad);
            for (int64_t i = 0; i < ng * out; i++) z[i] = 1 + (int32_t)(splitmix64() % (1u << bits));
            CHECK(qz_gptq_pack_qzeros(qz, z, ng, out, bits, QZ_GPTQ_ZERO_V1, &err) == QZ_OK, "%s", err.msg);
            CHECK(qz_gptq_unpack_qzeros(z2, qz, ng, out, bits, QZ_GPTQ_ZERO_V1, &err) == QZ_OK, "%s", err.msg);
            CHECK(!memcmp(z, z2, (size_t)(ng * out) * 4), "zeros v1 round trip %d bits", bits);
            free(c);
            free(c2);
            free(qw);
            free(z);
            free(z2);
            free(qz);
            free(g);
            free(sc);
            free(w);
        }
}

static void test_pack_known_words(void)
{
    /* sym zero points in v1: z-1 in every field (FORMATS-AND-ALGORITHMS 2a) */
    static const struct { int bits; int32_t z; uint32_t word; } k[] = {
        {4, 8, 0x77777777u}, {8, 128, 0x7F7F7F7Fu}, {2, 2, 0x55555555u}};
    qz_error err = {0};
    for (int i = 0; i < 3; i++) {
        int32_t z[32], q[8];
        for (int j = 0; j < 32; j++) z[j] = k[i].z;
        CHECK(qz_gptq_pack_qzeros(q, z, 1, 32, k[i].bits, QZ_GPTQ_ZERO_V1, &err) == QZ_OK, "%s", err.msg);
        CHECK((uint32_t)q[0] == k[i].word, "%d-bit sym qzeros word %08x", k[i].bits, (unsigned)q[0]);
    }
    /* 3-bit: code 7 at value 10 only -> word0 bits 30-31, word1 bit 0 */
    uint8_t c[32] = {0};
    int32_t qw[3];
    c[10] = 7;
    CHECK(qz_gptq_pack_qweight(qw, c, 1, 32, 3, &err) == QZ_OK, "%s", err.msg);
    CHECK((uint32_t)qw[0] == 0xC0000000u && qw[1] == 1 && qw[2] == 0, "3-bit value 10: %08x %08x %08x",
          (unsigned)qw[0], (unsigned)qw[1], (unsigned)qw[2]);
    memset(c, 0, sizeof c);
    c[21] = 7; /* word1 bit 31, word2 bits 0-1 */
    CHECK(qz_gptq_pack_qweight(qw, c, 1, 32, 3, &err) == QZ_OK, "%s", err.msg);
    CHECK(qw[0] == 0 && (uint32_t)qw[1] == 0x80000000u && qw[2] == 3, "3-bit value 21: %08x %08x %08x",
          (unsigned)qw[0], (unsigned)qw[1], (unsigned)qw[2]);
    /* errors: v1 cannot store z = 0; codes beyond maxq; unaligned dims */
    int32_t z0[8] = {0, 8, 8, 8, 8, 8, 8, 8}, q1[1];
    CHECK(qz_gptq_pack_qzeros(q1, z0, 1, 8, 4, QZ_GPTQ_ZERO_V1, &err) == QZ_EINPUT, "v1 z=0 accepted");
    CHECK(strstr(err.msg, "gptq_v2") != NULL, "message: %s", err.msg);
    uint8_t c16[8] = {16};
    CHECK(qz_gptq_pack_qweight(q1, c16, 1, 8, 4, &err) == QZ_EINPUT, "code 16 accepted at 4 bits");
    CHECK(qz_gptq_pack_qweight(qw, c, 1, 36, 3, &err) == QZ_EINPUT, "in 36 accepted at 3 bits");
    CHECK(qz_gptq_pack_check(64, 4096, 4, &err) == QZ_OK, "%s", err.msg);
    CHECK(qz_gptq_pack_check(33, 4096, 4, &err) == QZ_EINPUT, "out 33 accepted at 4 bits");
    CHECK(qz_gptq_dequantize(NULL, NULL, NULL, NULL, (int32_t[32]){[5] = 3}, 8, 32, 3, 4,
                             QZ_GPTQ_ZERO_V1, &err) == QZ_EINPUT, "g_idx 3 of 3 groups accepted");
}

/* GPTQ output -> pack -> dequantize reproduces GPTQ's dequantized weights
 * (conventions agree: codes (out, in), g_idx with act-order, zeros v2). */
static void test_pack_gptq_result(void)
{
    fx_file f;
    if (fx_open(&f, "e_asym4_g64_act_320")) return;
    fx_array *W = fx_get(&f, "W", "f32"), *X = fx_get(&f, "X", "i8");
    int64_t rows = W->dims[0], cols = W->dims[1];
    qz_gptq_opts o = {.bits = 4, .group_size = 64, .act_order = 1, .damp = 0.01, .block_size = 128};
    float *H = hessian_from_int8(X->data, X->dims[0], cols), *w = dup_f32(W->data, rows * cols);
    float *w2 = malloc((size_t)(rows * cols) * 4);
    int32_t *qw = malloc((size_t)(rows * cols / 8) * 4), *qz = malloc((size_t)(5 * rows / 8) * 4);
    qz_quant_result r;
    qz_error err = {0};
    CHECK(qz_gptq_quantize(w, rows, cols, H, &o, NULL, &r, &err) == QZ_OK, "%s", err.msg);
    CHECK(qz_gptq_pack_qweight(qw, r.codes, rows, cols, 4, &err) == QZ_OK, "%s", err.msg);
    CHECK(qz_gptq_pack_qzeros(qz, r.zeros, r.n_groups, rows, 4, QZ_GPTQ_ZERO_V2, &err) == QZ_OK, "%s", err.msg);
    CHECK(qz_gptq_dequantize(w2, qw, qz, r.scales, r.g_idx, rows, cols, r.n_groups, 4,
                             QZ_GPTQ_ZERO_V2, &err) == QZ_OK, "%s", err.msg);
    CHECK(!memcmp(w, w2, (size_t)(rows * cols) * 4), "packed GPTQ result dequantizes differently");
    qz_quant_result_free(&r);
    free(H);
    free(w);
    free(w2);
    free(qw);
    free(qz);
    fx_free(&f);
}

/* GPTQModel loads only what its "dynamic" negative rules exclude: one rule
 * per floating-point linear, anchored on the full module name (expected
 * text hand-written from GPTQModel's pattern syntax). */
static void test_config_dynamic_rules(void)
{
    qz_gptq_config c = {4, 32, 0, 1, 0, 1, 0.01, QZ_GPTQ_ZERO_V2};
    const char *quant[] = {"self_attn.q_proj"}, *fp[] = {"mlp.down_proj", "self_attn.o_proj"};
    cJSON *j = qz_gptq_config_json(&c, quant, 1, fp, 2);
    QZ_ASSERT(j != NULL);
    char *s = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(j, "dynamic"));
    CHECK(s && !strcmp(s, "{\"-:^model\\\\.layers\\\\.\\\\d+\\\\.mlp\\\\.down_proj$\":{},"
                          "\"-:^model\\\\.layers\\\\.\\\\d+\\\\.self_attn\\\\.o_proj$\":{}}"), "%s", s);
    free(s);
    s = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(j, "qz_modules_not_quantized"));
    CHECK(s && !strcmp(s, "[\"mlp.down_proj\",\"self_attn.o_proj\"]"), "%s", s);
    free(s);
    cJSON_Delete(j);

    j = qz_gptq_config_json(&c, quant, 1, NULL, 0); /* nothing in FP: no dynamic key at all */
    CHECK(j && !cJSON_GetObjectItemCaseSensitive(j, "dynamic"), "dynamic without FP modules");
    cJSON_Delete(j);

    char longname[300];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    const char *bad[] = {longname};
    cJSON *o = cJSON_CreateObject();
    CHECK(qz_gptq_dynamic_fp_rules(o, bad, 1) == -1, "a name over the rule buffer is refused, not truncated");
    cJSON_Delete(o);
}

int main(int argc, char **argv)
{
    (void)argc;
    fx_init(argv[0], "gptq", "scripts/gen_gptq_fixture.py");
    QZ_RUN(test_round_half_even);
    QZ_RUN(test_grid_hand);
    QZ_RUN(test_grid_column_range);
    QZ_RUN(test_rtn_fixture);
    QZ_RUN(test_hessian_running_mean);
    QZ_RUN(test_gptq_sym4_per_channel);
    QZ_RUN(test_gptq_asym4_per_channel);
    QZ_RUN(test_gptq_asym3_group32);
    QZ_RUN(test_gptq_act_order_group32);
    QZ_RUN(test_gptq_act_order_blocks_320);
    QZ_RUN(test_gptq_stale_groups_320);
    QZ_RUN(test_gptq_static_groups);
    QZ_RUN(test_gptq_static_groups_320);
    QZ_RUN(test_gptq_partial_group_320);
    QZ_RUN(test_gptq_8bit);
    QZ_RUN(test_gptq_2bit);
    QZ_RUN(test_gptq_mse);
    QZ_RUN(test_gptq_block48);
    QZ_RUN(test_gptq_keep_mask);
    QZ_RUN(test_gptq_prune_only);
    QZ_RUN(test_gptq_damp_retry);
    QZ_RUN(test_gptq_bad_input);
    QZ_RUN(test_gptq_deterministic_and_noop);
    QZ_RUN(test_gptq_blocked_vs_ref);
    QZ_RUN(test_pack_fixture);
    QZ_RUN(test_pack_round_trip);
    QZ_RUN(test_pack_known_words);
    QZ_RUN(test_pack_gptq_result);
    QZ_RUN(test_config_dynamic_rules);
    QZ_TEST_EXIT();
}
