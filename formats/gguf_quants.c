/* gguf_quants.c - ggml's type traits, the scalar dequantizers of F32,
 * F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and the K-quants Q2_K..Q6_K,
 * following ggml's ggml-common.h layouts and ggml-quants.c's
 * dequantize_row_* (same operations in the same order, so the floats are
 * identical), and for Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q4_K Q5_K Q6_K the two
 * halves of a quantizer: the block parameters as ggml-quants.c chooses
 * them - quantize_row_*_ref without importances, quantize_row_*_impl
 * (llama-quantize --imatrix) with them (make_qx_quants, make_qkx2/3_quants,
 * make_qp_quants in ggml's fp32 order of operations) - and the packing of
 * codes. Each block is copied out of the file first: a GGUF may put tensors
 * at any alignment. Leaves out: Q8_1, Q8_K (intermediate types no file
 * holds), the IQ and TQ types, quantizing Q2_K / Q3_K, big-endian hosts.
 * See gguf_quants.h. */
#include "gguf_quants.h"

#include "half.h" /* FP16/BF16 bits */

#include <math.h>
#include <string.h>
#include <strings.h>

#define H(x) qz_fp16_to_fp32(x)

/* ------------------------------------------------------------ float types */

static void to_float_f32(const void *x, float *y, int64_t n)
{
    memcpy(y, x, (size_t)n * sizeof(float));
}

/* 16-bit floats read with memcpy: general.alignment may be 1, so a tensor's
 * data need not be 2-byte aligned (half.h's row converters assume it is). */
static void to_float_16bit(const void *x, float *y, int64_t n, float (*conv)(uint16_t))
{
    const unsigned char *p = x;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        y[i] = conv(h);
    }
}

static void to_float_f16(const void *x, float *y, int64_t n) { to_float_16bit(x, y, n, qz_fp16_to_fp32); }
static void to_float_bf16(const void *x, float *y, int64_t n) { to_float_16bit(x, y, n, qz_bf16_to_fp32); }

/* ------------------------------------------------- 32-element block types */

static void to_float_q4_0(const void *x, float *y, int64_t n)
{
    for (int64_t b = 0; b < n / QZ_QK4_0; b++, y += QZ_QK4_0) {
        qz_block_q4_0 k;
        memcpy(&k, (const char *)x + b * (int64_t)sizeof k, sizeof k);
        float d = H(k.d);
        for (int j = 0; j < QZ_QK4_0 / 2; j++) {
            y[j] = (float)((k.qs[j] & 0x0F) - 8) * d;
            y[j + QZ_QK4_0 / 2] = (float)((k.qs[j] >> 4) - 8) * d;
        }
    }
}

static void to_float_q4_1(const void *x, float *y, int64_t n)
{
    for (int64_t b = 0; b < n / QZ_QK4_1; b++, y += QZ_QK4_1) {
        qz_block_q4_1 k;
        memcpy(&k, (const char *)x + b * (int64_t)sizeof k, sizeof k);
        float d = H(k.d), m = H(k.m);
        for (int j = 0; j < QZ_QK4_1 / 2; j++) {
            y[j] = (float)(k.qs[j] & 0x0F) * d + m;
            y[j + QZ_QK4_1 / 2] = (float)(k.qs[j] >> 4) * d + m;
        }
    }
}

/* Element j's and j+16's 5-bit codes of a Q5 block: nibble | bit from qh. */
static void q5_codes(const uint8_t qh4[4], const uint8_t *qs, int j, int *x0, int *x1)
{
    uint32_t qh;
    memcpy(&qh, qh4, 4);
    *x0 = (qs[j] & 0x0F) | (int)(((qh >> j) << 4) & 0x10);
    *x1 = (qs[j] >> 4) | (int)((qh >> (j + 12)) & 0x10);
}

static void to_float_q5_0(const void *x, float *y, int64_t n)
{
    for (int64_t b = 0; b < n / QZ_QK5_0; b++, y += QZ_QK5_0) {
        qz_block_q5_0 k;
        memcpy(&k, (const char *)x + b * (int64_t)sizeof k, sizeof k);
        float d = H(k.d);
        for (int j = 0; j < QZ_QK5_0 / 2; j++) {
            int x0, x1;
            q5_codes(k.qh, k.qs, j, &x0, &x1);
            y[j] = (float)(x0 - 16) * d;
            y[j + QZ_QK5_0 / 2] = (float)(x1 - 16) * d;
        }
    }
}

static void to_float_q5_1(const void *x, float *y, int64_t n)
{
    for (int64_t b = 0; b < n / QZ_QK5_1; b++, y += QZ_QK5_1) {
        qz_block_q5_1 k;
        memcpy(&k, (const char *)x + b * (int64_t)sizeof k, sizeof k);
        float d = H(k.d), m = H(k.m);
        for (int j = 0; j < QZ_QK5_1 / 2; j++) {
            int x0, x1;
            q5_codes(k.qh, k.qs, j, &x0, &x1);
            y[j] = (float)x0 * d + m;
            y[j + QZ_QK5_1 / 2] = (float)x1 * d + m;
        }
    }
}

