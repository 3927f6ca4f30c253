/* distill.c - the distillation loop (distill.h): window sampling, teacher
 * forward (qz_eval_hidden + qz_model_head, chunk by chunk), student loss and
 * backward, masked AdamW, evaluation under qz-eval's protocol, and the
 * checkpoint file (FORMAT.md "Distillation checkpoints"). */
#include "distill.h"

#include "compare.h"
#include "eval.h"
#include "kernels.h"
#include "safetensors.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

qz_distill_opts qz_distill_defaults(void)
{
    return (qz_distill_opts){
        .loss = {QZ_LOSS_KL, 1.0, 1.0}, .seqlen = 512, .batch = 8, .steps = 100, .warmup = 100, .lr = 3e-4,
        .lr_min_frac = 0.1, .clip = 1.0, .schedule = QZ_SCHEDULE_COSINE, .adam = {0.9, 0.95, 1e-8, 0.1}, .keep_sparsity = -1,
    };
}

/* ---------------------------------------------------------- one gradient */

struct qz_distill_scratch {
    int64_t vocab, hidden;
    float *zs, *zt, *dz; /* (QZ_TRAIN_CHUNK, vocab) */
    float *ht;           /* (QZ_TRAIN_CHUNK, hidden) */
    double *work;        /* (3 vocab) */
};

int qz_distill_scratch_new(qz_distill_scratch **out, const qz_model_config *c, qz_error *err)
{
    size_t cv = (size_t)(QZ_TRAIN_CHUNK * c->vocab);
    qz_distill_scratch *s = calloc(1, sizeof *s);
    if (s) {
        s->vocab = c->vocab;
        s->hidden = c->hidden;
        s->zs = qz_malloc_array(cv, sizeof(float));
        s->zt = qz_malloc_array(cv, sizeof(float));
        s->dz = qz_malloc_array(cv, sizeof(float));
        s->ht = qz_malloc_array((size_t)(QZ_TRAIN_CHUNK * c->hidden), sizeof(float));
        s->work = qz_malloc_array((size_t)(3 * c->vocab), sizeof(double));
    }
    *out = s;
    if (s && s->zs && s->zt && s->dz && s->ht && s->work) return QZ_OK;
    qz_distill_scratch_free(s);
    *out = NULL;
    return qz_fail(err, QZ_EINTERNAL, "out of memory for the logits of %d rows", QZ_TRAIN_CHUNK);
}

void qz_distill_scratch_free(qz_distill_scratch *s)
{
    if (!s) return;
    free(s->zs), free(s->zt), free(s->dz), free(s->ht), free(s->work);
    free(s);
}

/* Loss and logit gradients of rows [r0, r0+n); adds the hidden-state
 * gradient; sums go to pt (divided by the caller). */
static void chunk_loss(qz_train_acts *a, qz_distill_scratch *s, const int32_t *tokens, int64_t r0, int64_t n, const qz_loss_opts *lo,
                       double hidden_weight, const float *hs, const qz_topk_block *cache, double scale, qz_distill_point *pt)
{
    int64_t T = qz_train_acts_seqlen(a), V = s->vocab, d = s->hidden;
    float *dh = qz_train_dhidden(a);
    for (int64_t i = 0; i < n; i++) {
        int64_t r = r0 + i;
        float *dz = s->dz + i * V;
        if (r % T == T - 1) { /* a window's last position predicts nothing */
            memset(dz, 0, (size_t)V * sizeof(float));
            continue;
        }
        int64_t sr = r / T * (T - 1) + r % T; /* the cache's record: scored positions only */
        qz_loss_terms t = cache ? qz_loss_row_topk(lo, s->zs + i * V, V, cache->ids + sr * cache->k, cache->logp + sr * cache->k,
                                                   cache->k, cache->p_rest[sr], tokens[r + 1], scale, dz, s->work)
                                : qz_loss_row(lo, s->zs + i * V, s->zt + i * V, V, tokens[r + 1], scale, dz, s->work);
        pt->loss += t.loss, pt->div += t.div, pt->ce += t.ce;
        for (int64_t j = 0; hidden_weight > 0 && j < d; j++) {
            double diff = (double)hs[r * d + j] - s->ht[i * d + j];
            pt->hidden += diff * diff;
            dh[r * d + j] += (float)(2.0 * hidden_weight * diff * scale / (double)d);
        }
    }
}

