/* qz-gptq - GPTQ (or round-to-nearest) quantization of a Hugging Face
 * checkpoint into a GPTQ-format directory, one decoder layer at a time. */
#include "calib.h"
#include "cli.h"
#include "export.h"

#include <getopt.h>
#include <string.h>

#define DEFAULT_NSAMPLES 128

static void usage(void)
{
    printf("usage: qz-gptq IN_DIR OUT_DIR --calib FILE [options]\n"
           "\n"
           "Quantizes every decoder linear of IN_DIR (llama/mistral/qwen2, F32/F16/BF16) with GPTQ\n"
           "(or round-to-nearest) and writes a GPTQ checkpoint (qweight/qzeros/scales/g_idx) that\n"
           "transformers, vLLM and exllama load, and that qz-eval reads. Embeddings, norms and\n"
           "lm_head are copied unchanged; a linear the format cannot pack stays in floating point.\n"
           "\n"
           "options:\n"
           "  --method M            gptq | rtn (default gptq; rtn needs no --calib, but takes one with\n"
           "                        --format gguf: its block parameters are then imatrix-weighted)\n"
           "  --bits B              2, 3, 4 or 8 (default 4)\n"
           "  --group-size G        columns per group, -1 for per channel, or auto: the largest power of\n"
           "                        two <= 128 dividing every packed linear's in_features (default 128)\n"
           "  --allow-partial-groups  allow a group that does not divide in_features (a shorter last\n"
           "                        group: qz reads it; vLLM, GPTQModel and AutoAWQ refuse it)\n"
           "  --sym | --asym        symmetric grid (default) or asymmetric (written as gptq_v2)\n"
           "  --act-order           quantize columns by descending Hessian diagonal (desc_act)\n"
           "  --static-groups       group parameters from the original weights, up front\n"
           "  --true-sequential     [q,k,v] -> [o] -> [gate,up] -> [down] inside each layer\n"
           "  --mse                 MSE grid search for the group ranges (grid 100, shrink 0.8, norm 2.4)\n"
           "  --damp D              relative damping of the Hessian diagonal (default 0.01)\n"
           "  --keep-sparsity       weights that are exactly zero stay zero (prune -> quantize)\n"
           "  --format F            gptq (default) or gguf (llama.cpp's block formats; --bits,\n"
           "                        --group-size, --sym/--asym, --mse, --static-groups do not apply)\n"
           QZ_CLI_GGUF_HELP
           "  --gguf-params P       --format gguf: weighted (default where calibration gives a Hessian)\n"
           "                        chooses each block's scales by llama-quantize --imatrix's search,\n"
           "                        weighted by diag(H); ref: llama.cpp's unweighted reference rule\n"
           QZ_CLI_CALIB_HELP(QZ_CLI_XSTR(DEFAULT_NSAMPLES))
           "  --seqlen N            tokens per window (default min(2048, max_position_embeddings))\n"
           "  --force               replace OUT_DIR if it exists\n"
           QZ_CLI_COMMON_HELP
           "\nexamples:\n"
           "  qz-gptq model/ out/w4g128 --calib calib.txt --bits 4 --group-size 128\n"
           "  qz-gptq model.gguf out/w4 --calib calib.txt --group-size auto --act-order --asym\n"
           "  qz-gptq model/ out/rtn8 --method rtn --bits 8 --group-size -1\n");
}

typedef struct {
    const char *in, *out;
    qz_cli_calib cal;
    qz_quant_opts q;
    int force;
    int gguf;                /* --format gguf */
    const char *gguf_type, *gguf_map;
    int gguf_params;         /* --gguf-params: -1 not given, 0 weighted, 1 ref */
    qz_gguf_plan plan;       /* while running */
    int allow_partial;       /* --allow-partial-groups */
    qz_quantizer *quantizer; /* while running */
} gptq_args;

static int parse_method(qz_cli *c, const char *s, qz_quant_method *m)
{
    if (!strcmp(s, "gptq")) *m = QZ_QUANT_GPTQ;
    else if (!strcmp(s, "rtn")) *m = QZ_QUANT_RTN;
    else return qz_cli_usage_error(c, "--method '%s': expected gptq or rtn", s);
    return 0;
}

