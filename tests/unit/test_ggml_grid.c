/* test_ggml_grid.c - quantizing onto ggml's block formats (formats/
 * gguf_quants.c params + pack, libquant/ggml_grid.c RTN and GPTQ).
 *
 * Golden values: tests/fixtures/gguf-quant/<type>.qzfx, blocks written by
 * the gguf Python package's quantizer (scripts/gen_gguf_quant_fixture.py)
 * for Q4_0 Q4_1 Q5_0 Q5_1 Q8_0; the K-quants (which gguf-py cannot
 * quantize) against hand-worked blocks. Every type's packing against the
 * reader's dequantizers, which test_gguf checks against gguf-py. */
#include "tests/qz_fixture.h"

#include "ggml_grid.h"
#include "half.h"
#include "rng.h"
#include "tests/unit/ggml_test_inputs.h"

static float *dequant(int t, const void *blocks, int64_t n)
{
    float *y = malloc((size_t)n * sizeof *y);
    qz_ggml_type_traits(t)->to_float(blocks, y, n);
    return y;
}

/* ------------------------------------------- RTN against gguf-py's blocks */

/* Bytes of the FP16 parameters at the start of a 32-element block. */
static size_t param_bytes(int t)
{
    return t == QZ_GGML_Q4_1 || t == QZ_GGML_Q5_1 ? 4 : 2;
}

static void check_ref_type(const char *file, int t)
{
    fx_file f;
    if (fx_open(&f, file)) return;
    fx_array *xa = fx_get(&f, "x", "f32"), *ba = fx_get(&f, "blocks", "u8");
    CHECK(xa && ba, "%s: arrays missing", file);
    if (!xa || !ba) return fx_free(&f);
    const qz_ggml_traits *tr = qz_ggml_type_traits(t);
    int64_t rows = xa->dims[0], n = xa->dims[1], nb = n / tr->block_size, differ = 0;
    size_t rs = qz_ggml_row_size(t, n);
    unsigned char *got = malloc(rs);
    for (int64_t r = 0; r < rows; r++) {
        int64_t differ_row = 0;
        const float *x = (const float *)xa->data + r * n;
        const unsigned char *want = (const unsigned char *)ba->data + r * (int64_t)rs;
        qz_error err;
        CHECK(qz_ggml_rtn_row(t, x, NULL, n, got, &err) == QZ_OK, "%s: %s", file, err.msg);
        for (int64_t b = 0; b < nb; b++)
            CHECK(!memcmp(got + b * tr->type_size, want + b * tr->type_size, param_bytes(t)), "%s row %lld block %lld: parameters differ",
                  file, (long long)r, (long long)b);
        float *yq = dequant(t, got, n), *yr = dequant(t, want, n);
        for (int64_t j = 0; j < n; j++) {
            if (yq[j] == yr[j]) continue;
            differ_row++;
            /* same parameters, other code: qz's must be the nearer on the stored grid */
            CHECK(fabsf(x[j] - yq[j]) <= fabsf(x[j] - yr[j]) * (1 + 1e-6f), "%s [%lld,%lld]: x %.9g qz %.9g gguf-py %.9g", file,
                  (long long)r, (long long)j, (double)x[j], (double)yq[j], (double)yr[j]);
        }
        free(yq), free(yr);
        /* Rows 0-2: the codes differ only near midpoints (fp32 vs stored
         * FP16 scale, ties). Row 3 has subnormal FP16 scales, far from the
         * fp32 ones: there qz's rounding on the stored grid differs often. */
        if (r < 3) differ += differ_row;
    }
    CHECK(differ * 25 <= 3 * n, "%s: %lld of %lld codes differ from gguf-py's", file, (long long)differ, (long long)(3 * n));
    free(got);
    fx_free(&f);
}

static void test_rtn_vs_gguf_py(void)
{
    static const struct {
        const char *file;
        int t;
    } cases[] = {{"q4_0", QZ_GGML_Q4_0}, {"q4_1", QZ_GGML_Q4_1}, {"q5_0", QZ_GGML_Q5_0}, {"q5_1", QZ_GGML_Q5_1}, {"q8_0", QZ_GGML_Q8_0}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) check_ref_type(cases[i].file, cases[i].t);
}

