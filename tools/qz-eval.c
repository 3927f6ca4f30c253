/* qz-eval - perplexity of a Hugging Face checkpoint on a text file, and
 * with --base (or a top-k cache) its distance from a base model, checked
 * against quality-gate thresholds (libquant/compare.h, libquant/gate.h). */
#include "blas_core.h"
#include "cli.h"
#include "cuda_model.h"
#include "gate.h"
#include "inspect.h"
#include "junit.h"

#include <getopt.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

static void usage(void)
{
    printf("usage: qz-eval MODEL_DIR --text FILE [options]\n"
           "       qz-eval MODEL_DIR --info [--json]\n"
           "       qz-eval MODEL --tokenize FILE [--json]\n"
           "       qz-eval CANDIDATE --text FILE (--base BASE_DIR | --top-k-cache FILE) [thresholds] [options]\n"
           "\n"
           "Perplexity of MODEL_DIR (a Hugging Face llama/mistral/qwen2 directory, FP32/FP16/BF16)\n"
           "on FILE: BOS + the whole text tokenized once, non-overlapping windows of --seqlen\n"
           "tokens, every token after a window's first scored, ppl = exp(mean NLL).\n"
           "\n"
           "options:\n"
           "  --text FILE           evaluation text (UTF-8), required\n"
           "  --seqlen N            window length (default: min(2048, max_position_embeddings))\n"
           "  --max-windows K       evaluate only the first K windows (default: all)\n"
           "  --score S             all (default): every token after a window's first; second-half: only\n"
           "                        tokens seqlen/2+1 .. seqlen-1 of each window, as llama.cpp's perplexity\n"
           "                        scores them (the head runs on those positions alone; CPU, one model)\n"
           "  --act-bits B          fake-quantize every decoder linear's input to B bits, dynamic symmetric\n"
           "                        (SmoothQuant's fake_quant; default: off, or the checkpoint's declared scheme;\n"
           "                        0 turns a declared scheme off: the weights alone)\n"
           "  --act-granularity G   token (default) or tensor\n"
           "  --weight-bits B       fake-quantize every decoder linear's weight to B bits, symmetric\n"
           "  --weight-granularity G  channel (default) or tensor\n"
           "  --info                what MODEL_DIR holds, without running it: format, bits, group size,\n"
           "                        modules left in floating point, exact zeros, true bits per weight\n"
           "                        (--text not needed; the evaluation flags are ignored)\n"
           "  --tokenize FILE       print the token ids MODEL's tokenizer gives for FILE (special tokens added\n"
           "                        as the tokenizer says), one per line, or with --json one object\n"
           "                        {\"model\", \"file\", \"n_tokens\", \"ids\"}; the model is not run\n"
           "  --batch-windows N     windows resident per model at once (default: as many as fit in 256 MiB\n"
           "                        of hidden states); every batch streams the model's layers again\n"
           "  --device D            cpu (default), cuda or cuda:N: run the perplexity on GPU N from the\n"
           "                        packed weights as stored (docs/cuda.md)\n"
           "  --check-cpu           with --device cuda: also run the CPU on the same windows; report max\n"
           "                        |dlogit|, mean-NLL relative difference, top-1 agreement; exit 1 beyond\n"
           "                        the tolerances in docs/cuda.md\n"
           "  --devices             list the CUDA devices and exit\n"
           "\n"
           "comparing with a base model (same tokenizer; the candidate's --act/--weight flags apply to it only):\n"
           "  --base BASE_DIR       also run BASE_DIR on the same windows: both perplexities, their ratio and\n"
           "                        difference, KL(base||candidate) mean/median/p99/max, top-1 agreement,\n"
           "                        change of the next token's probability, with 95%% confidence intervals\n"
           "  --top-k-cache FILE    with --base and FILE absent: write the base's top-k log-probabilities to FILE;\n"
           "                        without --base: compare against FILE (the base is not run; KL is a lower\n"
           "                        bound from the top k plus the rest; --seqlen and --max-windows default to FILE's)\n"
           "  --top-k K             entries per token in a written cache (default 32)\n"
           "  --max-ppl-ratio R     gate: fail (exit 1) when ppl(candidate)/ppl(base) > R\n"
           "  --max-ppl-delta D     gate: fail when ppl(candidate) - ppl(base) > D\n"
           "  --max-kld K           gate: fail when the mean KL divergence > K (nats)\n"
           "  --min-top1 P          gate: fail when the top-1 agreement < P (a fraction, 0..1)\n"
           "  --gate-ci             a threshold fails only when its whole 95%% CI is beyond it\n"
           "  --gate FILE           thresholds from a JSON gate file (README.md); flags override it\n"
           "  --gate-model NAME     the gate file's entry to use (default: CANDIDATE's directory name)\n"
           "  --junit FILE          write the gate's checks as JUnit XML to FILE\n"
           "  --markdown            print a Markdown summary table (for pull-request comments) instead of text\n"
           "\n"
           "  --json                print one JSON object on stdout (schema in README.md)\n"
           "  --progress            progress on stderr even when it is not a terminal\n"
           "  --quiet               no progress, no warnings\n"
           "  -h, --help            this help\n"
           "  --version             version and compiled-in features\n"
           "\n"
           "exit codes: 0 success, 1 a gate threshold failed, 2 bad usage or input, 3 internal or resource error\n"
           "\n"
           "inputs read: MODEL (a Hugging Face directory: config.json, model.safetensors or its shards via\n"
           "model.safetensors.index.json, tokenizer.json, tokenizer_config.json; or a GGUF file, or a directory\n"
           "holding one .gguf), --text FILE (UTF-8), --base BASE (like MODEL), --top-k-cache FILE, --gate FILE (JSON)\n"
           "\nexamples:\n"
           "  qz-eval model/ --text eval.txt --seqlen 2048 --json\n"
           "  qz-eval out/w4 --base model/ --text eval.txt --max-ppl-ratio 1.05 --max-kld 0.05 --markdown\n"
           "  qz-eval model.gguf --tokenize prompt.txt\n");
}

