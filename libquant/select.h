/* select.h - the mask choices every pruning method shares: the k smallest
 * of a set of non-negative scores, and the N smallest of every M
 * consecutive scores. Ties always go to the lower index, so the counts are
 * exact and the result does not depend on any pivot or sort order.
 */
#ifndef QZ_SELECT_H
#define QZ_SELECT_H

#include <stdint.h>

/* keep[i] = 0 for the k smallest of score[0..n) (non-negative, not NaN),
 * 1 for the rest. Four 8-bit radix passes over the IEEE bit patterns (which
 * order like the values for non-negative floats): O(n), no sorting. */
void qz_select_smallest(const float *score, int64_t n, int64_t k, uint8_t *keep /* (n) */);

/* For every run of m consecutive scores of score[0..len) (len % m == 0),
 * keep = 0 for its n smallest, 1 for the others. */
void qz_select_nm(const float *score, int64_t len, int n, int m, uint8_t *keep /* (len) */);

#endif
