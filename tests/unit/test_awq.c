/* test_awq.c - AWQ's quantizer (hand-worked), the scale and clip searches on
 * a synthetic layer with planted outlier input channels, and exact folding
 * on the shared model (scale-only AWQ leaves the logits unchanged). */
#include "awq.h"
#include "export.h"
#include "qz_test.h"
#include "qz_test_model.h"
#include "rng.h"

#include <unistd.h>

static void test_quantizer_hand_worked(void)
{
    /* group [-1, 0.55, 2.05, 3], 4 bits, zero point: s = 4/15, z = -round(-3.75) = 4,
     * codes round(w/s) + z = [-4+4, 2+4, 8+4, 11+4] = [0, 6, 12, 15] */
    float w[4] = {-1.0f, 0.55f, 2.05f, 3.0f};
    qz_quant_result r;
    qz_error err = {0};
    CHECK(qz_awq_fake_quant(w, 1, 4, -1, 4, 1, &r, &err) == 0, "%s", err.msg);
    const uint8_t want[4] = {0, 6, 12, 15};
    for (int i = 0; i < 4; i++) CHECK(r.codes[i] == want[i], "code %d = %d, want %d", i, r.codes[i], want[i]);
    CHECK(r.zeros[0] == 4, "zero %d", r.zeros[0]);
    CHECK_CLOSE(r.scales[0], 4.0 / 15.0, 1e-7, 0);
    CHECK_CLOSE(w[0], -4 * 4.0 / 15.0, 1e-6, 0);
    CHECK_CLOSE(w[3], 11 * 4.0 / 15.0, 1e-6, 0);
    qz_quant_result_free(&r);
    /* no zero point: s = amax / 7 = 3/7, codes round(w/s) + 8 = [-2+8, 1+8, 5+8, 7+8] */
    float v[4] = {-1.0f, 0.55f, 2.05f, 3.0f};
    CHECK(qz_awq_fake_quant(v, 1, 4, -1, 4, 0, &r, &err) == 0, "%s", err.msg);
    const uint8_t want2[4] = {6, 9, 13, 15};
    for (int i = 0; i < 4; i++) CHECK(r.codes[i] == want2[i], "sym code %d = %d, want %d", i, r.codes[i], want2[i]);
    CHECK(r.zeros[0] == 8, "sym zero %d", r.zeros[0]);
    qz_quant_result_free(&r);
}

/* X (n, in): N(0,1) with 4 outlier channels x50; W (out, in): N(0, 1/in). */
static void planted(float *X, int64_t n, int64_t in, float *W, int64_t out)
{
    qz_rng r;
    qz_rng_seed(&r, 3);
    for (int64_t t = 0; t < n; t++)
        for (int64_t c = 0; c < in; c++) X[t * in + c] = (float)qz_rng_normal(&r) * (c % 37 == 5 ? 50.0f : 1.0f);
    for (int64_t i = 0; i < out * in; i++) W[i] = (float)(qz_rng_normal(&r) / sqrt((double)in));
}

/* sum over tokens and rows of (x.w - x.q)^2 / n */
static double output_error(const float *X, int64_t n, int64_t in, const float *W, const float *Q, int64_t out)
{
    double e = 0;
    for (int64_t t = 0; t < n; t++)
        for (int64_t o = 0; o < out; o++) {
            double a = 0, b = 0;
            for (int64_t c = 0; c < in; c++) {
                a += (double)X[t * in + c] * W[o * in + c];
                b += (double)X[t * in + c] * Q[o * in + c];
            }
            e += (a - b) * (a - b);
        }
    return e / (double)n;
}

static void test_scale_and_clip_beat_rtn(void)
{
    enum { N = 1024, IN = 128, OUT = 64 };
    float *X = malloc(sizeof(float) * N * IN), *W = malloc(sizeof(float) * OUT * IN);
    float *Q = malloc(sizeof(float) * OUT * IN), *Xs = malloc(sizeof(float) * N * IN), s[IN];
    planted(X, N, IN, W, OUT);
    qz_awq_opts o = qz_awq_opts_default();
    o.bits = 3;
    o.group_size = 32;
    qz_error err = {0};
    /* RTN: AWQ's quantizer alone */
    memcpy(Q, W, sizeof(float) * OUT * IN);
    qz_awq_fake_quant(Q, OUT, IN, 32, 3, 1, NULL, &err);
    double rtn = output_error(X, N, IN, W, Q, OUT);
    /* AWQ: search s, fold (W *= s, X /= s), clip, quantize, unfold for the comparison */
    float *Wp[1] = {Q};
    int64_t rows[1] = {OUT};
    double ratio, before, after, clip;
    memcpy(Q, W, sizeof(float) * OUT * IN);
    CHECK(qz_awq_search_linear(X, N, Wp, rows, 1, IN, &o, s, &ratio, &before, &after, &err) == 0, "%s", err.msg);
    CHECK(ratio > 0, "a non-trivial ratio is chosen (%g)", ratio);
    CHECK(after < before, "search loss %g < unscaled %g", after, before);
    for (int64_t i = 0; i < OUT * IN; i++) Q[i] = W[i] * s[i % IN];
    for (int64_t i = 0; i < N * IN; i++) Xs[i] = X[i] / s[i % IN];
    CHECK(qz_awq_clip_linear(Q, OUT, IN, Xs, N, &o, &clip, &err) == 0, "%s", err.msg);
    qz_awq_fake_quant(Q, OUT, IN, 32, 3, 1, NULL, &err);
    for (int64_t i = 0; i < OUT * IN; i++) Q[i] /= s[i % IN];
    double awq = output_error(X, N, IN, W, Q, OUT);
    printf("  planted outliers, 3-bit g32: RTN output MSE %.4g, AWQ %.4g (%.1fx lower), ratio %.2f, mean clip %.3f\n", rtn, awq,
           rtn / awq, ratio, clip);
    CHECK(awq * 3 < rtn, "AWQ must cut RTN's output error at least 3x: %g vs %g", awq, rtn);
    free(X), free(W), free(Q), free(Xs);
}