/* The comparison and gate flags. */
typedef struct {
    const char *base, *cache, *gate_file, *gate_model, *junit;
    int64_t top_k, batch_windows; /* top_k 0: not given */
    qz_gate gate;                 /* thresholds from flags */
    int markdown;
    const char *first_cmp_flag;   /* for "needs --base" */
} cmp_args;

typedef struct {
    const char *model, *text;
    int64_t seqlen, max_windows;
    qz_quant_sim sim;
    int sim_act_set;
    cmp_args cmp;
    int info; /* --info: inspect MODEL_DIR, do not run it */
    const char *tokenize; /* --tokenize FILE: print its token ids, do not run the model */
    int device, check_cpu, devices; /* --device: -1 cpu, else the CUDA device */
    qz_ppl_score score;             /* --score */
} eval_args;

/* --device cpu | cuda | cuda:N */
static int parse_device(qz_cli *c, const char *s, int *device)
{
    int64_t n = 0;
    int rc = 0;
    if (!strcmp(s, "cpu")) *device = -1;
    else if (!strcmp(s, "cuda")) *device = 0;
    else if (!strncmp(s, "cuda:", 5) && !(rc = qz_cli_int(c, "--device cuda:N", s + 5, 0, 1023, &n))) *device = (int)n;
    else if (!rc) rc = qz_cli_usage_error(c, "--device '%s': expected cpu, cuda or cuda:N", s);
    return rc;
}

/* per: the per-row granularity this flag allows (token or channel), or tensor. */
static int parse_gran(qz_cli *c, const char *flag, const char *s, qz_granularity per, qz_granularity *g)
{
    if (!strcmp(s, qz_granularity_name(per))) *g = per;
    else if (!strcmp(s, "tensor")) *g = QZ_GRAN_TENSOR;
    else return qz_cli_usage_error(c, "%s '%s': expected %s or tensor", flag, s, qz_granularity_name(per));
    return 0;
}

enum { O_BASE = 0x3000, O_CACHE, O_TOPK, O_BATCHW, O_GATE_CI, O_GATE, O_GATE_MODEL, O_JUNIT, O_MARKDOWN, O_THRESH };
#define CMP_OPTIONS                                                                                                     \
    {"base", required_argument, 0, O_BASE}, {"top-k-cache", required_argument, 0, O_CACHE},                             \
        {"top-k", required_argument, 0, O_TOPK}, {"batch-windows", required_argument, 0, O_BATCHW},                     \
        {"gate-ci", no_argument, 0, O_GATE_CI}, {"gate", required_argument, 0, O_GATE},                                 \
        {"gate-model", required_argument, 0, O_GATE_MODEL}, {"junit", required_argument, 0, O_JUNIT},                   \
        {"markdown", no_argument, 0, O_MARKDOWN}, {"max-ppl-ratio", required_argument, 0, O_THRESH + QZ_GATE_PPL_RATIO}, \
        {"max-ppl-delta", required_argument, 0, O_THRESH + QZ_GATE_PPL_DELTA},                                          \
        {"max-kld", required_argument, 0, O_THRESH + QZ_GATE_KLD}, {"min-top1", required_argument, 0, O_THRESH + QZ_GATE_TOP1}

/* 1 when ch is a comparison flag (name: its long name; *rc: 0 or the usage
 * error), else 0. */
static int cmp_option(qz_cli *c, int ch, const char *name, const char *arg, cmp_args *x, int *rc)
{
    *rc = 0;
    if (ch < O_BASE || ch >= O_THRESH + QZ_GATE_COUNT) return 0;
    if (ch != O_BASE && ch != O_CACHE && ch != O_BATCHW && !x->first_cmp_flag) x->first_cmp_flag = name;
    char flag[64];
    snprintf(flag, sizeof flag, "--%s", name);
    double v;
    qz_error err = {0};
    switch (ch) {
    case O_BASE: x->base = arg; break;
    case O_CACHE: x->cache = arg; break;
    case O_TOPK: *rc = qz_cli_int(c, "--top-k", arg, 1, 1 << 20, &x->top_k); break;
    case O_BATCHW: *rc = qz_cli_int(c, "--batch-windows", arg, 1, INT64_MAX, &x->batch_windows); break;
    case O_GATE_CI: x->gate.ci = x->gate.ci_set = 1; break;
    case O_GATE: x->gate_file = arg; break;
    case O_GATE_MODEL: x->gate_model = arg; break;
    case O_JUNIT: x->junit = arg; break;
    case O_MARKDOWN: x->markdown = 1; break;
    default:
        *rc = qz_cli_real(c, flag, arg, -1e300, 1e300, &v);
        if (*rc == 0 && qz_gate_set(&x->gate, (qz_gate_metric)(ch - O_THRESH), v, flag, &err))
            *rc = qz_cli_usage_error(c, "%s", err.msg);
    }
    return 1;
}

