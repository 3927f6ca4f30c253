/* optim.h - AdamW (Loshchilov & Hutter 2019, decoupled weight decay; the
 * update of torch.optim.AdamW), global-norm gradient clipping, and the
 * learning-rate schedule (linear warmup, then cosine or constant).
 *
 * One step t (1-based) on parameter p with gradient g:
 *   p <- p * (1 - lr * wd)            only where decay applies
 *   m <- b1 m + (1 - b1) g,  v <- b2 v + (1 - b2) g^2
 *   p <- p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
 */
#ifndef QZ_OPTIM_H
#define QZ_OPTIM_H

#include "qz_common.h"

typedef struct qz_adamw {
    double beta1, beta2, eps, weight_decay;
} qz_adamw;

/* n parameters p with gradients g and moments m, v (n each); decay NULL
 * = decay everywhere, else per element (0/1). step >= 1. */
void qz_adamw_step(const qz_adamw *o, float *p, const float *g, float *m, float *v, const uint8_t *decay, int64_t n,
                   int64_t step, double lr);

/* Global L2 norm of g (n), in double. */
double qz_grad_norm(const float *g, int64_t n);
/* Scales g by max_norm / norm when norm > max_norm > 0; returns the factor. */
double qz_grad_clip(float *g, int64_t n, double norm, double max_norm);

typedef enum qz_schedule {
    QZ_SCHEDULE_COSINE = 0,   /* warmup, then lr_min + (lr - lr_min) (1 + cos(pi s)) / 2 */
    QZ_SCHEDULE_CONSTANT = 1, /* warmup, then lr */
    QZ_SCHEDULE_COUNT
} qz_schedule;

const char *qz_schedule_name(qz_schedule s);

/* Learning rate of step (0-based) of n_steps: (step + 1) / warmup * lr
 * during warmup, then the schedule, with s = (step - warmup) / (n_steps -
 * warmup) going from 0 towards 1 and lr_min = lr_min_frac * lr. */
double qz_lr_at(qz_schedule s, double lr, double lr_min_frac, int64_t warmup, int64_t step, int64_t n_steps);

#endif