int qz_distill_grad(qz_train_model *tm, qz_train_acts *a, qz_distill_scratch *s, const int32_t *tokens, int64_t B,
                    const qz_loss_opts *lo, double hidden_weight, qz_teacher_fn teacher, void *tctx, const qz_topk_block *cache,
                    qz_distill_point *pt, qz_error *err)
{
    int64_t T = qz_train_acts_seqlen(a), N = B * T, scored = B * (T - 1);
    double scale = 1.0 / (double)scored;
    memset(pt, 0, sizeof *pt);
    qz_train_zero_grad(tm);
    const float *hs = qz_train_forward(tm, a, tokens, B);
    qz_train_dhidden_zero(a);
    for (int64_t r0 = 0; r0 < N; r0 += QZ_TRAIN_CHUNK) {
        int64_t n = N - r0 < QZ_TRAIN_CHUNK ? N - r0 : QZ_TRAIN_CHUNK;
        qz_train_logits(tm, a, r0, n, s->zs);
        if (!cache && (lo->kind != QZ_LOSS_CE || hidden_weight > 0)) {
            int rc = teacher(tctx, r0, n, s->zt, hidden_weight > 0 ? s->ht : NULL, err);
            if (rc) return rc;
        }
        chunk_loss(a, s, tokens, r0, n, lo, hidden_weight, hs, cache, scale, pt);
        qz_train_logits_backward(tm, a, r0, n, s->dz);
    }
    qz_train_backward(tm, a, tokens, B);
    pt->hidden /= (double)scored * (double)tm->cfg.hidden;
    pt->loss = pt->loss * scale + hidden_weight * pt->hidden;
    pt->div *= scale;
    pt->ce *= scale;
    return QZ_OK;
}

/* -------------------------------------------------------------- trainer */

struct qz_distill {
    qz_distill_opts o;
    qz_model *teacher;
    const int32_t *tokens;
    int64_t n_tokens;
    qz_train_model *tm;
    qz_train_acts *a;
    qz_distill_scratch *s;
    float *m, *v;        /* (n_params) AdamW moments */
    uint8_t *decay;      /* (n_params) 1 where weight decay applies */
    uint8_t *mask;       /* (n_params) 1 = held at zero; NULL without keep_sparsity */
    int64_t masked;
    int32_t *batch;      /* (batch, seqlen) this step's windows */
    float *thid, *tbuf;  /* teacher hidden states (batch*seqlen, t_hidden), (QZ_TRAIN_CHUNK, t_hidden) */
    qz_rng rng;
    int64_t step;
    qz_distill_point *curve; /* (steps) */
    qz_topk_reader *cache;   /* the teacher from a top-k cache, or NULL */
    qz_topk_block blk;       /* (batch * (seqlen - 1)) records of this step */
    uint8_t *mark;           /* (vocab) zeros, for qz_cmp_topk_row */
};

/* qz_teacher_fn over the teacher's hidden states of this batch. */
static int teacher_rows(void *ctx, int64_t r0, int64_t n, float *logits, float *hidden, qz_error *err)
{
    qz_distill *d = ctx;
    int64_t dt = d->teacher->cfg.hidden;
    (void)err;
    memcpy(d->tbuf, d->thid + r0 * dt, (size_t)(n * dt) * sizeof(float));
    qz_model_head(d->teacher, d->tbuf, n, logits); /* norms tbuf in place */
    if (hidden) memcpy(hidden, d->tbuf, (size_t)(n * dt) * sizeof(float));
    return QZ_OK;
}

static int check_pair(const qz_model *t, const qz_model *s, int64_t n_tokens, const qz_distill_opts *o, qz_error *err)
{
    if (t->cfg.vocab != s->cfg.vocab)
        return qz_fail(err, QZ_EINPUT, "the student's vocabulary (%lld tokens) differs from the teacher's (%lld)", (long long)s->cfg.vocab,
                       (long long)t->cfg.vocab);
    if (o->hidden_weight > 0 && t->cfg.hidden != s->cfg.hidden)
        return qz_fail(err, QZ_EINPUT, "hidden-state loss: the student's hidden size %lld differs from the teacher's %lld",
                       (long long)s->cfg.hidden, (long long)t->cfg.hidden);
    if (n_tokens < o->seqlen + 1)
        return qz_fail(err, QZ_EINPUT, "the training text has %lld tokens, shorter than one window of %lld (+1)", (long long)n_tokens,
                       (long long)o->seqlen);
    return QZ_OK;
}

