/* test_inspect.c - artifact inspection (libquant/inspect.h) on small
 * synthetic model directories written here with the format writers
 * (gptq_ckpt.h, awq_pack.h, ct_ckpt.h, safetensors.h): float with planted
 * zeros, GPTQ v1 and v2, AWQ GEMM, compressed-tensors int8 and a
 * sparse-24-bitmask layout, each with and without linears left in FP16.
 *
 * Golden values: the expected bits per weight are computed BY FORMULA from
 * the layout each format specifies (FORMAT.md), never from the files: e.g. a
 * GPTQ linear holds qweight in*out*b bits, qzeros G*out*b, scales G*out*16
 * and g_idx in*32; an FP16 linear out*in*16. Zero counts are the zeros
 * planted. */
#include <string.h>

#include "awq_pack.h"
#include "ct_ckpt.h"
#include "gptq_ckpt.h"
#include "inspect.h"
#include "rng.h"
#include "tests/qz_test.h"

static char g_tmp[256];

/* hidden 64, intermediate 96, 2 layers, 4 heads / 2 KV heads of 16, vocab
 * 128: q (64x64), k, v (32x64), o (64x64), gate, up (96x64), down (64x96);
 * every in and out packs at 2/3/4/8 bits and groups of 32 divide every in. */
static qz_model_config small_config(int tied)
{
    qz_model_config c = {.arch = QZ_ARCH_LLAMA, .hidden = 64, .intermediate = 96, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2,
                         .head_dim = 16, .vocab = 128, .max_position = 64, .rms_eps = 1e-5, .rope_theta = 10000,
                         .tie_embeddings = tied, .bos_id = 1, .eos_id = 2, .torch_dtype = QZ_DTYPE_F16};
    return c;
}

typedef enum { A_FLOAT, A_GPTQ, A_AWQ, A_CT, A_SPARSE24 } art_kind;

typedef struct art {
    art_kind kind;
    int bits;
    int64_t gs;                   /* -1 per channel */
    int sym, desc_act;
    uint8_t fp[QZ_LIN_COUNT];     /* 1: written as an FP16 weight */
    uint8_t listed[QZ_LIN_COUNT]; /* 1: named in the config's not-quantized list */
    int64_t zero_rows;            /* float linears: the first zero_rows rows are exactly 0 (row 0 as -0) */
    int tied;
} art;

static int64_t lin_out(const qz_model_config *c, int id) { return qz_linear_out(c, (qz_linear_id)id); }
static int64_t lin_in(const qz_model_config *c, int id) { return qz_linear_in(c, (qz_linear_id)id); }

/* ------------------------------------------------------------ writing */

static float *randn(qz_rng *r, int64_t n)
{
    float *x = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) x[i] = (float)(0.1 * qz_rng_normal(r));
    return x;
}

static int add_rand(qz_st_writer *w, qz_rng *r, const char *name, int ndim, const int64_t *shape, qz_error *err)
{
    int64_t n = ndim == 1 ? shape[0] : shape[0] * shape[1];
    float *x = randn(r, n);
    int rc = qz_st_writer_add_f32(w, name, x, ndim, shape, QZ_DTYPE_F16, err);
    free(x);
    return rc;
}

static int write_float_linear(qz_st_writer *w, qz_rng *r, const char *prefix, int64_t out, int64_t in, int64_t zero_rows, qz_error *err)
{
    float *x = randn(r, out * in);
    for (int64_t i = 0; i < zero_rows * in; i++) x[i] = i < in ? -0.0f : 0.0f;
    char name[300];
    snprintf(name, sizeof name, "%s.weight", prefix);
    int64_t shape[2] = {out, in};
    int rc = qz_st_writer_add_f32(w, name, x, 2, shape, QZ_DTYPE_F16, err);
    free(x);
    return rc;
}

/* Codes, zeros (z = 2^(b-1)) and scales of one quantized linear. */
typedef struct grid {
    uint8_t *codes; /* (out, in) */
    int32_t *zeros; /* (G, out) */
    float *scales;  /* (G, out) */
    int32_t *g_idx; /* (in) */
    int64_t G;
} grid;

