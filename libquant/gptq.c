/* gptq.c - GPTQ column solver (IST-DASLab gptq.py fasterquant) and the
 * Hessian accumulator (add_batch).
 *
 * Follows FORMATS-AND-ALGORITHMS.md 1a/1b step by step; gptq.h lists the
 * steps and the deviations (fp64 damping + factorization with bounded
 * damping retries; stable tie-break in the act-order sort). Leaves out the
 * layer walk (the pipeline's job) and packing (formats/gptq_pack).
 *
 * Memory: W is permuted and updated in place (the quantized block is written
 * back only after the block, so W keeps the block-start state the stale-group
 * quirk needs); H is overwritten with U; the extra workspace is one fp64
 * (cols, cols) matrix for the factorizations plus two (rows, block) buffers.
 */
#include "gptq.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* LAPACK, Fortran ABI (in libopenblas). The trailing hidden string length is
 * passed for Fortran builds; OpenBLAS's C implementations ignore it. */
void dpotrf_(const char *uplo, const blasint *n, double *a, const blasint *lda, blasint *info,
             size_t uplo_len);
void dtrtri_(const char *uplo, const char *diag, const blasint *n, double *a, const blasint *lda,
             blasint *info, size_t uplo_len, size_t diag_len);

qz_gptq_opts qz_gptq_opts_default(void)
{
    return (qz_gptq_opts){.bits = 4, .group_size = -1, .sym = 0, .act_order = 0,
                          .static_groups = 0, .mse = 0, .damp = 0.01, .block_size = 128};
}

/* Everything one run needs; sized and allocated once in gptq_alloc. */
typedef struct gptq_state {
    float *W;        /* (rows, cols) permuted in place */
    float *U;        /* (cols, cols) = the caller's H after gptq_hinv */
    int64_t rows, cols, gs, bs;
    const qz_gptq_opts *o;
    qz_grid_cfg grid;
    int quant;       /* bits != 0 or a fixed grid */
    int static_groups; /* group params before the loop: static_groups or a fixed grid */
    float maxq;
    qz_gptq_keep_fn keep_fn;
    void *keep_ctx;
    qz_quant_result *res;
    /* workspace */
    double *Hd;      /* (cols, cols) fp64 factorization buffer */
    int32_t *perm;   /* (cols) NULL without act_order */
    int32_t *invperm;
    float *W1;       /* (rows, bs) running block */
    float *Err1;     /* (rows, bs) scaled errors of the block */
    float *rowbuf;   /* (cols) permutation scratch */
    uint8_t *keep;   /* (rows) */
    float *zf;       /* (rows) current group's zeros as fp32 */
    int64_t cur_group;
} gptq_state;

/* ------------------------------------------------------------------------- */
/* Checks and allocation                                                      */

static int gptq_check(int64_t rows, int64_t cols, const qz_gptq_opts *o, qz_error *err)
{
    if (!o) return qz_fail(err, QZ_EINPUT, "gptq: options are NULL");
    if (rows <= 0 || cols <= 0 || rows > INT32_MAX || cols > INT32_MAX)
        return qz_fail(err, QZ_EINPUT, "gptq: bad weight shape (%lld, %lld)", (long long)rows,
                       (long long)cols);
    if (o->fixed && (o->fixed->rows != rows || o->fixed->group_size <= 0 ||
                     o->fixed->n_groups != (cols + o->fixed->group_size - 1) / o->fixed->group_size ||
                     o->fixed->maxq <= 0 || o->fixed->maxq > 255))
        return qz_fail(err, QZ_EINPUT, "gptq: the fixed grid does not fit a (%lld, %lld) weight", (long long)rows,
                       (long long)cols);
    if (!o->fixed && o->bits != 0 && o->bits != 2 && o->bits != 3 && o->bits != 4 && o->bits != 8)
        return qz_fail(err, QZ_EINPUT, "gptq: bits = %d: allowed 2, 3, 4, 8 (or 0 = none)",
                       o->bits);
    if (o->group_size == 0 || o->group_size < -1)
        return qz_fail(err, QZ_EINPUT, "gptq: group_size = %lld: allowed -1 or > 0",
                       (long long)o->group_size);
    if (o->block_size <= 0)
        return qz_fail(err, QZ_EINPUT, "gptq: block_size = %d: must be > 0", o->block_size);
    if (!(o->damp > 0.0) || !isfinite(o->damp))
        return qz_fail(err, QZ_EINPUT, "gptq: damp = %g: must be finite and > 0", o->damp);
    return QZ_OK;
}

