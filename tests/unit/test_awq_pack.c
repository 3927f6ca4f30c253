/* test_awq_pack.c - AutoAWQ GEMM packing, dequantization, checkpoint tensors
 * and quantization_config (formats/awq_pack.h).
 *
 * Golden values: a hand-worked word below, and tests/fixtures/awq/awq_gemm.txt
 * written once by scripts/gen_awq_fixture.py (an independent numpy
 * implementation of the AutoAWQ layout). Packed words must match exactly;
 * dequantized weights are one float32 multiply of exact values, so they must
 * match bit for bit too.
 */
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "awq_pack.h"
#include "half.h"
#include "qz_common.h"
#include "rng.h"
#include "safetensors.h"
#include "tests/qz_test.h"

static char g_fixdir[512] = "tests/fixtures/awq";
static char g_tmpdir[256];

/* ------------------------------------------------------------------------- */
/* Fixture reader (format in scripts/gen_awq_fixture.py)                      */

#define FX_MAX_CASES 8
#define FX_LINE_MAX (1 << 16)

typedef struct fx_case {
    char name[64];
    int64_t out, in, gs, ng;
    uint8_t *codes;    /* (out, in) */
    int32_t *zeros;    /* (ng, out) */
    float *scales;     /* (ng, out) */
    int32_t *qweight;  /* (in, out/8) */
    int32_t *qzeros;   /* (ng, out/8) */
    float *w;          /* (out, in) */
} fx_case;

typedef struct fx_file {
    int n;
    fx_case c[FX_MAX_CASES];
} fx_file;

static char g_line[FX_LINE_MAX];

/* Next non-comment line without its newline, or NULL at end of file. */
static char *fx_line(FILE *fp)
{
    while (fgets(g_line, sizeof g_line, fp)) {
        g_line[strcspn(g_line, "\r\n")] = 0;
        if (g_line[0] != '#') return g_line;
    }
    return NULL;
}

static int fx_expect(FILE *fp, const char *label)
{
    const char *l = fx_line(fp);
    return l && !strcmp(l, label) ? 0 : -1;
}

/* rows lines of cols hex digits each. */
static int fx_digits(FILE *fp, int64_t rows, int64_t cols, uint8_t *u8, int32_t *i32)
{
    for (int64_t r = 0; r < rows; r++) {
        const char *l = fx_line(fp);
        if (!l || (int64_t)strlen(l) != cols) return -1;
        for (int64_t c = 0; c < cols; c++) {
            char d[2] = {l[c], 0};
            char *end;
            long v = strtol(d, &end, 16);
            if (*end) return -1;
            if (u8) u8[r * cols + c] = (uint8_t)v;
            else i32[r * cols + c] = (int32_t)v;
        }
    }
    return 0;
}

/* rows lines of cols space-separated tokens: hex words or C99 hex floats. */
static int fx_tokens(FILE *fp, int64_t rows, int64_t cols, int32_t *words, float *floats)
{
    for (int64_t r = 0; r < rows; r++) {
        char *p = fx_line(fp), *end;
        if (!p) return -1;
        for (int64_t c = 0; c < cols; c++) {
            if (words) {
                uint32_t u = (uint32_t)strtoul(p, &end, 16);
                memcpy(&words[r * cols + c], &u, sizeof u);
            } else {
                floats[r * cols + c] = strtof(p, &end);
            }
            if (end == p) return -1;
            p = end;
        }
        while (*p == ' ') p++;
        if (*p) return -1;
    }
    return 0;
}

static int fx_read_case(FILE *fp, fx_case *c)
{
    int64_t nw = c->out / 8;
    c->ng = c->gs == -1 ? 1 : c->in / c->gs;
    c->codes = malloc((size_t)(c->out * c->in));
    c->zeros = malloc((size_t)(c->ng * c->out) * sizeof *c->zeros);
    c->scales = malloc((size_t)(c->ng * c->out) * sizeof *c->scales);
    c->qweight = malloc((size_t)(c->in * nw) * sizeof *c->qweight);
    c->qzeros = malloc((size_t)(c->ng * nw) * sizeof *c->qzeros);
    c->w = malloc((size_t)(c->out * c->in) * sizeof *c->w);
    if (!c->codes || !c->zeros || !c->scales || !c->qweight || !c->qzeros || !c->w) return -1;
    if (fx_expect(fp, "codes") || fx_digits(fp, c->out, c->in, c->codes, NULL)) return -1;
    if (fx_expect(fp, "zeros") || fx_digits(fp, c->ng, c->out, NULL, c->zeros)) return -1;
    if (fx_expect(fp, "scales") || fx_tokens(fp, c->ng, c->out, NULL, c->scales)) return -1;
    if (fx_expect(fp, "qweight") || fx_tokens(fp, c->in, nw, c->qweight, NULL)) return -1;
    if (fx_expect(fp, "qzeros") || fx_tokens(fp, c->ng, nw, c->qzeros, NULL)) return -1;
    if (fx_expect(fp, "w") || fx_tokens(fp, c->out, c->in, NULL, c->w)) return -1;
    return fx_expect(fp, "end");
}

