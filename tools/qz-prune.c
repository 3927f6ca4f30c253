/* qz-prune - magnitude, Wanda, SparseGPT (optionally with joint GPTQ
 * quantization) and structured pruning of a Hugging Face checkpoint, one
 * decoder layer at a time. */
#include "cli.h"
#include "export.h"
#include "prune.h"

#include <getopt.h>
#include <string.h>

#define DEFAULT_NSAMPLES 128

static void usage(void)
{
    printf("usage: qz-prune IN_DIR OUT_DIR --method M [options]\n"
           "\n"
           "Prunes every decoder linear of IN_DIR (llama/mistral/qwen2, F32/F16/BF16) and writes a checkpoint\n"
           "in the input's dtype with the zeros in place (or, for structured, a smaller dense model).\n"
           "\n"
           "options:\n"
           "  --method M            magnitude | wanda | sparsegpt | structured (required)\n"
           "  --sparsity S          fraction of weights pruned, in [0, 1) (default 0.5; unstructured only)\n"
           "  --pattern P           unstructured (default) or N:M: N of every M consecutive input weights\n"
           "                        of a row are PRUNED (2:4 and 4:8 prune half; 1:4 prunes a quarter)\n"
           "  --scope S             where --sparsity is counted: layer (one threshold per matrix; magnitude's\n"
           "                        default), row (per output row; wanda's default) or global (one threshold\n"
           "                        over every decoder linear; magnitude only)\n"
           "  --heads K             structured: attention heads kept per layer (a multiple of the query\n"
           "                        heads per KV head; default all)\n"
           "  --ffn-keep F          structured: fraction of FFN channels kept, (0, 1] (default 1)\n"
           "  --bits B              sparsegpt: quantize jointly to 2, 3, 4 or 8 bits, GPTQ checkpoint (default off)\n"
           "  --group-size G        with --bits: columns per group, -1, or auto (default 128; see qz-gptq)\n"
           "  --allow-partial-groups  with --bits: allow a group that does not divide in_features\n"
           "  --sym | --asym        with --bits: symmetric (default) or asymmetric grid\n"
           "  --damp D              sparsegpt: relative Hessian damping (default 0.01)\n"
           "  --block-size N        sparsegpt: columns per mask/update block (default 128)\n"
           "  --format F            dense (default), compressed-tensors (2:4 only: dense weights with\n"
           "                        a 2:4 sparsity_config) or sparse-24-bitmask (2:4 only: the legacy\n"
           "                        compressed layout, for vLLM versions that need it)\n"
           QZ_CLI_CALIB_HELP(QZ_CLI_XSTR(DEFAULT_NSAMPLES))
           "                        (wanda, sparsegpt and structured need --calib; magnitude needs none)\n"
           "  --seqlen N            tokens per window (default min(2048, max_position_embeddings))\n"
           "  --force               replace OUT_DIR if it exists\n"
           QZ_CLI_COMMON_HELP
           "\nexamples:\n"
           "  qz-prune model/ out/wanda50 --method wanda --sparsity 0.5 --calib calib.txt\n"
           "  qz-prune model/ out/sgpt24 --method sparsegpt --pattern 2:4 --calib calib.txt --bits 4\n"
           "  qz-prune model/ out/small --method structured --heads 6 --ffn-keep 0.75 --calib calib.txt\n");
}

typedef struct module_stat {
    double sparsity;   /* zeros / written weights; structured: fraction removed */
    int64_t out, in;   /* written shape */
} module_stat;

typedef struct {
    const char *in, *out;
    qz_cli_calib cal;
    qz_prune_opts p;
    qz_quant_opts q;     /* sparsegpt */
    int scope_set, bits, heads_set, ffn_set, force;
    int ct_format;       /* --format: 0 dense, CT_DENSE24 or CT_BITMASK24 */
    int allow_partial; /* --allow-partial-groups */
    qz_pruner *pruner;   /* while running */
    qz_quantizer *quantizer;
    module_stat *stats;  /* (n_layers, QZ_LIN_COUNT) */
    int64_t zeros, params; /* decoder zeros so far; every parameter of the model */
    cJSON *sparse24_qc;  /* --format compressed-tensors / sparse-24-bitmask: its global_sparsity is kept current */
} prune_args;

enum { CT_DENSE24 = 1, CT_BITMASK24 = 2 };
static const char *const format_names[] = {"dense", "compressed-tensors", "sparse-24-bitmask"};

