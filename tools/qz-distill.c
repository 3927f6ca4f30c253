/* qz-distill - knowledge distillation of a student checkpoint (typically a
 * qz-prune --method structured output) from its teacher, in C on the CPU
 * (libquant/train/distill.h); writes the trained student as a dense Hugging
 * Face checkpoint in the student's dtype with the training curve in
 * qz-log.jsonl. docs/qz-distill.md is the manual. */
#include "cli.h"
#include "compare.h"
#include "distill.h"
#include "export.h"

#include <cblas.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage(void)
{
    printf("usage: qz-distill TEACHER_DIR STUDENT_DIR OUT_DIR --data FILE [options]\n"
           "\n"
           "Trains STUDENT_DIR (same tokenizer and vocabulary as TEACHER_DIR) to match the teacher's\n"
           "next-token distribution and writes it to OUT_DIR in the student's dtype.\n"
           "\n"
           "options:\n"
           "  --data FILE           training text (tokenized with the teacher's tokenizer), or a file\n"
           "                        named *.tokens of whitespace-separated token ids (required)\n"
           "  --steps N             optimizer steps (default 100)\n"
           "  --tokens N            instead of --steps: ceil(N / (batch * seqlen)) steps\n"
           "  --seqlen N            tokens per window (default 512)\n"
           "  --batch N             windows per step (default 8)\n"
           "  --lr LR               peak learning rate, (0, 1] (default 3e-4)\n"
           "  --warmup N            linear warmup steps (default min(100, steps/10))\n"
           "  --schedule S          cosine (to 0.1 lr) or constant after warmup (default cosine)\n"
           "  --weight-decay W      AdamW decoupled weight decay, not on norms and biases (default 0.1)\n"
           "  --clip C              global gradient-norm limit, 0 = none (default 1)\n"
           "  --loss L              kl | rkl | jsd | ce (default kl)\n"
           "  --alpha A             loss = A * divergence + (1 - A) * cross-entropy (default 1)\n"
           "  --temperature T       softmax temperature of the divergence, times T^2 (default 1)\n"
           "  --hidden-loss W       add W * MSE of the final hidden states (same widths) (default 0)\n"
           "  --teacher-cache FILE  teacher top-k log-probabilities of every training window: read when\n"
           "                        FILE exists, else computed once up front and written (loss kl, T 1)\n"
           "  --top-k K             entries per token of a written cache (default 64)\n"
           "  --eval-text FILE      held-out text evaluated with qz-eval's protocol (seqlen windows)\n"
           "  --eval-every N        evaluate every N steps (default: at the start and the end only)\n"
           "  --eval-windows N      evaluate on the first N windows only (default all)\n"
           "  --keep-sparsity       hold the student's zero weights at exactly zero (default when at least\n"
           "  --no-keep-sparsity    1%% of its linear weights are 0)\n"
           "  --checkpoint-every N  write OUT_DIR.qz-ckpt (weights, AdamW moments, step, RNG) every N steps\n"
           "  --resume              continue from OUT_DIR.qz-ckpt, same flags: the result is byte-identical\n"
           "  --seed S              window sampling seed (default 0)\n"
           "  --threads N           BLAS threads (default: OpenBLAS's)\n"
           "  --force               replace OUT_DIR if it exists\n"
           QZ_CLI_COMMON_HELP
           "\nexamples:\n"
           "  qz-distill teacher/ pruned/ out/student --data train.txt --steps 200 --eval-text eval.txt --eval-every 50\n"
           "  qz-distill teacher/ pruned/ out/student --data train.txt --loss kl --alpha 0.5 --checkpoint-every 50\n");
}

typedef struct args {
    const char *teacher, *student, *out, *data, *eval_text, *cache;
    qz_distill_opts o;
    int64_t tokens, eval_every, eval_windows, checkpoint_every, threads, top_k;
    int warmup_set, resume, force;
} args;

