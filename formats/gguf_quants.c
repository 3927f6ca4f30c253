/* gguf_quants.c - ggml's type traits and the scalar dequantizers of F32,
 * F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and the K-quants Q2_K..Q6_K,
 * following ggml's ggml-common.h layouts and ggml-quants.c's
 * dequantize_row_* (same operations in the same order, so the floats are
 * identical). Each block is copied out of the file first: a GGUF may put
 * tensors at any alignment. Leaves out: Q8_1, Q8_K (intermediate types no
 * file holds), the IQ and TQ types, big-endian hosts. See gguf_quants.h. */
#include "gguf_quants.h"

#include "half.h" /* FP16/BF16 bits */

#include <string.h>

#define H(x) qz_fp16_to_fp32(x)

/* ------------------------------------------------------------ float types */

static void to_float_f32(const void *x, float *y, int64_t n)
{
    memcpy(y, x, (size_t)n * sizeof(float));
}

static void to_float_f16(const void *x, float *y, int64_t n)
{
    const unsigned char *p = x;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        y[i] = qz_fp16_to_fp32(h);
    }
}

static void to_float_bf16(const void *x, float *y, int64_t n)
{
    const unsigned char *p = x;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        y[i] = qz_bf16_to_fp32(h);
    }
}

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

/* ----------------------------------------------------------------- traits */

static const qz_ggml_traits traits[QZ_GGML_TYPE_COUNT] = {
    [QZ_GGML_F32] = {.name = "F32", .block_size = 1, .type_size = 4, .to_float = to_float_f32},
    [QZ_GGML_F16] = {.name = "F16", .block_size = 1, .type_size = 2, .to_float = to_float_f16},
    [QZ_GGML_BF16] = {.name = "BF16", .block_size = 1, .type_size = 2, .to_float = to_float_bf16},
    [QZ_GGML_Q4_0] = {.name = "Q4_0", .block_size = QZ_QK4_0, .type_size = sizeof(qz_block_q4_0), .to_float = to_float_q4_0},
    [QZ_GGML_Q4_1] = {.name = "Q4_1", .block_size = QZ_QK4_1, .type_size = sizeof(qz_block_q4_1), .to_float = to_float_q4_1},
    [QZ_GGML_Q5_0] = {.name = "Q5_0", .block_size = QZ_QK5_0, .type_size = sizeof(qz_block_q5_0), .to_float = to_float_q5_0},
    [QZ_GGML_Q5_1] = {.name = "Q5_1", .block_size = QZ_QK5_1, .type_size = sizeof(qz_block_q5_1), .to_float = to_float_q5_1},
    [QZ_GGML_Q8_0] = {.name = "Q8_0", .block_size = QZ_QK8_0, .type_size = sizeof(qz_block_q8_0), .to_float = to_float_q8_0},
    [QZ_GGML_Q2_K] = {.name = "Q2_K", .block_size = QZ_QK_K, .type_size = sizeof(qz_block_q2_K), .to_float = to_float_q2_K},
    [QZ_GGML_Q3_K] = {.name = "Q3_K", .block_size = QZ_QK_K, .type_size = sizeof(qz_block_q3_K), .to_float = to_float_q3_K},
    [QZ_GGML_Q4_K] = {.name = "Q4_K", .block_size = QZ_QK_K, .type_size = sizeof(qz_block_q4_K), .to_float = to_float_q4_K},
    [QZ_GGML_Q5_K] = {.name = "Q5_K", .block_size = QZ_QK_K, .type_size = sizeof(qz_block_q5_K), .to_float = to_float_q5_K},
    [QZ_GGML_Q6_K] = {.name = "Q6_K", .block_size = QZ_QK_K, .type_size = sizeof(qz_block_q6_K), .to_float = to_float_q6_K},
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
