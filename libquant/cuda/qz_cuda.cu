/* qz_cuda.cu - the CUDA build of qz_cuda.h: devices, buffers, and the
 * kernels that run a packed checkpoint (docs/cuda.md).
 *
 * Linears: one matmul body serves every layout. A layout is an operand
 * policy (FloatOps: DENSE / GPTQ / AWQ weights dequantized in registers
 * from pack_index.h's index math; Int8Ops: W8A8 int8 x int8 with int32
 * accumulation, the way vLLM's cutlass W8A8 path computes), and two
 * schedules take any policy: a warp per output channel for a few tokens
 * (decode-like shapes) and 16x16 shared-memory tiles otherwise. Dequantized
 * weight (o, k) = scale[g, o] * (q - z[g, o]) exactly as the CPU readers in
 * formats/ compute it. Left out: tensor-core (mma) schedules and
 * Marlin-style weight reordering; the schedules favour being obviously the
 * same arithmetic as the CPU twin over speed.
 *
 * Decoder ops follow libquant/model.c (RMSNorm with a double sum of
 * squares, rotate-half RoPE from the host's tables, causal GQA attention
 * with an optional sliding window, SwiGLU) and eval.c's scoring (log-softmax
 * + NLL in double). This is the only file that includes CUDA headers.
 */
#include <cuda_runtime.h>

#include <math.h>
#include <string.h>

/* qz_common.h is C11: its _Noreturn means the same as the GNU attribute. */
#define _Noreturn __attribute__((noreturn))
extern "C" {
#include "qz_common.h"
}
#undef _Noreturn
#include "pack_index.h"
#include "qz_cuda.h"

struct qz_cuda {
    int device;
    cudaStream_t stream;
};

/* Fails err with the CUDA error of a statement, naming it, file:line and
 * the device. */
static int cuda_fail(qz_error *err, cudaError_t e, const char *stmt, const char *file, int line, int device)
{
    return qz_fail(err, QZ_EINTERNAL, "CUDA error %s (%s) in '%s' at %s:%d on device %d", cudaGetErrorName(e),
                   cudaGetErrorString(e), stmt, file, line, device);
}

/* The one check every CUDA call goes through. A kernel launch is checked as
 * QZ_CU(g, err, (kernel<<<...>>>(...), cudaGetLastError())). */
#define QZ_CU(dev, err, ...)                                                                  \
    do {                                                                                      \
        cudaError_t e_ = (__VA_ARGS__);                                                       \
        if (e_ != cudaSuccess) return cuda_fail(err, e_, #__VA_ARGS__, __FILE__, __LINE__, dev); \
    } while (0)

#define NO_DEVICE_MSG "no CUDA device"

extern "C" int qz_cuda_built(void)
{
    return 1;
}

/* ----------------------------------------------------------------- devices */

extern "C" int qz_cuda_device_count(int *n, qz_error *err)
{
    *n = 0;
    cudaError_t e = cudaGetDeviceCount(n);
    if (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver || (e == cudaSuccess && *n == 0)) {
        *n = 0;
        return qz_fail(err, QZ_EINPUT, NO_DEVICE_MSG " (CUDA runtime: %s)",
                       e == cudaSuccess ? "the driver lists none" : cudaGetErrorString(e));
    }
    if (e != cudaSuccess) return cuda_fail(err, e, "cudaGetDeviceCount(n)", __FILE__, __LINE__, -1);
    return QZ_OK;
}

static int check_device(int device, qz_error *err)
{
    int n;
    int rc = qz_cuda_device_count(&n, err);
    if (rc) return rc;
    if (device < 0 || device >= n)
        return qz_fail(err, QZ_EINPUT, "CUDA device %d does not exist (%d device%s: 0..%d)", device, n, n == 1 ? "" : "s",
                       n - 1);
    return QZ_OK;
}

extern "C" int qz_cuda_device_get_info(int device, qz_cuda_device_info *info, qz_error *err)
{
    memset(info, 0, sizeof *info);
    int rc = check_device(device, err);
    if (rc) return rc;
    cudaDeviceProp p;
    QZ_CU(device, err, cudaGetDeviceProperties(&p, device));
    int clock_khz = 0, bus_bits = 0;
    QZ_CU(device, err, cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, device));
    QZ_CU(device, err, cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, device));
    info->index = device;
    snprintf(info->name, sizeof info->name, "%s", p.name);
    info->cc_major = p.major;
    info->cc_minor = p.minor;
    info->sm_count = p.multiProcessorCount;
    info->total_bytes = p.totalGlobalMem;
    /* double data rate: two transfers per memory clock */
    info->peak_bandwidth = 2.0 * (double)clock_khz * 1e3 * (double)bus_bits / 8.0;
    return QZ_OK;
}

