/* qz_cuda_host.c - a test double of qz_cuda.h whose "device" is host
 * memory and whose kernels are the CPU twins (formats/' dequantizers,
 * libquant's sgemm and RMSNorm, qz_fake_quant_sym, pack_index.h for the 2:4
 * mask), so that libquant/cuda/cuda_model.c - what is uploaded, which
 * layout fields are set, how the decoder is wired, the --check-cpu walk -
 * runs and is tested on machines without a GPU. Linked only into
 * build/cuda/qz-eval-host (tests/cli/test_cuda.sh), never into libquant.
 * It proves nothing about the CUDA kernels: tests/cuda/test_cuda_kernels.c
 * does that on a GPU.
 *
 * QZ_CUDA_HOST_FAULT=zero|gidx|nibble plants a classic packing bug in the
 * emulated kernels (GPTQ v1 zeros read without the +1; act-order g_idx
 * ignored; AWQ channels read in plain instead of interleaved nibble order),
 * so the CLI test can show that --check-cpu fails loudly on each.
 */
#include "qz_cuda.h"

#include "awq_pack.h"
#include "gptq_pack.h"
#include "model.h"
#include "pack_index.h"
#include "w8a8.h"

#include <math.h>
#include <string.h>

struct qz_cuda {
    int device;
};

int qz_cuda_built(void) { return 1; }

int qz_cuda_device_count(int *n, qz_error *err)
{
    (void)err;
    *n = 1;
    return QZ_OK;
}

int qz_cuda_device_get_info(int device, qz_cuda_device_info *info, qz_error *err)
{
    memset(info, 0, sizeof *info);
    if (device != 0) return qz_fail(err, QZ_EINPUT, "CUDA device %d does not exist (1 device: 0..0)", device);
    snprintf(info->name, sizeof info->name, "host emulation (tests/cuda/qz_cuda_host.c)");
    return QZ_OK;
}

int qz_cuda_open(qz_cuda **out, int device, qz_error *err)
{
    qz_cuda_device_info info;
    int rc = qz_cuda_device_get_info(device, &info, err);
    *out = rc ? NULL : calloc(1, sizeof **out);
    return rc ? rc : *out ? QZ_OK : qz_fail(err, QZ_EINTERNAL, "out of memory");
}

void qz_cuda_close(qz_cuda *g) { free(g); }

int qz_cuda_alloc(qz_cuda *g, void **d_ptr, size_t bytes, qz_error *err)
{
    (void)g;
    *d_ptr = malloc(bytes ? bytes : 1);
    return *d_ptr ? QZ_OK : qz_fail(err, QZ_EINTERNAL, "out of memory");
}

void qz_cuda_free(qz_cuda *g, void *d_ptr)
{
    (void)g;
    free(d_ptr);
}

int qz_cuda_upload(qz_cuda *g, void *d_dst, const void *src, size_t bytes, qz_error *err)
{
    (void)g, (void)err;
    memcpy(d_dst, src, bytes);
    return QZ_OK;
}

int qz_cuda_download(qz_cuda *g, void *dst, const void *d_src, size_t bytes, qz_error *err)
{
    (void)g, (void)err;
    memcpy(dst, d_src, bytes);
    return QZ_OK;
}

int qz_cuda_sync(qz_cuda *g, qz_error *err)
{
    (void)g, (void)err;
    return QZ_OK;
}

static int fault(const char *name)
{
    const char *f = getenv("QZ_CUDA_HOST_FAULT");
    return f && !strcmp(f, name);
}

/* AWQ with channel o read from nibble o % 8 (the planted "nibble" fault). */
static void awq_plain_order(float *W, const qz_cuda_linear *l)
{
    const int32_t *qw = l->d_w;
    const int64_t nw = l->out / 8;
    for (int64_t o = 0; o < l->out; o++)
        for (int64_t k = 0; k < l->in; k++) {
            const int64_t g = k / l->group_size;
            const int32_t q = (int32_t)(((uint32_t)qw[k * nw + o / 8] >> (4 * (o % 8))) & 15u);
            W[o * l->in + k] = l->d_scales[g * l->out + o] * (float)(q - (int32_t)qz_awq_get(l->d_qzeros, l->out, g, o));
        }
}