static grid make_grid(qz_rng *r, int64_t out, int64_t in, int bits, int64_t gs)
{
    grid g;
    int64_t size = gs < 0 ? in : gs;
    g.G = in / size;
    g.codes = malloc((size_t)(out * in));
    g.zeros = malloc(sizeof(int32_t) * (size_t)(g.G * out));
    g.scales = malloc(sizeof(float) * (size_t)(g.G * out));
    g.g_idx = malloc(sizeof(int32_t) * (size_t)in);
    for (int64_t i = 0; i < out * in; i++) g.codes[i] = (uint8_t)(qz_rng_next(r) % (1u << bits));
    for (int64_t i = 0; i < g.G * out; i++) g.zeros[i] = 1 << (bits - 1), g.scales[i] = 0.01f;
    for (int64_t k = 0; k < in; k++) g.g_idx[k] = (int32_t)(k / size);
    return g;
}

static void grid_free(grid *g)
{
    free(g->codes), free(g->zeros), free(g->scales), free(g->g_idx);
}

static int write_ct_linear(qz_st_writer *w, const char *prefix, const grid *g, int64_t out, int64_t in, qz_error *err)
{
    int8_t *q = malloc((size_t)(out * in));
    for (int64_t i = 0; i < out * in; i++) q[i] = (int8_t)(g->codes[i] - 128);
    qz_ct_config c = {8, 1, 8, 1};
    int rc = qz_ct_write_linear(w, prefix, q, g->scales, out, in, NULL, QZ_DTYPE_F32, &c, err);
    free(q);
    return rc;
}

/* compressed-tensors sparse-24-bitmask: compressed F16 (out, in/2) holding
 * positions 0 and 2 of every 4 (the first zero_rows rows of them 0),
 * bitmask U8 (out, in/8) = 0x55 (numpy packbits little), shape I64 (2). */
static int write_sparse24_linear(qz_st_writer *w, qz_rng *r, const char *prefix, int64_t out, int64_t in, int64_t zero_rows,
                                 qz_error *err)
{
    float *v = randn(r, out * in / 2);
    for (int64_t i = 0; i < zero_rows * in / 2; i++) v[i] = 0;
    uint8_t *mask = malloc((size_t)(out * in / 8));
    memset(mask, 0x55, (size_t)(out * in / 8));
    int64_t shape[2] = {out, in}, cshape[2] = {out, in / 2}, mshape[2] = {out, in / 8}, sshape[1] = {2};
    char name[300];
    snprintf(name, sizeof name, "%s.compressed", prefix);
    int rc = qz_st_writer_add_f32(w, name, v, 2, cshape, QZ_DTYPE_F16, err);
    snprintf(name, sizeof name, "%s.bitmask", prefix);
    if (rc == QZ_OK) rc = qz_st_writer_add(w, name, QZ_DTYPE_U8, 2, mshape, mask, (size_t)(out * in / 8), err);
    snprintf(name, sizeof name, "%s.shape", prefix);
    if (rc == QZ_OK) rc = qz_st_writer_add(w, name, QZ_DTYPE_I64, 1, sshape, shape, sizeof shape, err);
    free(v), free(mask);
    return rc;
}

static int write_linear(qz_st_writer *w, qz_rng *r, const art *a, const qz_model_config *c, int64_t layer, int id, qz_error *err)
{
    char prefix[200];
    snprintf(prefix, sizeof prefix, "model.layers.%lld.%s", (long long)layer, qz_linear_name((qz_linear_id)id));
    int64_t out = lin_out(c, id), in = lin_in(c, id);
    if (a->kind == A_FLOAT || a->fp[id]) return write_float_linear(w, r, prefix, out, in, a->zero_rows, err);
    if (a->kind == A_SPARSE24) return write_sparse24_linear(w, r, prefix, out, in, a->zero_rows, err);
    grid g = make_grid(r, out, in, a->bits, a->gs);
    int rc;
    if (a->kind == A_GPTQ) {
        qz_gptq_config gc = {a->bits, a->gs, a->sym, a->desc_act, 0, 0, 0.01, a->sym ? QZ_GPTQ_ZERO_V1 : QZ_GPTQ_ZERO_V2};
        rc = qz_gptq_write_linear(w, prefix, g.codes, g.scales, g.zeros, g.g_idx, g.G, out, in, NULL, QZ_DTYPE_F16, &gc, err);
    } else if (a->kind == A_AWQ) {
        qz_awq_config ac = {4, a->gs, 1};
        rc = qz_awq_write_linear(w, prefix, g.codes, g.scales, g.zeros, out, in, NULL, QZ_DTYPE_F16, &ac, err);
    } else {
        rc = write_ct_linear(w, prefix, &g, out, in, err);
    }
    grid_free(&g);
    return rc;
}