enum {
    O_DATA = 0x2000, O_STEPS, O_TOKENS, O_SEQLEN, O_BATCH, O_LR, O_WARMUP, O_SCHEDULE, O_WD, O_CLIP, O_LOSS, O_ALPHA, O_TEMP,
    O_HIDDEN, O_CACHE, O_TOPK, O_EVAL, O_EVAL_EVERY, O_EVAL_WINDOWS, O_KEEP, O_NO_KEEP, O_CKPT, O_RESUME, O_SEED, O_THREADS, O_FORCE
};

static int parse_enum(qz_cli *c, const char *flag, const char *s, const char *const *names, int n, int *out)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(s, names[i])) {
            *out = i;
            return 0;
        }
    return qz_cli_usage_error(c, "%s '%s': expected %s%s%s%s%s%s%s", flag, s, names[0], n > 1 ? ", " : "", n > 1 ? names[1] : "",
                              n > 2 ? ", " : "", n > 2 ? names[2] : "", n > 3 ? " or " : "", n > 3 ? names[3] : "");
}

static int option(qz_cli *c, int ch, const char *v, args *a, char **argv)
{
    static const char *losses[] = {"kl", "rkl", "jsd", "ce"}, *scheds[] = {"cosine", "constant"};
    qz_distill_opts *o = &a->o;
    int k = 0, rc = 0;
    switch (ch) {
    case O_DATA: a->data = v; return 0;
    case O_STEPS: return qz_cli_int(c, "--steps", v, 1, 10000000, &o->steps);
    case O_TOKENS: return qz_cli_int(c, "--tokens", v, 1, INT64_MAX / 2, &a->tokens);
    case O_SEQLEN: return qz_cli_int(c, "--seqlen", v, 2, 1 << 16, &o->seqlen);
    case O_BATCH: return qz_cli_int(c, "--batch", v, 1, 1 << 16, &o->batch);
    case O_LR: return qz_cli_real(c, "--lr", v, 1e-12, 1.0, &o->lr);
    case O_WARMUP: a->warmup_set = 1; return qz_cli_int(c, "--warmup", v, 0, 10000000, &o->warmup);
    case O_SCHEDULE: rc = parse_enum(c, "--schedule", v, scheds, 2, &k), o->schedule = (qz_schedule)k; return rc;
    case O_WD: return qz_cli_real(c, "--weight-decay", v, 0, 1, &o->adam.weight_decay);
    case O_CLIP: return qz_cli_real(c, "--clip", v, 0, 1e9, &o->clip);
    case O_LOSS: rc = parse_enum(c, "--loss", v, losses, 4, &k), o->loss.kind = (qz_loss_kind)k; return rc;
    case O_ALPHA: return qz_cli_real(c, "--alpha", v, 0, 1, &o->loss.alpha);
    case O_TEMP: return qz_cli_real(c, "--temperature", v, 0.01, 100, &o->loss.temperature);
    case O_HIDDEN: return qz_cli_real(c, "--hidden-loss", v, 0, 1e6, &o->hidden_weight);
    case O_CACHE: a->cache = v; return 0;
    case O_TOPK: return qz_cli_int(c, "--top-k", v, 1, 1 << 20, &a->top_k);
    case O_EVAL: a->eval_text = v; return 0;
    case O_EVAL_EVERY: return qz_cli_int(c, "--eval-every", v, 1, INT64_MAX, &a->eval_every);
    case O_EVAL_WINDOWS: return qz_cli_int(c, "--eval-windows", v, 1, INT64_MAX, &a->eval_windows);
    case O_KEEP: o->keep_sparsity = 1; return 0;
    case O_NO_KEEP: o->keep_sparsity = 0; return 0;
    case O_CKPT: return qz_cli_int(c, "--checkpoint-every", v, 1, INT64_MAX, &a->checkpoint_every);
    case O_RESUME: a->resume = 1; return 0;
    case O_SEED: {
        int64_t s;
        rc = qz_cli_int(c, "--seed", v, 0, INT64_MAX, &s);
        o->seed = (uint64_t)s;
        return rc;
    }
    case O_THREADS: return qz_cli_int(c, "--threads", v, 1, 1024, &a->threads);
    case O_FORCE: a->force = 1; return 0;
    default: return qz_cli_common_option(c, ch, argv, usage);
    }
}