/* W (out, in) of a packed linear, through formats/' dequantizers. */
static int dequantize(const qz_cuda_linear *l, float *W, qz_error *err)
{
    switch (l->layout) {
    case QZ_CUDA_GPTQ: {
        int32_t *g = qz_malloc_array((size_t)l->in, sizeof *g);
        if (!g) return qz_fail(err, QZ_EINTERNAL, "out of memory");
        const int32_t *g_idx = fault("gidx") ? NULL : l->d_g_idx;
        for (int64_t k = 0; k < l->in; k++) g[k] = (int32_t)qz_group_of(g_idx, l->group_size, k);
        const int v1 = l->zero_plus_one && !fault("zero");
        int rc = qz_gptq_dequantize(W, l->d_w, l->d_qzeros, l->d_scales, g, l->out, l->in, l->n_groups, l->bits,
                                    v1 ? QZ_GPTQ_ZERO_V1 : QZ_GPTQ_ZERO_V2, err);
        free(g);
        return rc;
    }
    case QZ_CUDA_AWQ:
        if (fault("nibble")) {
            awq_plain_order(W, l);
            return QZ_OK;
        }
        return qz_awq_dequantize(W, l->d_w, l->d_qzeros, l->d_scales, l->out, l->in, l->group_size, err);
    case QZ_CUDA_W8A8: {
        const int8_t *q = l->d_w;
        for (int64_t o = 0; o < l->out; o++)
            for (int64_t k = 0; k < l->in; k++)
                W[o * l->in + k] = (float)q[qz_ct_weight_index(l->in, o, k)] * l->d_scales[qz_ct_scale_index(l->per_channel, o)];
        return QZ_OK;
    }
    default: memcpy(W, l->d_w, (size_t)(l->out * l->in) * sizeof *W); return QZ_OK;
    }
}

int qz_cuda_linear_apply(qz_cuda *g, const qz_cuda_linear *l, float *d_y, const float *d_x, int64_t T, void *d_work,
                         size_t work_bytes, qz_error *err)
{
    (void)g;
    int rc = qz_cuda_linear_check(l, err);
    if (rc) return rc;
    if (work_bytes < qz_cuda_linear_workspace(l, T)) return qz_fail(err, QZ_EINPUT, "cuda linear: workspace too small");
    (void)d_work; /* W8A8's input codes live in a host copy of x instead */
    float *W = qz_malloc_array((size_t)(l->out * l->in), sizeof *W), *x = (float *)d_x;
    if (!W) return qz_fail(err, QZ_EINTERNAL, "out of memory");
    rc = dequantize(l, W, err);
    if (!rc && l->layout == QZ_CUDA_W8A8) {
        x = qz_malloc_array((size_t)(T * l->in), sizeof *x);
        if (!x) rc = qz_fail(err, QZ_EINTERNAL, "out of memory");
        else {
            memcpy(x, d_x, (size_t)(T * l->in) * sizeof *x);
            qz_fake_quant_sym(x, T, l->in, 8, QZ_GRAN_TOKEN, NULL, NULL);
        }
    }
    if (!rc) {
        qz_linear lin = {W, (float *)l->d_bias, l->out, l->in};
        qz_linear_apply(&lin, x, T, d_y);
    }
    if (x != d_x) free(x);
    free(W);
    return rc;
}

int qz_cuda_sparse24_decompress(qz_cuda *g, float *d_w, const float *d_vals, const uint8_t *d_bitmask, int64_t out,
                                int64_t in, qz_error *err)
{
    (void)g, (void)err;
    for (int64_t r = 0; r < out; r++)
        for (int64_t gi = 0; gi < in / 4; gi++) {
            const unsigned m = qz_s24_group_bits(d_bitmask + r * qz_s24_row_bytes(in), gi);
            const float *v = d_vals + r * (in / 2) + qz_s24_value_index(gi);
            for (int j = 0; j < 4; j++) d_w[r * in + 4 * gi + j] = m >> j & 1 ? *v++ : 0.0f;
        }
    return QZ_OK;
}

int qz_cuda_embed(qz_cuda *g, float *d_x, const float *d_table, const int32_t *d_tokens, int64_t T, int64_t dim,
                  qz_error *err)
{
    (void)g, (void)err;
    for (int64_t t = 0; t < T; t++) memcpy(d_x + t * dim, d_table + (int64_t)d_tokens[t] * dim, (size_t)dim * sizeof(float));
    return QZ_OK;
}

