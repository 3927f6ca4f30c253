/* loss.c - distillation losses and their logit gradients (loss.h): forward
 * and reverse KL, JSD and cross-entropy on temperature-scaled softmaxes
 * (Hinton, Vinyals, Dean 2015), and the top-k + rest-bucket KL estimate of
 * qz-eval's cache (compare.c). Log-softmaxes in double. */
#include "loss.h"

#include <float.h>
#include <math.h>
#include <string.h>

static const char *loss_names[QZ_LOSS_COUNT] = {"kl", "rkl", "jsd", "ce"};

const char *qz_loss_name(qz_loss_kind k) { return loss_names[k]; }

/* ls (V) = log softmax(z / tau). */
static void log_softmax(double *ls, const float *z, int64_t V, double tau)
{
    double mx = -INFINITY, sum = 0;
    for (int64_t i = 0; i < V; i++) mx = fmax(mx, (double)z[i] / tau);
    for (int64_t i = 0; i < V; i++) sum += exp((double)z[i] / tau - mx);
    double lse = mx + log(sum);
    for (int64_t i = 0; i < V; i++) ls[i] = (double)z[i] / tau - lse;
}

/* D and dD/du (u = zs / tau) into g for kind kl/rkl/jsd; lq, lp log-probs. */
static double divergence(qz_loss_kind kind, const double *lq, const double *lp, int64_t V, double *g)
{
    double D = 0, mean = 0;
    for (int64_t i = 0; i < V; i++) {
        double q = exp(lq[i]), p = exp(lp[i]);
        if (kind == QZ_LOSS_KL) {
            D += p > 0 ? p * (lp[i] - lq[i]) : 0;
            g[i] = q - p;
        } else if (kind == QZ_LOSS_RKL) {
            D += q > 0 ? q * (lq[i] - lp[i]) : 0;
            g[i] = lq[i] - lp[i]; /* dR/du_j = q_j (g_j - R), below */
        } else {
            double lm = log(0.5 * (p + q));
            D += 0.5 * ((p > 0 ? p * (lp[i] - lm) : 0) + (q > 0 ? q * (lq[i] - lm) : 0));
            g[i] = 0.5 * (lq[i] - lm); /* dJ/dq_i; through the softmax below */
            mean += q * g[i];
        }
    }
    if (kind == QZ_LOSS_RKL) mean = D;
    if (kind != QZ_LOSS_KL)
        for (int64_t i = 0; i < V; i++) g[i] = exp(lq[i]) * (g[i] - mean);
    return D;
}

qz_loss_terms qz_loss_row(const qz_loss_opts *o, const float *zs, const float *zt, int64_t V, int32_t y, double scale, float *dz,
                          double *work)
{
    double *lq1 = work, *lq = work + V, *lp = work + 2 * V, tau = o->temperature;
    qz_loss_terms r = {0};
    log_softmax(lq1, zs, V, 1.0);
    r.ce = -lq1[y];
    double wce = o->kind == QZ_LOSS_CE ? 1.0 : 1.0 - o->alpha;
    for (int64_t i = 0; i < V; i++) dz[i] = (float)(scale * wce * (exp(lq1[i]) - (i == y)));
    if (o->kind == QZ_LOSS_CE) {
        r.loss = r.ce;
        return r;
    }
    log_softmax(lq, zs, V, tau);
    log_softmax(lp, zt, V, tau);
    double *g = lq1; /* lq1 is no longer needed: it holds dD/du now */
    double D = divergence(o->kind, lq, lp, V, g);
    r.div = tau * tau * D;
    for (int64_t i = 0; i < V; i++) dz[i] += (float)(scale * o->alpha * tau * g[i]); /* d/dzs = (1/tau) d/du, times tau^2 */
    r.loss = o->alpha * r.div + wce * r.ce;
    return r;
}

qz_loss_terms qz_loss_row_topk(const qz_loss_opts *o, const float *zs, int64_t V, const int32_t *ids, const float *logp, int k,
                               double p_rest, int32_t y, double scale, float *dz, double *work)
{
    QZ_ASSERT(o->kind == QZ_LOSS_KL && o->temperature == 1.0);
    double *lq = work, *mark = work + V;
    qz_loss_terms r = {0};
    log_softmax(lq, zs, V, 1.0);
    r.ce = -lq[y];
    memset(mark, 0, (size_t)V * sizeof(double));
    double q_top = 0, D = 0;
    for (int i = 0; i < k; i++) {
        mark[ids[i]] = 1;
        q_top += exp(lq[ids[i]]);
        D += exp((double)logp[i]) * ((double)logp[i] - lq[ids[i]]);
    }
    double q_rest = fmax(1.0 - q_top, DBL_MIN), rest_ratio = p_rest > 0 ? p_rest / q_rest : 0;
    if (p_rest > 0) D += p_rest * (log(p_rest) - log(q_rest));
    double wce = 1.0 - o->alpha;
    for (int64_t j = 0; j < V; j++) {
        double q = exp(lq[j]);
        double target = mark[j] ? 0 : q * rest_ratio; /* the rest bucket shared in proportion to q */
        dz[j] = (float)(scale * (o->alpha * (q - target) + wce * (q - (j == y))));
    }
    for (int i = 0; i < k; i++) dz[ids[i]] -= (float)(scale * o->alpha * exp((double)logp[i]));
    r.div = D;
    r.loss = o->alpha * D + wce * r.ce;
    return r;
}
