/* qz-smooth - SmoothQuant: migrate activation outliers into the weights, and
 * optionally write a W8A8 compressed-tensors checkpoint. */
#include "cli.h"
#include "export.h"
#include "smooth.h"

#include <getopt.h>
#include <string.h>

#define DEFAULT_NSAMPLES 512

static void usage(void)
{
    printf("usage: qz-smooth IN_DIR OUT_DIR --calib FILE [options]\n"
           "\n"
           "SmoothQuant (mit-han-lab/smoothquant's smooth.py): per layer, s_j = max|X_j|^alpha / max|W_j|^(1-alpha)\n"
           "from the inputs of q_proj and gate_proj; input_layernorm and post_attention_layernorm are divided\n"
           "by s and the q/k/v and gate/up columns multiplied by it. The output is the mathematically\n"
           "equivalent smoothed model in the input's dtype (feed it to qz-gptq, or evaluate W8A8 with\n"
           "qz-eval --act-bits 8 --weight-bits 8), or with --w8a8 a compressed-tensors int-quantized\n"
           "checkpoint: int8 weights per output channel, dynamic per-token int8 inputs (vLLM W8A8).\n"
           "\n"
           "options:\n"
           "  --alpha A|auto        migration strength in [0, 1] (default 0.5); auto: per layer, the\n"
           "                        alpha in 0, 0.05, ..., 1 with the smallest W8A8 output error\n"
           "  --auto-samples N      windows the auto search measures on (default 32)\n"
           "  --w8a8                write int8 weights + the dynamic int8 activation scheme\n"
           QZ_CLI_CALIB_HELP(QZ_CLI_XSTR(DEFAULT_NSAMPLES))
           "  --seqlen N            tokens per window (default 512)\n"
           "  --force               replace OUT_DIR if it exists\n"
           QZ_CLI_COMMON_HELP
           "\nexamples:\n"
           "  qz-smooth model/ out/w8a8 --calib calib.txt --w8a8\n"
           "  qz-smooth model/ out/smoothed --calib calib.txt --alpha auto\n");
}

typedef struct {
    const char *in, *out;
    qz_cli_calib cal;
    qz_smooth_opts o;
    int force;
    qz_smoother *sm; /* while running */
} smooth_args;

static int parse_alpha(qz_cli *c, const char *s, qz_smooth_opts *o)
{
    if (!strcmp(s, "auto")) {
        o->auto_alpha = 1;
        return 0;
    }
    return qz_cli_real(c, "--alpha", s, 0.0, 1.0, &o->alpha);
}

static int parse_args(qz_cli *c, int argc, char **argv, smooth_args *a)
{
    enum { O_ALPHA = 256, O_AUTO_SAMPLES, O_W8A8, O_FORCE };
    static const struct option opts[] = {{"alpha", 1, 0, O_ALPHA}, {"auto-samples", 1, 0, O_AUTO_SAMPLES}, {"w8a8", 0, 0, O_W8A8},
                                         {"force", 0, 0, O_FORCE}, QZ_CLI_CALIB_OPTIONS, QZ_CLI_COMMON_OPTIONS, {0, 0, 0, 0}};
    memset(a, 0, sizeof *a);
    a->o = qz_smooth_opts_default();
    a->cal.nsamples = DEFAULT_NSAMPLES;
    a->cal.seqlen = 512;
    opterr = 0;
    int ch, rc = 0;
    while (rc == 0 && (ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case O_ALPHA: rc = parse_alpha(c, optarg, &a->o); break;
        case O_AUTO_SAMPLES: rc = qz_cli_int(c, "--auto-samples", optarg, 1, 1 << 20, &a->o.auto_samples); break;
        case O_W8A8: a->o.w8a8 = 1; break;
        case O_FORCE: a->force = 1; break;
        default:
            if (!qz_cli_calib_option(c, ch, optarg, &a->cal, &rc)) rc = qz_cli_common_option(c, ch, argv, usage);
        }
    }
    if (rc || (rc = qz_cli_in_out(c, argc, argv, &a->in, &a->out))) return rc;
    if (a->cal.n_paths == 0) return qz_cli_usage_error(c, "--calib FILE is required");
    return 0;
}

static void print_json(const smooth_args *a, double secs)
{
    printf("{\"input\":");
    qz_cli_json_string(stdout, a->in);
    printf(",\"output\":");
    qz_cli_json_string(stdout, a->out);
    qz_cli_json_blas(stdout);
    if (a->o.auto_alpha) printf(",\"method\":\"smoothquant\",\"alpha\":\"auto\",\"auto_samples\":%lld", (long long)a->o.auto_samples);
    else printf(",\"method\":\"smoothquant\",\"alpha\":%g", a->o.alpha);
    printf(",\"w8a8\":%s,\"format\":\"%s\",\"nsamples\":%lld,\"seqlen\":%lld,\"seed\":%lld,\"seconds\":%.3f,\"peak_rss_mib\":%.1f}\n",
           a->o.w8a8 ? "true" : "false", a->o.w8a8 ? "compressed-tensors int-quantized" : "fp", (long long)a->cal.nsamples,
           (long long)a->cal.seqlen, (long long)a->cal.seed, secs, qz_cli_peak_rss_mib());
}

static int make_smoother(void *ctx, const qz_model *m, int64_t ns, int64_t seqlen, const qz_quant_sink *sink,
                         const qz_method **meth, qz_error *err)
{
    smooth_args *a = ctx;
    int rc = qz_smoother_new(&a->sm, m, &a->o, ns, seqlen, sink, err);
    if (rc == QZ_OK) *meth = qz_smoother_method(a->sm);
    return rc;
}

static void free_smoother(void *ctx)
{
    smooth_args *a = ctx;
    qz_smoother_free(a->sm);
    a->sm = NULL;
}

static int run(qz_cli *c, void *args, qz_model *m, qz_error *err)
{
    smooth_args *a = args;
    if (!c->quiet) {
        char alpha[32];
        snprintf(alpha, sizeof alpha, a->o.auto_alpha ? "auto" : "%g", a->o.alpha);
        fprintf(stderr, "%s: %s -> %s: alpha %s, %s, nsamples %lld x seqlen %lld, seed %lld\n", c->tool, a->in, a->out, alpha,
                a->o.w8a8 ? "W8A8 compressed-tensors" : "smoothed FP", (long long)a->cal.nsamples, (long long)a->cal.seqlen,
                (long long)a->cal.seed);
    }
    qz_ct_config cc = {8, 1, 8, 1};
    cJSON *qc = a->o.w8a8 ? qz_ct_config_json(&cc, NULL, 0) : NULL;
    qz_cli_job job = {.in = a->in, .out = a->out, .force = a->force, .cal = &a->cal, .seqlen = a->cal.seqlen,
                      .format = a->o.w8a8 ? QZ_EXPORT_CT : QZ_EXPORT_FP, .ct = &cc, .quant_config = qc, .make = make_smoother,
                      .destroy = free_smoother, .ctx = a};
    double t0 = qz_now();
    int rc = qz_cli_run_job(c, m, &job, err);
    cJSON_Delete(qc);
    if (rc == QZ_OK && c->json) print_json(a, qz_now() - t0);
    return rc;
}

int main(int argc, char **argv)
{
    qz_cli c;
    qz_cli_init(&c, "qz-smooth");
    smooth_args a;
    int rc = parse_args(&c, argc, argv, &a);
    return rc ? rc : qz_cli_compress_main(&c, a.in, &a, run);
}
