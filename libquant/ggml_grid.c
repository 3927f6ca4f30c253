/* ggml_grid.c - round to nearest and GPTQ onto ggml's block grids
 * (ggml_grid.h): the parameters come from formats/gguf_quants.c, the
 * rounding (quant_grid.h's affine grid) and the solver (gptq.c) from here. */
#include "ggml_grid.h"
#include "kernels.h"

#include "half.h"

#include <math.h>
#include <string.h>

int qz_ggml_writable(int t)
{
    const qz_ggml_traits *tr = qz_ggml_type_traits(t);
    return tr && (tr->params || t == QZ_GGML_F32 || t == QZ_GGML_F16);
}

static int check_type(int t, int64_t ne0, qz_error *err)
{
    if (!qz_ggml_writable(t))
        return qz_fail(err, QZ_EINPUT, "ggml type %s: qz does not write it (writes F32 F16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q4_K Q5_K Q6_K)",
                       qz_ggml_type_name(t));
    const qz_ggml_traits *tr = qz_ggml_type_traits(t);
    if (ne0 <= 0 || ne0 % tr->block_size)
        return qz_fail(err, QZ_EINPUT, "a row of %lld elements is not a whole number of %s blocks of %lld", (long long)ne0, tr->name,
                       (long long)tr->block_size);
    return QZ_OK;
}

/* Codes of n weights on the grid of their groups. */
static void round_to_grid(const qz_ggml_traits *tr, const float *x, int64_t n, const float *scale, const int32_t *zero,
                          const float *offset, uint8_t *codes)
{
    for (int64_t j = 0; j < n; j++) {
        int64_t g = j / tr->grid_group;
        codes[j] = (uint8_t)qz_grid_codef_affine(x[j], scale[g], (float)zero[g], offset[g], (float)tr->grid_maxq);
    }
}

int qz_ggml_rtn_row(int t, const float *x, const float *qw, int64_t ne0, void *dst, qz_error *err)
{
    int rc = check_type(t, ne0, err);
    if (rc) return rc;
    const qz_ggml_traits *tr = qz_ggml_type_traits(t);
    if (t == QZ_GGML_F32) memcpy(dst, x, (size_t)ne0 * sizeof(float));
    for (int64_t i = 0; t == QZ_GGML_F16 && i < ne0; i++) {
        uint16_t h = qz_fp32_to_fp16(x[i]);
        memcpy((char *)dst + 2 * i, &h, 2);
    }
    float sigma2 = qw && tr->params ? qz_ggml_row_sigma2(x, ne0) : 0.0f;
    for (int64_t b = 0; tr->params && b < ne0 / tr->block_size; b++) {
        float scale[QZ_QK_K / 16], offset[QZ_QK_K / 16];
        int32_t zero[QZ_QK_K / 16];
        uint8_t codes[QZ_QK_K];
        char *blk = (char *)dst + b * (int64_t)tr->type_size;
        const float *xb = x + b * tr->block_size;
        qz_ggml_block_params(t, xb, qw ? qw + b * tr->block_size : NULL, sigma2, blk, scale, zero, offset);
        round_to_grid(tr, xb, tr->block_size, scale, zero, offset, codes);
        qz_ggml_row_pack(t, codes, tr->block_size, blk);
    }
    return QZ_OK;
}

static void fixed_grid_free(qz_fixed_grid *g)
{
    free(g->scales);
    free(g->zeros);
    free(g->offsets);
}

/* Every row's block parameters into blocks and g (weighted by qw, the
 * columns' importances, unless NULL). */
static int fixed_grid_make(int t, const float *W, int64_t rows, int64_t cols, const float *qw, void *blocks, qz_fixed_grid *g,
                           qz_error *err)
{
    const qz_ggml_traits *tr = qz_ggml_type_traits(t);
    size_t row_bytes = qz_ggml_row_size(t, cols);
    *g = (qz_fixed_grid){.group_size = tr->grid_group, .maxq = tr->grid_maxq, .rows = rows, .n_groups = qz_ggml_grid_groups(t, cols)};
    g->scales = qz_malloc_array((size_t)(rows * g->n_groups), sizeof(float));
    g->zeros = qz_malloc_array((size_t)(rows * g->n_groups), sizeof(int32_t));
    g->offsets = qz_malloc_array((size_t)(rows * g->n_groups), sizeof(float));
    if (!g->scales || !g->zeros || !g->offsets) {
        fixed_grid_free(g);
        return qz_fail(err, QZ_EINTERNAL, "out of memory for the %s grid of a (%lld, %lld) weight", tr->name, (long long)rows,
                       (long long)cols);
    }
    for (int64_t r = 0; r < rows; r++)
        qz_ggml_row_params(t, W + r * cols, qw, cols, (char *)blocks + (size_t)r * row_bytes, g->scales + r * g->n_groups,
                           g->zeros + r * g->n_groups, g->offsets + r * g->n_groups);
    return QZ_OK;
}