static void to_float_q8_0(const void *x, float *y, int64_t n)
{
    for (int64_t b = 0; b < n / QZ_QK8_0; b++, y += QZ_QK8_0) {
        qz_block_q8_0 k;
        memcpy(&k, (const char *)x + b * (int64_t)sizeof k, sizeof k);
        float d = H(k.d);
        for (int j = 0; j < QZ_QK8_0; j++) y[j] = (float)k.qs[j] * d;
    }
}

/* ---------------------------------------------------------------- K-quants */

static void to_float_q2_K(const void *x, float *y, int64_t n)
{
    for (int64_t b = 0; b < n / QZ_QK_K; b++) {
        qz_block_q2_K k;
        memcpy(&k, (const char *)x + b * (int64_t)sizeof k, sizeof k);
        float d = H(k.d), min = H(k.dmin);
        const uint8_t *q = k.qs;
        int is = 0;
        for (int half = 0; half < 2; half++, q += 32)
            for (int shift = 0; shift < 8; shift += 2)
                for (int part = 0; part < 2; part++) { /* 16 elements per 4-bit scale/min pair */
                    uint8_t sc = k.scales[is++];
                    float dl = d * (float)(sc & 0x0F), ml = min * (float)(sc >> 4);
                    for (int l = 0; l < 16; l++) *y++ = dl * (float)((q[l + 16 * part] >> shift) & 3) - ml;
                }
    }
}

/* The 16 signed 6-bit scales of a Q3_K block (ggml's kmask unpacking):
 * low 4 bits from bytes 0..7, high 2 bits from bytes 8..11. */
static void q3_K_scales(const uint8_t packed[12], int8_t out[16])
{
    for (int i = 0; i < 16; i++) {
        int lo = i < 8 ? packed[i] & 0x0F : packed[i - 8] >> 4;
        int hi = (packed[8 + i % 4] >> (2 * (i / 4))) & 3;
        out[i] = (int8_t)((lo | hi << 4) - 32);
    }
}

static void to_float_q3_K(const void *x, float *y, int64_t n)
{
    for (int64_t b = 0; b < n / QZ_QK_K; b++) {
        qz_block_q3_K k;
        memcpy(&k, (const char *)x + b * (int64_t)sizeof k, sizeof k);
        int8_t sc[16];
        q3_K_scales(k.scales, sc);
        float d_all = H(k.d);
        const uint8_t *q = k.qs;
        int is = 0;
        uint8_t m = 1;
        for (int half = 0; half < 2; half++, q += 32)
            for (int shift = 0; shift < 8; shift += 2, m = (uint8_t)(m << 1))
                for (int part = 0; part < 2; part++) {
                    float dl = d_all * (float)sc[is++];
                    for (int l = 16 * part; l < 16 * part + 16; l++)
                        *y++ = dl * (float)(((q[l] >> shift) & 3) - ((k.hmask[l] & m) ? 0 : 4));
                }
    }
}

/* Sub-block j's 6-bit scale and min of a Q4_K/Q5_K block (ggml's
 * get_scale_min_k4). */
