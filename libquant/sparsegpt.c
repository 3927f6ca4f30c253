/* sparsegpt.c - SparseGPT mask selection (IST-DASLab sparsegpt.py
 * fasterprune) as a keep hook on GPTQ's column solver (qz_gptq_run).
 *
 * Follows FORMATS-AND-ALGORITHMS.md 7; sparsegpt.h lists the steps and the
 * deviation (exactly k pruned per block instead of score <= sorted[k]).
 * Everything numeric except the mask (dead columns, damping, U, the updates,
 * the optional quantization) is gptq.c's. Leaves out the layer walk (the
 * pipeline's job).
 *
 * The selections (k smallest of a block, N smallest of every M) are
 * select.h's, shared with the other pruning methods.
 */
#include "sparsegpt.h"

#include "select.h"

#include <string.h>

qz_sparsegpt_opts qz_sparsegpt_opts_default(void)
{
    qz_sparsegpt_opts o = {.sparsity = 0.5, .prune_n = 0, .prune_m = 0,
                           .gptq = qz_gptq_opts_default()};
    o.gptq.bits = 0;
    return o;
}

/* Hook context; buffers sized and allocated once in sgpt_alloc. */
typedef struct sgpt_ctx {
    const qz_sparsegpt_opts *o;
    uint8_t *mask;    /* (rows, i2-i1) current block's mask, 1 = keep */
    float *score;     /* (rows * block) unstructured, (prune_m) N:M: scores */
    uint8_t *keep;    /* (rows, cols) caller's mask output, or NULL */
} sgpt_ctx;

/* ------------------------------------------------------------------------- */
/* Checks and allocation                                                      */

static int sgpt_check(int64_t rows, int64_t cols, const qz_sparsegpt_opts *o, qz_error *err)
{
    if (!o) return qz_fail(err, QZ_EINPUT, "sparsegpt: options are NULL");
    if (rows <= 0 || cols <= 0 || rows > INT32_MAX || cols > INT32_MAX)
        return qz_fail(err, QZ_EINPUT, "sparsegpt: bad weight shape (%lld, %lld)",
                       (long long)rows, (long long)cols);
    if (o->gptq.act_order)
        return qz_fail(err, QZ_EINPUT, "sparsegpt: act_order is not supported: the mask is "
                       "chosen in column order");
    if (o->gptq.block_size <= 0)
        return qz_fail(err, QZ_EINPUT, "sparsegpt: block_size = %d: must be > 0",
                       o->gptq.block_size);
    const int n = o->prune_n, m = o->prune_m;
    if (n == 0 && m == 0) {
        if (!(o->sparsity >= 0.0 && o->sparsity < 1.0))
            return qz_fail(err, QZ_EINPUT, "sparsegpt: sparsity = %g: must be in [0, 1)",
                           o->sparsity);
        return QZ_OK;
    }
    if (!(n > 0 && n < m))
        return qz_fail(err, QZ_EINPUT, "sparsegpt: N:M = %d:%d: need 0 < N < M "
                       "(N weights pruned of every M)", n, m);
    if (o->gptq.block_size % m)
        return qz_fail(err, QZ_EINPUT, "sparsegpt: block_size = %d is not a multiple of M = %d "
                       "(N:M groups must not straddle blocks)", o->gptq.block_size, m);
    if (cols % m)
        return qz_fail(err, QZ_EINPUT, "sparsegpt: %lld input columns are not a multiple of "
                       "M = %d (N:M needs whole groups)", (long long)cols, m);
    return QZ_OK;
}

static void sgpt_free(sgpt_ctx *c)
{
    free(c->mask);
    free(c->score);
}

