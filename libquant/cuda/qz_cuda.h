/* qz_cuda.h - qz's CUDA runtime: devices, device buffers, and the kernels
 * that run a packed checkpoint on the GPU (docs/cuda.md). Plain C: no CUDA
 * type crosses this header, so every caller compiles with cc alone.
 *
 * Two builds implement it. With nvcc (qz_cuda.cu) everything runs on the
 * GPU; without it (qz_cuda_none.c) every function that needs a GPU fails
 * with QZ_EINPUT and a message saying how to build with CUDA, so callers
 * need no #ifdef. qz_cuda_built() says which one was linked.
 *
 * Errors: QZ_EINPUT "no CUDA device" when the build has CUDA but the
 * machine has no usable GPU, or for a bad argument (shape, layout);
 * QZ_EINTERNAL for a failed CUDA call, with the statement, file:line and
 * device in the message.
 *
 * Memory: pointers named d_* are device pointers from qz_cuda_alloc. Every
 * kernel call is asynchronous on the context's one stream; a download or
 * qz_cuda_sync waits for it. Activations are FP32, row-major, one row per
 * token.
 *
 * Kernels and their CPU twins (tests/cuda/test_cuda_kernels.c checks each
 * against its twin):
 *   qz_cuda_linear      dequantize-in-register matmul   qz_gptq_dequantize /
 *                       qz_awq_dequantize / qz_ct_read_linear + sgemm,
 *                       W8A8: qz_fake_quant_sym(token) on the input
 *   qz_cuda_sparse24_decompress                         qz_sparse24_read_linear
 *   qz_cuda_embed, _rmsnorm, _rope, _attention, _swiglu, _add
 *                                                       model.c's layer ops
 *   qz_cuda_nll         log-softmax + NLL, reduced      eval.c's scoring
 * The packed index arithmetic is formats/pack_index.h, shared with the C
 * readers in formats/.
 */
#ifndef QZ_CUDA_H
#define QZ_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "qz_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 1 when this build contains the CUDA runtime, 0 for the no-CUDA build. */
int qz_cuda_built(void);

/* ----------------------------------------------------------------- devices */

typedef struct qz_cuda_device_info {
    int index;
    char name[256];
    int cc_major, cc_minor; /* compute capability */
    int sm_count;
    size_t total_bytes;     /* global memory */
    double peak_bandwidth;  /* bytes/s from the memory clock and bus width; 0 when unknown */
} qz_cuda_device_info;

/* Number of usable devices in *n (> 0), or QZ_EINPUT "no CUDA device". */
int qz_cuda_device_count(int *n, qz_error *err);
int qz_cuda_device_get_info(int device, qz_cuda_device_info *info, qz_error *err);

/* ----------------------------------------------------- context and buffers */

/* One device and one stream. */
typedef struct qz_cuda qz_cuda;

/* Opens device (0-based); QZ_EINPUT naming the device when it does not
 * exist. qz_cuda_close(NULL) is a no-op. */
int qz_cuda_open(qz_cuda **out, int device, qz_error *err);
void qz_cuda_close(qz_cuda *g);

int qz_cuda_alloc(qz_cuda *g, void **d_ptr, size_t bytes, qz_error *err);
void qz_cuda_free(qz_cuda *g, void *d_ptr); /* NULL is a no-op */
/* Host <-> device copies on the stream; download waits for it. */
int qz_cuda_upload(qz_cuda *g, void *d_dst, const void *src, size_t bytes, qz_error *err);
int qz_cuda_download(qz_cuda *g, void *dst, const void *d_src, size_t bytes, qz_error *err);
int qz_cuda_sync(qz_cuda *g, qz_error *err);

/* ----------------------------------------------------------------- linears */

typedef enum qz_cuda_layout {
    QZ_CUDA_DENSE = 0, /* w: float (out, in) */
    QZ_CUDA_GPTQ = 1,  /* w: qweight int32 (in*bits/32, out), qzeros (n_groups, out*bits/32) */
    QZ_CUDA_AWQ = 2,   /* w: qweight int32 (in, out/8), qzeros (n_groups, out/8) */
    QZ_CUDA_W8A8 = 3,  /* w: int8 (out, in); activations quantized per token */
    QZ_CUDA_LAYOUT_COUNT
} qz_cuda_layout;

const char *qz_cuda_layout_name(qz_cuda_layout l); /* "dense", "gptq", "awq", "w8a8" or "?" */