static int check_args(qz_cli *c, gptq_args *a)
{
    qz_gptq_opts *g = &a->q.gptq;
    if (g->bits != 2 && g->bits != 3 && g->bits != 4 && g->bits != 8)
        return qz_cli_usage_error(c, "--bits %d: expected 2, 3, 4 or 8", g->bits);
    if (g->static_groups && g->group_size == -1) return qz_cli_usage_error(c, "--static-groups needs a --group-size");
    if (a->q.method == QZ_QUANT_GPTQ && a->cal.n_paths == 0) return qz_cli_usage_error(c, "--calib FILE is required for --method gptq");
    if (a->gguf && a->q.keep_sparsity) return qz_cli_usage_error(c, "--keep-sparsity: llama.cpp's grids with a min (Q4_1, K-quants) cannot keep exact zeros");
    if (!a->gguf && (a->gguf_type || a->gguf_map || a->gguf_params >= 0))
        return qz_cli_usage_error(c, "--gguf-type / --gguf-type-map / --gguf-params need --format gguf");
    int no_hessian = a->q.method == QZ_QUANT_RTN && a->cal.n_paths == 0;
    if (a->gguf_params == 0 && no_hessian)
        return qz_cli_usage_error(c, "--gguf-params weighted with --method rtn needs --calib FILE (the importances are diag(H))");
    /* weighted by default wherever calibration gives a Hessian */
    a->q.ggml_ref_params = a->gguf_params >= 0 ? a->gguf_params : no_hessian;
    return 0;
}

static int parse_args(qz_cli *c, int argc, char **argv, gptq_args *a)
{
    enum { O_METHOD = 256, O_BITS, O_GS, O_SYM, O_ASYM, O_ACT, O_STATIC, O_TRUESEQ, O_MSE, O_DAMP, O_KEEP, O_FORCE, O_FORMAT, O_GTYPE, O_GMAP,
           O_PARTIAL, O_GPARAMS };
    static const struct option opts[] = {
        {"method", 1, 0, O_METHOD}, {"bits", 1, 0, O_BITS}, {"group-size", 1, 0, O_GS},
        {"sym", 0, 0, O_SYM}, {"asym", 0, 0, O_ASYM}, {"act-order", 0, 0, O_ACT}, {"static-groups", 0, 0, O_STATIC},
        {"true-sequential", 0, 0, O_TRUESEQ}, {"mse", 0, 0, O_MSE}, {"damp", 1, 0, O_DAMP},
        {"keep-sparsity", 0, 0, O_KEEP}, {"force", 0, 0, O_FORCE}, {"format", 1, 0, O_FORMAT}, {"gguf-type", 1, 0, O_GTYPE},
        {"gguf-type-map", 1, 0, O_GMAP}, {"allow-partial-groups", 0, 0, O_PARTIAL}, {"gguf-params", 1, 0, O_GPARAMS}, QZ_CLI_CALIB_OPTIONS, QZ_CLI_COMMON_OPTIONS,
        {0, 0, 0, 0}};
    memset(a, 0, sizeof *a);
    a->q.gptq = qz_gptq_opts_default();
    a->q.gptq.group_size = 128;
    a->q.gptq.sym = 1;
    a->cal.nsamples = DEFAULT_NSAMPLES;
    a->gguf_params = -1;
    opterr = 0;
    int ch, rc = 0;
    int64_t v;
    double d;
    while (rc == 0 && (ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case O_METHOD: rc = parse_method(c, optarg, &a->q.method); break;
        case O_BITS: rc = qz_cli_int(c, "--bits", optarg, 2, 8, &v); a->q.gptq.bits = (int)v; break;
        case O_GS: rc = qz_cli_group_size(c, optarg, &a->q.gptq.group_size); break;
        case O_PARTIAL: a->allow_partial = 1; break;
        case O_SYM: a->q.gptq.sym = 1; break;
        case O_ASYM: a->q.gptq.sym = 0; break;
        case O_ACT: a->q.gptq.act_order = 1; break;
        case O_STATIC: a->q.gptq.static_groups = 1; break;
        case O_TRUESEQ: a->q.true_sequential = 1; break;
        case O_MSE: a->q.gptq.mse = 1; break;
        case O_DAMP: rc = qz_cli_real(c, "--damp", optarg, 1e-9, 1e3, &d); a->q.gptq.damp = d; break;
        case O_KEEP: a->q.keep_sparsity = 1; break;
        case O_FORCE: a->force = 1; break;
        case O_FORMAT:
            if (strcmp(optarg, "gptq") && strcmp(optarg, "gguf")) rc = qz_cli_usage_error(c, "--format '%s': expected gptq or gguf", optarg);
            a->gguf = !strcmp(optarg, "gguf");
            break;
        case O_GTYPE: a->gguf_type = optarg; break;
        case O_GMAP: a->gguf_map = optarg; break;
        case O_GPARAMS: rc = qz_cli_gguf_params(c, optarg, &a->gguf_params); break;
        default:
            if (!qz_cli_calib_option(c, ch, optarg, &a->cal, &rc)) rc = qz_cli_common_option(c, ch, argv, usage);
        }
    }
    if (rc || (rc = qz_cli_in_out(c, argc, argv, a->force, &a->in, &a->out))) return rc;
    if (a->gguf && !a->gguf_type) a->gguf_type = "Q4_K_M";
    return check_args(c, a);
}