static int write_tensors(const char *dir, const art *a, const qz_model_config *c, qz_error *err)
{
    char path[600];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    qz_st_writer *w = NULL;
    qz_rng r;
    qz_rng_seed(&r, 7);
    int64_t emb[2] = {c->vocab, c->hidden}, norm[1] = {c->hidden};
    int rc = qz_st_writer_open(&w, path, err);
    if (rc == QZ_OK) rc = add_rand(w, &r, "model.embed_tokens.weight", 2, emb, err);
    if (rc == QZ_OK && !c->tie_embeddings) rc = add_rand(w, &r, "lm_head.weight", 2, emb, err);
    if (rc == QZ_OK) rc = add_rand(w, &r, "model.norm.weight", 1, norm, err);
    for (int64_t i = 0; i < c->n_layers && rc == QZ_OK; i++) {
        char name[200];
        snprintf(name, sizeof name, "model.layers.%lld.input_layernorm.weight", (long long)i);
        rc = add_rand(w, &r, name, 1, norm, err);
        snprintf(name, sizeof name, "model.layers.%lld.post_attention_layernorm.weight", (long long)i);
        if (rc == QZ_OK) rc = add_rand(w, &r, name, 1, norm, err);
        for (int id = 0; id < QZ_LIN_COUNT && rc == QZ_OK; id++) rc = write_linear(w, &r, a, c, i, id, err);
    }
    if (rc == QZ_OK) rc = qz_st_writer_finish(w, err);
    qz_st_writer_free(w);
    return rc;
}

static cJSON *sparse24_config(const char *const *ignore, int n)
{
    cJSON *q = cJSON_CreateObject(), *s = cJSON_AddObjectToObject(q, "sparsity_config");
    cJSON_AddStringToObject(q, "quant_method", "compressed-tensors");
    cJSON_AddStringToObject(s, "format", "sparse-24-bitmask");
    cJSON_AddStringToObject(s, "sparsity_structure", "2:4");
    cJSON_AddItemToObject(s, "ignore", cJSON_CreateStringArray(ignore, n));
    return q;
}

static cJSON *quant_config(const art *a)
{
    const char *names[QZ_LIN_COUNT + 1], *quant[QZ_LIN_COUNT];
    static char re[QZ_LIN_COUNT][80];
    int n = 0, nq = 0;
    for (int id = 0; id < QZ_LIN_COUNT; id++) {
        if (a->listed[id]) names[n++] = qz_linear_name((qz_linear_id)id);
        else quant[nq++] = qz_linear_name((qz_linear_id)id);
    }
    qz_gptq_config gc = {a->bits, a->gs, a->sym, a->desc_act, 0, 0, 0.01, a->sym ? QZ_GPTQ_ZERO_V1 : QZ_GPTQ_ZERO_V2};
    qz_awq_config ac = {4, a->gs, 1};
    qz_ct_config cc = {8, 1, 8, 1};
    switch (a->kind) {
    case A_GPTQ: return qz_gptq_config_json(&gc, quant, nq, names, n);
    case A_AWQ: return qz_awq_config_json(&ac, names, n);
    case A_CT: names[n++] = "re:.*lm_head"; return qz_ct_config_json(&cc, names, n);
    case A_SPARSE24: /* listed by a regular expression, as compressed-tensors allows */
        for (int i = 0; i < n; i++) snprintf(re[i], sizeof re[i], "re:model[.]layers[.][0-9]+[.]%s$", names[i]), names[i] = re[i];
        return sparse24_config(names, n);
    default: return NULL;
    }
}

/* Writes dir (created) as art a describes. */
static int write_artifact(const char *dir, const art *a)
{
    qz_error err = {0};
    mkdir(dir, 0700);
    qz_model_config c = small_config(a->tied);
    cJSON *j = qz_model_config_to_json(&c), *q = quant_config(a);
    if (q) cJSON_AddItemToObject(j, "quantization_config", q);
    char path[600], *text = cJSON_Print(j);
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    int rc = f && fputs(text, f) >= 0 ? QZ_OK : QZ_EINTERNAL;
    if (f) fclose(f);
    free(text);
    cJSON_Delete(j);
    if (rc == QZ_OK) rc = write_tensors(dir, a, &c, &err);
    if (rc) printf("  cannot write %s: %s\n", dir, err.msg);
    return rc;
}

