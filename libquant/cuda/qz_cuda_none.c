/* qz_cuda_none.c - qz_cuda.h for a build without nvcc: every call that
 * needs a GPU fails with QZ_EINPUT and says how to get a CUDA build, so
 * callers need no #ifdef (the Makefile links this file instead of
 * qz_cuda.cu when nvcc is absent, and in the SAN build). */
#include "qz_cuda.h"

static int no_cuda(qz_error *err)
{
    return qz_fail(err, QZ_EINPUT, "qz was built without CUDA: install the CUDA toolkit (nvcc on PATH, or make "
                   "NVCC=/path/to/nvcc) and rebuild with a plain make; see docs/cuda.md");
}

int qz_cuda_built(void) { return 0; }

int qz_cuda_device_count(int *n, qz_error *err)
{
    *n = 0;
    return no_cuda(err);
}

int qz_cuda_device_get_info(int device, qz_cuda_device_info *info, qz_error *err)
{
    (void)device;
    (void)info;
    return no_cuda(err);
}

int qz_cuda_open(qz_cuda **out, int device, qz_error *err)
{
    (void)device;
    *out = NULL;
    return no_cuda(err);
}

void qz_cuda_close(qz_cuda *g) { (void)g; }

int qz_cuda_alloc(qz_cuda *g, void **d_ptr, size_t bytes, qz_error *err)
{
    (void)g, (void)bytes;
    *d_ptr = NULL;
    return no_cuda(err);
}

void qz_cuda_free(qz_cuda *g, void *d_ptr) { (void)g, (void)d_ptr; }

int qz_cuda_upload(qz_cuda *g, void *d_dst, const void *src, size_t bytes, qz_error *err)
{
    (void)g, (void)d_dst, (void)src, (void)bytes;
    return no_cuda(err);
}

int qz_cuda_download(qz_cuda *g, void *dst, const void *d_src, size_t bytes, qz_error *err)
{
    (void)g, (void)dst, (void)d_src, (void)bytes;
    return no_cuda(err);
}

int qz_cuda_sync(qz_cuda *g, qz_error *err)
{
    (void)g;
    return no_cuda(err);
}

int qz_cuda_linear_apply(qz_cuda *g, const qz_cuda_linear *l, float *d_y, const float *d_x, int64_t T, void *d_work,
                         size_t work_bytes, qz_error *err)
{
    (void)g, (void)l, (void)d_y, (void)d_x, (void)T, (void)d_work, (void)work_bytes;
    return no_cuda(err);
}

int qz_cuda_sparse24_decompress(qz_cuda *g, float *d_w, const float *d_vals, const uint8_t *d_bitmask, int64_t out,
                                int64_t in, qz_error *err)
{
    (void)g, (void)d_w, (void)d_vals, (void)d_bitmask, (void)out, (void)in;
    return no_cuda(err);
}

int qz_cuda_embed(qz_cuda *g, float *d_x, const float *d_table, const int32_t *d_tokens, int64_t T, int64_t dim,
                  qz_error *err)
{
    (void)g, (void)d_x, (void)d_table, (void)d_tokens, (void)T, (void)dim;
    return no_cuda(err);
}

int qz_cuda_rmsnorm(qz_cuda *g, float *d_y, const float *d_x, const float *d_w, int64_t n, int64_t dim, double eps,
                    qz_error *err)
{
    (void)g, (void)d_y, (void)d_x, (void)d_w, (void)n, (void)dim, (void)eps;
    return no_cuda(err);
}

int qz_cuda_rope(qz_cuda *g, float *d_x, const float *d_cos, const float *d_sin, int64_t T, int64_t n_heads,
                 int64_t head_dim, qz_error *err)
{
    (void)g, (void)d_x, (void)d_cos, (void)d_sin, (void)T, (void)n_heads, (void)head_dim;
    return no_cuda(err);
}

int qz_cuda_attention(qz_cuda *g, float *d_out, const float *d_q, const float *d_k, const float *d_v, int64_t T,
                      int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, int64_t window, qz_error *err)
{
    (void)g, (void)d_out, (void)d_q, (void)d_k, (void)d_v, (void)T, (void)n_heads, (void)n_kv_heads, (void)head_dim,
        (void)window;
    return no_cuda(err);
}

int qz_cuda_swiglu(qz_cuda *g, float *d_gate, const float *d_up, int64_t n, qz_error *err)
{
    (void)g, (void)d_gate, (void)d_up, (void)n;
    return no_cuda(err);
}

int qz_cuda_add(qz_cuda *g, float *d_x, const float *d_y, int64_t n, qz_error *err)
{
    (void)g, (void)d_x, (void)d_y, (void)n;
    return no_cuda(err);
}

int qz_cuda_nll(qz_cuda *g, double *sum, float *d_nll, const float *d_logits, const int32_t *d_target, int64_t n,
                int64_t vocab, double *d_work, qz_error *err)
{
    (void)g, (void)d_nll, (void)d_logits, (void)d_target, (void)n, (void)vocab, (void)d_work;
    *sum = 0;
    return no_cuda(err);
}
