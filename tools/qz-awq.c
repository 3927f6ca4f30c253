/* qz-awq - activation-aware weight quantization of a Hugging Face
 * checkpoint into an AutoAWQ GEMM (or GPTQ) directory, or a scaled FP one. */
#include "awq.h"
#include "cli.h"
#include "export.h"

#include <getopt.h>
#include <string.h>

#define DEFAULT_NSAMPLES 128

static void usage(void)
{
    printf("usage: qz-awq IN_DIR OUT_DIR --calib FILE [options]\n"
           "\n"
           "AWQ (AutoAWQ's algorithm): per decoder layer, search per-channel scales that protect the\n"
           "weights seeing large activations, fold them exactly into the preceding norm or linear,\n"
           "search per-group clipping, and quantize with AWQ's min/max grid. Writes the AutoAWQ GEMM\n"
           "layout (transformers, vLLM), the GPTQ layout, or (--scale-only) the scaled and clipped\n"
           "model in floating point for another quantizer, e.g. qz-gptq.\n"
           "\n"
           "options:\n"
           "  --bits B              2..8 (default 4; the AWQ GEMM layout holds 4 only)\n"
           "  --group-size G        columns per group, -1 for per channel, or auto: the largest power of\n"
           "                        two <= 128 dividing every packed linear's in_features (default 128)\n"
           "  --allow-partial-groups  allow a group that does not divide in_features (the AWQ layout\n"
           "                        cannot hold such a linear: it stays in floating point)\n"
           "  --zero-point          asymmetric min/max grid (default)\n"
           "  --no-zero-point       symmetric grid, zero at 2^(B-1)\n"
           "  --n-grid N            scale ratios 0, 1/N, ..., (N-1)/N; clip tries N/2 maxima (default 20)\n"
           "  --duo-scaling         s = x_mean^r / w_mean^(1-r) (default)\n"
           "  --no-duo-scaling      s = x_mean^r\n"
           "  --no-clip             skip the clip search\n"
           "  --sequential          feed each layer the quantized previous layer's outputs\n"
           "                        (default: the FP outputs, as the reference)\n"
           "  --format F            awq (GEMM, default), gptq (gptq_v2 when zero point) or gguf (scales\n"
           "                        and clips searched on the GGUF grid, then RTN onto it; --bits,\n"
           "                        --group-size, --zero-point do not apply)\n"
           QZ_CLI_GGUF_HELP
           "  --gguf-params P       --format gguf: weighted (default): the final rounding's block scales\n"
           "                        by llama-quantize --imatrix's search, weighted by each input column's\n"
           "                        sum of x^2; ref: llama.cpp's unweighted reference rule\n"
           "  --scale-only          write the scaled + clipped model in floating point (no quantization), a\n"
           "                        Hugging Face directory; with --format gguf searched on the GGUF grid,\n"
           "                        for qz-gptq --format gguf with the same --gguf-type (AWQ then GPTQ)\n"
           QZ_CLI_CALIB_HELP(QZ_CLI_XSTR(DEFAULT_NSAMPLES))
           "  --seqlen N            tokens per window (default 512)\n"
           "  --force               replace OUT_DIR if it exists\n"
           QZ_CLI_COMMON_HELP
           "\nexamples:\n"
           "  qz-awq model/ out/awq4 --calib calib.txt --group-size 128\n"
           "  qz-awq model.gguf out/awq4 --calib calib.txt --group-size auto --nsamples 64\n"
           "  qz-awq model/ out/scaled --calib calib.txt --scale-only && qz-gptq out/scaled out/awq-gptq --calib calib.txt\n");
}

typedef struct {
    const char *in, *out;
    qz_cli_calib cal;
    qz_awq_opts o;
    qz_export_format format;
    int force;
    int gguf;                /* --format gguf */
    const char *gguf_type, *gguf_map;
    int gguf_params_given;   /* --gguf-params (a->o.ggml_ref_params) */
    qz_gguf_plan plan;       /* while running */
    int allow_partial; /* --allow-partial-groups */
    qz_awq *awq; /* while running */
} awq_args;

