/* gptq_pack.c - GPTQ qweight / qzeros packing (AutoGPTQ layout,
 * FORMATS-AND-ALGORITHMS.md 2a), as a little-endian bit stream per packed
 * run, which covers the 2/4/8-bit word layout and the 3-bit straddling layout
 * alike; the index arithmetic is pack_index.h's, shared with the CUDA kernels. Leaves out scales (fp16, written by the caller) and file I/O.
 */
#include "gptq_pack.h"

#include "pack_index.h"

#include <string.h>

const char *qz_gptq_zero_fmt_name(qz_gptq_zero_fmt f)
{
    switch (f) {
    case QZ_GPTQ_ZERO_V1: return "gptq";
    case QZ_GPTQ_ZERO_V2: return "gptq_v2";
    default: return "?";
    }
}

int64_t qz_gptq_pack_align(int bits)
{
    switch (bits) {
    case 2: case 4: case 8: return 32 / bits;
    case 3: return 32;
    default: return 0;
    }
}

static int check_bits(int bits, qz_error *err)
{
    if (qz_gptq_pack_align(bits) == 0)
        return qz_fail(err, QZ_EINPUT, "gptq pack: bits = %d: allowed 2, 3, 4 or 8", bits);
    return QZ_OK;
}

static int check_dim(const char *what, int64_t n, int bits, qz_error *err)
{
    int64_t a = qz_gptq_pack_align(bits);
    if (n <= 0 || n % a != 0)
        return qz_fail(err, QZ_EINPUT,
                       "gptq pack: %s = %lld must be a positive multiple of %lld at %d bits",
                       what, (long long)n, (long long)a, bits);
    return QZ_OK;
}

int qz_gptq_pack_check(int64_t out, int64_t in, int bits, qz_error *err)
{
    int rc = check_bits(bits, err);
    if (!rc) rc = check_dim("in_features", in, bits, err);
    if (!rc) rc = check_dim("out_features", out, bits, err);
    return rc;
}

static int32_t as_i32(uint32_t u)
{
    int32_t i;
    memcpy(&i, &u, sizeof i);
    return i;
}

/* Packs n values (each < 2^bits) into n*bits/32 words, little-endian stream. */
static void pack_stream(uint32_t *w, const uint32_t *v, int64_t n, int bits)
{
    memset(w, 0, (size_t)(n * bits / 32) * sizeof *w);
    for (int64_t k = 0; k < n; k++) qz_stream_put(w, k, bits, v[k]);
}

/* ------------------------------------------------------------------------- */
/* qweight: runs along the input dim, one per output column                   */

int qz_gptq_pack_qweight(int32_t *qweight, const uint8_t *codes, int64_t out, int64_t in,
                         int bits, qz_error *err)
{
    int rc = check_bits(bits, err);
    if (!rc) rc = check_dim("in_features", in, bits, err);
    if (rc) return rc;
    if (out <= 0) return qz_fail(err, QZ_EINPUT, "gptq pack: out_features = %lld", (long long)out);
    const int64_t nw = in * bits / 32;
    const uint32_t maxq = (1u << bits) - 1u;
    uint32_t *v = qz_malloc_array((size_t)in, sizeof *v);
    uint32_t *w = qz_malloc_array((size_t)nw, sizeof *w);
    if (!v || !w) {
        free(v);
        free(w);
        return qz_fail(err, QZ_EINTERNAL, "gptq pack: out of memory");
    }
    for (int64_t o = 0; o < out && !rc; o++) {
        for (int64_t k = 0; k < in; k++) {
            v[k] = codes[o * in + k];
            if (v[k] > maxq) {
                rc = qz_fail(err, QZ_EINPUT, "gptq pack: code %u at [%lld, %lld] exceeds %u (%d bits)",
                             v[k], (long long)o, (long long)k, maxq, bits);
                break;
            }
        }
        if (rc) break;
        pack_stream(w, v, in, bits);
        for (int64_t t = 0; t < nw; t++) qweight[t * out + o] = as_i32(w[t]);
    }
    free(v);
    free(w);
    return rc;
}

int qz_gptq_unpack_qweight(uint8_t *codes, const int32_t *qweight, int64_t out, int64_t in,
                           int bits, qz_error *err)
{
    int rc = check_bits(bits, err);
    if (!rc) rc = check_dim("in_features", in, bits, err);
    if (rc) return rc;
    if (out <= 0) return qz_fail(err, QZ_EINPUT, "gptq unpack: out_features = %lld", (long long)out);
    for (int64_t o = 0; o < out; o++)
        for (int64_t k = 0; k < in; k++) codes[o * in + k] = (uint8_t)qz_gptq_code(qweight, out, o, k, bits);
    return QZ_OK;
}

