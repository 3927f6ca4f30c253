/* cli.c - shared command-line plumbing for the qz tools. */
#include "cli.h"

#include "artifact.h"
#include "blas_core.h"
#include "gguf_quants.h"
#include "calib.h"
#include "hf_model.h"
#include "model_tokenizer.h"
#include "qz_cuda.h"

#include <cblas.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

void qz_cli_init(qz_cli *c, const char *tool)
{
    memset(c, 0, sizeof *c);
    c->tool = tool;
    c->progress = isatty(STDERR_FILENO);
    qz_error err = {0};
    int rc = qz_blas_core_start(&err);
    if (rc == 1) _exit(0); /* a probe child: its answer is written */
    if (rc) exit(qz_cli_fail(c, &err));
}

int qz_cli_common_option(qz_cli *c, int ch, char **argv, void (*usage)(void))
{
    switch (ch) {
    case QZ_CLI_O_JSON: c->json = 1; return 0;
    case QZ_CLI_O_PROGRESS: c->progress = 1; return 0;
    case QZ_CLI_O_QUIET: c->quiet = 1; return 0;
    case 'h': usage(); exit(0);
    case QZ_CLI_O_VERSION: qz_cli_version(c->tool); exit(0);
    default: return qz_cli_usage_error(c, "unknown or incomplete option '%s'", argv[optind - 1]);
    }
}

static void note_stderr(void *ctx, const char *line)
{
    const qz_cli *c = ctx;
    fprintf(stderr, "%s: note: %s\n", c->tool, line);
}

int qz_cli_in_out(const qz_cli *c, int argc, char **argv, int force, const char **in, const char **out)
{
    if (optind != argc - 2) return qz_cli_usage_error(c, "expected IN_DIR and OUT_DIR");
    *in = argv[optind];
    *out = argv[optind + 1];
    return qz_cli_check_out(c, *out, *in, force);
}

int qz_cli_check_out(const qz_cli *c, const char *out, const char *in, int force)
{
    qz_error err = {0};
    qz_artifact_reclaim_stale(out, note_stderr, (void *)c);
    return qz_artifact_check_target(out, in, force, &err) ? qz_cli_fail(c, &err) : 0;
}

int qz_cli_usage_error(const qz_cli *c, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: error: ", c->tool);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\ntry '%s --help'\n", c->tool);
    return QZ_EXIT_INPUT;
}

int qz_cli_fail(const qz_cli *c, const qz_error *err)
{
    fprintf(stderr, "%s: error: %s\n", c->tool, err->msg);
    return qz_status_exit_code(err->status ? err->status : QZ_EINTERNAL);
}

void qz_cli_warn(const qz_cli *c, const char *fmt, ...)
{
    if (c->quiet) return;
    va_list ap;
    fprintf(stderr, "%s: warning: ", c->tool);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int qz_cli_int(const qz_cli *c, const char *flag, const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return qz_cli_usage_error(c, "%s '%s': expected an integer in [%lld, %lld]", flag, s, (long long)lo, (long long)hi);
    *out = v;
    return 0;
}

int qz_cli_real(const qz_cli *c, const char *flag, const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi)
        return qz_cli_usage_error(c, "%s '%s': expected a number in [%g, %g]", flag, s, lo, hi);
    *out = v;
    return 0;
}

void qz_cli_version(const char *tool)
{
    printf("%s %s\nfeatures: blas=%s threads=%d cuda=%s\n", tool, QZ_VERSION, "openblas", openblas_get_num_threads(),
           qz_cuda_built() ? "yes" : "no");
}