/* ----------------------------------------------------- context and buffers */

extern "C" int qz_cuda_open(qz_cuda **out, int device, qz_error *err)
{
    *out = NULL;
    int rc = check_device(device, err);
    if (rc) return rc;
    qz_cuda *g = (qz_cuda *)calloc(1, sizeof *g);
    if (!g) return qz_fail(err, QZ_EINTERNAL, "out of memory");
    g->device = device;
    cudaError_t e = cudaSetDevice(device);
    if (e == cudaSuccess) e = cudaStreamCreateWithFlags(&g->stream, cudaStreamNonBlocking);
    if (e != cudaSuccess) {
        free(g);
        return cuda_fail(err, e, "cudaSetDevice / cudaStreamCreateWithFlags", __FILE__, __LINE__, device);
    }
    *out = g;
    return QZ_OK;
}

extern "C" void qz_cuda_close(qz_cuda *g)
{
    if (!g) return;
    cudaStreamSynchronize(g->stream);
    cudaStreamDestroy(g->stream);
    free(g);
}

extern "C" int qz_cuda_alloc(qz_cuda *g, void **d_ptr, size_t bytes, qz_error *err)
{
    *d_ptr = NULL;
    QZ_CU(g->device, err, cudaMalloc(d_ptr, bytes ? bytes : 1));
    return QZ_OK;
}

extern "C" void qz_cuda_free(qz_cuda *g, void *d_ptr)
{
    (void)g;
    if (d_ptr) cudaFree(d_ptr);
}

extern "C" int qz_cuda_upload(qz_cuda *g, void *d_dst, const void *src, size_t bytes, qz_error *err)
{
    QZ_CU(g->device, err, cudaMemcpyAsync(d_dst, src, bytes, cudaMemcpyHostToDevice, g->stream));
    /* the host buffer may be freed when this returns */
    QZ_CU(g->device, err, cudaStreamSynchronize(g->stream));
    return QZ_OK;
}

extern "C" int qz_cuda_download(qz_cuda *g, void *dst, const void *d_src, size_t bytes, qz_error *err)
{
    QZ_CU(g->device, err, cudaMemcpyAsync(dst, d_src, bytes, cudaMemcpyDeviceToHost, g->stream));
    QZ_CU(g->device, err, cudaStreamSynchronize(g->stream));
    return QZ_OK;
}

extern "C" int qz_cuda_sync(qz_cuda *g, qz_error *err)
{
    QZ_CU(g->device, err, cudaStreamSynchronize(g->stream));
    return QZ_OK;
}

/* ------------------------------------------------------------- reductions */

#define BLOCK 256

template <class V> static __device__ V warp_sum(V v)
{
    for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
    return v;
}

/* Sum (max when is_max) of v over the block (blockDim.x == BLOCK); every
 * thread gets the result. */
template <class V> static __device__ V block_reduce(V v, bool is_max)
{
    __shared__ V part[BLOCK / 32];
    for (int off = 16; off > 0; off >>= 1) {
        V o = __shfl_down_sync(0xffffffffu, v, off);
        v = is_max ? (o > v ? o : v) : v + o;
    }
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    __syncthreads(); /* part may still be read by a previous call */
    if (lane == 0) part[wid] = v;
    __syncthreads();
    V r = part[0];
    for (int i = 1; i < BLOCK / 32; i++) r = is_max ? (part[i] > r ? part[i] : r) : r + part[i];
    return r;
}

/* ----------------------------------------------------------------- linears */