static int parse_format(qz_cli *c, const char *s, awq_args *a)
{
    a->gguf = !strcmp(s, "gguf");
    if (!strcmp(s, "awq")) a->format = QZ_EXPORT_AWQ;
    else if (!strcmp(s, "gptq")) a->format = QZ_EXPORT_GPTQ;
    else if (a->gguf) a->format = QZ_EXPORT_FP; /* the GGUF writer replaces the directory export */
    else return qz_cli_usage_error(c, "--format '%s': expected awq, gptq or gguf", s);
    return 0;
}

static int check_args(qz_cli *c, const awq_args *a)
{
    if (a->cal.n_paths == 0) return qz_cli_usage_error(c, "--calib FILE is required");
    if (a->format == QZ_EXPORT_AWQ && a->o.quantize && a->o.bits != 4)
        return qz_cli_usage_error(c, "--bits %d: the AWQ GEMM layout holds 4-bit weights; use --format gptq", a->o.bits);
    if (a->format == QZ_EXPORT_GPTQ && qz_gptq_pack_align(a->o.bits) == 0)
        return qz_cli_usage_error(c, "--bits %d: the GPTQ layout holds 2, 3, 4 or 8 bits", a->o.bits);
    if (!a->gguf && (a->gguf_type || a->gguf_map || a->gguf_params_given))
        return qz_cli_usage_error(c, "--gguf-type / --gguf-type-map / --gguf-params need --format gguf");
    return 0;
}

static int parse_args(qz_cli *c, int argc, char **argv, awq_args *a)
{
    enum { O_BITS = 256, O_GS, O_ZP, O_NOZP, O_NGRID, O_DUO, O_NODUO, O_NOCLIP, O_SEQUENTIAL, O_FORMAT, O_SCALE, O_FORCE, O_GTYPE, O_GMAP,
           O_PARTIAL, O_GPARAMS };
    static const struct option opts[] = {
        {"bits", 1, 0, O_BITS}, {"group-size", 1, 0, O_GS}, {"zero-point", 0, 0, O_ZP},
        {"no-zero-point", 0, 0, O_NOZP}, {"n-grid", 1, 0, O_NGRID}, {"duo-scaling", 0, 0, O_DUO},
        {"no-duo-scaling", 0, 0, O_NODUO}, {"no-clip", 0, 0, O_NOCLIP}, {"sequential", 0, 0, O_SEQUENTIAL},
        {"format", 1, 0, O_FORMAT}, {"scale-only", 0, 0, O_SCALE}, {"force", 0, 0, O_FORCE}, {"gguf-type", 1, 0, O_GTYPE},
        {"gguf-type-map", 1, 0, O_GMAP}, {"allow-partial-groups", 0, 0, O_PARTIAL}, {"gguf-params", 1, 0, O_GPARAMS}, QZ_CLI_CALIB_OPTIONS,
        QZ_CLI_COMMON_OPTIONS, {0, 0, 0, 0}};
    memset(a, 0, sizeof *a);
    a->o = qz_awq_opts_default();
    a->format = QZ_EXPORT_AWQ;
    a->cal.nsamples = DEFAULT_NSAMPLES;
    a->cal.seqlen = 512;
    opterr = 0;
    int ch, rc = 0;
    int64_t v;
    while (rc == 0 && (ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case O_BITS: rc = qz_cli_int(c, "--bits", optarg, 2, 8, &v); a->o.bits = (int)v; break;
        case O_GS: rc = qz_cli_group_size(c, optarg, &a->o.group_size); break;
        case O_PARTIAL: a->allow_partial = 1; break;
        case O_ZP: a->o.zero_point = 1; break;
        case O_NOZP: a->o.zero_point = 0; break;
        case O_NGRID: rc = qz_cli_int(c, "--n-grid", optarg, 2, 1000, &v); a->o.n_grid = (int)v; break;
        case O_DUO: a->o.duo_scaling = 1; break;
        case O_NODUO: a->o.duo_scaling = 0; break;
        case O_NOCLIP: a->o.clip = 0; break;
        case O_SEQUENTIAL: a->o.sequential = 1; break;
        case O_FORMAT: rc = parse_format(c, optarg, a); break;
        case O_GTYPE: a->gguf_type = optarg; break;
        case O_GMAP: a->gguf_map = optarg; break;
        case O_GPARAMS: rc = qz_cli_gguf_params(c, optarg, &a->o.ggml_ref_params), a->gguf_params_given = 1; break;
        case O_SCALE: a->o.quantize = 0; break;
        case O_FORCE: a->force = 1; break;
        default:
            if (!qz_cli_calib_option(c, ch, optarg, &a->cal, &rc)) rc = qz_cli_common_option(c, ch, argv, usage);
        }
    }
    if (rc || (rc = qz_cli_in_out(c, argc, argv, a->force, &a->in, &a->out))) return rc;
    if (!a->o.quantize) a->format = QZ_EXPORT_FP;
    if (a->gguf && !a->gguf_type) a->gguf_type = "Q4_K_M";
    if (a->gguf) a->o.group_size = 32; /* duo scaling's per-group weight normalisation: ggml's 32-element (sub-)blocks */
    return check_args(c, a);
}

