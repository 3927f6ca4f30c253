/* gptq.c - GPTQ column solver (IST-DASLab gptq.py fasterquant) and the
 * Hessian accumulator (add_batch).
 *
 * Follows FORMATS-AND-ALGORITHMS.md 1a/1b step by step; gptq.h lists the
 * steps and the deviations (fp64 damping + factorization with bounded
 * damping retries; stable tie-break in the act-order sort). Leaves out the
 * layer walk (the pipeline's job) and packing (formats/gptq_pack).
 *
 * Step 7 has two solvers sharing every per-column step (gptq.h): the
 * reference order, and the blocked one that applies the lazy-batch idea of
 * GPTQ's paper (section 4, "Lazy Batch-Updates") recursively inside each
 * block, so that all but QZ_GPTQ_LEAF-wide spans update through sgemm.
 *
 * Memory: W is permuted and updated in place (the quantized block is written
 * back only after the block, so W keeps the block-start state the stale-group
 * quirk needs); H is overwritten with U; the extra workspace is one fp64
 * (cols, cols) matrix for the factorizations plus three (rows, block)
 * buffers (weights, errors, codes).
 */
#include "gptq.h"
#include "kernels.h"

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
                          .static_groups = 0, .mse = 0, .damp = 0.01, .block_size = 128,
                          .solver = QZ_GPTQ_SOLVER_BLOCKED};
}

const char *qz_gptq_solver_name(int solver)
{
    switch (solver) {
    case QZ_GPTQ_SOLVER_BLOCKED: return "blocked";
    case QZ_GPTQ_SOLVER_REF: return "ref";
    default: return "unknown";
    }
}

/* Rows or columns per pass of a transposing copy: at most the L1
 * associativity (8 ways), as the TILE lines of one pass can share a set. */
#define TILE 8
/* Column stride of the blocked solver's column-major block: padded, so that
 * a power-of-two row count does not put every column of the block into the
 * same cache sets. */
#define COL_LD(rows) ((rows) + 16)

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
    int64_t leaf;    /* widest span solved column by column (the block in the ref solver) */
    int64_t align;   /* sub-block splits at multiples of this from the block start */
    qz_quant_result *res;
    /* workspace */
    double *Hd;      /* (cols, cols) fp64 factorization buffer */
    int32_t *perm;   /* (cols) NULL without act_order */
    int32_t *invperm;
    float *W1;       /* (rows, bs) running block, layout gptq_blk */
    float *Err1;     /* (rows, bs) scaled errors of the block, same layout */
    uint8_t *C1;     /* (rows, bs) codes of the block, same layout (quant only) */
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
    if (o->solver < 0 || o->solver >= QZ_GPTQ_SOLVER_COUNT)
        return qz_fail(err, QZ_EINPUT, "gptq: solver = %d: allowed 0 (blocked) or 1 (ref)",
                       o->solver);
    return QZ_OK;
}

static int gptq_check_finite(const float *W, int64_t rows, int64_t cols, const float *H,
                             qz_error *err)
{
    int64_t i = qz_first_nonfinite(W, rows * cols);
    if (i >= 0)
        return qz_fail(err, QZ_EINPUT, "gptq: weight (%lld, %lld) has %g at [%lld, %lld]",
                       (long long)rows, (long long)cols, (double)W[i],
                       (long long)(i / cols), (long long)(i % cols));
    i = qz_first_nonfinite(H, cols * cols);
    if (i >= 0)
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
    free(s->C1);
    free(s->rowbuf);
    free(s->keep);
    free(s->zf);
}

