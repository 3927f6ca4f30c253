/* compare.h - a candidate model against a base model on the same windows
 * (DESIGN.md "Evaluation protocol", with a base model): the figures behind
 * qz-eval --base and its quality gate (gate.h).
 *
 * Per scored token, from the log-softmax of both models' logits, in double:
 *   nll_base, nll_cand  negative log-likelihoods of the actual next token y
 *   kl                  KL(base || cand) = sum_v p_b(v) (log p_b(v) - log p_c(v))
 *   top1_same           argmax base == argmax cand (the lowest id on ties)
 *   dp                  p_c(y) - p_b(y)
 * Summary (qz_cmp_summarize): both perplexities, ratio and difference; KL
 * mean, median, p99 and max over tokens (quantiles interpolate linearly
 * between order statistics: numpy's default); top-1 agreement; dp mean and
 * RMS; and 95% confidence intervals from the per-window values. Every window
 * has the same number of scored tokens, so a mean over tokens equals the
 * mean of the per-window means, and the windows are the independent units:
 *   CI of a per-window mean m_w = mean +- t_{0.975, W-1} * sd(m_w) / sqrt(W)
 *   ppl_ratio: exp of the CI of the per-window mean NLL difference (cand - base)
 *   ppl_delta: base_ppl * (ppl_ratio CI - 1), the base's ppl on these windows held fixed
 *   kld_mean, top1_agreement, dp_mean: CI of the per-window means
 *   dp_rms: square roots of the CI of the per-window mean dp^2 (lower end clamped at 0)
 * With one window every CI is NaN (qz-eval prints null).
 *
 * Top-k cache (topk_cache.h): the base's k most probable tokens per scored
 * token with their log-probabilities, log p_b(y) and p_rest (the base's mass
 * outside them). Against a cache, KL is the top-k estimate with one bucket
 * for the rest,
 *   kl_k = sum_{i in top} p_i log(p_i / q_i) + p_rest log(p_rest / q_rest),
 *   q_rest = 1 - sum_{i in top} q_i (summed over the other ids directly).
 * By the log-sum inequality kl_k <= kl, and
 *   kl - kl_k = p_rest * KL(p_tail / p_rest || q_tail / q_rest) >= 0,
 * token by token, so for the mean and every quantile too. nll, top-1 and dp
 * need only the stored entries and are exact.
 */
#ifndef QZ_COMPARE_H
#define QZ_COMPARE_H

#include "eval.h"
#include "topk_cache.h"

#define QZ_CMP_TOP_K 32 /* default entries per token of a top-k cache */

/* ---- statistics */

/* Student's t distribution with df > 0 degrees of freedom: the CDF, from the
 * regularized incomplete beta function, and its inverse for p in (0, 1), by
 * bisection. NaN for arguments out of range. */
double qz_t_cdf(double t, double df);
double qz_t_quantile(double p, double df);

/* Quantile q in [0, 1] of x (n >= 1, ascending): x[h] interpolated at
 * h = (n - 1) q. */
double qz_quantile_sorted(const double *x, int64_t n, double q);

/* Returns the mean of x (n >= 1); ci = mean +- t_{0.975, n-1} * s / sqrt(n)
 * with s the sample standard deviation, or NaN, NaN when n < 2. */
double qz_mean_ci95(const double *x, int64_t n, double ci[2]);

/* ---- per token */

typedef struct qz_token_cmp {
    double nll_base, nll_cand;
    double kl;      /* exact, or the top-k estimate */
    double dp;      /* p_cand(y) - p_base(y) */
    int top1_same;
} qz_token_cmp;

/* From base logits zb (V) and candidate logits zc (V) for next token y;
 * scratch: V doubles. */
void qz_cmp_token(const float *zb, const float *zc, int64_t V, int32_t y, double *scratch, qz_token_cmp *t);

/* Row i of b (b->k <= V entries) from base logits z (V) for next token y:
 * the k largest by descending probability (the lowest id first on ties).
 * mark: V bytes, all zero on entry and again on return. */
void qz_cmp_topk_row(const float *z, int64_t V, int32_t y, qz_topk_block *b, int64_t i, uint8_t *mark);

/* From row i of a base top-k block and candidate logits zc (V); mark as above. */
void qz_cmp_token_topk(const qz_topk_block *b, int64_t i, const float *zc, int64_t V, int32_t y, uint8_t *mark,
                       qz_token_cmp *t);

/* ---- summary */

typedef struct qz_cmp_result {
    qz_ppl_result cand;              /* the candidate, as qz_eval_ppl reports it */
    double base_mean_nll, base_ppl;
    double ppl_ratio, ppl_delta;     /* cand / base, cand - base */
    double kld_mean, kld_median, kld_p99, kld_max;
    double top1;                     /* fraction of tokens, 0..1 */
    double dp_mean, dp_rms;
    /* 95% CIs, {lo, hi}; NaN with one window */
    double ppl_ratio_ci[2], ppl_delta_ci[2], kld_mean_ci[2], top1_ci[2], dp_mean_ci[2], dp_rms_ci[2];
    int kld_top_k;                   /* 0: exact KL; k: estimated from a top-k cache */
} qz_cmp_result;

/* Summarizes tok (windows * per_window, window-major). n_tokens and seconds
 * only go to r->cand. QZ_EINTERNAL when out of memory. */
int qz_cmp_summarize(const qz_token_cmp *tok, int64_t windows, int64_t per_window, int64_t n_tokens, double seconds,
                     qz_cmp_result *r, qz_error *err);

/* ---- runs */

typedef struct qz_cmp_opts {
    qz_ppl_opts eval;      /* seqlen, max_windows, batch_windows, progress */
    const char *cache;     /* qz_compare_models: NULL, or write the base's top-k cache there (must not exist);
                              qz_compare_cache: the cache to read */
    int top_k;             /* writing: entries per token (1..vocab); reading: 0, or the k the cache must have */
    const char *base_name; /* recorded in a written cache */
} qz_cmp_opts;

/* QZ_EINPUT "tokenizer mismatch: ..." unless a (na) and b (nb) are equal. */
int qz_cmp_same_tokens(const int32_t *a, int64_t na, const int32_t *b, int64_t nb, const char *name_a, const char *name_b,
                       qz_error *err);

/* base and cand on the same windows of tokens (n_tokens ids; the caller has
 * checked both tokenize the text alike); both models are resident a batch of
 * windows at a time (qz_eval_chunks). Different vocabularies: QZ_EINPUT. */
int qz_compare_models(qz_model *base, qz_model *cand, const int32_t *tokens, int64_t n_tokens, const qz_cmp_opts *o,
                      qz_cmp_result *r, qz_error *err);

/* cand against the top-k cache o->cache, without the base model. A cache
 * made from other tokens (count or CRC), seqlen, windows, vocab or (when
 * o->top_k is set) k is QZ_EINPUT naming the field. */
int qz_compare_cache(qz_model *cand, const int32_t *tokens, int64_t n_tokens, const qz_cmp_opts *o, qz_cmp_result *r,
                     qz_error *err);

#endif
