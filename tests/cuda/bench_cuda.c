/* bench_cuda.c - GPU benchmark of qz's packed matmul on LLaMA-7B layer
 * shapes (scripts/gpu-check.sh; built by `make cuda-test` in a CUDA build):
 *   - GPTQ 4-bit g128 GEMV (1 token): bytes the kernel must read (packed
 *     weights, zeros, scales, g_idx, activations) per second, as a fraction
 *     of the nominal H200 bandwidth (4.8 TB/s) and of the device's peak from
 *     its memory clock;
 *   - the same at 16 and 256 tokens against cuBLAS FP16 (cublasGemmEx, FP32
 *     accumulation) on the same shape.
 * Prints one JSON object on stdout. Weights are random codes: speed does
 * not depend on their values.
 */
#include <stdint.h>
#include <string.h>

#include "qz_cuda.h"
#include "qz_cuda_bench.h"
#include "rng.h"

#define NOMINAL_BW 4.8e12 /* H200 HBM3e, bytes/s */
#define GS 128

typedef struct shape {
    const char *name;
    int64_t out, in;
} shape;

static const shape g_shapes[] = {{"qkvo", 4096, 4096}, {"gate_up", 11008, 4096}, {"down", 4096, 11008}};
#define N_SHAPES 3

/* A GPTQ 4-bit g128 linear with random words on the device. */
typedef struct bench_linear {
    qz_cuda_linear l;
    void *bufs[4];
    size_t bytes; /* what one pass must read of the weights */
} bench_linear;

static int upload_random(qz_cuda *g, void **d, size_t bytes, qz_rng *r, qz_error *err)
{
    uint32_t *h = qz_malloc_array(bytes / 4 + 1, 4);
    if (!h) return qz_fail(err, QZ_EINTERNAL, "out of memory");
    for (size_t i = 0; i < bytes / 4 + 1; i++) h[i] = (uint32_t)qz_rng_next(r);
    int rc = qz_cuda_alloc(g, d, bytes, err);
    if (!rc) rc = qz_cuda_upload(g, *d, h, bytes, err);
    free(h);
    return rc;
}

static int make_linear(qz_cuda *g, const shape *s, qz_rng *r, bench_linear *b, qz_error *err)
{
    memset(b, 0, sizeof *b);
    const int64_t ng = s->in / GS;
    const size_t qw = (size_t)(s->in / 8 * s->out) * 4, qz = (size_t)(ng * s->out / 8) * 4, sc = (size_t)(ng * s->out) * 4;
    float *scales = qz_malloc_array((size_t)(ng * s->out), 4);
    int32_t *g_idx = qz_malloc_array((size_t)s->in, 4);
    int rc = scales && g_idx ? QZ_OK : qz_fail(err, QZ_EINTERNAL, "out of memory");
    for (int64_t i = 0; !rc && i < ng * s->out; i++) scales[i] = 0.01f;
    for (int64_t k = 0; !rc && k < s->in; k++) g_idx[k] = (int32_t)(k / GS);
    if (!rc) rc = upload_random(g, &b->bufs[0], qw, r, err);
    if (!rc) rc = upload_random(g, &b->bufs[1], qz, r, err);
    if (!rc) rc = qz_cuda_alloc(g, &b->bufs[2], sc, err);
    if (!rc) rc = qz_cuda_upload(g, b->bufs[2], scales, sc, err);
    if (!rc) rc = qz_cuda_alloc(g, &b->bufs[3], (size_t)s->in * 4, err);
    if (!rc) rc = qz_cuda_upload(g, b->bufs[3], g_idx, (size_t)s->in * 4, err);
    free(scales);
    free(g_idx);
    b->l = (qz_cuda_linear){.layout = QZ_CUDA_GPTQ, .out = s->out, .in = s->in, .bits = 4, .group_size = GS,
                            .n_groups = ng, .zero_plus_one = 1, .d_w = b->bufs[0], .d_qzeros = b->bufs[1],
                            .d_scales = b->bufs[2], .d_g_idx = b->bufs[3]};
    b->bytes = qw + qz + sc + (size_t)s->in * 4;
    return rc;
}