/* Flag combinations that cannot work, whatever the models. */
static int check_args(qz_cli *c, args *a, int steps_set)
{
    qz_distill_opts *o = &a->o;
    if (!a->data) return qz_cli_usage_error(c, "--data FILE is required");
    if (a->tokens && steps_set) return qz_cli_usage_error(c, "give --steps or --tokens, not both");
    if (a->tokens) o->steps = (a->tokens + o->batch * o->seqlen - 1) / (o->batch * o->seqlen);
    if (o->steps > 10000000) return qz_cli_usage_error(c, "--tokens: %lld steps, at most 10000000", (long long)o->steps);
    if (!a->warmup_set) o->warmup = o->steps / 10 < 100 ? o->steps / 10 : 100;
    if (o->warmup > o->steps) return qz_cli_usage_error(c, "--warmup %lld: more than the %lld steps", (long long)o->warmup, (long long)o->steps);
    if (a->eval_every && !a->eval_text) return qz_cli_usage_error(c, "--eval-every needs --eval-text FILE");
    if (a->cache && (o->loss.kind != QZ_LOSS_KL || o->loss.temperature != 1.0 || o->hidden_weight > 0))
        return qz_cli_usage_error(c, "--teacher-cache holds top-k log-probabilities at temperature 1: only --loss kl, --temperature 1, no --hidden-loss");
    return 0;
}

/* ------------------------------------------------------------------ data */

/* Length of the run of non-space bytes at p. */
static int word_len(const char *p)
{
    int n = 0;
    while (p[n] && !isspace((unsigned char)p[n])) n++;
    return n;
}

/* Whitespace-separated decimal ids, each in [0, vocab). */
static int read_token_file(const char *path, int64_t vocab, int32_t **ids, int64_t *n, qz_error *err)
{
    char *text;
    size_t len;
    int rc = qz_read_file(path, &text, &len, err);
    if (rc) return rc;
    int64_t cnt = 0;
    *ids = qz_malloc_array(len / 2 + 1, sizeof **ids); /* an id and its separator take >= 2 bytes */
    if (!*ids) rc = qz_fail(err, QZ_EINTERNAL, "out of memory reading %s", path);
    for (char *p = text; rc == QZ_OK && *p;) {
        while (isspace((unsigned char)*p)) p++;
        if (!*p) break;
        int wl = word_len(p);
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end != p + wl || errno || v < 0 || v >= vocab)
            rc = qz_fail(err, QZ_EINPUT, "%s: token %lld ('%.*s'): expected an id in [0, %lld)", path, (long long)cnt, wl < 20 ? wl : 20, p,
                         (long long)vocab);
        else (*ids)[cnt++] = (int32_t)v;
        p = end;
    }
    free(text);
    if (rc == QZ_OK && cnt == 0) rc = qz_fail(err, QZ_EINPUT, "%s: no token ids", path);
    if (rc) {
        free(*ids);
        *ids = NULL;
    }
    *n = cnt;
    return rc;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* Tokenizes path with both tokenizers: they must agree (same tokenizer). */
static int tokenize_both(const args *a, const char *path, int32_t **ids, int64_t *n, qz_error *err)
{
    int32_t *sid = NULL;
    int64_t sn = 0;
    int rc = qz_cli_tokenize_file(a->teacher, path, ids, n, err);
    if (rc == QZ_OK) rc = qz_cli_tokenize_file(a->student, path, &sid, &sn, err);
    if (rc == QZ_OK) rc = qz_cmp_same_tokens(*ids, *n, sid, sn, a->teacher, a->student, err);
    free(sid);
    return rc;
}

static int load_data(const args *a, const qz_model *t, int32_t **ids, int64_t *n, qz_error *err)
{
    if (ends_with(a->data, ".tokens")) return read_token_file(a->data, t->cfg.vocab, ids, n, err);
    return tokenize_both(a, a->data, ids, n, err);
}

/* -------------------------------------------------------------- running */

typedef struct run {
    qz_cli *c;
    const args *a;
    qz_model *teacher, *student;
    qz_distill *d;
    int32_t *data, *eval;
    int64_t n_data, n_eval, eval_windows;
    char ckpt[4200];
    double t0, initial_ppl, best_ppl, final_ppl;
    int64_t best_step, start_step;
} run;