static int alloc_state(qz_distill *d, qz_error *err)
{
    size_t n = (size_t)d->tm->n_params, N = (size_t)(d->o.batch * d->o.seqlen);
    d->m = qz_calloc_array(n, sizeof(float));
    d->v = qz_calloc_array(n, sizeof(float));
    d->decay = qz_calloc_array(n, 1);
    d->batch = qz_malloc_array(N, sizeof(int32_t));
    d->thid = qz_malloc_array(N * (size_t)d->teacher->cfg.hidden, sizeof(float));
    d->tbuf = qz_malloc_array((size_t)(QZ_TRAIN_CHUNK * d->teacher->cfg.hidden), sizeof(float));
    d->curve = qz_calloc_array((size_t)d->o.steps, sizeof *d->curve);
    if (d->o.keep_sparsity) d->mask = qz_calloc_array(n, 1);
    if (!d->m || !d->v || !d->decay || !d->batch || !d->thid || !d->tbuf || !d->curve || (d->o.keep_sparsity && !d->mask))
        return qz_fail(err, QZ_EINTERNAL, "out of memory for the optimizer state of %lld parameters", (long long)n);
    int64_t linear = 0;
    for (int i = 0; i < d->tm->n_tensors; i++) {
        const qz_train_tensor *t = &d->tm->tensors[i];
        memset(d->decay + t->off, t->decay, (size_t)t->numel);
        linear += t->linear ? t->numel : 0;
        for (int64_t j = t->off; d->mask && t->linear && j < t->off + t->numel; j++)
            if (d->tm->params[j] == 0.0f) d->mask[j] = 1, d->masked++;
    }
    if (d->o.keep_sparsity < 0 && (double)d->masked < QZ_DISTILL_SPARSE_AUTO * (double)linear) { /* a dense student */
        free(d->mask);
        d->mask = NULL;
        d->masked = 0;
    }
    return QZ_OK;
}

int qz_distill_new(qz_distill **out, qz_model *teacher, qz_model *student, const int32_t *tokens, int64_t n_tokens,
                   const qz_distill_opts *o, qz_error *err)
{
    *out = NULL;
    int rc = check_pair(teacher, student, n_tokens, o, err);
    if (rc) return rc;
    qz_distill *d = calloc(1, sizeof *d);
    if (!d) return qz_fail(err, QZ_EINTERNAL, "out of memory");
    d->o = *o;
    d->teacher = teacher;
    d->tokens = tokens;
    d->n_tokens = n_tokens;
    qz_rng_seed(&d->rng, o->seed);
    rc = qz_model_reserve(student, o->seqlen, err);
    if (rc == QZ_OK) rc = qz_model_reserve(teacher, o->seqlen, err);
    if (rc == QZ_OK) rc = qz_train_model_load(&d->tm, student, err);
    if (rc == QZ_OK) rc = qz_train_acts_new(&d->a, &student->cfg, o->batch, o->seqlen, err);
    if (rc == QZ_OK) rc = qz_distill_scratch_new(&d->s, &student->cfg, err);
    if (rc == QZ_OK) rc = alloc_state(d, err);
    if (rc) {
        qz_distill_free(d);
        return rc;
    }
    *out = d;
    return QZ_OK;
}

void qz_distill_free(qz_distill *d)
{
    if (!d) return;
    qz_train_model_free(d->tm);
    qz_train_acts_free(d->a);
    qz_distill_scratch_free(d->s);
    free(d->m), free(d->v), free(d->decay), free(d->mask), free(d->batch), free(d->thid), free(d->tbuf), free(d->curve);
    qz_topk_reader_free(d->cache);
    free(d->blk.logp_next), free(d->blk.p_rest), free(d->blk.ids), free(d->blk.logp), free(d->mark);
    free(d);
}

