/* gptq.h - GPTQ (Frantar et al. 2022, "GPTQ: Accurate Post-Training
 * Quantization for Generative Pre-trained Transformers", Alg. 1), exactly as
 * the IST-DASLab reference gptq.py fasterquant, plus its Hessian accumulator.
 *
 * Shapes follow torch.nn.Linear: W (rows = out_features, cols = in_features)
 * row-major fp32; H (cols, cols) = the input Hessian 2/N * sum x x^T.
 *
 * What the solver does (FORMATS-AND-ALGORITHMS.md 1b, in this order):
 *  1. group_size == -1: per-row params from the whole W (before step 2).
 *  2. dead columns (H[j,j] == 0): H[j,j] = 1, W[:, j] = 0.
 *  3. static_groups (group_size > 0): params of every run of group_size
 *     columns in the ORIGINAL order, from W after step 2.
 *  4. act_order: perm = argsort(diag H, descending). torch.argsort is not
 *     stable; we break ties by ascending column index (a stable sort), so the
 *     result is deterministic; ties are in practice only dead columns.
 *  5. damping: H += damp * mean(diag H) * I.
 *  6. U = upper Cholesky factor of H^-1 (H^-1 = U^T U).
 *     DEVIATION: steps 5-6 are computed in fp64 with LAPACK and U is rounded
 *     to fp32; the reference does them in fp32 as chol -> cholesky_inverse ->
 *     chol(upper). We get the same U (exactly, in exact arithmetic) as the
 *     inverse of the "reverse Cholesky" factor: J H J = L L^T (dpotrf),
 *     U = J L^-1 J (dtrtri), J = column reversal; half the flops. If the
 *     factorization fails, damp is multiplied by 10 and it is retried, at
 *     most QZ_GPTQ_MAX_DAMP_RETRIES times; res->damp_used reports it.
 *  7. column loop in blocks of block_size (lazy batch updates): column i gets
 *     q = quantize(w), err = (w - q) / U[i,i], the rest of the block is
 *     updated by err (x) U[i, i+1:]; after the block W[:, i2:] -= Err1 *
 *     U[i1:i2, i2:] (cblas_sgemm, fp32); loss += (w - q)^2 / U[i,i]^2 / 2.
 *     Two solvers compute the in-block updates (opts.solver):
 *     - QZ_GPTQ_SOLVER_REF: the reference's order, one rank-1 update of the
 *       rest of the block per column (the test oracle);
 *     - QZ_GPTQ_SOLVER_BLOCKED (default): the same lazy-update idea applied
 *       recursively inside the block: a span of columns is split in two, the
 *       left half solved, its errors applied to the right half with one
 *       sgemm, the right half solved; spans of at most QZ_GPTQ_LEAF columns
 *       run column by column on a column-major copy of the block (each step
 *       a contiguous, vectorizable loop over the rows). Every value is the
 *       same sum of products as in the reference, summed in another order
 *       (sgemm's), so results differ from REF by fp32 rounding only; a code
 *       can differ where w / scale lies within rounding of a .5 tie.
 *     Group params (non-static) are found when i % group_size == 0, over
 *     columns [i, i + group_size) of the permuted W in its BLOCK-START state,
 *     not the running block copy: the reference's stale-weight quirk,
 *     reproduced for bit-exactness (it is exact when group_size is a multiple
 *     of block_size; with gs = 32 or 64 groups starting inside a block see
 *     weights without the block's earlier updates).
 *  8. undo the permutation.
 * Everything outside step 6 is fp32 in the reference's operation order; the
 * only other differences are summation orders: inside sgemm (lazy updates),
 * and, with the blocked solver, of the in-block updates and of the loss
 * (one fp64 partial sum per column).
 *
 * Outputs (qz_quant_result, see quant_grid.h), all in ORIGINAL column order:
 *   codes (rows, cols); scales/zeros (n_groups, rows) in the order g_idx
 *   refers to; g_idx[j] = invperm[j] / gs with act_order and without static
 *   groups (scales are in permuted group order), j / gs otherwise; gs = -1
 *   means one group. n_groups = ceil(cols / gs).
 */
#ifndef QZ_GPTQ_H
#define QZ_GPTQ_H

#include <stdint.h>

#include "qz_common.h"
#include "quant_grid.h"

#define QZ_GPTQ_MAX_DAMP_RETRIES 5

/* Widest in-block span the blocked solver solves column by column: 128 ->
 * 64 -> 32, three sgemm calls per block of 128. Narrower leaves save a few
 * rank-1 updates but add small sgemm calls, each a thread hand-off in a
 * multithreaded OpenBLAS. */
#define QZ_GPTQ_LEAF 32

/* How the in-block updates are computed (step 7); both give the same
 * result up to fp32 summation order. */
typedef enum qz_gptq_solver {
    QZ_GPTQ_SOLVER_BLOCKED = 0, /* recursive sub-blocks with sgemm (default) */
    QZ_GPTQ_SOLVER_REF = 1,     /* the reference's column-by-column order */
    QZ_GPTQ_SOLVER_COUNT
} qz_gptq_solver;

/* "blocked", "ref"; "unknown" for anything else. */
const char *qz_gptq_solver_name(int solver);

