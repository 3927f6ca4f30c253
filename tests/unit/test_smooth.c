/* test_smooth.c - SmoothQuant's scales (hand-worked, alpha 0 and 1 limits),
 * the W8A8 gain on a synthetic layer with planted activation outliers, the
 * symmetric fake quantizer, and exact equivalence of the smoothed model. */
#include "export.h"
#include "qz_test.h"
#include "qz_test_model.h"
#include "rng.h"
#include "smooth.h"

#include <unistd.h>

static void test_scales_formula(void)
{
    /* act_max [4, 1, 0]; |W| column maxima [1, 4, 2] over two linears */
    float act[3] = {4, 1, 0}, w1[3] = {1, -4, 0.5f}, w2[3] = {-0.5f, 1, 2}, s[3];
    float *W[2] = {w1, w2};
    int64_t rows[2] = {1, 1};
    qz_smooth_scales(act, W, rows, 2, 3, 0.5, s);
    CHECK_CLOSE(s[0], 2.0, 1e-6, 0);        /* sqrt(4) / sqrt(1) */
    CHECK_CLOSE(s[1], 0.5, 1e-6, 0);        /* sqrt(1) / sqrt(4) */
    CHECK_CLOSE(s[2], sqrt(1e-5) / sqrt(2.0), 1e-9, 1e-5); /* act clamped at 1e-5 */
    qz_smooth_scales(act, W, rows, 2, 3, 0.0, s); /* alpha 0: s = 1 / w_max */
    CHECK_CLOSE(s[0], 1.0, 1e-6, 0);
    CHECK_CLOSE(s[1], 0.25, 1e-6, 0);
    CHECK_CLOSE(s[2], 0.5, 1e-6, 0);
    qz_smooth_scales(act, W, rows, 2, 3, 1.0, s); /* alpha 1: s = act_max, clamped at 1e-5 */
    CHECK_CLOSE(s[0], 4.0, 1e-6, 0);
    CHECK_CLOSE(s[1], 1.0, 1e-6, 0);
    CHECK_CLOSE(s[2], 1e-5, 1e-9, 1e-4);
}

static void test_fake_quant_sym(void)
{
    /* per row, scale = amax / 127: row [1.27, -0.5, 0.3] -> s = 0.01, codes [127, -50, 30] */
    float x[6] = {1.27f, -0.5f, 0.3f, 0, 0, 0}, sc[2];
    int8_t q[6];
    qz_fake_quant_sym(x, 2, 3, 8, QZ_GRAN_TOKEN, sc, q);
    CHECK(q[0] == 127 && q[1] == -50 && q[2] == 30, "codes %d %d %d", q[0], q[1], q[2]);
    CHECK_CLOSE(sc[0], 0.01, 1e-8, 0);
    CHECK_CLOSE(sc[1], 1e-5 / 127, 1e-12, 1e-6); /* an all-zero row: amax clamped at 1e-5 */
    CHECK(q[3] == 0 && x[3] == 0, "zero row stays zero");
}

/* Y = X W^T vs W8A8 of it, mean squared error. */
static double w8a8_mse(const float *X, const float *W, int64_t n, int64_t in, int64_t out, const float *s)
{
    float *xq = malloc(sizeof(float) * n * in), *wq = malloc(sizeof(float) * out * in);
    for (int64_t i = 0; i < n * in; i++) xq[i] = X[i] / (s ? s[i % in] : 1.0f);
    for (int64_t i = 0; i < out * in; i++) wq[i] = W[i] * (s ? s[i % in] : 1.0f);
    qz_fake_quant_sym(xq, n, in, 8, QZ_GRAN_TENSOR, NULL, NULL);
    qz_fake_quant_sym(wq, out, in, 8, QZ_GRAN_CHANNEL, NULL, NULL);
    double e = 0;
    for (int64_t t = 0; t < n; t++)
        for (int64_t o = 0; o < out; o++) {
            double a = 0, b = 0;
            for (int64_t c = 0; c < in; c++) a += (double)X[t * in + c] * W[o * in + c], b += (double)xq[t * in + c] * wq[o * in + c];
            e += (a - b) * (a - b);
        }
    free(xq), free(wq);
    return e / (double)(n * out);
}