/* The failure of a step whose loss or gradient is not finite: the tensor
 * nearest the output (the first the backward reached) with a bad gradient. */
static int nonfinite(const qz_distill *d, const qz_distill_point *pt, qz_error *err)
{
    const qz_train_model *tm = d->tm;
    for (int i = tm->n_tensors - 1; i >= 0; i--) {
        const qz_train_tensor *t = &tm->tensors[i];
        for (int64_t j = t->off; j < t->off + t->numel; j++)
            if (!isfinite(tm->grads[j]))
                return qz_fail(err, QZ_EINTERNAL, "step %lld: non-finite gradient in %s (loss %g); stopped", (long long)d->step + 1, t->name,
                               pt->loss);
    }
    return qz_fail(err, QZ_EINTERNAL, "step %lld: non-finite loss %g; stopped", (long long)d->step + 1, pt->loss);
}

/* One step's windows (batch, seqlen) from rng. */
static void sample_windows(const qz_distill *d, qz_rng *rng, int32_t *out)
{
    int64_t T = d->o.seqlen;
    for (int64_t b = 0; b < d->o.batch; b++) {
        int64_t off = (int64_t)qz_rng_below(rng, (uint64_t)(d->n_tokens - T));
        memcpy(out + b * T, d->tokens + off, (size_t)T * sizeof(int32_t));
    }
}

int qz_distill_step(qz_distill *d, qz_distill_point *pt, qz_error *err)
{
    const qz_distill_opts *o = &d->o;
    QZ_ASSERT(d->step < o->steps);
    sample_windows(d, &d->rng, d->batch);
    int rc = QZ_OK;
    if (d->cache) rc = qz_topk_reader_read(d->cache, &d->blk, err);
    else if (o->loss.kind != QZ_LOSS_CE || o->hidden_weight > 0) {
        qz_ppl_opts po = {.seqlen = o->seqlen, .batch_windows = o->batch};
        rc = qz_eval_hidden(d->teacher, d->batch, o->batch, &po, d->thid, err);
    }
    if (rc == QZ_OK)
        rc = qz_distill_grad(d->tm, d->a, d->s, d->batch, o->batch, &o->loss, o->hidden_weight, teacher_rows, d,
                             d->cache ? &d->blk : NULL, pt, err);
    if (rc) return rc;
    float *g = d->tm->grads;
    int64_t n = d->tm->n_params;
    for (int64_t i = 0; d->mask && i < n; i++)
        if (d->mask[i]) g[i] = 0.0f;
    pt->grad_norm = qz_grad_norm(g, n);
    if (!isfinite(pt->loss) || !isfinite(pt->grad_norm)) return nonfinite(d, pt, err);
    qz_grad_clip(g, n, pt->grad_norm, o->clip);
    pt->lr = qz_lr_at(o->schedule, o->lr, o->lr_min_frac, o->warmup, d->step, o->steps);
    qz_adamw_step(&o->adam, d->tm->params, g, d->m, d->v, d->decay, n, d->step + 1, pt->lr);
    pt->step = ++d->step;
    pt->eval_ppl = NAN;
    d->curve[d->step - 1] = *pt;
    return QZ_OK;
}

int64_t qz_distill_steps_done(const qz_distill *d) { return d->step; }

int qz_distill_eval(qz_distill *d, const int32_t *tokens, int64_t n_windows, double *ppl, qz_error *err)
{
    int64_t T = d->o.seqlen, V = d->tm->cfg.vocab;
    double nll = 0;
    (void)err;
    for (int64_t w0 = 0; w0 < n_windows; w0 += d->o.batch) {
        int64_t nb = n_windows - w0 < d->o.batch ? n_windows - w0 : d->o.batch, N = nb * T;
        const int32_t *tok = tokens + w0 * T;
        qz_train_forward(d->tm, d->a, tok, nb);
        for (int64_t r0 = 0; r0 < N; r0 += QZ_TRAIN_CHUNK) {
            int64_t n = N - r0 < QZ_TRAIN_CHUNK ? N - r0 : QZ_TRAIN_CHUNK;
            qz_train_logits(d->tm, d->a, r0, n, d->s->zs);
            for (int64_t i = 0; i < n; i++)
                if ((r0 + i) % T != T - 1) nll += qz_logsumexp(d->s->zs + i * V, V) - d->s->zs[i * V + tok[r0 + i + 1]];
        }
    }
    *ppl = exp(nll / (double)(n_windows * (T - 1)));
    return QZ_OK;
}