/* What OUT holds, for the configuration line and the JSON. */
static const char *output_format(const prune_args *a)
{
    if (a->ct_format) return a->ct_format == CT_DENSE24 ? "compressed-tensors dense 2:4" : "compressed-tensors sparse-24-bitmask";
    return a->bits ? "gptq" : "dense";
}

static int parse_method(qz_cli *c, const char *s, qz_quant_method *m)
{
    static const qz_quant_method methods[] = {QZ_QUANT_MAGNITUDE, QZ_QUANT_WANDA, QZ_QUANT_SPARSEGPT, QZ_QUANT_STRUCTURED};
    for (size_t i = 0; i < sizeof methods / sizeof *methods; i++)
        if (!strcmp(s, qz_quant_method_name(methods[i]))) {
            *m = methods[i];
            return 0;
        }
    return qz_cli_usage_error(c, "--method '%s': expected magnitude, wanda, sparsegpt or structured", s);
}

static int parse_pattern(qz_cli *c, const char *s, prune_args *a)
{
    int n, m, len = 0;
    if (!strcmp(s, "unstructured")) a->p.prune_n = a->p.prune_m = 0;
    else if (sscanf(s, "%d:%d%n", &n, &m, &len) == 2 && s[len] == 0 && n > 0 && n < m && m <= 256) a->p.prune_n = n, a->p.prune_m = m;
    else return qz_cli_usage_error(c, "--pattern '%s': expected unstructured or N:M with 0 < N < M <= 256", s);
    return 0;
}

static int parse_scope(qz_cli *c, const char *s, prune_args *a)
{
    for (int i = 0; i < QZ_PRUNE_SCOPE_COUNT; i++)
        if (!strcmp(s, qz_prune_scope_name((qz_prune_scope)i))) {
            a->p.scope = (qz_prune_scope)i;
            a->scope_set = 1;
            return 0;
        }
    return qz_cli_usage_error(c, "--scope '%s': expected layer, row or global", s);
}

static int parse_format(qz_cli *c, const char *s, prune_args *a)
{
    for (int i = 0; i < (int)(sizeof format_names / sizeof *format_names); i++)
        if (!strcmp(s, format_names[i])) {
            a->ct_format = i;
            return 0;
        }
    return qz_cli_usage_error(c, "--format '%s': expected dense, compressed-tensors or sparse-24-bitmask", s);
}

/* Flag combinations that cannot work, whatever the model. */
static int check_args(qz_cli *c, prune_args *a)
{
    qz_quant_method m = a->p.method;
    if (m == QZ_QUANT_METHOD_COUNT) return qz_cli_usage_error(c, "--method is required (magnitude, wanda, sparsegpt or structured)");
    if (m != QZ_QUANT_MAGNITUDE && a->cal.n_paths == 0) return qz_cli_usage_error(c, "--calib FILE is required for --method %s", qz_quant_method_name(m));
    if (!(a->p.sparsity >= 0 && a->p.sparsity < 1)) return qz_cli_usage_error(c, "--sparsity %g: must be in [0, 1)", a->p.sparsity);
    if (a->scope_set && (m == QZ_QUANT_SPARSEGPT || m == QZ_QUANT_STRUCTURED))
        return qz_cli_usage_error(c, "--scope: not for %s (sparsegpt chooses its mask per %d-column block)", qz_quant_method_name(m),
                                  a->q.sparsegpt.gptq.block_size);
    if (a->scope_set && a->p.prune_m) return qz_cli_usage_error(c, "--scope: an N:M pattern is always per row");
    if (a->bits && m != QZ_QUANT_SPARSEGPT) return qz_cli_usage_error(c, "--bits: joint quantization is for --method sparsegpt (else prune, then qz-gptq --keep-sparsity)");
    if ((a->heads_set || a->ffn_set) != (m == QZ_QUANT_STRUCTURED))
        return qz_cli_usage_error(c, m == QZ_QUANT_STRUCTURED ? "--method structured needs --heads K and/or --ffn-keep F"
                                                              : "--heads and --ffn-keep are for --method structured");
    if (m == QZ_QUANT_STRUCTURED && a->p.prune_m) return qz_cli_usage_error(c, "--pattern: not for --method structured");
    if (a->ct_format && (a->p.prune_n != 2 || a->p.prune_m != 4 || a->bits))
        return qz_cli_usage_error(c, "--format %s: a 2:4 sparsity_config needs --pattern 2:4 and no --bits", format_names[a->ct_format]);
    if (!a->scope_set) a->p.scope = m == QZ_QUANT_WANDA ? QZ_PRUNE_SCOPE_ROW : QZ_PRUNE_SCOPE_LAYER;
    return 0;
}