/* Linears the GPTQ layout cannot hold stay in floating point, loudly. */
static int gptq_packable(int64_t out, int64_t in, const void *bits, qz_error *err)
{
    return qz_gptq_pack_check(out, in, *(const int *)bits, err);
}

/* RTN reads calibration only onto GGUF blocks with weighted parameters. */
static int calibrated(const gptq_args *a)
{
    return a->q.method != QZ_QUANT_RTN || (a->gguf && !a->q.ggml_ref_params);
}

static void print_config(const qz_cli *c, const gptq_args *a, int64_t seqlen)
{
    if (c->quiet) return;
    const qz_gptq_opts *g = &a->q.gptq;
    if (a->gguf) {
        fprintf(stderr, "%s: %s -> %s/model.gguf: method %s onto GGUF %s%s%s, block parameters %s, act-order %s, "
                        "true-sequential %s, damp %g, nsamples %lld x seqlen %lld, seed %lld\n",
                c->tool, a->in, a->out, qz_quant_method_name(a->q.method), a->gguf_type, a->gguf_map ? " map " : "",
                a->gguf_map ? a->gguf_map : "", a->q.ggml_ref_params ? "ref" : "weighted", g->act_order ? "on" : "off",
                a->q.true_sequential ? "on" : "off", g->damp, calibrated(a) ? (long long)a->cal.nsamples : 0LL, (long long)seqlen,
                (long long)a->cal.seed);
        return;
    }
    fprintf(stderr, "%s: %s -> %s: method %s, %d bits, group %lld, %s, act-order %s, static-groups %s, true-sequential %s, "
                    "mse %s, damp %g, nsamples %lld x seqlen %lld, seed %lld\n",
            c->tool, a->in, a->out, qz_quant_method_name(a->q.method), g->bits, (long long)g->group_size,
            g->sym ? "sym" : "asym", g->act_order ? "on" : "off", g->static_groups ? "on" : "off",
            a->q.true_sequential ? "on" : "off", g->mse ? "on" : "off", g->damp,
            a->q.method == QZ_QUANT_RTN ? 0LL : (long long)a->cal.nsamples, a->q.method == QZ_QUANT_RTN ? 0LL : (long long)seqlen,
            (long long)a->cal.seed);
}

static void print_json(const gptq_args *a, const qz_gptq_config *gc, int64_t seqlen, const char **fp, int n_fp, double secs)
{
    const qz_gptq_opts *g = &a->q.gptq;
    char gs[24] = "null"; /* GGUF: the type fixes the block, --group-size does not apply */
    if (!a->gguf) snprintf(gs, sizeof gs, "%lld", (long long)g->group_size);
    printf("{\"input\":");
    qz_cli_json_string(stdout, a->in);
    printf(",\"output\":");
    qz_cli_json_string(stdout, a->out);
    qz_cli_json_blas(stdout);
    printf(",\"method\":\"%s\",\"bits\":%d,\"group_size\":%s,\"sym\":%s,\"act_order\":%s,\"static_groups\":%s,"
           "\"true_sequential\":%s,\"mse\":%s,\"damp\":%g,\"nsamples\":%lld,\"seqlen\":%lld,\"seed\":%lld,"
           "\"checkpoint_format\":\"%s\",",
           qz_quant_method_name(a->q.method), g->bits, gs, g->sym ? "true" : "false",
           g->act_order ? "true" : "false", g->static_groups ? "true" : "false", a->q.true_sequential ? "true" : "false",
           g->mse ? "true" : "false", g->damp, calibrated(a) ? (long long)a->cal.nsamples : 0LL,
           calibrated(a) ? (long long)seqlen : 0LL, (long long)a->cal.seed,
           a->gguf ? "gguf" : qz_gptq_zero_fmt_name(gc->fmt));
    if (a->gguf) {
        printf("\"gguf_type\":");
        qz_cli_json_string(stdout, a->gguf_type);
        printf(",\"gguf_params\":\"%s\",", a->q.ggml_ref_params ? "ref" : "weighted");
    }
    qz_cli_json_names(stdout, "modules_not_quantized", fp, n_fp);
    printf(",\"seconds\":%.3f,\"peak_rss_mib\":%.1f}\n", secs, qz_cli_peak_rss_mib());
}

