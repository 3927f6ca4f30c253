/* test_sparse24.c - compressed-tensors sparse-24-bitmask (formats/sparse24.h).
 *
 * Golden values: the .qzfx files in tests/fixtures/sparse24, written once by
 * scripts/gen_sparse24_fixture.py (an independent numpy implementation of
 * the compressed-tensors compressor and numpy.packbits(bitorder="little")).
 * The writer's safetensors bytes must equal them exactly in F32, F16 and
 * BF16; round trips are exact; bad weights and corrupted files are refused;
 * a synthetic model written sparse loads back through qz_model_open /
 * qz_layer_load as exactly the dense 2:4 weights.
 */
#include "model.h"
#include "rng.h"
#include "sparse24.h"
#include "synth.h"

#include "tests/qz_test.h"
#include "tests/qz_fixture.h"

static char g_tmp[256];

static qz_st_tensor *file_find(void *f, const char *name) { return qz_st_find(f, name); }

/* w (out, in) 2:4 with random patterns: per group 2, 1 or 0 nonzeros, values
 * rounded to dt; zeros are +0. */
static void random_24(float *w, int64_t out, int64_t in, qz_dtype dt, uint64_t seed)
{
    qz_rng r;
    qz_rng_seed(&r, seed);
    memset(w, 0, (size_t)(out * in) * sizeof *w);
    for (int64_t i = 0; i < out * in; i += 4) {
        uint64_t kind = qz_rng_below(&r, 6), a = qz_rng_below(&r, 4), b = (a + 1 + qz_rng_below(&r, 3)) % 4;
        if (kind >= 1) w[i + a] = (float)qz_rng_normal(&r);
        if (kind >= 2) w[i + b] = (float)qz_rng_normal(&r);
    }
    qz_dtype_round_f32(w, out * in, dt);
}

/* Writes one linear "m" (bias optional) to path; the writer's status. */
static int write_one(const char *path, const float *w, int64_t out, int64_t in, const float *bias, qz_dtype dt, qz_error *err)
{
    qz_st_writer *st;
    int rc = qz_st_writer_open(&st, path, err);
    if (rc == QZ_OK) rc = qz_sparse24_write_linear(st, "m", w, out, in, bias, dt, err);
    if (rc == QZ_OK) rc = qz_st_writer_finish(st, err);
    qz_st_writer_free(st);
    return rc;
}

static void check_bytes(const qz_st_file *f, const char *name, qz_dtype dt, const void *want, size_t n)
{
    const qz_st_tensor *t = qz_st_find(f, name);
    CHECK(t && t->dtype == dt && t->nbytes == n, "%s: missing, or dtype/size differ", name);
    if (t && t->nbytes == n) CHECK(memcmp(t->data, want, n) == 0, "%s: bytes differ from the fixture", name);
}

/* ------------------------------------------------------------ fixtures */