static void fx_free(fx_file *f)
{
    for (int i = 0; i < f->n; i++) {
        fx_case *c = &f->c[i];
        free(c->codes);
        free(c->zeros);
        free(c->scales);
        free(c->qweight);
        free(c->qzeros);
        free(c->w);
    }
    memset(f, 0, sizeof *f);
}

/* 0 ok, -1 missing, -2 malformed. */
static int fx_load(fx_file *f)
{
    char path[600];
    memset(f, 0, sizeof *f);
    snprintf(path, sizeof path, "%s/awq_gemm.txt", g_fixdir);
    FILE *fp = fopen(path, "r");
    if (!fp) return -1;
    int rc = -2;
    char *l = fx_line(fp);
    if (l && !strcmp(l, "AWQFX 1")) {
        while ((l = fx_line(fp)) && strcmp(l, "EOF") && f->n < FX_MAX_CASES) {
            fx_case *c = &f->c[f->n++];
            long long o, i, g;
            if (sscanf(l, "case %63s %lld %lld %lld", c->name, &o, &i, &g) != 4 || o <= 0 || o % 8 || i <= 0 ||
                !(g == -1 || (g > 0 && i % g == 0)))
                break;
            c->out = o, c->in = i, c->gs = g;
            if (fx_read_case(fp, c)) break;
        }
        if (l && !strcmp(l, "EOF")) rc = 0;
    }
    fclose(fp);
    if (rc) fx_free(f);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* Helpers                                                                    */

static uint32_t as_u32(int32_t x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static void random_codes(qz_rng *r, uint8_t *q, int64_t n)
{
    for (int64_t i = 0; i < n; i++) q[i] = (uint8_t)qz_rng_below(r, 16);
}

static void random_zeros(qz_rng *r, int32_t *z, int64_t n)
{
    for (int64_t i = 0; i < n; i++) z[i] = (int32_t)qz_rng_below(r, 16);
}

/* fp16-representable scales in [1e-3, 5e-2), so the F16 tensor is exact. */
static void random_scales(qz_rng *r, float *s, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        s[i] = qz_fp16_to_fp32(qz_fp32_to_fp16((float)(1e-3 + 0.049 * qz_rng_uniform(r))));
}

/* The documented formula, computed directly from the unpacked values. */
static float formula(const uint8_t *codes, const int32_t *zeros, const float *scales, int64_t out, int64_t in,
                     int64_t gs, int64_t o, int64_t k)
{
    int64_t g = k / gs;
    return scales[g * out + o] * (float)((int32_t)codes[o * in + k] - zeros[g * out + o]);
}

/* ------------------------------------------------------------------------- */
/* Tests                                                                      */

/* Hand-worked: one input row, 8 output channels, channel j holding code j.
 * Nibble i holds channel AWQ_ORDER[i] = 0,2,4,6,1,3,5,7, so from bit 0 up the
 * nibbles are 0 2 4 6 1 3 5 7 and the word, written most significant nibble
 * first, is 0x75316420. With codes 8 + j the nibbles are 8 a c e 9 b d f:
 * 0xfdb9eca8 (a negative int32). */
static void test_hand_word(void)
{
    qz_error err = {0};
    uint8_t codes[8], back[8];
    int32_t zeros[8], zback[8], w = 0, qz = 0;
    for (int j = 0; j < 8; j++) codes[j] = (uint8_t)j, zeros[j] = j;
    CHECK(qz_awq_pack_qweight(&w, codes, 8, 1, &err) == QZ_OK, "%s", err.msg);
    CHECK(as_u32(w) == 0x75316420u, "word %08x, want 75316420", as_u32(w));
    CHECK(qz_awq_pack_qzeros(&qz, zeros, 1, 8, &err) == QZ_OK, "%s", err.msg);
    CHECK(as_u32(qz) == 0x75316420u, "qzeros word %08x, want 75316420", as_u32(qz));
    for (int j = 0; j < 8; j++) codes[j] = (uint8_t)(8 + j), zeros[j] = 8 + j;
    CHECK(qz_awq_pack_qweight(&w, codes, 8, 1, &err) == QZ_OK, "%s", err.msg);
    CHECK(as_u32(w) == 0xfdb9eca8u, "word %08x, want fdb9eca8", as_u32(w));
    CHECK(w < 0, "high nibble 15 makes the int32 negative");
    CHECK(qz_awq_unpack_qweight(back, &w, 8, 1, &err) == QZ_OK && !memcmp(back, codes, 8), "unpack");
    CHECK(qz_awq_pack_qzeros(&qz, zeros, 1, 8, &err) == QZ_OK && as_u32(qz) == 0xfdb9eca8u, "qzeros %08x",
          as_u32(qz));
    CHECK(qz_awq_unpack_qzeros(zback, &qz, 1, 8, &err) == QZ_OK && !memcmp(zback, zeros, sizeof zeros),
          "unpack zeros");
    /* Only channel 1 set: it sits in nibble REV[1] = 4, i.e. 0x000f0000. */
    memset(codes, 0, sizeof codes);
    codes[1] = 15;
    CHECK(qz_awq_pack_qweight(&w, codes, 8, 1, &err) == QZ_OK && as_u32(w) == 0x000f0000u, "word %08x",
          as_u32(w));
}

static void test_fixture(void)
{
    fx_file f;
    int rc = fx_load(&f);
    CHECK(rc == 0, "cannot read %s/awq_gemm.txt (%s); regenerate with python3 scripts/gen_awq_fixture.py",
          g_fixdir, rc == -1 ? "missing" : "malformed");
    if (rc) return;
    CHECK(f.n >= 3, "fixture has %d cases", f.n);
    qz_error err = {0};
    for (int i = 0; i < f.n; i++) {
        const fx_case *c = &f.c[i];
        int64_t nw = c->out / 8, nqw = c->in * nw, nqz = c->ng * nw, n = c->out * c->in;
        int32_t *qw = malloc((size_t)nqw * 4), *qz = malloc((size_t)nqz * 4), *z = malloc((size_t)(c->ng * c->out) * 4);
        uint8_t *q = malloc((size_t)n);
        float *W = malloc((size_t)n * sizeof *W);
        CHECK(qz_awq_pack_qweight(qw, c->codes, c->out, c->in, &err) == QZ_OK, "%s: %s", c->name, err.msg);
        CHECK(qz_awq_pack_qzeros(qz, c->zeros, c->ng, c->out, &err) == QZ_OK, "%s: %s", c->name, err.msg);
        int bad = 0;
        for (int64_t t = 0; t < nqw; t++)
            if (qw[t] != c->qweight[t] && bad++ < 3)
                CHECK(0, "%s qweight[%lld, %lld] = %08x, want %08x", c->name, (long long)(t / nw),
                      (long long)(t % nw), as_u32(qw[t]), as_u32(c->qweight[t]));
        for (int64_t t = 0; t < nqz; t++)
            if (qz[t] != c->qzeros[t] && bad++ < 6)
                CHECK(0, "%s qzeros[%lld, %lld] = %08x, want %08x", c->name, (long long)(t / nw),
                      (long long)(t % nw), as_u32(qz[t]), as_u32(c->qzeros[t]));
        /* Unpack the fixture's words (not ours) and dequantize them. */
        CHECK(qz_awq_unpack_qweight(q, c->qweight, c->out, c->in, &err) == QZ_OK && !memcmp(q, c->codes, (size_t)n),
              "%s: unpacked codes differ", c->name);
        CHECK(qz_awq_unpack_qzeros(z, c->qzeros, c->ng, c->out, &err) == QZ_OK &&
                  !memcmp(z, c->zeros, (size_t)(c->ng * c->out) * 4),
              "%s: unpacked zeros differ", c->name);
        CHECK(qz_awq_dequantize(W, c->qweight, c->qzeros, c->scales, c->out, c->in, c->gs, &err) == QZ_OK, "%s",
              err.msg);
        for (int64_t t = 0, nbad = 0; t < n && nbad < 5; t++)
            if (W[t] != c->w[t]) {
                nbad++;
                CHECK(0, "%s W[%lld, %lld] = %.9g, want %.9g", c->name, (long long)(t / c->in),
                      (long long)(t % c->in), W[t], c->w[t]);
            }
        free(qw);
        free(qz);
        free(z);
        free(q);
        free(W);
    }
    fx_free(&f);
}

static void test_round_trip(void)
{
    static const int64_t shapes[][3] = {/* out, in, gs */
                                        {8, 1, 1},      {8, 7, -1},    {16, 48, 16},  {40, 96, 32},
                                        {128, 256, 128}, {24, 64, 64}, {64, 200, 8},  {8, 128, -1}};
    qz_rng r;
    qz_rng_seed(&r, 7);
    qz_error err = {0};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t out = shapes[s][0], in = shapes[s][1], gs = shapes[s][2], ng = gs == -1 ? 1 : in / gs;
        int64_t n = out * in, nz = ng * out;
        uint8_t *q = malloc((size_t)n), *q2 = malloc((size_t)n);
        int32_t *z = malloc((size_t)nz * 4), *z2 = malloc((size_t)nz * 4);
        int32_t *qw = malloc((size_t)(in * out / 8) * 4), *qz = malloc((size_t)(ng * out / 8) * 4);
        random_codes(&r, q, n);
        random_zeros(&r, z, nz);
        CHECK(qz_awq_pack_check(out, in, gs, &err) == QZ_OK, "%s", err.msg);
        CHECK(qz_awq_pack_qweight(qw, q, out, in, &err) == QZ_OK, "%s", err.msg);
        CHECK(qz_awq_unpack_qweight(q2, qw, out, in, &err) == QZ_OK, "%s", err.msg);
        CHECK(!memcmp(q, q2, (size_t)n), "codes round trip, out %lld in %lld", (long long)out, (long long)in);
        CHECK(qz_awq_pack_qzeros(qz, z, ng, out, &err) == QZ_OK, "%s", err.msg);
        CHECK(qz_awq_unpack_qzeros(z2, qz, ng, out, &err) == QZ_OK, "%s", err.msg);
        CHECK(!memcmp(z, z2, (size_t)nz * 4), "zeros round trip, ng %lld out %lld", (long long)ng, (long long)out);
        free(q);
        free(q2);
        free(z);
        free(z2);
        free(qw);
        free(qz);
    }
}

static void test_dequant_formula(void)
{
    static const int64_t shapes[][3] = {{16, 32, 16}, {24, 64, -1}, {64, 96, 32}, {8, 12, 4}};
    qz_rng r;
    qz_rng_seed(&r, 11);
    qz_error err = {0};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t out = shapes[s][0], in = shapes[s][1], gs = shapes[s][2], g = gs == -1 ? in : gs, ng = in / g;
        uint8_t *q = malloc((size_t)(out * in));
        int32_t *z = malloc((size_t)(ng * out) * 4);
        float *sc = malloc((size_t)(ng * out) * sizeof *sc), *W = malloc((size_t)(out * in) * sizeof *W);
        int32_t *qw = malloc((size_t)(in * out / 8) * 4), *qz = malloc((size_t)(ng * out / 8) * 4);
        random_codes(&r, q, out * in);
        random_zeros(&r, z, ng * out);
        random_scales(&r, sc, ng * out);
        CHECK(qz_awq_pack_qweight(qw, q, out, in, &err) == QZ_OK, "%s", err.msg);
        CHECK(qz_awq_pack_qzeros(qz, z, ng, out, &err) == QZ_OK, "%s", err.msg);
        CHECK(qz_awq_dequantize(W, qw, qz, sc, out, in, gs, &err) == QZ_OK, "%s", err.msg);
        for (int64_t o = 0; o < out; o++)
            for (int64_t k = 0; k < in; k++) CHECK_CLOSE(W[o * in + k], formula(q, z, sc, out, in, g, o, k), 0, 0);
        free(q);
        free(z);
        free(sc);
        free(W);
        free(qw);
        free(qz);
    }
}