static int parse_args(qz_cli *c, int argc, char **argv, prune_args *a)
{
    enum { O_METHOD = 256, O_SPARSITY, O_PATTERN, O_SCOPE, O_HEADS, O_FFN, O_BITS, O_GS, O_SYM, O_ASYM, O_DAMP, O_BLOCK, O_FORMAT, O_FORCE, O_PARTIAL };
    static const struct option opts[] = {
        {"method", 1, 0, O_METHOD}, {"sparsity", 1, 0, O_SPARSITY}, {"pattern", 1, 0, O_PATTERN}, {"scope", 1, 0, O_SCOPE},
        {"heads", 1, 0, O_HEADS}, {"ffn-keep", 1, 0, O_FFN}, {"bits", 1, 0, O_BITS}, {"group-size", 1, 0, O_GS},
        {"sym", 0, 0, O_SYM}, {"asym", 0, 0, O_ASYM}, {"damp", 1, 0, O_DAMP}, {"block-size", 1, 0, O_BLOCK},
        {"format", 1, 0, O_FORMAT}, {"force", 0, 0, O_FORCE}, {"allow-partial-groups", 0, 0, O_PARTIAL}, QZ_CLI_CALIB_OPTIONS, QZ_CLI_COMMON_OPTIONS, {0, 0, 0, 0}};
    memset(a, 0, sizeof *a);
    a->p.method = QZ_QUANT_METHOD_COUNT;
    a->p.sparsity = 0.5;
    a->p.ffn_keep = 1.0;
    a->p.keep_heads = -1; /* all, resolved with the model */
    a->q.sparsegpt = qz_sparsegpt_opts_default();
    a->q.sparsegpt.gptq.group_size = 128;
    a->q.sparsegpt.gptq.sym = 1;
    a->cal.nsamples = DEFAULT_NSAMPLES;
    opterr = 0;
    int ch, rc = 0;
    int64_t v;
    double d;
    qz_gptq_opts *g = &a->q.sparsegpt.gptq;
    while (rc == 0 && (ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case O_METHOD: rc = parse_method(c, optarg, &a->p.method); break;
        case O_SPARSITY: rc = qz_cli_real(c, "--sparsity", optarg, 0.0, 1.0, &a->p.sparsity); break;
        case O_PATTERN: rc = parse_pattern(c, optarg, a); break;
        case O_SCOPE: rc = parse_scope(c, optarg, a); break;
        case O_HEADS: rc = qz_cli_int(c, "--heads", optarg, 1, INT32_MAX, &a->p.keep_heads); a->heads_set = 1; break;
        case O_FFN: rc = qz_cli_real(c, "--ffn-keep", optarg, 1e-9, 1.0, &a->p.ffn_keep); a->ffn_set = 1; break;
        case O_BITS:
            rc = qz_cli_int(c, "--bits", optarg, 2, 8, &v);
            if (rc == 0 && v != 2 && v != 3 && v != 4 && v != 8) rc = qz_cli_usage_error(c, "--bits %lld: expected 2, 3, 4 or 8", (long long)v);
            a->bits = (int)v;
            break;
        case O_GS:
            rc = qz_cli_group_size(c, optarg, &g->group_size);
            break;
        case O_PARTIAL: a->allow_partial = 1; break;
        case O_SYM: g->sym = 1; break;
        case O_ASYM: g->sym = 0; break;
        case O_DAMP: rc = qz_cli_real(c, "--damp", optarg, 1e-9, 1e3, &d); g->damp = d; break;
        case O_BLOCK: rc = qz_cli_int(c, "--block-size", optarg, 1, 1 << 20, &v); g->block_size = (int)v; break;
        case O_FORMAT: rc = parse_format(c, optarg, a); break;
        case O_FORCE: a->force = 1; break;
        default:
            if (!qz_cli_calib_option(c, ch, optarg, &a->cal, &rc)) rc = qz_cli_common_option(c, ch, argv, usage);
        }
    }
    if (rc || (rc = qz_cli_in_out(c, argc, argv, a->force, &a->in, &a->out))) return rc;
    return check_args(c, a);
}

static void pattern_str(const prune_args *a, char *buf, size_t cap)
{
    if (a->p.prune_m) snprintf(buf, cap, "%d:%d", a->p.prune_n, a->p.prune_m);
    else snprintf(buf, cap, "unstructured");
}