/* Whether the chosen layout holds a linear: with its group (packable), or
 * its shape alone (shape_packable, for the group rule). */
static int check_layout(const awq_args *a, int64_t out, int64_t in, int64_t group_size, qz_error *err)
{
    if (a->format == QZ_EXPORT_AWQ) return qz_awq_pack_check(out, in, group_size, err);
    if (a->format == QZ_EXPORT_GPTQ) return qz_gptq_pack_check(out, in, a->o.bits, err);
    return QZ_OK;
}

static int packable(int64_t out, int64_t in, const void *ctx, qz_error *err)
{
    const awq_args *a = ctx;
    return check_layout(a, out, in, a->o.group_size, err);
}

static int shape_packable(int64_t out, int64_t in, const void *ctx, qz_error *err)
{
    return check_layout(ctx, out, in, -1, err);
}

static const char *format_name(const awq_args *a)
{
    return a->gguf ? "gguf" : a->format == QZ_EXPORT_AWQ ? "awq" : a->format == QZ_EXPORT_GPTQ ? "gptq" : "fp";
}

static void print_config(const qz_cli *c, const awq_args *a)
{
    if (c->quiet) return;
    fprintf(stderr, "%s: %s -> %s: %d bits, group %lld, %s, n-grid %d, duo-scaling %s, clip %s, %s outputs to the next layer, "
                    "format %s%s, nsamples %lld x seqlen %lld, seed %lld\n",
            c->tool, a->in, a->out, a->o.bits, (long long)a->o.group_size, a->o.zero_point ? "zero point" : "no zero point",
            a->o.n_grid, a->o.duo_scaling ? "on" : "off", a->o.clip ? "on" : "off", a->o.sequential ? "quantized" : "FP",
            a->o.quantize ? format_name(a) : "fp (scale only)",
            !a->gguf ? "" : a->o.ggml_ref_params ? " (ref block parameters)" : " (weighted block parameters)", (long long)a->cal.nsamples, (long long)a->cal.seqlen,
            (long long)a->cal.seed);
}

static void print_json(const awq_args *a, const char **fp, int n_fp, double secs)
{
    printf("{\"input\":");
    qz_cli_json_string(stdout, a->in);
    printf(",\"output\":");
    qz_cli_json_string(stdout, a->out);
    qz_cli_json_blas(stdout);
    printf(",\"method\":\"awq\",\"bits\":%d,\"group_size\":%lld,\"zero_point\":%s,\"n_grid\":%d,\"duo_scaling\":%s,"
           "\"clip\":%s,\"sequential\":%s,\"format\":\"%s\",\"scale_only\":%s,\"nsamples\":%lld,\"seqlen\":%lld,\"seed\":%lld,",
           a->o.bits, (long long)a->o.group_size, a->o.zero_point ? "true" : "false", a->o.n_grid,
           a->o.duo_scaling ? "true" : "false", a->o.clip ? "true" : "false", a->o.sequential ? "true" : "false",
           format_name(a), a->o.quantize ? "false" : "true", (long long)a->cal.nsamples, (long long)a->cal.seqlen,
           (long long)a->cal.seed);
    if (a->gguf) printf("\"gguf_params\":\"%s\",", a->o.ggml_ref_params ? "ref" : "weighted");
    qz_cli_json_names(stdout, "modules_not_quantized", fp, n_fp);
    printf(",\"seconds\":%.3f,\"peak_rss_mib\":%.1f}\n", secs, qz_cli_peak_rss_mib());
}

