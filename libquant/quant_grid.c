/* quant_grid.c - the GPTQ quantizer's find_params (quant.py, perchannel=True)
 * and the RTN baseline.
 *
 * Follows FORMATS-AND-ALGORITHMS.md 1c: every step is the same fp32 operation
 * torch performs (scalar factors such as the MSE shrink p are rounded to fp32
 * first, as torch does for a Python scalar times a float tensor). Leaves out
 * the reference's ternary ("trits") grid and per-tensor mode.
 */
#include "quant_grid.h"
#include "kernels.h"

#include <string.h>

#define QZ_MSE_GRID 100
#define QZ_MSE_MAXSHRINK_STEPS 80 /* int(maxshrink 0.8 * grid 100) */
#define QZ_MSE_NORM 2.4f

int qz_grid_check(const qz_grid_cfg *g, qz_error *err)
{
    if (!g) return qz_fail(err, QZ_EINPUT, "quantizer config is NULL");
    if (g->bits != 2 && g->bits != 3 && g->bits != 4 && g->bits != 8)
        return qz_fail(err, QZ_EINPUT, "quantizer bits = %d: allowed 2, 3, 4 or 8", g->bits);
    return QZ_OK;
}

/* sum_j |quantize(x_j) - x_j|^2.4 (the reference's MSE criterion). */
static double grid_norm_err(const float *x, int64_t n, float s, float z, float maxq)
{
    double e = 0.0;
    for (int64_t j = 0; j < n; j++)
        e += (double)powf(fabsf(qz_grid_quantize(x[j], s, z, maxq) - x[j]), QZ_MSE_NORM);
    return e;
}

/* Shrink search: keep the first p in 1, .99, ..., .21 with the least error. */
static void grid_mse_search(const float *x, int64_t n, float xmin, float xmax, int sym,
                            float maxq, float *scale, float *zero)
{
    double best = INFINITY;
    for (int k = 0; k < QZ_MSE_MAXSHRINK_STEPS; k++) {
        float p = (float)(1.0 - (double)k / QZ_MSE_GRID);
        float xmin1 = p * xmin, xmax1 = p * xmax;
        float s1 = (xmax1 - xmin1) / maxq;
        float z1 = sym ? *zero : nearbyintf(-xmin1 / s1);
        double e = grid_norm_err(x, n, s1, z1, maxq);
        if (e < best) {
            best = e;
            *scale = s1;
            *zero = z1;
        }
    }
}

static void grid_row_params(const qz_grid_cfg *g, const float *x, int64_t n, float *scale,
                            float *zero)
{
    const float maxq = (float)qz_grid_maxq(g->bits);
    float lo = x[0], hi = x[0];
    for (int64_t j = 1; j < n; j++) {
        if (x[j] < lo) lo = x[j];
        if (x[j] > hi) hi = x[j];
    }
    float xmin = lo < 0.0f ? lo : 0.0f;
    float xmax = hi > 0.0f ? hi : 0.0f;
    if (g->sym) {
        if (fabsf(xmin) > xmax) xmax = fabsf(xmin);
        if (xmin < 0.0f) xmin = -xmax; /* all-positive rows keep xmin = 0 (quirk) */
    }
    if (xmin == 0.0f && xmax == 0.0f) {
        xmin = -1.0f;
        xmax = 1.0f;
    }
    *scale = (xmax - xmin) / maxq;
    *zero = g->sym ? (maxq + 1.0f) / 2.0f : nearbyintf(-xmin / *scale);
    if (g->mse) grid_mse_search(x, n, xmin, xmax, g->sym, maxq, scale, zero);
}

void qz_grid_find_params(const qz_grid_cfg *g, const float *W, int64_t ld, int64_t rows,
                         int64_t c0, int64_t c1, float *scale, int32_t *zero)
{
    QZ_ASSERT(0 <= c0 && c0 < c1 && c1 <= ld);
    const int32_t maxq = qz_grid_maxq(g->bits);
    for (int64_t r = 0; r < rows; r++) {
        float s, z;
        grid_row_params(g, W + r * ld + c0, c1 - c0, &s, &z);
        QZ_ASSERT(z >= 0.0f && z <= (float)maxq);
        scale[r] = s;
        zero[r] = (int32_t)z;
    }
}

