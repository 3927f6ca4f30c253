/* test_half.c - FP16 exhaustively against the compiler's _Float16 (libgcc's
 * soft conversion, an independent implementation) and an ldexp formula;
 * every FP16 rounding boundary; BF16 against a double-precision nearest-even
 * oracle. */
#include "half.h"
#include "qz_test.h"

#include <stdint.h>
#include <string.h>

static float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

/* The value of an FP16 bit pattern from the IEEE definition. */
static double fp16_value(uint16_t h)
{
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
    if (e == 31) v = m ? NAN : INFINITY;
    return s ? -v : v;
}

static void test_fp16_to_fp32_exhaustive(void)
{
    for (uint32_t h = 0; h < 65536; h++) {
        float got = qz_fp16_to_fp32((uint16_t)h);
        double want = fp16_value((uint16_t)h);
        if (isnan(want)) CHECK(isnan(got), "h=0x%04x", h);
        else CHECK((double)got == want && !signbit(got) == !signbit(want), "h=0x%04x got %g want %g", h, got, want);
        _Float16 c;
        uint16_t hb = (uint16_t)h;
        memcpy(&c, &hb, 2);
        if (!isnan(want)) CHECK(got == (float)c, "h=0x%04x vs _Float16", h);
    }
}

static void test_fp16_roundtrip_exhaustive(void)
{
    for (uint32_t h = 0; h < 65536; h++) {
        uint16_t back = qz_fp32_to_fp16(qz_fp16_to_fp32((uint16_t)h));
        if (isnan(fp16_value((uint16_t)h))) CHECK((back & 0x7c00) == 0x7c00 && (back & 0x3ff), "NaN 0x%04x -> 0x%04x", h, back);
        else CHECK(back == h, "0x%04x -> 0x%04x", h, back);
    }
}

/* Every midpoint between neighbouring finite FP16 values (ties go to even),
 * and the floats just either side of it. */
static void test_fp16_rounding_boundaries(void)
{
    for (uint32_t h = 0; h < 0x7bff; h++) {
        for (int sgn = 0; sgn < 2; sgn++) {
            uint16_t lo = (uint16_t)(h | (sgn << 15)), hi = (uint16_t)((h + 1) | (sgn << 15));
            double mid = (fp16_value(lo) + fp16_value(hi)) / 2;
            float fm = (float)mid; /* exact: midpoints need 12 significant bits */
            CHECK((double)fm == mid, "midpoint inexact");
            uint16_t even = (lo & 1) ? hi : lo;
            CHECK(qz_fp32_to_fp16(fm) == even, "tie 0x%04x/0x%04x", lo, hi);
            float below = nextafterf(fm, 0.0f), above = nextafterf(fm, sgn ? -INFINITY : INFINITY);
            CHECK(qz_fp32_to_fp16(below) == lo, "below mid of 0x%04x", lo);
            CHECK(qz_fp32_to_fp16(above) == hi, "above mid of 0x%04x", lo);
        }
    }
    /* overflow: the midpoint between 65504 and 65536 rounds to Inf (even) */
    CHECK(qz_fp32_to_fp16(65520.0f) == 0x7c00, "65520 -> Inf");
    CHECK(qz_fp32_to_fp16(65519.99f) == 0x7bff, "65519.99 -> max");
    CHECK(qz_fp32_to_fp16(1e10f) == 0x7c00, "1e10 -> Inf");
    CHECK(qz_fp32_to_fp16(-INFINITY) == 0xfc00, "-Inf");
    /* underflow: half the smallest subnormal is a tie to zero (even) */
    CHECK(qz_fp32_to_fp16(0x1p-25f) == 0x0000, "2^-25 -> 0");
    CHECK(qz_fp32_to_fp16(nextafterf(0x1p-25f, 1.0f)) == 0x0001, "just above 2^-25");
    CHECK(qz_fp32_to_fp16(-0.0f) == 0x8000, "-0");
    CHECK(qz_fp32_to_fp16(1e-30f) == 0x0000, "tiny -> 0");
}

/* Random floats against _Float16. */
static void test_fp16_random_vs_compiler(void)
{
    uint64_t s = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 2000000; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        uint32_t u = (uint32_t)(s >> 32);
        /* Concentrate on the FP16 range: exponents 100..150 most of the time. */
        if (i & 1) u = (u & 0x807fffffu) | ((uint32_t)(100 + (s >> 8) % 50) << 23);
        float f = bits_f32(u);
        if (isnan(f)) continue;
        _Float16 c = (_Float16)f;
        uint16_t want;
        memcpy(&want, &c, 2);
        CHECK(qz_fp32_to_fp16(f) == want, "f=%a got 0x%04x want 0x%04x", f, qz_fp32_to_fp16(f), want);
    }
}

/* BF16 nearest-even oracle in double arithmetic. */
static uint16_t bf16_oracle(float f)
{
    uint32_t u = f32_bits(f);
    uint16_t lo = (uint16_t)(u >> 16), hi = (uint16_t)(lo + 1);
    double x = f, dl = fabs(x - (double)qz_bf16_to_fp32(lo));
    double dh = fabs((double)qz_bf16_to_fp32(hi) - x);
    if ((lo & 0x7f80) == 0x7f00 && (lo & 0x7f) == 0x7f) /* hi would be Inf */
        dh = fabs(ldexp(1.0, 128) - fabs(x));
    if (dl < dh) return lo;
    if (dh < dl) return hi;
    return (lo & 1) ? hi : lo;
}

static void test_bf16(void)
{
    uint64_t s = 12345;
    for (int i = 0; i < 2000000; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        float f = bits_f32((uint32_t)(s >> 32));
        if (isnan(f) || isinf(f)) continue;
        CHECK(qz_fp32_to_bf16(f) == bf16_oracle(f), "f=%a", f);
    }
    for (uint32_t b = 0; b < 65536; b++) {
        float f = qz_bf16_to_fp32((uint16_t)b);
        if (isnan(f)) CHECK(isnan(qz_bf16_to_fp32(qz_fp32_to_bf16(f))), "NaN 0x%04x", b);
        else CHECK(qz_fp32_to_bf16(f) == b, "roundtrip 0x%04x", b);
    }
    CHECK(qz_fp32_to_bf16(1.00390625f) == 0x3f80, "tie to even down"); /* 1 + 2^-8 */
    CHECK(qz_fp32_to_bf16(1.01171875f) == 0x3f82, "tie to even up");   /* 1 + 3*2^-8 */
    CHECK(isnan(qz_bf16_to_fp32(qz_fp32_to_bf16(bits_f32(0x7f800001u)))), "signalling NaN stays NaN");
    CHECK(qz_fp32_to_bf16(bits_f32(0x7f7fffffu)) == 0x7f80, "FLT_MAX -> Inf");
}

int main(void)
{
    QZ_RUN(test_fp16_to_fp32_exhaustive);
    QZ_RUN(test_fp16_roundtrip_exhaustive);
    QZ_RUN(test_fp16_rounding_boundaries);
    QZ_RUN(test_fp16_random_vs_compiler);
    QZ_RUN(test_bf16);
    QZ_TEST_EXIT();
}