static int all_finite(const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

static int gptq_check_finite(const float *W, int64_t rows, int64_t cols, const float *H,
                             qz_error *err)
{
    for (int64_t i = 0; i < rows * cols; i++)
        if (!isfinite(W[i]))
            return qz_fail(err, QZ_EINPUT, "gptq: weight (%lld, %lld) has %g at [%lld, %lld]",
                           (long long)rows, (long long)cols, (double)W[i],
                           (long long)(i / cols), (long long)(i % cols));
    for (int64_t i = 0; i < cols * cols; i++)
        if (!isfinite(H[i]))
            return qz_fail(err, QZ_EINPUT, "gptq: Hessian (%lld, %lld) has %g at [%lld, %lld]",
                           (long long)cols, (long long)cols, (double)H[i],
                           (long long)(i / cols), (long long)(i % cols));
    return QZ_OK;
}

static void gptq_free(gptq_state *s)
{
    free(s->Hd);
    free(s->perm);
    free(s->invperm);
    free(s->W1);
    free(s->Err1);
    free(s->rowbuf);
    free(s->keep);
    free(s->zf);
}

static int gptq_alloc(gptq_state *s, qz_error *err)
{
    int64_t rows = s->rows, cols = s->cols;
    qz_quant_result *r = s->res;
    s->Hd = qz_malloc_array((size_t)(cols * cols), sizeof(double));
    s->W1 = qz_malloc_array((size_t)(rows * s->bs), sizeof(float));
    s->Err1 = qz_malloc_array((size_t)(rows * s->bs), sizeof(float));
    s->rowbuf = qz_malloc_array((size_t)cols, sizeof(float));
    s->keep = qz_malloc_array((size_t)rows, 1);
    s->zf = qz_malloc_array((size_t)rows, sizeof(float));
    int ok = s->Hd && s->W1 && s->Err1 && s->rowbuf && s->keep && s->zf;
    if (s->o->act_order) {
        s->perm = qz_malloc_array((size_t)cols, sizeof(int32_t));
        s->invperm = qz_malloc_array((size_t)cols, sizeof(int32_t));
        ok = ok && s->perm && s->invperm;
    }
    if (s->quant) {
        r->n_groups = s->gs > 0 ? (cols + s->gs - 1) / s->gs : 1;
        r->codes = qz_malloc_array((size_t)(rows * cols), 1);
        r->scales = qz_malloc_array((size_t)(r->n_groups * rows), sizeof(float));
        r->zeros = qz_malloc_array((size_t)(r->n_groups * rows), sizeof(int32_t));
        r->g_idx = qz_malloc_array((size_t)cols, sizeof(int32_t));
        ok = ok && r->codes && r->scales && r->zeros && r->g_idx;
        if (s->o->fixed) ok = ok && (r->offsets = qz_malloc_array((size_t)(r->n_groups * rows), sizeof(float)));
    }
    if (!ok)
        return qz_fail(err, QZ_EINTERNAL, "gptq: out of memory for a (%lld, %lld) weight",
                       (long long)rows, (long long)cols);
    memset(s->keep, 1, (size_t)rows);
    return QZ_OK;
}

/* ------------------------------------------------------------------------- */
/* Steps 2-4: dead columns, static groups, act-order permutation              */

static float diag_fixed(const float *H, int64_t cols, int64_t j)
{
    float d = H[j * cols + j];
    return d == 0.0f ? 1.0f : d; /* dead column: H[j,j] = 1 */
}

static void gptq_dead_columns(gptq_state *s)
{
    for (int64_t j = 0; j < s->cols; j++)
        if (s->U[j * s->cols + j] == 0.0f)
            for (int64_t r = 0; r < s->rows; r++) s->W[r * s->cols + j] = 0.0f;
}

/* A fixed grid's (rows, n_groups) parameters into the result's (n_groups, rows). */
static void gptq_fixed_groups(gptq_state *s)
{
    const qz_fixed_grid *f = s->o->fixed;
    qz_quant_result *r = s->res;
    for (int64_t row = 0; row < s->rows; row++)
        for (int64_t k = 0; k < r->n_groups; k++) {
            r->scales[k * s->rows + row] = f->scales[row * f->n_groups + k];
            r->zeros[k * s->rows + row] = f->zeros[row * f->n_groups + k];
            r->offsets[k * s->rows + row] = f->offsets[row * f->n_groups + k];
        }
}

static void gptq_static_groups(gptq_state *s)
{
    if (s->o->fixed) {
        gptq_fixed_groups(s);
        return;
    }
    for (int64_t k = 0; k < s->res->n_groups; k++) {
        int64_t c0 = k * s->gs, c1 = c0 + s->gs < s->cols ? c0 + s->gs : s->cols;
        qz_grid_find_params(&s->grid, s->W, s->cols, s->rows, c0, c1,
                            s->res->scales + k * s->rows, s->res->zeros + k * s->rows);
    }
}

typedef struct diag_key {
    float d;
    int32_t j;
} diag_key;

/* Descending by diagonal, ties by ascending column: a stable descending sort. */
static int diag_key_cmp(const void *a, const void *b)
{
    const diag_key *x = a, *y = b;
    if (x->d != y->d) return x->d > y->d ? -1 : 1;
    return (x->j > y->j) - (x->j < y->j);
}

static int gptq_act_order(gptq_state *s, qz_error *err)
{
    diag_key *k = qz_malloc_array((size_t)s->cols, sizeof *k);
    if (!k) return qz_fail(err, QZ_EINTERNAL, "gptq: out of memory for the act-order sort");
    for (int64_t j = 0; j < s->cols; j++) k[j] = (diag_key){diag_fixed(s->U, s->cols, j), (int32_t)j};
    qsort(k, (size_t)s->cols, sizeof *k, diag_key_cmp);
    for (int64_t i = 0; i < s->cols; i++) {
        s->perm[i] = k[i].j;
        s->invperm[k[i].j] = (int32_t)i;
    }
    free(k);
    return QZ_OK;
}

/* dst[i] = src[idx[i]] for every row of a (rows, cols) matrix, in place. */
static void permute_cols_f32(float *A, int64_t rows, int64_t cols, const int32_t *idx,
                             float *buf)
{
    for (int64_t r = 0; r < rows; r++) {
        float *a = A + r * cols;
        for (int64_t i = 0; i < cols; i++) buf[i] = a[idx[i]];
        memcpy(a, buf, (size_t)cols * sizeof *a);
    }
}

static void permute_cols_u8(uint8_t *A, int64_t rows, int64_t cols, const int32_t *idx,
                            uint8_t *buf)
{
    for (int64_t r = 0; r < rows; r++) {
        uint8_t *a = A + r * cols;
        for (int64_t i = 0; i < cols; i++) buf[i] = a[idx[i]];
        memcpy(a, buf, (size_t)cols);
    }
}

/* ------------------------------------------------------------------------- */
/* Steps 5-6: damping and U = chol(H^-1, upper), fp64                         */

/* U without forming H^-1: with J the reversal permutation, factor
 * J H J = L L^T (dpotrf); then H = R R^T with R = J L J upper triangular, so
 * H^-1 = R^-T R^-1 and U = R^-1 = J L^-1 J (dtrtri) is the upper Cholesky
 * factor of H^-1 (unique: upper with positive diagonal). Same U as the
 * reference's chol(cholesky_inverse(chol(H)), upper) in exact arithmetic, at
 * half the flops (2n^3/3 instead of 4n^3/3).
 *
 * Hd is column-major; hinv_fill writes the lower triangle of J P^T H P J plus
 * damping, where P is the act-order permutation and dead diagonals are 1. */
static void hinv_fill(const gptq_state *s, double damp_abs)
{
    const int64_t n = s->cols;
    for (int64_t b = 0; b < n; b++) {
        int64_t pb = s->perm ? s->perm[n - 1 - b] : n - 1 - b;
        const float *hrow = s->U + pb * n; /* H symmetric: row pb = column pb */
        double *col = s->Hd + b * n;
        for (int64_t a = b + 1; a < n; a++) {
            int64_t pa = s->perm ? s->perm[n - 1 - a] : n - 1 - a;
            col[a] = (double)hrow[pa];
        }
        col[b] = (double)diag_fixed(s->U, n, pb) + damp_abs;
    }
}

/* Returns 0 when both factorizations succeed. */
static int hinv_factor(double *Hd, int64_t n)
{
    const blasint bn = (blasint)n;
    blasint info = 0;
    dpotrf_("L", &bn, Hd, &bn, &info, 1);
    if (info != 0) return -1;
    dtrtri_("L", "N", &bn, Hd, &bn, &info, 1, 1);
    return info != 0 ? -1 : 0;
}

/* U[i, j] = Linv[n-1-i, n-1-j] (column-major Linv), zero below the diagonal. */
static void hinv_store(gptq_state *s)
{
    const int64_t n = s->cols;
    for (int64_t i = 0; i < n; i++) {
        float *u = s->U + i * n;
        for (int64_t j = 0; j < i; j++) u[j] = 0.0f;
    }
    for (int64_t q = 0; q < n; q++) {      /* column q of Linv = column n-1-q of U */
        const double *col = s->Hd + q * n;
        for (int64_t p = q; p < n; p++) s->U[(n - 1 - p) * n + (n - 1 - q)] = (float)col[p];
    }
}

/* Writes U (fp32, zero lower triangle) over H; reports the damping used. */
static int gptq_hinv(gptq_state *s, qz_error *err)
{
    const int64_t n = s->cols;
    double mean = 0.0;
    for (int64_t j = 0; j < n; j++) mean += (double)diag_fixed(s->U, n, j);
    mean /= (double)n;
    double damp = s->o->damp;
    for (int t = 0; t <= QZ_GPTQ_MAX_DAMP_RETRIES; t++, damp *= 10.0) {
        hinv_fill(s, damp * mean);
        if (hinv_factor(s->Hd, n) != 0) continue;
        hinv_store(s);
        s->res->damp_used = damp;
        return QZ_OK;
    }
    return qz_fail(err, QZ_EINPUT,
                   "gptq: Hessian (%lld, %lld) is not positive definite even with damp = %g "
                   "(%d retries from %g); check the calibration activations",
                   (long long)n, (long long)n, damp / 10.0, QZ_GPTQ_MAX_DAMP_RETRIES,
                   s->o->damp);
}

/* ------------------------------------------------------------------------- */
/* Step 7: the column loop                                                    */

/* Group of loop column i; finds its params at a non-static group start. */
static int64_t gptq_group_for(gptq_state *s, int64_t i)
{
    if (s->gs < 0) return 0;
    if (s->static_groups) return (s->perm ? s->perm[i] : i) / s->gs;
    if (i % s->gs == 0) {
        /* From W (block-start state), not W1: the reference's stale quirk. */
        int64_t c1 = i + s->gs < s->cols ? i + s->gs : s->cols, k = i / s->gs;
        qz_grid_find_params(&s->grid, s->W, s->cols, s->rows, i, c1,
                            s->res->scales + k * s->rows, s->res->zeros + k * s->rows);
        s->cur_group = -1;
    }
    return i / s->gs;
}

static void gptq_use_group(gptq_state *s, int64_t k)
{
    if (k == s->cur_group) return;
    const int32_t *z = s->res->zeros + k * s->rows;
    for (int64_t r = 0; r < s->rows; r++) s->zf[r] = (float)z[r];
    s->cur_group = k;
}

/* Target q of row r's weight w, writing its code when quantizing. */
static float gptq_target(gptq_state *s, int64_t r, int64_t i, float w, const float *scale, const float *offset)
{
    if (!s->quant) return s->keep[r] ? w : 0.0f;
    float z = s->zf[r];
    if (offset) { /* a fixed affine grid: a pruned weight goes to the code of 0 */
        float c = qz_grid_codef_affine(s->keep[r] ? w : 0.0f, scale[r], z, offset[r], s->maxq);
        s->res->codes[r * s->cols + i] = (uint8_t)c;
        return qz_grid_dequant_affine(c, scale[r], z, offset[r]);
    }
    float c = s->keep[r] ? qz_grid_codef(w, scale[r], z, s->maxq) : z;
    s->res->codes[r * s->cols + i] = (uint8_t)c;
    return qz_grid_dequant(c, scale[r], z);
}

static int gptq_column(gptq_state *s, int64_t i1, int64_t i2, int64_t i, double *loss,
                       qz_error *err)
{
    const int64_t n = i2 - i1, c = i - i1;
    const float *Ui = s->U + i * s->cols + i1; /* U[i, i1:i2] */
    const float d = Ui[c];
    const float *scale = NULL, *offset = NULL;
    if (s->quant) {
        int64_t k = gptq_group_for(s, i);
        gptq_use_group(s, k);
        scale = s->res->scales + k * s->rows;
        if (s->res->offsets) offset = s->res->offsets + k * s->rows;
    }
    if (s->keep_fn) {
        qz_gptq_colstate st = {i, i1, i2, s->rows, s->cols, s->W1, s->U, s->perm};
        int rc = s->keep_fn(s->keep_ctx, &st, s->keep, err);
        if (rc < 0) return rc;
    }
    for (int64_t r = 0; r < s->rows; r++) {
        float *w1 = s->W1 + r * n;
        float w = w1[c];
        float q = gptq_target(s, r, i, w, scale, offset);
        float e = w - q;
        *loss += 0.5 * (double)((e * e) / (d * d));
        float er = e / d;
        s->Err1[r * n + c] = er;
        for (int64_t j = c + 1; j < n; j++) w1[j] -= er * Ui[j];
        w1[c] = q;
    }
    return QZ_OK;
}

static int gptq_block(gptq_state *s, int64_t i1, int64_t i2, double *loss, qz_error *err)
{
    const int64_t n = i2 - i1, rows = s->rows, cols = s->cols;
    for (int64_t r = 0; r < rows; r++)
        memcpy(s->W1 + r * n, s->W + r * cols + i1, (size_t)n * sizeof(float));
    for (int64_t i = i1; i < i2; i++) {
        int rc = gptq_column(s, i1, i2, i, loss, err);
        if (rc < 0) return rc;
    }
    for (int64_t r = 0; r < rows; r++)
        memcpy(s->W + r * cols + i1, s->W1 + r * n, (size_t)n * sizeof(float));
    if (i2 < cols) /* lazy batch update: W[:, i2:] -= Err1 * U[i1:i2, i2:] */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)rows,
                    (blasint)(cols - i2), (blasint)n, -1.0f, s->Err1, (blasint)n,
                    s->U + i1 * cols + i2, (blasint)cols, 1.0f, s->W + i2, (blasint)cols);
    return QZ_OK;
}

