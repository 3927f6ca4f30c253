/* rng.c - SplitMix64 and the few distributions qz needs. See rng.h. */
#include "rng.h"

#include <math.h>

void qz_rng_seed(qz_rng *r, uint64_t seed)
{
    r->state = seed;
}

uint64_t qz_rng_next(qz_rng *r)
{
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double qz_rng_uniform(qz_rng *r)
{
    return (double)(qz_rng_next(r) >> 11) * 0x1p-53;
}

uint64_t qz_rng_below(qz_rng *r, uint64_t n)
{
    /* accept only draws below the largest multiple of n */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = qz_rng_next(r);
    while (x >= limit);
    return x % n;
}

double qz_rng_normal(qz_rng *r)
{
    double u1 = 1.0 - qz_rng_uniform(r), u2 = qz_rng_uniform(r); /* u1 in (0, 1] */
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}
