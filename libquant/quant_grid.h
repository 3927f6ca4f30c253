/* quant_grid.h - the GPTQ quantizer grid (IST-DASLab/gptq quant.py, Quantizer
 * with perchannel=True) and the round-to-nearest (RTN) baseline.
 *
 * A row r of a weight matrix W (rows, cols) is quantized on the grid
 *     q = s * (clamp(round(x / s) + z, 0, maxq) - z),   maxq = 2^bits - 1,
 * with round = round-half-to-even (torch.round) and one (s, z) per row and per
 * column range ("group"). All arithmetic is fp32, in the order torch does it,
 * so codes match the reference bit for bit (see FORMATS-AND-ALGORITHMS.md 1c).
 *
 * find_params over the columns [c0, c1) of each row:
 *   xmin = min(rowmin, 0), xmax = max(rowmax, 0)        (0 is always on the grid)
 *   sym : xmax = max(|xmin|, xmax); xmin = -xmax only where xmin < 0
 *         (QUIRK kept: an all-positive row keeps xmin = 0, so s = xmax/maxq
 *          while z is still (maxq+1)/2 and values above (maxq-z)*s clip)
 *   xmin == xmax == 0 (degenerate row) -> [-1, +1]
 *   s = (xmax - xmin) / maxq
 *   sym : z = (maxq + 1) / 2   (8 for 4-bit, 4 for 3-bit, 2 for 2-bit, 128 for 8-bit)
 *   asym: z = round(-xmin / s) (no clamp; lands in [0, maxq])
 *   mse : for k in 0..79, p = 1 - k/100, try [p*xmin, p*xmax] (sym keeps z) and
 *         keep the first p with the smallest sum |q - x|^2.4 per row.
 *         Deviation: the sum is accumulated in fp64 (torch: fp32 reduction in
 *         an unspecified order); only exact near-ties between two p can differ.
 *
 * Codes are integers in [0, maxq]; z is an integer in [0, maxq] as well, so
 * both fit int32 (and uint8 for codes).
 */
#ifndef QZ_QUANT_GRID_H
#define QZ_QUANT_GRID_H

#include <math.h>
#include <stdint.h>

#include "qz_common.h"

/* Quantizer configuration (quant.py Quantizer.configure, perchannel=True). */
typedef struct qz_grid_cfg {
    int bits; /* 2, 3, 4 or 8 */
    int sym;  /* 1: symmetric, z = (maxq+1)/2; 0: asymmetric, z = round(-xmin/s) */
    int mse;  /* 1: shrink search (grid 100, maxshrink 0.8, norm 2.4) */
} qz_grid_cfg;

/* QZ_OK, or QZ_EINPUT naming the bad field (bits not in {2,3,4,8}). */
int qz_grid_check(const qz_grid_cfg *g, qz_error *err);

static inline int qz_grid_maxq(int bits) { return (1 << bits) - 1; }

/* nearbyintf(x) in the default rounding mode (half to even, torch.round),
 * without the libm call baseline x86-64 makes (no SSE4.1 round): for
 * |x| < 2^22, adding and subtracting 1.5 * 2^23 leaves x rounded to an
 * integer, because every sum lies in [2^23, 2^24) where the fp32 spacing is
 * exactly 1 (IEEE arithmetic: the compiler may not fold it without
 * -ffast-math); copysignf restores the sign of a zero result. Larger |x|
 * (and NaN) take nearbyintf. */
static inline float qz_round_half_even(float x)
{
    if (!(fabsf(x) < 0x1p22f)) return nearbyintf(x);
    return copysignf((x + 0x1.8p23f) - 0x1.8p23f, x);
}

/* Integer code of x as a float: clamp(round_half_even(x/s) + z, 0, maxq).
 * x/s is one fp32 division and z an integer-valued float, as in torch. */
static inline float qz_grid_codef(float x, float scale, float zero, float maxq)
{
    float c = qz_round_half_even(x / scale) + zero;
    if (c < 0.0f) c = 0.0f;
    if (c > maxq) c = maxq;
    return c;
}

/* Dequantized value of an integer code: s * (code - z), fp32. */
static inline float qz_grid_dequant(float code, float scale, float zero)
{
    return scale * (code - zero);
}

/* quantize(x) = s * (clamp(round(x/s) + z, 0, maxq) - z). */
static inline float qz_grid_quantize(float x, float scale, float zero, float maxq)
{
    return qz_grid_dequant(qz_grid_codef(x, scale, zero, maxq), scale, zero);
}