static void test_rejects(void)
{
    qz_error err = {0};
    int32_t qw[64] = {0}, qz[8] = {0}, zeros[16] = {0};
    uint8_t codes[64] = {0};
    float W[64], sc[16] = {0};
    CHECK(qz_awq_pack_check(12, 32, 16, &err) == QZ_EINPUT && strstr(err.msg, "out_features = 12"), "%s", err.msg);
    CHECK(qz_awq_pack_check(0, 32, 16, &err) == QZ_EINPUT, "out 0");
    CHECK(qz_awq_pack_check(16, 30, 16, &err) == QZ_EINPUT && strstr(err.msg, "group_size = 16") &&
              strstr(err.msg, "in_features = 30"),
          "%s", err.msg);
    CHECK(qz_awq_pack_check(16, 32, 0, &err) == QZ_EINPUT, "gs 0");
    CHECK(qz_awq_pack_check(16, 32, -2, &err) == QZ_EINPUT, "gs -2");
    CHECK(qz_awq_pack_check(16, 0, -1, &err) == QZ_EINPUT && strstr(err.msg, "in_features"), "%s", err.msg);
    CHECK(qz_awq_pack_check(16, INT64_MAX / 8, -1, &err) == QZ_EINPUT, "out x in overflow");
    CHECK(qz_awq_pack_check(16, 30, -1, &err) == QZ_OK, "gs -1 takes any in: %s", err.msg);
    CHECK(qz_awq_pack_qweight(qw, codes, 4, 16, &err) == QZ_EINPUT && strstr(err.msg, "multiple of 8"), "%s",
          err.msg);
    codes[8 * 3 + 5] = 16; /* out 8, in 8: channel 3, input 5 */
    CHECK(qz_awq_pack_qweight(qw, codes, 8, 8, &err) == QZ_EINPUT && strstr(err.msg, "code 16 at [3, 5]"), "%s",
          err.msg);
    zeros[9] = 16;
    CHECK(qz_awq_pack_qzeros(qz, zeros, 2, 8, &err) == QZ_EINPUT && strstr(err.msg, "16 at [1, 1]"), "%s", err.msg);
    zeros[9] = -1;
    CHECK(qz_awq_pack_qzeros(qz, zeros, 2, 8, &err) == QZ_EINPUT && strstr(err.msg, "outside [0, 15]"), "%s",
          err.msg);
    CHECK(qz_awq_pack_qzeros(qz, zeros, 0, 8, &err) == QZ_EINPUT, "n_groups 0");
    CHECK(qz_awq_unpack_qweight(codes, qw, 12, 8, &err) == QZ_EINPUT, "unpack out 12");
    CHECK(qz_awq_unpack_qzeros(zeros, qz, 1, 20, &err) == QZ_EINPUT, "unpack zeros out 20");
    CHECK(qz_awq_dequantize(W, qw, qz, sc, 8, 8, 3, &err) == QZ_EINPUT && strstr(err.msg, "group_size = 3"), "%s",
          err.msg);
}

