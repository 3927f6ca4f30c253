/* cli.h - what every qz tool's main() shares: messages in the
 * "qz-tool: error: ..." form, checked number parsing, the progress line, and
 * --version. Tools hold no algorithm; see DESIGN.md "Tools and the command line". */
#ifndef QZ_CLI_H
#define QZ_CLI_H

#include "eval.h"
#include "export.h"

typedef struct qz_cli {
    const char *tool;   /* "qz-eval" */
    int json;           /* --json: results as one JSON object on stdout */
    int quiet;          /* --quiet: no progress, no warnings */
    int progress;       /* progress line on stderr (a terminal, or --progress) */
    const char *label;  /* the model(s) being run, shown on the progress line */
    double last_draw;   /* throttles the progress line */
    double rate;        /* work units per second, smoothed over recent draws */
    double last_elapsed;
    int64_t last_done;
} qz_cli;

/* Also the BLAS core selection (blas_core.h), first thing in main(): it may
 * re-execute the tool, and exits 2 on a bad QZ_BLAS_CORETYPE. */
void qz_cli_init(qz_cli *c, const char *tool);

/* The flags every tool has, for getopt_long tables: --json, --progress,
 * --quiet, -h/--help, --version. */
enum { QZ_CLI_O_JSON = 0x1000, QZ_CLI_O_PROGRESS, QZ_CLI_O_QUIET, QZ_CLI_O_VERSION };
#define QZ_CLI_COMMON_OPTIONS                                                                      \
    {"json", no_argument, 0, QZ_CLI_O_JSON}, {"progress", no_argument, 0, QZ_CLI_O_PROGRESS},      \
        {"quiet", no_argument, 0, QZ_CLI_O_QUIET}, {"help", no_argument, 0, 'h'},                  \
        {"version", no_argument, 0, QZ_CLI_O_VERSION}
#define QZ_CLI_COMMON_HELP                                                                         \
    "  --json                print a JSON summary on stdout (schema in README.md)\n"                 \
    "  --progress            progress on stderr even when it is not a terminal\n"                    \
    "  --quiet               no progress, no warnings\n"                                              \
    "  -h, --help            this help\n"                                                             \
    "  --version             version and compiled-in features\n"                                      \
    "\n"                                                                                              \
    "exit codes: 0 success, 2 bad usage or input, 3 internal or resource error\n"

/* Calibration flags of the calibrated tools: --calib FILE (repeatable),
 * --nsamples, --seqlen, --seed. */
#define QZ_CLI_MAX_CALIB 16
typedef struct qz_cli_calib {
    const char *paths[QZ_CLI_MAX_CALIB];
    int n_paths;
    int64_t nsamples, seqlen, seed; /* seqlen 0: the tool's default */
} qz_cli_calib;
enum { QZ_CLI_O_CALIB = 0x1100, QZ_CLI_O_NSAMPLES, QZ_CLI_O_SEQLEN, QZ_CLI_O_SEED };
#define QZ_CLI_CALIB_OPTIONS                                                                        \
    {"calib", required_argument, 0, QZ_CLI_O_CALIB}, {"nsamples", required_argument, 0, QZ_CLI_O_NSAMPLES}, \
        {"seqlen", required_argument, 0, QZ_CLI_O_SEQLEN}, {"seed", required_argument, 0, QZ_CLI_O_SEED}
/* NSAMPLES: the tool's default as a string literal, e.g.
 * QZ_CLI_XSTR(DEFAULT_NSAMPLES), so help and code cannot disagree. */
#define QZ_CLI_STR(x) #x
#define QZ_CLI_XSTR(x) QZ_CLI_STR(x)
#define QZ_CLI_CALIB_HELP(NSAMPLES)                                                                 \
    "  --calib FILE          calibration text, or JSON Lines with \"text\" (repeatable)\n"           \
    "  --nsamples N          calibration windows (default " NSAMPLES ")\n"                            \
    "  --seed S              window sampling seed (default 0)\n"
/* 1 when ch is a calibration flag (*rc: 0 or the usage error), else 0. */
int qz_cli_calib_option(const qz_cli *c, int ch, const char *arg, qz_cli_calib *cal, int *rc);