static void progress(run *r, const qz_distill_point *pt, double now)
{
    qz_cli *c = r->c;
    if (!c->progress || c->quiet || (now - c->last_draw < 0.25 && pt->step < r->a->o.steps)) return;
    c->last_draw = now;
    const qz_distill_opts *o = &r->a->o;
    double el = c->last_elapsed = now - r->t0, done = (double)(pt->step - r->start_step);
    double tps = el > 0 ? done * (double)(o->batch * o->seqlen) / el : 0, eta = done > 0 ? el / done * (double)(o->steps - pt->step) : 0;
    fprintf(stderr, "\r%s: step %lld/%lld  %.0f tok/s  loss %.4f  %s %.4f  ce %.4f  lr %.2e  ETA %lld:%02lld   ", c->tool,
            (long long)pt->step, (long long)o->steps, tps, pt->loss, o->loss.kind == QZ_LOSS_CE ? "kl" : qz_loss_name(o->loss.kind),
            pt->div, pt->ce, pt->lr, (long long)(eta / 60), (long long)fmod(eta, 60));
    fflush(stderr);
}

static int evaluate(run *r, qz_error *err)
{
    double ppl;
    int rc = qz_distill_eval(r->d, r->eval, r->eval_windows, &ppl, err);
    if (rc) return rc;
    int64_t step = qz_distill_steps_done(r->d);
    qz_distill_note_eval(r->d, ppl);
    if (step == 0) r->initial_ppl = ppl;
    if (!(ppl >= r->best_ppl)) r->best_ppl = ppl, r->best_step = step;
    r->final_ppl = ppl;
    if (!r->c->quiet) {
        /* ends a drawn line, keeping the run's clock for qz_cli_progress_done's summary */
        if (r->c->progress && r->c->last_draw > 0) fputc('\n', stderr);
        fprintf(stderr, "%s: step %lld: eval ppl %.4f on %lld windows\n", r->c->tool, (long long)step, ppl, (long long)r->eval_windows);
    }
    return QZ_OK;
}

/* The training loop from the current step to the last. */
static int train(run *r, qz_error *err)
{
    const args *a = r->a;
    int rc = QZ_OK;
    r->t0 = qz_now();
    r->start_step = qz_distill_steps_done(r->d);
    if (r->eval && r->start_step == 0) rc = evaluate(r, err);
    while (rc == QZ_OK && qz_distill_steps_done(r->d) < a->o.steps) {
        qz_distill_point pt;
        rc = qz_distill_step(r->d, &pt, err);
        if (rc) break;
        progress(r, &pt, qz_now());
        int last = pt.step == a->o.steps;
        if (r->eval && ((a->eval_every && pt.step % a->eval_every == 0) || last)) rc = evaluate(r, err);
        if (rc == QZ_OK && a->checkpoint_every && pt.step % a->checkpoint_every == 0 && !last) rc = qz_distill_save(r->d, r->ckpt, err);
    }
    qz_cli_progress_done(r->c);
    if (rc && access(r->ckpt, F_OK) == 0) {
        char msg[QZ_ERRMSG_MAX];
        snprintf(msg, sizeof msg, "%s", err->msg);
        qz_fail(err, rc, "%s (last good checkpoint: %s)", msg, r->ckpt);
    }
    return rc;
}

static cJSON *curve_line(const qz_distill_point *p, const char *div_name)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "step", (double)p->step);
    cJSON_AddNumberToObject(j, "loss", p->loss);
    cJSON_AddNumberToObject(j, div_name, p->div);
    cJSON_AddNumberToObject(j, "ce", p->ce);
    if (p->hidden > 0) cJSON_AddNumberToObject(j, "hidden_mse", p->hidden);
    cJSON_AddNumberToObject(j, "lr", p->lr);
    cJSON_AddNumberToObject(j, "grad_norm", p->grad_norm);
    if (!isnan(p->eval_ppl)) cJSON_AddNumberToObject(j, "eval_ppl", p->eval_ppl);
    return j;
}