void qz_distill_note_eval(qz_distill *d, double ppl)
{
    if (d->step > 0) d->curve[d->step - 1].eval_ppl = ppl;
}

const qz_distill_point *qz_distill_curve(const qz_distill *d, int64_t *n)
{
    *n = d->step;
    return d->curve;
}

const qz_train_model *qz_distill_student(const qz_distill *d) { return d->tm; }
int64_t qz_distill_masked(const qz_distill *d) { return d->masked; }

/* ----------------------------------------------------------- top-k cache */

/* Records per step: every scored position of the batch's windows. */
static int64_t step_records(const qz_distill *d) { return d->o.batch * (d->o.seqlen - 1); }

static int alloc_block(qz_distill *d, int k, qz_error *err)
{
    size_t n = (size_t)step_records(d);
    d->blk = (qz_topk_block){(int64_t)n, k, qz_malloc_array(n, sizeof(double)), qz_malloc_array(n, sizeof(double)),
                             qz_malloc_array(n * (size_t)k, sizeof(int32_t)), qz_malloc_array(n * (size_t)k, sizeof(float))};
    if (!d->mark) d->mark = qz_calloc_array((size_t)d->tm->cfg.vocab, 1);
    if (d->blk.logp_next && d->blk.p_rest && d->blk.ids && d->blk.logp && d->mark) return QZ_OK;
    return qz_fail(err, QZ_EINTERNAL, "out of memory for %zu top-%d records", n, k);
}

/* The header a cache of this run's windows has (all steps, in draw order). */
static qz_topk_header cache_header(const qz_distill *d, int k)
{
    qz_topk_header h = {.k = k, .vocab = d->tm->cfg.vocab, .seqlen = d->o.seqlen, .windows = d->o.steps * d->o.batch};
    h.n_tokens = h.windows * h.seqlen;
    qz_rng rng;
    qz_rng_seed(&rng, d->o.seed);
    uint32_t crc = 0;
    for (int64_t s = 0; s < d->o.steps; s++) {
        sample_windows(d, &rng, d->batch);
        crc = qz_crc32(crc, d->batch, (size_t)(d->o.batch * d->o.seqlen) * sizeof(int32_t)); /* = qz_topk_tokens_crc on LE hosts */
    }
    h.tokens_crc = crc;
    return h;
}

/* The teacher's top-k records of the windows now in d->batch into d->blk. */
static int teacher_topk(qz_distill *d, qz_error *err)
{
    int64_t T = d->o.seqlen, N = d->o.batch * T, V = d->tm->cfg.vocab;
    qz_ppl_opts po = {.seqlen = T, .batch_windows = d->o.batch};
    int rc = qz_eval_hidden(d->teacher, d->batch, d->o.batch, &po, d->thid, err);
    for (int64_t r0 = 0; rc == QZ_OK && r0 < N; r0 += QZ_TRAIN_CHUNK) {
        int64_t n = N - r0 < QZ_TRAIN_CHUNK ? N - r0 : QZ_TRAIN_CHUNK;
        rc = teacher_rows(d, r0, n, d->s->zt, NULL, err);
        for (int64_t i = 0; rc == QZ_OK && i < n; i++) {
            int64_t r = r0 + i;
            if (r % T != T - 1) qz_cmp_topk_row(d->s->zt + i * V, V, d->batch[r + 1], &d->blk, r / T * (T - 1) + r % T, d->mark);
        }
    }
    return rc;
}

