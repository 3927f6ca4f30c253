/* test_ggml_imatrix.c - importance-weighted block parameters for GGUF output
 * (formats/gguf_quants.c with qw, libquant/ggml_grid.c).
 *
 * Golden values: tests/fixtures/gguf-imatrix/<type>.qzfx, the blocks that
 * llama.cpp's quantize_row_<type>_impl makes with quant_weights, from a
 * numpy transcription written independently of qz's C
 * (scripts/gen_gguf_imatrix_fixture.py). The reference (qw NULL) bytes
 * are test_ggml_grid's. Then properties that can fail: the weighted choice
 * lowers the importance-weighted error, and GPTQ on the weighted grid
 * lowers the Hessian-weighted loss. */
#include "tests/qz_fixture.h"

#include "ggml_grid.h"
#include "rng.h"
#include "tests/unit/ggml_test_inputs.h"

static float *dequant(int t, const void *blocks, int64_t n)
{
    float *y = malloc((size_t)n * sizeof *y);
    qz_ggml_type_traits(t)->to_float(blocks, y, n);
    return y;
}

/* Skewed positive importances exp(spread * N(0, 1)). */
static void importances(float *qw, int64_t n, double spread, uint64_t seed)
{
    gaussian(qw, n, seed);
    for (int64_t i = 0; i < n; i++) qw[i] = (float)exp(spread * qw[i]);
}

/* ------------------------------------------- against llama.cpp's _impl */

/* The stored parameters of a block: [off, off + len) of its bytes. */
static void param_span(int t, size_t *off, size_t *len)
{
    switch (t) {
    case QZ_GGML_Q4_0:
    case QZ_GGML_Q5_0: *off = 0, *len = 2; break;                         /* d */
    case QZ_GGML_Q4_1:
    case QZ_GGML_Q5_1: *off = 0, *len = 4; break;                         /* d, m */
    case QZ_GGML_Q4_K:
    case QZ_GGML_Q5_K: *off = 0, *len = 4 + QZ_K_SCALE_SIZE; break;       /* d, dmin, 6-bit scales and mins */
    default: *off = QZ_QK_K / 2 + QZ_QK_K / 4, *len = QZ_QK_K / 16 + 2; /* Q6_K: int8 scales, d */
    }
}

/* Rows of one type: parameters byte-identical; values equal or, where the
 * 32-element types' codes differ (llama.cpp keeps the codes its search
 * found with the fp32 scale, qz rounds on the stored FP16 one), qz's
 * nearer. The K-quants re-round on the stored grid in llama.cpp too: every
 * value equal. */
static void check_type(const char *file, int t)
{
    fx_file f;
    if (fx_open(&f, file)) return;
    fx_array *xa = fx_get(&f, "x", "f32"), *wa = fx_get(&f, "qw", "f32"), *ba = fx_get(&f, "blocks", "u8");
    CHECK(xa && wa && ba, "%s: arrays missing", file);
    if (!xa || !wa || !ba) return fx_free(&f);
    const qz_ggml_traits *tr = qz_ggml_type_traits(t);
    int64_t rows = xa->dims[0], n = xa->dims[1], nb = n / tr->block_size, differ = 0;
    size_t rs = qz_ggml_row_size(t, n), off, len;
    param_span(t, &off, &len);
    unsigned char *got = malloc(rs);
    for (int64_t r = 0; r < rows; r++) {
        const float *x = (const float *)xa->data + r * n, *qw = (const float *)wa->data + r * n;
        const unsigned char *want = (const unsigned char *)ba->data + r * (int64_t)rs;
        qz_error err;
        CHECK(qz_ggml_rtn_row(t, x, qw, n, got, &err) == QZ_OK, "%s: %s", file, err.msg);
        for (int64_t b = 0; b < nb; b++)
            CHECK(!memcmp(got + b * tr->type_size + off, want + b * tr->type_size + off, len),
                  "%s row %lld block %lld: parameters differ from llama.cpp's", file, (long long)r, (long long)b);
        float *yq = dequant(t, got, n), *yr = dequant(t, want, n);
        for (int64_t j = 0; j < n; j++) {
            if (yq[j] == yr[j]) continue;
            differ++;
            CHECK(tr->block_size == 32 && fabsf(x[j] - yq[j]) <= fabsf(x[j] - yr[j]) * (1 + 1e-6f),
                  "%s [%lld,%lld]: x %.9g qz %.9g llama.cpp %.9g", file, (long long)r, (long long)j, (double)x[j], (double)yq[j],
                  (double)yr[j]);
        }
        free(yq), free(yr);
    }
    printf("  %s: %lld of %lld values differ from llama.cpp's (qz's nearer)\n", file, (long long)differ, (long long)(rows * n));
    free(got);
    fx_free(&f);
}

static const int weighted_types[] = {QZ_GGML_Q4_0, QZ_GGML_Q5_0, QZ_GGML_Q4_1, QZ_GGML_Q5_1, QZ_GGML_Q4_K, QZ_GGML_Q5_K, QZ_GGML_Q6_K};
static const char *const fixture_names[] = {"q4_0", "q5_0", "q4_1", "q5_1", "q4_k", "q5_k", "q6_k"};

static void test_vs_llama_impl(void)
{
    for (size_t k = 0; k < sizeof weighted_types / sizeof *weighted_types; k++) check_type(fixture_names[k], weighted_types[k]);
}

/* Q8_0 has no weighted rule in llama.cpp: the importances change nothing. */
static void test_q8_0_ignores_importances(void)
{
    float x[256], qw[256];
    unsigned char a[8 * 34], b[8 * 34];
    gaussian(x, 256, 5);
    importances(qw, 256, 3.0, 6);
    qz_error err;
    CHECK(qz_ggml_rtn_row(QZ_GGML_Q8_0, x, NULL, 256, a, &err) == QZ_OK && qz_ggml_rtn_row(QZ_GGML_Q8_0, x, qw, 256, b, &err) == QZ_OK,
          "%s", err.msg);
    CHECK(!memcmp(a, b, sizeof a), "Q8_0 with importances differs from the reference");
}