static int gptq_loop(gptq_state *s, qz_error *err)
{
    double loss = 0.0;
    s->cur_group = -1;
    for (int64_t i1 = 0; i1 < s->cols; i1 += s->bs) {
        int64_t i2 = i1 + s->bs < s->cols ? i1 + s->bs : s->cols;
        int rc = gptq_block(s, i1, i2, &loss, err);
        if (rc < 0) return rc;
    }
    s->res->loss = loss;
    return QZ_OK;
}

/* ------------------------------------------------------------------------- */
/* Driver                                                                     */

static void gptq_g_idx(gptq_state *s)
{
    for (int64_t j = 0; j < s->cols; j++) {
        int64_t k = 0;
        if (s->gs > 0) k = (s->perm && !s->static_groups ? s->invperm[j] : j) / s->gs;
        s->res->g_idx[j] = (int32_t)k;
    }
}

/* Steps 1-8 on an allocated state. */
static int gptq_solve(gptq_state *s, qz_error *err)
{
    if (s->quant && s->gs < 0)
        qz_grid_find_params(&s->grid, s->W, s->cols, s->rows, 0, s->cols, s->res->scales,
                            s->res->zeros);
    gptq_dead_columns(s);
    if (s->quant && s->gs > 0 && s->static_groups) gptq_static_groups(s);
    if (s->perm) {
        int rc = gptq_act_order(s, err);
        if (rc) return rc;
        permute_cols_f32(s->W, s->rows, s->cols, s->perm, s->rowbuf);
    }
    int rc = gptq_hinv(s, err);
    if (rc) return rc;
    rc = gptq_loop(s, err);
    if (rc) return rc;
    if (s->perm) {
        permute_cols_f32(s->W, s->rows, s->cols, s->invperm, s->rowbuf);
        if (s->quant)
            permute_cols_u8(s->res->codes, s->rows, s->cols, s->invperm, (uint8_t *)s->rowbuf);
    }
    if (s->quant) gptq_g_idx(s);
    if (!all_finite(s->W, s->rows * s->cols) || !isfinite(s->res->loss))
        return qz_fail(err, QZ_EINTERNAL,
                       "gptq: non-finite result (loss %g, damp %g) for a (%lld, %lld) weight",
                       s->res->loss, s->res->damp_used, (long long)s->rows,
                       (long long)s->cols);
    return QZ_OK;
}