/* ------------------------------------------------------------------------- */
/* Checkpoint tensors through a real safetensors file                         */

static qz_st_tensor *find_in_file(void *ctx, const char *name)
{
    qz_st_tensor *t = NULL;
    qz_error e = {0};
    return qz_st_get(ctx, name, &t, &e) == QZ_OK ? t : NULL; /* verifies the CRC too */
}

typedef struct linear_case {
    const char *prefix;
    int64_t out, in, gs;
    int with_bias;
    uint8_t *q;
    int32_t *z;
    float *s, *bias;
} linear_case;

static void linear_case_init(linear_case *lc, qz_rng *r)
{
    int64_t ng = lc->gs == -1 ? 1 : lc->in / lc->gs;
    lc->q = malloc((size_t)(lc->out * lc->in));
    lc->z = malloc((size_t)(ng * lc->out) * 4);
    lc->s = malloc((size_t)(ng * lc->out) * sizeof *lc->s);
    lc->bias = malloc((size_t)lc->out * sizeof *lc->bias);
    random_codes(r, lc->q, lc->out * lc->in);
    random_zeros(r, lc->z, ng * lc->out);
    random_scales(r, lc->s, ng * lc->out);
    random_scales(r, lc->bias, lc->out);
}

static void linear_case_free(linear_case *lc)
{
    free(lc->q);
    free(lc->z);
    free(lc->s);
    free(lc->bias);
}

