/* sparsegpt.h - SparseGPT (Frantar & Alistarh 2023, "SparseGPT: Massive
 * Language Models Can Be Accurately Pruned in One-Shot", Alg. 1), as the
 * IST-DASLab reference sparsegpt.py fasterprune(sparsity, prunen, prunem,
 * blocksize, percdamp) (FORMATS-AND-ALGORITHMS.md 7), on GPTQ's solver.
 *
 * Shapes follow torch.nn.Linear: W (rows = out_features, cols = in_features)
 * row-major fp32; H (cols, cols) = the input Hessian from qz_hessian_add, symmetrized.
 *
 * The solver is qz_gptq_run (gptq.h): the same dead columns, damping (with
 * its retries), U = upper Cholesky factor of H^-1, in-block and lazy block
 * updates. Only the mask is chosen here, through GPTQ's per-column keep hook:
 *  - unstructured ("adaptive mask selection"): at each block start i1
 *    (block [i1, i2)), score = W1^2 / diag(U)[i1:i2]^2 over the whole
 *    (rows, i2-i1) slice of the block-start weights W1; exactly
 *    k = floor(rows * (i2-i1) * sparsity) entries are pruned: the k smallest
 *    scores, ties broken by the lower row-major index within the block.
 *    DEVIATION: the reference prunes score <= sorted[k], i.e. k+1 entries
 *    plus any ties; we prune exactly k, so sparsity counts are exact.
 *  - N:M: at each column i with (i - i1) % M == 0, per row, the N smallest of
 *    W1[:, i:i+M]^2 / diag(U)[i:i+M]^2 on the running (already updated) block
 *    are pruned; ties go to the lower column index (the reference's topk
 *    leaves ties unspecified). sparsity is ignored, as in the reference.
 * Then every column gets q = w (0 where pruned), quantized on the GPTQ grid
 * when gptq.bits > 0 (a pruned weight gets code = zero point, i.e. exactly
 * 0: joint sparsity + quantization, the reference's --wbits); the error
 * (w - q) / U[i,i] is propagated as in GPTQ.
 */
#ifndef QZ_SPARSEGPT_H
#define QZ_SPARSEGPT_H

#include <stdint.h>

#include "gptq.h"
#include "qz_common.h"
#include "quant_grid.h"

typedef struct qz_sparsegpt_opts {
    double sparsity;      /* unstructured: fraction pruned in each block, in [0, 1) */
    int prune_n, prune_m; /* N:M: prune_n of every prune_m consecutive input weights of a
                             row are pruned; 0, 0 = unstructured */
    qz_gptq_opts gptq;    /* damp (0.01), block_size (128), and bits (0 = prune only) /
                             group_size / sym / mse / static_groups of the joint
                             quantization; act_order must be 0 */
} qz_sparsegpt_opts;

/* The reference's defaults: 50% unstructured, damp 0.01, block 128, no
 * quantization (gptq = qz_gptq_opts_default() with bits = 0). */
qz_sparsegpt_opts qz_sparsegpt_opts_default(void);

/* Prunes (and with gptq.bits > 0 quantizes) W in place.
 *   H    (cols, cols) fp32, symmetric; consumed as workspace (qz_gptq_run).
 *   keep (rows, cols) or NULL: receives the mask (1 kept, 0 pruned) in
 *        original column order (unspecified on failure). Pruned weights are
 *        exactly 0.0f in W.
 *   res  as qz_gptq_run: codes/scales/zeros/g_idx only when gptq.bits > 0;
 *        loss and damp_used always. Zeroed on failure (free with
 *        qz_quant_result_free).
 * Errors: QZ_EINPUT for bad options (sparsity outside [0, 1), N:M with not
 * 0 < N < M, block_size or cols not a multiple of M, act_order set, or any
 * option qz_gptq_run refuses), a bad shape, non-finite W or H, or an H that
 * stays indefinite; QZ_EINTERNAL for memory. */
int qz_sparsegpt_prune(float *W /* (rows, cols) */, int64_t rows, int64_t cols,
                       float *H /* (cols, cols) */, const qz_sparsegpt_opts *o,
                       uint8_t *keep /* (rows, cols) or NULL */, qz_quant_result *res,
                       qz_error *err);

#endif