int qz_gptq_run(float *W, int64_t rows, int64_t cols, float *H, const qz_gptq_opts *o,
                qz_gptq_keep_fn keep_fn, void *keep_ctx, qz_quant_result *res, qz_error *err)
{
    memset(res, 0, sizeof *res);
    int rc = gptq_check(rows, cols, o, err);
    if (!rc) rc = gptq_check_finite(W, rows, cols, H, err);
    if (rc) return rc;
    gptq_state s = {.W = W, .U = H, .rows = rows, .cols = cols, .o = o,
                    .grid = {o->bits, o->sym, o->mse}, .quant = o->bits != 0 || o->fixed,
                    .static_groups = o->static_groups || o->fixed,
                    .keep_fn = keep_fn, .keep_ctx = keep_ctx, .res = res};
    s.gs = o->fixed ? o->fixed->group_size : o->group_size;
    s.bs = o->block_size < cols ? o->block_size : cols;
    s.maxq = o->fixed ? (float)o->fixed->maxq : s.quant ? (float)qz_grid_maxq(o->bits) : 0.0f;
    res->rows = rows;
    res->cols = cols;
    rc = gptq_alloc(&s, err);
    if (!rc) rc = gptq_solve(&s, err);
    gptq_free(&s);
    if (rc) qz_quant_result_free(res);
    return rc;
}