/* The comparison flags need a base; some exclude each other. */
static int check_cmp_args(qz_cli *c, const cmp_args *x)
{
    if (!x->base && !x->cache && x->first_cmp_flag)
        return qz_cli_usage_error(c, "--%s needs --base BASE_DIR or --top-k-cache FILE", x->first_cmp_flag);
    if (x->markdown && c->json) return qz_cli_usage_error(c, "--markdown and --json exclude each other (both print on stdout)");
    if (x->top_k && !x->cache) return qz_cli_usage_error(c, "--top-k needs --top-k-cache FILE");
    if (x->gate_model && !x->gate_file) return qz_cli_usage_error(c, "--gate-model needs --gate FILE");
    if (x->junit && !x->gate_file && !qz_gate_count(&x->gate))
        return qz_cli_usage_error(c, "--junit needs thresholds (--max-ppl-ratio, --max-ppl-delta, --max-kld, --min-top1 or --gate)");
    return 0;
}

static int parse_args(qz_cli *c, int argc, char **argv, eval_args *a)
{
    enum { O_TEXT = 256, O_SEQLEN, O_MAXW, O_ABITS, O_AGRAN, O_WBITS, O_WGRAN };
    enum { O_INFO = 0x2000, O_TOKENIZE, O_DEVICE, O_CHECK_CPU, O_DEVICES, O_SCORE };
    static const struct option opts[] = {{"text", required_argument, 0, O_TEXT}, {"seqlen", required_argument, 0, O_SEQLEN},
                                         {"max-windows", required_argument, 0, O_MAXW}, {"act-bits", required_argument, 0, O_ABITS},
                                         {"act-granularity", required_argument, 0, O_AGRAN},
                                         {"weight-bits", required_argument, 0, O_WBITS},
                                         {"weight-granularity", required_argument, 0, O_WGRAN}, {"info", no_argument, 0, O_INFO},
                                         {"tokenize", required_argument, 0, O_TOKENIZE}, {"device", required_argument, 0, O_DEVICE},
                                         {"check-cpu", no_argument, 0, O_CHECK_CPU}, {"devices", no_argument, 0, O_DEVICES},
                                         {"score", required_argument, 0, O_SCORE}, CMP_OPTIONS,
                                         QZ_CLI_COMMON_OPTIONS, {0, 0, 0, 0}};
    int64_t v;
    memset(a, 0, sizeof *a);
    a->device = -1;
    a->sim.act_gran = QZ_GRAN_TOKEN;
    a->sim.weight_gran = QZ_GRAN_CHANNEL;
    opterr = 0;
    int ch, rc = 0, li = 0;
    while (rc == 0 && (ch = getopt_long(argc, argv, "h", opts, &li)) != -1) {
        switch (ch) {
        case O_TEXT: a->text = optarg; break;
        case O_INFO: a->info = 1; break;
        case O_TOKENIZE: a->tokenize = optarg; break;
        case O_DEVICE: rc = parse_device(c, optarg, &a->device); break;
        case O_CHECK_CPU: a->check_cpu = 1; break;
        case O_DEVICES: a->devices = 1; break;
        case O_SCORE:
            if (!strcmp(optarg, "all")) a->score = QZ_SCORE_ALL;
            else if (!strcmp(optarg, "second-half")) a->score = QZ_SCORE_SECOND_HALF;
            else rc = qz_cli_usage_error(c, "--score '%s': expected all or second-half", optarg);
            break;
        case O_SEQLEN: rc = qz_cli_int(c, "--seqlen", optarg, 2, 1 << 20, &a->seqlen); break;
        case O_MAXW: rc = qz_cli_int(c, "--max-windows", optarg, 1, INT64_MAX, &a->max_windows); break;
        case O_ABITS:
            rc = qz_cli_int(c, "--act-bits", optarg, 0, 16, &v);
            if (!rc && v == 1) rc = qz_cli_usage_error(c, "--act-bits '1': expected 0 (off) or an integer in [2, 16]");
            a->sim.act_bits = (int)v;
            a->sim_act_set = 1;
            break;
        case O_WBITS: rc = qz_cli_int(c, "--weight-bits", optarg, 2, 16, &v); a->sim.weight_bits = (int)v; break;
        case O_AGRAN: rc = parse_gran(c, "--act-granularity", optarg, QZ_GRAN_TOKEN, &a->sim.act_gran); break;
        case O_WGRAN: rc = parse_gran(c, "--weight-granularity", optarg, QZ_GRAN_CHANNEL, &a->sim.weight_gran); break;
        default:
            if (!cmp_option(c, ch, opts[li].name, optarg, &a->cmp, &rc)) rc = qz_cli_common_option(c, ch, argv, usage);
        }
    }
    if (rc || a->devices) return rc;
    if (a->check_cpu && a->device < 0) return qz_cli_usage_error(c, "--check-cpu needs --device cuda");
    if (a->device >= 0 && (a->cmp.base || a->cmp.cache || a->info))
        return qz_cli_usage_error(c, "--device cuda runs the perplexity of one model; --base, --top-k-cache and --info run on the CPU");
    if (a->score == QZ_SCORE_SECOND_HALF && (a->cmp.base || a->cmp.cache || a->device >= 0))
        return qz_cli_usage_error(c, "--score second-half is for the CPU perplexity of one model (not with --base, --top-k-cache "
                                     "or --device cuda)");
    if (optind != argc - 1) return qz_cli_usage_error(c, "expected exactly one MODEL_DIR");
    a->model = argv[optind];
    if (a->tokenize && (a->info || a->text || a->cmp.base || a->cmp.cache))
        return qz_cli_usage_error(c, "--tokenize FILE excludes --info, --text, --base and --top-k-cache");
    if (!a->text && !a->info && !a->tokenize) return qz_cli_usage_error(c, "--text FILE is required");
    return check_cmp_args(c, &a->cmp);
}