static int sgpt_alloc(sgpt_ctx *c, int64_t rows, int64_t cols, qz_error *err)
{
    const int64_t bs = c->o->gptq.block_size < cols ? c->o->gptq.block_size : cols;
    c->mask = qz_malloc_array((size_t)(rows * bs), 1);
    c->score = qz_malloc_array((size_t)(c->o->prune_n > 0 ? c->o->prune_m : rows * bs), sizeof *c->score);
    int ok = c->mask && c->score;
    if (!ok)
        return qz_fail(err, QZ_EINTERNAL, "sparsegpt: out of memory for a (%lld, %lld) weight",
                       (long long)rows, (long long)cols);
    return QZ_OK;
}

/* ------------------------------------------------------------------------- */
/* Mask selection                                                             */

/* The reference's saliency w^2 / U[j,j]^2, in its fp32 operation order. */
static float sgpt_score(float w, float d) { return (w * w) / (d * d); }

static float sgpt_diag(const qz_gptq_colstate *st, int64_t j)
{
    return st->U[j * st->cols + j];
}

/* Unstructured, at a block start: prune exactly k = floor(numel * sparsity)
 * of the block, the smallest scores, ties by the lower row-major index. */
static void sgpt_block_mask(sgpt_ctx *c, const qz_gptq_colstate *st)
{
    const int64_t n = st->i2 - st->i1, cnt = st->rows * n;
    for (int64_t r = 0; r < st->rows; r++)
        for (int64_t j = 0; j < n; j++)
            c->score[r * n + j] = sgpt_score(qz_gptq_w1(st, r, j), sgpt_diag(st, st->i1 + j));
    qz_select_smallest(c->score, cnt, (int64_t)((double)cnt * c->o->sparsity), c->mask);
}

/* N:M, at a group start: per row prune the N smallest scores of the M
 * running-block columns [i, i+M), ties by the lower column index. */
static void sgpt_nm_mask(sgpt_ctx *c, const qz_gptq_colstate *st)
{
    const int64_t n = st->i2 - st->i1, c0 = st->i - st->i1;
    const int m = c->o->prune_m;
    QZ_ASSERT(st->cur_end >= st->i + m);
    for (int64_t r = 0; r < st->rows; r++) {
        for (int j = 0; j < m; j++)
            c->score[j] = sgpt_score(qz_gptq_w1(st, r, c0 + j), sgpt_diag(st, st->i + j));
        qz_select_nm(c->score, m, c->o->prune_n, m, c->mask + r * n + c0);
    }
}

static int sgpt_keep(void *ctx, const qz_gptq_colstate *st, uint8_t *keep, qz_error *err)
{
    (void)err;
    sgpt_ctx *c = ctx;
    QZ_ASSERT(st->perm == NULL);
    const int64_t n = st->i2 - st->i1, col = st->i - st->i1;
    if (c->o->prune_n == 0 && col == 0) sgpt_block_mask(c, st);
    if (c->o->prune_n > 0 && col % c->o->prune_m == 0) sgpt_nm_mask(c, st);
    for (int64_t r = 0; r < st->rows; r++) {
        keep[r] = c->mask[r * n + col];
        if (c->keep) c->keep[r * st->cols + st->i] = keep[r];
    }
    return QZ_OK;
}

/* ------------------------------------------------------------------------- */
/* Driver                                                                     */

int qz_sparsegpt_prune(float *W, int64_t rows, int64_t cols, float *H, const qz_sparsegpt_opts *o,
                       uint8_t *keep, qz_quant_result *res, qz_error *err)
{
    memset(res, 0, sizeof *res);
    int rc = sgpt_check(rows, cols, o, err);
    if (rc) return rc;
    sgpt_ctx c = {.o = o, .keep = keep};
    rc = sgpt_alloc(&c, rows, cols, err);
    /* N:M reads M columns ahead: sub-blocks must not split a group of M */
    int64_t span = o->prune_n > 0 ? o->prune_m : 1;
    if (!rc) rc = qz_gptq_run(W, rows, cols, H, &o->gptq, sgpt_keep, &c, span, res, err);
    sgpt_free(&c);
    return rc;
}
