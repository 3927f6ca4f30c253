/* select.c - k-smallest and N:M mask selection (see select.h). */
#include "select.h"

#include "qz_common.h"

#include <string.h>

static uint32_t key_of(float s)
{
    QZ_ASSERT(s >= 0.0f); /* also rejects NaN */
    uint32_t b;
    memcpy(&b, &s, sizeof b);
    return b;
}

/* The k-th smallest key (1 <= k <= n), and in *ties how many keys equal to
 * it are among the k smallest. One pass per byte, high byte first, counting
 * only the keys that share the bytes fixed so far. */
static uint32_t radix_select(const float *score, int64_t n, int64_t k, int64_t *ties)
{
    uint32_t prefix = 0, fixed = 0;
    int64_t rank = k; /* 1-based rank among the keys matching prefix on fixed */
    for (int shift = 24; shift >= 0; shift -= 8) {
        int64_t hist[256] = {0};
        for (int64_t i = 0; i < n; i++) {
            uint32_t key = key_of(score[i]);
            if ((key & fixed) == prefix) hist[(key >> shift) & 255u]++;
        }
        int b = 0;
        while (hist[b] < rank) rank -= hist[b++];
        prefix |= (uint32_t)b << shift;
        fixed |= 255u << shift;
    }
    *ties = rank;
    return prefix;
}

void qz_select_smallest(const float *score, int64_t n, int64_t k, uint8_t *keep)
{
    memset(keep, 1, (size_t)n);
    if (k <= 0) return;
    if (k >= n) {
        memset(keep, 0, (size_t)n);
        return;
    }
    int64_t ties;
    uint32_t t = radix_select(score, n, k, &ties);
    for (int64_t i = 0; i < n; i++) {
        uint32_t key = key_of(score[i]);
        if (key < t || (key == t && ties-- > 0)) keep[i] = 0;
    }
}

void qz_select_nm(const float *score, int64_t len, int n, int m, uint8_t *keep)
{
    QZ_ASSERT(m > 0 && len % m == 0 && n >= 0 && n <= m);
    for (int64_t g = 0; g < len; g += m) {
        const float *s = score + g;
        for (int j = 0; j < m; j++) {
            int rank = 0; /* entries ordered before j */
            for (int l = 0; l < m; l++) rank += s[l] < s[j] || (s[l] == s[j] && l < j);
            keep[g + j] = rank >= n;
        }
    }
}
