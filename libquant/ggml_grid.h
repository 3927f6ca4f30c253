/* ggml_grid.h - quantizing onto llama.cpp's block formats (GGUF output):
 * round to nearest, or GPTQ with each block's parameters fixed first.
 *
 * The block parameters (FP16 d / dmin, K-quant sub-scales) are chosen from
 * the weights by formats/gguf_quants.h (llama.cpp's reference choice, or
 * its importance-weighted one given per-column importances, in their
 * stored form); then every weight is rounded to the grid they
 * define: by round to nearest, or by GPTQ's column loop with error
 * feedback (gptq.h with opts.fixed: the blocks play static groups of
 * grid_group columns; with act-order GPTQ visits columns by descending
 * Hessian diagonal, but each column still belongs to the block of 32 (or
 * 256) consecutive input columns it is stored in, whose parameters were
 * fixed before the loop).
 */
#ifndef QZ_GGML_GRID_H
#define QZ_GGML_GRID_H

#include "gguf_quants.h"
#include "gptq.h"

/* 1 when qz writes type t (F32, F16 or a type with params). */
int qz_ggml_writable(int t);

/* Round to nearest: a row of ne0 weights x into type t at dst
 * (qz_ggml_row_size(t, ne0) bytes), the block parameters weighted by the
 * ne0 importances qw (llama-quantize --imatrix's choice) or, qw NULL, by
 * llama.cpp's reference rule. QZ_EINPUT when qz does not write t or ne0 is
 * not a multiple of its block size. */
int qz_ggml_rtn_row(int t, const float *x, const float *qw, int64_t ne0, void *dst, qz_error *err);

/* W (rows, cols) row-major (a row is a GGUF row: cols = ne0) onto type t's
 * grid: parameters from W first - weighted by qw, the cols importances of
 * the input columns (finite, >= 0; GPTQ passes diag(H) before damping, the
 * imatrix llama-imatrix would measure up to a factor) or, qw NULL, by
 * llama.cpp's reference rule - then round to nearest (H NULL) or GPTQ
 * with H (cols, cols) and o (bits, group_size, sym, mse, static_groups
 * ignored; damp, block_size, act_order used). W then holds the values the
 * file dequantizes to; res gets the codes (rows, cols), the grid as groups
 * of grid_group columns (scales/zeros/offsets), ggml_type = t and blocks =
 * the rows' blocks with their parameters set (qz_ggml_result_pack fills in
 * the codes). Errors as qz_gptq_quantize, QZ_EINPUT for a t qz cannot
 * quantize or cols not a multiple of its block size. */
int qz_ggml_quantize_linear(int t, float *W /* (rows, cols) */, int64_t rows, int64_t cols, float *H /* (cols, cols) or NULL */,
                            const float *qw /* (cols) or NULL */, const qz_gptq_opts *o, qz_quant_result *res, qz_error *err);

/* res->blocks become the tensor's bytes: res->codes packed into them. */
void qz_ggml_result_pack(qz_quant_result *res);

#endif
