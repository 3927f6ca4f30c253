/* qz-eval - perplexity of a Hugging Face checkpoint on a text file. */
#include "cli.h"

#include <getopt.h>
#include <string.h>

static void usage(void)
{
    printf("usage: qz-eval MODEL_DIR --text FILE [options]\n"
           "\n"
           "Perplexity of MODEL_DIR (a Hugging Face llama/mistral/qwen2 directory, FP32/FP16/BF16)\n"
           "on FILE: BOS + the whole text tokenized once, non-overlapping windows of --seqlen\n"
           "tokens, every token after a window's first scored, ppl = exp(mean NLL).\n"
           "\n"
           "options:\n"
           "  --text FILE           evaluation text (UTF-8), required\n"
           "  --seqlen N            window length (default: min(2048, max_position_embeddings))\n"
           "  --max-windows K       evaluate only the first K windows (default: all)\n"
           "  --act-bits B          fake-quantize every decoder linear's input to B bits, dynamic symmetric\n"
           "                        (SmoothQuant's fake_quant; default: off, or the checkpoint's declared scheme)\n"
           "  --act-granularity G   token (default) or tensor\n"
           "  --weight-bits B       fake-quantize every decoder linear's weight to B bits, symmetric\n"
           "  --weight-granularity G  channel (default) or tensor\n"
           "  --json                print one JSON object on stdout (schema in README.md)\n"
           "  --progress            progress on stderr even when it is not a terminal\n"
           "  --quiet               no progress, no warnings\n"
           "  -h, --help            this help\n"
           "  --version             version and compiled-in features\n"
           "\n"
           "exit codes: 0 success, 2 bad usage or input, 3 internal or resource error\n");
}

typedef struct {
    const char *model, *text;
    int64_t seqlen, max_windows;
    qz_quant_sim sim;
    int sim_act_set;
} eval_args;

/* per: the per-row granularity this flag allows (token or channel), or tensor. */
static int parse_gran(qz_cli *c, const char *flag, const char *s, qz_granularity per, qz_granularity *g)
{
    if (!strcmp(s, qz_granularity_name(per))) *g = per;
    else if (!strcmp(s, "tensor")) *g = QZ_GRAN_TENSOR;
    else return qz_cli_usage_error(c, "%s '%s': expected %s or tensor", flag, s, qz_granularity_name(per));
    return 0;
}

static int parse_args(qz_cli *c, int argc, char **argv, eval_args *a)
{
    enum { O_TEXT = 256, O_SEQLEN, O_MAXW, O_ABITS, O_AGRAN, O_WBITS, O_WGRAN };
    static const struct option opts[] = {{"text", required_argument, 0, O_TEXT}, {"seqlen", required_argument, 0, O_SEQLEN},
                                         {"max-windows", required_argument, 0, O_MAXW}, {"act-bits", required_argument, 0, O_ABITS},
                                         {"act-granularity", required_argument, 0, O_AGRAN},
                                         {"weight-bits", required_argument, 0, O_WBITS},
                                         {"weight-granularity", required_argument, 0, O_WGRAN}, QZ_CLI_COMMON_OPTIONS, {0, 0, 0, 0}};
    int64_t v;
    memset(a, 0, sizeof *a);
    a->sim.act_gran = QZ_GRAN_TOKEN;
    a->sim.weight_gran = QZ_GRAN_CHANNEL;
    opterr = 0;
    int ch, rc = 0;
    while (rc == 0 && (ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case O_TEXT: a->text = optarg; break;
        case O_SEQLEN: rc = qz_cli_int(c, "--seqlen", optarg, 2, 1 << 20, &a->seqlen); break;
        case O_MAXW: rc = qz_cli_int(c, "--max-windows", optarg, 1, INT64_MAX, &a->max_windows); break;
        case O_ABITS: rc = qz_cli_int(c, "--act-bits", optarg, 2, 16, &v); a->sim.act_bits = (int)v; a->sim_act_set = 1; break;
        case O_WBITS: rc = qz_cli_int(c, "--weight-bits", optarg, 2, 16, &v); a->sim.weight_bits = (int)v; break;
        case O_AGRAN: rc = parse_gran(c, "--act-granularity", optarg, QZ_GRAN_TOKEN, &a->sim.act_gran); break;
        case O_WGRAN: rc = parse_gran(c, "--weight-granularity", optarg, QZ_GRAN_CHANNEL, &a->sim.weight_gran); break;
        default: rc = qz_cli_common_option(c, ch, argv, usage);
        }
    }
    if (rc) return rc;
    if (optind != argc - 1) return qz_cli_usage_error(c, "expected exactly one MODEL_DIR");
    a->model = argv[optind];
    if (!a->text) return qz_cli_usage_error(c, "--text FILE is required");
    return 0;
}