static int make_quantizer(void *ctx, const qz_model *m, int64_t ns, int64_t seqlen, const qz_quant_sink *sink,
                          const qz_method **meth, qz_error *err)
{
    (void)ns, (void)seqlen;
    gptq_args *a = ctx;
    int rc = qz_quantizer_new(&a->quantizer, &m->cfg, &a->q, sink, err);
    if (rc == QZ_OK) *meth = qz_quantizer_method(a->quantizer);
    return rc;
}

static void free_quantizer(void *ctx)
{
    gptq_args *a = ctx;
    qz_quantizer_free(a->quantizer);
    a->quantizer = NULL;
}

static int run(qz_cli *c, void *args, qz_model *m, qz_error *err)
{
    gptq_args *a = args;
    const char *fp[QZ_LIN_COUNT], *quant[QZ_LIN_COUNT];
    int rc, n_q = 0, n_fp = 0;
    if (a->gguf) {
        /* GGUF: the type fixes the block; the group rule does not apply
         * (qz_cli_gguf_plan falls back per tensor instead, docs/gguf-out.md) */
        if ((rc = qz_cli_gguf_plan(c, &m->cfg, a->gguf_type, a->gguf_map, &a->plan, err))) return rc;
        a->q.ggml_types = a->plan.lin;
    } else {
        if ((rc = qz_cli_resolve_groups(&m->cfg, gptq_packable, &a->q.gptq.bits, &a->q.gptq.group_size, a->allow_partial, err)))
            return rc;
        n_fp = qz_cli_mark_unpackable(c, &m->cfg, gptq_packable, &a->q.gptq.bits, a->q.skip, fp, quant, &n_q);
        if (n_q == 0)
            return qz_fail(err, QZ_EINPUT, "no decoder linear of %s can be packed in the GPTQ layout at %d bits (see the warnings); "
                           "try --bits 8 or another model", a->in, a->q.gptq.bits);
    }
    int64_t maxpos = m->cfg.max_position, seqlen = a->cal.seqlen ? a->cal.seqlen : (maxpos < 2048 ? maxpos : 2048);
    print_config(c, a, seqlen);
    qz_gptq_config gc = {a->q.gptq.bits, a->q.gptq.group_size, a->q.gptq.sym, a->q.gptq.act_order, a->q.gptq.static_groups,
                         a->q.true_sequential, a->q.gptq.damp, a->q.gptq.sym ? QZ_GPTQ_ZERO_V1 : QZ_GPTQ_ZERO_V2};
    cJSON *qc = a->gguf ? NULL : qz_gptq_config_json(&gc, quant, n_q, fp, n_fp);
    qz_cli_job job = {.in = a->in, .out = a->out, .force = a->force, .cal = calibrated(a) ? &a->cal : NULL,
                      .seqlen = seqlen, .format = QZ_EXPORT_GPTQ, .gptq = &gc, .gguf = a->gguf ? &a->plan : NULL, .quant_config = qc,
                      .make = make_quantizer, .destroy = free_quantizer, .ctx = a};
    double t0 = qz_now();
    rc = qz_cli_run_job(c, m, &job, err);
    cJSON_Delete(qc);
    if (a->gguf) qz_gguf_plan_free(&a->plan);
    if (rc == QZ_OK && c->json) print_json(a, &gc, seqlen, fp, n_fp, qz_now() - t0);
    return rc;
}

int main(int argc, char **argv)
{
    qz_cli c;
    qz_cli_init(&c, "qz-gptq");
    gptq_args a;
    int rc = parse_args(&c, argc, argv, &a);
    return rc ? rc : qz_cli_compress_main(&c, a.in, &a, run);
}