static void check_shape(qz_st_file *f, const char *prefix, const char *suffix, qz_dtype dt, int ndim, int64_t d0,
                        int64_t d1)
{
    char name[256];
    snprintf(name, sizeof name, "%s.%s", prefix, suffix);
    const qz_st_tensor *t = qz_st_find(f, name);
    CHECK(t != NULL, "%s missing", name);
    if (!t) return;
    CHECK(t->dtype == dt && t->ndim == ndim && t->shape[0] == d0 && (ndim == 1 || t->shape[1] == d1),
          "%s: %s %d dims [%lld, %lld]", name, qz_dtype_name(t->dtype), t->ndim, (long long)t->shape[0],
          (long long)(t->ndim > 1 ? t->shape[1] : 0));
}

static void test_checkpoint_round_trip(void)
{
    char path[400];
    snprintf(path, sizeof path, "%s/awq.safetensors", g_tmpdir);
    linear_case lcs[] = {{"model.layers.0.mlp.down_proj", 32, 64, 16, 1, 0, 0, 0, 0},
                         {"model.layers.0.self_attn.q_proj", 16, 40, -1, 0, 0, 0, 0, 0}};
    const int n = (int)(sizeof lcs / sizeof lcs[0]);
    qz_rng r;
    qz_rng_seed(&r, 3);
    qz_error err = {0};
    qz_st_writer *w = NULL;
    CHECK(qz_st_writer_open(&w, path, &err) == QZ_OK, "%s", err.msg);
    for (int i = 0; i < n; i++) {
        linear_case *lc = &lcs[i];
        linear_case_init(lc, &r);
        qz_awq_config c = {4, lc->gs, 1};
        CHECK(qz_awq_write_linear(w, lc->prefix, lc->q, lc->s, lc->z, lc->out, lc->in, lc->with_bias ? lc->bias : NULL,
                                  QZ_DTYPE_F16, &c, &err) == QZ_OK,
              "%s", err.msg);
    }
    qz_awq_config c3 = {3, 16, 1}, bad_gs = {4, 24, 1};
    CHECK(qz_awq_write_linear(w, "x", lcs[0].q, lcs[0].s, lcs[0].z, 32, 64, NULL, QZ_DTYPE_F16, &c3, &err) ==
                  QZ_EINPUT && strstr(err.msg, "4-bit only"),
          "%s", err.msg);
    CHECK(qz_awq_write_linear(w, "x", lcs[0].q, lcs[0].s, lcs[0].z, 32, 64, NULL, QZ_DTYPE_F16, &bad_gs, &err) ==
                  QZ_EINPUT && strstr(err.msg, "x: awq pack: group_size = 24"),
          "%s", err.msg);
    CHECK(qz_st_writer_finish(w, &err) == QZ_OK, "%s", err.msg);
    qz_st_writer_free(w);

    qz_st_file *f = NULL;
    CHECK(qz_st_open(&f, path, &err) == QZ_OK, "%s", err.msg);
    for (int i = 0; f && i < n; i++) {
        linear_case *lc = &lcs[i];
        int64_t g = lc->gs == -1 ? lc->in : lc->gs, ng = lc->in / g;
        check_shape(f, lc->prefix, "qweight", QZ_DTYPE_I32, 2, lc->in, lc->out / 8);
        check_shape(f, lc->prefix, "qzeros", QZ_DTYPE_I32, 2, ng, lc->out / 8);
        check_shape(f, lc->prefix, "scales", QZ_DTYPE_F16, 2, ng, lc->out);
        char bname[256];
        snprintf(bname, sizeof bname, "%s.bias", lc->prefix);
        if (lc->with_bias) check_shape(f, lc->prefix, "bias", QZ_DTYPE_F16, 1, lc->out, 0);
        else CHECK(qz_st_find(f, bname) == NULL, "no bias written for %s", lc->prefix);
        float *W = malloc((size_t)(lc->out * lc->in) * sizeof *W);
        qz_awq_config c = {4, lc->gs, 1};
        CHECK(qz_awq_read_linear(find_in_file, f, lc->prefix, &c, lc->out, lc->in, W, &err) == QZ_OK, "%s", err.msg);
        for (int64_t o = 0; o < lc->out; o++)
            for (int64_t k = 0; k < lc->in; k++)
                CHECK_CLOSE(W[o * lc->in + k], formula(lc->q, lc->z, lc->s, lc->out, lc->in, g, o, k), 0, 0);
        free(W);
    }
    if (f) {
        float *W = malloc(32 * 64 * sizeof *W);
        qz_awq_config c = {4, 16, 1}, c32 = {4, 32, 1}, c3r = {3, 16, 1};
        /* wrong expected out: qweight shape no longer matches */
        CHECK(qz_awq_read_linear(find_in_file, f, lcs[0].prefix, &c, 16, 64, W, &err) == QZ_EINPUT &&
                  strstr(err.msg, "down_proj.qweight") && strstr(err.msg, "expected I32 [64, 2]"),
              "%s", err.msg);
        /* wrong group size: qzeros has 4 groups, not 2 */
        CHECK(qz_awq_read_linear(find_in_file, f, lcs[0].prefix, &c32, 32, 64, W, &err) == QZ_EINPUT &&
                  strstr(err.msg, "qzeros"),
              "%s", err.msg);
        CHECK(qz_awq_read_linear(find_in_file, f, "model.nothing", &c, 32, 64, W, &err) == QZ_EINPUT &&
                  strstr(err.msg, "'model.nothing.qweight' missing"),
              "%s", err.msg);
        CHECK(qz_awq_read_linear(find_in_file, f, lcs[0].prefix, &c3r, 32, 64, W, &err) == QZ_EINPUT, "bits 3");
        free(W);
    }
    qz_st_close(f);
    for (int i = 0; i < n; i++) linear_case_free(&lcs[i]);
    unlink(path);
}

