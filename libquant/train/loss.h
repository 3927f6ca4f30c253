/* loss.h - distillation losses on one row of logits, with their gradient.
 *
 * With p = softmax(z_t / tau) (teacher), q = softmax(z_s / tau) (student):
 *   kl   tau^2 * sum_i p_i (log p_i - log q_i)        forward KL(p || q), Hinton et al. 2015
 *   rkl  tau^2 * sum_i q_i (log q_i - log p_i)        reverse KL(q || p)
 *   jsd  tau^2 * (KL(p || m) + KL(q || m)) / 2,  m = (p + q) / 2
 *   ce   -log softmax(z_s)[y]                         cross-entropy on the data (no tau)
 * and a row's loss is alpha * D + (1 - alpha) * CE for D in kl/rkl/jsd
 * (alpha = 1: distillation only), CE alone for ce. The tau^2 keeps the
 * gradient's scale independent of tau (Hinton et al. section 2).
 *
 * A teacher given as a top-k cache (its k largest log-probabilities and the
 * probability p_rest of everything else, at tau = 1) has its KL estimated as
 * qz-eval does: the k entries plus one rest bucket,
 *   sum_{i in top} p_i log(p_i / q_i) + p_rest log(p_rest / q_rest),
 * q_rest = 1 - sum_{i in top} q_i; its gradient is q - p~ with p~ the cache's
 * p on the top ids and p_rest * q_j / q_rest elsewhere.
 */
#ifndef QZ_LOSS_H
#define QZ_LOSS_H

#include "qz_common.h"

typedef enum qz_loss_kind {
    QZ_LOSS_KL = 0,
    QZ_LOSS_RKL = 1,
    QZ_LOSS_JSD = 2,
    QZ_LOSS_CE = 3,
    QZ_LOSS_COUNT
} qz_loss_kind;

const char *qz_loss_name(qz_loss_kind k); /* "kl", ... */

typedef struct qz_loss_opts {
    qz_loss_kind kind;
    double alpha;       /* weight of the distillation term, [0, 1] */
    double temperature; /* tau > 0 */
} qz_loss_opts;

/* The parts of one row's loss. */
typedef struct qz_loss_terms {
    double loss;        /* what is minimized */
    double div;         /* the distillation term D (tau^2 included; 0 for ce) */
    double ce;          /* -log q(y) at tau = 1 */
} qz_loss_terms;

/* Row loss of student logits zs (V) against teacher logits zt (V; NULL for
 * ce) and next token y; dz (V) = scale * d loss / d zs. work: 3*V doubles. */
qz_loss_terms qz_loss_row(const qz_loss_opts *o, const float *zs, const float *zt, int64_t V, int32_t y, double scale, float *dz,
                          double *work);

/* The same with a top-k teacher (kind kl, tau 1): ids (k), logp (k), p_rest. */
qz_loss_terms qz_loss_row_topk(const qz_loss_opts *o, const float *zs, int64_t V, const int32_t *ids, const float *logp, int k,
                               double p_rest, int32_t y, double scale, float *dz, double *work);

#endif