static void test_clip_never_hurts_its_objective(void)
{
    enum { N = 512, IN = 64, OUT = 16 };
    float *X = malloc(sizeof(float) * N * IN), *W = malloc(sizeof(float) * OUT * IN), *Q = malloc(sizeof(float) * OUT * IN);
    planted(X, N, IN, W, OUT);
    for (int r = 0; r < OUT; r++) W[r * IN + 3] = 4.0f; /* one heavy weight per row stretches its group's range */
    qz_awq_opts o = qz_awq_opts_default();
    o.group_size = 32;
    qz_error err = {0};
    memcpy(Q, W, sizeof(float) * OUT * IN);
    qz_awq_fake_quant(Q, OUT, IN, 32, 4, 1, NULL, &err);
    double plain = output_error(X, N, IN, W, Q, OUT);
    double clip;
    memcpy(Q, W, sizeof(float) * OUT * IN);
    CHECK(qz_awq_clip_linear(Q, OUT, IN, X, N, &o, &clip, &err) == 0, "%s", err.msg);
    qz_awq_fake_quant(Q, OUT, IN, 32, 4, 1, NULL, &err);
    double clipped = output_error(X, N, IN, W, Q, OUT);
    CHECK(clipped <= plain * 1.0001, "clip search %g vs none %g", clipped, plain);
    CHECK(clip > 0.5 && clip <= 1.0, "mean clip ratio %g in [0.55, 1]", clip);
    free(X), free(W), free(Q);
}

/* Scale-only AWQ (no clip, no quantization) on the F32 model: the folded
 * model's logits equal the original's up to FP32 rounding. */
static void test_folding_is_exact(void)
{
    char src[512], dir[256];
    snprintf(src, sizeof src, "%s/models/stories260K", qzt_shared());
    qzt_tmpdir(dir, sizeof dir, "awqfold");
    qz_model *m = NULL, *m2 = NULL;
    qz_error err = {0};
    if (qz_model_open(&m, src, &err) != 0) SKIP("%s (../shared absent?)", err.msg);
    enum { T = 64, NS = 8 };
    int32_t ids[NS * T];
    for (int i = 0; i < NS * T; i++) ids[i] = 3 + (i * 7919) % 500;
    qz_awq_opts o = qz_awq_opts_default();
    o.quantize = 0, o.clip = 0, o.group_size = 32;
    qz_export *ex = NULL;
    qz_awq *a = NULL;
    CHECK(qz_export_open(&ex, m, dir, 1, &err) == 0, "%s", err.msg);
    qz_quant_sink sink = qz_export_sink(ex, QZ_EXPORT_FP, NULL, NULL, NULL);
    CHECK(qz_awq_new(&a, m, &o, NS, T, &sink, &err) == 0, "%s", err.msg);
    CHECK(qz_pipeline_run(m, ids, NS, T, qz_awq_method(a), NULL, NULL, NULL, &err) == 0, "%s", err.msg);
    CHECK(qz_export_finish(ex, NULL, NULL, &err) == 0, "%s", err.msg);
    qz_awq_free(a);
    qz_export_free(ex);
    CHECK(qz_model_open(&m2, dir, &err) == 0, "%s", err.msg);
    if (m2) {
        double scale = 0, worst = qzt_max_logit_diff(m, m2, ids, T, &scale);
        printf("  scale-only AWQ: max |logit difference| %.3g (max |logit| %.3g)\n", worst, scale);
        CHECK(worst >= 0 && worst < 1e-4 * scale, "logits differ by %g", worst);
        /* and the scales really were applied: some norm weight changed */
        qz_layer La, Lb;
        CHECK(qz_layer_load(m, 0, &La, &err) == 0 && qz_layer_load(m2, 0, &Lb, &err) == 0, "%s", err.msg);
        double moved = 0;
        for (int c = 0; c < 64; c++) moved = fmax(moved, fabs((double)La.attn_norm[c] - Lb.attn_norm[c]));
        CHECK(moved > 1e-3, "input_layernorm unchanged (%g): nothing was folded", moved);
        qz_layer_free(&La);
        qz_layer_free(&Lb);
    }
    qz_model_free(m2);
    qz_model_free(m);
    CHECK(qzt_rmdir(dir) == 0, "cleanup");
}

int main(void)
{
    QZ_RUN(test_quantizer_hand_worked);
    QZ_RUN(test_scale_and_clip_beat_rtn);
    QZ_RUN(test_clip_never_hurts_its_objective);
    QZ_RUN(test_folding_is_exact);
    QZ_TEST_EXIT();
}