/* FP32 operands: x as given, W dequantized from its layout. */
struct FloatOps {
    typedef float elem_t;
    typedef float acc_t;
    qz_cuda_linear l;
    const float *x;
    __device__ float a(int64_t t, int64_t k) const { return x[t * l.in + k]; }
    __device__ float w(int64_t o, int64_t k) const
    {
        if (l.layout == QZ_CUDA_DENSE) return ((const float *)l.d_w)[o * l.in + k];
        const int64_t g = qz_group_of(l.d_g_idx, l.group_size, k);
        int32_t q, z;
        if (l.layout == QZ_CUDA_GPTQ) {
            q = (int32_t)qz_gptq_code((const int32_t *)l.d_w, l.out, o, k, l.bits);
            z = qz_gptq_zero(l.d_qzeros, l.out, g, o, l.bits, l.zero_plus_one);
        } else {
            q = (int32_t)qz_awq_get((const int32_t *)l.d_w, l.out, k, o);
            z = (int32_t)qz_awq_get(l.d_qzeros, l.out, g, o);
        }
        return l.d_scales[g * l.out + o] * (float)(q - z);
    }
    __device__ float finish(float acc, int64_t t, int64_t o) const
    {
        (void)t;
        return l.d_bias ? acc + l.d_bias[o] : acc;
    }
};

/* W8A8: int8 activations (quantized per token by quantize_rows) and int8
 * weights, int32 accumulation, scaled back once per output. */
struct Int8Ops {
    typedef int elem_t;
    typedef int acc_t;
    qz_cuda_linear l;
    const int8_t *xq;
    const float *xs;
    __device__ int a(int64_t t, int64_t k) const { return xq[t * l.in + k]; }
    __device__ int w(int64_t o, int64_t k) const { return ((const int8_t *)l.d_w)[qz_ct_weight_index(l.in, o, k)]; }
    __device__ float finish(int acc, int64_t t, int64_t o) const
    {
        const float y = (float)acc * xs[t] * l.d_scales[qz_ct_scale_index(l.per_channel, o)];
        return l.d_bias ? y + l.d_bias[o] : y;
    }
};

#define SKINNY_T 8 /* tokens per warp in the skinny schedule */
#define TILE 16

/* A warp per output channel o; lanes stride over the inputs; T <= SKINNY_T. */
template <class P> static __global__ void skinny_matmul(P p, float *y, int64_t T)
{
    const int64_t o = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    const int lane = threadIdx.x & 31;
    if (o >= p.l.out) return; /* the whole warp leaves together */
    typename P::acc_t acc[SKINNY_T];
    for (int t = 0; t < SKINNY_T; t++) acc[t] = 0;
    for (int64_t k = lane; k < p.l.in; k += 32) {
        const typename P::elem_t wv = p.w(o, k);
        for (int t = 0; t < SKINNY_T; t++)
            if (t < T) acc[t] += (typename P::acc_t)p.a(t, k) * (typename P::acc_t)wv;
    }
    for (int t = 0; t < SKINNY_T && t < T; t++) {
        const typename P::acc_t s = warp_sum(acc[t]);
        if (lane == 0) y[t * p.l.out + o] = p.finish(s, t, o);
    }
}

/* 16x16 output tiles (tokens x channels) through shared memory. */
template <class P> static __global__ void tiled_matmul(P p, float *y, int64_t T)
{
    __shared__ typename P::elem_t xs[TILE][TILE + 1], ws[TILE][TILE + 1];
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int64_t t = (int64_t)blockIdx.y * TILE + ty, o = (int64_t)blockIdx.x * TILE + tx;
    const int64_t ow = (int64_t)blockIdx.x * TILE + ty; /* the W row this thread loads */
    typename P::acc_t acc = 0;
    for (int64_t k0 = 0; k0 < p.l.in; k0 += TILE) {
        const int64_t k = k0 + tx;
        xs[ty][tx] = t < T && k < p.l.in ? p.a(t, k) : 0;
        ws[ty][tx] = ow < p.l.out && k < p.l.in ? p.w(ow, k) : 0;
        __syncthreads();
        for (int j = 0; j < TILE; j++) acc += (typename P::acc_t)xs[ty][j] * (typename P::acc_t)ws[tx][j];
        __syncthreads();
    }
    if (t < T && o < p.l.out) y[t * p.l.out + o] = p.finish(acc, t, o);
}

/* Row t of x (T, n) to int8 with scale max(amax, 1e-5) / 127 and round half
 * to even: qz_fake_quant_sym's arithmetic, step for step. */