static void free_linear(qz_cuda *g, bench_linear *b)
{
    for (int i = 0; i < 4; i++) qz_cuda_free(g, b->bufs[i]);
}

/* Mean seconds of one qz_cuda_linear_apply at T tokens. */
static int time_linear(qz_cuda *g, const qz_cuda_linear *l, int64_t T, int iters, double *sec, qz_error *err)
{
    void *x = NULL, *y = NULL;
    int rc = qz_cuda_alloc(g, &x, (size_t)(T * l->in) * 4, err);
    if (!rc) rc = qz_cuda_alloc(g, &y, (size_t)(T * l->out) * 4, err);
    double t0 = 0;
    for (int i = -3; i < iters && !rc; i++) {
        if (i == 0 && !(rc = qz_cuda_sync(g, err))) t0 = qz_now();
        if (!rc) rc = qz_cuda_linear_apply(g, l, y, x, T, NULL, 0, err);
    }
    if (!rc) rc = qz_cuda_sync(g, err);
    *sec = (qz_now() - t0) / iters;
    qz_cuda_free(g, x);
    qz_cuda_free(g, y);
    return rc;
}

static int bench_shape(qz_cuda *g, int device, const shape *s, double peak, qz_rng *r, int first, qz_error *err)
{
    bench_linear b;
    int rc = make_linear(g, s, r, &b, err);
    double gemv = 0, t16 = 0, t256 = 0, c16 = 0, c256 = 0;
    if (!rc) rc = time_linear(g, &b.l, 1, 50, &gemv, err);
    if (!rc) rc = time_linear(g, &b.l, 16, 20, &t16, err);
    if (!rc) rc = time_linear(g, &b.l, 256, 10, &t256, err);
    if (!rc) rc = qz_cuda_bench_cublas_fp16(device, 16, s->out, s->in, 20, &c16, err);
    if (!rc) rc = qz_cuda_bench_cublas_fp16(device, 256, s->out, s->in, 10, &c256, err);
    free_linear(g, &b);
    if (rc) return rc;
    const double bytes = (double)b.bytes + (double)(s->in + s->out) * 4, bw = bytes / gemv;
    printf("%s{\"name\":\"%s\",\"out\":%lld,\"in\":%lld,\"gemv_us\":%.2f,\"gemv_bytes\":%.0f,\"gemv_gbs\":%.1f,"
           "\"gemv_fraction_nominal\":%.4f,\"gemv_fraction_peak\":%.4f,\"gemm16_us\":%.2f,\"cublas_fp16_16_us\":%.2f,"
           "\"speedup_16\":%.3f,\"gemm256_us\":%.2f,\"cublas_fp16_256_us\":%.2f,\"speedup_256\":%.3f}",
           first ? "" : ",", s->name, (long long)s->out, (long long)s->in, gemv * 1e6, bytes, bw / 1e9, bw / NOMINAL_BW,
           peak > 0 ? bw / peak : 0.0, t16 * 1e6, c16 * 1e6, c16 / t16, t256 * 1e6, c256 * 1e6, c256 / t256);
    return QZ_OK;
}

int main(void)
{
    qz_error err = {0};
    qz_cuda *g = NULL;
    qz_cuda_device_info info;
    qz_rng r;
    qz_rng_seed(&r, 7);
    if (qz_cuda_device_get_info(0, &info, &err) || qz_cuda_open(&g, 0, &err)) {
        fprintf(stderr, "bench_cuda: error: %s\n", err.msg);
        return 2;
    }
    printf("{\"device\":\"%s\",\"peak_bandwidth_gbs\":%.1f,\"nominal_bandwidth_gbs\":%.1f,\"layout\":\"gptq 4-bit g128 v1\","
           "\"shapes\":[", info.name, info.peak_bandwidth / 1e9, NOMINAL_BW / 1e9);
    int rc = QZ_OK;
    for (int i = 0; i < N_SHAPES && !rc; i++) rc = bench_shape(g, 0, &g_shapes[i], info.peak_bandwidth, &r, i == 0, &err);
    printf("]}\n");
    qz_cuda_close(g);
    if (rc) fprintf(stderr, "bench_cuda: error: %s\n", err.msg);
    return rc ? qz_status_exit_code(rc) : 0;
}