int qz_distill_write_cache(qz_distill *d, const char *path, int k, const char *teacher_name, qz_error *err)
{
    if (k < 1 || k > d->tm->cfg.vocab) return qz_fail(err, QZ_EINPUT, "--top-k %d: must be in [1, %lld]", k, (long long)d->tm->cfg.vocab);
    qz_topk_header h = cache_header(d, k);
    snprintf(h.base, sizeof h.base, "%s", teacher_name);
    qz_topk_writer *w = NULL;
    int rc = alloc_block(d, k, err);
    if (rc == QZ_OK) rc = qz_topk_writer_open(&w, path, &h, err);
    qz_rng rng;
    qz_rng_seed(&rng, d->o.seed);
    for (int64_t s = 0; rc == QZ_OK && s < d->o.steps; s++) {
        sample_windows(d, &rng, d->batch);
        rc = teacher_topk(d, err);
        if (rc == QZ_OK) rc = qz_topk_writer_write(w, &d->blk, err);
    }
    if (rc == QZ_OK) rc = qz_topk_writer_commit(w, err);
    qz_topk_writer_free(w);
    free(d->blk.logp_next), free(d->blk.p_rest), free(d->blk.ids), free(d->blk.logp);
    memset(&d->blk, 0, sizeof d->blk);
    return rc;
}

int qz_distill_use_cache(qz_distill *d, const char *path, qz_error *err)
{
    qz_topk_header h;
    int rc = qz_topk_reader_open(&d->cache, path, &h, err);
    if (rc) return rc;
    qz_topk_header want = cache_header(d, h.k);
    if (h.vocab != want.vocab || h.seqlen != want.seqlen || h.windows != want.windows || h.n_tokens != want.n_tokens ||
        h.tokens_crc != want.tokens_crc)
        return qz_fail(err, QZ_EINPUT,
                       "%s: a cache of %lld windows of %lld tokens (vocab %lld), not of this run's %lld windows of %lld (data, seed, "
                       "steps, batch and seqlen must match the run that wrote it)",
                       path, (long long)h.windows, (long long)h.seqlen, (long long)h.vocab, (long long)want.windows, (long long)want.seqlen);
    rc = alloc_block(d, h.k, err);
    for (int64_t s = 0; rc == QZ_OK && s < d->step; s++) rc = qz_topk_reader_read(d->cache, &d->blk, err); /* resumed: skip done steps */
    return rc;
}

/* ------------------------------------------------------------ checkpoint */

#define CKPT_MAGIC "QZDISTL\n"
#define CKPT_VERSION 1u
#define CKPT_HEADER 48 /* magic 8, u32 version, u32 opts_crc, u64 n_params, step, rng state, masked */
#define CKPT_POINT 8   /* f64 fields per curve point */

/* CRC of every option and shape a resumed run must share. */
static uint32_t opts_crc(const qz_distill *d)
{
    const qz_distill_opts *o = &d->o;
    const qz_model_config *c = &d->tm->cfg;
    char s[1024];
    int n = snprintf(s, sizeof s, "%d %.17g %.17g %.17g %lld %lld %lld %lld %.17g %.17g %.17g %d %.17g %.17g %.17g %.17g %llu %d %lld %lld %lld",
                     (int)o->loss.kind, o->loss.alpha, o->loss.temperature, o->hidden_weight, (long long)o->seqlen, (long long)o->batch,
                     (long long)o->steps, (long long)o->warmup, o->lr, o->lr_min_frac, o->clip, (int)o->schedule, o->adam.beta1,
                     o->adam.beta2, o->adam.eps, o->adam.weight_decay, (unsigned long long)o->seed, o->keep_sparsity,
                     (long long)c->hidden, (long long)c->n_layers, (long long)d->n_tokens);
    return qz_crc32(0, s, (size_t)n);
}

static void put_u32(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); }
static void put_u64(unsigned char *p, uint64_t v) { memcpy(p, &v, 8); }

static size_t ckpt_bytes(const qz_distill *d, int64_t step)
{
    return CKPT_HEADER + 3 * (size_t)d->tm->n_params * sizeof(float) + (size_t)step * CKPT_POINT * sizeof(double) + 4;
}