static void print_config(const qz_cli *c, const prune_args *a, int64_t seqlen)
{
    if (c->quiet) return;
    char pat[32];
    pattern_str(a, pat, sizeof pat);
    fprintf(stderr, "%s: %s -> %s: method %s", c->tool, a->in, a->out, qz_quant_method_name(a->p.method));
    if (a->p.method == QZ_QUANT_STRUCTURED)
        fprintf(stderr, ", heads kept %lld, ffn kept %g", (long long)a->p.keep_heads, a->p.ffn_keep);
    else fprintf(stderr, ", sparsity %g, pattern %s, scope %s", a->p.sparsity, pat,
                 a->p.method == QZ_QUANT_SPARSEGPT ? "block" : qz_prune_scope_name(a->p.scope));
    if (a->bits) fprintf(stderr, ", joint %d-bit group %lld %s", a->bits, (long long)a->q.sparsegpt.gptq.group_size, a->q.sparsegpt.gptq.sym ? "sym" : "asym");
    if (a->p.method != QZ_QUANT_MAGNITUDE)
        fprintf(stderr, ", nsamples %lld x seqlen %lld, seed %lld", (long long)a->cal.nsamples, (long long)seqlen, (long long)a->cal.seed);
    fprintf(stderr, ", format %s\n", output_format(a));
}

static void on_layer(void *ctx, const qz_layer *L, const qz_module_report rep[QZ_LIN_COUNT])
{
    prune_args *a = ctx;
    for (int id = 0; id < QZ_LIN_COUNT; id++) {
        const qz_linear *l = &L->lin[id];
        int64_t z = qz_count_zeros(l->w, l->out * l->in);
        a->zeros += z;
        module_stat *s = &a->stats[L->index * QZ_LIN_COUNT + id];
        *s = (module_stat){a->p.method == QZ_QUANT_STRUCTURED ? rep[id].sparsity : (double)z / (double)(l->out * l->in), l->out, l->in};
    }
    if (a->sparse24_qc) /* zeros of the decoder linears over every parameter (llm-compressor's global_sparsity) */
        cJSON_SetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(a->sparse24_qc, "sparsity_config"), "global_sparsity"),
                             (double)a->zeros / (double)a->params);
}

static void print_json(const prune_args *a, const qz_model_config *cfg, int64_t seqlen, const char *format, double secs)
{
    char pat[32];
    pattern_str(a, pat, sizeof pat);
    int structured = a->p.method == QZ_QUANT_STRUCTURED;
    printf("{\"input\":");
    qz_cli_json_string(stdout, a->in);
    printf(",\"output\":");
    qz_cli_json_string(stdout, a->out);
    qz_cli_json_blas(stdout);
    printf(",\"method\":\"%s\",\"sparsity\":%g,\"pattern\":\"%s\",\"scope\":\"%s\",", qz_quant_method_name(a->p.method),
           structured || a->p.prune_m ? -1.0 : a->p.sparsity, structured ? "structured" : pat,
           a->p.method == QZ_QUANT_SPARSEGPT ? "block" : qz_prune_scope_name(a->p.scope));
    if (structured) printf("\"heads_kept\":%lld,\"ffn_keep\":%g,", (long long)a->p.keep_heads, a->p.ffn_keep);
    printf("\"bits\":%d,\"group_size\":%lld,\"format\":\"%s\",\"nsamples\":%lld,\"seqlen\":%lld,\"seed\":%lld,\"modules\":[", a->bits,
           a->bits ? (long long)a->q.sparsegpt.gptq.group_size : 0LL, format, a->p.method == QZ_QUANT_MAGNITUDE ? 0LL : (long long)a->cal.nsamples,
           a->p.method == QZ_QUANT_MAGNITUDE ? 0LL : (long long)seqlen, (long long)a->cal.seed);
    double zeros = 0, before = 0, after = 0;
    for (int64_t l = 0; l < cfg->n_layers; l++)
        for (int id = 0; id < QZ_LIN_COUNT; id++) {
            const module_stat *s = &a->stats[l * QZ_LIN_COUNT + id];
            double n = (double)(s->out * s->in), n0 = (double)(qz_linear_out(cfg, (qz_linear_id)id) * qz_linear_in(cfg, (qz_linear_id)id));
            zeros += structured ? 0 : s->sparsity * n;
            before += n0;
            after += n;
            printf("%s{\"layer\":%lld,\"module\":\"%s\",\"%s\":%.6f,\"shape\":[%lld,%lld]}", l || id ? "," : "", (long long)l,
                   qz_linear_name((qz_linear_id)id), structured ? "removed" : "sparsity", s->sparsity, (long long)s->out, (long long)s->in);
        }
    printf("],\"decoder_weights_before\":%.0f,\"decoder_weights_after\":%.0f,\"actual_sparsity\":%.6f,\"seconds\":%.3f,\"peak_rss_mib\":%.1f}\n",
           before, after, structured ? 1.0 - after / before : zeros / after, secs, qz_cli_peak_rss_mib());
}