static cJSON *config_line(const run *r)
{
    const args *a = r->a;
    const qz_distill_opts *o = &a->o;
    cJSON *j = cJSON_CreateObject(), *d = cJSON_AddObjectToObject(j, "distill");
    cJSON_AddStringToObject(d, "teacher", a->teacher);
    cJSON_AddStringToObject(d, "student", a->student);
    cJSON_AddStringToObject(d, "data", a->data);
    cJSON_AddStringToObject(d, "loss", qz_loss_name(o->loss.kind));
    cJSON_AddNumberToObject(d, "alpha", o->loss.alpha);
    cJSON_AddNumberToObject(d, "temperature", o->loss.temperature);
    cJSON_AddNumberToObject(d, "hidden_loss", o->hidden_weight);
    cJSON_AddNumberToObject(d, "steps", (double)o->steps);
    cJSON_AddNumberToObject(d, "batch", (double)o->batch);
    cJSON_AddNumberToObject(d, "seqlen", (double)o->seqlen);
    cJSON_AddNumberToObject(d, "lr", o->lr);
    cJSON_AddNumberToObject(d, "warmup", (double)o->warmup);
    cJSON_AddStringToObject(d, "schedule", qz_schedule_name(o->schedule));
    cJSON_AddNumberToObject(d, "weight_decay", o->adam.weight_decay);
    cJSON_AddNumberToObject(d, "clip", o->clip);
    cJSON_AddNumberToObject(d, "seed", (double)o->seed);
    cJSON_AddNumberToObject(d, "masked_zeros", (double)qz_distill_masked(r->d));
    if (a->cache) cJSON_AddStringToObject(d, "teacher_cache", a->cache);
    return j;
}

/* OUT_DIR: every parameter of the trained student in its dtype, its
 * config and tokenizer files, the configuration and curve in qz-log.jsonl. */
static int write_output(run *r, qz_error *err)
{
    qz_export *ex = NULL;
    const qz_train_model *tm = qz_distill_student(r->d);
    int rc = qz_export_open(&ex, r->student, r->a->out, r->a->force, err);
    for (int i = 0; rc == QZ_OK && i < tm->n_tensors; i++) {
        const qz_train_tensor *t = &tm->tensors[i];
        rc = qz_export_add_f32(ex, t->name, tm->params + t->off, t->ndim, t->shape, err);
    }
    cJSON *cfg = rc == QZ_OK ? config_line(r) : NULL;
    if (cfg) rc = qz_artifact_log(ex->art, cfg, err);
    cJSON_Delete(cfg);
    int64_t n;
    const qz_distill_point *curve = qz_distill_curve(r->d, &n);
    const char *div = r->a->o.loss.kind == QZ_LOSS_CE ? "kl" : qz_loss_name(r->a->o.loss.kind);
    for (int64_t i = 0; rc == QZ_OK && i < n; i++) {
        cJSON *j = curve_line(&curve[i], div);
        rc = qz_artifact_log(ex->art, j, err);
        cJSON_Delete(j);
    }
    if (rc == QZ_OK) rc = qz_export_finish(ex, NULL, NULL, err);
    qz_export_free(ex);
    return rc;
}