static void fixture_case(const char *name)
{
    fx_file fx;
    if (fx_open(&fx, name)) return;
    fx_array *W = fx_get(&fx, "W", "f32"), *C = fx_get(&fx, "compressed", "f32"), *C16 = fx_get(&fx, "compressed_f16", "u8"),
             *CB = fx_get(&fx, "compressed_bf16", "u8"), *B = fx_get(&fx, "bitmask", "u8");
    if (!W || !C || !C16 || !CB || !B) {
        CHECK(0, "%s: fixture incomplete", name);
        fx_free(&fx);
        return;
    }
    int64_t out = W->dims[0], in = W->dims[1];
    const qz_dtype dts[3] = {QZ_DTYPE_F32, QZ_DTYPE_F16, QZ_DTYPE_BF16};
    const void *want[3] = {C->data, C16->data, CB->data};
    char path[300];
    snprintf(path, sizeof path, "%s/fx_%s.safetensors", g_tmp, name);
    float *back = malloc(sizeof(float) * (size_t)(out * in));
    for (int d = 0; d < 3; d++) {
        qz_error err = {0};
        qz_st_file *f = NULL;
        int rc = write_one(path, W->data, out, in, NULL, dts[d], &err);
        if (rc == QZ_OK) rc = qz_st_open(&f, path, &err);
        CHECK(rc == QZ_OK, "%s %s: %s", name, qz_dtype_name(dts[d]), err.msg);
        if (rc) continue;
        check_bytes(f, "m.compressed", dts[d], want[d], (size_t)(out * in / 2) * qz_dtype_size(dts[d]));
        check_bytes(f, "m.bitmask", QZ_DTYPE_U8, B->data, (size_t)B->n);
        const int64_t shape[2] = {out, in};
        check_bytes(f, "m.shape", QZ_DTYPE_I64, shape, sizeof shape);
        const qz_st_tensor *s = qz_st_find(f, "m.shape");
        CHECK(s && s->ndim == 2 && s->shape[0] == 2 && s->shape[1] == 1, "m.shape is not [2, 1]");
        rc = qz_sparse24_read_linear(file_find, f, "m", out, in, back, &err);
        CHECK(rc == QZ_OK, "%s: read: %s", name, err.msg);
        if (rc == QZ_OK) CHECK(memcmp(back, W->data, sizeof(float) * (size_t)(out * in)) == 0, "%s: read back differs (incl. -0)", name);
        qz_st_close(f);
    }
    free(back);
    fx_free(&fx);
}

static void test_fixture_bytes(void)
{
    fixture_case("a_6x12");
    fixture_case("b_4x16");
    fixture_case("c_3x172");
}

/* ---------------------------------------------------------- round trips */

static void test_round_trip(void)
{
    static const int64_t shapes[][2] = {{3, 12}, {5, 172}, {8, 8}, {1, 4}, {2, 20}};
    const qz_dtype dts[3] = {QZ_DTYPE_F32, QZ_DTYPE_F16, QZ_DTYPE_BF16};
    char path[300];
    snprintf(path, sizeof path, "%s/rt.safetensors", g_tmp);
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int d = 0; d < 3; d++) {
            int64_t out = shapes[s][0], in = shapes[s][1];
            float *w = malloc(sizeof(float) * (size_t)(out * in)), *back = malloc(sizeof(float) * (size_t)(out * in));
            float *bias = malloc(sizeof(float) * (size_t)out);
            random_24(w, out, in, dts[d], 100 + s * 3 + (uint64_t)d);
            for (int64_t o = 0; o < out; o++) bias[o] = 0.25f * (float)o - 1.0f;
            qz_error err = {0};
            qz_st_file *f = NULL;
            int rc = write_one(path, w, out, in, bias, dts[d], &err);
            if (rc == QZ_OK) rc = qz_st_open(&f, path, &err);
            if (rc == QZ_OK) rc = qz_sparse24_read_linear(file_find, f, "m", out, in, back, &err);
            CHECK(rc == QZ_OK, "[%lld, %lld] %s: %s", (long long)out, (long long)in, qz_dtype_name(dts[d]), err.msg);
            if (rc == QZ_OK) {
                CHECK(memcmp(w, back, sizeof(float) * (size_t)(out * in)) == 0, "[%lld, %lld] %s: round trip differs",
                      (long long)out, (long long)in, qz_dtype_name(dts[d]));
                const qz_st_tensor *b = qz_st_find(f, "m.bias"), *bm = qz_st_find(f, "m.bitmask");
                CHECK(b && b->dtype == dts[d] && b->ndim == 1 && b->shape[0] == out, "bias tensor");
                CHECK(bm && bm->shape[1] == (in + 7) / 8, "bitmask width %lld for in %lld", bm ? (long long)bm->shape[1] : -1LL,
                      (long long)in);
                CHECK(!qz_st_find(f, "m.weight"), "a compressed linear also has m.weight");
            }
            qz_st_close(f);
            free(w), free(back), free(bias);
        }
}

/* ------------------------------------------------------------- refusals */