static void test_outliers_naive_vs_smoothed(void)
{
    enum { N = 512, IN = 128, OUT = 64 };
    float *X = malloc(sizeof(float) * N * IN), *W = malloc(sizeof(float) * OUT * IN), act[IN], s[IN];
    qz_rng r;
    qz_rng_seed(&r, 9);
    for (int64_t t = 0; t < N; t++)
        for (int64_t c = 0; c < IN; c++) X[t * IN + c] = (float)qz_rng_normal(&r) * (c % 32 == 7 ? 80.0f : 1.0f);
    for (int64_t i = 0; i < OUT * IN; i++) W[i] = (float)(qz_rng_normal(&r) / sqrt((double)IN));
    for (int64_t c = 0; c < IN; c++) {
        act[c] = 0;
        for (int64_t t = 0; t < N; t++) act[c] = fmaxf(act[c], fabsf(X[t * IN + c]));
    }
    float *Wp[1] = {W};
    int64_t rows[1] = {OUT};
    qz_smooth_scales(act, Wp, rows, 1, IN, 0.5, s);
    double naive = w8a8_mse(X, W, N, IN, OUT, NULL), smooth = w8a8_mse(X, W, N, IN, OUT, s);
    printf("  planted outliers x80, W8A8 per-tensor activations: naive MSE %.4g, smoothed (alpha 0.5) %.4g (%.1fx lower)\n",
           naive, smooth, naive / smooth);
    CHECK(smooth * 5 < naive, "smoothing must cut the W8A8 error at least 5x: %g vs %g", smooth, naive);
    free(X), free(W);
}

/* Smoothing the F32 model (no quantization) leaves its logits unchanged. */
static void test_smoothed_model_equivalent(void)
{
    char src[512], dir[256];
    snprintf(src, sizeof src, "%s/models/stories260K", qzt_shared());
    qzt_tmpdir(dir, sizeof dir, "smooth");
    qz_model *m = NULL, *m2 = NULL;
    qz_error err = {0};
    if (qz_model_open(&m, src, &err) != 0) SKIP("%s (../shared absent?)", err.msg);
    enum { T = 64, NS = 8 };
    int32_t ids[NS * T];
    for (int i = 0; i < NS * T; i++) ids[i] = 3 + (i * 7919) % 500;
    qz_smooth_opts o = qz_smooth_opts_default();
    o.alpha = 0.8;
    qz_export *ex = NULL;
    qz_smoother *sm = NULL;
    CHECK(qz_export_open(&ex, m, dir, 1, &err) == 0, "%s", err.msg);
    qz_quant_sink sink = qz_export_sink(ex, QZ_EXPORT_FP, NULL, NULL, NULL);
    CHECK(qz_smoother_new(&sm, m, &o, NS, T, &sink, &err) == 0, "%s", err.msg);
    CHECK(qz_pipeline_run(m, ids, NS, T, qz_smoother_method(sm), NULL, NULL, NULL, &err) == 0, "%s", err.msg);
    CHECK(qz_export_finish(ex, NULL, NULL, &err) == 0, "%s", err.msg);
    qz_smoother_free(sm);
    qz_export_free(ex);
    CHECK(qz_model_open(&m2, dir, &err) == 0, "%s", err.msg);
    if (m2) {
        double scale = 0, worst = qzt_max_logit_diff(m, m2, ids, T, &scale);
        printf("  smoothed (alpha 0.8): max |logit difference| %.3g (max |logit| %.3g)\n", worst, scale);
        CHECK(worst >= 0 && worst < 1e-4 * scale, "logits differ by %g", worst);
    }
    qz_model_free(m2);
    qz_model_free(m);
    CHECK(qzt_rmdir(dir) == 0, "cleanup");
}

int main(void)
{
    QZ_RUN(test_scales_formula);
    QZ_RUN(test_fake_quant_sym);
    QZ_RUN(test_outliers_naive_vs_smoothed);
    QZ_RUN(test_smoothed_model_equivalent);
    QZ_TEST_EXIT();
}
