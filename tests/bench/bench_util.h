/* bench_util.h - what every benchmark measures the same way. */
#ifndef QZ_BENCH_UTIL_H
#define QZ_BENCH_UTIL_H

#include "blas_core.h"
#include "qz_common.h"
#include "rng.h"

#include <cblas.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* The best of n x n x n sgemm runs with the running core, FLOP/s: at
 * least five runs and two seconds of them, so that a moment when another
 * process holds a core does not become the baseline. */
static inline double bench_sgemm_flops(int n)
{
    float *a = qz_malloc_array((size_t)n * n, 4), *b = qz_malloc_array((size_t)n * n, 4), *c = qz_malloc_array((size_t)n * n, 4);
    QZ_ASSERT(a && b && c);
    for (int64_t i = 0; i < (int64_t)n * n; i++) a[i] = b[i] = c[i] = (float)(i % 7) * 0.1f;
    double best = 0, start = qz_now();
    for (int rep = 0; rep < 5 || qz_now() - start < 2.0; rep++) {
        double t0 = qz_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double f = 2.0 * n * n * (double)n / (qz_now() - t0);
        best = f > best ? f : best;
    }
    free(a);
    free(b);
    free(c);
    return best;
}

/* The sgemm peak with the core this run uses and with the best core this
 * OpenBLAS has for the CPU (blas_core.h), measured in a child process that
 * loads it; equal when they are the same core. */
typedef struct { int n; char used[64], best[64]; double used_flops, best_flops; } bench_peak_info;
static bench_peak_info bench_peak_seen;

#define BENCH_ENV_SGEMM "QZ_BENCH_SGEMM"

/* First thing in every benchmark's main(): the start-up core selection as
 * the tools have it (so the figures are what a tool run gets), and the
 * child modes: a core probe, or one sgemm peak measurement. */
static inline void bench_start(void)
{
    qz_error err = {0};
    int rc = qz_blas_core_start(&err);
    if (rc == 1) _exit(0);
    if (rc) {
        fprintf(stderr, "bench: %s\n", err.msg);
        exit(2);
    }
    const char *peak = getenv(BENCH_ENV_SGEMM);
    if (peak) {
        printf("%.6e\n", bench_sgemm_flops(atoi(peak)));
        fflush(stdout);
        _exit(0);
    }
}

/* The baseline every efficiency divides by: the best core's sgemm peak. */
static inline double bench_sgemm_peak(int n)
{
    bench_peak_info *p = &bench_peak_seen;
    p->n = n;
    snprintf(p->used, sizeof p->used, "%s", openblas_get_corename());
    p->used_flops = bench_sgemm_flops(n);
    qz_blas_core_best(p->best, sizeof p->best);
    p->best_flops = p->used_flops;
    if (strcmp(p->best, p->used) == 0) return p->best_flops;
    char core[128], size[64], out[64];
    snprintf(core, sizeof core, "OPENBLAS_CORETYPE=%s", p->best);
    snprintf(size, sizeof size, BENCH_ENV_SGEMM "=%d", n);
    const char *env[] = {core, size, "QZ_BLAS_CORETYPE=keep"};
    qz_error err = {0};
    if (qz_blas_run_self(env, 3, out, sizeof out, &err) || sscanf(out, "%lf", &p->best_flops) != 1) {
        fprintf(stderr, "bench: sgemm peak with %s: %s; using %s's\n", p->best, err.msg, p->used);
        memcpy(p->best, p->used, sizeof p->best);
        p->best_flops = p->used_flops;
    }
    return p->best_flops;
}

/* Opens a benchmark's JSON object: its name, the "blas" object and both
 * sgemm peaks (call bench_sgemm_peak first). */
static inline void bench_json_open(const char *name)
{
    const bench_peak_info *p = &bench_peak_seen;
    cJSON *j = qz_blas_core_json();
    char *blas = j ? cJSON_PrintUnformatted(j) : NULL;
    printf("{\n  \"benchmark\": \"%s\",\n  \"blas\": %s,\n  \"sgemm_peak\": {\"n\": %d, \"used_core\": \"%s\", "
           "\"used_gflops\": %.2f, \"best_core\": \"%s\", \"best_gflops\": %.2f, \"used_over_best\": %.3f},\n",
           name, blas ? blas : "null", p->n, p->used, p->used_flops * 1e-9, p->best, p->best_flops * 1e-9,
           p->best_flops > 0 ? p->used_flops / p->best_flops : 0.0);
    free(blas);
    cJSON_Delete(j);
}

static inline double bench_peak_rss_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

/* Uniform [-1, 1) from SplitMix64, two values per draw. */
static inline void bench_fill_uniform(float *x, int64_t n, qz_rng *r, float scale)
{
    for (int64_t i = 0; i + 1 < n; i += 2) {
        uint64_t v = qz_rng_next(r);
        x[i] = scale * ((float)(uint32_t)v * 0x1p-31f - 1.0f);
        x[i + 1] = scale * ((float)(uint32_t)(v >> 32) * 0x1p-31f - 1.0f);
    }
    if (n & 1) x[n - 1] = 0;
}

#endif