static void print_result(const qz_cli *c, const eval_args *a, const qz_ppl_result *r, int64_t seqlen, const qz_quant_sim *sim)
{
    if (!c->json) {
        printf("model %s\ntext %s\ntokens %lld, windows %lld x %lld, scored %lld\nmean NLL %.6f\nperplexity %.5f\n"
               "%.2f s, %.0f tokens/s\n",
               a->model, a->text, (long long)r->tokens, (long long)r->windows, (long long)seqlen, (long long)r->scored,
               r->mean_nll, r->ppl, r->seconds, r->tokens_per_second);
        return;
    }
    printf("{\"model\":");
    qz_cli_json_string(stdout, a->model);
    printf(",\"text\":");
    qz_cli_json_string(stdout, a->text);
    printf(",\"tokens\":%lld,\"seqlen\":%lld,\"windows\":%lld,\"scored_tokens\":%lld,\"mean_nll\":%.9g,\"ppl\":%.9g,"
           "\"seconds\":%.3f,\"tokens_per_second\":%.1f,\"act_bits\":%d,\"act_granularity\":\"%s\",\"weight_bits\":%d,"
           "\"weight_granularity\":\"%s\"}\n",
           (long long)r->tokens, (long long)seqlen, (long long)r->windows, (long long)r->scored, r->mean_nll, r->ppl,
           r->seconds, r->tokens_per_second, sim->act_bits, qz_granularity_name(sim->act_bits ? sim->act_gran : QZ_GRAN_NONE),
           sim->weight_bits, qz_granularity_name(sim->weight_bits ? sim->weight_gran : QZ_GRAN_NONE));
}

int main(int argc, char **argv)
{
    qz_cli c;
    qz_cli_init(&c, "qz-eval");
    eval_args a;
    int rc = parse_args(&c, argc, argv, &a);
    if (rc) return rc;
    qz_error err = {0};
    qz_model *m = NULL;
    int32_t *ids = NULL;
    int64_t n = 0;
    qz_ppl_result r;
    rc = qz_model_open(&m, a.model, &err);
    if (rc == QZ_OK) { /* flags override the scheme a checkpoint declares */
        if (a.sim_act_set) m->sim.act_bits = a.sim.act_bits, m->sim.act_gran = a.sim.act_gran;
        m->sim.weight_bits = a.sim.weight_bits, m->sim.weight_gran = a.sim.weight_gran;
    }
    if (rc == QZ_OK) rc = qz_cli_tokenize_file(a.model, a.text, &ids, &n, &err);
    if (rc == QZ_OK) {
        int64_t maxpos = m->cfg.max_position;
        qz_ppl_opts o = {a.seqlen ? a.seqlen : (maxpos < 2048 ? maxpos : 2048), a.max_windows, qz_cli_progress, &c};
        if (o.seqlen > maxpos) qz_cli_warn(&c, "--seqlen %lld exceeds max_position_embeddings %lld", (long long)o.seqlen, (long long)maxpos);
        rc = qz_eval_ppl(m, ids, n, &o, &r, &err);
        qz_cli_progress_done(&c);
        if (rc == QZ_OK) print_result(&c, &a, &r, o.seqlen, &m->sim);
    }
    free(ids);
    qz_model_free(m);
    return rc ? qz_cli_fail(&c, &err) : 0;
}