/* ------------------------------------------------ K-quants by hand */

/* Q4_K / Q5_K: sub-block j holds x = (l mod (maxq+1)) * s_j - m_j with
 * s_j = (j+1)/64, m_j = (j+1)/32: make_qkx2_quants fits it exactly (error
 * 0), so the sub-scales are s_j and mins m_j, and the 6-bit codes are
 * nearest(63 s_j / s_7) = nearest(63 (j+1) / 8) = 8 16 24 32 39 47 55 63
 * (31.5 rounds to even) for both scales and mins; d = fp16(s_7 / 63),
 * dmin = fp16(m_7 / 63). */
static void check_k45_hand(int t, int maxq)
{
    static const int want6[8] = {8, 16, 24, 32, 39, 47, 55, 63};
    float x[256];
    for (int j = 0; j < 8; j++)
        for (int l = 0; l < 32; l++) x[32 * j + l] = (float)(l % (maxq + 1)) * (float)(j + 1) / 64 - (float)(j + 1) / 32;
    unsigned char blk[256];
    qz_error err;
    CHECK(qz_ggml_rtn_row(t, x, NULL, 256, blk, &err) == QZ_OK, "%s", err.msg);
    uint16_t d, dmin;
    memcpy(&d, blk, 2), memcpy(&dmin, blk + 2, 2);
    CHECK(d == qz_fp32_to_fp16(8.0f / 64 / 63), "%s d = %#x", qz_ggml_type_name(t), d);
    CHECK(dmin == qz_fp32_to_fp16(8.0f / 32 / 63), "%s dmin = %#x", qz_ggml_type_name(t), dmin);
    const uint8_t *sc = blk + 4;
    for (int j = 0; j < 8; j++) {
        int s = j < 4 ? sc[j] & 63 : (sc[j + 4] & 0x0F) | (sc[j - 4] >> 6) << 4;
        int m = j < 4 ? sc[j + 4] & 63 : (sc[j + 4] >> 4) | (sc[j] >> 6) << 4;
        CHECK(s == want6[j] && m == want6[j], "%s sub-block %d: scale %d min %d, want %d", qz_ggml_type_name(t), j, s, m, want6[j]);
    }
    float *y = dequant(t, blk, 256);
    float dd = qz_fp16_to_fp32(d), dm = qz_fp16_to_fp32(dmin);
    for (int j = 0; j < 8; j++)
        for (int l = 0; l < 32; l++) {
            float want = dd * (float)want6[j] * (float)(l % (maxq + 1)) - dm * (float)want6[j];
            CHECK(y[32 * j + l] == want, "%s [%d]: %.9g, want %.9g", qz_ggml_type_name(t), 32 * j + l, (double)y[32 * j + l], (double)want);
        }
    free(y);
}

/* Q6_K: sub-block ib holds x = (l mod 16 - 8) (ib+1) / 16. Its first
 * element has the largest |x| (-8 (ib+1)/16), so iscale = 4 / s and the
 * codes 4 (l mod 16 - 8) fit exactly: sub-scale (ib+1)/64; the largest is
 * 1/4, so d = fp16(-1/4 / 128) = -2^-9 and the int8 scales are
 * nearest(-128 (ib+1) / 16) = -8 (ib+1); every value is exact. */
static void test_q6_K_hand(void)
{
    float x[256];
    for (int ib = 0; ib < 16; ib++)
        for (int l = 0; l < 16; l++) x[16 * ib + l] = (float)(l % 16 - 8) * (float)(ib + 1) / 16;
    qz_block_q6_K b;
    qz_error err;
    CHECK(qz_ggml_rtn_row(QZ_GGML_Q6_K, x, NULL, 256, &b, &err) == QZ_OK, "%s", err.msg);
    CHECK(qz_fp16_to_fp32(b.d) == -1.0f / 512, "d = %.9g", (double)qz_fp16_to_fp32(b.d));
    for (int ib = 0; ib < 16; ib++) CHECK(b.scales[ib] == -8 * (ib + 1), "scale %d = %d", ib, b.scales[ib]);
    float *y = dequant(QZ_GGML_Q6_K, &b, 256);
    for (int i = 0; i < 256; i++) CHECK(y[i] == x[i], "[%d] = %.9g, want %.9g", i, (double)y[i], (double)x[i]);
    free(y);
}

