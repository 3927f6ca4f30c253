/* distill.h - knowledge distillation of a student decoder from a teacher
 * (Hinton et al. 2015; Minitron's recipe: prune, then distill on logits,
 * optionally on the final hidden state): the training loop behind
 * qz-distill.
 *
 * Each step draws --batch windows of --seqlen tokens at offsets uniform in
 * [0, n_tokens - seqlen) from qz_rng (SplitMix64, as calibration windows
 * are drawn), runs the teacher forward only (model.h, streamed layer by
 * layer) and the student forward + backward (train.h), takes the loss
 * (loss.h) averaged over every scored position (positions 0..seqlen-2 of a
 * window predict the next token), clips the gradient's global norm and
 * applies AdamW (optim.h) at the scheduled learning rate. Optionally
 *   + hidden_weight * mean((h_s - h_t)^2)
 * over the final normed hidden states (the lm_head inputs) when teacher and
 * student have the same width.
 *
 * Sparsity: with keep_sparsity, the student's decoder-linear weights that
 * are exactly zero at the start get a zero gradient every step, so AdamW's
 * moments and update stay zero and the weights stay exactly zero.
 *
 * Determinism: the same inputs, options and BLAS threads give the same
 * bytes; a state saved by qz_distill_save and restored by qz_distill_load
 * continues exactly as the uninterrupted run.
 */
#ifndef QZ_DISTILL_H
#define QZ_DISTILL_H

#include "loss.h"
#include "topk_cache.h"
#include "optim.h"
#include "rng.h"
#include "train.h"

typedef struct qz_distill_opts {
    qz_loss_opts loss;
    double hidden_weight;   /* 0 = no hidden-state loss */
    int64_t seqlen, batch, steps, warmup;
    double lr, lr_min_frac; /* cosine decays to lr_min_frac * lr */
    double clip;            /* global gradient norm limit; 0 = none */
    qz_schedule schedule;
    qz_adamw adam;
    uint64_t seed;
    int keep_sparsity;      /* 1 on, 0 off, -1 on when >= QZ_DISTILL_SPARSE_AUTO of the linear weights are 0 */
} qz_distill_opts;

#define QZ_DISTILL_SPARSE_AUTO 0.01

/* Defaults: kl, alpha 1, tau 1, seqlen 512, batch 8, steps 100, warmup 100
 * (clamped to steps by the tool), lr 3e-4 to 0.1 lr by cosine, clip 1,
 * AdamW betas (0.9, 0.95), eps 1e-8, weight decay 0.1, seed 0,
 * keep_sparsity auto. */
qz_distill_opts qz_distill_defaults(void);

/* What one step (or an evaluation) measured, means over scored positions. */
typedef struct qz_distill_point {
    int64_t step;      /* steps done after it (1-based) */
    double loss, div, ce, hidden, lr, grad_norm;
    double eval_ppl;   /* NaN when not evaluated at this step */
} qz_distill_point;

/* Teacher outputs for rows [r0, r0+n) of the current batch (n <=
 * QZ_TRAIN_CHUNK): logits (n, vocab) and, when hidden != NULL, the final
 * normed hidden states (n, hidden). */
typedef int (*qz_teacher_fn)(void *ctx, int64_t r0, int64_t n, float *logits, float *hidden, qz_error *err);

/* Scratch of qz_distill_grad for a model's shapes. */
typedef struct qz_distill_scratch qz_distill_scratch;
int qz_distill_scratch_new(qz_distill_scratch **out, const qz_model_config *c, qz_error *err);
void qz_distill_scratch_free(qz_distill_scratch *s);

/* Zeroes tm's gradients, runs the student on B windows (tokens B*T, T the
 * acts' length) and leaves the gradient of the mean loss in tm->grads;
 * *pt gets loss, div, ce, hidden. The teacher is teacher(tctx) or, when
 * cache is not NULL, its B*(T-1) top-k records in window order (loss kl,
 * temperature 1). Exposed for the tests. */
int qz_distill_grad(qz_train_model *tm, qz_train_acts *a, qz_distill_scratch *s, const int32_t *tokens, int64_t B,
                    const qz_loss_opts *lo, double hidden_weight, qz_teacher_fn teacher, void *tctx, const qz_topk_block *cache,
                    qz_distill_point *pt, qz_error *err);

/* The trainer. teacher and student stay owned by the caller and must
 * outlive it; the student's parameters are copied into FP32 master weights
 * (qz_distill_student). tokens (n_tokens) stay the caller's too. */
typedef struct qz_distill qz_distill;
int qz_distill_new(qz_distill **out, qz_model *teacher, qz_model *student, const int32_t *tokens, int64_t n_tokens,
                   const qz_distill_opts *o, qz_error *err);
void qz_distill_free(qz_distill *d);

/* One optimizer step; QZ_EINTERNAL naming the step and the first tensor
 * whose gradient is not finite (the parameters are left as they were). */
int qz_distill_step(qz_distill *d, qz_distill_point *pt, qz_error *err);
/* Steps done so far. */
int64_t qz_distill_steps_done(const qz_distill *d);
/* Perplexity of the student on n_windows consecutive windows of seqlen
 * tokens (qz-eval's protocol: every token after a window's first scored). */
int qz_distill_eval(qz_distill *d, const int32_t *tokens, int64_t n_windows, double *ppl, qz_error *err);
/* Records an evaluation in the curve at the current step. */
void qz_distill_note_eval(qz_distill *d, double ppl);
/* The curve: one point per step, in order (n = steps done). */
const qz_distill_point *qz_distill_curve(const qz_distill *d, int64_t *n);
/* The student's FP32 master weights. */
const qz_train_model *qz_distill_student(const qz_distill *d);
/* Count of weights kept at zero (0 without keep_sparsity). */
int64_t qz_distill_masked(const qz_distill *d);

/* Teacher top-k cache (formats/topk_cache.h, version 1, as qz-eval writes
 * it): its "text" is the windows of every step of this run concatenated in
 * draw order (n_tokens = steps * batch * seqlen, tokens_crc over them), so a
 * run with the same data, seed, steps, batch and seqlen reads it and
 * nothing else does. _write_cache runs the teacher over all those windows
 * and writes path atomically (an existing path is refused); _use_cache
 * makes the following steps read the teacher from path instead of running
 * it (call after qz_distill_load when resuming: the done steps are skipped).
 * Loss kl at temperature 1 only (the caller checks). */
int qz_distill_write_cache(qz_distill *d, const char *path, int k, const char *teacher_name, qz_error *err);
int qz_distill_use_cache(qz_distill *d, const char *path, qz_error *err);

/* Training state: master weights, AdamW moments, step, RNG state and the
 * curve, in one file written atomically ("<path>.tmp", fsync, rename; layout
 * in FORMAT.md "Distillation checkpoints"). _load refuses a file made with
 * other options or another student (QZ_EINPUT). */
int qz_distill_save(const qz_distill *d, const char *path, qz_error *err);
int qz_distill_load(qz_distill *d, const char *path, qz_error *err);

#endif