static __global__ void quantize_rows(int8_t *xq, float *xs, const float *x, int64_t n)
{
    const float *row = x + (int64_t)blockIdx.x * n;
    float m = 0;
    for (int64_t i = threadIdx.x; i < n; i += BLOCK) m = fmaxf(m, fabsf(row[i]));
    m = block_reduce(m, true);
    const float s = fmaxf(m, 1e-5f) / 127.0f;
    for (int64_t i = threadIdx.x; i < n; i += BLOCK) {
        float q = rintf(row[i] / s);
        q = q > 127.0f ? 127.0f : q < -127.0f ? -127.0f : q;
        xq[(int64_t)blockIdx.x * n + i] = (int8_t)q;
    }
    if (threadIdx.x == 0) xs[blockIdx.x] = s;
}

template <class P> static int launch_matmul(qz_cuda *g, const P &p, float *d_y, int64_t T, qz_error *err)
{
    if (T <= SKINNY_T) {
        const int warps = BLOCK / 32;
        const dim3 grid((unsigned)((p.l.out + warps - 1) / warps));
        QZ_CU(g->device, err, (skinny_matmul<P><<<grid, BLOCK, 0, g->stream>>>(p, d_y, T), cudaGetLastError()));
    } else {
        const dim3 grid((unsigned)((p.l.out + TILE - 1) / TILE), (unsigned)((T + TILE - 1) / TILE)), block(TILE, TILE);
        QZ_CU(g->device, err, (tiled_matmul<P><<<grid, block, 0, g->stream>>>(p, d_y, T), cudaGetLastError()));
    }
    return QZ_OK;
}

extern "C" int qz_cuda_linear_apply(qz_cuda *g, const qz_cuda_linear *l, float *d_y, const float *d_x, int64_t T,
                                    void *d_work, size_t work_bytes, qz_error *err)
{
    int rc = qz_cuda_linear_check(l, err);
    if (rc) return rc;
    if (T <= 0 || T > 65535 * (int64_t)TILE)
        return qz_fail(err, QZ_EINPUT, "cuda linear: %lld tokens (allowed 1..%lld)", (long long)T,
                       (long long)(65535 * (int64_t)TILE));
    if (work_bytes < qz_cuda_linear_workspace(l, T))
        return qz_fail(err, QZ_EINPUT, "cuda linear: workspace of %zu bytes, %zu needed", work_bytes,
                       qz_cuda_linear_workspace(l, T));
    if (l->layout != QZ_CUDA_W8A8) {
        FloatOps p = {*l, d_x};
        return launch_matmul(g, p, d_y, T, err);
    }
    int8_t *xq = (int8_t *)d_work;
    float *xs = (float *)((char *)d_work + qz_cuda_w8a8_scales_offset(T, l->in));
    QZ_CU(g->device, err, (quantize_rows<<<(unsigned)T, BLOCK, 0, g->stream>>>(xq, xs, d_x, l->in), cudaGetLastError()));
    Int8Ops p = {*l, xq, xs};
    return launch_matmul(g, p, d_y, T, err);
}

static __global__ void sparse24_decompress(float *w, const float *vals, const uint8_t *bitmask, int64_t out, int64_t in)
{
    const int64_t groups = in / 4, i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= out * groups) return;
    const int64_t r = i / groups, gi = i % groups;
    const unsigned m = qz_s24_group_bits(bitmask + r * qz_s24_row_bytes(in), gi);
    const float *v = vals + r * (in / 2) + qz_s24_value_index(gi);
    for (int j = 0; j < 4; j++) w[r * in + 4 * gi + j] = m >> j & 1 ? *v++ : 0.0f;
}

static unsigned blocks_for(int64_t n)
{
    return (unsigned)((n + BLOCK - 1) / BLOCK);
}

extern "C" int qz_cuda_sparse24_decompress(qz_cuda *g, float *d_w, const float *d_vals, const uint8_t *d_bitmask,
                                           int64_t out, int64_t in, qz_error *err)
{
    if (out <= 0 || in <= 0 || in % 4)
        return qz_fail(err, QZ_EINPUT, "cuda sparse24: shape (%lld, %lld): in_features must be a positive multiple of 4",
                       (long long)out, (long long)in);
    QZ_CU(g->device, err,
          (sparse24_decompress<<<blocks_for(out * (in / 4)), BLOCK, 0, g->stream>>>(d_w, d_vals, d_bitmask, out, in),
           cudaGetLastError()));
    return QZ_OK;
}

/* ------------------------------------------------------------ decoder ops */

static __global__ void embed_rows(float *x, const float *table, const int32_t *tokens, int64_t T, int64_t dim)
{
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < T * dim) x[i] = table[(int64_t)tokens[i / dim] * dim + i % dim];
}