typedef struct mask_ctx {
    const uint8_t *mask; /* (rows, cols) original order */
} mask_ctx;

static int keep_from_mask(void *ctx, const qz_gptq_colstate *st, uint8_t *keep, qz_error *err)
{
    (void)err;
    const uint8_t *m = ((const mask_ctx *)ctx)->mask;
    int64_t j = st->perm ? st->perm[st->i] : st->i;
    for (int64_t r = 0; r < st->rows; r++) keep[r] = m[r * st->cols + j] != 0;
    return QZ_OK;
}

int qz_gptq_quantize(float *W, int64_t rows, int64_t cols, float *H, const qz_gptq_opts *o,
                     const uint8_t *keep_mask, qz_quant_result *res, qz_error *err)
{
    mask_ctx mc = {keep_mask};
    return qz_gptq_run(W, rows, cols, H, o, keep_mask ? keep_from_mask : NULL, &mc, res, err);
}

/* ------------------------------------------------------------------------- */
/* Hessian accumulation                                                       */

/* Copies the upper triangle onto the lower one, in cache-sized tiles. */
static void mirror_upper(float *H, int64_t n)
{
    const int64_t T = 64;
    for (int64_t i0 = 0; i0 < n; i0 += T)
        for (int64_t j0 = 0; j0 <= i0; j0 += T)
            for (int64_t i = i0; i < i0 + T && i < n; i++)
                for (int64_t j = j0; j < j0 + T && j < i; j++) H[i * n + j] = H[j * n + i];
}