static int gptq_alloc(gptq_state *s, qz_error *err)
{
    int64_t rows = s->rows, cols = s->cols;
    qz_quant_result *r = s->res;
    s->Hd = qz_malloc_array((size_t)(cols * cols), sizeof(double));
    s->W1 = qz_malloc_array((size_t)(COL_LD(rows) * s->bs), sizeof(float));
    s->Err1 = qz_malloc_array((size_t)(COL_LD(rows) * s->bs), sizeof(float));
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
        s->C1 = qz_malloc_array((size_t)(COL_LD(rows) * s->bs), 1);
        ok = ok && r->codes && r->scales && r->zeros && r->g_idx && s->C1;
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

/* U[i, j] = Linv[n-1-i, n-1-j] (column-major Linv), zero below the diagonal.
 * A transposing copy: TILE columns of Linv at a time, so that each row of U
 * is written in runs rather than one element per cache line. */
static void hinv_store(gptq_state *s)
{
    const int64_t n = s->cols;
    for (int64_t i = 0; i < n; i++) {
        float *u = s->U + i * n;
        for (int64_t j = 0; j < i; j++) u[j] = 0.0f;
    }
    for (int64_t q0 = 0; q0 < n; q0 += TILE)
        for (int64_t p = q0; p < n; p++) {
            float *u = s->U + (n - 1 - p) * n + (n - 1);
            for (int64_t q = q0; q < q0 + TILE && q <= p; q++) u[-q] = (float)s->Hd[q * n + p];
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

/* Target q of row r's weight w, writing its code to *code when quantizing.
 * offset is the fixed grid's (NULL otherwise): the one place either grid
 * rounds, for both solvers. */
static inline float gptq_target(const gptq_state *s, int64_t r, float w, const float *scale,
                                const float *offset, uint8_t *code)
{
    if (!s->quant) return s->keep[r] ? w : 0.0f;
    float z = s->zf[r];
    if (offset) { /* a fixed affine grid: a pruned weight goes to the code of 0 */
        float c = qz_grid_codef_affine(s->keep[r] ? w : 0.0f, scale[r], z, offset[r], s->maxq);
        *code = (uint8_t)c;
        return qz_grid_dequant_affine(c, scale[r], z, offset[r]);
    }
    float c = s->keep[r] ? qz_grid_codef(w, scale[r], z, s->maxq) : z;
    *code = (uint8_t)c;
    return qz_grid_dequant(c, scale[r], z);
}

/* The running block [i1, i2): W1 and Err1 hold (rows, n) with element (r, j)
 * at [r * rs + j * cs]. The reference solver keeps them row-major (rs = n,
 * cs = 1); the blocked one column-major (rs = 1, cs = COL_LD(rows)), so
 * that a column is contiguous and every per-column step runs along it. */
typedef struct gptq_blk {
    int64_t i1, i2, n, rs, cs;
} gptq_blk;

/* a[k] -= x[k] * y for k < n. Unrolled by 8 over restrict pointers so that
 * -O2's straight-line (SLP) vectorizer turns the body into vector ops. */
static void axpy_neg(float *restrict a, const float *restrict x, float y, int64_t n)
{
    int64_t k = 0;
    for (; k + 8 <= n; k += 8) {
        a[k + 0] -= x[k + 0] * y;
        a[k + 1] -= x[k + 1] * y;
        a[k + 2] -= x[k + 2] * y;
        a[k + 3] -= x[k + 3] * y;
        a[k + 4] -= x[k + 4] * y;
        a[k + 5] -= x[k + 5] * y;
        a[k + 6] -= x[k + 6] * y;
        a[k + 7] -= x[k + 7] * y;
    }
    for (; k < n; k++) a[k] -= x[k] * y;
}

/* A[r, j] -= x[r] * y[j] for r < nr, j < nc, with A's strides as a block's;
 * the loop along the unit stride is innermost (vectorizable). Per element
 * this is the reference's w1[j] -= er * U[i, j]. */
static void rank1_sub(float *A, const gptq_blk *b, int64_t nr, int64_t nc, const float *x,
                      int64_t xs, const float *y)
{
    if (b->cs == 1) {
        for (int64_t r = 0; r < nr; r++) axpy_neg(A + r * b->rs, y, x[r * xs], nc);
    } else {
        QZ_ASSERT(xs == 1);
        for (int64_t j = 0; j < nc; j++) axpy_neg(A + j * b->cs, x, y[j], nr);
    }
}

/* Column i of the block: q, err = (w - q) / U[i,i], loss; then the columns
 * (i, end) of W1 are updated by err (x) U[i, i+1:end]. end is the block's end
 * in the reference solver, the sub-block's end in the blocked one. */
static int gptq_column(gptq_state *s, const gptq_blk *b, int64_t i, int64_t end, double *loss,
                       qz_error *err)
{
    const int64_t c = i - b->i1;
    const float *Ui = s->U + i * s->cols + b->i1; /* U[i, i1:i2] */
    const float d = Ui[c];
    const float *scale = NULL, *offset = NULL;
    if (s->quant) {
        int64_t k = gptq_group_for(s, i);
        gptq_use_group(s, k);
        scale = s->res->scales + k * s->rows;
        if (s->res->offsets) offset = s->res->offsets + k * s->rows;
    }
    if (s->keep_fn) {
        qz_gptq_colstate st = {i, b->i1, b->i2, s->rows, s->cols, s->W1, b->rs, b->cs,
                               b->i1 + end, s->U, s->perm};
        int rc = s->keep_fn(s->keep_ctx, &st, s->keep, err);
        if (rc < 0) return rc;
    }
    float *w1 = s->W1 + c * b->cs, *e1 = s->Err1 + c * b->cs;
    uint8_t *c1 = s->C1 ? s->C1 + c * b->cs : NULL, none;
    double l = 0.0;
    for (int64_t r = 0; r < s->rows; r++) {
        float w = w1[r * b->rs];
        float q = gptq_target(s, r, w, scale, offset, c1 ? c1 + r * b->rs : &none);
        float e = w - q;
        l += 0.5 * (double)((e * e) / (d * d));
        e1[r * b->rs] = e / d;
        w1[r * b->rs] = q;
    }
    *loss += l;
    rank1_sub(w1 + b->cs, b, s->rows, end - c - 1, e1, b->rs, Ui + c + 1);
    return QZ_OK;
}

/* C (rows, nc) -= Err1[:, a:m] * Ub, Ub = the (m-a, nc) slice of U at
 * U[i1+a, first column], row stride cols. cm: C is column-major with column
 * stride ldc (a slice of the blocked solver's W1); else row-major with row
 * stride ldc (W for the lazy update), Err1 in either block layout. */
static void gptq_gemm_sub(const gptq_state *s, const gptq_blk *b, int64_t a, int64_t m,
                          const float *Ub, int64_t nc, float *C, int64_t ldc, int cm)
{
    const float *E = s->Err1 + a * b->cs;
    const blasint M = (blasint)s->rows, N = (blasint)nc, K = (blasint)(m - a);
    if (cm) { /* column-major C (rows, nc): C -= E * Ub, Ub row-major = transposed */
        QZ_ASSERT(b->rs == 1);
        cblas_sgemm(CblasColMajor, CblasNoTrans, CblasTrans, M, N, K, -1.0f, E,
                    (blasint)b->cs, Ub, (blasint)s->cols, 1.0f, C, (blasint)ldc);
    } else    /* row-major C: E is (rows, K) with strides (rs, cs) */
        cblas_sgemm(CblasRowMajor, b->cs == 1 ? CblasNoTrans : CblasTrans, CblasNoTrans, M, N,
                    K, -1.0f, E, (blasint)(b->cs == 1 ? b->rs : b->cs), Ub,
                    (blasint)s->cols, 1.0f, C, (blasint)ldc);
}

/* Columns [a, e) of the block (local indices), all updates from the block's
 * columns before a already applied. Wider than s->leaf: split at m (a
 * multiple of s->align from the block start), solve the left part, apply its
 * errors to the right part with one sgemm, solve the right part. */
static int gptq_span(gptq_state *s, const gptq_blk *b, int64_t a, int64_t e, double *loss,
                     qz_error *err)
{
    int64_t half = (e - a) / 2 / s->align * s->align, m = a + (half > 0 ? half : s->align);
    if (e - a <= s->leaf || m >= e) {
        for (int64_t c = a; c < e; c++) {
            int rc = gptq_column(s, b, b->i1 + c, e, loss, err);
            if (rc < 0) return rc;
        }
        return QZ_OK;
    }
    int rc = gptq_span(s, b, a, m, loss, err);
    if (rc < 0) return rc;
    gptq_gemm_sub(s, b, a, m, s->U + (b->i1 + a) * s->cols + b->i1 + m, e - m,
                  s->W1 + m * b->cs, b->cs, 1);
    return gptq_span(s, b, m, e, loss, err);
}

/* dst(r, j) = src(r, j) for r < nr, j < nc; element (r, j) of a matrix
 * with strides (r_s, j_s) is at [r * r_s + j * j_s]. One side is always W
 * or the codes (row-major), the other a block. TILE rows at a time, column
 * by column: a pass touches TILE rows of W (TILE lines per cache set even
 * when the row stride is a power of two) and one page of a column-major
 * block per column, instead of a page per element. For the weights (f32)
 * and the codes (u8). */
#define COPY_STRIDED(T, dst, d_r, d_j, src, s_r, s_j, nr, nc)                        \
    do {                                                                            \
        T *restrict d_ = (dst);                                                     \
        const T *restrict s_ = (src);                                               \
        for (int64_t r0 = 0; r0 < (nr); r0 += TILE) {                               \
            const int64_t r1 = r0 + TILE < (nr) ? r0 + TILE : (nr);                 \
            for (int64_t j = 0; j < (nc); j++)                                      \
                for (int64_t r = r0; r < r1; r++)                                   \
                    d_[r * (d_r) + j * (d_j)] = s_[r * (s_r) + j * (s_j)];          \
        }                                                                           \
    } while (0)

static void copy_f32(float *dst, int64_t d_r, int64_t d_j, const float *src, int64_t s_r,
                     int64_t s_j, int64_t nr, int64_t nc)
{
    COPY_STRIDED(float, dst, d_r, d_j, src, s_r, s_j, nr, nc);
}

static void copy_u8(uint8_t *dst, int64_t d_r, int64_t d_j, const uint8_t *src, int64_t s_r,
                    int64_t s_j, int64_t nr, int64_t nc)
{
    COPY_STRIDED(uint8_t, dst, d_r, d_j, src, s_r, s_j, nr, nc);
}

static int gptq_block(gptq_state *s, int64_t i1, int64_t i2, double *loss, qz_error *err)
{
    const int64_t n = i2 - i1, cols = s->cols;
    const int ref = s->o->solver == QZ_GPTQ_SOLVER_REF;
    const gptq_blk b = {i1, i2, n, ref ? n : 1, ref ? 1 : COL_LD(s->rows)};
    float *Wb = s->W + i1;
    copy_f32(s->W1, b.rs, b.cs, Wb, cols, 1, s->rows, n);
    int rc = gptq_span(s, &b, 0, n, loss, err);
    if (rc < 0) return rc;
    copy_f32(Wb, cols, 1, s->W1, b.rs, b.cs, s->rows, n);
    if (s->C1) copy_u8(s->res->codes + i1, cols, 1, s->C1, b.rs, b.cs, s->rows, n);
    if (i2 < cols) /* lazy batch update: W[:, i2:] -= Err1 * U[i1:i2, i2:] */
        gptq_gemm_sub(s, &b, 0, n, s->U + i1 * cols + i2, cols - i2, s->W + i2, cols, 0);
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
    if (qz_first_nonfinite(s->W, s->rows * s->cols) >= 0 || !isfinite(s->res->loss))
        return qz_fail(err, QZ_EINTERNAL,
                       "gptq: non-finite result (loss %g, damp %g) for a (%lld, %lld) weight",
                       s->res->loss, s->res->damp_used, (long long)s->rows,
                       (long long)s->cols);
    return QZ_OK;
}

int qz_gptq_run(float *W, int64_t rows, int64_t cols, float *H, const qz_gptq_opts *o,
                qz_gptq_keep_fn keep_fn, void *keep_ctx, int64_t keep_span, qz_quant_result *res,
                qz_error *err)
{
    memset(res, 0, sizeof *res);
    int rc = gptq_check(rows, cols, o, err);
    if (!rc && keep_span < 1)
        rc = qz_fail(err, QZ_EINPUT, "gptq: keep_span = %lld: must be >= 1", (long long)keep_span);
    if (!rc) rc = gptq_check_finite(W, rows, cols, H, err);
    if (rc) return rc;
    gptq_state s = {.W = W, .U = H, .rows = rows, .cols = cols, .o = o,
                    .grid = {o->bits, o->sym, o->mse}, .quant = o->bits != 0 || o->fixed,
                    .static_groups = o->static_groups || o->fixed,
                    .keep_fn = keep_fn, .keep_ctx = keep_ctx, .res = res};
    s.gs = o->fixed ? o->fixed->group_size : o->group_size;
    s.bs = o->block_size < cols ? o->block_size : cols;
    s.align = keep_span;
    s.leaf = o->solver == QZ_GPTQ_SOLVER_REF ? s.bs : QZ_GPTQ_LEAF;
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
    return qz_gptq_run(W, rows, cols, H, o, keep_mask ? keep_from_mask : NULL, &mc, 1, res, err);
}

/* ------------------------------------------------------------------------- */
/* Hessian accumulation                                                       */

/* Copies the upper triangle onto the lower one, in TILE x TILE tiles: the
 * TILE source rows of a tile share cache sets when n is a power of two, so
 * TILE stays within the L1 associativity. */
void qz_hessian_symmetrize(float *H, int64_t n)
{
    for (int64_t i0 = 0; i0 < n; i0 += TILE)
        for (int64_t j0 = 0; j0 <= i0; j0 += TILE)
            for (int64_t i = i0; i < i0 + TILE && i < n; i++)
                for (int64_t j = j0; j < j0 + TILE && j < i; j++) H[i * n + j] = H[j * n + i];
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
    int64_t bad = qz_first_nonfinite(X, tokens * cols);
    if (bad >= 0)
        return qz_fail(err, QZ_EINPUT, "hessian: activation (%lld, %lld) has %g at [%lld, %lld]",
                       (long long)tokens, (long long)cols, (double)X[bad], (long long)(bad / cols),
                       (long long)(bad % cols));
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
    return QZ_OK;
}