/* A linear y = x W^T + bias whose W stays packed on the device. */
typedef struct qz_cuda_linear {
    qz_cuda_layout layout;
    int64_t out, in;
    int bits;               /* GPTQ 2, 3, 4, 8; AWQ 4; W8A8 8; DENSE 32 */
    int64_t group_size;     /* GPTQ / AWQ when d_g_idx is NULL: group of input k is k / group_size */
    int64_t n_groups;       /* rows of scales / qzeros */
    int zero_plus_one;      /* GPTQ v1 ("gptq"): qzeros hold z - 1 */
    int per_channel;        /* W8A8: scales (out), else (1) */
    const void *d_w;        /* see the layout */
    const int32_t *d_qzeros;
    const float *d_scales;  /* GPTQ / AWQ (n_groups, out) FP32; W8A8 (out) or (1) */
    const int32_t *d_g_idx; /* GPTQ (in) or NULL */
    const float *d_bias;    /* (out) or NULL */
} qz_cuda_linear;

/* QZ_OK when l's shape, bits and group fields are consistent with its
 * layout's rules (gptq_pack.h, awq_pack.h); QZ_EINPUT naming the field. */
int qz_cuda_linear_check(const qz_cuda_linear *l, qz_error *err);

/* Device scratch bytes qz_cuda_linear_apply needs for T tokens: W8A8 holds
 * the int8 activations (T, in) and, from qz_cuda_w8a8_scales_offset on,
 * their per-token FP32 scales (T); 0 for the other layouts. */
size_t qz_cuda_linear_workspace(const qz_cuda_linear *l, int64_t T);

static inline size_t qz_cuda_w8a8_scales_offset(int64_t T, int64_t in)
{
    return ((size_t)(T * in) + 15) / 16 * 16;
}

/* d_y (T, out) = d_x (T, in) W^T + bias, W dequantized in registers.
 * W8A8: x is quantized per token to int8 (scale amax/127, round half to
 * even, as qz_fake_quant_sym), multiplied with int32 accumulation, and
 * scaled back by x's and W's scales. d_work: qz_cuda_linear_workspace bytes. */
int qz_cuda_linear_apply(qz_cuda *g, const qz_cuda_linear *l, float *d_y, const float *d_x, int64_t T, void *d_work,
                         size_t work_bytes, qz_error *err);

/* d_w (out, in) FP32 from sparse-24-bitmask values d_vals (out, in/2) FP32
 * and d_bitmask (out, ceil(in/8)); the mask must have exactly 2 bits per
 * group (the caller checks: qz_sparse24_read_linear's rule). */
int qz_cuda_sparse24_decompress(qz_cuda *g, float *d_w, const float *d_vals, const uint8_t *d_bitmask, int64_t out,
                                int64_t in, qz_error *err);

/* ------------------------------------------------------------ decoder ops */

/* d_x (T, dim) = rows d_tokens[t] of d_table (vocab, dim); ids are checked
 * by the caller. */
int qz_cuda_embed(qz_cuda *g, float *d_x, const float *d_table, const int32_t *d_tokens, int64_t T, int64_t dim,
                  qz_error *err);
/* d_y (n, dim) = rmsnorm(d_x) * d_w (sum of squares in double, as qz_rmsnorm). */
int qz_cuda_rmsnorm(qz_cuda *g, float *d_y, const float *d_x, const float *d_w, int64_t n, int64_t dim, double eps,
                    qz_error *err);
/* Rotate-half RoPE on d_x (T, n_heads, head_dim) in place at positions
 * 0..T-1 with tables d_cos / d_sin (>= T, head_dim/2), as model.c. */
int qz_cuda_rope(qz_cuda *g, float *d_x, const float *d_cos, const float *d_sin, int64_t T, int64_t n_heads,
                 int64_t head_dim, qz_error *err);
/* Causal grouped-query attention: d_out (T, n_heads*hd) = softmax(q k^T /
 * sqrt(hd)) v per head, query head h reading kv head h / (n_heads /
 * n_kv_heads); window > 0 keeps keys t-window+1..t (sliding window).
 * d_q (T, n_heads*hd), d_k / d_v (T, n_kv_heads*hd). */
int qz_cuda_attention(qz_cuda *g, float *d_out, const float *d_q, const float *d_k, const float *d_v, int64_t T,
                      int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, int64_t window, qz_error *err);
/* d_gate[i] = silu(d_gate[i]) * d_up[i] for n elements. */
int qz_cuda_swiglu(qz_cuda *g, float *d_gate, const float *d_up, int64_t n, qz_error *err);
/* d_x[i] += d_y[i] for n elements. */
int qz_cuda_add(qz_cuda *g, float *d_x, const float *d_y, int64_t n, qz_error *err);
/* Row t of d_logits (n, vocab): d_nll[t] = logsumexp(row) - row[d_target[t]]
 * (in double, then stored as float), and *sum = the sum over the n rows,
 * reduced on the device and downloaded. d_nll may be NULL when only the sum
 * is wanted; d_work: n + 1 doubles. */
int qz_cuda_nll(qz_cuda *g, double *sum, float *d_nll, const float *d_logits, const int32_t *d_target, int64_t n,
                int64_t vocab, double *d_work, qz_error *err);

#ifdef __cplusplus
}
#endif

#endif
