/* w8a8.h - integer fake quantization of weights and activations as
 * SmoothQuant's fake_quant.py does it (FORMATS-AND-ALGORITHMS.md section 4):
 * symmetric, scale = max|x| / (2^(b-1) - 1) (127 for 8 bits), values
 * round(x / scale) * scale, half to even, scale clamped at 1e-5.
 *
 *   weights:     per output channel (row), or per tensor
 *   activations: dynamic, per token (row of x), or per tensor
 *
 * 127 rather than compressed-tensors' 127.5: the codes then stay in
 * [-127, 127], so an int8 artifact written with these scales reproduces the
 * simulation exactly, and it is the scale vLLM's dynamic per-token int8 path
 * computes for activations.
 */
#ifndef QZ_W8A8_H
#define QZ_W8A8_H

#include "qz_common.h"

typedef enum qz_granularity {
    QZ_GRAN_NONE = 0,    /* no quantization */
    QZ_GRAN_TOKEN = 1,   /* activations: one scale per token */
    QZ_GRAN_TENSOR = 2,  /* one scale for the whole matrix */
    QZ_GRAN_CHANNEL = 3, /* weights: one scale per output channel */
    QZ_GRAN_COUNT
} qz_granularity;

const char *qz_granularity_name(qz_granularity g); /* "none", "token", "tensor", "channel" */

/* x (rows, cols) in place; gran TOKEN/CHANNEL = per row, TENSOR = one scale.
 * scales (rows, or 1) receives the scales when not NULL; codes (rows*cols)
 * the int8 values when not NULL (bits <= 8). */
void qz_fake_quant_sym(float *x, int64_t rows, int64_t cols, int bits, qz_granularity gran, float *scales, int8_t *codes);

#endif