/* The JSON fields of every run, without the closing brace. */
static const char *score_name(qz_ppl_score s) { return s == QZ_SCORE_SECOND_HALF ? "second-half" : "all"; }

static void print_json_fields(const eval_args *a, const qz_ppl_result *r, int64_t seqlen, const qz_quant_sim *sim)
{
    printf("{\"model\":");
    qz_cli_json_string(stdout, a->model);
    printf(",\"text\":");
    qz_cli_json_string(stdout, a->text);
    qz_cli_json_blas(stdout);
    printf(",\"tokens\":%lld,\"seqlen\":%lld,\"windows\":%lld,\"score\":\"%s\",\"scored_tokens\":%lld,\"mean_nll\":%.9g,"
           "\"ppl\":%.9g,\"seconds\":%.3f,\"tokens_per_second\":%.1f,\"act_bits\":%d,\"act_granularity\":\"%s\",\"weight_bits\":%d,"
           "\"weight_granularity\":\"%s\"",
           (long long)r->tokens, (long long)seqlen, (long long)r->windows, score_name(a->score), (long long)r->scored,
           r->mean_nll, r->ppl, r->seconds, r->tokens_per_second, sim->act_bits, qz_granularity_name(sim->act_bits ? sim->act_gran : QZ_GRAN_NONE),
           sim->weight_bits, qz_granularity_name(sim->weight_bits ? sim->weight_gran : QZ_GRAN_NONE));
}

static void print_result(const qz_cli *c, const eval_args *a, const qz_ppl_result *r, int64_t seqlen, const qz_quant_sim *sim)
{
    if (!c->json) {
        printf("model %s\ntext %s\ntokens %lld, windows %lld x %lld, scored %lld%s\nmean NLL %.6f\nperplexity %.5f\n"
               "%.2f s, %.0f tokens/s\n",
               a->model, a->text, (long long)r->tokens, (long long)r->windows, (long long)seqlen, (long long)r->scored,
               a->score == QZ_SCORE_SECOND_HALF ? " (the second half of each window)" : "", r->mean_nll, r->ppl, r->seconds,
               r->tokens_per_second);
        return;
    }
    print_json_fields(a, r, seqlen, sim);
    printf("}\n");
}

/* ---------------------------------------------------------------- --base */

/* What a comparison run produced, for the reports. */
typedef struct {
    const eval_args *a;
    const char *base;          /* the base model, as given or as the cache records it */
    int64_t seqlen;
    const qz_quant_sim *sim;   /* the candidate's */
    qz_cmp_result r;
    qz_gate gate;
    qz_gate_check checks[QZ_GATE_COUNT];
    int n_checks, passed;
} cmp_report;

/* "kld_mean 0.0712 > 0.05 (by 0.0212)"; with --gate-ci the CI end compared. */
static void check_text(const qz_gate_check *k, char *buf, size_t cap)
{
    int is_max = k->metric != QZ_GATE_TOP1;
    const char *op = k->passed ? (is_max ? "<=" : ">=") : (is_max ? ">" : "<");
    int n = snprintf(buf, cap, "%s %.6g", qz_gate_metric_name(k->metric), k->value);
    if (k->used_ci && n > 0 && (size_t)n < cap)
        n += snprintf(buf + n, cap - (size_t)n, ", 95%% CI [%.6g, %.6g]%s", k->ci[0], k->ci[1], k->passed ? " not entirely" : "");
    if (n > 0 && (size_t)n < cap) n += snprintf(buf + n, cap - (size_t)n, " %s %.6g", op, k->threshold);
    if (!k->passed && n > 0 && (size_t)n < cap) snprintf(buf + n, cap - (size_t)n, " (by %.6g)", k->by);
}

static void json_ci(const char *name, const double ci[2])
{
    if (isnan(ci[0])) printf(",\"%s_ci95\":null", name);
    else printf(",\"%s_ci95\":[%.9g,%.9g]", name, ci[0], ci[1]);
}

