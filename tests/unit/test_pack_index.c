/* test_pack_index.c - the packed-layout index arithmetic shared by formats/
 * and the CUDA kernels (formats/pack_index.h), against hand-worked words.
 * The readers built on it are tested against independent fixtures in
 * test_gptq.c, test_awq_pack.c and test_sparse24.c; this file pins the
 * corner cases directly: 3-bit values straddling words, strided columns,
 * the AWQ nibble interleave, v1 zero offsets and the 2:4 mask nibbles.
 */
#include <stdint.h>

#include "pack_index.h"
#include "tests/qz_test.h"

static void test_bitpos(void)
{
    /* 3 bits: value 10 starts at bit 30 of word 0, value 21 at bit 31 of
     * word 1, value 11 at bit 1 of word 1 (33 = 32 + 1). */
    const struct { int64_t k; int bits; int64_t word; int shift; } cases[] = {
        {10, 3, 0, 30}, {21, 3, 1, 31}, {11, 3, 1, 1}, {31, 3, 2, 29},
        {7, 4, 0, 28}, {8, 4, 1, 0}, {3, 8, 0, 24}, {15, 2, 0, 30}, {16, 2, 1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        qz_bitpos p = qz_bitpos_of(cases[i].k, cases[i].bits);
        CHECK(p.word == cases[i].word && p.shift == cases[i].shift, "k %lld at %d bits: word %lld shift %d",
              (long long)cases[i].k, cases[i].bits, (long long)p.word, p.shift);
    }
}

static void test_stream_straddle(void)
{
    /* value 10 = 0b101: bit 30 of w0 = 1, bit 31 = 0, bit 0 of w1 = 1.
     * value 21 = 0b110: bit 31 of w1 = 0, bits 0-1 of w2 = 0b11. */
    const int32_t w[3] = {0x40000000, 0x00000001, 0x00000003};
    CHECK(qz_stream_get(w, 1, 10, 3) == 5, "value 10 = %u", qz_stream_get(w, 1, 10, 3));
    CHECK(qz_stream_get(w, 1, 21, 3) == 6, "value 21 = %u", qz_stream_get(w, 1, 21, 3));
    CHECK(qz_stream_get(w, 1, 0, 3) == 0 && qz_stream_get(w, 1, 22, 3) == 0, "neighbours not zero");
    uint32_t p[3] = {0, 0, 0};
    qz_stream_put(p, 10, 3, 5);
    qz_stream_put(p, 21, 3, 6);
    CHECK(p[0] == 0x40000000u && p[1] == 1u && p[2] == 3u, "put: %08x %08x %08x", p[0], p[1], p[2]);
    /* 8 bits, top byte: the shift must not sign-extend. */
    const int32_t neg[1] = {(int32_t)0x80000000u};
    CHECK(qz_stream_get(neg, 1, 3, 8) == 0x80, "8-bit top byte = %x", qz_stream_get(neg, 1, 3, 8));
}

static void test_gptq_code_and_zero(void)
{
    /* qweight (in*4/32 = 2, out = 2) at 4 bits, in = 16, element [t, o] at
     * t*2 + o: column 1 holds code k at input k; column 0 holds 0 for
     * inputs 0-7 and 15 - (k - 8) for inputs 8-15. */
    const int32_t qweight[4] = {0, 0x76543210, (int32_t)0x89ABCDEFu, (int32_t)0xFEDCBA98u};
    for (int64_t k = 0; k < 16; k++) {
        CHECK(qz_gptq_code(qweight, 2, 1, k, 4) == (uint32_t)k, "code (1, %lld) = %u", (long long)k,
              qz_gptq_code(qweight, 2, 1, k, 4));
        const uint32_t want0 = k < 8 ? 0u : (uint32_t)(15 - (k - 8));
        CHECK(qz_gptq_code(qweight, 2, 0, k, 4) == want0, "code (0, %lld) = %u, want %u", (long long)k,
              qz_gptq_code(qweight, 2, 0, k, 4), want0);
    }
    /* qzeros (2 groups, out = 8) at 4 bits: group 1 word 0x000000F0. */
    const int32_t qzeros[2] = {0x00000000, 0x000000F0};
    CHECK(qz_gptq_zero(qzeros, 8, 1, 1, 4, 1) == 16, "v1 zero = %d", qz_gptq_zero(qzeros, 8, 1, 1, 4, 1));
    CHECK(qz_gptq_zero(qzeros, 8, 1, 1, 4, 0) == 15, "v2 zero = %d", qz_gptq_zero(qzeros, 8, 1, 1, 4, 0));
    CHECK(qz_gptq_zero(qzeros, 8, 1, 0, 4, 1) == 1 && qz_gptq_zero(qzeros, 8, 0, 1, 4, 0) == 0, "other zeros");
    const int32_t g_idx[3] = {2, 0, 1};
    CHECK(qz_group_of(g_idx, 128, 0) == 2 && qz_group_of(g_idx, 128, 2) == 1, "g_idx group");
    CHECK(qz_group_of(NULL, 128, 300) == 2 && qz_group_of(NULL, 128, 127) == 0, "static group");
}

static void test_awq_interleave(void)
{
    /* Nibble i of 0x76543210 holds i; nibble i is channel ORDER[i] with
     * ORDER = [0,2,4,6,1,3,5,7], so channel o reads REV[o]. */
    const int want_shift[8] = {0, 16, 4, 20, 8, 24, 12, 28};
    const uint32_t rev[8] = {0, 4, 1, 5, 2, 6, 3, 7};
    for (int j = 0; j < 8; j++) CHECK(qz_awq_shift(j) == want_shift[j], "shift %d = %d", j, qz_awq_shift(j));
    /* (2 rows, out = 16): row 1, second word is the pattern. */
    const int32_t w[4] = {0, 0, 0, 0x76543210};
    for (int64_t o = 0; o < 16; o++) {
        uint32_t want = o >= 8 ? rev[o - 8] : 0u;
        CHECK(qz_awq_get(w, 16, 1, o) == want, "row 1 channel %lld = %u, want %u", (long long)o,
              qz_awq_get(w, 16, 1, o), want);
        CHECK(qz_awq_get(w, 16, 0, o) == 0, "row 0 channel %lld", (long long)o);
    }
    const int32_t top[1] = {(int32_t)0xF0000000u}; /* nibble 7 = channel 7, no sign extension */
    CHECK(qz_awq_get(top, 8, 0, 7) == 15 && qz_awq_get(top, 8, 0, 6) == 0, "channel 7 = %u", qz_awq_get(top, 8, 0, 7));
}

static void test_ct_and_sparse24(void)
{
    CHECK(qz_ct_weight_index(5, 2, 3) == 13, "ct index");
    CHECK(qz_ct_scale_index(1, 4) == 4 && qz_ct_scale_index(0, 4) == 0, "ct scale index");
    CHECK(qz_s24_row_bytes(1) == 1 && qz_s24_row_bytes(8) == 1 && qz_s24_row_bytes(9) == 2 &&
              qz_s24_row_bytes(12) == 2, "row bytes");
    const uint8_t row[2] = {0xA5, 0x03};
    CHECK(qz_s24_group_bits(row, 0) == 0x5 && qz_s24_group_bits(row, 1) == 0xA && qz_s24_group_bits(row, 2) == 0x3 &&
              qz_s24_group_bits(row, 3) == 0x0, "group bits");
    uint8_t put[2] = {0, 0};
    qz_s24_put_group_bits(put, 0, 0x5);
    qz_s24_put_group_bits(put, 1, 0xA);
    qz_s24_put_group_bits(put, 2, 0x3);
    CHECK(put[0] == 0xA5 && put[1] == 0x03, "put group bits: %02x %02x", put[0], put[1]);
    CHECK(qz_s24_popcount4(0xF) == 4 && qz_s24_popcount4(0x6) == 2 && qz_s24_popcount4(0) == 0, "popcount");
    CHECK(qz_s24_value_index(3) == 6, "value index");
}

int main(void)
{
    QZ_RUN(test_bitpos);
    QZ_RUN(test_stream_straddle);
    QZ_RUN(test_gptq_code_and_zero);
    QZ_RUN(test_awq_interleave);
    QZ_RUN(test_ct_and_sparse24);
    QZ_TEST_EXIT();
}