/* Handles getopt_long's ch for a common flag (-h prints usage and exits 0,
 * --version likewise); anything else is an unknown option: usage error.
 * Returns 0 or QZ_EXIT_INPUT. */
int qz_cli_common_option(qz_cli *c, int ch, char **argv, void (*usage)(void));

/* After getopt_long: exactly IN_DIR and OUT_DIR must remain (else a usage
 * error, QZ_EXIT_INPUT); 0 with *in, *out set. Before any work it reclaims
 * OUT's stale temporaries (a note on stderr each) and validates OUT
 * (artifact.h qz_artifact_check_target with --force's value): an error there
 * is printed and returned as QZ_EXIT_INPUT. */
int qz_cli_in_out(const qz_cli *c, int argc, char **argv, int force, const char **in, const char **out);

/* The OUT check of qz_cli_in_out for a tool with other positional
 * arguments: reclaims out's stale temporaries, then validates out against
 * the input in. 0, or the error printed and QZ_EXIT_INPUT. */
int qz_cli_check_out(const qz_cli *c, const char *out, const char *in, int force);

/* "tool: error: msg" on stderr; returns QZ_EXIT_INPUT. */
int qz_cli_usage_error(const qz_cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints a library error and returns its exit code. */
int qz_cli_fail(const qz_cli *c, const qz_error *err);
void qz_cli_warn(const qz_cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Integer / real flag values within [lo, hi]; 0 on success, else prints a
 * usage error and returns QZ_EXIT_INPUT. */
int qz_cli_int(const qz_cli *c, const char *flag, const char *s, int64_t lo, int64_t hi, int64_t *out);
int qz_cli_real(const qz_cli *c, const char *flag, const char *s, double lo, double hi, double *out);

void qz_cli_version(const char *tool);

/* Progress callback (ctx = qz_cli *): "qz-gptq: MODEL  layer 3/30  window
 * passes 12/480  1234 tok/s  elapsed 0:05  ETA 0:12". The ETA divides the
 * work left by the throughput of the last ~10 seconds (an exponential
 * average), so start-up costs do not inflate it. */
void qz_cli_progress(void *ctx, const qz_progress *p);
/* Ends the progress line, if one is drawn, with "done in 1:43, peak RSS
 * 412 MiB". */
void qz_cli_progress_done(qz_cli *c);

/* Reads and tokenizes a text file with MODEL_DIR's tokenizer (BOS added as
 * the tokenizer says). Empty files and non-UTF-8 text are input errors. */
int qz_cli_tokenize_file(const char *model_dir, const char *path, int32_t **ids, int64_t *n, qz_error *err);

/* Reads calibration files (calib.h: text or JSON Lines, joined) and
 * tokenizes them once with MODEL_DIR's tokenizer. */
int qz_cli_tokenize_calib(const char *model_dir, const char *const *paths, int n_paths, int32_t **ids, int64_t *n,
                          qz_error *err);

/* cal->nsamples windows of seqlen tokens (calib.h) from cal's files,
 * tokenized with model_dir's tokenizer; *win malloc'd (nsamples*seqlen). */
int qz_cli_calib_windows(const char *model_dir, const qz_cli_calib *cal, int64_t seqlen, int32_t **win, qz_error *err);

/* Marks the linears a packed format cannot hold: check(out, in, ctx, err)
 * fails for them. skip[id] = 1, their names go to fp[] (returned count) with
 * a warning each, the others to quant[] (*n_quant). */
typedef int (*qz_cli_pack_check)(int64_t out, int64_t in, const void *ctx, qz_error *err);
int qz_cli_mark_unpackable(const qz_cli *c, const qz_model_config *cfg, qz_cli_pack_check check, const void *ctx,
                           uint8_t skip[QZ_LIN_COUNT], const char **fp, const char **quant, int *n_quant);

/* --format gguf: the type plan for --gguf-type / --gguf-type-map (exit 2
 * on a bad one), with one warning per linear whose type had to fall back
 * because its block does not divide in_features. */
int qz_cli_gguf_plan(const qz_cli *c, const qz_model_config *cfg, const char *type, const char *map, qz_gguf_plan *p,
                     qz_error *err);
#define QZ_CLI_GGUF_HELP                                                                            \
    "  --gguf-type T         --format gguf: Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q4_K Q5_K Q6_K (F16 F32), or the\n" \
    "                        presets Q4_K_M / Q5_K_M (default Q4_K_M); OUT is a directory holding\n"   \
    "                        model.gguf and qz-log.jsonl (docs/gguf-out.md)\n"                          \
    "  --gguf-type-map M     'regex=TYPE,...' per GGUF tensor name, first match wins (e.g.\n"          \
    "                        'attn_v=Q6_K,token_embd=Q8_0'); embeddings/output stay F16 unless named\n"
/* --group-size G: -1 (per channel), a positive integer, or "auto"
 * (QZ_CLI_GROUP_AUTO, resolved by qz_cli_resolve_groups). */
#define QZ_CLI_GROUP_AUTO (-2)
int qz_cli_group_size(const qz_cli *c, const char *s, int64_t *out);

/* --gguf-params P: "weighted" (*ref = 0) or "ref" (*ref = 1); else a usage
 * error (QZ_EXIT_INPUT). */
int qz_cli_gguf_params(const qz_cli *c, const char *s, int *ref);

/* The group rule every packing tool applies before any work. Loaders
 * (vLLM, GPTQModel, AutoAWQ) require in_features % group_size == 0, so for
 * each linear that shape_ok accepts (the layout can hold its shape) the
 * group must divide in_features. QZ_CLI_GROUP_AUTO becomes the largest power
 * of two <= 128 that divides them all (-1 when none >= 32 does). A group that
 * does not divide is QZ_EINPUT naming the modules and the largest power of
 * two that would, unless allow_partial (the last group of such rows is
 * shorter; qz reads it, the loaders above refuse it). */
int qz_cli_resolve_groups(const qz_model_config *cfg, qz_cli_pack_check shape_ok, const void *ctx, int64_t *group_size,
                          int allow_partial, qz_error *err);

/* What a compressing tool runs: calibration windows, a method built by make
 * writing into an export sink, the pipeline, the finished artifact. */
typedef struct qz_cli_job {
    const char *in, *out;
    int force;
    const qz_cli_calib *cal;      /* NULL: no calibration (nsamples 0) */
    int64_t seqlen;
    qz_export_format format;
    const qz_gptq_config *gptq;   /* the format's config; the others NULL */
    const qz_awq_config *awq;
    const qz_ct_config *ct;
    const qz_gguf_plan *gguf;     /* GGUF output (OUT/model.gguf), or NULL */
    const cJSON *quant_config;    /* config.json's quantization_config, or NULL */
    const cJSON *config_patch;    /* config.json items to replace, or NULL */
    /* Builds the method (its object freed by destroy, even after a failure). */
    int (*make)(void *ctx, const qz_model *m, int64_t nsamples, int64_t seqlen, const qz_quant_sink *sink,
                const qz_method **meth, qz_error *err);
    void (*destroy)(void *ctx);
    /* Optional: sees each finished layer's reports once the sink wrote it. */
    void (*on_layer)(void *ctx, const qz_layer *L, const qz_module_report rep[QZ_LIN_COUNT]);
    void *ctx;
} qz_cli_job;

int qz_cli_run_job(qz_cli *c, qz_model *m, const qz_cli_job *job, qz_error *err);

/* The rest of a compressing tool's main() once its flags are parsed: opens
 * the floating-point IN_DIR (an already quantized one is an input error),
 * calls run(c, args, model, err), and returns the exit code. */
typedef int (*qz_cli_run_fn)(qz_cli *c, void *args, qz_model *m, qz_error *err);
int qz_cli_compress_main(qz_cli *c, const char *in_dir, void *args, qz_cli_run_fn run);

/* Prints `"name":[...]` of strings (no leading comma). */
void qz_cli_json_names(FILE *f, const char *name, const char *const *s, int n);

/* Peak resident set size of this process so far, MiB. */
double qz_cli_peak_rss_mib(void);

/* Prints `,"blas":{...}` (blas_core.h qz_blas_core_json): every tool's
 * --json carries the BLAS library, version, core and threads. */
void qz_cli_json_blas(FILE *f);

/* Writes s as a JSON string literal (quotes and escapes) to f. */
void qz_cli_json_string(FILE *f, const char *s);

#endif