static void json_gate(const cmp_report *p)
{
    printf(",\"gate\":{\"passed\":%s,\"gate_ci\":%s,\"checks\":[", p->passed ? "true" : "false", p->gate.ci ? "true" : "false");
    for (int i = 0; i < p->n_checks; i++) {
        const qz_gate_check *k = &p->checks[i];
        printf("%s{\"name\":\"%s\",\"value\":%.9g,\"threshold\":%.9g,\"passed\":%s}", i ? "," : "",
               qz_gate_metric_name(k->metric), k->value, k->threshold, k->passed ? "true" : "false");
    }
    printf("]}");
}

static void print_cmp_json(const cmp_report *p)
{
    const qz_cmp_result *r = &p->r;
    print_json_fields(p->a, &r->cand, p->seqlen, p->sim);
    printf(",\"base\":");
    qz_cli_json_string(stdout, p->base);
    printf(",\"base_ppl\":%.9g,\"base_mean_nll\":%.9g,\"ppl_ratio\":%.9g,\"ppl_delta\":%.9g,\"kld_mean\":%.9g,"
           "\"kld_median\":%.9g,\"kld_p99\":%.9g,\"kld_max\":%.9g,\"top1_agreement\":%.9g,\"dp_mean\":%.9g,\"dp_rms\":%.9g",
           r->base_ppl, r->base_mean_nll, r->ppl_ratio, r->ppl_delta, r->kld_mean, r->kld_median, r->kld_p99, r->kld_max,
           r->top1, r->dp_mean, r->dp_rms);
    json_ci("ppl_ratio", r->ppl_ratio_ci);
    json_ci("ppl_delta", r->ppl_delta_ci);
    json_ci("kld_mean", r->kld_mean_ci);
    json_ci("top1_agreement", r->top1_ci);
    json_ci("dp_mean", r->dp_mean_ci);
    json_ci("dp_rms", r->dp_rms_ci);
    if (r->kld_top_k) printf(",\"kld_source\":\"top-k cache, k=%d\"", r->kld_top_k);
    else printf(",\"kld_source\":\"exact\"");
    printf(",\"top_k_cache\":");
    if (p->a->cmp.cache) qz_cli_json_string(stdout, p->a->cmp.cache);
    else printf("null");
    if (p->n_checks) json_gate(p);
    printf("}\n");
}

/* "1.0214   95% CI [1.018, 1.0248]" (no CI with one window). */
static const char *with_ci(char *buf, size_t cap, double v, const double ci[2])
{
    if (isnan(ci[0])) snprintf(buf, cap, "%.6g", v);
    else snprintf(buf, cap, "%.6g  (95%% CI %.6g .. %.6g)", v, ci[0], ci[1]);
    return buf;
}

static void print_cmp_text(const cmp_report *p)
{
    const qz_cmp_result *r = &p->r;
    char b1[128], b2[128];
    printf("model %s\nbase %s\ntext %s\ntokens %lld, windows %lld x %lld, scored %lld\n", p->a->model, p->base, p->a->text,
           (long long)r->cand.tokens, (long long)r->cand.windows, (long long)p->seqlen, (long long)r->cand.scored);
    printf("                  %-14s %s\n", "base", "candidate");
    printf("mean NLL          %-14.6f %.6f\nperplexity        %-14.5f %.5f\n", r->base_mean_nll, r->cand.mean_nll, r->base_ppl,
           r->cand.ppl);
    printf("ppl ratio         %s\n", with_ci(b1, sizeof b1, r->ppl_ratio, r->ppl_ratio_ci));
    printf("ppl delta         %s\n", with_ci(b1, sizeof b1, r->ppl_delta, r->ppl_delta_ci));
    if (r->kld_top_k) printf("KL divergence     from the top-k cache (k=%d): a lower bound of the exact KL\n", r->kld_top_k);
    printf("KL mean           %s\nKL median %.6g, p99 %.6g, max %.6g\n", with_ci(b1, sizeof b1, r->kld_mean, r->kld_mean_ci),
           r->kld_median, r->kld_p99, r->kld_max);
    printf("top-1 agreement   %s\n", with_ci(b1, sizeof b1, r->top1, r->top1_ci));
    printf("dp(next) mean     %s\ndp(next) RMS      %s\n", with_ci(b1, sizeof b1, r->dp_mean, r->dp_mean_ci),
           with_ci(b2, sizeof b2, r->dp_rms, r->dp_rms_ci));
    printf("%.2f s, %.0f tokens/s\n", r->cand.seconds, r->cand.tokens_per_second);
}

/* "0.0212 .. 0.0251" or "-" */
static const char *md_ci(char *buf, size_t cap, const double ci[2])
{
    if (isnan(ci[0])) snprintf(buf, cap, "-");
    else snprintf(buf, cap, "%.5g .. %.5g", ci[0], ci[1]);
    return buf;
}

/* The gate column of metric m: "<= 1.05: pass", or empty. */
static const char *md_gate(char *buf, size_t cap, const cmp_report *p, qz_gate_metric m)
{
    *buf = 0;
    for (int i = 0; i < p->n_checks; i++)
        if (p->checks[i].metric == m)
            snprintf(buf, cap, "%s %.5g: %s", m == QZ_GATE_TOP1 ? ">=" : "<=", p->checks[i].threshold,
                     p->checks[i].passed ? "pass" : "**FAIL**");
    return buf;
}