/* The whole file in memory (little-endian hosts; see FORMAT.md). */
static unsigned char *ckpt_serialize(const qz_distill *d, size_t *len)
{
    size_t n = (size_t)d->tm->n_params * sizeof(float), total = ckpt_bytes(d, d->step);
    unsigned char *buf = malloc(total), *p;
    if (!buf) return NULL;
    memcpy(buf, CKPT_MAGIC, 8);
    put_u32(buf + 8, CKPT_VERSION);
    put_u32(buf + 12, opts_crc(d));
    put_u64(buf + 16, (uint64_t)d->tm->n_params);
    put_u64(buf + 24, (uint64_t)d->step);
    put_u64(buf + 32, d->rng.state);
    put_u64(buf + 40, (uint64_t)d->masked);
    p = buf + CKPT_HEADER;
    memcpy(p, d->tm->params, n), p += n;
    memcpy(p, d->m, n), p += n;
    memcpy(p, d->v, n), p += n;
    for (int64_t i = 0; i < d->step; i++) {
        const qz_distill_point *c = &d->curve[i];
        double f[CKPT_POINT] = {(double)c->step, c->loss, c->div, c->ce, c->hidden, c->lr, c->grad_norm, c->eval_ppl};
        memcpy(p, f, sizeof f), p += sizeof f;
    }
    put_u32(p, qz_crc32(0, buf, (size_t)(p - buf)));
    *len = total;
    return buf;
}

int qz_distill_save(const qz_distill *d, const char *path, qz_error *err)
{
    char tmp[4200];
    size_t len;
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    unsigned char *buf = ckpt_serialize(d, &len);
    if (!buf) return qz_fail(err, QZ_EINTERNAL, "out of memory writing the checkpoint %s", path);
    FILE *f = fopen(tmp, "wb");
    int ok = f && fwrite(buf, 1, len, f) == len && fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = (f && fclose(f) == 0) && ok;
    free(buf);
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return qz_fail(err, QZ_EINTERNAL, "cannot write the checkpoint %s", path);
    }
    return QZ_OK;
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static uint32_t get_u32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Checks the header and size of a checkpoint file held in buf. */
static int ckpt_check(const qz_distill *d, const char *path, const unsigned char *buf, size_t len, qz_error *err)
{
    if (len < CKPT_HEADER + 4 || memcmp(buf, CKPT_MAGIC, 8) != 0)
        return qz_fail(err, QZ_EINPUT, "%s: not a qz-distill checkpoint (bad magic)", path);
    if (get_u32(buf + 8) != CKPT_VERSION) return qz_fail(err, QZ_EINPUT, "%s: checkpoint version %u, expected %u", path, get_u32(buf + 8), CKPT_VERSION);
    if (get_u32(buf + len - 4) != qz_crc32(0, buf, len - 4)) return qz_fail(err, QZ_EINPUT, "%s: checkpoint CRC mismatch (corrupt file)", path);
    if (get_u32(buf + 12) != opts_crc(d) || get_u64(buf + 16) != (uint64_t)d->tm->n_params)
        return qz_fail(err, QZ_EINPUT, "%s: checkpoint made with other options, data or student; rerun with the same flags or without --resume", path);
    uint64_t step = get_u64(buf + 24);
    if (step > (uint64_t)d->o.steps || len != ckpt_bytes(d, (int64_t)step))
        return qz_fail(err, QZ_EINPUT, "%s: checkpoint step %llu or size %zu does not fit %lld steps", path, (unsigned long long)step, len,
                       (long long)d->o.steps);
    return QZ_OK;
}

int qz_distill_load(qz_distill *d, const char *path, qz_error *err)
{
    char *data;
    size_t len;
    int rc = qz_read_file(path, &data, &len, err);
    if (rc) return rc;
    const unsigned char *buf = (const unsigned char *)data;
    rc = ckpt_check(d, path, buf, len, err);
    if (rc == QZ_OK) {
        size_t n = (size_t)d->tm->n_params * sizeof(float);
        d->step = (int64_t)get_u64(buf + 24);
        d->rng.state = get_u64(buf + 32);
        const unsigned char *p = buf + CKPT_HEADER;
        memcpy(d->tm->params, p, n), p += n;
        memcpy(d->m, p, n), p += n;
        memcpy(d->v, p, n), p += n;
        for (int64_t i = 0; i < d->step; i++, p += CKPT_POINT * sizeof(double)) {
            double f[CKPT_POINT];
            memcpy(f, p, sizeof f);
            d->curve[i] = (qz_distill_point){(int64_t)f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7]};
        }
    }
    free(data);
    return rc;
}