extern "C" int qz_cuda_embed(qz_cuda *g, float *d_x, const float *d_table, const int32_t *d_tokens, int64_t T, int64_t dim,
                             qz_error *err)
{
    QZ_CU(g->device, err,
          (embed_rows<<<blocks_for(T * dim), BLOCK, 0, g->stream>>>(d_x, d_table, d_tokens, T, dim), cudaGetLastError()));
    return QZ_OK;
}

static __global__ void rmsnorm_rows(float *y, const float *x, const float *w, int64_t dim, double eps)
{
    const float *xr = x + (int64_t)blockIdx.x * dim;
    double ss = 0;
    for (int64_t i = threadIdx.x; i < dim; i += BLOCK) ss += (double)xr[i] * xr[i];
    ss = block_reduce(ss, false);
    const float inv = (float)(1.0 / sqrt(ss / (double)dim + eps));
    for (int64_t i = threadIdx.x; i < dim; i += BLOCK) y[(int64_t)blockIdx.x * dim + i] = w[i] * (xr[i] * inv);
}

extern "C" int qz_cuda_rmsnorm(qz_cuda *g, float *d_y, const float *d_x, const float *d_w, int64_t n, int64_t dim,
                               double eps, qz_error *err)
{
    QZ_CU(g->device, err,
          (rmsnorm_rows<<<(unsigned)n, BLOCK, 0, g->stream>>>(d_y, d_x, d_w, dim, eps), cudaGetLastError()));
    return QZ_OK;
}

static __global__ void rope_rotate_half(float *x, const float *cs, const float *sn, int64_t T, int64_t n_heads, int64_t hd)
{
    const int64_t half = hd / 2, i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= T * n_heads * half) return;
    const int64_t t = i / (n_heads * half), h = i / half % n_heads, j = i % half;
    float *v = x + (t * n_heads + h) * hd;
    const float a = v[j], b = v[j + half], c = cs[t * half + j], s = sn[t * half + j];
    v[j] = a * c - b * s;
    v[j + half] = b * c + a * s;
}

extern "C" int qz_cuda_rope(qz_cuda *g, float *d_x, const float *d_cos, const float *d_sin, int64_t T, int64_t n_heads,
                            int64_t head_dim, qz_error *err)
{
    if (head_dim % 2) return qz_fail(err, QZ_EINPUT, "cuda rope: head_dim %lld is odd", (long long)head_dim);
    QZ_CU(g->device, err,
          (rope_rotate_half<<<blocks_for(T * n_heads * (head_dim / 2)), BLOCK, 0, g->stream>>>(d_x, d_cos, d_sin, T,
                                                                                                n_heads, head_dim),
           cudaGetLastError()));
    return QZ_OK;
}

/* One block per (query position t, head h): scores over the visible keys in
 * shared memory, softmax, then the weighted sum of values. */
static __global__ void causal_attention(float *out, const float *q, const float *k, const float *v, int64_t n_heads,
                                 int64_t n_kv, int64_t hd, int64_t window, float scale)
{
    extern __shared__ float p[];
    const int64_t t = blockIdx.x, h = blockIdx.y, kvh = h / (n_heads / n_kv);
    const int64_t qd = n_heads * hd, kvd = n_kv * hd, lo = window > 0 && t >= window ? t - window + 1 : 0;
    const float *qr = q + t * qd + h * hd;
    float m = -INFINITY;
    for (int64_t j = lo + threadIdx.x; j <= t; j += BLOCK) {
        const float *kr = k + j * kvd + kvh * hd;
        float s = 0;
        for (int64_t i = 0; i < hd; i++) s += qr[i] * kr[i];
        p[j - lo] = s * scale;
        m = fmaxf(m, p[j - lo]);
    }
    m = block_reduce(m, true);
    float sum = 0;
    for (int64_t j = lo + threadIdx.x; j <= t; j += BLOCK) {
        p[j - lo] = expf(p[j - lo] - m);
        sum += p[j - lo];
    }
    sum = block_reduce(sum, false); /* its barriers also publish p */
    const float inv = 1.0f / sum;
    for (int64_t i = threadIdx.x; i < hd; i += BLOCK) {
        float acc = 0;
        for (int64_t j = lo; j <= t; j++) acc += p[j - lo] * v[j * kvd + kvh * hd + i];
        out[t * qd + h * hd + i] = acc * inv;
    }
}