static void print_cmp_markdown(const cmp_report *p)
{
    const qz_cmp_result *r = &p->r;
    char ci[128], g[128];
    printf("### qz-eval: `%s` against `%s`\n\n| metric | base | candidate | 95%% CI | gate |\n|---|---|---|---|---|\n",
           p->a->model, p->base);
    printf("| perplexity | %.5f | %.5f | | |\n", r->base_ppl, r->cand.ppl);
    printf("| ppl ratio | | %.5f | %s | %s |\n", r->ppl_ratio, md_ci(ci, sizeof ci, r->ppl_ratio_ci),
           md_gate(g, sizeof g, p, QZ_GATE_PPL_RATIO));
    printf("| ppl delta | | %.5g | %s | %s |\n", r->ppl_delta, md_ci(ci, sizeof ci, r->ppl_delta_ci),
           md_gate(g, sizeof g, p, QZ_GATE_PPL_DELTA));
    printf("| KL divergence, mean | | %.5g | %s | %s |\n", r->kld_mean, md_ci(ci, sizeof ci, r->kld_mean_ci),
           md_gate(g, sizeof g, p, QZ_GATE_KLD));
    printf("| KL divergence, median / p99 / max | | %.4g / %.4g / %.4g | | |\n", r->kld_median, r->kld_p99, r->kld_max);
    printf("| top-1 agreement | | %.5f | %s | %s |\n", r->top1, md_ci(ci, sizeof ci, r->top1_ci), md_gate(g, sizeof g, p, QZ_GATE_TOP1));
    printf("| Δp(next token), mean | | %.5g | %s | |\n", r->dp_mean, md_ci(ci, sizeof ci, r->dp_mean_ci));
    printf("| Δp(next token), RMS | | %.5g | %s | |\n\n", r->dp_rms, md_ci(ci, sizeof ci, r->dp_rms_ci));
    printf("%lld windows of %lld tokens (%lld scored) of `%s`; KL %s.", (long long)r->cand.windows, (long long)p->seqlen,
           (long long)r->cand.scored, p->a->text, r->kld_top_k ? "from a top-k cache (a lower bound)" : "exact");
    if (p->n_checks) printf(" **Gate: %s**%s", p->passed ? "passed" : "failed", p->gate.ci ? " (95% CI must clear each threshold)" : "");
    printf("\n");
}

/* Gate lines on stderr and the JUnit file. */
static int report_gate(const qz_cli *c, const cmp_report *p, qz_error *err)
{
    qz_junit_case cases[QZ_GATE_COUNT];
    char msg[QZ_GATE_COUNT][256];
    for (int i = 0; i < p->n_checks; i++) {
        check_text(&p->checks[i], msg[i], sizeof msg[i]);
        cases[i] = (qz_junit_case){qz_gate_metric_name(p->checks[i].metric), p->checks[i].passed ? NULL : msg[i]};
        if (!p->checks[i].passed) fprintf(stderr, "%s: gate failed: %s\n", c->tool, msg[i]);
    }
    if (p->n_checks && p->passed && !c->quiet) fprintf(stderr, "%s: gate passed: %d checks\n", c->tool, p->n_checks);
    if (!p->a->cmp.junit) return QZ_OK;
    return qz_junit_write(p->a->cmp.junit, "qz-eval", p->a->model, cases, p->n_checks, p->r.cand.seconds, err);
}

/* The last path component of dir (trailing slashes ignored). */
static void dir_name(const char *dir, char *buf, size_t cap)
{
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    size_t s = n;
    while (s > 0 && dir[s - 1] != '/') s--;
    snprintf(buf, cap, "%.*s", (int)(n - s), dir + s);
}

/* Opens dir, with the --act/--weight flags when sim (the candidate). */
static int open_model(const eval_args *a, const char *dir, int sim, qz_model **m, qz_error *err)
{
    int rc = qz_model_open(m, dir, err);
    if (rc == QZ_OK && sim) { /* flags override the scheme a checkpoint declares */
        if (a->sim_act_set) (*m)->sim.act_bits = a->sim.act_bits, (*m)->sim.act_gran = a->sim.act_gran;
        (*m)->sim.weight_bits = a->sim.weight_bits, (*m)->sim.weight_gran = a->sim.weight_gran;
    }
    return rc;
}

static int64_t default_seqlen(const qz_cli *c, const eval_args *a, const qz_model *m)
{
    int64_t maxpos = m->cfg.max_position, T = a->seqlen ? a->seqlen : (maxpos < 2048 ? maxpos : 2048);
    if (T > maxpos) qz_cli_warn(c, "--seqlen %lld exceeds max_position_embeddings %lld", (long long)T, (long long)maxpos);
    return T;
}

/* The models (base NULL with a cache), the text's tokens, the run. */
typedef struct {
    qz_model *cand, *base;
    int32_t *ids, *base_ids;
    int64_t n, base_n;
    qz_topk_header cache; /* when reading one */
} cmp_inputs;