static void print_json(const run *r, double seconds)
{
    const args *a = r->a;
    int64_t n;
    const qz_distill_point *curve = qz_distill_curve(r->d, &n), *last = &curve[n - 1];
    double tokens = (double)(a->o.steps * a->o.batch * a->o.seqlen), trained = (double)((n - r->start_step) * a->o.batch * a->o.seqlen);
    printf("{\"tool\":\"qz-distill\",\"output\":");
    qz_cli_json_string(stdout, a->out);
    printf(",\"loss\":\"%s\",\"alpha\":%g,\"temperature\":%g,\"hidden_loss\":%g,\"steps\":%lld,\"batch\":%lld,\"seqlen\":%lld,"
           "\"tokens\":%.0f,\"resumed_from\":%lld,\"seconds\":%.3f,\"tokens_per_second\":%.1f,\"final_loss\":%.6g,\"final_div\":%.6g,"
           "\"final_ce\":%.6g,\"masked_zeros\":%lld,",
           qz_loss_name(a->o.loss.kind), a->o.loss.alpha, a->o.loss.temperature, a->o.hidden_weight, (long long)a->o.steps,
           (long long)a->o.batch, (long long)a->o.seqlen, tokens, (long long)r->start_step, seconds, seconds > 0 ? trained / seconds : 0,
           last->loss, last->div, last->ce, (long long)qz_distill_masked(r->d));
    if (r->eval) {
        printf("\"eval\":{\"windows\":%lld,", (long long)r->eval_windows);
        if (r->start_step == 0) printf("\"initial_ppl\":%.6f,", r->initial_ppl);
        printf("\"final_ppl\":%.6f,\"best_ppl\":%.6f,\"best_step\":%lld},", r->final_ppl, r->best_ppl, (long long)r->best_step);
    } else
        printf("\"eval\":null,");
    printf("\"peak_rss_mib\":%.1f}\n", qz_cli_peak_rss_mib());
}

static void print_config(const run *r)
{
    const args *a = r->a;
    const qz_distill_opts *o = &a->o;
    if (r->c->quiet) return;
    fprintf(stderr,
            "%s: %s -> %s: %lld parameters (%lld zeros kept), loss %s alpha %g temperature %g hidden %g; %lld steps x %lld x %lld "
            "tokens, lr %g warmup %lld %s, weight decay %g, clip %g, seed %llu, %d threads\n",
            r->c->tool, a->teacher, a->student, (long long)qz_distill_student(r->d)->n_params, (long long)qz_distill_masked(r->d),
            qz_loss_name(o->loss.kind), o->loss.alpha, o->loss.temperature, o->hidden_weight, (long long)o->steps, (long long)o->batch,
            (long long)o->seqlen, o->lr, (long long)o->warmup, qz_schedule_name(o->schedule), o->adam.weight_decay, o->clip,
            (unsigned long long)o->seed, openblas_get_num_threads());
}

/* The eval text's windows (qz-eval's protocol at --seqlen). */
static int load_eval(run *r, qz_error *err)
{
    const args *a = r->a;
    if (!a->eval_text) return QZ_OK;
    int rc = tokenize_both(a, a->eval_text, &r->eval, &r->n_eval, err);
    qz_ppl_opts po = {.seqlen = a->o.seqlen, .max_windows = a->eval_windows};
    if (rc == QZ_OK) rc = qz_eval_windows(r->n_eval, &po, &r->eval_windows, err);
    return rc;
}

/* After --resume: the best and last evaluation so far, from the curve. */
static void restore_evals(run *r)
{
    int64_t n;
    const qz_distill_point *c = qz_distill_curve(r->d, &n);
    for (int64_t i = 0; i < n; i++)
        if (!isnan(c[i].eval_ppl)) {
            if (!(c[i].eval_ppl >= r->best_ppl)) r->best_ppl = c[i].eval_ppl, r->best_step = c[i].step;
            r->final_ppl = c[i].eval_ppl;
        }
}

static int start(run *r, qz_error *err)
{
    const args *a = r->a;
    struct stat st;
    if (stat(a->out, &st) == 0 && !a->force) return qz_fail(err, QZ_EINPUT, "%s exists (use --force to replace it)", a->out);
    int rc = qz_model_open(&r->teacher, a->teacher, err);
    if (rc == QZ_OK) rc = qz_model_open(&r->student, a->student, err);
    if (rc == QZ_OK) rc = load_data(a, r->teacher, &r->data, &r->n_data, err);
    if (rc == QZ_OK) rc = load_eval(r, err);
    if (rc == QZ_OK) rc = qz_distill_new(&r->d, r->teacher, r->student, r->data, r->n_data, &a->o, err);
    if (rc == QZ_OK && a->resume && access(r->ckpt, F_OK) == 0) {
        rc = qz_distill_load(r->d, r->ckpt, err);
        if (rc == QZ_OK && !r->c->quiet)
            fprintf(stderr, "%s: resuming %s at step %lld\n", r->c->tool, r->ckpt, (long long)qz_distill_steps_done(r->d));
        restore_evals(r);
    } else if (rc == QZ_OK && a->resume)
        qz_cli_warn(r->c, "--resume: no checkpoint %s; starting at step 0", r->ckpt);
    if (rc == QZ_OK && a->cache && access(a->cache, F_OK) != 0) {
        if (!r->c->quiet) fprintf(stderr, "%s: writing the teacher's top-%lld cache %s\n", r->c->tool, (long long)a->top_k, a->cache);
        rc = qz_distill_write_cache(r->d, a->cache, (int)a->top_k, a->teacher, err);
    }
    if (rc == QZ_OK && a->cache) rc = qz_distill_use_cache(r->d, a->cache, err);
    return rc;
}

