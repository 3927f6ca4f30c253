/* rng.h - qz's portable random numbers: SplitMix64 (Steele, Lea, Flood 2014;
 * the generator of java.util.SplittableRandom). Same seed -> same stream on
 * every machine and compiler: integer arithmetic only, uniform doubles from
 * the top 53 bits, bounded integers by rejection (no modulo bias).
 *
 *   state += 0x9e3779b97f4a7c15
 *   z = state; z = (z ^ z>>30) * 0xbf58476d1ce4e5b9;
 *   z = (z ^ z>>27) * 0x94d049bb133111eb; return z ^ z>>31
 */
#ifndef QZ_RNG_H
#define QZ_RNG_H

#include <stdint.h>

typedef struct qz_rng {
    uint64_t state;
} qz_rng;

void qz_rng_seed(qz_rng *r, uint64_t seed);
uint64_t qz_rng_next(qz_rng *r);
/* Uniform in [0, 1): top 53 bits / 2^53. */
double qz_rng_uniform(qz_rng *r);
/* Uniform integer in [0, n), n > 0: rejection sampling on the top bits. */
uint64_t qz_rng_below(qz_rng *r, uint64_t n);
/* Standard normal (Box-Muller, one value per call). */
double qz_rng_normal(qz_rng *r);

#endif