static int make_method(void *ctx, const qz_model *m, int64_t ns, int64_t seqlen, const qz_quant_sink *sink, const qz_method **meth,
                       qz_error *err)
{
    (void)ns, (void)seqlen;
    prune_args *a = ctx;
    int rc;
    if (a->p.method == QZ_QUANT_SPARSEGPT) {
        rc = qz_quantizer_new(&a->quantizer, &m->cfg, &a->q, sink, err);
        if (rc == QZ_OK) *meth = qz_quantizer_method(a->quantizer);
    } else {
        rc = qz_pruner_new(&a->pruner, &m->cfg, &a->p, sink, err);
        if (rc == QZ_OK) *meth = qz_pruner_method(a->pruner);
    }
    return rc;
}

static void free_method(void *ctx)
{
    prune_args *a = ctx;
    qz_pruner_free(a->pruner);
    qz_quantizer_free(a->quantizer);
    a->pruner = NULL;
    a->quantizer = NULL;
}

static int gptq_packable(int64_t out, int64_t in, const void *bits, qz_error *err)
{
    return qz_gptq_pack_check(out, in, *(const int *)bits, err);
}

/* The model-dependent part of the options: sparsegpt's quantizer options,
 * the heads default, the global threshold. */
static int resolve(qz_cli *c, prune_args *a, qz_model *m, qz_error *err)
{
    if (a->p.keep_heads < 0) a->p.keep_heads = m->cfg.n_heads;
    a->q.method = QZ_QUANT_SPARSEGPT;
    a->q.sparsegpt.sparsity = a->p.prune_m ? 0.0 : a->p.sparsity;
    a->q.sparsegpt.prune_n = a->p.prune_n;
    a->q.sparsegpt.prune_m = a->p.prune_m;
    a->q.sparsegpt.gptq.bits = a->bits;
    int rc = qz_prune_check(&a->p, &m->cfg, err);
    if (rc == QZ_OK && a->p.scope == QZ_PRUNE_SCOPE_GLOBAL) {
        if (!c->quiet) fprintf(stderr, "%s: scope global: two passes over the decoder weights for the threshold\n", c->tool);
        rc = qz_prune_global_threshold(m, a->p.sparsity, &a->p.global, err);
    }
    a->params = qz_model_param_count(&m->cfg);
    if (rc == QZ_OK && !(a->stats = qz_calloc_array((size_t)(m->cfg.n_layers * QZ_LIN_COUNT), sizeof *a->stats)))
        rc = qz_fail(err, QZ_EINTERNAL, "out of memory");
    return rc;
}

/* The sparse-24-bitmask quantization_config: the decoder linears written
 * compressed (as qz_export_sparse24_ok says) as targets, the rest ignored;
 * global_sparsity is filled in by on_layer as the layers are written. */