/* safetensors does not align tensors: a lookup handing out data at odd
 * addresses must still read correctly (and cleanly under UBSan). */
typedef struct odd_ctx {
    qz_st_tensor t[3];
    unsigned char *buf[3];
} odd_ctx;

static qz_st_tensor *find_odd(void *ctx, const char *name)
{
    odd_ctx *o = ctx;
    for (int i = 0; i < 3; i++)
        if (!strcmp(o->t[i].name, name)) return &o->t[i];
    return NULL;
}

static void odd_tensor(odd_ctx *o, int i, char *name, qz_dtype dt, int64_t d0, int64_t d1, const void *src)
{
    size_t nbytes = (size_t)(d0 * d1) * qz_dtype_size(dt);
    o->buf[i] = malloc(nbytes + 1);
    memcpy(o->buf[i] + 1, src, nbytes);
    o->t[i] = (qz_st_tensor){.name = name, .dtype = dt, .ndim = 2, .shape = {d0, d1}, .numel = d0 * d1,
                             .data = o->buf[i] + 1, .nbytes = nbytes, .crc_state = 1};
}

static void test_read_unaligned(void)
{
    const int64_t out = 16, in = 32, gs = 8, ng = 4;
    qz_rng r;
    qz_rng_seed(&r, 5);
    uint8_t q[16 * 32];
    int32_t z[4 * 16], qw[32 * 2], qz[4 * 2];
    float s[4 * 16], W[16 * 32];
    uint16_t s16[4 * 16];
    qz_error err = {0};
    random_codes(&r, q, out * in);
    random_zeros(&r, z, ng * out);
    random_scales(&r, s, ng * out);
    qz_fp32_to_fp16_row(s, s16, ng * out);
    CHECK(qz_awq_pack_qweight(qw, q, out, in, &err) == QZ_OK, "%s", err.msg);
    CHECK(qz_awq_pack_qzeros(qz, z, ng, out, &err) == QZ_OK, "%s", err.msg);
    odd_ctx o;
    char n0[] = "l.qweight", n1[] = "l.qzeros", n2[] = "l.scales";
    odd_tensor(&o, 0, n0, QZ_DTYPE_I32, in, out / 8, qw);
    odd_tensor(&o, 1, n1, QZ_DTYPE_I32, ng, out / 8, qz);
    odd_tensor(&o, 2, n2, QZ_DTYPE_F16, ng, out, s16);
    qz_awq_config c = {4, gs, 1};
    CHECK(qz_awq_read_linear(find_odd, &o, "l", &c, out, in, W, &err) == QZ_OK, "%s", err.msg);
    for (int64_t i = 0; i < out; i++)
        for (int64_t k = 0; k < in; k++) CHECK_CLOSE(W[i * in + k], formula(q, z, s, out, in, gs, i, k), 0, 0);
    /* dtype check: scales stored as BF16 are refused */
    o.t[2].dtype = QZ_DTYPE_BF16;
    CHECK(qz_awq_read_linear(find_odd, &o, "l", &c, out, in, W, &err) == QZ_EINPUT &&
              strstr(err.msg, "'l.scales': expected F16 [4, 16]") && strstr(err.msg, "found BF16"),
          "%s", err.msg);
    for (int i = 0; i < 3; i++) free(o.buf[i]);
}

