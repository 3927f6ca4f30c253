/* half.c - FP16 / BF16 <-> FP32 by bit manipulation (IEEE 754-2008 binary16,
 * Google's bfloat16 = the top half of a binary32). See half.h. */
#include "half.h"

#include <string.h>

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

float qz_fp16_to_fp32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    if (exp == 0x1f) /* Inf / NaN: payload moves to the top of the f32 mantissa */
        return bits_f32(sign | 0x7f800000u | (man << 13));
    if (exp == 0) {
        if (man == 0) return bits_f32(sign);
        /* subnormal: value = man * 2^-24, exact in f32 */
        float v = (float)man * 0x1p-24f;
        return sign ? -v : v;
    }
    return bits_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

uint16_t qz_fp32_to_fp16(float f)
{
    uint32_t u = f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t exp = (u >> 23) & 0xffu;
    uint32_t man = u & 0x7fffffu;
    if (exp == 0xff) { /* Inf, or NaN kept quiet with its top payload bits */
        if (man == 0) return sign | 0x7c00u;
        return (uint16_t)(sign | 0x7e00u | (man >> 13));
    }
    int32_t e = (int32_t)exp - 127 + 15; /* rebiased exponent */
    if (e >= 0x1f) return sign | 0x7c00u; /* overflow -> Inf */
    if (e <= 0) {
        /* subnormal or zero in FP16: shift the full significand into place */
        if (e < -10) return sign; /* below half the smallest subnormal */
        uint32_t sig = man | 0x800000u;
        uint32_t shift = (uint32_t)(14 - e); /* 24-bit significand -> 10-bit field */
        uint32_t q = sig >> shift;
        uint32_t rem = sig & ((1u << shift) - 1);
        uint32_t half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1u))) q++;
        return (uint16_t)(sign | q); /* a carry into bit 10 gives the smallest normal */
    }
    uint32_t q = ((uint32_t)e << 10) | (man >> 13);
    uint32_t rem = man & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (q & 1u))) q++; /* carry may reach Inf: correct */
    return (uint16_t)(sign | q);
}

float qz_bf16_to_fp32(uint16_t b)
{
    return bits_f32((uint32_t)b << 16);
}

uint16_t qz_fp32_to_bf16(float f)
{
    uint32_t u = f32_bits(f);
    if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x7fffffu)) /* NaN: keep it quiet */
        return (uint16_t)((u >> 16) | 0x40u);
    uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)((u + rounding) >> 16);
}

void qz_fp16_to_fp32_row(const uint16_t *src, float *dst, int64_t n)
{
    for (int64_t i = 0; i < n; i++) dst[i] = qz_fp16_to_fp32(src[i]);
}

void qz_fp32_to_fp16_row(const float *src, uint16_t *dst, int64_t n)
{
    for (int64_t i = 0; i < n; i++) dst[i] = qz_fp32_to_fp16(src[i]);
}

void qz_bf16_to_fp32_row(const uint16_t *src, float *dst, int64_t n)
{
    for (int64_t i = 0; i < n; i++) dst[i] = qz_bf16_to_fp32(src[i]);
}

void qz_fp32_to_bf16_row(const float *src, uint16_t *dst, int64_t n)
{
    for (int64_t i = 0; i < n; i++) dst[i] = qz_fp32_to_bf16(src[i]);
}