/* Round to nearest on g, in the result layout GPTQ would give. */
static int rtn_fixed(const qz_ggml_traits *tr, float *W, int64_t rows, int64_t cols, const qz_fixed_grid *g, qz_quant_result *res,
                     qz_error *err)
{
    int rc = qz_quant_result_alloc(res, rows, cols, g->group_size, err);
    if (rc) return rc;
    res->offsets = qz_malloc_array((size_t)(g->n_groups * rows), sizeof(float));
    if (!res->offsets) return qz_fail(err, QZ_EINTERNAL, "out of memory for a quantized (%lld, %lld) weight", (long long)rows, (long long)cols);
    double loss = 0;
    for (int64_t r = 0; r < rows; r++) {
        const float *s = g->scales + r * g->n_groups, *o = g->offsets + r * g->n_groups;
        const int32_t *z = g->zeros + r * g->n_groups;
        float *w = W + r * cols;
        round_to_grid(tr, w, cols, s, z, o, res->codes + r * cols);
        for (int64_t j = 0; j < cols; j++) {
            int64_t k = j / g->group_size;
            float q = qz_grid_dequant_affine((float)res->codes[r * cols + j], s[k], (float)z[k], o[k]);
            loss += (double)(w[j] - q) * (double)(w[j] - q);
            w[j] = q;
        }
        for (int64_t k = 0; k < g->n_groups; k++) {
            res->scales[k * rows + r] = s[k];
            res->zeros[k * rows + r] = z[k];
            res->offsets[k * rows + r] = o[k];
        }
    }
    res->loss = loss;
    return QZ_OK;
}

static int importances_ok(const float *qw, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!(qw[i] >= 0 && isfinite(qw[i]))) return 0;
    return 1;
}

int qz_ggml_quantize_linear(int t, float *W, int64_t rows, int64_t cols, float *H, const float *qw, const qz_gptq_opts *o,
                            qz_quant_result *res, qz_error *err)
{
    memset(res, 0, sizeof *res);
    int rc = check_type(t, cols, err);
    const qz_ggml_traits *tr = qz_ggml_type_traits(t);
    if (rc == QZ_OK && !tr->params) return qz_fail(err, QZ_EINPUT, "ggml type %s has no grid to quantize onto", tr->name);
    if (rc == QZ_OK && qz_first_nonfinite(W, rows * cols) >= 0)
        return qz_fail(err, QZ_EINPUT, "a (%lld, %lld) weight has a non-finite value", (long long)rows, (long long)cols);
    if (rc == QZ_OK && qw && !importances_ok(qw, cols))
        return qz_fail(err, QZ_EINPUT, "the importances of a (%lld, %lld) weight are not all finite and >= 0", (long long)rows,
                       (long long)cols);
    if (rc) return rc;
    void *blocks = qz_calloc_array((size_t)rows, qz_ggml_row_size(t, cols));
    if (!blocks) return qz_fail(err, QZ_EINTERNAL, "out of memory for %lld rows of %s", (long long)rows, tr->name);
    qz_fixed_grid g;
    rc = fixed_grid_make(t, W, rows, cols, qw, blocks, &g, err);
    if (rc) {
        free(blocks);
        return rc;
    }
    if (H) {
        qz_gptq_opts go = *o;
        go.fixed = &g;
        rc = qz_gptq_quantize(W, rows, cols, H, &go, NULL, res, err);
    } else {
        rc = rtn_fixed(tr, W, rows, cols, &g, res, err);
    }
    fixed_grid_free(&g);
    if (rc) {
        qz_quant_result_free(res);
        free(blocks);
        return rc;
    }
    res->ggml_type = t;
    res->blocks = blocks;
    return QZ_OK;
}

void qz_ggml_result_pack(qz_quant_result *res)
{
    size_t row_bytes = qz_ggml_row_size(res->ggml_type, res->cols);
    for (int64_t r = 0; r < res->rows; r++)
        qz_ggml_row_pack(res->ggml_type, res->codes + r * res->cols, res->cols, (char *)res->blocks + (size_t)r * row_bytes);
}