/* ------------------------------------------------------------------------- */
/* qzeros: runs along the output dim, one per group                           */

/* n_groups positive and fmt one of the two zero formats. */
static int check_zeros_request(const char *fn, int64_t n_groups, qz_gptq_zero_fmt fmt, qz_error *err)
{
    if (n_groups <= 0 || (fmt != QZ_GPTQ_ZERO_V1 && fmt != QZ_GPTQ_ZERO_V2))
        return qz_fail(err, QZ_EINPUT, "%s: bad qzeros request (n_groups %lld, format %d)", fn,
                       (long long)n_groups, (int)fmt);
    return QZ_OK;
}

int qz_gptq_pack_qzeros(int32_t *qzeros, const int32_t *zeros, int64_t n_groups, int64_t out,
                        int bits, qz_gptq_zero_fmt fmt, qz_error *err)
{
    int rc = check_bits(bits, err);
    if (!rc) rc = check_dim("out_features", out, bits, err);
    if (!rc) rc = check_zeros_request("gptq pack", n_groups, fmt, err);
    if (rc) return rc;
    const int64_t nw = out * bits / 32;
    const int32_t lo = fmt == QZ_GPTQ_ZERO_V1 ? 1 : 0, hi = (1 << bits) - 1 + lo;
    uint32_t *v = qz_malloc_array((size_t)out, sizeof *v);
    uint32_t *w = qz_malloc_array((size_t)nw, sizeof *w);
    if (!v || !w) {
        free(v);
        free(w);
        return qz_fail(err, QZ_EINTERNAL, "gptq pack: out of memory");
    }
    for (int64_t g = 0; g < n_groups && !rc; g++) {
        for (int64_t o = 0; o < out; o++) {
            int32_t z = zeros[g * out + o];
            if (z < lo || z > hi) {
                rc = qz_fail(err, QZ_EINPUT,
                             "gptq pack: zero point %d at [%lld, %lld] outside [%d, %d] for %s%s",
                             (int)z, (long long)g, (long long)o, (int)lo, (int)hi,
                             qz_gptq_zero_fmt_name(fmt),
                             z == 0 && lo == 1 ? " (v1 stores z-1; use gptq_v2 or sym)" : "");
                break;
            }
            v[o] = (uint32_t)(z - lo);
        }
        if (rc) break;
        pack_stream(w, v, out, bits);
        for (int64_t t = 0; t < nw; t++) qzeros[g * nw + t] = as_i32(w[t]);
    }
    free(v);
    free(w);
    return rc;
}

int qz_gptq_unpack_qzeros(int32_t *zeros, const int32_t *qzeros, int64_t n_groups,
                          int64_t out, int bits, qz_gptq_zero_fmt fmt, qz_error *err)
{
    int rc = check_bits(bits, err);
    if (!rc) rc = check_dim("out_features", out, bits, err);
    if (!rc) rc = check_zeros_request("gptq unpack", n_groups, fmt, err);
    if (rc) return rc;
    const int plus_one = fmt == QZ_GPTQ_ZERO_V1;
    for (int64_t g = 0; g < n_groups; g++)
        for (int64_t o = 0; o < out; o++) zeros[g * out + o] = qz_gptq_zero(qzeros, out, g, o, bits, plus_one);
    return QZ_OK;
}

/* ------------------------------------------------------------------------- */
/* Dequantization                                                             */

int qz_gptq_dequantize(float *W, const int32_t *qweight, const int32_t *qzeros,
                       const float *scales, const int32_t *g_idx, int64_t out, int64_t in,
                       int64_t n_groups, int bits, qz_gptq_zero_fmt fmt, qz_error *err)
{
    int rc = qz_gptq_pack_check(out, in, bits, err);
    if (!rc) rc = check_zeros_request("gptq dequant", n_groups, fmt, err);
    if (rc) return rc;
    for (int64_t k = 0; k < in; k++)
        if (g_idx[k] < 0 || g_idx[k] >= n_groups)
            return qz_fail(err, QZ_EINPUT, "gptq dequant: g_idx[%lld] = %d outside [0, %lld)",
                           (long long)k, (int)g_idx[k], (long long)n_groups);
    const int plus_one = fmt == QZ_GPTQ_ZERO_V1;
    for (int64_t o = 0; o < out; o++)
        for (int64_t k = 0; k < in; k++) {
            const int64_t g = qz_group_of(g_idx, 0, k);
            const int32_t q = (int32_t)qz_gptq_code(qweight, out, o, k, bits);
            W[o * in + k] = scales[g * out + o] * (float)(q - qz_gptq_zero(qzeros, out, g, o, bits, plus_one));
        }
    return QZ_OK;
}