static void test_check_rejects(void)
{
    float w[2 * 8] = {1, 0, 2, 0, 0, 0, 0, 0, /* row 0 fine */
                      0, 3, 0, 0, 1, 1, 1, 0};  /* row 1, inputs 4..7: 3 nonzeros */
    qz_error err = {0};
    CHECK(qz_sparse24_check(w, 1, 8, &err) == QZ_OK, "row 0 alone is 2:4: %s", err.msg);
    CHECK(qz_sparse24_check(w, 2, 8, &err) == QZ_EINPUT, "3 nonzeros accepted");
    CHECK(strstr(err.msg, "row 1, inputs 4..7") != NULL, "message does not name the group: %s", err.msg);
    float z[6] = {0};
    CHECK(qz_sparse24_check(z, 1, 6, &err) == QZ_EINPUT && strstr(err.msg, "multiple of 4"), "in %% 4 != 0 accepted: %s",
          err.msg);
    w[13] = -0.0f; /* -0 is a zero: the group holds 2 nonzeros now */
    w[12] = 0.0f;
    CHECK(qz_sparse24_check(w, 2, 8, &err) == QZ_OK, "-0 counted as a nonzero: %s", err.msg);
    w[13] = NAN;
    w[12] = 1.0f;
    CHECK(qz_sparse24_check(w, 2, 8, &err) == QZ_EINPUT, "NaN counted as a zero");

    char path[300];
    snprintf(path, sizeof path, "%s/bad.safetensors", g_tmp);
    qz_st_writer *st;
    CHECK(qz_st_writer_open(&st, path, &err) == QZ_OK, "%s", err.msg);
    CHECK(qz_sparse24_write_linear(st, "layer.q", w, 2, 8, NULL, QZ_DTYPE_F16, &err) == QZ_EINPUT, "writer accepted 3 nonzeros");
    CHECK(strncmp(err.msg, "layer.q: ", 9) == 0, "writer error does not name the linear: %s", err.msg);
    qz_st_writer_free(st);
    CHECK(qz_sparse24_vllm_shape_ok(64, 64) && !qz_sparse24_vllm_shape_ok(172, 64) && !qz_sparse24_vllm_shape_ok(64, 172),
          "vLLM shape rule (out %% 8, in %% 8)");
}

/* One corruption of an otherwise valid [4, 16] linear. */
typedef enum {
    BAD_SHAPE_VALUE, BAD_SHAPE_DTYPE, BAD_SHAPE_DIMS, BAD_VALS_SHAPE, BAD_VALS_DTYPE, BAD_MASK_DTYPE, BAD_MASK_WIDTH,
    BAD_MASK_3BITS, BAD_MASK_1BIT, BAD_MASK_MISSING, BAD_COUNT
} corruption;

static int write_corrupt(const char *path, corruption c, qz_error *err)
{
    enum { OUT = 4, IN = 16, NB = 2 };
    int64_t shape_vals[2] = {OUT, c == BAD_SHAPE_VALUE ? IN + 4 : IN}, dims21[2] = {2, 1}, dims2[1] = {2};
    int32_t shape32[2] = {OUT, IN};
    float vals[OUT * IN / 2];
    uint8_t bits[OUT * NB];
    for (int i = 0; i < OUT * IN / 2; i++) vals[i] = (float)(i + 1);
    memset(bits, 0x33, sizeof bits); /* inputs 0,1 and 4,5 of every 8: 2 per group */
    if (c == BAD_MASK_3BITS) bits[5] = 0x37;
    if (c == BAD_MASK_1BIT) bits[6] = 0x31;
    int64_t vdims[2] = {OUT, c == BAD_VALS_SHAPE ? IN / 2 - 2 : IN / 2}, bdims[2] = {OUT, c == BAD_MASK_WIDTH ? NB + 1 : NB};
    uint8_t wide[OUT * (NB + 1)];
    memset(wide, 0x33, sizeof wide);
    qz_st_writer *st;
    int rc = qz_st_writer_open(&st, path, err);
    if (rc == QZ_OK && c == BAD_SHAPE_DTYPE) rc = qz_st_writer_add(st, "m.shape", QZ_DTYPE_I32, 2, dims21, shape32, sizeof shape32, err);
    else if (rc == QZ_OK)
        rc = qz_st_writer_add(st, "m.shape", QZ_DTYPE_I64, c == BAD_SHAPE_DIMS ? 1 : 2, c == BAD_SHAPE_DIMS ? dims2 : dims21,
                              shape_vals, sizeof shape_vals, err);
    if (rc == QZ_OK && c == BAD_VALS_DTYPE) rc = qz_st_writer_add(st, "m.compressed", QZ_DTYPE_I32, 2, vdims, vals, sizeof vals, err);
    else if (rc == QZ_OK)
        rc = qz_st_writer_add_f32(st, "m.compressed", vals, 2, vdims, QZ_DTYPE_F16, err);
    if (rc == QZ_OK && c != BAD_MASK_MISSING)
        rc = qz_st_writer_add(st, "m.bitmask", c == BAD_MASK_DTYPE ? QZ_DTYPE_I8 : QZ_DTYPE_U8, 2, bdims,
                              c == BAD_MASK_WIDTH ? (void *)wide : (void *)bits, (size_t)(bdims[0] * bdims[1]), err);
    if (rc == QZ_OK) rc = qz_st_writer_finish(st, err);
    qz_st_writer_free(st);
    return rc;
}

