/* ggml_test_inputs.h - the random inputs and the proxy loss that the GGUF
 * grid tests (test_ggml_grid.c, test_ggml_imatrix.c) share. */
#ifndef QZ_GGML_TEST_INPUTS_H
#define QZ_GGML_TEST_INPUTS_H

#include "gptq.h"
#include "rng.h"

#include <stdlib.h>
#include <string.h>

static inline void gaussian(float *x, int64_t n, uint64_t seed)
{
    qz_rng r;
    qz_rng_seed(&r, seed);
    for (int64_t i = 0; i < n; i++) x[i] = (float)qz_rng_normal(&r);
}

/* Proxy loss tr((W - Q) H (W - Q)^T) in fp64. */
static inline double h_loss(const float *W, const float *Q, const float *H, int64_t rows, int64_t cols)
{
    double s = 0;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t i = 0; i < cols; i++)
            for (int64_t j = 0; j < cols; j++)
                s += (double)(W[r * cols + i] - Q[r * cols + i]) * H[i * cols + j] * (W[r * cols + j] - Q[r * cols + j]);
    return s;
}

/* H of 600 inputs with correlated columns, so error feedback has something
 * to use; column j scaled by scale[j] unless scale is NULL. */
static inline void make_hessian(float *H, int64_t cols, uint64_t seed, const float *scale)
{
    enum { T = 600 };
    float *X = malloc((size_t)(T * cols) * sizeof *X);
    gaussian(X, T * cols, seed);
    for (int64_t t = 0; t < T; t++)
        for (int64_t j = 1; j < cols; j++) X[t * cols + j] = 0.6f * X[t * cols + j - 1] + 0.8f * X[t * cols + j];
    for (int64_t t = 0; scale && t < T; t++)
        for (int64_t j = 0; j < cols; j++) X[t * cols + j] *= scale[j];
    memset(H, 0, (size_t)(cols * cols) * sizeof *H);
    int64_t seen = 0;
    qz_error err;
    qz_hessian_add(H, &seen, X, T, cols, 1, &err);
    qz_hessian_symmetrize(H, cols);
    free(X);
}

#endif
