/* optim.c - AdamW with decoupled weight decay (Loshchilov & Hutter 2019,
 * as torch.optim.AdamW computes it), global-norm clipping, and the
 * warmup + cosine / constant learning-rate schedule (optim.h). */
#include "optim.h"

#include <math.h>

void qz_adamw_step(const qz_adamw *o, float *p, const float *g, float *m, float *v, const uint8_t *decay, int64_t n,
                   int64_t step, double lr)
{
    double bc1 = 1.0 - pow(o->beta1, (double)step), bc2 = 1.0 - pow(o->beta2, (double)step);
    for (int64_t i = 0; i < n; i++) {
        double pi = p[i];
        if (!decay || decay[i]) pi *= 1.0 - lr * o->weight_decay;
        double mi = o->beta1 * m[i] + (1.0 - o->beta1) * g[i];
        double vi = o->beta2 * v[i] + (1.0 - o->beta2) * (double)g[i] * g[i];
        m[i] = (float)mi;
        v[i] = (float)vi;
        p[i] = (float)(pi - lr * (mi / bc1) / (sqrt(vi / bc2) + o->eps));
    }
}

double qz_grad_norm(const float *g, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)g[i] * g[i];
    return sqrt(s);
}

double qz_grad_clip(float *g, int64_t n, double norm, double max_norm)
{
    if (!(max_norm > 0 && norm > max_norm)) return 1.0;
    double f = max_norm / norm;
    for (int64_t i = 0; i < n; i++) g[i] = (float)(g[i] * f);
    return f;
}

const char *qz_schedule_name(qz_schedule s)
{
    static const char *names[QZ_SCHEDULE_COUNT] = {"cosine", "constant"};
    return names[s];
}

double qz_lr_at(qz_schedule s, double lr, double lr_min_frac, int64_t warmup, int64_t step, int64_t n_steps)
{
    if (step < warmup) return lr * (double)(step + 1) / (double)warmup;
    if (s == QZ_SCHEDULE_CONSTANT || n_steps <= warmup) return lr;
    double frac = (double)(step - warmup) / (double)(n_steps - warmup), lo = lr_min_frac * lr;
    return lo + (lr - lo) * 0.5 * (1.0 + cos(M_PI * frac));
}