static void fmt_clock(char *buf, size_t n, double s)
{
    long t = s > 0 && s < 1e7 ? (long)(s + 0.5) : 0;
    if (t >= 3600) snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

/* Work units per second: the first measurement, then an exponential
 * average with a 10-second time constant; restarted with each stage. */
static void update_rate(qz_cli *c, const qz_progress *p)
{
    if (p->done < c->last_done) c->rate = 0, c->last_done = 0; /* a new stage counts from 0 */
    double dt = p->elapsed - c->last_elapsed;
    if (dt <= 0 || p->done <= c->last_done) return;
    double inst = (double)(p->done - c->last_done) / dt, w = 1 - exp(-dt / 10.0);
    c->rate = c->rate > 0 ? c->rate + w * (inst - c->rate) : inst;
    c->last_elapsed = p->elapsed;
    c->last_done = p->done;
}

void qz_cli_progress(void *ctx, const qz_progress *p)
{
    qz_cli *c = ctx;
    if (!c->progress || c->quiet) return;
    double now = qz_now();
    if (p->done < p->total && now - c->last_draw < 0.25) return;
    c->last_draw = now;
    update_rate(c, p);
    char eta[32], el[32];
    fmt_clock(el, sizeof el, p->elapsed);
    if (c->rate > 0) fmt_clock(eta, sizeof eta, (double)(p->total - p->done) / c->rate);
    else snprintf(eta, sizeof eta, "-");
    fprintf(stderr, "\r%s: %s%s%s %lld/%lld  window passes %lld/%lld  %.0f tok/s  elapsed %s  ETA %s   ", c->tool,
            c->label ? c->label : "", c->label ? "  " : "", p->stage, (long long)p->step, (long long)p->n_steps,
            (long long)p->done, (long long)p->total, p->elapsed > 0 ? (double)p->tokens_done / p->elapsed : 0.0, el, eta);
    fflush(stderr);
}

void qz_cli_progress_done(qz_cli *c)
{
    if (c->progress && !c->quiet && c->last_draw > 0) {
        char el[32];
        fmt_clock(el, sizeof el, c->last_elapsed);
        fprintf(stderr, "\n%s: done in %s, peak RSS %.0f MiB\n", c->tool, el, qz_cli_peak_rss_mib());
    }
    c->last_draw = 0;
    c->rate = c->last_elapsed = 0;
    c->last_done = 0;
}

/* Tokenizes text with model_dir's tokenizer (directory or GGUF); errors are prefixed with where. */
static int tokenize_text(const char *model_dir, const char *text, size_t len, const char *where, int32_t **ids, int64_t *n,
                         qz_error *err)
{
    qz_tokenizer *tok = NULL;
    int rc = qz_tokenizer_open_model(&tok, model_dir, err);
    if (rc == QZ_OK) {
        rc = qz_tokenizer_encode(tok, text, len, 1, ids, n, err);
        if (rc) {
            char msg[QZ_ERRMSG_MAX];
            snprintf(msg, sizeof msg, "%s", err->msg);
            qz_fail(err, rc, "%s: %s", where, msg);
        }
    }
    qz_tokenizer_free(tok);
    return rc;
}

int qz_cli_tokenize_file(const char *model_dir, const char *path, int32_t **ids, int64_t *n, qz_error *err)
{
    char *text = NULL;
    size_t len = 0;
    *ids = NULL;
    int rc = qz_read_file(path, &text, &len, err);
    if (rc == QZ_OK && len == 0) rc = qz_fail(err, QZ_EINPUT, "%s: text file is empty", path);
    if (rc == QZ_OK) rc = tokenize_text(model_dir, text, len, path, ids, n, err);
    free(text);
    return rc;
}

int qz_cli_tokenize_calib(const char *model_dir, const char *const *paths, int n_paths, int32_t **ids, int64_t *n,
                          qz_error *err)
{
    char *text = NULL;
    size_t len = 0;
    *ids = NULL;
    int rc = qz_calib_read(paths, n_paths, &text, &len, err);
    if (rc == QZ_OK) rc = tokenize_text(model_dir, text, len, paths[0], ids, n, err);
    free(text);
    return rc;
}

int qz_cli_calib_option(const qz_cli *c, int ch, const char *arg, qz_cli_calib *cal, int *rc)
{
    *rc = 0;
    switch (ch) {
    case QZ_CLI_O_CALIB:
        if (cal->n_paths == QZ_CLI_MAX_CALIB) *rc = qz_cli_usage_error(c, "at most %d --calib files", QZ_CLI_MAX_CALIB);
        else cal->paths[cal->n_paths++] = arg;
        return 1;
    case QZ_CLI_O_NSAMPLES: *rc = qz_cli_int(c, "--nsamples", arg, 1, 1 << 20, &cal->nsamples); return 1;
    case QZ_CLI_O_SEQLEN: *rc = qz_cli_int(c, "--seqlen", arg, 2, 1 << 20, &cal->seqlen); return 1;
    case QZ_CLI_O_SEED: *rc = qz_cli_int(c, "--seed", arg, 0, INT64_MAX, &cal->seed); return 1;
    default: return 0;
    }
}

int qz_cli_calib_windows(const char *model_dir, const qz_cli_calib *cal, int64_t seqlen, int32_t **win, qz_error *err)
{
    int32_t *ids = NULL;
    int64_t n = 0;
    *win = NULL;
    int rc = qz_cli_tokenize_calib(model_dir, cal->paths, cal->n_paths, &ids, &n, err);
    if (rc == QZ_OK) rc = qz_calib_check(n, cal->nsamples, seqlen, err);
    if (rc == QZ_OK && !(*win = qz_malloc_array((size_t)(cal->nsamples * seqlen), sizeof **win)))
        rc = qz_fail(err, QZ_EINTERNAL, "out of memory for calibration windows");
    if (rc == QZ_OK) rc = qz_calib_sample(ids, n, cal->nsamples, seqlen, (uint64_t)cal->seed, *win, err);
    free(ids);
    if (rc) {
        free(*win);
        *win = NULL;
    }
    return rc;
}

int qz_cli_mark_unpackable(const qz_cli *c, const qz_model_config *cfg, qz_cli_pack_check check, const void *ctx,
                           uint8_t skip[QZ_LIN_COUNT], const char **fp, const char **quant, int *n_quant)
{
    int n_fp = 0;
    *n_quant = 0;
    for (int id = 0; id < QZ_LIN_COUNT; id++) {
        qz_error e = {0};
        int64_t out = qz_linear_out(cfg, (qz_linear_id)id), in = qz_linear_in(cfg, (qz_linear_id)id);
        const char *name = qz_linear_name((qz_linear_id)id);
        if (check(out, in, ctx, &e) == QZ_OK) {
            quant[(*n_quant)++] = name;
            continue;
        }
        skip[id] = 1;
        fp[n_fp++] = name;
        qz_cli_warn(c, "%s [%lld x %lld] stays in floating point: %s", name, (long long)out, (long long)in, e.msg);
    }
    return n_fp;
}

int qz_cli_group_size(const qz_cli *c, const char *s, int64_t *out)
{
    if (!strcmp(s, "auto")) {
        *out = QZ_CLI_GROUP_AUTO;
        return 0;
    }
    int rc = qz_cli_int(c, "--group-size", s, -1, INT32_MAX, out);
    if (rc == 0 && *out == 0) rc = qz_cli_usage_error(c, "--group-size 0: expected -1, auto or a positive integer");
    return rc;
}

int qz_cli_gguf_params(const qz_cli *c, const char *s, int *ref)
{
    if (strcmp(s, "weighted") && strcmp(s, "ref")) return qz_cli_usage_error(c, "--gguf-params '%s': expected weighted or ref", s);
    *ref = !strcmp(s, "ref");
    return 0;
}

/* Largest power of two <= limit dividing every in[] (1 at worst). */
static int64_t largest_pow2_divisor(const int64_t *in, int n, int64_t limit)
{
    int64_t g = 1;
    while (g * 2 <= limit) g *= 2;
    for (; g > 1; g /= 2) {
        int all = 1;
        for (int i = 0; i < n && all; i++) all = in[i] % g == 0;
        if (all) break;
    }
    return g;
}

int qz_cli_resolve_groups(const qz_model_config *cfg, qz_cli_pack_check shape_ok, const void *ctx, int64_t *group_size,
                          int allow_partial, qz_error *err)
{
    int64_t in[QZ_LIN_COUNT];
    const char *name[QZ_LIN_COUNT];
    int n = 0;
    for (int id = 0; id < QZ_LIN_COUNT; id++) {
        qz_error e = {0};
        int64_t o = qz_linear_out(cfg, (qz_linear_id)id), k = qz_linear_in(cfg, (qz_linear_id)id);
        if (shape_ok(o, k, ctx, &e) != QZ_OK) continue;
        in[n] = k;
        name[n++] = qz_linear_name((qz_linear_id)id);
    }
    if (n == 0 || *group_size == -1) return 0;
    if (*group_size == QZ_CLI_GROUP_AUTO) {
        int64_t g = largest_pow2_divisor(in, n, 128);
        *group_size = g >= 32 ? g : -1;
        return 0;
    }
    char bad[512] = "";
    size_t len = 0;
    for (int i = 0; i < n; i++)
        if (in[i] % *group_size && len < sizeof bad - 1)
            len += (size_t)snprintf(bad + len, sizeof bad - len, "%s%s (in_features %lld)", len ? ", " : "", name[i], (long long)in[i]);
    if (!len || allow_partial) return 0;
    return qz_fail(err, QZ_EINPUT, "--group-size %lld does not divide the in_features of %s, so their last group would be partial, "
                              "which vLLM, GPTQModel and AutoAWQ refuse; the largest group size that divides every linear is %lld "
                              "(or give --group-size auto, or -1 for per channel, or --allow-partial-groups to write it anyway)",
                              (long long)*group_size, bad, (long long)largest_pow2_divisor(in, n, *group_size));
}

void qz_cli_json_names(FILE *f, const char *name, const char *const *s, int n)
{
    fprintf(f, "\"%s\":[", name);
    for (int i = 0; i < n; i++) {
        if (i) fputc(',', f);
        qz_cli_json_string(f, s[i]);
    }
    fputc(']', f);
}

int qz_cli_gguf_plan(const qz_cli *c, const qz_model_config *cfg, const char *type, const char *map, qz_gguf_plan *p,
                     qz_error *err)
{
    int rc = qz_gguf_plan_init(p, cfg, type, map, err);
    uint8_t warned[QZ_LIN_COUNT] = {0};
    for (int64_t l = 0; rc == QZ_OK && l < cfg->n_layers; l++)
        for (int id = 0; id < QZ_LIN_COUNT; id++) {
            int got = p->lin[l * QZ_LIN_COUNT + id], want = p->lin_wanted[l * QZ_LIN_COUNT + id];
            if (got == want || warned[id]) continue;
            warned[id] = 1;
            qz_cli_warn(c, "%s (in_features %lld): %s blocks of %lld do not fit, written as %s (as llama-quantize falls back)",
                        qz_linear_name((qz_linear_id)id), (long long)qz_linear_in(cfg, (qz_linear_id)id), qz_ggml_type_name(want),
                        (long long)qz_ggml_type_traits(want)->block_size, qz_ggml_type_name(got));
        }
    return rc;
}

/* The export sink, then the job's on_layer. */
typedef struct job_sink {
    qz_quant_sink inner;
    const qz_cli_job *job;
} job_sink;

static int job_write_layer(void *ctx, const qz_layer *L, const qz_quant_result *const q[QZ_LIN_COUNT],
                           const qz_module_report rep[QZ_LIN_COUNT], qz_error *err)
{
    job_sink *js = ctx;
    int rc = js->inner.write_layer(js->inner.ctx, L, q, rep, err);
    if (rc == QZ_OK && js->job->on_layer) js->job->on_layer(js->job->ctx, L, rep);
    return rc;
}

int qz_cli_run_job(qz_cli *c, qz_model *m, const qz_cli_job *job, qz_error *err)
{
    int32_t *win = NULL;
    qz_export *ex = NULL;
    const qz_method *meth = NULL;
    int64_t ns = job->cal ? job->cal->nsamples : 0;
    int rc = qz_export_open(&ex, m, job->out, job->force, err); /* output problems before any work */
    if (rc == QZ_OK && job->cal) rc = qz_cli_calib_windows(job->in, job->cal, job->seqlen, &win, err);
    if (rc == QZ_OK && job->gguf) rc = qz_export_gguf(ex, job->gguf, err);
    job_sink js = {ex ? qz_export_sink(ex, job->format, job->gptq, job->awq, job->ct) : (qz_quant_sink){0}, job};
    qz_quant_sink sink = {&js, job_write_layer};
    if (rc == QZ_OK) rc = job->make(job->ctx, m, ns, job->seqlen, &sink, &meth, err);
    if (rc == QZ_OK) rc = qz_pipeline_run(m, win, ns, job->seqlen, meth, qz_cli_progress, c, NULL, err);
    qz_cli_progress_done(c);
    if (rc == QZ_OK) rc = qz_export_finish(ex, job->quant_config, job->config_patch, err);
    job->destroy(job->ctx);
    qz_export_free(ex);
    free(win);
    return rc;
}

int qz_cli_compress_main(qz_cli *c, const char *in_dir, void *args, qz_cli_run_fn run)
{
    qz_error err = {0};
    c->label = in_dir;
    qz_model *m = NULL;
    int rc = qz_model_open(&m, in_dir, &err);
    if (rc == QZ_OK && m->quant.kind != QZ_QUANT_KIND_NONE && m->quant.kind != QZ_QUANT_KIND_SPARSE)
        rc = qz_fail(&err, QZ_EINPUT, "%s: already a quantized checkpoint (give the floating-point model)", in_dir);
    if (rc == QZ_OK) rc = run(c, args, m, &err);
    qz_model_free(m);
    return rc ? qz_cli_fail(c, &err) : 0;
}

double qz_cli_peak_rss_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

void qz_cli_json_blas(FILE *f)
{
    cJSON *j = qz_blas_core_json();
    char *s = j ? cJSON_PrintUnformatted(j) : NULL;
    fprintf(f, ",\"blas\":%s", s ? s : "null");
    free(s);
    cJSON_Delete(j);
}

void qz_cli_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}
