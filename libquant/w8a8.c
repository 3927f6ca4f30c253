/* w8a8.c - symmetric integer fake quantization (see w8a8.h). */
#include "w8a8.h"

#include <math.h>

const char *qz_granularity_name(qz_granularity g)
{
    static const char *names[QZ_GRAN_COUNT] = {"none", "token", "tensor", "channel"};
    return (unsigned)g < QZ_GRAN_COUNT ? names[g] : "?";
}

static float amax_of(const float *x, int64_t n)
{
    float m = 0;
    for (int64_t i = 0; i < n; i++) m = fabsf(x[i]) > m ? fabsf(x[i]) : m;
    return m;
}

static void quant_run(float *x, int64_t n, float scale, float qmax, int8_t *codes)
{
    for (int64_t i = 0; i < n; i++) {
        float q = nearbyintf(x[i] / scale);
        q = q > qmax ? qmax : q < -qmax ? -qmax : q;
        x[i] = q * scale;
        if (codes) codes[i] = (int8_t)q;
    }
}

void qz_fake_quant_sym(float *x, int64_t rows, int64_t cols, int bits, qz_granularity gran, float *scales, int8_t *codes)
{
    if (gran == QZ_GRAN_NONE) return;
    QZ_ASSERT(bits >= 2 && bits <= 16 && (!codes || bits <= 8));
    float qmax = (float)((1 << (bits - 1)) - 1);
    if (gran == QZ_GRAN_TENSOR) {
        float s = fmaxf(amax_of(x, rows * cols), 1e-5f) / qmax;
        quant_run(x, rows * cols, s, qmax, codes);
        if (scales) scales[0] = s;
        return;
    }
    for (int64_t r = 0; r < rows; r++) {
        float s = fmaxf(amax_of(x + r * cols, cols), 1e-5f) / qmax;
        quant_run(x + r * cols, cols, s, qmax, codes ? codes + r * cols : NULL);
        if (scales) scales[r] = s;
    }
}