/* ------------------------------------------------- expected, by formula */

/* Stored bits of one linear in one layer, from the layout FORMAT.md gives. */
static double linear_bits(const art *a, int64_t out, int64_t in, int fp)
{
    int64_t G = a->gs > 0 ? in / a->gs : 1;
    if (a->kind == A_FLOAT || fp) return (double)out * in * 16;
    switch (a->kind) {
    case A_GPTQ: return (double)in * out * a->bits + (double)G * out * a->bits + (double)G * out * 16 + (double)in * 32;
    case A_AWQ: return (double)in * out * 4 + (double)G * out * 4 + (double)G * out * 16;
    case A_CT: return (double)out * in * 8 + (double)out * 32;
    default: return (double)out * in / 2 * 16 + (double)out * in / 8 * 8 + 2 * 64; /* sparse24 */
    }
}

typedef struct expect {
    double bpw_decoder, bpw_file;
    int64_t zero_weights, float_weights;
} expect;

static expect expected(const art *a)
{
    qz_model_config c = small_config(a->tied);
    double lin_bits = 0, weights = 0;
    expect e = {0};
    for (int id = 0; id < QZ_LIN_COUNT; id++) {
        int64_t out = lin_out(&c, id), in = lin_in(&c, id);
        int fp = a->kind == A_FLOAT || a->fp[id], float_stored = fp || a->kind == A_SPARSE24;
        lin_bits += c.n_layers * linear_bits(a, out, in, a->fp[id]);
        weights += (double)(c.n_layers * out * in);
        if (float_stored) e.float_weights += c.n_layers * out * in;
        if (float_stored) e.zero_weights += c.n_layers * a->zero_rows * (fp ? in : in / 2); /* planted zero rows */
        if (a->kind == A_SPARSE24 && !fp) e.zero_weights += c.n_layers * out * in / 2;     /* dropped by the bitmask */
    }
    double other = (double)c.vocab * c.hidden * (a->tied ? 1 : 2) + (double)c.hidden * (2 * c.n_layers + 1);
    e.bpw_decoder = lin_bits / weights;
    e.bpw_file = (lin_bits + other * 16) / (weights + other);
    return e;
}

/* Writes, inspects and checks a against the formula. */
static void check_artifact(const char *tag, const art *a, qz_info_format want_fmt, const char *want_name, qz_info *info)
{
    char dir[400];
    snprintf(dir, sizeof dir, "%s/%s", g_tmp, tag);
    qz_error err = {0};
    memset(info, 0, sizeof *info);
    if (write_artifact(dir, a)) {
        CHECK(0, "%s: artifact not written", tag);
        return;
    }
    int rc = qz_inspect_dir(info, dir, &err);
    CHECK(rc == QZ_OK, "%s: %s", tag, err.msg);
    if (rc) return;
    expect e = expected(a);
    CHECK(info->format == want_fmt, "%s: format %d", tag, info->format);
    CHECK(!strcmp(qz_info_format_name(info), want_name), "%s: format name %s", tag, qz_info_format_name(info));
    CHECK_CLOSE(info->bpw_decoder, e.bpw_decoder, 0, 1e-12);
    CHECK_CLOSE(info->bpw_file, e.bpw_file, 0, 1e-12);
    CHECK(info->zero_weights == e.zero_weights, "%s: %lld zeros, want %lld", tag, (long long)info->zero_weights,
          (long long)e.zero_weights);
    CHECK(info->float_weights == e.float_weights, "%s: %lld float weights, want %lld", tag, (long long)info->float_weights,
          (long long)e.float_weights);
    for (int id = 0; id < QZ_LIN_COUNT; id++) {
        int fp = a->kind == A_FLOAT || a->fp[id];
        CHECK((info->lin[id].layers[QZ_STORE_FLOAT] == 2) == fp, "%s: %s float layers %lld", tag, qz_linear_name((qz_linear_id)id),
              (long long)info->lin[id].layers[QZ_STORE_FLOAT]);
    }
}

/* ------------------------------------------------------------------ tests */