static int run_main(qz_cli *c, const args *a)
{
    qz_error err = {0};
    run r = {.c = c, .a = a, .best_ppl = INFINITY, .best_step = -1, .initial_ppl = NAN, .final_ppl = NAN};
    snprintf(r.ckpt, sizeof r.ckpt, "%s.qz-ckpt", a->out);
    double t0 = qz_now();
    int rc = start(&r, &err);
    if (rc == QZ_OK) print_config(&r);
    if (rc == QZ_OK) rc = train(&r, &err);
    if (rc == QZ_OK) rc = write_output(&r, &err);
    if (rc == QZ_OK) unlink(r.ckpt); /* the run is complete: OUT_DIR holds it */
    if (rc == QZ_OK && c->json) print_json(&r, qz_now() - t0);
    qz_distill_free(r.d);
    qz_model_free(r.teacher);
    qz_model_free(r.student);
    free(r.data);
    free(r.eval);
    return rc ? qz_cli_fail(c, &err) : 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data", required_argument, 0, O_DATA}, {"steps", required_argument, 0, O_STEPS}, {"tokens", required_argument, 0, O_TOKENS},
        {"seqlen", required_argument, 0, O_SEQLEN}, {"batch", required_argument, 0, O_BATCH}, {"lr", required_argument, 0, O_LR},
        {"warmup", required_argument, 0, O_WARMUP}, {"schedule", required_argument, 0, O_SCHEDULE},
        {"weight-decay", required_argument, 0, O_WD}, {"clip", required_argument, 0, O_CLIP}, {"loss", required_argument, 0, O_LOSS},
        {"alpha", required_argument, 0, O_ALPHA}, {"temperature", required_argument, 0, O_TEMP},
        {"hidden-loss", required_argument, 0, O_HIDDEN}, {"teacher-cache", required_argument, 0, O_CACHE},
        {"top-k", required_argument, 0, O_TOPK}, {"eval-text", required_argument, 0, O_EVAL},
        {"eval-every", required_argument, 0, O_EVAL_EVERY}, {"eval-windows", required_argument, 0, O_EVAL_WINDOWS},
        {"keep-sparsity", no_argument, 0, O_KEEP}, {"no-keep-sparsity", no_argument, 0, O_NO_KEEP},
        {"checkpoint-every", required_argument, 0, O_CKPT}, {"resume", no_argument, 0, O_RESUME}, {"seed", required_argument, 0, O_SEED},
        {"threads", required_argument, 0, O_THREADS}, {"force", no_argument, 0, O_FORCE}, QZ_CLI_COMMON_OPTIONS, {0, 0, 0, 0}};
    qz_cli c;
    qz_cli_init(&c, "qz-distill");
    args a = {.o = qz_distill_defaults(), .top_k = 64};
    int ch, steps_set = 0, rc;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        steps_set |= ch == O_STEPS;
        if ((rc = option(&c, ch, optarg, &a, argv))) return rc;
    }
    if (optind != argc - 3) return qz_cli_usage_error(&c, "expected TEACHER_DIR STUDENT_DIR OUT_DIR");
    a.teacher = argv[optind], a.student = argv[optind + 1], a.out = argv[optind + 2];
    if ((rc = check_args(&c, &a, steps_set))) return rc;
    if (a.threads) openblas_set_num_threads((int)a.threads);
    return run_main(&c, &a);
}
