/* eval.c - perplexity of a model over a token stream, layer-major within a
 * batch of windows (every window of the batch through layer i before layer
 * i+1 is loaded), then scored chunk by chunk. See eval.h. */
#include "eval.h"

#include "kernels.h"
#include "pipeline.h"

#include <math.h>
#include <string.h>

int64_t qz_ppl_score_from(qz_ppl_score s, int64_t seqlen) { return s == QZ_SCORE_SECOND_HALF ? seqlen / 2 : 0; }

int qz_eval_windows(int64_t n_tokens, const qz_ppl_opts *o, int64_t *windows, qz_error *err)
{
    if (o->seqlen < 2) return qz_fail(err, QZ_EINPUT, "seqlen %lld: must be at least 2", (long long)o->seqlen);
    if (o->score_from < 0 || o->score_from > o->seqlen - 2)
        return qz_fail(err, QZ_EINPUT, "scoring from position %lld: a window of %lld has none left to score",
                       (long long)o->score_from, (long long)o->seqlen);
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

/* Windows per batch for a model of this hidden size (at most windows). */
static int64_t batch_windows(const qz_ppl_opts *o, int64_t hidden, int64_t windows)
{
    int64_t b = o->batch_windows;
    if (b <= 0) {
        size_t per = (size_t)o->seqlen * (size_t)hidden * sizeof(float);
        b = (int64_t)(QZ_EVAL_BATCH_BYTES / (per ? per : 1));
        if (b < 1) b = 1;
    }
    return b < windows ? b : windows;
}

/* The pipeline reports each (model, batch) run on its own; this makes them
 * one run: layer passes done over every model and batch so far. */
typedef struct {
    const qz_ppl_opts *o;
    double t0;
    int64_t done0, total; /* window-layer passes */
    int64_t n_layers;     /* of the model running now */
} run_progress;

static void batch_progress(void *ctx, const qz_progress *p)
{
    run_progress *rp = ctx;
    qz_progress q = *p;
    q.done = rp->done0 + p->done;
    q.total = rp->total;
    q.elapsed = qz_now() - rp->t0;
    q.tokens_done = q.done * rp->o->seqlen / rp->n_layers;
    rp->o->progress(rp->o->progress_ctx, &q);
}

static int batch_hidden(qz_model *m, const int32_t *tokens, int64_t nb, run_progress *rp, float *x, qz_error *err)
{
    qz_ppl_opts ob = *rp->o;
    ob.progress = rp->o->progress ? batch_progress : NULL;
    ob.progress_ctx = rp;
    rp->n_layers = m->cfg.n_layers;
    int rc = qz_eval_hidden(m, tokens, nb, &ob, x, err);
    rp->done0 += nb * m->cfg.n_layers;
    return rc;
}

typedef struct {
    qz_model *const *models;
    int n_models;
    float *x[QZ_EVAL_MAX_MODELS];      /* (batch*seqlen, hidden of the model) */
    float *logits[QZ_EVAL_MAX_MODELS]; /* (QZ_EVAL_CHUNK, vocab) */
} chunk_bufs;

/* Finite weights can still overflow FP32 in the forward; such a model is
 * reported, not scored as NaN. */
static int check_logits(const float *logits, int64_t n, int model, int64_t w, qz_error *err)
{
    if (qz_first_nonfinite(logits, n) < 0) return QZ_OK;
    return qz_fail(err, QZ_EINPUT, "%s model: non-finite logit in window %lld (the activations overflow FP32)",
                   model ? "base" : "evaluated", (long long)w);
}

/* Window w (tokens tok, its hidden states at row offset off of each x) chunk
 * by chunk, from position first. */
static int score_window(const chunk_bufs *b, int64_t w, const int32_t *tok, int64_t T, int64_t first, int64_t off,
                        qz_eval_chunk_fn fn, void *ctx, qz_error *err)
{
    int rc = QZ_OK;
    for (int64_t c0 = first; c0 < T - 1 && rc == QZ_OK; c0 += QZ_EVAL_CHUNK) {
        qz_eval_chunk c = {w, c0, T - 1 - c0 < QZ_EVAL_CHUNK ? T - 1 - c0 : QZ_EVAL_CHUNK, 0, b->models[0]->cfg.vocab,
                           tok + c0 + 1, {NULL}};
        c.last = c0 + c.n == T - 1;
        for (int i = 0; i < b->n_models && rc == QZ_OK; i++) {
            qz_model_head(b->models[i], b->x[i] + (off + c0) * b->models[i]->cfg.hidden, c.n, b->logits[i]);
            c.logits[i] = b->logits[i];
            rc = check_logits(b->logits[i], c.n * c.vocab, i, w, err);
        }
        if (rc == QZ_OK) rc = fn(ctx, &c, err);
    }
    return rc;
}

static int alloc_bufs(chunk_bufs *b, int64_t batch, int64_t T, qz_error *err)
{
    for (int i = 0; i < b->n_models; i++) {
        const qz_model_config *c = &b->models[i]->cfg;
        b->x[i] = qz_malloc_array((size_t)(batch * T * c->hidden), sizeof(float));
        b->logits[i] = qz_malloc_array((size_t)(QZ_EVAL_CHUNK * c->vocab), sizeof(float));
        if (!b->x[i] || !b->logits[i])
            return qz_fail(err, QZ_EINTERNAL, "out of memory for a batch of %lld windows of %lld tokens", (long long)batch, (long long)T);
    }
    return QZ_OK;
}

int qz_eval_chunks(qz_model *const *models, int n_models, const int32_t *tokens, int64_t n_windows, const qz_ppl_opts *o,
                   qz_eval_chunk_fn fn, void *ctx, qz_error *err)
{
    QZ_ASSERT(n_models >= 1 && n_models <= QZ_EVAL_MAX_MODELS);
    int64_t T = o->seqlen, batch = n_windows;
    run_progress rp = {o, qz_now(), 0, 0, 1};
    for (int i = 0; i < n_models; i++) {
        if (models[i]->cfg.vocab != models[0]->cfg.vocab)
            return qz_fail(err, QZ_EINPUT, "vocabulary sizes differ: %lld and %lld (the models must share a tokenizer)",
                           (long long)models[0]->cfg.vocab, (long long)models[i]->cfg.vocab);
        int64_t b = batch_windows(o, models[i]->cfg.hidden, n_windows);
        batch = b < batch ? b : batch;
        rp.total += n_windows * models[i]->cfg.n_layers;
    }
    chunk_bufs b = {models, n_models, {NULL}, {NULL}};
    int rc = alloc_bufs(&b, batch, T, err);
    for (int64_t b0 = 0; b0 < n_windows && rc == QZ_OK; b0 += batch) {
        int64_t nb = n_windows - b0 < batch ? n_windows - b0 : batch;
        for (int i = 0; i < n_models && rc == QZ_OK; i++) rc = batch_hidden(models[i], tokens + b0 * T, nb, &rp, b.x[i], err);
        for (int64_t w = b0; w < b0 + nb && rc == QZ_OK; w++) {
            rc = score_window(&b, w, tokens + w * T, T, o->score_from, (w - b0) * T, fn, ctx, err);
            report(o, "score", w + 1, n_windows, w + 1, n_windows, rp.t0, (w + 1) * T);
        }
    }
    for (int i = 0; i < n_models; i++) free(b.x[i]), free(b.logits[i]);
    return rc;
}

void qz_ppl_result_set(qz_ppl_result *r, int64_t n_tokens, int64_t windows, int64_t seqlen, int64_t per_window,
                       double nll_sum, double seconds)
{
    r->tokens = n_tokens;
    r->windows = windows;
    r->scored = windows * per_window;
    r->mean_nll = nll_sum / (double)r->scored;
    r->ppl = exp(r->mean_nll);
    r->seconds = seconds;
    r->tokens_per_second = (double)(windows * seqlen) / (seconds > 0 ? seconds : 1e-9);
}

int qz_ppl_check_finite(double mean_nll, const char *which, qz_error *err)
{
    if (isfinite(mean_nll) && isfinite(exp(mean_nll))) return QZ_OK;
    return qz_fail(err, QZ_EINPUT, "%s model: mean NLL %g gives a non-finite perplexity", which, mean_nll);
}

/* The rows' NLLs in parallel (kernels.h), summed in row order. */
static int add_nll(void *ctx, const qz_eval_chunk *c, qz_error *err)
{
    (void)err;
    double *nll = ctx, row[QZ_EVAL_CHUNK];
    qz_nll_rows(c->logits[0], c->n, c->vocab, c->next, row);
    for (int64_t t = 0; t < c->n; t++) *nll += row[t];
    return QZ_OK;
}

int qz_eval_ppl(qz_model *m, const int32_t *tokens, int64_t n_tokens, const qz_ppl_opts *o, qz_ppl_result *r, qz_error *err)
{
    memset(r, 0, sizeof *r);
    int64_t W = 0;
    int rc = qz_eval_windows(n_tokens, o, &W, err);
    if (rc) return rc;
    double t0 = qz_now(), nll = 0;
    rc = qz_eval_chunks(&m, 1, tokens, W, o, add_nll, &nll, err);
    if (rc) return rc;
    qz_ppl_result_set(r, n_tokens, W, o->seqlen, o->seqlen - 1 - o->score_from, nll, qz_now() - t0);
    return qz_ppl_check_finite(r->mean_nll, "evaluated", err);
}