/* ------------------------------------------------------------------------- */
/* Result and RTN                                                             */

int qz_quant_result_alloc(qz_quant_result *r, int64_t rows, int64_t cols, int64_t group_size, qz_error *err)
{
    int64_t gs = group_size < 0 || group_size > cols ? cols : group_size, ng = (cols + gs - 1) / gs;
    memset(r, 0, sizeof *r);
    r->codes = qz_malloc_array((size_t)(rows * cols), 1);
    r->scales = qz_malloc_array((size_t)(ng * rows), sizeof(float));
    r->zeros = qz_malloc_array((size_t)(ng * rows), sizeof(int32_t));
    r->g_idx = qz_malloc_array((size_t)cols, sizeof(int32_t));
    if (!r->codes || !r->scales || !r->zeros || !r->g_idx) {
        qz_quant_result_free(r);
        return qz_fail(err, QZ_EINTERNAL, "out of memory for a quantized (%lld, %lld) weight", (long long)rows, (long long)cols);
    }
    r->rows = rows, r->cols = cols, r->n_groups = ng;
    for (int64_t j = 0; j < cols; j++) r->g_idx[j] = (int32_t)(j / gs);
    return QZ_OK;
}

void qz_quant_result_free(qz_quant_result *r)
{
    if (!r) return;
    free(r->codes);
    free(r->scales);
    free(r->zeros);
    free(r->g_idx);
    free(r->offsets);
    free(r->blocks);
    memset(r, 0, sizeof *r);
}

/* Quantizes columns [c0, c1) of every row with group k's params. */
static double rtn_group(float *W, uint8_t *codes, int64_t rows, int64_t cols, int64_t c0,
                        int64_t c1, const float *scale, const int32_t *zero, float maxq)
{
    double loss = 0.0;
    for (int64_t r = 0; r < rows; r++) {
        float s = scale[r], z = (float)zero[r];
        for (int64_t j = c0; j < c1; j++) {
            float w = W[r * cols + j];
            float c = qz_grid_codef(w, s, z, maxq);
            float q = qz_grid_dequant(c, s, z);
            codes[r * cols + j] = (uint8_t)c;
            W[r * cols + j] = q;
            loss += (double)(w - q) * (double)(w - q);
        }
    }
    return loss;
}

int qz_rtn_quantize(float *W, int64_t rows, int64_t cols, const qz_grid_cfg *g,
                    int64_t group_size, qz_quant_result *res, qz_error *err)
{
    memset(res, 0, sizeof *res);
    int rc = qz_grid_check(g, err);
    if (rc) return rc;
    if (rows <= 0 || cols <= 0 || cols > INT32_MAX)
        return qz_fail(err, QZ_EINPUT, "rtn: bad shape (%lld, %lld)", (long long)rows,
                       (long long)cols);
    if (group_size == 0 || group_size < -1)
        return qz_fail(err, QZ_EINPUT, "rtn: group_size = %lld: allowed -1 or > 0",
                       (long long)group_size);
    int64_t bad = qz_first_nonfinite(W, rows * cols);
    if (bad >= 0)
        return qz_fail(err, QZ_EINPUT, "rtn: weight (%lld, %lld) is not finite at [%lld, %lld]",
                       (long long)rows, (long long)cols, (long long)(bad / cols),
                       (long long)(bad % cols));
    int64_t gs = group_size < 0 || group_size > cols ? cols : group_size;
    rc = qz_quant_result_alloc(res, rows, cols, gs, err);
    if (rc) return rc;
    int64_t ng = res->n_groups;
    const float maxq = (float)qz_grid_maxq(g->bits);
    for (int64_t k = 0; k < ng; k++) {
        int64_t c0 = k * gs, c1 = c0 + gs < cols ? c0 + gs : cols;
        qz_grid_find_params(g, W, cols, rows, c0, c1, res->scales + k * rows,
                            res->zeros + k * rows);
        res->loss += rtn_group(W, res->codes, rows, cols, c0, c1, res->scales + k * rows,
                               res->zeros + k * rows, maxq);
    }
    return QZ_OK;
}