/* ------------------------------------------------------------ properties */

static double weighted_error(const float *x, const float *y, const float *qw, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)qw[i] * (x[i] - y[i]) * (x[i] - y[i]);
    return s;
}

/* On rows with strongly skewed importances, the weighted parameters (then
 * round to nearest) have a lower sum qw (x - q)^2 than the reference ones. */
static void test_weighted_beats_reference(void)
{
    enum { N = 4096 };
    static float x[N], qw[N];
    gaussian(x, N, 11);
    importances(qw, N, 2.5, 12);
    for (size_t k = 0; k < sizeof weighted_types / sizeof *weighted_types; k++) {
        int t = weighted_types[k];
        size_t rs = qz_ggml_row_size(t, N);
        unsigned char *br = malloc(rs), *bw = malloc(rs);
        qz_error err;
        CHECK(qz_ggml_rtn_row(t, x, NULL, N, br, &err) == QZ_OK && qz_ggml_rtn_row(t, x, qw, N, bw, &err) == QZ_OK, "%s", err.msg);
        float *yr = dequant(t, br, N), *yw = dequant(t, bw, N);
        double er = weighted_error(x, yr, qw, N), ew = weighted_error(x, yw, qw, N);
        CHECK(ew < 0.95 * er, "%s: weighted error %.6g not below 0.95 x the reference's %.6g", qz_ggml_type_name(t), ew, er);
        printf("  %s: importance-weighted error, weighted / reference parameters = %.3f\n", qz_ggml_type_name(t), ew / er);
        free(yr), free(yw), free(br), free(bw);
    }
}

/* GPTQ onto the grid whose parameters diag(H) chose has a lower Hessian
 * loss than GPTQ onto the reference grid. */
static void test_gptq_weighted_grid(void)
{
    enum { R = 6, C = 256 };
    static float H[C * C], Hw[C * C], x[R * C], Wr[R * C], Ww[R * C], qw[C];
    float scale[C];
    importances(scale, C, 1.2, 22); /* columns' scales over two orders of magnitude, as LLM activations: a skewed diag(H) */
    make_hessian(H, C, 21, scale);
    for (int j = 0; j < C; j++) qw[j] = H[j * C + j];
    const int types[] = {QZ_GGML_Q4_0, QZ_GGML_Q4_1, QZ_GGML_Q4_K, QZ_GGML_Q6_K};
    for (size_t k = 0; k < sizeof types / sizeof *types; k++) {
        int t = types[k];
        gaussian(x, R * C, 400 + k);
        memcpy(Wr, x, sizeof x), memcpy(Ww, x, sizeof x);
        qz_gptq_opts o = qz_gptq_opts_default();
        qz_quant_result rr, rw;
        qz_error err;
        memcpy(Hw, H, sizeof H);
        CHECK(qz_ggml_quantize_linear(t, Wr, R, C, Hw, NULL, &o, &rr, &err) == QZ_OK, "ref %s", err.msg);
        memcpy(Hw, H, sizeof H);
        CHECK(qz_ggml_quantize_linear(t, Ww, R, C, Hw, qw, &o, &rw, &err) == QZ_OK, "weighted %s", err.msg);
        double lr = h_loss(x, Wr, H, R, C), lw = h_loss(x, Ww, H, R, C);
        CHECK(lw < 0.97 * lr, "%s: GPTQ loss on the weighted grid %.6g not below 0.97 x the reference grid's %.6g", qz_ggml_type_name(t),
              lw, lr);
        printf("  %s: GPTQ Hessian loss, weighted / reference grid = %.3f\n", qz_ggml_type_name(t), lw / lr);
        /* the weights GPTQ leaves are the file's values */
        qz_ggml_result_pack(&rw);
        for (int r = 0; r < R; r++) {
            float *yr = dequant(t, (const char *)rw.blocks + r * qz_ggml_row_size(t, C), C);
            CHECK(!memcmp(yr, Ww + r * C, C * sizeof(float)), "%s row %d: packed weighted blocks differ from GPTQ's weights",
                  qz_ggml_type_name(t), r);
            free(yr);
        }
        qz_quant_result_free(&rr), qz_quant_result_free(&rw);
    }
}

static void test_bad_importances(void)
{
    float W[2 * 32] = {1}, qw[32];
    for (int j = 0; j < 32; j++) qw[j] = 1;
    qw[5] = -1;
    qz_quant_result res;
    qz_error err;
    CHECK(qz_ggml_quantize_linear(QZ_GGML_Q4_0, W, 2, 32, NULL, qw, NULL, &res, &err) == QZ_EINPUT && strstr(err.msg, "importances"),
          "negative importance: %s", err.msg);
    qw[5] = NAN;
    CHECK(qz_ggml_quantize_linear(QZ_GGML_Q4_0, W, 2, 32, NULL, qw, NULL, &res, &err) == QZ_EINPUT, "NaN importance");
}

int main(int argc, char **argv)
{
    (void)argc;
    fx_init(argv[0], "gguf-imatrix", "scripts/gen_gguf_imatrix_fixture.py (with /opt/qzpy/bin/python)");
    QZ_RUN(test_vs_llama_impl);
    QZ_RUN(test_q8_0_ignores_importances);
    QZ_RUN(test_weighted_beats_reference);
    QZ_RUN(test_gptq_weighted_grid);
    QZ_RUN(test_bad_importances);
    QZ_TEST_EXIT();
}