extern "C" int qz_cuda_attention(qz_cuda *g, float *d_out, const float *d_q, const float *d_k, const float *d_v, int64_t T,
                                 int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, int64_t window, qz_error *err)
{
    const int64_t keys = window > 0 && window < T ? window : T;
    const size_t shm = (size_t)keys * sizeof(float);
    if (n_kv_heads <= 0 || n_heads % n_kv_heads || T <= 0 || T > 65535 || n_heads > 65535)
        return qz_fail(err, QZ_EINPUT, "cuda attention: T %lld, heads %lld, kv heads %lld: need T and heads in 1..65535 and "
                       "heads a multiple of kv heads", (long long)T, (long long)n_heads, (long long)n_kv_heads);
    if (shm > 48 * 1024)
        QZ_CU(g->device, err, cudaFuncSetAttribute(causal_attention, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)shm));
    const dim3 grid((unsigned)T, (unsigned)n_heads);
    const float scale = (float)(1.0 / sqrt((double)head_dim));
    QZ_CU(g->device, err,
          (causal_attention<<<grid, BLOCK, shm, g->stream>>>(d_out, d_q, d_k, d_v, n_heads, n_kv_heads, head_dim, window,
                                                             scale),
           cudaGetLastError()));
    return QZ_OK;
}

static __global__ void swiglu_inplace(float *gate, const float *up, int64_t n)
{
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) gate[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

extern "C" int qz_cuda_swiglu(qz_cuda *g, float *d_gate, const float *d_up, int64_t n, qz_error *err)
{
    QZ_CU(g->device, err, (swiglu_inplace<<<blocks_for(n), BLOCK, 0, g->stream>>>(d_gate, d_up, n), cudaGetLastError()));
    return QZ_OK;
}

static __global__ void add_inplace(float *x, const float *y, int64_t n)
{
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] += y[i];
}

extern "C" int qz_cuda_add(qz_cuda *g, float *d_x, const float *d_y, int64_t n, qz_error *err)
{
    QZ_CU(g->device, err, (add_inplace<<<blocks_for(n), BLOCK, 0, g->stream>>>(d_x, d_y, n), cudaGetLastError()));
    return QZ_OK;
}

/* nll[t] = logsumexp(row t) - row t[target t], in double. */
static __global__ void nll_rows(float *nll_f, double *nll, const float *logits, const int32_t *target, int64_t vocab)
{
    const float *row = logits + (int64_t)blockIdx.x * vocab;
    float m = -INFINITY;
    for (int64_t i = threadIdx.x; i < vocab; i += BLOCK) m = fmaxf(m, row[i]);
    m = block_reduce(m, true);
    double s = 0;
    for (int64_t i = threadIdx.x; i < vocab; i += BLOCK) s += exp((double)row[i] - (double)m);
    s = block_reduce(s, false);
    if (threadIdx.x == 0) {
        const double v = log(s) + (double)m - (double)row[target[blockIdx.x]];
        nll[blockIdx.x] = v;
        if (nll_f) nll_f[blockIdx.x] = (float)v;
    }
}

/* sum of x[0..n) into x[n], one block. */
static __global__ void sum_into_last(double *x, int64_t n)
{
    double s = 0;
    for (int64_t i = threadIdx.x; i < n; i += BLOCK) s += x[i];
    s = block_reduce(s, false);
    if (threadIdx.x == 0) x[n] = s;
}

extern "C" int qz_cuda_nll(qz_cuda *g, double *sum, float *d_nll, const float *d_logits, const int32_t *d_target, int64_t n,
                           int64_t vocab, double *d_work, qz_error *err)
{
    *sum = 0;
    if (n <= 0 || n > INT32_MAX || vocab <= 0)
        return qz_fail(err, QZ_EINPUT, "cuda nll: %lld rows of %lld logits", (long long)n, (long long)vocab);
    QZ_CU(g->device, err,
          (nll_rows<<<(unsigned)n, BLOCK, 0, g->stream>>>(d_nll, d_work, d_logits, d_target, vocab), cudaGetLastError()));
    QZ_CU(g->device, err, (sum_into_last<<<1, BLOCK, 0, g->stream>>>(d_work, n), cudaGetLastError()));
    return qz_cuda_download(g, sum, d_work + n, sizeof *sum, err);
}