int qz_hessian_add(float *H, int64_t *n_seen, const float *X, int64_t tokens, int64_t cols,
                   int64_t n_seqs, qz_error *err)
{
    if (cols <= 0 || cols > INT32_MAX || tokens < 0 || tokens > INT32_MAX || n_seqs <= 0 ||
        *n_seen < 0)
        return qz_fail(err, QZ_EINPUT,
                       "hessian: bad batch: tokens %lld, cols %lld, n_seqs %lld, n_seen %lld",
                       (long long)tokens, (long long)cols, (long long)n_seqs,
                       (long long)*n_seen);
    for (int64_t i = 0; i < tokens * cols; i++)
        if (!isfinite(X[i]))
            return qz_fail(err, QZ_EINPUT,
                           "hessian: activation (%lld, %lld) has %g at [%lld, %lld]",
                           (long long)tokens, (long long)cols, (double)X[i],
                           (long long)(i / cols), (long long)(i % cols));
    double n = (double)*n_seen, b = (double)n_seqs;
    float beta = (float)(n / (n + b));
    *n_seen += n_seqs;
    float alpha = (float)(2.0 / (double)*n_seen);
    if (tokens > 0)
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (blasint)cols, (blasint)tokens, alpha,
                    X, (blasint)cols, beta, H, (blasint)cols);
    else
        for (int64_t i = 0; i < cols; i++)
            for (int64_t j = i; j < cols; j++) H[i * cols + j] *= beta;
    mirror_upper(H, cols);
    return QZ_OK;
}