/* ------------------------------------------------------------------------- */
/* quantization_config                                                        */

static int parse_text(const char *text, qz_awq_config *c, qz_error *err)
{
    cJSON *j = cJSON_Parse(text);
    QZ_ASSERT(j != NULL);
    int rc = qz_awq_config_parse(j, "config.json", c, err);
    cJSON_Delete(j);
    return rc;
}

static void test_config_json(void)
{
    qz_error err = {0};
    qz_awq_config c = {4, 128, 1}, back;
    const char *fp[] = {"mlp.down_proj", "self_attn.o_proj"};
    cJSON *j = qz_awq_config_json(&c, fp, 2);
    CHECK(j != NULL, "json");
    char *s = cJSON_PrintUnformatted(j); /* modules_to_not_convert for AutoAWQ/transformers, dynamic for GPTQModel */
    CHECK(!strcmp(s, "{\"quant_method\":\"awq\",\"zero_point\":true,\"group_size\":128,\"bits\":4,"
                     "\"version\":\"gemm\",\"format\":\"gemm\",\"modules_to_not_convert\":[\"mlp.down_proj\",\"self_attn.o_proj\"],"
                     "\"dynamic\":{\"-:^model\\\\.layers\\\\.\\\\d+\\\\.mlp\\\\.down_proj$\":{},"
                     "\"-:^model\\\\.layers\\\\.\\\\d+\\\\.self_attn\\\\.o_proj$\":{}}}"),
          "%s", s);
    free(s);
    CHECK(qz_awq_config_parse(j, "config.json", &back, &err) == QZ_OK, "%s", err.msg);
    CHECK(back.bits == 4 && back.group_size == 128 && back.zero_point == 1, "round trip");
    cJSON_Delete(j);

    qz_awq_config pc = {4, -1, 0};
    j = qz_awq_config_json(&pc, NULL, 0);
    s = cJSON_PrintUnformatted(j);
    CHECK(!strcmp(s, "{\"quant_method\":\"awq\",\"zero_point\":false,\"group_size\":-1,\"bits\":4,"
                     "\"version\":\"gemm\",\"format\":\"gemm\",\"modules_to_not_convert\":null}"),
          "%s", s);
    free(s);
    CHECK(qz_awq_config_parse(j, "config.json", &back, &err) == QZ_OK, "%s", err.msg);
    CHECK(back.bits == 4 && back.group_size == -1 && back.zero_point == 0, "per-channel round trip");
    cJSON_Delete(j);

    /* AutoAWQ's internal names, version in capitals, defaults */
    CHECK(parse_text("{\"w_bit\":4,\"q_group_size\":64,\"zero_point\":true,\"version\":\"GEMM\"}", &back, &err) ==
                  QZ_OK && back.group_size == 64 && back.zero_point,
          "%s", err.msg);
    CHECK(parse_text("{\"bits\":4,\"group_size\":32}", &back, &err) == QZ_OK && back.zero_point == 1, "%s", err.msg);
}