/* The quantization_config of the chosen format (NULL for floating point). */
static cJSON *quant_config(const awq_args *a, const qz_gptq_config *gc, const qz_awq_config *ac, const char **quant, int n_q,
                           const char **fp, int n_fp)
{
    if (a->format == QZ_EXPORT_AWQ) return qz_awq_config_json(ac, fp, n_fp);
    if (a->format == QZ_EXPORT_GPTQ) return qz_gptq_config_json(gc, quant, n_q, fp, n_fp);
    return NULL;
}

static int make_awq(void *ctx, const qz_model *m, int64_t ns, int64_t seqlen, const qz_quant_sink *sink, const qz_method **meth,
                    qz_error *err)
{
    awq_args *a = ctx;
    int rc = qz_awq_new(&a->awq, m, &a->o, ns, seqlen, sink, err);
    if (rc == QZ_OK) *meth = qz_awq_method(a->awq);
    return rc;
}

static void free_awq(void *ctx)
{
    awq_args *a = ctx;
    qz_awq_free(a->awq);
    a->awq = NULL;
}

static int run(qz_cli *c, void *args, qz_model *m, qz_error *err)
{
    awq_args *a = args;
    const char *fp[QZ_LIN_COUNT], *quant[QZ_LIN_COUNT];
    int rc, n_q = 0, n_fp = 0;
    if (a->gguf) {
        /* GGUF: the type fixes the block; the group rule does not apply
         * (qz_cli_gguf_plan falls back per tensor instead, docs/gguf-out.md) */
        if ((rc = qz_cli_gguf_plan(c, &m->cfg, a->gguf_type, a->gguf_map, &a->plan, err))) return rc;
        a->o.ggml_types = a->plan.lin;
    } else {
        if ((rc = qz_cli_resolve_groups(&m->cfg, shape_packable, a, &a->o.group_size, a->allow_partial, err))) return rc;
        n_fp = qz_cli_mark_unpackable(c, &m->cfg, packable, a, a->o.skip, fp, quant, &n_q);
        if (n_q == 0 && a->o.quantize)
            return qz_fail(err, QZ_EINPUT, "no decoder linear of %s can be packed in the %s layout (see the warnings); try --format %s "
                           "or --group-size -1", a->in, format_name(a), a->format == QZ_EXPORT_AWQ ? "gptq" : "awq");
    }
    print_config(c, a);
    qz_gptq_config gc = {a->o.bits, a->o.group_size, !a->o.zero_point, 0, 0, 0, 0.0,
                         a->o.zero_point ? QZ_GPTQ_ZERO_V2 : QZ_GPTQ_ZERO_V1};
    qz_awq_config ac = {a->o.bits, a->o.group_size, a->o.zero_point};
    cJSON *qc = a->gguf ? NULL : quant_config(a, &gc, &ac, quant, n_q, fp, n_fp);
    qz_cli_job job = {.in = a->in, .out = a->out, .force = a->force, .cal = &a->cal, .seqlen = a->cal.seqlen, .format = a->format,
                      .gptq = &gc, .awq = &ac, .gguf = a->gguf && a->o.quantize ? &a->plan : NULL, .quant_config = qc, .make = make_awq,
                      .destroy = free_awq, .ctx = a};
    double t0 = qz_now();
    rc = qz_cli_run_job(c, m, &job, err);
    cJSON_Delete(qc);
    if (a->gguf) qz_gguf_plan_free(&a->plan);
    if (rc == QZ_OK && c->json) print_json(a, fp, n_fp, qz_now() - t0);
    return rc;
}

int main(int argc, char **argv)
{
    qz_cli c;
    qz_cli_init(&c, "qz-awq");
    awq_args a;
    int rc = parse_args(&c, argc, argv, &a);
    return rc ? rc : qz_cli_compress_main(&c, a.in, &a, run);
}