int qz_cuda_rmsnorm(qz_cuda *g, float *d_y, const float *d_x, const float *d_w, int64_t n, int64_t dim, double eps,
                    qz_error *err)
{
    (void)g, (void)err;
    qz_rmsnorm(d_y, d_x, d_w, n, dim, eps);
    return QZ_OK;
}

int qz_cuda_rope(qz_cuda *g, float *d_x, const float *d_cos, const float *d_sin, int64_t T, int64_t n_heads,
                 int64_t head_dim, qz_error *err)
{
    (void)g, (void)err;
    const int64_t half = head_dim / 2;
    for (int64_t t = 0; t < T; t++)
        for (int64_t h = 0; h < n_heads; h++) {
            float *v = d_x + (t * n_heads + h) * head_dim;
            for (int64_t j = 0; j < half; j++) {
                const float a = v[j], b = v[j + half], c = d_cos[t * half + j], s = d_sin[t * half + j];
                v[j] = a * c - b * s;
                v[j + half] = b * c + a * s;
            }
        }
    return QZ_OK;
}

int qz_cuda_attention(qz_cuda *g, float *d_out, const float *d_q, const float *d_k, const float *d_v, int64_t T,
                      int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, int64_t window, qz_error *err)
{
    (void)g;
    const int64_t hd = head_dim, qd = n_heads * hd, kvd = n_kv_heads * hd;
    float *p = qz_malloc_array((size_t)T, sizeof *p);
    if (!p) return qz_fail(err, QZ_EINTERNAL, "out of memory");
    const float scale = (float)(1.0 / sqrt((double)hd));
    for (int64_t t = 0; t < T; t++)
        for (int64_t h = 0; h < n_heads; h++) {
            const int64_t kvh = h / (n_heads / n_kv_heads), lo = window > 0 && t >= window ? t - window + 1 : 0;
            float m = -INFINITY, sum = 0;
            for (int64_t j = lo; j <= t; j++) {
                float s = 0;
                for (int64_t i = 0; i < hd; i++) s += d_q[t * qd + h * hd + i] * d_k[j * kvd + kvh * hd + i];
                p[j] = s * scale;
                m = fmaxf(m, p[j]);
            }
            for (int64_t j = lo; j <= t; j++) sum += p[j] = expf(p[j] - m);
            for (int64_t i = 0; i < hd; i++) {
                float acc = 0;
                for (int64_t j = lo; j <= t; j++) acc += p[j] * d_v[j * kvd + kvh * hd + i];
                d_out[t * qd + h * hd + i] = acc / sum;
            }
        }
    free(p);
    return QZ_OK;
}

int qz_cuda_swiglu(qz_cuda *g, float *d_gate, const float *d_up, int64_t n, qz_error *err)
{
    (void)g, (void)err;
    for (int64_t i = 0; i < n; i++) d_gate[i] = d_gate[i] / (1.0f + expf(-d_gate[i])) * d_up[i];
    return QZ_OK;
}

int qz_cuda_add(qz_cuda *g, float *d_x, const float *d_y, int64_t n, qz_error *err)
{
    (void)g, (void)err;
    for (int64_t i = 0; i < n; i++) d_x[i] += d_y[i];
    return QZ_OK;
}

int qz_cuda_nll(qz_cuda *g, double *sum, float *d_nll, const float *d_logits, const int32_t *d_target, int64_t n,
                int64_t vocab, double *d_work, qz_error *err)
{
    (void)g, (void)err;
    *sum = 0;
    for (int64_t t = 0; t < n; t++) {
        const float *row = d_logits + t * vocab;
        float m = -INFINITY;
        double s = 0;
        for (int64_t v = 0; v < vocab; v++) m = fmaxf(m, row[v]);
        for (int64_t v = 0; v < vocab; v++) s += exp((double)row[v] - (double)m);
        d_work[t] = log(s) + (double)m - (double)row[d_target[t]];
        if (d_nll) d_nll[t] = (float)d_work[t];
        *sum += d_work[t];
    }
    d_work[n] = *sum;
    return QZ_OK;
}