static void test_config_errors(void)
{
    qz_error err = {0};
    qz_awq_config c;
    struct {
        const char *json, *want;
    } bad[] = {
        {"{\"quant_method\":\"awq\",\"bits\":3,\"group_size\":128,\"version\":\"gemm\"}", "bits must be 4"},
        {"{\"quant_method\":\"awq\",\"bits\":4,\"group_size\":128,\"version\":\"gemv\"}", "version 'gemv'"},
        {"{\"quant_method\":\"gptq\",\"bits\":4,\"group_size\":128}", "not 'awq'"},
        {"{\"bits\":4,\"group_size\":0}", "group_size must be -1 or an integer in [1, 1048576]"},
        {"{\"bits\":4,\"group_size\":12.5}", "group_size"},
        {"{\"bits\":4,\"group_size\":1e300}", "group_size"},
        {"{\"bits\":4}", "group_size"},
        {"{\"group_size\":128}", "bits must be 4"},
        {"{\"bits\":4,\"w_bit\":8,\"group_size\":128}", "both bits and w_bit"},
        {"{\"bits\":4,\"group_size\":128,\"zero_point\":1}", "zero_point must be true or false"},
        {"[4]", "not an object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.msg[0] = 0;
        CHECK(parse_text(bad[i].json, &c, &err) == QZ_EINPUT && strstr(err.msg, bad[i].want) &&
                  strstr(err.msg, "config.json"),
              "%s -> '%s'", bad[i].json, err.msg);
    }
}

int main(int argc, char **argv)
{
    (void)argc;
    FILE *probe = fopen("tests/fixtures/awq/awq_gemm.txt", "r");
    if (probe) {
        fclose(probe);
    } else { /* run from elsewhere: fixtures relative to build/tests/<exe> */
        const char *slash = strrchr(argv[0], '/');
        int len = slash ? (int)(slash - argv[0]) : 1;
        snprintf(g_fixdir, sizeof g_fixdir, "%.*s/../../tests/fixtures/awq", len, slash ? argv[0] : ".");
    }
    snprintf(g_tmpdir, sizeof g_tmpdir, "/tmp/qz_test_awq_XXXXXX");
    if (!mkdtemp(g_tmpdir)) {
        fprintf(stderr, "cannot create a temporary directory\n");
        return 3;
    }
    QZ_RUN(test_hand_word);
    QZ_RUN(test_fixture);
    QZ_RUN(test_round_trip);
    QZ_RUN(test_dequant_formula);
    QZ_RUN(test_rejects);
    QZ_RUN(test_checkpoint_round_trip);
    QZ_RUN(test_read_unaligned);
    QZ_RUN(test_config_json);
    QZ_RUN(test_config_errors);
    rmdir(g_tmpdir);
    QZ_TEST_EXIT();
}