static void k4_scale_min(int j, const uint8_t *q, uint8_t *d, uint8_t *m)
{
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (uint8_t)((q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* Q4_K (qh NULL) and Q5_K: per 64 elements, two sub-blocks sharing 32
 * bytes of nibbles (low nibble first), plus a high bit from qh for Q5_K. */
static void k_quant_4_5(float d, float min, const uint8_t *scales, const uint8_t *qs, const uint8_t *qh, float *y)
{
    uint8_t u1 = 1, u2 = 2;
    for (int j = 0, is = 0; j < QZ_QK_K; j += 64, is += 2, qs += 32, u1 = (uint8_t)(u1 << 2), u2 = (uint8_t)(u2 << 2)) {
        uint8_t sc, m;
        k4_scale_min(is, scales, &sc, &m);
        float d1 = d * (float)sc, m1 = min * (float)m;
        k4_scale_min(is + 1, scales, &sc, &m);
        float d2 = d * (float)sc, m2 = min * (float)m;
        for (int l = 0; l < 32; l++) *y++ = d1 * (float)((qs[l] & 0x0F) + (qh && (qh[l] & u1) ? 16 : 0)) - m1;
        for (int l = 0; l < 32; l++) *y++ = d2 * (float)((qs[l] >> 4) + (qh && (qh[l] & u2) ? 16 : 0)) - m2;
    }
}

static void to_float_q4_K(const void *x, float *y, int64_t n)
{
    for (int64_t b = 0; b < n / QZ_QK_K; b++, y += QZ_QK_K) {
        qz_block_q4_K k;
        memcpy(&k, (const char *)x + b * (int64_t)sizeof k, sizeof k);
        k_quant_4_5(H(k.d), H(k.dmin), k.scales, k.qs, NULL, y);
    }
}

static void to_float_q5_K(const void *x, float *y, int64_t n)
{
    for (int64_t b = 0; b < n / QZ_QK_K; b++, y += QZ_QK_K) {
        qz_block_q5_K k;
        memcpy(&k, (const char *)x + b * (int64_t)sizeof k, sizeof k);
        k_quant_4_5(H(k.d), H(k.dmin), k.scales, k.qs, k.qh, y);
    }
}

static void to_float_q6_K(const void *x, float *y, int64_t n)
{
    for (int64_t b = 0; b < n / QZ_QK_K; b++) {
        qz_block_q6_K k;
        memcpy(&k, (const char *)x + b * (int64_t)sizeof k, sizeof k);
        float d = H(k.d);
        const uint8_t *ql = k.ql, *qh = k.qh;
        const int8_t *sc = k.scales;
        for (int half = 0; half < 2; half++, y += 128, ql += 64, qh += 32, sc += 8)
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int q1 = ((ql[l] & 0x0F) | ((qh[l] >> 0) & 3) << 4) - 32;
                int q2 = ((ql[l + 32] & 0x0F) | ((qh[l] >> 2) & 3) << 4) - 32;
                int q3 = ((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32;
                int q4 = ((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32;
                y[l] = d * (float)sc[is] * (float)q1;
                y[l + 32] = d * (float)sc[is + 2] * (float)q2;
                y[l + 64] = d * (float)sc[is + 4] * (float)q3;
                y[l + 96] = d * (float)sc[is + 6] * (float)q4;
            }
    }
}

/* ---------------------------------------------- quantizers: step 1, params
 *
 * Each params function takes qw, the block's importances (NULL: the
 * reference rule, quantize_row_*_ref), and sigma2, the mean of x^2 over the
 * whole row, which the 32-element types' weighted rules use
 * (quantize_row_q4_0_impl ...); the K-quants' take 2x the mean over their
 * own super-block instead, as llama.cpp's quantize_row_q4_K_impl does. */

#define QZ_GROUP_MAX_EPS 1e-15f /* ggml's GROUP_MAX_EPS: an all-zero group */

/* ggml's nearest_int: round half to even, exact for |x| < 2^22. */
static int nearest(float x)
{
    return (int)nearbyintf(x);
}

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* The element of largest |x| with its sign (first one on ties). */
static float signed_amax(const float *x, int n)
{
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; j++)
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    return max;
}

static void min_max(const float *x, int n, float *mn, float *mx)
{
    *mn = INFINITY;
    *mx = -INFINITY;
    for (int j = 0; j < n; j++) {
        if (x[j] < *mn) *mn = x[j];
        if (x[j] > *mx) *mx = x[j];
    }
}

/* llama.cpp's imatrix weight of element j: qw[j] sqrt(sigma2 + x[j]^2). */
static void imatrix_weights(const float *x, const float *qw, float sigma2, int n, float *w)
{
    for (int j = 0; j < n; j++) w[j] = qw[j] * sqrtf(sigma2 + x[j] * x[j]);
}

/* sum w l x and sum w l^2 of n weights x on the signed codes
 * l = clamp(nearest(iscale x), -nmax, nmax - 1); w NULL: x^2. */
static void qx_sums(const float *x, int n, int nmax, const float *w, float iscale, float *sumlx, float *suml2)
{
    *sumlx = *suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = clampi(nearest(iscale * x[i]), -nmax, nmax - 1);
        float wi = w ? w[i] : x[i] * x[i];
        *sumlx += wi * x[i] * (float)l;
        *suml2 += wi * (float)l * (float)l;
    }
}

/* ggml-quants.c make_qx_quants with rmse_type 1: the signed scale of n
 * weights on codes [-nmax, nmax) maximising (sum w l x)^2 / sum w l^2 over
 * iscale = -(nmax + 0.1 is) / max, is = -9..9; w the importances
 * (quant_weights) or NULL for llama.cpp's default x^2. */
static float qx_scale(const float *x, int n, int nmax, const float *w)
{
    float mx = signed_amax(x, n);
    if (fabsf(mx) < QZ_GROUP_MAX_EPS) return 0.0f;
    float sumlx, suml2;
    qx_sums(x, n, nmax, w, (float)-nmax / mx, &sumlx, &suml2);
    float scale = suml2 ? sumlx / suml2 : 0.0f, best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        qx_sums(x, n, nmax, w, -((float)nmax + 0.1f * (float)is) / mx, &sumlx, &suml2);
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* ggml-quants.c make_qkx2_quants / make_qkx3_quants (use_mad false; the
 * two differ only in how a code is clamped, and qkx3's clamp, used here,
 * gives the same codes wherever qkx2's is defined): the scale and -min of
 * n weights on [0, nmax] codes minimising the weighted squared error over
 * a first guess and nstep+1 grid stretches (each from the best min so far,
 * as ggml does); fp32 sums in ggml's order. */
static float qkx_scale(int n, int nmax, const float *x, const float *w, float *the_min, float rmin, float rdelta, int nstep)
{
    float mn = x[0], mx = x[0], sum_w = w[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < mn) mn = x[i];
        if (x[i] > mx) mx = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (mn > 0) mn = 0;
    if (mx <= mn) {
        *the_min = -mn;
        return 0.0f;
    }
    float iscale = (float)nmax / (mx - mn), scale = 1 / iscale, best = 0;
    for (int i = 0; i < n; i++) {
        float diff = scale * (float)clampi(nearest(iscale * (x[i] - mn)), 0, nmax) + mn - x[i];
        best += w[i] * (diff * diff);
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * (float)is + (float)nmax) / (mx - mn);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        uint8_t L[32];
        for (int i = 0; i < n; i++) {
            /* mn is the best fit so far and may lie near or above mx: v may be inf or NaN */
            float v = iscale * (x[i] - mn);
            int l = v > 0 ? nearest(v < (float)nmax ? v : (float)nmax) : 0;
            L[i] = (uint8_t)l;
            sum_l += w[i] * (float)l;
            sum_l2 += w[i] * (float)l * (float)l;
            sum_xl += w[i] * (float)l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (!(D > 0)) continue;
        float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D, this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
        if (this_min > 0) {
            this_min = 0;
            this_scale = sum_xl / sum_l2;
        }
        float cur = 0;
        for (int i = 0; i < n; i++) {
            float diff = this_scale * (float)L[i] + this_min - x[i];
            cur += w[i] * (diff * diff);
        }
        if (cur < best) best = cur, scale = this_scale, mn = this_min;
    }
    *the_min = -mn;
    return scale;
}

/* sum w (x - scale * min(nmax, nearest(iscale x)))^2 of make_qp_quants's
 * scale search. */
static float qp_error(const float *x, int n, int nmax, const float *w, float iscale)
{
    float scale = 1 / iscale, mse = 0;
    for (int i = 0; i < n; i++) {
        int l = nearest(iscale * x[i]);
        float diff = x[i] - scale * (float)(l < nmax ? l : nmax);
        mse += w[i] * diff * diff;
    }
    return mse;
}

/* One pass of make_qp_quants's refinement: each code moved to the best
 * for the others' fit when that raises (sum w l x)^2 / sum w l^2. */
static int qp_refine(const float *x, int n, int nmax, const float *w, uint8_t *L, float *sumlx, float *suml2)
{
    int changed = 0;
    for (int i = 0; i < n; i++) {
        float slx = *sumlx - w[i] * x[i] * (float)L[i], sl2 = *suml2 - w[i] * (float)L[i] * (float)L[i];
        if (!(slx > 0 && sl2 > 0)) continue;
        int l = nearest(x[i] * sl2 / slx);
        l = l < nmax ? l : nmax;
        if (l == L[i]) continue;
        slx += w[i] * x[i] * (float)l;
        sl2 += w[i] * (float)l * (float)l;
        if (slx * slx * *suml2 > *sumlx * *sumlx * sl2) {
            L[i] = (uint8_t)l, *sumlx = slx, *suml2 = sl2;
            changed++;
        }
    }
    return changed;
}

/* ggml-quants.c make_qp_quants: n non-negative values x (the K-quants'
 * sub-block scales or mins) as scale * L, L in [0, nmax], weighted by w
 * (the sub-blocks' summed importance): the best of iscale = (nmax + 0.1
 * is) / max, is = -4..4, then up to 5 passes of qp_refine; returns the
 * least-squares scale of the final codes. L is uint8_t as in ggml. */
static float qp_scale(const float *x, int n, int nmax, const float *w, uint8_t *L)
{
    float max = 0;
    for (int i = 0; i < n; i++) max = max > x[i] ? max : x[i];
    if (max < QZ_GROUP_MAX_EPS) {
        for (int i = 0; i < n; i++) L[i] = 0;
        return 0.0f;
    }
    float iscale = (float)nmax / max, best = qp_error(x, n, nmax, w, iscale);
    for (int is = -4; is <= 4; is++) {
        if (is == 0) continue;
        float iscale_is = (0.1f * (float)is + (float)nmax) / max, mse = qp_error(x, n, nmax, w, iscale_is);
        if (mse < best) best = mse, iscale = iscale_is;
    }
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = nearest(iscale * x[i]);
        L[i] = (uint8_t)(l < nmax ? l : nmax);
        sumlx += w[i] * x[i] * (float)L[i];
        suml2 += w[i] * (float)L[i] * (float)L[i];
    }
    for (int itry = 0; itry < 5 && qp_refine(x, n, nmax, w, L, &sumlx, &suml2); itry++) {}
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* Q4_0 / Q5_0, codes offset by half. Reference: d = signed max / -half.
 * Weighted (quantize_row_q4_0_impl): make_qx_quants(32, half, rmse 1)
 * with the imatrix weights. */
static uint16_t params_sym(const float *x, const float *qw, float sigma2, int half, float *scale, int32_t *zero, float *offset)
{
    float w[32];
    if (qw) imatrix_weights(x, qw, sigma2, 32, w);
    uint16_t d = qz_fp32_to_fp16(qw ? qx_scale(x, 32, half, w) : signed_amax(x, 32) / (float)-half);
    *scale = qz_fp16_to_fp32(d), *zero = half, *offset = -0.0f;
    return d;
}

/* Q4_1 / Q5_1. Reference: d = (max - min) / maxq, m = min. Weighted
 * (quantize_row_q4_1_impl): make_qkx3_quants(32, maxq; rmin -0.9, rdelta
 * 0.05, 36 steps) with the imatrix weights; its min is never above 0. */
static void params_min(const float *x, const float *qw, float sigma2, int maxq, uint16_t *d, uint16_t *m, float *scale,
                       int32_t *zero, float *offset)
{
    if (qw) {
        float w[32], neg_min;
        imatrix_weights(x, qw, sigma2, 32, w);
        *d = qz_fp32_to_fp16(qkx_scale(32, maxq, x, w, &neg_min, -0.9f, 0.05f, 36));
        *m = qz_fp32_to_fp16(-neg_min);
    } else {
        float mn, mx;
        min_max(x, 32, &mn, &mx);
        *d = qz_fp32_to_fp16((mx - mn) / (float)maxq);
        *m = qz_fp32_to_fp16(mn);
    }
    *scale = qz_fp16_to_fp32(*d), *zero = 0, *offset = qz_fp16_to_fp32(*m);
}

static void params_q4_0(const float *x, const float *qw, float sigma2, void *blk, float *scale, int32_t *zero, float *offset)
{
    ((qz_block_q4_0 *)blk)->d = params_sym(x, qw, sigma2, 8, scale, zero, offset);
}

static void params_q5_0(const float *x, const float *qw, float sigma2, void *blk, float *scale, int32_t *zero, float *offset)
{
    ((qz_block_q5_0 *)blk)->d = params_sym(x, qw, sigma2, 16, scale, zero, offset);
}

static void params_q4_1(const float *x, const float *qw, float sigma2, void *blk, float *scale, int32_t *zero, float *offset)
{
    qz_block_q4_1 *b = blk;
    params_min(x, qw, sigma2, 15, &b->d, &b->m, scale, zero, offset);
}

static void params_q5_1(const float *x, const float *qw, float sigma2, void *blk, float *scale, int32_t *zero, float *offset)
{
    qz_block_q5_1 *b = blk;
    params_min(x, qw, sigma2, 31, &b->d, &b->m, scale, zero, offset);
}

/* Q8_0: d = amax / 127 (llama.cpp has no weighted Q8_0); the stored int8
 * is code - 128. */
static void params_q8_0(const float *x, const float *qw, float sigma2, void *blk, float *scale, int32_t *zero, float *offset)
{
    (void)qw, (void)sigma2;
    qz_block_q8_0 *b = blk;
    b->d = qz_fp32_to_fp16(fabsf(signed_amax(x, 32)) / 127.0f);
    *scale = qz_fp16_to_fp32(b->d), *zero = 128, *offset = -0.0f;
}

/* Sub-block j's 6-bit scale and min into the 12 packed bytes (the inverse
 * of k4_scale_min). */
static void k4_put_scale_min(int j, uint8_t *q, int ls, int lm)
{
    if (j < 4) {
        q[j] = (uint8_t)ls;
        q[j + 4] = (uint8_t)lm;
    } else {
        q[j + 4] = (uint8_t)((ls & 0x0F) | (lm & 0x0F) << 4);
        q[j - 4] |= (uint8_t)((ls >> 4) << 6);
        q[j] |= (uint8_t)((lm >> 4) << 6);
    }
}

/* quantize_row_q4_K_ref / q5_K_ref: make_qkx2_quants per sub-block with
 * weights rms + |x|, then the 6-bit codes against the maxima / 63. */
static void k45_subscales_ref(const float *x, int nmax, float rmin, int nstep, uint8_t ls[8], uint8_t lm[8], float *d, float *dmin)
{
    float sc[8], mins[8], max_scale = 0, max_min = 0, w[32];
    for (int j = 0; j < 8; j++) {
        const float *xj = x + 32 * j;
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += xj[l] * xj[l];
        float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) w[l] = av_x + fabsf(xj[l]);
        sc[j] = qkx_scale(32, nmax, xj, w, &mins[j], rmin, 0.1f, nstep);
        if (sc[j] > max_scale) max_scale = sc[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f, inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < 8; j++) {
        /* ggml stores nearest_int into a uint8_t before MIN(63, .) */
        ls[j] = (uint8_t)nearest(inv_scale * sc[j]), lm[j] = (uint8_t)nearest(inv_min * mins[j]);
    }
    *d = max_scale / 63.f;
    *dmin = max_min / 63.f;
}

/* quantize_row_q4_K_impl / q5_K_impl with quant_weights: imatrix weights
 * with sigma2 = 2 mean(x^2) over the super-block, make_qkx3_quants per
 * sub-block (rmin -0.9, rdelta 0.05, 36 steps), then make_qp_quants picks
 * d / dmin and the 6-bit codes, each sub-block weighted by its summed
 * importance. */
static void k45_subscales_weighted(const float *x, const float *qw, int nmax, uint8_t ls[8], uint8_t lm[8], float *d, float *dmin)
{
    float sum_x2 = 0, sc[8], mins[8], sw[8], w[32];
    for (int l = 0; l < QZ_QK_K; l++) sum_x2 += x[l] * x[l];
    float sigma2 = 2 * sum_x2 / QZ_QK_K;
    for (int j = 0; j < 8; j++) {
        imatrix_weights(x + 32 * j, qw + 32 * j, sigma2, 32, w);
        sw[j] = 0;
        for (int l = 0; l < 32; l++) sw[j] += w[l];
        sc[j] = qkx_scale(32, nmax, x + 32 * j, w, &mins[j], -0.9f, 0.05f, 36);
    }
    *d = qp_scale(sc, 8, 63, sw, ls);
    *dmin = qp_scale(mins, 8, 63, sw, lm);
}

/* Q4_K (nmax 15) / Q5_K (31): eight sub-blocks of 32, each an affine
 * d*sc*q - dmin*m with 6-bit sc, m; the grid from the stored values. */
static void params_k45(const float *x, const float *qw, int nmax, float rmin, int nstep, uint16_t *d, uint16_t *dmin,
                       uint8_t *scales, float *scale, int32_t *zero, float *offset)
{
    uint8_t ls[8], lm[8];
    float fd, fdmin;
    if (qw)
        k45_subscales_weighted(x, qw, nmax, ls, lm, &fd, &fdmin);
    else
        k45_subscales_ref(x, nmax, rmin, nstep, ls, lm, &fd, &fdmin);
    memset(scales, 0, QZ_K_SCALE_SIZE);
    for (int j = 0; j < 8; j++) k4_put_scale_min(j, scales, ls[j] < 63 ? ls[j] : 63, lm[j] < 63 ? lm[j] : 63);
    *d = qz_fp32_to_fp16(fd);
    *dmin = qz_fp32_to_fp16(fdmin);
    for (int j = 0; j < 8; j++) {
        uint8_t s, m;
        k4_scale_min(j, scales, &s, &m);
        scale[j] = qz_fp16_to_fp32(*d) * (float)s;
        zero[j] = 0;
        offset[j] = -(qz_fp16_to_fp32(*dmin) * (float)m);
    }
}

static void params_q4_K(const float *x, const float *qw, float sigma2, void *blk, float *scale, int32_t *zero, float *offset)
{
    (void)sigma2;
    qz_block_q4_K *b = blk;
    params_k45(x, qw, 15, -1.0f, 20, &b->d, &b->dmin, b->scales, scale, zero, offset);
}

static void params_q5_K(const float *x, const float *qw, float sigma2, void *blk, float *scale, int32_t *zero, float *offset)
{
    (void)sigma2;
    qz_block_q5_K *b = blk;
    params_k45(x, qw, 31, -0.5f, 15, &b->d, &b->dmin, b->scales, scale, zero, offset);
}

/* Q6_K: sixteen sub-blocks of 16, d*sc*(q - 32) with int8 sc; each
 * sub-block's scale by make_qx_quants(16, 32, rmse 1) weighted by x^2
 * (reference) or by the importances themselves (quantize_row_q6_K_impl
 * passes quant_weights unchanged), then the int8 scales against
 * -128 / the signed max scale either way. */
static void params_q6_K(const float *x, const float *qw, float sigma2, void *blk, float *scale, int32_t *zero, float *offset)
{
    (void)sigma2;
    qz_block_q6_K *b = blk;
    float sc[16], max_scale = 0, max_abs = 0;
    for (int ib = 0; ib < 16; ib++) {
        sc[ib] = qx_scale(x + 16 * ib, 16, 32, qw ? qw + 16 * ib : NULL);
        if (fabsf(sc[ib]) > max_abs) max_abs = fabsf(sc[ib]), max_scale = sc[ib];
    }
    memset(b, 0, sizeof *b);
    if (max_abs >= QZ_GROUP_MAX_EPS) {
        float iscale = -128.f / max_scale;
        b->d = qz_fp32_to_fp16(1 / iscale);
        for (int ib = 0; ib < 16; ib++) {
            int l = nearest(iscale * sc[ib]);
            b->scales[ib] = (int8_t)(l < 127 ? l : 127);
        }
    }
    for (int ib = 0; ib < 16; ib++) {
        scale[ib] = qz_fp16_to_fp32(b->d) * (float)b->scales[ib];
        zero[ib] = 32;
        offset[ib] = -0.0f;
    }
}

/* ------------------------------------------------ quantizers: step 2, pack */

/* 32 codes of [0, 16) as nibbles: element j low, element j + 16 high. */
static void pack_nibbles_32(const uint8_t *c, uint8_t *qs)
{
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)((c[j] & 0x0F) | (c[j + 16] & 0x0F) << 4);
}

/* The 5th bits of 32 codes, bit j for element j, u32 little-endian. */
static void pack_high_bits_32(const uint8_t *c, uint8_t qh[4])
{
    memset(qh, 0, 4);
    for (int j = 0; j < 32; j++) qh[j / 8] |= (uint8_t)(((c[j] >> 4) & 1) << (j % 8));
}

static void pack_q4_0(const uint8_t *c, void *blk) { pack_nibbles_32(c, ((qz_block_q4_0 *)blk)->qs); }
static void pack_q4_1(const uint8_t *c, void *blk) { pack_nibbles_32(c, ((qz_block_q4_1 *)blk)->qs); }

static void pack_q5_0(const uint8_t *c, void *blk)
{
    qz_block_q5_0 *b = blk;
    pack_nibbles_32(c, b->qs);
    pack_high_bits_32(c, b->qh);
}

static void pack_q5_1(const uint8_t *c, void *blk)
{
    qz_block_q5_1 *b = blk;
    pack_nibbles_32(c, b->qs);
    pack_high_bits_32(c, b->qh);
}

static void pack_q8_0(const uint8_t *c, void *blk)
{
    for (int j = 0; j < 32; j++) ((qz_block_q8_0 *)blk)->qs[j] = (int8_t)(c[j] - 128);
}

/* Q4_K / Q5_K (qh NULL for Q4_K): per 64 elements 32 bytes, element l in
 * the low nibble and l + 32 in the high; the 5th bits in qh, two bits per
 * 64-element chunk (the inverse of k_quant_4_5). */
static void pack_k45(const uint8_t *c, uint8_t *qs, uint8_t *qh)
{
    if (qh) memset(qh, 0, QZ_QK_K / 8);
    for (int n = 0, k = 0; n < QZ_QK_K; n += 64, k += 2, qs += 32)
        for (int l = 0; l < 32; l++) {
            qs[l] = (uint8_t)((c[n + l] & 0x0F) | (c[n + l + 32] & 0x0F) << 4);
            if (qh) qh[l] |= (uint8_t)(((c[n + l] >> 4) & 1) << k | ((c[n + l + 32] >> 4) & 1) << (k + 1));
        }
}

static void pack_q4_K(const uint8_t *c, void *blk) { pack_k45(c, ((qz_block_q4_K *)blk)->qs, NULL); }

static void pack_q5_K(const uint8_t *c, void *blk)
{
    qz_block_q5_K *b = blk;
    pack_k45(c, b->qs, b->qh);
}

/* Q6_K: per 128 elements, ql[l] = low nibbles of l (low) and l+64 (high),
 * ql[l+32] those of l+32 and l+96, qh[l] the high 2 bits of l, l+32, l+64,
 * l+96 at shifts 0, 2, 4, 6 (the inverse of to_float_q6_K). */
static void pack_q6_K(const uint8_t *c, void *blk)
{
    qz_block_q6_K *b = blk;
    uint8_t *ql = b->ql, *qh = b->qh;
    for (int n = 0; n < QZ_QK_K; n += 128, ql += 64, qh += 32, c += 128)
        for (int l = 0; l < 32; l++) {
            ql[l] = (uint8_t)((c[l] & 0x0F) | (c[l + 64] & 0x0F) << 4);
            ql[l + 32] = (uint8_t)((c[l + 32] & 0x0F) | (c[l + 96] & 0x0F) << 4);
            qh[l] = (uint8_t)((c[l] >> 4) | (c[l + 32] >> 4) << 2 | (c[l + 64] >> 4) << 4 | (c[l + 96] >> 4) << 6);
        }
}

/* ----------------------------------------------------------------- traits */

#define QUANT(p, k, g, q, ft) .params = p, .pack = k, .grid_group = g, .grid_maxq = q, .file_type = ft

static const qz_ggml_traits traits[QZ_GGML_TYPE_COUNT] = {
    [QZ_GGML_F32] = {.name = "F32", .block_size = 1, .type_size = 4, .to_float = to_float_f32, .file_type = 0},
    [QZ_GGML_F16] = {.name = "F16", .block_size = 1, .type_size = 2, .to_float = to_float_f16, .file_type = 1},
    [QZ_GGML_BF16] = {.name = "BF16", .block_size = 1, .type_size = 2, .to_float = to_float_bf16, .file_type = 32},
    [QZ_GGML_Q4_0] = {.name = "Q4_0", .block_size = QZ_QK4_0, .type_size = sizeof(qz_block_q4_0), .to_float = to_float_q4_0,
                      QUANT(params_q4_0, pack_q4_0, 32, 15, 2)},
    [QZ_GGML_Q4_1] = {.name = "Q4_1", .block_size = QZ_QK4_1, .type_size = sizeof(qz_block_q4_1), .to_float = to_float_q4_1,
                      QUANT(params_q4_1, pack_q4_1, 32, 15, 3)},
    [QZ_GGML_Q5_0] = {.name = "Q5_0", .block_size = QZ_QK5_0, .type_size = sizeof(qz_block_q5_0), .to_float = to_float_q5_0,
                      QUANT(params_q5_0, pack_q5_0, 32, 31, 8)},
    [QZ_GGML_Q5_1] = {.name = "Q5_1", .block_size = QZ_QK5_1, .type_size = sizeof(qz_block_q5_1), .to_float = to_float_q5_1,
                      QUANT(params_q5_1, pack_q5_1, 32, 31, 9)},
    [QZ_GGML_Q8_0] = {.name = "Q8_0", .block_size = QZ_QK8_0, .type_size = sizeof(qz_block_q8_0), .to_float = to_float_q8_0,
                      QUANT(params_q8_0, pack_q8_0, 32, 255, 7)},
    [QZ_GGML_Q2_K] = {.name = "Q2_K", .block_size = QZ_QK_K, .type_size = sizeof(qz_block_q2_K), .to_float = to_float_q2_K},
    [QZ_GGML_Q3_K] = {.name = "Q3_K", .block_size = QZ_QK_K, .type_size = sizeof(qz_block_q3_K), .to_float = to_float_q3_K},
    [QZ_GGML_Q4_K] = {.name = "Q4_K", .block_size = QZ_QK_K, .type_size = sizeof(qz_block_q4_K), .to_float = to_float_q4_K,
                      QUANT(params_q4_K, pack_q4_K, 32, 15, 15)},
    [QZ_GGML_Q5_K] = {.name = "Q5_K", .block_size = QZ_QK_K, .type_size = sizeof(qz_block_q5_K), .to_float = to_float_q5_K,
                      QUANT(params_q5_K, pack_q5_K, 32, 31, 17)},
    [QZ_GGML_Q6_K] = {.name = "Q6_K", .block_size = QZ_QK_K, .type_size = sizeof(qz_block_q6_K), .to_float = to_float_q6_K,
                      QUANT(params_q6_K, pack_q6_K, 16, 63, 18)},
};

const qz_ggml_traits *qz_ggml_type_traits(int t)
{
    return t >= 0 && t < QZ_GGML_TYPE_COUNT && traits[t].name ? &traits[t] : NULL;
}

const char *qz_ggml_type_name(int t)
{
    const qz_ggml_traits *tr = qz_ggml_type_traits(t);
    return tr ? tr->name : "?";
}

const char *qz_ggml_supported_names(void)
{
    return "F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K Q3_K Q4_K Q5_K Q6_K";
}

int qz_ggml_type_from_name(const char *name)
{
    for (int t = 0; t < QZ_GGML_TYPE_COUNT; t++)
        if (traits[t].name && !strcasecmp(traits[t].name, name)) return t;
    return -1;
}

/* ------------------------------------------------------------- row helpers */

size_t qz_ggml_row_size(int t, int64_t ne0)
{
    const qz_ggml_traits *tr = qz_ggml_type_traits(t);
    return (size_t)(ne0 / tr->block_size) * tr->type_size;
}

int64_t qz_ggml_grid_groups(int t, int64_t ne0)
{
    return ne0 / qz_ggml_type_traits(t)->grid_group;
}

/* Blocks are built in an aligned local copy: dst may be any byte offset. */
typedef union any_block {
    qz_block_q4_0 q4_0;
    qz_block_q8_0 q8_0;
    qz_block_q4_K q4_K;
    qz_block_q5_K q5_K;
    qz_block_q6_K q6_K;
} any_block;

float qz_ggml_row_sigma2(const float *x, int64_t ne0)
{
    float sum_x2 = 0; /* fp32 in order, as quantize_row_q4_0_impl */
    for (int64_t j = 0; j < ne0; j++) sum_x2 += x[j] * x[j];
    return sum_x2 / (float)ne0;
}

void qz_ggml_block_params(int t, const float *x, const float *qw, float sigma2, void *dst, float *scale, int32_t *zero,
                          float *offset)
{
    const qz_ggml_traits *tr = qz_ggml_type_traits(t);
    assert(tr && tr->params);
    any_block blk;
    memset(&blk, 0, sizeof blk);
    tr->params(x, qw, sigma2, &blk, scale, zero, offset);
    memcpy(dst, &blk, tr->type_size);
}

void qz_ggml_row_params(int t, const float *x, const float *qw, int64_t ne0, void *dst, float *scale, int32_t *zero, float *offset)
{
    const qz_ggml_traits *tr = qz_ggml_type_traits(t);
    assert(tr && tr->params && ne0 % tr->block_size == 0);
    int64_t per = tr->block_size / tr->grid_group, bs = tr->block_size;
    float sigma2 = qw ? qz_ggml_row_sigma2(x, ne0) : 0.0f;
    for (int64_t b = 0; b < ne0 / bs; b++)
        qz_ggml_block_params(t, x + b * bs, qw ? qw + b * bs : NULL, sigma2, (char *)dst + b * (int64_t)tr->type_size, scale + b * per,
                             zero + b * per, offset + b * per);
}

void qz_ggml_row_pack(int t, const uint8_t *codes, int64_t ne0, void *dst)
{
    const qz_ggml_traits *tr = qz_ggml_type_traits(t);
    assert(tr && tr->pack && ne0 % tr->block_size == 0);
    for (int64_t b = 0; b < ne0 / tr->block_size; b++) {
        any_block blk;
        char *p = (char *)dst + b * (int64_t)tr->type_size;
        memcpy(&blk, p, tr->type_size);
        tr->pack(codes + b * tr->block_size, &blk);
        memcpy(p, &blk, tr->type_size);
    }
}