static int cmp_open(const eval_args *a, int read_cache, cmp_inputs *in, qz_error *err)
{
    const cmp_args *x = &a->cmp;
    int rc = read_cache ? qz_topk_read_header(x->cache, &in->cache, err) : QZ_OK;
    if (rc == QZ_OK) rc = open_model(a, a->model, 1, &in->cand, err);
    if (rc == QZ_OK) rc = qz_cli_tokenize_file(a->model, a->text, &in->ids, &in->n, err);
    if (rc == QZ_OK && x->base) rc = open_model(a, x->base, 0, &in->base, err);
    if (rc == QZ_OK && x->base) rc = qz_cli_tokenize_file(x->base, a->text, &in->base_ids, &in->base_n, err);
    if (rc == QZ_OK && x->base) rc = qz_cmp_same_tokens(in->base_ids, in->base_n, in->ids, in->n, x->base, a->model, err);
    return rc;
}

static void cmp_close(cmp_inputs *in)
{
    qz_model_free(in->cand), qz_model_free(in->base);
    free(in->ids), free(in->base_ids);
}

/* Runs the comparison into p->r. */
static int cmp_run(qz_cli *c, const eval_args *a, int read_cache, cmp_inputs *in, cmp_report *p, qz_error *err)
{
    const cmp_args *x = &a->cmp;
    p->seqlen = a->seqlen || !read_cache ? default_seqlen(c, a, in->cand) : in->cache.seqlen;
    int64_t maxw = a->max_windows || !read_cache ? a->max_windows : in->cache.windows;
    qz_cmp_opts o = {{p->seqlen, maxw, qz_cli_progress, c, x->batch_windows, 0}, x->cache,
                     (int)(x->top_k ? x->top_k : read_cache ? 0 : QZ_CMP_TOP_K), x->base};
    p->base = read_cache ? in->cache.base : x->base;
    p->sim = &in->cand->sim;
    char label[8300];
    snprintf(label, sizeof label, "%.4096s against %.4096s%s", a->model, p->base, read_cache ? " (cached)" : " (both run)");
    c->label = label;
    int rc = read_cache ? qz_compare_cache(in->cand, in->ids, in->n, &o, &p->r, err)
                        : qz_compare_models(in->base, in->cand, in->ids, in->n, &o, &p->r, err);
    qz_cli_progress_done(c);
    c->label = NULL;
    return rc;
}

/* qz-eval CANDIDATE --base BASE | --top-k-cache FILE: exit 0, 1 (gate failed), 2 or 3. */
static int run_compare(qz_cli *c, const eval_args *a)
{
    const cmp_args *x = &a->cmp;
    struct stat st;
    int read_cache = x->cache && stat(x->cache, &st) == 0;
    if (read_cache && x->base)
        return qz_cli_usage_error(c, "--top-k-cache %s exists: drop --base to compare against it, or remove it to write a new one",
                                  x->cache);
    if (!x->base && !read_cache)
        return qz_cli_usage_error(c, "--top-k-cache %s does not exist: write it first with --base BASE_DIR", x->cache);
    qz_error err = {0};
    cmp_report p = {.a = a, .gate = x->gate};
    char name[512];
    dir_name(a->model, name, sizeof name);
    if (x->gate_file && qz_gate_load(&p.gate, x->gate_file, x->gate_model ? x->gate_model : name, &err))
        return qz_cli_fail(c, &err);
    cmp_inputs in = {0};
    int rc = cmp_open(a, read_cache, &in, &err);
    if (rc == QZ_OK) rc = cmp_run(c, a, read_cache, &in, &p, &err);
    if (rc == QZ_OK) {
        p.n_checks = qz_gate_eval(&p.gate, &p.r, p.checks, &p.passed);
        if (p.gate.ci && p.r.cand.windows < 2) qz_cli_warn(c, "one window: no confidence intervals, --gate-ci compares the values");
        if (c->json) print_cmp_json(&p);
        else if (x->markdown) print_cmp_markdown(&p);
        else print_cmp_text(&p);
        fflush(stdout);
        rc = report_gate(c, &p, &err);
    }
    cmp_close(&in);
    if (rc) return qz_cli_fail(c, &err);
    return p.passed ? QZ_EXIT_OK : QZ_EXIT_GATE;
}

/* --info: what dir holds (libquant/inspect.h), as text or one JSON object. */
static int run_info(const qz_cli *c, const char *dir)
{
    qz_info info;
    qz_error err = {0};
    if (qz_inspect_dir(&info, dir, &err)) return qz_cli_fail(c, &err);
    cJSON *j = c->json ? qz_inspect_json(&info, dir) : NULL;
    if (j) cJSON_AddItemToObject(j, "blas", qz_blas_core_json());
    char *s = c->json ? (j ? cJSON_PrintUnformatted(j) : NULL) : qz_inspect_text(&info, dir);
    cJSON_Delete(j);
    if (!s) return qz_cli_fail(c, &(qz_error){QZ_EINTERNAL, "out of memory"});
    fputs(s, stdout);
    if (c->json) fputc('\n', stdout);
    free(s);
    return 0;
}

