/* test_cuda_kernels.c - every qz_cuda.h kernel against its CPU twin, on a
 * machine with a GPU (scripts/gpu-check.sh; `make cuda-test` builds it).
 * Without a usable device it prints one SKIP line and exits 0.
 *
 * Twins: the packed matmuls against formats/' dequantizers
 * (qz_gptq_dequantize, qz_awq_dequantize; W8A8 as qz_ct_read_linear plus
 * qz_fake_quant_sym on the input) followed by libquant's sgemm
 * (qz_linear_apply); sparse-24 decompression against the dense 2:4 matrix
 * it was built from (bitmask bits set here from the spec, not from
 * pack_index.h); RoPE + GQA attention against qz_attention_block, SwiGLU
 * against qz_mlp_block, RMSNorm against qz_rmsnorm, NLL against a double
 * log-sum-exp written here. Shapes are odd on purpose: in 200 / 224 (not a
 * multiple of 128), out 172 where the layout allows it (176 or 192
 * otherwise), a partial last group, random act-order g_idx, token counts on
 * both matmul schedules (<= 8 and > 8) and partial tiles.
 *
 * Tolerance of an FP32 dot product computed in another order: |d| <=
 * TOL_DOT * sum |x_k w_k| (+ |bias|), the forward error bound of a sum with
 * a margin; exact where no arithmetic happens (embed, decompress).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "awq_pack.h"
#include "gptq_pack.h"
#include "model.h"
#include "qz_cuda.h"
#include "rng.h"
#include "w8a8.h"
#include "tests/qz_test.h"

#define TOL_DOT 1e-5
#define TOL_NLL 1e-9

static qz_cuda *g_gpu;
static qz_rng g_rng;

/* ----------------------------------------------------------- device arena */

#define ARENA_MAX 64
static void *g_arena[ARENA_MAX];
static int g_arena_n;

