/* eval.c - perplexity of a model over a token stream, layer-major (every
 * window through layer i before layer i+1 is loaded). See eval.h. */
#include "eval.h"

#include "pipeline.h"

#include <math.h>
#include <string.h>

int qz_eval_windows(int64_t n_tokens, const qz_ppl_opts *o, int64_t *windows, qz_error *err)
{
    if (o->seqlen < 2) return qz_fail(err, QZ_EINPUT, "seqlen %lld: must be at least 2", (long long)o->seqlen);
    int64_t w = n_tokens / o->seqlen;
    if (w == 0)
        return qz_fail(err, QZ_EINPUT, "text has %lld tokens, fewer than one window of %lld (use a longer text or a smaller --seqlen)",
                       (long long)n_tokens, (long long)o->seqlen);
    if (o->max_windows > 0 && w > o->max_windows) w = o->max_windows;
    *windows = w;
    return QZ_OK;
}

static void report(const qz_ppl_opts *o, const char *stage, int64_t step, int64_t n_steps, int64_t done, int64_t total,
                   double t0, int64_t tokens_done)
{
    if (!o->progress) return;
    qz_progress p = {stage, step, n_steps, done, total, qz_now() - t0, tokens_done};
    o->progress(o->progress_ctx, &p);
}

int qz_eval_hidden(qz_model *m, const int32_t *tokens, int64_t n_windows, const qz_ppl_opts *o, float *x, qz_error *err)
{
    qz_method plain = {0};
    return qz_pipeline_run(m, tokens, n_windows, o->seqlen, &plain, o->progress, o->progress_ctx, x, err);
}

double qz_window_nll(const qz_model *m, const int32_t *tokens, int64_t T, float *x, float *logits)
{
    int64_t V = m->cfg.vocab, d = m->cfg.hidden;
    double nll = 0;
    for (int64_t c0 = 0; c0 < T - 1; c0 += QZ_EVAL_CHUNK) {
        int64_t n = T - 1 - c0 < QZ_EVAL_CHUNK ? T - 1 - c0 : QZ_EVAL_CHUNK;
        qz_model_head(m, x + c0 * d, n, logits);
        for (int64_t t = 0; t < n; t++) {
            const float *row = logits + t * V;
            float mx = row[0];
            for (int64_t v = 1; v < V; v++) mx = row[v] > mx ? row[v] : mx;
            double sum = 0;
            for (int64_t v = 0; v < V; v++) sum += expf(row[v] - mx); /* float exp: 1 ulp, far below the 1e-4 the protocol needs */
            nll += log(sum) + mx - row[tokens[c0 + t + 1]];
        }
    }
    return nll;
}

int qz_eval_ppl(qz_model *m, const int32_t *tokens, int64_t n_tokens, const qz_ppl_opts *o, qz_ppl_result *r, qz_error *err)
{
    memset(r, 0, sizeof *r);
    int64_t W = 0, T = o->seqlen, d = m->cfg.hidden;
    int rc = qz_eval_windows(n_tokens, o, &W, err);
    if (rc) return rc;
    double t0 = qz_now();
    float *x = qz_malloc_array((size_t)(W * T * d), sizeof(float));
    float *logits = qz_malloc_array((size_t)(QZ_EVAL_CHUNK * m->cfg.vocab), sizeof(float));
    if (!x || !logits) rc = qz_fail(err, QZ_EINTERNAL, "out of memory for %lld windows of %lld tokens", (long long)W, (long long)T);
    if (rc == QZ_OK) rc = qz_eval_hidden(m, tokens, W, o, x, err);
    double nll = 0;
    for (int64_t w = 0; w < W && rc == QZ_OK; w++) {
        nll += qz_window_nll(m, tokens + w * T, T, x + w * T * d, logits);
        report(o, "score", w + 1, W, w + 1, W, t0, W * T);
    }
    free(x);
    free(logits);
    if (rc) return rc;
    r->tokens = n_tokens;
    r->windows = W;
    r->scored = W * (T - 1);
    r->mean_nll = nll / (double)r->scored;
    r->ppl = exp(r->mean_nll);
    r->seconds = qz_now() - t0;
    r->tokens_per_second = (double)(W * T) / (r->seconds > 0 ? r->seconds : 1e-9);
    return QZ_OK;
}
