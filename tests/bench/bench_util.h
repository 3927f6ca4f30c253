/* bench_util.h - what every benchmark measures the same way. */
#ifndef QZ_BENCH_UTIL_H
#define QZ_BENCH_UTIL_H

#include "qz_common.h"
#include "rng.h"

#include <cblas.h>
#include <sys/resource.h>

/* The baseline: best of five n x n x n sgemm runs on this machine, FLOP/s. */
static inline double bench_sgemm_peak(int n)
{
    float *a = qz_malloc_array((size_t)n * n, 4), *b = qz_malloc_array((size_t)n * n, 4), *c = qz_malloc_array((size_t)n * n, 4);
    QZ_ASSERT(a && b && c);
    for (int64_t i = 0; i < (int64_t)n * n; i++) a[i] = b[i] = (float)(i % 7) * 0.1f;
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
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