static void test_reader_rejects(void)
{
    static const char *names[BAD_COUNT] = {"shape value", "shape dtype", "shape dims", "compressed shape", "compressed dtype",
                                           "bitmask dtype", "bitmask width", "3 bits", "1 bit", "bitmask missing"};
    char path[300];
    snprintf(path, sizeof path, "%s/corrupt.safetensors", g_tmp);
    float w[4 * 16];
    for (int c = 0; c < BAD_COUNT; c++) {
        qz_error err = {0};
        qz_st_file *f = NULL;
        int rc = write_corrupt(path, (corruption)c, &err);
        if (rc == QZ_OK) rc = qz_st_open(&f, path, &err);
        CHECK(rc == QZ_OK, "%s: cannot write the test file: %s", names[c], err.msg);
        if (rc) continue;
        rc = qz_sparse24_read_linear(file_find, f, "m", 4, 16, w, &err);
        CHECK(rc == QZ_EINPUT, "%s: accepted (rc %d)", names[c], rc);
        CHECK(strstr(err.msg, "m.") != NULL, "%s: message names no tensor: %s", names[c], err.msg);
        if (c == BAD_MASK_3BITS) CHECK(strstr(err.msg, "row 2, inputs 8..11"), "3 bits: %s", err.msg);
        qz_st_close(f);
    }
    /* The uncorrupted file reads: the refusals above are the corruptions'. */
    qz_error err = {0};
    qz_st_file *f = NULL;
    int rc = write_corrupt(path, BAD_COUNT, &err);
    if (rc == QZ_OK) rc = qz_st_open(&f, path, &err);
    if (rc == QZ_OK) rc = qz_sparse24_read_linear(file_find, f, "m", 4, 16, w, &err);
    CHECK(rc == QZ_OK, "valid file refused: %s", err.msg);
    if (rc == QZ_OK) CHECK(w[0] == 1 && w[1] == 2 && w[2] == 0 && w[4] == 3 && w[16] == 9, "decoded values misplaced");
    if (f) CHECK(qz_sparse24_read_linear(file_find, f, "m", 4, 12, w, &err) == QZ_EINPUT, "config shape mismatch accepted");
    if (f) CHECK(qz_sparse24_read_linear(file_find, f, "m", 4, 18, w, &err) == QZ_EINPUT, "in %% 4 != 0 accepted");
    qz_st_close(f);
}

/* --------------------------------------------------------------- config */