static void test_q4_K_hand(void) { check_k45_hand(QZ_GGML_Q4_K, 15); }
static void test_q5_K_hand(void) { check_k45_hand(QZ_GGML_Q5_K, 31); }

/* --------------------------------------------- every type: round trip */

static const int writable[] = {QZ_GGML_Q4_0, QZ_GGML_Q4_1, QZ_GGML_Q5_0, QZ_GGML_Q5_1, QZ_GGML_Q8_0, QZ_GGML_Q4_K, QZ_GGML_Q5_K, QZ_GGML_Q6_K};
/* relative RMS error bounds of RTN on Gaussian weights, per type */
static const double rms_tol[] = {0.14, 0.12, 0.08, 0.06, 0.01, 0.10, 0.05, 0.03};

/* W after quantize_linear (the values) == the packed blocks dequantized. */
static void check_packed_equals(int t, const float *W, qz_quant_result *res)
{
    qz_ggml_result_pack(res);
    int64_t n = res->rows * res->cols;
    float *y = dequant(t, res->blocks, n);
    int bad = 0;
    for (int64_t i = 0; i < n; i++)
        if (memcmp(&y[i], &W[i], 4) && bad++ < 5) CHECK(0, "%s [%lld]: file %.9g, in memory %.9g", qz_ggml_type_name(t), (long long)i, (double)y[i], (double)W[i]);
    CHECK(bad == 0, "%s: %d values differ", qz_ggml_type_name(t), bad);
    free(y);
}

static void test_round_trip_all_types(void)
{
    enum { R = 4, C = 512 };
    for (size_t k = 0; k < sizeof writable / sizeof *writable; k++) {
        int t = writable[k];
        float x[R * C], W[R * C];
        gaussian(x, R * C, 100 + k);
        x[7] = 0, x[C + 3] = 40.0f; /* an outlier */
        memset(x + 2 * C, 0, 256 * sizeof(float)); /* an all-zero super-block */
        memcpy(W, x, sizeof W);
        qz_quant_result res;
        qz_error err;
        CHECK(qz_ggml_quantize_linear(t, W, R, C, NULL, NULL, NULL, &res, &err) == QZ_OK, "%s: %s", qz_ggml_type_name(t), err.msg);
        if (!res.blocks) continue;
        check_packed_equals(t, W, &res);
        double se = 0, ss = 0;
        for (int i = 0; i < R * C; i++) se += (double)(W[i] - x[i]) * (W[i] - x[i]), ss += (double)x[i] * x[i];
        CHECK(sqrt(se / ss) < rms_tol[k], "%s: relative RMS error %.4f >= %.3f", qz_ggml_type_name(t), sqrt(se / ss), rms_tol[k]);
        for (int i = 2 * C; i < 2 * C + 256; i++) CHECK(W[i] == 0.0f, "%s: zero block [%d] = %g", qz_ggml_type_name(t), i, (double)W[i]);
        /* RTN through the linear API is the same bytes as rtn_row */
        unsigned char *row = malloc(qz_ggml_row_size(t, C));
        qz_ggml_rtn_row(t, x, NULL, C, row, &err);
        CHECK(!memcmp(row, res.blocks, qz_ggml_row_size(t, C)), "%s: rtn_row and quantize_linear differ", qz_ggml_type_name(t));
        free(row);
        qz_quant_result_free(&res);
    }
}