static void test_float_with_zeros(void)
{
    art a = {.kind = A_FLOAT, .zero_rows = 3, .tied = 0};
    qz_info info;
    check_artifact("fp16", &a, QZ_INFO_FLOAT, "fp16", &info);
    CHECK(info.bits == 16 && !info.quantized && info.n_warnings == 0, "bits %d quantized %d warnings %d", info.bits, info.quantized,
          info.n_warnings);
    CHECK_CLOSE(info.bpw_decoder, 16.0, 0, 0);
}

static void test_gptq_4bit_g32_with_fp_module(void)
{
    art a = {.kind = A_GPTQ, .bits = 4, .gs = 32, .sym = 1, .tied = 1, .zero_rows = 2};
    a.fp[QZ_LIN_DOWN] = a.listed[QZ_LIN_DOWN] = 1;
    qz_info info;
    check_artifact("gptq4", &a, QZ_INFO_GPTQ, "gptq", &info);
    CHECK(info.bits == 4 && info.group_size == 32 && info.sym == 1 && info.desc_act == 0, "bits %d gs %lld", info.bits,
          (long long)info.group_size);
    CHECK(info.lin[QZ_LIN_DOWN].listed_layers == 2 && info.n_warnings == 0, "listed %lld warnings %d: %s",
          (long long)info.lin[QZ_LIN_DOWN].listed_layers, info.n_warnings, info.n_warnings ? info.warnings[0] : "");
    /* q_proj alone: 8 * (qweight 64*64/2 + qzeros 2*64/2 + scales 2*64*2 + g_idx 64*4) / 4096 = 5.125 */
    CHECK_CLOSE(8.0 * (double)info.lin[QZ_LIN_Q].bytes / (2 * 64 * 64), 5.125, 0, 1e-12);
}

static void test_gptq_v2_3bit_per_channel_act_order(void)
{
    art a = {.kind = A_GPTQ, .bits = 3, .gs = -1, .sym = 0, .desc_act = 1, .tied = 1};
    qz_info info;
    check_artifact("gptq3", &a, QZ_INFO_GPTQ_V2, "gptq_v2", &info);
    CHECK(info.bits == 3 && info.group_size == -1 && info.sym == 0 && info.desc_act == 1, "bits %d gs %lld sym %d act %d",
          info.bits, (long long)info.group_size, info.sym, info.desc_act);
    CHECK(info.float_weights == 0, "float weights %lld", (long long)info.float_weights);
}

static void test_awq_gemm(void)
{
    art a = {.kind = A_AWQ, .bits = 4, .gs = 32, .tied = 1};
    a.fp[QZ_LIN_GATE] = a.listed[QZ_LIN_GATE] = 1;
    qz_info info;
    check_artifact("awq", &a, QZ_INFO_AWQ_GEMM, "awq_gemm", &info);
    CHECK(info.bits == 4 && info.group_size == 32 && info.sym == 0 && info.n_warnings == 0, "bits %d gs %lld sym %d warn %d",
          info.bits, (long long)info.group_size, info.sym, info.n_warnings);
}

static void test_ct_int8(void)
{
    art a = {.kind = A_CT, .bits = 8, .gs = -1, .tied = 0};
    qz_info info;
    check_artifact("ct", &a, QZ_INFO_CT_INT, "ct_int_quantized", &info);
    CHECK(info.bits == 8 && info.group_size == -1 && info.n_warnings == 0, "bits %d gs %lld warn %d", info.bits,
          (long long)info.group_size, info.n_warnings);
}

static void test_sparse24(void)
{
    art a = {.kind = A_SPARSE24, .zero_rows = 1, .tied = 1};
    a.fp[QZ_LIN_K] = a.listed[QZ_LIN_K] = 1;
    qz_info info;
    check_artifact("sparse24", &a, QZ_INFO_CT_SPARSE24, "ct_sparse24_bitmask", &info);
    CHECK(info.bits == 16 && info.n_warnings == 0, "bits %d warnings %d", info.bits, info.n_warnings);
    CHECK(info.lin[QZ_LIN_Q].layers[QZ_STORE_SPARSE24] == 2, "q_proj not sparse24");
}