/* An affine grid with an offset (e.g. llama.cpp's blocks, ggml_grid.h):
 * value(c) = s * (c - z) + b. The code of x is clamp(round_half_even((x -
 * b) / s) + z, 0, maxq); s == 0 (an all-zero block) gives c = z. */
static inline float qz_grid_codef_affine(float x, float scale, float zero, float offset, float maxq)
{
    if (scale == 0.0f) return zero;
    float c = nearbyintf((x - offset) / scale) + zero;
    return c < 0.0f ? 0.0f : c > maxq ? maxq : c;
}

static inline float qz_grid_dequant_affine(float code, float scale, float zero, float offset)
{
    return scale * (code - zero) + offset;
}

/* Group parameters fixed before any rounding (GPTQ then rounds to them
 * with error feedback, like static groups): groups of group_size columns
 * in the original column order, codes in [0, maxq], grid as above. */
typedef struct qz_fixed_grid {
    int64_t group_size;
    int maxq;          /* <= 255 */
    float *scales;     /* (rows, n_groups) */
    int32_t *zeros;    /* (rows, n_groups) */
    float *offsets;    /* (rows, n_groups) */
    int64_t rows, n_groups;
} qz_fixed_grid;

/* Per-row parameters over the columns [c0, c1) of W (rows, ld) row-major.
 * Writes scale[r] > 0 and zero[r] in [0, maxq] for every row. The caller
 * guarantees finite W, 0 <= c0 < c1 <= ld and a checked cfg. */
void qz_grid_find_params(const qz_grid_cfg *g, const float *W, int64_t ld, int64_t rows,
                         int64_t c0, int64_t c1, float *scale /* (rows) */,
                         int32_t *zero /* (rows) */);

/* ---------------------------------------------------------------------------
 * Quantized matrix, as produced by RTN here and by GPTQ (gptq.h).
 * All arrays are malloc'ed by the producer and released by
 * qz_quant_result_free(); the struct itself belongs to the caller.
 * Group k covers the columns j with g_idx[j] == k; scales/zeros row k holds
 * that group's per-output-row parameters. The dequantized weight is
 *     W[r, j] = scales[g_idx[j]*rows + r] * (codes[r*cols + j] - zeros[g_idx[j]*rows + r]).
 */
typedef struct qz_quant_result {
    uint8_t *codes;   /* (rows, cols) integer codes in [0, maxq], original column order */
    float *scales;    /* (n_groups, rows) */
    int32_t *zeros;   /* (n_groups, rows) integers in [0, maxq] */
    int32_t *g_idx;   /* (cols) group of each original column */
    int64_t rows, cols, n_groups;
    double loss;      /* GPTQ: sum of the reference's Losses; RTN: sum (w-q)^2 */
    double damp_used; /* GPTQ: relative damping actually used (opts.damp * 10^retries) */
    float *offsets;   /* (n_groups, rows) or NULL (= 0): a fixed affine grid's offsets, value adds them */
    int ggml_type;    /* GGUF output (ggml_grid.h): the ggml type of blocks; 0 otherwise */
    void *blocks;     /* (rows) rows of ggml blocks with their parameters set, quants still zero */
} qz_quant_result;

/* Allocates r's arrays for a (rows, cols) matrix in groups of group_size
 * columns (-1 or > cols: one group) and sets g_idx[j] = j / group_size.
 * QZ_EINTERNAL (r zeroed) when memory runs out. */
int qz_quant_result_alloc(qz_quant_result *r, int64_t rows, int64_t cols, int64_t group_size, qz_error *err);

/* Frees the arrays and zeroes *r; r == NULL is a no-op. */
void qz_quant_result_free(qz_quant_result *r);

/* Round-to-nearest baseline (the reference's --nearest, generalised to
 * groups): W (rows, cols) is replaced in place by its quantized values, on
 * the grid above, with params from find_params over each run of group_size
 * columns (group_size = -1: one group of all columns, i.e. per channel).
 * g_idx[j] = j / group_size. On failure res is left zeroed.
 * Errors: QZ_EINPUT (bad cfg/shape, non-finite W), QZ_EINTERNAL (memory). */
int qz_rtn_quantize(float *W /* (rows, cols) */, int64_t rows, int64_t cols,
                    const qz_grid_cfg *g, int64_t group_size, qz_quant_result *res,
                    qz_error *err);

#endif