/* --tokenize: FILE's ids with MODEL's tokenizer, one per line or one JSON
 * object (docs/formats-gguf.md). */
static int run_tokenize(const qz_cli *c, const eval_args *a)
{
    int32_t *ids = NULL;
    int64_t n = 0;
    qz_error err = {0};
    if (qz_cli_tokenize_file(a->model, a->tokenize, &ids, &n, &err)) return qz_cli_fail(c, &err);
    if (c->json) {
        printf("{\"model\":");
        qz_cli_json_string(stdout, a->model);
        printf(",\"file\":");
        qz_cli_json_string(stdout, a->tokenize);
        printf(",\"n_tokens\":%lld,\"ids\":[", (long long)n);
    }
    for (int64_t i = 0; i < n; i++) printf(c->json ? (i ? ",%d" : "%d") : "%d\n", (int)ids[i]);
    if (c->json) printf("]}\n");
    free(ids);
    return 0;
}

/* ------------------------------------------------------ --device cuda */

/* --devices: one line per GPU. */
static int run_devices(const qz_cli *c)
{
    qz_error err = {0};
    int n;
    if (qz_cuda_device_count(&n, &err)) return qz_cli_fail(c, &err);
    for (int i = 0; i < n; i++) {
        qz_cuda_device_info d;
        if (qz_cuda_device_get_info(i, &d, &err)) return qz_cli_fail(c, &err);
        printf("cuda:%d %s, compute %d.%d, %d SMs, %.1f GiB, %.0f GB/s peak\n", i, d.name, d.cc_major, d.cc_minor,
               d.sm_count, (double)d.total_bytes / (1 << 30), d.peak_bandwidth / 1e9);
    }
    return 0;
}

/* The GPU result and --check-cpu's figures against their tolerances. */
static void print_check(const qz_cli *c, const eval_args *a, const qz_ppl_result *r, int64_t seqlen, const qz_quant_sim *sim,
                        const qz_cuda_check *k)
{
    if (c->json) {
        print_json_fields(a, r, seqlen, sim);
        printf(",\"device\":\"cuda:%d\",\"check_cpu\":{\"cpu_mean_nll\":%.9g,\"max_dlogit\":%.6g,\"nll_rel_diff\":%.6g,"
               "\"top1_agree\":%.6f,\"positions\":%lld,\"tol_dlogit\":%g,\"tol_nll_rel\":%g,\"tol_top1\":%g,\"passed\":%s}}\n",
               a->device, k->cpu_mean_nll, k->max_dlogit, k->nll_rel_diff, k->top1_agree, (long long)k->positions,
               k->tol_dlogit, k->tol_nll_rel, k->tol_top1, k->passed ? "true" : "false");
        return;
    }
    print_result(c, a, r, seqlen, sim);
    printf("check-cpu on cuda:%d, %lld positions: max |dlogit| %.3g (<= %g), mean NLL rel diff %.3g (<= %g), "
           "top-1 agreement %.4f (>= %g): %s\n", a->device, (long long)k->positions, k->max_dlogit, k->tol_dlogit,
           k->nll_rel_diff, k->tol_nll_rel, k->top1_agree, k->tol_top1, k->passed ? "PASS" : "FAIL");
}

int main(int argc, char **argv)
{
    qz_cli c;
    qz_cli_init(&c, "qz-eval");
    eval_args a;
    int rc = parse_args(&c, argc, argv, &a);
    if (rc) return rc;
    if (a.devices) return run_devices(&c);
    if (a.info) return run_info(&c, a.model);
    if (a.tokenize) return run_tokenize(&c, &a);
    if (a.cmp.base || a.cmp.cache) return run_compare(&c, &a);
    qz_error err = {0};
    qz_model *m = NULL;
    int32_t *ids = NULL;
    int64_t n = 0;
    qz_ppl_result r;
    qz_cuda_check chk = {0};
    int n_dev;
    rc = a.device >= 0 ? qz_cuda_device_count(&n_dev, &err) : QZ_OK; /* "no CUDA device" before any loading */
    if (rc == QZ_OK) rc = open_model(&a, a.model, 1, &m, &err);
    if (rc == QZ_OK) rc = qz_cli_tokenize_file(a.model, a.text, &ids, &n, &err);
    if (rc == QZ_OK) {
        int64_t T = default_seqlen(&c, &a, m);
        qz_ppl_opts o = {T, a.max_windows, qz_cli_progress, &c, a.cmp.batch_windows, qz_ppl_score_from(a.score, T)};
        c.label = a.model;
        rc = a.device < 0 ? qz_eval_ppl(m, ids, n, &o, &r, &err)
                          : qz_cuda_eval_ppl(m, ids, n, &o, a.device, &r, a.check_cpu ? &chk : NULL, &err);
        qz_cli_progress_done(&c);
        if (rc == QZ_OK && a.check_cpu) print_check(&c, &a, &r, o.seqlen, &m->sim, &chk);
        else if (rc == QZ_OK) print_result(&c, &a, &r, o.seqlen, &m->sim);
    }
    free(ids);
    qz_model_free(m);
    if (rc) return qz_cli_fail(&c, &err);
    return a.check_cpu && !chk.passed ? QZ_EXIT_GATE : 0;
}