static int sparse24_config(const qz_cli *c, prune_args *a, const qz_model_config *cfg, cJSON **qc, qz_error *err)
{
    int64_t n = cfg->n_layers * QZ_LIN_COUNT;
    char(*names)[96] = qz_malloc_array((size_t)n, sizeof *names);
    const char **comp = qz_malloc_array((size_t)n, sizeof *comp), **dense = qz_malloc_array((size_t)n, sizeof *dense);
    int n_c = 0, n_d = 0, rc = names && comp && dense ? QZ_OK : qz_fail(err, QZ_EINTERNAL, "out of memory");
    for (int64_t i = 0; rc == QZ_OK && i < n; i++) {
        qz_linear_id id = (qz_linear_id)(i % QZ_LIN_COUNT);
        snprintf(names[i], sizeof names[i], "model.layers.%lld.%s", (long long)(i / QZ_LIN_COUNT), qz_linear_name(id));
        if (qz_export_sparse24_ok(cfg, id)) comp[n_c++] = names[i];
        else dense[n_d++] = names[i];
    }
    if (rc == QZ_OK && n_c == 0)
        rc = qz_fail(err, QZ_EINPUT, "--format %s: no decoder linear has a shape vLLM's 2:4 kernel holds "
                                     "(out and in multiples of 8, also for q/k/v and gate/up together)", format_names[a->ct_format]);
    for (int id = 0; rc == QZ_OK && id < QZ_LIN_COUNT; id++)
        if (!qz_export_sparse24_ok(cfg, (qz_linear_id)id))
            qz_cli_warn(c, "%s is %s (pruned 2:4, but vLLM's 2:4 kernel needs out and in multiples of 8 for it and "
                           "the linears fused with it)", qz_linear_name((qz_linear_id)id),
                        a->ct_format == CT_BITMASK24 ? "written dense" : "listed in sparsity_config.ignore");
    if (rc == QZ_OK) *qc = a->sparse24_qc = qz_sparse24_config_json(a->ct_format == CT_BITMASK24, 0.0, comp, n_c, dense, n_d);
    free(names);
    free(comp);
    free(dense);
    return rc;
}

static int run(qz_cli *c, void *args, qz_model *m, qz_error *err)
{
    prune_args *a = args;
    int64_t maxpos = m->cfg.max_position, seqlen = a->cal.seqlen ? a->cal.seqlen : (maxpos < 2048 ? maxpos : 2048);
    int rc = resolve(c, a, m, err);
    if (rc == QZ_OK && a->bits)
        rc = qz_cli_resolve_groups(&m->cfg, gptq_packable, &a->bits, &a->q.sparsegpt.gptq.group_size, a->allow_partial, err);
    if (rc) return rc;
    const char *fp[QZ_LIN_COUNT], *quant[QZ_LIN_COUNT];
    int n_q = 0, n_fp = a->bits ? qz_cli_mark_unpackable(c, &m->cfg, gptq_packable, &a->bits, a->q.skip, fp, quant, &n_q) : 0;
    if (a->bits && n_q == 0)
        return qz_fail(err, QZ_EINPUT, "no decoder linear of %s can be packed in the GPTQ layout at %d bits (see the warnings); "
                       "try --bits 8, or leave out --bits", a->in, a->bits);
    print_config(c, a, seqlen);
    const qz_gptq_opts *g = &a->q.sparsegpt.gptq;
    qz_gptq_config gc = {a->bits, g->group_size, g->sym, 0, 0, 0, g->damp, g->sym ? QZ_GPTQ_ZERO_V1 : QZ_GPTQ_ZERO_V2};
    qz_export_format format = a->ct_format == CT_BITMASK24 ? QZ_EXPORT_SPARSE24 : a->bits ? QZ_EXPORT_GPTQ : QZ_EXPORT_FP;
    cJSON *qc = NULL;
    if (a->ct_format) rc = sparse24_config(c, a, &m->cfg, &qc, err);
    else if (a->bits) qc = qz_gptq_config_json(&gc, quant, n_q, fp, n_fp);
    if (rc) return rc;
    cJSON *patch = a->p.method == QZ_QUANT_STRUCTURED ? qz_prune_config_patch(&a->p, &m->cfg) : NULL;
    qz_cli_job job = {.in = a->in, .out = a->out, .force = a->force, .cal = a->p.method == QZ_QUANT_MAGNITUDE ? NULL : &a->cal,
                      .seqlen = seqlen, .format = format, .gptq = &gc, .quant_config = qc, .config_patch = patch,
                      .make = make_method, .destroy = free_method, .on_layer = on_layer, .ctx = a};
    double t0 = qz_now();
    rc = qz_cli_run_job(c, m, &job, err);
    cJSON_Delete(qc);
    cJSON_Delete(patch);
    if (rc == QZ_OK && c->json)
        print_json(a, &m->cfg, seqlen, output_format(a), qz_now() - t0);
    free(a->stats);
    return rc;
}

int main(int argc, char **argv)
{
    qz_cli c;
    qz_cli_init(&c, "qz-prune");
    prune_args a;
    int rc = parse_args(&c, argc, argv, &a);
    if (rc == 0 && a.p.method == QZ_QUANT_MAGNITUDE && a.cal.n_paths) qz_cli_warn(&c, "magnitude pruning needs no calibration: --calib ignored");
    return rc ? rc : qz_cli_compress_main(&c, a.in, &a, run);
}