typedef struct qz_gptq_opts {
    int bits;           /* 2, 3, 4, 8; or 0 = no quantization (prune-only, see below) */
    int64_t group_size; /* -1 = per channel (one group), else > 0 */
    int sym;            /* symmetric grid (z = (maxq+1)/2) */
    int act_order;      /* process columns by descending H[j,j] ("desc_act") */
    int static_groups;  /* group params up front from the original W (needs group_size > 0) */
    int mse;            /* MSE shrink search in find_params */
    double damp;        /* relative damping (percdamp), > 0; reference 0.01 */
    int block_size;     /* lazy-update block, > 0; reference 128 */
    /* Optional: group parameters fixed up front by the caller (e.g. a GGUF
     * block grid, ggml_grid.h). Then bits, group_size, sym, mse and
     * static_groups are ignored: groups are fixed->group_size columns in the
     * original order (static groups, so act-order only changes the order
     * columns are rounded in), codes in [0, fixed->maxq] on the affine grid
     * of quant_grid.h, and res->offsets holds the offsets. Both solvers
     * honour it (one rounding step serves both). */
    const qz_fixed_grid *fixed;
    int solver;         /* qz_gptq_solver; 0 = blocked */
} qz_gptq_opts;

/* The reference's defaults: 4-bit asym per channel, damp 0.01, block 128;
 * the blocked solver. */
qz_gptq_opts qz_gptq_opts_default(void);

/* GPTQ-quantizes W in place (on return W holds the dequantized weights).
 *   H         (cols, cols) fp32, symmetric (both triangles valid). Consumed as
 *             workspace: its contents on return are unspecified.
 *   keep_mask (rows, cols) or NULL. keep_mask[r*cols + j] == 0 forces the
 *             weight to exactly 0 (code = zero point) when column j is
 *             processed; the error is still propagated (prune-then-quantize).
 *   res       filled on success (free with qz_quant_result_free); zeroed on
 *             failure.
 * Errors: QZ_EINPUT for bad options/shape, non-finite W or H, or an H that is
 * not positive definite even after the damping retries; QZ_EINTERNAL for
 * memory or a non-finite result. */
int qz_gptq_quantize(float *W /* (rows, cols) */, int64_t rows, int64_t cols,
                     float *H /* (cols, cols) */, const qz_gptq_opts *o,
                     const uint8_t *keep_mask /* (rows, cols) or NULL */,
                     qz_quant_result *res, qz_error *err);

/* ---------------------------------------------------------------------------
 * The column loop with a hook, for methods that share GPTQ's solver
 * (SparseGPT: the same dead columns, damping, U and lazy updates; only the
 * per-column target differs: q = w with pruned entries zeroed, optionally
 * quantized). Before column i is processed, keep_fn fills keep[r] (1 = keep,
 * 0 = force q to 0) for every row. It sees the running block state, so it can
 * pick SparseGPT's block-wise mask at i == i1 or an N:M mask at (i-i1) % M == 0:
 * at column i, the block's columns [i, cur_end) hold the weights updated by
 * every earlier column; at a block start that is the whole block. The
 * blocked solver splits its sub-blocks at multiples of keep_span from the
 * block start, so a hook reading columns [i, i + keep_span) at columns i that
 * are multiples of keep_span from the block start always sees them current.
 * With o->bits == 0 nothing is quantized (q = w where kept): res then has only
 * loss and damp_used (codes/scales/zeros/g_idx NULL, n_groups 0).
 */
typedef struct qz_gptq_colstate {
    int64_t i;           /* column about to be processed, in loop (permuted) order */
    int64_t i1, i2;      /* current block [i1, i2) */
    int64_t rows, cols;
    const float *W1;     /* (rows, i2-i1) block, element (r, j) at W1[r*rs + j*cs]
                            (qz_gptq_w1): columns < i-i1 hold the final q */
    int64_t rs, cs;      /* W1's strides */
    int64_t cur_end;     /* loop columns [i, cur_end) of W1 are up to date */
    const float *U;      /* (cols, cols) upper Cholesky factor of H^-1, loop order */
    const int32_t *perm; /* (cols) loop position -> original column; NULL = identity */
} qz_gptq_colstate;

/* W1 element (r, j), j relative to the block start i1. */
static inline float qz_gptq_w1(const qz_gptq_colstate *st, int64_t r, int64_t j)
{
    return st->W1[r * st->rs + j * st->cs];
}

typedef int (*qz_gptq_keep_fn)(void *ctx, const qz_gptq_colstate *st,
                               uint8_t *keep /* (rows) */, qz_error *err);

/* qz_gptq_quantize with a keep hook instead of a mask (keep_fn may be NULL).
 * keep_span >= 1: see above (1 when the hook reads at most column i).
 * A failing hook (negative return) aborts the run with its status. */
int qz_gptq_run(float *W /* (rows, cols) */, int64_t rows, int64_t cols,
                float *H /* (cols, cols) */, const qz_gptq_opts *o, qz_gptq_keep_fn keep_fn,
                void *keep_ctx, int64_t keep_span, qz_quant_result *res, qz_error *err);

/* ---------------------------------------------------------------------------
 * Hessian accumulation (gptq.py add_batch): with b = n_seqs sequences in X,
 *     H <- H * n/(n+b);  n <- n + b;  H <- H + (2/n) X^T X
 * so that H = 2/N_seq * sum_tokens x x^T. fp32 with cblas_ssyrk (the scale
 * factors are applied as ssyrk's alpha/beta rather than the reference's
 * sqrt(2/n) on X: a last-bit difference). Only the upper triangle
 * (j >= i) is updated: call qz_hessian_symmetrize once after the last batch,
 * before H is read whole (the solvers read both triangles). Start with
 * H = 0 and *n_seen = 0.
 * Errors: QZ_EINPUT for tokens < 0, n_seqs <= 0 or non-finite X. */
int qz_hessian_add(float *H /* (cols, cols) */, int64_t *n_seen,
                   const float *X /* (tokens, cols) */, int64_t tokens, int64_t cols,
                   int64_t n_seqs, qz_error *err);
/* Copies the upper triangle of H (cols, cols) onto the lower one. */
void qz_hessian_symmetrize(float *H, int64_t cols);

#endif