static void test_config(void)
{
    const char *comp[2] = {"model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.k_proj"};
    const char *dense[1] = {"model.layers.0.mlp.down_proj"};
    cJSON *all = qz_sparse24_config_json(1, 0.25, comp, 2, NULL, 0), *mixed = qz_sparse24_config_json(1, 0.5, comp, 2, dense, 1);
    cJSON *plain = qz_sparse24_config_json(0, 0.5, comp, 2, dense, 1);
    char *s3 = cJSON_PrintUnformatted(plain); /* dense storage: the same keys, format "dense" */
    CHECK(!strcmp(s3, "{\"quant_method\":\"compressed-tensors\",\"sparsity_config\":{\"format\":\"dense\","
                      "\"global_sparsity\":0.5,\"ignore\":[\"lm_head\",\"model.layers.0.mlp.down_proj\"],\"sparsity_structure\":"
                      "\"2:4\",\"targets\":[\"model.layers.0.self_attn.q_proj\",\"model.layers.0.self_attn.k_proj\"]}}"),
          "dense config: %s", s3);
    free(s3);
    cJSON_Delete(plain);
    char *s1 = cJSON_PrintUnformatted(all), *s2 = cJSON_PrintUnformatted(mixed);
    CHECK(!strcmp(s1, "{\"quant_method\":\"compressed-tensors\",\"sparsity_config\":{\"format\":\"sparse-24-bitmask\","
                      "\"global_sparsity\":0.25,\"ignore\":[\"lm_head\"],\"sparsity_structure\":\"2:4\",\"targets\":[\"Linear\"]}}"),
          "config: %s", s1);
    CHECK(!strcmp(s2, "{\"quant_method\":\"compressed-tensors\",\"sparsity_config\":{\"format\":\"sparse-24-bitmask\","
                      "\"global_sparsity\":0.5,\"ignore\":[\"lm_head\",\"model.layers.0.mlp.down_proj\"],\"sparsity_structure\":"
                      "\"2:4\",\"targets\":[\"model.layers.0.self_attn.q_proj\",\"model.layers.0.self_attn.k_proj\"]}}"),
          "mixed config: %s", s2);
    qz_error err = {0};
    int only = -1;
    CHECK(qz_sparse24_config_parse(all, "c", &only, &err) == QZ_OK && only == 1, "own config: %s", err.msg);
    static const struct {
        const char *json;
        int rc, only;
    } cases[] = {
        {"{\"quant_method\":\"compressed-tensors\",\"sparsity_config\":{\"format\":\"dense\",\"sparsity_structure\":\"unstructured\"}}", 0, 1},
        {"{\"config_groups\":{\"g\":{}},\"sparsity_config\":{\"format\":\"dense\"}}", 0, 0},
        {"{\"config_groups\":{\"g\":{}},\"sparsity_config\":{}}", 0, 0},
        {"{\"config_groups\":{\"g\":{}}}", 0, 0},
        {"{\"sparsity_config\":{\"format\":\"sparse-24-bitmask\",\"sparsity_structure\":\"2:4\"},\"config_groups\":{}}", 0, 1},
        {"{\"sparsity_config\":{\"format\":\"sparse-bitmask\"}}", QZ_EINPUT, 0},
        {"{\"sparsity_config\":{\"format\":\"sparse-24-bitmask\",\"sparsity_structure\":\"unstructured\"}}", QZ_EINPUT, 0},
        {"{\"config_groups\":{\"g\":{}},\"sparsity_config\":{\"format\":\"sparse-24-bitmask\",\"sparsity_structure\":\"2:4\"}}", QZ_EINPUT, 0},
        {"{\"sparsity_config\":\"sparse-24-bitmask\"}", QZ_EINPUT, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cJSON *j = cJSON_Parse(cases[i].json);
        only = -1;
        int rc = qz_sparse24_config_parse(j, "config.json", &only, &err);
        CHECK(rc == cases[i].rc && (rc || only == cases[i].only), "case %zu: rc %d sparse_only %d: %s", i, rc, only, err.msg);
        if (rc) CHECK(strncmp(err.msg, "config.json: ", 13) == 0, "case %zu: message names no file: %s", i, err.msg);
        cJSON_Delete(j);
    }
    free(s1), free(s2);
    cJSON_Delete(all), cJSON_Delete(mixed);
}

/* ------------------------------------------------------------ end to end */

/* Zeroes the 2 smallest |w| of every group (and whole groups now and then). */
static void prune_24(float *w, int64_t n)
{
    for (int64_t i = 0; i < n; i += 4) {
        float *g = w + i;
        for (int drop = 0; drop < 2; drop++) {
            int lo = -1;
            for (int k = 0; k < 4; k++)
                if (g[k] != 0 && (lo < 0 || fabsf(g[k]) < fabsf(g[lo]))) lo = k;
            if (lo >= 0) g[lo] = 0;
        }
        if (i % 36 == 0) memset(g, 0, 4 * sizeof *g);
    }
}

/* dst/config.json = src's with quantization_config = qc. */
static int write_config(const char *src, const char *dst, const cJSON *qc, qz_error *err)
{
    char path[400], *text;
    size_t len;
    snprintf(path, sizeof path, "%s/config.json", src);
    int rc = qz_read_file(path, &text, &len, err);
    if (rc) return rc;
    cJSON *j = cJSON_Parse(text);
    free(text);
    cJSON_AddItemToObject(j, "quantization_config", cJSON_Duplicate(qc, 1));
    char *out = cJSON_Print(j);
    snprintf(path, sizeof path, "%s/config.json", dst);
    FILE *f = fopen(path, "w");
    rc = f && fputs(out, f) >= 0 && fclose(f) == 0 ? QZ_OK : qz_fail(err, QZ_EINTERNAL, "cannot write %s", path);
    free(out);
    cJSON_Delete(j);
    return rc;
}

/* Copies src's non-linear tensors, then writes every linear of m's layers
 * (pruned into want[layer][id]) compressed when bitmask, or dense when not
 * or when in % 4 != 0. */
static int write_sparse_model(qz_model *m, const char *src_dir, const char *dst_dir, float *want[][QZ_LIN_COUNT], int bitmask,
                              qz_error *err)
{
    char path[400], prefix[128], name[200];
    qz_st_file *src = NULL;
    qz_st_writer *st = NULL;
    snprintf(path, sizeof path, "%s/model.safetensors", src_dir);
    int rc = qz_st_open(&src, path, err);
    snprintf(path, sizeof path, "%s/model.safetensors", dst_dir);
    if (rc == QZ_OK) rc = qz_st_writer_open(&st, path, err);
    for (int64_t i = 0; rc == QZ_OK && i < src->n_tensors; i++) {
        const qz_st_tensor *t = &src->tensors[i];
        if (!strstr(t->name, "_proj.")) rc = qz_st_writer_add(st, t->name, t->dtype, t->ndim, t->shape, t->data, t->nbytes, err);
    }
    for (int64_t l = 0; rc == QZ_OK && l < m->cfg.n_layers; l++) {
        qz_layer L;
        rc = qz_layer_load(m, l, &L, err);
        for (int id = 0; rc == QZ_OK && id < QZ_LIN_COUNT; id++) {
            qz_linear *lin = &L.lin[id];
            int64_t shape[2] = {lin->out, lin->in};
            snprintf(prefix, sizeof prefix, "model.layers.%lld.%s", (long long)l, qz_linear_name((qz_linear_id)id));
            if (lin->in % 4 == 0) prune_24(lin->w, lin->out * lin->in);
            want[l][id] = malloc(sizeof(float) * (size_t)(lin->out * lin->in));
            memcpy(want[l][id], lin->w, sizeof(float) * (size_t)(lin->out * lin->in));
            snprintf(name, sizeof name, "%s.weight", prefix);
            rc = bitmask && lin->in % 4 == 0 ? qz_sparse24_write_linear(st, prefix, lin->w, lin->out, lin->in, NULL, QZ_DTYPE_F16, err)
                                  : qz_st_writer_add_f32(st, name, lin->w, 2, shape, QZ_DTYPE_F16, err);
        }
        qz_layer_free(&L);
    }
    if (rc == QZ_OK) rc = qz_st_writer_finish(st, err);
    qz_st_writer_free(st);
    qz_st_close(src);
    return rc;
}

/* A 2:4 model as qz-prune writes it, sparse-24-bitmask (bitmask) or dense
 * weights under a "dense" sparsity_config, reads back exactly. */
static void model_load_case(int bitmask)
{
    /* intermediate 42: down_proj (in 42) stays dense, gate/up (out 42) compress. */
    qz_model_config c = {.arch = QZ_ARCH_LLAMA, .hidden = 32, .intermediate = 42, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2,
                         .head_dim = 8, .vocab = 64, .max_position = 32, .rms_eps = 1e-5, .rope_theta = 10000, .tie_embeddings = 0,
                         .bos_id = 1, .eos_id = 2, .torch_dtype = QZ_DTYPE_F16};
    char src[300], dst[300];
    snprintf(src, sizeof src, "%s/dense%d", g_tmp, bitmask);
    snprintf(dst, sizeof dst, "%s/sparse%d", g_tmp, bitmask);
    mkdir(src, 0700);
    mkdir(dst, 0700);
    float *want[2][QZ_LIN_COUNT] = {{0}};
    qz_error err = {0};
    qz_model *m = NULL, *s = NULL;
    int rc = qz_synth_write(src, &c, 7, &err);
    if (rc == QZ_OK) rc = qz_model_open(&m, src, &err);
    if (rc == QZ_OK) rc = write_sparse_model(m, src, dst, want, bitmask, &err);
    const char *comp[12], *dense[2] = {"model.layers.0.mlp.down_proj", "model.layers.1.mlp.down_proj"};
    char names[12][64];
    for (int i = 0; i < 12; i++) {
        snprintf(names[i], sizeof names[i], "model.layers.%d.%s", i / 6, qz_linear_name((qz_linear_id)(i % 6)));
        comp[i] = names[i];
    }
    cJSON *qc = qz_sparse24_config_json(bitmask, 0.5, comp, 12, dense, 2);
    if (rc == QZ_OK) rc = write_config(src, dst, qc, &err);
    if (rc == QZ_OK) rc = qz_model_open(&s, dst, &err);
    CHECK(rc == QZ_OK, "%s", err.msg);
    if (rc == QZ_OK) {
        CHECK(s->quant.kind == QZ_QUANT_KIND_SPARSE && s->quant.sparse24_bitmask == bitmask, "not read as sparsity-only: kind %d bitmask %d",
              (int)s->quant.kind, s->quant.sparse24_bitmask);
        for (int64_t l = 0; l < c.n_layers; l++) {
            qz_layer L;
            rc = qz_layer_load(s, l, &L, &err);
            CHECK(rc == QZ_OK, "layer %lld: %s", (long long)l, err.msg);
            if (rc) break;
            for (int id = 0; id < QZ_LIN_COUNT; id++) {
                const qz_linear *lin = &L.lin[id];
                CHECK(memcmp(lin->w, want[l][id], sizeof(float) * (size_t)(lin->out * lin->in)) == 0, "layer %lld %s differs",
                      (long long)l, qz_linear_name((qz_linear_id)id));
            }
            qz_layer_free(&L);
        }
    }
    cJSON_Delete(qc);
    qz_model_free(m);
    qz_model_free(s);
    for (int l = 0; l < 2; l++)
        for (int id = 0; id < QZ_LIN_COUNT; id++) free(want[l][id]);
}

static void test_model_load(void) { model_load_case(1); }
static void test_model_load_dense24(void) { model_load_case(0); }

int main(int argc, char **argv)
{
    (void)argc;
    fx_init(argv[0], "sparse24", "scripts/gen_sparse24_fixture.py");
    qzt_tmpdir(g_tmp, sizeof g_tmp, "sparse24");
    QZ_RUN(test_fixture_bytes);
    QZ_RUN(test_round_trip);
    QZ_RUN(test_check_rejects);
    QZ_RUN(test_reader_rejects);
    QZ_RUN(test_config);
    QZ_RUN(test_model_load);
    QZ_RUN(test_model_load_dense24);
    qzt_rmdir(g_tmp);
    QZ_TEST_EXIT();
}