static void *dev(size_t bytes)
{
    qz_error err = {0};
    void *d = NULL;
    QZ_ASSERT(g_arena_n < ARENA_MAX);
    if (qz_cuda_alloc(g_gpu, &d, bytes, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        QZ_ASSERT(!"device allocation");
    }
    g_arena[g_arena_n++] = d;
    return d;
}

static void *dev_copy(const void *h, size_t bytes)
{
    qz_error err = {0};
    void *d = dev(bytes);
    if (qz_cuda_upload(g_gpu, d, h, bytes, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        QZ_ASSERT(!"upload");
    }
    return d;
}

static void arena_reset(void)
{
    for (int i = 0; i < g_arena_n; i++) qz_cuda_free(g_gpu, g_arena[i]);
    g_arena_n = 0;
}

static void download(void *h, const void *d, size_t bytes)
{
    qz_error err = {0};
    int rc = qz_cuda_download(g_gpu, h, d, bytes, &err);
    CHECK(rc == QZ_OK, "download: %s", err.msg);
}

static float uniform(float lo, float hi)
{
    return lo + (hi - lo) * (float)qz_rng_uniform(&g_rng);
}

static float *random_floats(int64_t n, float lo, float hi)
{
    float *x = qz_malloc_array((size_t)n, sizeof *x);
    QZ_ASSERT(x);
    for (int64_t i = 0; i < n; i++) x[i] = uniform(lo, hi);
    return x;
}

/* --------------------------------------------------------------- linears */

/* y (T, out) = x W^T + bias on the CPU, and the error scale of each entry. */
static void cpu_linear(const float *W, const float *bias, int64_t out, int64_t in, const float *x, int64_t T, float *y,
                       double *scale)
{
    qz_linear l = {(float *)W, (float *)bias, out, in};
    qz_linear_apply(&l, x, T, y);
    for (int64_t t = 0; t < T; t++)
        for (int64_t o = 0; o < out; o++) {
            double s = bias ? fabs(bias[o]) : 0;
            for (int64_t k = 0; k < in; k++) s += fabs((double)x[t * in + k] * W[o * in + k]);
            scale[t * out + o] = s;
        }
}

/* The GPU linear l on x (T, in) against the CPU's y with x_cpu (x as the
 * CPU twin sees it: W8A8 fake-quantized) and dense W. */
static void check_linear(const char *what, const qz_cuda_linear *l, const float *x, const float *x_cpu, const float *W,
                         const float *bias, int64_t T)
{
    const int64_t out = l->out, in = l->in;
    float *want = qz_malloc_array((size_t)(T * out), sizeof(float)), *got = qz_malloc_array((size_t)(T * out), sizeof(float));
    double *scale = qz_malloc_array((size_t)(T * out), sizeof(double));
    QZ_ASSERT(want && got && scale);
    cpu_linear(W, bias, out, in, x_cpu, T, want, scale);
    qz_error err = {0};
    size_t wb = qz_cuda_linear_workspace(l, T);
    float *d_x = dev_copy(x, (size_t)(T * in) * sizeof(float)), *d_y = dev((size_t)(T * out) * sizeof(float));
    void *d_w = dev(wb);
    int rc = qz_cuda_linear_apply(g_gpu, l, d_y, d_x, T, d_w, wb, &err);
    CHECK(rc == QZ_OK, "%s: %s", what, err.msg);
    if (rc == QZ_OK) download(got, d_y, (size_t)(T * out) * sizeof(float));
    for (int64_t i = 0; rc == QZ_OK && i < T * out; i++)
        CHECK(fabs((double)got[i] - want[i]) <= TOL_DOT * scale[i] + 1e-7, "%s T=%lld: y[%lld, %lld] = %.9g, cpu %.9g",
              what, (long long)T, (long long)(i / out), (long long)(i % out), got[i], want[i]);
    free(want), free(got), free(scale);
}

static const int64_t g_tokens[] = {1, 3, 8, 9, 17, 40};
#define N_TOKENS ((int)(sizeof g_tokens / sizeof *g_tokens))

/* Every token count through l, with x_cpu = x unless the layout is W8A8. */
static void check_linear_all_T(const char *what, const qz_cuda_linear *l, const float *W, const float *bias)
{
    for (int i = 0; i < N_TOKENS; i++) {
        const int64_t T = g_tokens[i];
        float *x = random_floats(T * l->in, -1, 1), *xc = qz_malloc_array((size_t)(T * l->in), sizeof(float));
        QZ_ASSERT(xc);
        memcpy(xc, x, (size_t)(T * l->in) * sizeof(float));
        if (l->layout == QZ_CUDA_W8A8) qz_fake_quant_sym(xc, T, l->in, 8, QZ_GRAN_TOKEN, NULL, NULL);
        check_linear(what, l, x, xc, W, bias, T);
        free(x), free(xc);
    }
}

/* GPTQ at bits, v1 or v2 zeros, act-order or static groups of 64. */
static void gptq_case(int bits, qz_gptq_zero_fmt fmt, int act)
{
    const int64_t out = bits == 3 ? 192 : bits == 8 ? 172 : 176, in = 224, gs = 64, ng = (in + gs - 1) / gs;
    const int maxq = (1 << bits) - 1, lo = fmt == QZ_GPTQ_ZERO_V1;
    uint8_t *codes = qz_malloc_array((size_t)(out * in), 1);
    int32_t *zeros = qz_malloc_array((size_t)(ng * out), sizeof(int32_t)), *g_idx = qz_malloc_array((size_t)in, 4);
    int32_t *qw = qz_malloc_array((size_t)(in * bits / 32 * out), 4), *qz = qz_malloc_array((size_t)(ng * out * bits / 32), 4);
    float *scales = random_floats(ng * out, 0.001f, 0.02f), *W = qz_malloc_array((size_t)(out * in), sizeof(float));
    float *bias = random_floats(out, -0.1f, 0.1f);
    QZ_ASSERT(codes && zeros && g_idx && qw && qz && W);
    for (int64_t i = 0; i < out * in; i++) codes[i] = (uint8_t)qz_rng_below(&g_rng, (uint64_t)maxq + 1);
    for (int64_t i = 0; i < ng * out; i++) zeros[i] = lo + (int32_t)qz_rng_below(&g_rng, (uint64_t)maxq + 1);
    for (int64_t k = 0; k < in; k++) g_idx[k] = act ? (int32_t)qz_rng_below(&g_rng, (uint64_t)ng) : (int32_t)(k / gs);
    qz_error err = {0};
    int rc = qz_gptq_pack_qweight(qw, codes, out, in, bits, &err);
    if (!rc) rc = qz_gptq_pack_qzeros(qz, zeros, ng, out, bits, fmt, &err);
    if (!rc) rc = qz_gptq_dequantize(W, qw, qz, scales, g_idx, out, in, ng, bits, fmt, &err);
    CHECK(rc == QZ_OK, "gptq setup: %s", err.msg);
    qz_cuda_linear l = {.layout = QZ_CUDA_GPTQ, .out = out, .in = in, .bits = bits, .group_size = gs, .n_groups = ng,
                        .zero_plus_one = fmt == QZ_GPTQ_ZERO_V1,
                        .d_w = dev_copy(qw, (size_t)(in * bits / 32 * out) * 4),
                        .d_qzeros = dev_copy(qz, (size_t)(ng * out * bits / 32) * 4),
                        .d_scales = dev_copy(scales, (size_t)(ng * out) * 4),
                        .d_g_idx = act ? dev_copy(g_idx, (size_t)in * 4) : NULL, .d_bias = dev_copy(bias, (size_t)out * 4)};
    char what[96];
    snprintf(what, sizeof what, "gptq %d-bit %s %s (%lld, %lld)", bits, qz_gptq_zero_fmt_name(fmt), act ? "act-order" : "static",
             (long long)out, (long long)in);
    if (!rc) check_linear_all_T(what, &l, W, bias);
    arena_reset();
    free(codes), free(zeros), free(g_idx), free(qw), free(qz), free(scales), free(W), free(bias);
}

static void test_gptq_layouts(void)
{
    static const int bits[] = {2, 3, 4, 8};
    for (int b = 0; b < 4; b++)
        for (int f = 0; f < 2; f++)
            for (int act = 0; act < 2; act++) gptq_case(bits[b], (qz_gptq_zero_fmt)f, act);
}

static void awq_case(int64_t group_size)
{
    const int64_t out = 176, in = 224, gs = group_size == -1 ? in : group_size, ng = in / gs;
    uint8_t *codes = qz_malloc_array((size_t)(out * in), 1);
    int32_t *zeros = qz_malloc_array((size_t)(ng * out), 4), *qw = qz_malloc_array((size_t)(in * out / 8), 4),
            *qz = qz_malloc_array((size_t)(ng * out / 8), 4);
    float *scales = random_floats(ng * out, 0.001f, 0.02f), *W = qz_malloc_array((size_t)(out * in), sizeof(float));
    QZ_ASSERT(codes && zeros && qw && qz && W);
    for (int64_t i = 0; i < out * in; i++) codes[i] = (uint8_t)qz_rng_below(&g_rng, 16);
    for (int64_t i = 0; i < ng * out; i++) zeros[i] = (int32_t)qz_rng_below(&g_rng, 16);
    qz_error err = {0};
    int rc = qz_awq_pack_qweight(qw, codes, out, in, &err);
    if (!rc) rc = qz_awq_pack_qzeros(qz, zeros, ng, out, &err);
    if (!rc) rc = qz_awq_dequantize(W, qw, qz, scales, out, in, group_size, &err);
    CHECK(rc == QZ_OK, "awq setup: %s", err.msg);
    qz_cuda_linear l = {.layout = QZ_CUDA_AWQ, .out = out, .in = in, .bits = 4, .group_size = gs, .n_groups = ng,
                        .d_w = dev_copy(qw, (size_t)(in * out / 8) * 4), .d_qzeros = dev_copy(qz, (size_t)(ng * out / 8) * 4),
                        .d_scales = dev_copy(scales, (size_t)(ng * out) * 4)};
    char what[64];
    snprintf(what, sizeof what, "awq g%lld (%lld, %lld)", (long long)group_size, (long long)out, (long long)in);
    if (!rc) check_linear_all_T(what, &l, W, NULL);
    arena_reset();
    free(codes), free(zeros), free(qw), free(qz), free(scales), free(W);
}

static void test_awq_layout(void)
{
    awq_case(32);
    awq_case(-1);
}

/* W8A8: int8 weights, per-channel or per-tensor scales, ct_ckpt's W = q * s. */
static void w8a8_case(int per_channel)
{
    const int64_t out = 172, in = 200, ns = per_channel ? out : 1;
    int8_t *q = qz_malloc_array((size_t)(out * in), 1);
    float *s = random_floats(ns, 0.001f, 0.01f), *W = qz_malloc_array((size_t)(out * in), sizeof(float));
    float *bias = random_floats(out, -0.1f, 0.1f);
    QZ_ASSERT(q && W);
    for (int64_t i = 0; i < out * in; i++) q[i] = (int8_t)((int)qz_rng_below(&g_rng, 255) - 127);
    for (int64_t o = 0; o < out; o++)
        for (int64_t k = 0; k < in; k++) W[o * in + k] = (float)q[o * in + k] * s[per_channel ? o : 0];
    qz_cuda_linear l = {.layout = QZ_CUDA_W8A8, .out = out, .in = in, .bits = 8, .per_channel = per_channel,
                        .d_w = dev_copy(q, (size_t)(out * in)), .d_scales = dev_copy(s, (size_t)ns * 4),
                        .d_bias = dev_copy(bias, (size_t)out * 4)};
    check_linear_all_T(per_channel ? "w8a8 per-channel (172, 200)" : "w8a8 per-tensor (172, 200)", &l, W, bias);
    arena_reset();
    free(q), free(s), free(W), free(bias);
}

static void test_w8a8_layout(void)
{
    w8a8_case(1);
    w8a8_case(0);
}

static void test_dense_layout(void)
{
    const int64_t out = 172, in = 200;
    float *W = random_floats(out * in, -0.1f, 0.1f), *bias = random_floats(out, -0.1f, 0.1f);
    qz_cuda_linear l = {.layout = QZ_CUDA_DENSE, .out = out, .in = in, .bits = 32,
                        .d_w = dev_copy(W, (size_t)(out * in) * 4), .d_bias = dev_copy(bias, (size_t)out * 4)};
    check_linear_all_T("dense (172, 200)", &l, W, bias);
    arena_reset();
    free(W), free(bias);
}

/* A 2:4 matrix, its kept values and its bitmask built from the definition
 * (input k of a row at bit k % 8 of byte k / 8), decompressed on the GPU. */
static void test_sparse24_decompress(void)
{
    const int64_t out = 172, in = 200, nb = (in + 7) / 8;
    float *W = qz_calloc_array((size_t)(out * in), sizeof(float)), *vals = qz_malloc_array((size_t)(out * in / 2), 4);
    uint8_t *bm = qz_calloc_array((size_t)(out * nb), 1);
    QZ_ASSERT(W && vals && bm);
    float *v = vals;
    for (int64_t r = 0; r < out; r++)
        for (int64_t g = 0; g < in / 4; g++) {
            int a = (int)qz_rng_below(&g_rng, 4), b = (a + 1 + (int)qz_rng_below(&g_rng, 3)) % 4;
            for (int j = 0; j < 4; j++) {
                if (j != a && j != b) continue;
                const int64_t k = 4 * g + j;
                W[r * in + k] = uniform(-1, 1);
                *v++ = W[r * in + k];
                bm[r * nb + k / 8] |= (uint8_t)(1u << (k % 8));
            }
        }
    float *d_w = dev((size_t)(out * in) * 4), *got = qz_malloc_array((size_t)(out * in), 4);
    qz_error err = {0};
    int rc = qz_cuda_sparse24_decompress(g_gpu, d_w, dev_copy(vals, (size_t)(out * in / 2) * 4), dev_copy(bm, (size_t)(out * nb)),
                                         out, in, &err);
    CHECK(rc == QZ_OK, "%s", err.msg);
    if (rc == QZ_OK) download(got, d_w, (size_t)(out * in) * 4);
    for (int64_t i = 0; rc == QZ_OK && i < out * in; i++)
        CHECK(got[i] == W[i], "w[%lld, %lld] = %g, want %g", (long long)(i / in), (long long)(i % in), got[i], W[i]);
    arena_reset();
    free(W), free(vals), free(bm), free(got);
}

/* ---------------------------------------------------------- decoder ops */

static void test_embed_rmsnorm(void)
{
    const int64_t V = 50, d = 72, T = 9;
    float *table = random_floats(V * d, -1, 1), *w = random_floats(d, 0.5f, 1.5f);
    int32_t tok[9];
    for (int t = 0; t < T; t++) tok[t] = (int32_t)qz_rng_below(&g_rng, (uint64_t)V);
    float *d_x = dev((size_t)(T * d) * 4), *d_y = dev((size_t)(T * d) * 4);
    float x[9 * 72], y[9 * 72], want[9 * 72];
    qz_error err = {0};
    int rc = qz_cuda_embed(g_gpu, d_x, dev_copy(table, (size_t)(V * d) * 4), dev_copy(tok, sizeof tok), T, d, &err);
    if (!rc) rc = qz_cuda_rmsnorm(g_gpu, d_y, d_x, dev_copy(w, (size_t)d * 4), T, d, 1e-5, &err);
    CHECK(rc == QZ_OK, "%s", err.msg);
    download(x, d_x, sizeof x);
    download(y, d_y, sizeof y);
    for (int64_t i = 0; i < T * d; i++) CHECK(x[i] == table[tok[i / d] * d + i % d], "embed x[%lld]", (long long)i);
    qz_rmsnorm(want, x, w, T, d, 1e-5);
    for (int64_t i = 0; i < T * d; i++) CHECK_CLOSE(y[i], want[i], 1e-7, 1e-6);
    arena_reset();
    free(table), free(w);
}

/* A synthetic model config for the block twins: 8 query heads sharing 4
 * KV heads of 8 (GQA 2:1), hidden 64, intermediate 172. */
static void block_model(qz_model *m, int64_t T, int64_t window)
{
    memset(m, 0, sizeof *m);
    m->cfg = (qz_model_config){.hidden = 64, .intermediate = 172, .n_layers = 1, .n_heads = 8, .n_kv_heads = 4,
                               .head_dim = 8, .vocab = 32, .max_position = 4096, .sliding_window = window,
                               .rms_eps = 1e-5, .rope_theta = 10000.0};
    qz_error err = {0};
    QZ_ASSERT(qz_model_reserve(m, T, &err) == QZ_OK);
}

static void random_linear(qz_linear *l, int64_t out, int64_t in)
{
    *l = (qz_linear){random_floats(out * in, -0.3f, 0.3f), NULL, out, in};
}

static qz_cuda_linear dense_on_gpu(const qz_linear *l)
{
    return (qz_cuda_linear){.layout = QZ_CUDA_DENSE, .out = l->out, .in = l->in, .bits = 32,
                            .d_w = dev_copy(l->w, (size_t)(l->out * l->in) * 4)};
}

/* RoPE + causal GQA attention (+ the q/k/v/o linears) against
 * qz_attention_block, with and without a sliding window. */
static void attention_case(int64_t T, int64_t window)
{
    qz_model m;
    block_model(&m, T, window);
    const qz_model_config *c = &m.cfg;
    const int64_t d = c->hidden, qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim;
    qz_layer L;
    memset(&L, 0, sizeof L);
    random_linear(&L.lin[QZ_LIN_Q], qd, d);
    random_linear(&L.lin[QZ_LIN_K], kvd, d);
    random_linear(&L.lin[QZ_LIN_V], kvd, d);
    random_linear(&L.lin[QZ_LIN_O], d, qd);
    float *xn = random_floats(T * d, -1, 1), *want = qz_malloc_array((size_t)(T * d), 4), *got = qz_malloc_array((size_t)(T * d), 4);
    qz_scratch *s = NULL;
    qz_error err = {0};
    QZ_ASSERT(want && got && qz_scratch_new(&s, c, T, &err) == QZ_OK);
    qz_attention_block(&m, &L, xn, 1, T, s, want, NULL);
    const qz_cuda_linear lq = dense_on_gpu(&L.lin[QZ_LIN_Q]), lk = dense_on_gpu(&L.lin[QZ_LIN_K]),
                         lv = dense_on_gpu(&L.lin[QZ_LIN_V]), lo = dense_on_gpu(&L.lin[QZ_LIN_O]);
    float *d_x = dev_copy(xn, (size_t)(T * d) * 4), *d_q = dev((size_t)(T * qd) * 4), *d_k = dev((size_t)(T * kvd) * 4);
    float *d_v = dev((size_t)(T * kvd) * 4), *d_a = dev((size_t)(T * qd) * 4), *d_o = dev((size_t)(T * d) * 4);
    float *d_cos = dev_copy(m.rope_cos, (size_t)(T * c->head_dim / 2) * 4), *d_sin = dev_copy(m.rope_sin, (size_t)(T * c->head_dim / 2) * 4);
    int rc = qz_cuda_linear_apply(g_gpu, &lq, d_q, d_x, T, NULL, 0, &err);
    if (!rc) rc = qz_cuda_linear_apply(g_gpu, &lk, d_k, d_x, T, NULL, 0, &err);
    if (!rc) rc = qz_cuda_linear_apply(g_gpu, &lv, d_v, d_x, T, NULL, 0, &err);
    if (!rc) rc = qz_cuda_rope(g_gpu, d_q, d_cos, d_sin, T, c->n_heads, c->head_dim, &err);
    if (!rc) rc = qz_cuda_rope(g_gpu, d_k, d_cos, d_sin, T, c->n_kv_heads, c->head_dim, &err);
    if (!rc) rc = qz_cuda_attention(g_gpu, d_a, d_q, d_k, d_v, T, c->n_heads, c->n_kv_heads, c->head_dim, window, &err);
    if (!rc) rc = qz_cuda_linear_apply(g_gpu, &lo, d_o, d_a, T, NULL, 0, &err);
    CHECK(rc == QZ_OK, "%s", err.msg);
    if (!rc) download(got, d_o, (size_t)(T * d) * 4);
    for (int64_t i = 0; !rc && i < T * d; i++) CHECK_CLOSE(got[i], want[i], 1e-5, 1e-4);
    arena_reset();
    qz_scratch_free(s);
    for (int id = 0; id < QZ_LIN_COUNT; id++) free(L.lin[id].w);
    free(xn), free(want), free(got), free(m.rope_cos), free(m.rope_sin);
}

static void test_attention_block(void)
{
    attention_case(1, 0);
    attention_case(37, 0);
    attention_case(37, 5);
    attention_case(300, 0);
}

static void test_mlp_block(void)
{
    const int64_t T = 19;
    qz_model m;
    block_model(&m, T, 0);
    const int64_t d = m.cfg.hidden, ff = m.cfg.intermediate;
    qz_layer L;
    memset(&L, 0, sizeof L);
    random_linear(&L.lin[QZ_LIN_GATE], ff, d);
    random_linear(&L.lin[QZ_LIN_UP], ff, d);
    random_linear(&L.lin[QZ_LIN_DOWN], d, ff);
    float *xn = random_floats(T * d, -1, 1), *want = qz_malloc_array((size_t)(T * d), 4), *got = qz_malloc_array((size_t)(T * d), 4);
    qz_scratch *s = NULL;
    qz_error err = {0};
    QZ_ASSERT(want && got && qz_scratch_new(&s, &m.cfg, T, &err) == QZ_OK);
    qz_mlp_block(&m, &L, xn, 1, T, s, want, NULL);
    const qz_cuda_linear lg = dense_on_gpu(&L.lin[QZ_LIN_GATE]), lu = dense_on_gpu(&L.lin[QZ_LIN_UP]),
                         ld = dense_on_gpu(&L.lin[QZ_LIN_DOWN]);
    float *d_x = dev_copy(xn, (size_t)(T * d) * 4), *d_g = dev((size_t)(T * ff) * 4), *d_u = dev((size_t)(T * ff) * 4);
    float *d_o = dev((size_t)(T * d) * 4);
    int rc = qz_cuda_linear_apply(g_gpu, &lg, d_g, d_x, T, NULL, 0, &err);
    if (!rc) rc = qz_cuda_linear_apply(g_gpu, &lu, d_u, d_x, T, NULL, 0, &err);
    if (!rc) rc = qz_cuda_swiglu(g_gpu, d_g, d_u, T * ff, &err);
    if (!rc) rc = qz_cuda_linear_apply(g_gpu, &ld, d_o, d_g, T, NULL, 0, &err);
    CHECK(rc == QZ_OK, "%s", err.msg);
    if (!rc) download(got, d_o, (size_t)(T * d) * 4);
    for (int64_t i = 0; !rc && i < T * d; i++) CHECK_CLOSE(got[i], want[i], 1e-5, 1e-4);
    arena_reset();
    qz_scratch_free(s);
    for (int id = 0; id < QZ_LIN_COUNT; id++) free(L.lin[id].w);
    free(xn), free(want), free(got), free(m.rope_cos), free(m.rope_sin);
}

static void test_add(void)
{
    const int64_t n = 1000;
    float *x = random_floats(n, -1, 1), *y = random_floats(n, -1, 1), *got = qz_malloc_array((size_t)n, 4);
    float *d_x = dev_copy(x, (size_t)n * 4);
    qz_error err = {0};
    CHECK(qz_cuda_add(g_gpu, d_x, dev_copy(y, (size_t)n * 4), n, &err) == QZ_OK, "%s", err.msg);
    download(got, d_x, (size_t)n * 4);
    for (int64_t i = 0; i < n; i++) CHECK(got[i] == x[i] + y[i], "x[%lld] = %g, want %g", (long long)i, got[i], x[i] + y[i]);
    arena_reset();
    free(x), free(y), free(got);
}

static void test_nll(void)
{
    const int64_t n = 13, V = 517;
    float *logits = random_floats(n * V, -5, 5), got[13];
    int32_t target[13];
    for (int i = 0; i < n; i++) target[i] = (int32_t)qz_rng_below(&g_rng, (uint64_t)V);
    float *d_nll = dev((size_t)n * 4);
    double sum = 0, want_sum = 0;
    qz_error err = {0};
    int rc = qz_cuda_nll(g_gpu, &sum, d_nll, dev_copy(logits, (size_t)(n * V) * 4), dev_copy(target, sizeof target), n, V,
                         dev((size_t)(n + 1) * 8), &err);
    CHECK(rc == QZ_OK, "%s", err.msg);
    download(got, d_nll, sizeof got);
    for (int64_t t = 0; t < n; t++) {
        const float *row = logits + t * V;
        double mx = row[0], s = 0;
        for (int64_t v = 1; v < V; v++) mx = row[v] > mx ? row[v] : mx;
        for (int64_t v = 0; v < V; v++) s += exp((double)row[v] - mx);
        const double want = log(s) + mx - row[target[t]];
        want_sum += want;
        CHECK_CLOSE(got[t], want, 1e-6, 1e-6);
    }
    CHECK_CLOSE(sum, want_sum, 1e-9, TOL_NLL);
    arena_reset();
    free(logits);
}

/* Host-side rules hold in every build (no device needed). */
static void test_linear_check(void)
{
    qz_error err = {0};
    int32_t dummy = 0;
    float one = 1;
    qz_cuda_linear awq = {.layout = QZ_CUDA_AWQ, .out = 172, .in = 224, .bits = 4, .group_size = 32, .n_groups = 7,
                          .d_w = &dummy, .d_qzeros = &dummy, .d_scales = &one};
    CHECK(qz_cuda_linear_check(&awq, &err) == QZ_EINPUT, "AWQ out 172 accepted");
    awq.out = 176;
    CHECK(qz_cuda_linear_check(&awq, &err) == QZ_OK, "%s", err.msg);
    awq.n_groups = 6;
    CHECK(qz_cuda_linear_check(&awq, &err) == QZ_EINPUT, "AWQ 6 groups of 32 over 224 accepted");
    qz_cuda_linear gptq = {.layout = QZ_CUDA_GPTQ, .out = 176, .in = 200, .bits = 3, .group_size = 64, .n_groups = 4,
                           .d_w = &dummy, .d_qzeros = &dummy, .d_scales = &one};
    CHECK(qz_cuda_linear_check(&gptq, &err) == QZ_EINPUT, "3-bit in 200 accepted");
    qz_cuda_linear w8 = {.layout = QZ_CUDA_W8A8, .out = 4, .in = 4, .bits = 8, .per_channel = 1, .d_w = &dummy, .d_scales = &one};
    CHECK(qz_cuda_linear_workspace(&w8, 3) == 16 + 12, "w8a8 workspace %zu", qz_cuda_linear_workspace(&w8, 3));
}

int main(void)
{
    qz_rng_seed(&g_rng, 18);
    QZ_RUN(test_linear_check);
    qz_error err = {0};
    int n = 0;
    if (qz_cuda_device_count(&n, &err) || qz_cuda_open(&g_gpu, 0, &err)) {
        printf("SKIP test_cuda_kernels: %s\n", err.msg);
        QZ_TEST_EXIT();
    }
    QZ_RUN(test_gptq_layouts);
    QZ_RUN(test_awq_layout);
    QZ_RUN(test_w8a8_layout);
    QZ_RUN(test_dense_layout);
    QZ_RUN(test_sparse24_decompress);
    QZ_RUN(test_embed_rmsnorm);
    QZ_RUN(test_attention_block);
    QZ_RUN(test_mlp_block);
    QZ_RUN(test_add);
    QZ_RUN(test_nll);
    qz_cuda_close(g_gpu);
    QZ_TEST_EXIT();
}