static void test_refusals(void)
{
    float x[64] = {0};
    unsigned char buf[1024];
    qz_error err;
    CHECK(qz_ggml_rtn_row(QZ_GGML_Q4_K, x, NULL, 64, buf, &err) == QZ_EINPUT && strstr(err.msg, "256"), "Q4_K on 64: %s", err.msg);
    CHECK(qz_ggml_rtn_row(QZ_GGML_Q2_K, x, NULL, 256, buf, &err) == QZ_EINPUT && strstr(err.msg, "Q2_K"), "Q2_K: %s", err.msg);
    CHECK(qz_ggml_rtn_row(QZ_GGML_Q4_0, x, NULL, 40, buf, &err) == QZ_EINPUT, "Q4_0 on 40");
    CHECK(qz_ggml_type_from_name("q4_k") == QZ_GGML_Q4_K && qz_ggml_type_from_name("Q8_0") == QZ_GGML_Q8_0 &&
              qz_ggml_type_from_name("Q4_K_M") == -1, "type names");
}

/* -------------------------------------------------- GPTQ on the grid */

/* GPTQ on the fixed grid, with either solver (gptq.h): the block parameters
 * stay RTN's, the result packs, the proxy loss beats RTN's, and the blocked
 * solver's loss matches the reference column loop's. */
static void test_gptq_on_grid(void)
{
    enum { R = 6, C = 256 };
    static float H[C * C], Hw[C * C];
    make_hessian(H, C, 7, NULL);
    const int types[] = {QZ_GGML_Q4_0, QZ_GGML_Q4_K, QZ_GGML_Q6_K};
    const int solvers[] = {QZ_GPTQ_SOLVER_BLOCKED, QZ_GPTQ_SOLVER_REF};
    for (size_t k = 0; k < 3; k++)
        for (int act = 0; act < 2; act++) {
            int t = types[k];
            double loss[2] = {0, 0};
            for (int si = 0; si < 2; si++) {
                float x[R * C], Wr[R * C], Wg[R * C];
                gaussian(x, R * C, 300 + k);
                memcpy(Wr, x, sizeof x), memcpy(Wg, x, sizeof x), memcpy(Hw, H, sizeof H);
                qz_gptq_opts o = qz_gptq_opts_default();
                o.act_order = act;
                o.solver = solvers[si];
                const char *sn = qz_gptq_solver_name(o.solver);
                qz_quant_result rr, rg;
                qz_error err;
                CHECK(qz_ggml_quantize_linear(t, Wr, R, C, NULL, NULL, &o, &rr, &err) == QZ_OK, "rtn %s", err.msg);
                CHECK(qz_ggml_quantize_linear(t, Wg, R, C, Hw, NULL, &o, &rg, &err) == QZ_OK, "gptq %s: %s", sn, err.msg);
                if (!rr.blocks || !rg.blocks) continue;
                /* the parameters were fixed from W before the loop: the same bytes as RTN's */
                CHECK(!memcmp(rr.blocks, rg.blocks, (size_t)R * qz_ggml_row_size(t, C)), "%s act %d %s: GPTQ changed block parameters",
                      qz_ggml_type_name(t), act, sn);
                check_packed_equals(t, Wg, &rg);
                double lr = h_loss(x, Wr, H, R, C), lg = h_loss(x, Wg, H, R, C);
                CHECK(lg < 0.9 * lr, "%s act %d %s: GPTQ proxy loss %.6g not below 0.9 x RTN's %.6g", qz_ggml_type_name(t), act, sn,
                      lg, lr);
                loss[si] = lg;
                qz_quant_result_free(&rr), qz_quant_result_free(&rg);
            }
            /* the two solvers differ only in fp32 summation order (and rare code ties) */
            CHECK(fabs(loss[0] - loss[1]) <= 1e-3 * loss[1], "%s act %d: blocked loss %.9g vs ref %.9g", qz_ggml_type_name(t), act,
                  loss[0], loss[1]);
        }
}

int main(int argc, char **argv)
{
    (void)argc;
    fx_init(argv[0], "gguf-quant", "scripts/gen_gguf_quant_fixture.py (with /opt/qzpy/bin/python)");
    QZ_RUN(test_rtn_vs_gguf_py);
    QZ_RUN(test_q4_K_hand);
    QZ_RUN(test_q5_K_hand);
    QZ_RUN(test_q6_K_hand);
    QZ_RUN(test_round_trip_all_types);
    QZ_RUN(test_refusals);
    QZ_RUN(test_gptq_on_grid);
    QZ_TEST_EXIT();
}