/* Storage and config lists disagreeing: warnings, not errors. */
static void test_list_mismatch_warns(void)
{
    art a = {.kind = A_GPTQ, .bits = 4, .gs = 32, .sym = 1, .tied = 1};
    a.fp[QZ_LIN_UP] = 1;     /* float, not listed */
    a.listed[QZ_LIN_O] = 1;  /* listed, but packed */
    qz_info info;
    check_artifact("mismatch", &a, QZ_INFO_GPTQ, "gptq", &info);
    CHECK(info.n_warnings == 2, "%d warnings", info.n_warnings);
    CHECK(info.n_warnings > 0 && strstr(info.warnings[0], "self_attn.o_proj: listed"), "%s", info.warnings[0]);
    CHECK(info.n_warnings > 1 && strstr(info.warnings[1], "mlp.up_proj: stored in floating point in 2 of 2"), "%s", info.warnings[1]);
}

static void test_json_and_text(void)
{
    art a = {.kind = A_GPTQ, .bits = 8, .gs = 32, .sym = 1, .tied = 1};
    a.fp[QZ_LIN_V] = a.listed[QZ_LIN_V] = 1;
    qz_info info;
    check_artifact("json", &a, QZ_INFO_GPTQ, "gptq", &info);
    cJSON *j = qz_inspect_json(&info, "some/dir");
    CHECK(j != NULL, "no json");
    if (!j) return;
    const cJSON *fp = cJSON_GetObjectItem(j, "fp_modules"), *lin = cJSON_GetObjectItem(j, "linears");
    CHECK(cJSON_GetArraySize(fp) == 1 && !strcmp(cJSON_GetArrayItem(fp, 0)->valuestring, "self_attn.v_proj"), "fp_modules");
    CHECK(cJSON_GetArraySize(lin) == QZ_LIN_COUNT, "linears");
    CHECK(cJSON_GetObjectItem(j, "bits")->valueint == 8 && cJSON_GetObjectItem(j, "group_size")->valueint == 32, "bits/gs");
    CHECK(!strcmp(cJSON_GetObjectItem(j, "format")->valuestring, "gptq"), "format");
    CHECK(cJSON_GetObjectItem(j, "bpw_decoder")->valuedouble == info.bpw_decoder, "bpw_decoder");
    CHECK(cJSON_IsNumber(cJSON_GetObjectItem(j, "sparsity")), "sparsity");
    cJSON_Delete(j);
    char *t = qz_inspect_text(&info, "some/dir");
    CHECK(t && strstr(t, "format gptq (quant_method gptq): 8-bit, group 32") && strstr(t, "left in floating point: self_attn.v_proj\n"),
          "text: %s", t ? t : "(null)");
    free(t);
}

static void expect_input_error(const char *dir, const char *want)
{
    qz_info info;
    qz_error err = {0};
    int rc = qz_inspect_dir(&info, dir, &err);
    CHECK(rc == QZ_EINPUT && strstr(err.msg, want), "%s: rc %d: %s", dir, rc, err.msg);
}

static void test_errors(void)
{
    char dir[400], cmd[900];
    expect_input_error("/nonexistent/qz", "not a model directory");
    snprintf(dir, sizeof dir, "%s/empty", g_tmp);
    mkdir(dir, 0700);
    expect_input_error(dir, "config.json: cannot open");
    /* a linear without any weight tensor: drop q_proj's tensors by renaming them in the header */
    art a = {.kind = A_FLOAT, .tied = 1};
    snprintf(dir, sizeof dir, "%s/noweight", g_tmp);
    if (write_artifact(dir, &a)) return;
    snprintf(cmd, sizeof cmd, "sed -i 's/model.layers.1.self_attn.q_proj.weight/model.layers.1.self_attn.q_proj.weigh_/g' '%s/model.safetensors'",
             dir);
    CHECK(system(cmd) == 0, "sed");
    expect_input_error(dir, "decoder linear 'model.layers.1.self_attn.q_proj' has no weight tensor");
}

int main(void)
{
    qzt_tmpdir(g_tmp, sizeof g_tmp, "inspect");
    QZ_RUN(test_float_with_zeros);
    QZ_RUN(test_gptq_4bit_g32_with_fp_module);
    QZ_RUN(test_gptq_v2_3bit_per_channel_act_order);
    QZ_RUN(test_awq_gemm);
    QZ_RUN(test_ct_int8);
    QZ_RUN(test_sparse24);
    QZ_RUN(test_list_mismatch_warns);
    QZ_RUN(test_json_and_text);
    QZ_RUN(test_errors);
    qzt_rmdir(g_tmp);
    QZ_TEST_EXIT();
}
