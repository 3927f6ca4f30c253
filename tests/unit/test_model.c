/* test_model.c - config.json validation, the forward pass against the
 * float64 numpy reference (tests/fixtures/window64.txt, made by
 * scripts/ref_ppl.py) on token ids, without the tokenizer, and the finiteness
 * check on GGUF tensors after dequantization. */
#include "eval.h"
#include "kernels.h"
#include "qz_test.h"

#include <sys/stat.h>
#include <unistd.h>

static int parse_cfg(const char *json, qz_model_config *c, qz_error *err)
{
    cJSON *j = cJSON_Parse(json);
    int rc = j ? qz_model_config_parse(j, "config.json", c, err) : qz_fail(err, QZ_EINPUT, "bad json");
    cJSON_Delete(j);
    return rc;
}

#define BASE "\"hidden_size\":64,\"intermediate_size\":172,\"num_hidden_layers\":5,\"num_attention_heads\":8,\"vocab_size\":512"

static void test_config_defaults_and_fields(void)
{
    qz_model_config c;
    qz_error err = {0};
    CHECK(parse_cfg("{\"model_type\":\"llama\"," BASE "}", &c, &err) == 0, "%s", err.msg);
    CHECK(c.n_kv_heads == 8 && c.head_dim == 8 && c.max_position == 2048, "defaults");
    CHECK_CLOSE(c.rms_eps, 1e-6, 0, 0);
    CHECK_CLOSE(c.rope_theta, 10000, 0, 0);
    CHECK(!c.tie_embeddings && !c.qkv_bias && c.bos_id == -1, "flags");
    CHECK(parse_cfg("{\"model_type\":\"qwen2\"," BASE ",\"num_key_value_heads\":2,\"head_dim\":16,\"torch_dtype\":\"bfloat16\","
                    "\"tie_word_embeddings\":true,\"eos_token_id\":[5,6]}", &c, &err) == 0, "%s", err.msg);
    CHECK(c.arch == QZ_ARCH_QWEN2 && c.qkv_bias && c.n_kv_heads == 2 && c.head_dim == 16 && c.tie_embeddings, "qwen2");
    CHECK(c.torch_dtype == QZ_DTYPE_BF16 && c.eos_id == 5, "dtype, eos list");
    CHECK(parse_cfg("{\"model_type\":\"llama\"," BASE ",\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":8.0,"
                    "\"low_freq_factor\":1.0,\"high_freq_factor\":4.0,\"original_max_position_embeddings\":8192}}", &c, &err) == 0, "%s", err.msg);
    CHECK(c.rope_scaling.llama3 && c.rope_scaling.factor == 8.0 && c.rope_scaling.original_max_position == 8192, "llama3 rope");
    CHECK(parse_cfg("{\"model_type\":\"mistral\"," BASE ",\"sliding_window\":4096}", &c, &err) == 0 && c.sliding_window == 4096, "mistral");
}

static void test_config_rejects(void)
{
    static const struct {
        const char *json, *want;
    } cases[] = {
        {"{\"model_type\":\"gpt2\"," BASE "}", "supported: llama, mistral, qwen2"},
        {"{" BASE "}", "model_type"},
        {"{\"model_type\":\"llama\",\"hidden_size\":64}", "required field"},
        {"{\"model_type\":\"llama\"," BASE ",\"num_key_value_heads\":3}", "multiple of num_key_value_heads"},
        {"{\"model_type\":\"llama\"," BASE ",\"rope_scaling\":{\"type\":\"yarn\",\"factor\":4}}", "rope_scaling type 'yarn'"},
        {"{\"model_type\":\"llama\",\"hidden_size\":-64,\"intermediate_size\":172,\"num_hidden_layers\":5,\"num_attention_heads\":8,\"vocab_size\":512}", "'hidden_size' must be an integer in [1, 1048576]"},
        /* issue 15 defects 1, 4, 5: null is not 0, 1e300 is no int, sizes have limits */
        {"{\"model_type\":\"llama\",\"hidden_size\":64,\"intermediate_size\":172,\"num_hidden_layers\":5,\"num_attention_heads\":null,\"vocab_size\":512}", "'num_attention_heads' is null"},
        {"{\"model_type\":\"llama\"," BASE ",\"rope_scaling\":{\"rope_type\":\"llama3\",\"original_max_position_embeddings\":1e300}}", "'original_max_position_embeddings' must be an integer"},
        {"{\"model_type\":\"llama\",\"hidden_size\":1e15,\"intermediate_size\":172,\"num_hidden_layers\":5,\"num_attention_heads\":8,\"vocab_size\":512}", "[1, 1048576]"},
        {"{\"model_type\":\"llama\"," BASE ",\"num_key_value_heads\":2.5}", "'num_key_value_heads' must be an integer in [1, 1024]"},
        {"{\"model_type\":\"llama\"," BASE ",\"hidden_act\":\"gelu\"}", "hidden_act"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        qz_model_config c;
        qz_error err = {0};
        int rc = parse_cfg(cases[i].json, &c, &err);
        CHECK(rc == QZ_EINPUT && strstr(err.msg, cases[i].want) && strstr(err.msg, "config.json"), "case %zu: '%s'", i, err.msg);
    }
}

/* Reads "ids ..." and "mean_nll X" from the fixture. */
static int read_window_fixture(int32_t *ids, int max, int *n, double *nll)
{
    FILE *f = fopen("tests/fixtures/window64.txt", "r");
    if (!f) return -1;
    char line[8192];
    *n = 0;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "ids ", 4)) {
            char *p = line + 4, *end;
            for (long v; *n < max && (v = strtol(p, &end, 10), end != p); p = end) ids[(*n)++] = (int32_t)v;
        } else if (strstr(line, "mean_nll")) {
            sscanf(strstr(line, "mean_nll") + 8, "%lf", nll);
        }
    }
    fclose(f);
    return 0;
}

/* stories260K and the window fixture's 128 ids (and its mean NLL); -1 with
 * err set when the model does not open (../shared absent). */
static int open_window_fixture(qz_model **m, int32_t *ids, int *n, double *want, qz_error *err)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/models/stories260K", qzt_shared());
    if (qz_model_open(m, dir, err) != 0) return -1;
    CHECK(read_window_fixture(ids, 256, n, want) == 0 && *n == 128, "fixture: %d ids", *n);
    return 0;
}

static void test_forward_matches_reference(void)
{
    qz_model *m = NULL;
    qz_error err = {0};
    int32_t ids[256];
    int n = 0;
    double want = 0;
    if (open_window_fixture(&m, ids, &n, &want, &err)) SKIP("%s (../shared absent?)", err.msg);
    qz_ppl_opts o = {.seqlen = 64};
    qz_ppl_result r;
    CHECK(qz_eval_ppl(m, ids, n, &o, &r, &err) == 0, "%s", err.msg);
    CHECK(r.windows == 2 && r.scored == 126, "windows %lld scored %lld", (long long)r.windows, (long long)r.scored);
    CHECK_CLOSE(r.mean_nll, want, 0, 2e-6);
    /* the same tokens one window at a time give the same NLL sum */
    o.max_windows = 1;
    qz_ppl_result r1;
    CHECK(qz_eval_ppl(m, ids, n, &o, &r1, &err) == 0, "%s", err.msg);
    CHECK(r1.windows == 1 && r1.scored == 63, "max_windows");
    /* out-of-vocabulary ids are an input error, not a crash */
    ids[5] = 9999;
    CHECK(qz_eval_ppl(m, ids, n, &o, &r1, &err) == QZ_EINPUT && strstr(err.msg, "vocabulary"), "%s", err.msg);
    /* a text shorter than one window */
    o.seqlen = 512;
    CHECK(qz_eval_ppl(m, ids, n, &o, &r1, &err) == QZ_EINPUT && strstr(err.msg, "fewer than one window"), "%s", err.msg);
    qz_model_free(m);
}

/* Second-half scoring (llama.cpp's perplexity protocol): the chunks start at
 * position T/2, their logits are the same bytes as the rows at those
 * positions when every token is scored, and the perplexity is the mean over
 * exactly those positions. */
typedef struct {
    double nll[2][64];
    int64_t first_pos[2];
} pos_nll;

static int keep_pos_nll(void *ctx, const qz_eval_chunk *c, qz_error *err)
{
    (void)err;
    pos_nll *p = ctx;
    if (c->pos < p->first_pos[c->window]) p->first_pos[c->window] = c->pos;
    for (int64_t i = 0; i < c->n; i++)
        p->nll[c->window][c->pos + i] = qz_logsumexp_ref(c->logits[0] + i * c->vocab, c->vocab) - c->logits[0][i * c->vocab + c->next[i]];
    return QZ_OK;
}

static void test_score_second_half(void)
{
    qz_model *m = NULL;
    qz_error err = {0};
    int32_t ids[256];
    int n = 0;
    double unused;
    if (open_window_fixture(&m, ids, &n, &unused, &err)) SKIP("%s (../shared absent?)", err.msg);
    qz_ppl_opts all = {.seqlen = 64}, half = {.seqlen = 64, .score_from = qz_ppl_score_from(QZ_SCORE_SECOND_HALF, 64)};
    CHECK(half.score_from == 32 && qz_ppl_score_from(QZ_SCORE_ALL, 64) == 0, "score_from %lld", (long long)half.score_from);
    static pos_nll a, h;
    a.first_pos[0] = a.first_pos[1] = h.first_pos[0] = h.first_pos[1] = 64;
    for (int w = 0; w < 2; w++)
        for (int t = 0; t < 64; t++) h.nll[w][t] = -1;
    CHECK(qz_eval_chunks(&m, 1, ids, 2, &all, keep_pos_nll, &a, &err) == 0, "%s", err.msg);
    CHECK(qz_eval_chunks(&m, 1, ids, 2, &half, keep_pos_nll, &h, &err) == 0, "%s", err.msg);
    double sum = 0;
    for (int w = 0; w < 2; w++) {
        CHECK(a.first_pos[w] == 0 && h.first_pos[w] == 32, "window %d starts at %lld / %lld", w, (long long)a.first_pos[w],
              (long long)h.first_pos[w]);
        for (int t = 32; t < 63; t++) sum += a.nll[w][t];
        CHECK(memcmp(&a.nll[w][32], &h.nll[w][32], 31 * sizeof(double)) == 0, "window %d: second-half rows differ", w);
        CHECK(h.nll[w][31] == -1, "window %d: position 31 scored", w);
    }
    qz_ppl_result r;
    CHECK(qz_eval_ppl(m, ids, n, &half, &r, &err) == 0, "%s", err.msg);
    CHECK(r.scored == 62, "scored %lld, want 2 x 31", (long long)r.scored);
    CHECK_CLOSE(r.mean_nll, sum / 62, 0, 1e-6);
    half.score_from = 63; /* nothing left to score */
    CHECK(qz_eval_ppl(m, ids, n, &half, &r, &err) == QZ_EINPUT && strstr(err.msg, "none left to score"), "%s", err.msg);
    qz_model_free(m);
}

/* The softmax exp against libm's expf over [-100, 0]. */
static void test_exp_kernel(void)
{
    enum { N = 200001 };
    static float x[N];
    for (int i = 0; i < N; i++) x[i] = -100.0f * (float)i / (N - 1);
    qz_exp_nonpos_row(x, N);
    double worst = 0;
    for (int i = 0; i < N; i++) {
        float v = -100.0f * (float)i / (N - 1), want = expf(v < -87.0f ? -87.0f : v);
        double rel = fabs((double)x[i] - want) / want;
        worst = rel > worst ? rel : worst;
    }
    CHECK(worst < 4.8e-7, "max relative error %.3g (4 ulp = 4.8e-7)", worst);
    float one = 0.0f;
    qz_exp_nonpos_row(&one, 1);
    CHECK(one == 1.0f, "exp(0) = %.9g", one);
    float special[2] = {NAN, -INFINITY};
    qz_exp_nonpos_row(special, 2);
    CHECK(isnan(special[0]), "NaN stays NaN");
    CHECK(special[1] >= 0 && special[1] < 1e-37f, "exp(-inf) = %g", special[1]);
}

/* The shared model split into two shards with an index: same NLL. */
static void test_sharded_checkpoint(void)
{
    char src[512], dir[256], path[600];
    snprintf(src, sizeof src, "%s/models/stories260K/model.safetensors", qzt_shared());
    qz_st_file *in = NULL;
    qz_error err = {0};
    if (qz_st_open(&in, src, &err) != 0) SKIP("%s (../shared absent?)", err.msg);
    qzt_tmpdir(dir, sizeof dir, "shard");
    qz_st_writer *w[2];
    cJSON *index = cJSON_CreateObject(), *map = cJSON_AddObjectToObject(index, "weight_map");
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/model-0000%d-of-00002.safetensors", dir, k + 1);
        CHECK(qz_st_writer_open(&w[k], path, &err) == 0, "%s", err.msg);
    }
    for (int64_t i = 0; i < in->n_tensors; i++) {
        const qz_st_tensor *t = &in->tensors[i];
        int k = (int)(i % 2);
        CHECK(qz_st_writer_add(w[k], t->name, t->dtype, t->ndim, t->shape, t->data, t->nbytes, &err) == 0, "%s", err.msg);
        cJSON_AddStringToObject(map, t->name, k ? "model-00002-of-00002.safetensors" : "model-00001-of-00002.safetensors");
    }
    for (int k = 0; k < 2; k++) {
        CHECK(qz_st_writer_finish(w[k], &err) == 0, "%s", err.msg);
        qz_st_writer_free(w[k]);
    }
    qz_st_close(in);
    char *text = cJSON_Print(index);
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    free(text);
    cJSON_Delete(index);
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "cp %s/models/stories260K/config.json %s/", qzt_shared(), dir);
    CHECK(system(cmd) == 0, "copy config");

    qz_model *m = NULL;
    CHECK(qz_model_open(&m, dir, &err) == 0, "%s", err.msg);
    if (m) {
        CHECK(m->hf->n_files == 2, "%d shards", m->hf->n_files);
        int32_t ids[256];
        int n = 0;
        double want = 0;
        read_window_fixture(ids, 256, &n, &want);
        qz_ppl_opts o = {.seqlen = 64};
        qz_ppl_result r;
        CHECK(qz_eval_ppl(m, ids, n, &o, &r, &err) == 0, "%s", err.msg);
        CHECK_CLOSE(r.mean_nll, want, 0, 2e-6);
        qz_model_free(m);
    }
    CHECK(qzt_rmdir(dir) == 0, "cleanup");
}

/* The tiny GGUF llama of the gguf_open fuzz seeds (scripts/gen_fuzz_corpus.sh)
 * with one value of tensor gguf_name poked: F32 bytes at element at, or a
 * Q8_0 block scale (at = -1: the f16 +Inf 0x7c00 as block 0's d). The load
 * must refuse it naming the tensor's HF name and the element. */
static void check_gguf_poke(const char *gguf_name, int64_t at, const char *want)
{
    const char *src = "tests/fuzz/corpus/gguf_open/tiny_llama";
    FILE *f = fopen(src, "rb");
    static unsigned char buf[1 << 16];
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f) fclose(f);
    CHECK(n > 0 && n < sizeof buf, "%s: cannot read (run from the repository root)", src);
    qz_gguf *g = NULL;
    qz_error err = {0};
    CHECK(qz_gguf_open(&g, src, &err) == 0, "%s", err.msg);
    const qz_gguf_tensor *t = g ? qz_gguf_find_tensor(g, gguf_name) : NULL;
    CHECK(t && t->nbytes >= 34, "%s missing", gguf_name);
    unsigned char *p = t ? memmem(buf, n, t->data, t->nbytes) : NULL;
    qz_gguf_close(g);
    CHECK(p != NULL, "%s: data not found in the file", gguf_name);
    if (!p) return;
    static const unsigned char nan32[4] = {0, 0, 0xc0, 0x7f}, inf16[2] = {0, 0x7c};
    if (at >= 0) memcpy(p + 4 * at, nan32, 4);
    else memcpy(p, inf16, 2);
    char dir[256], path[300];
    qzt_tmpdir(dir, sizeof dir, "gguf_nan");
    snprintf(path, sizeof path, "%s/model.gguf", dir);
    f = fopen(path, "wb");
    CHECK(f && fwrite(buf, 1, n, f) == n, "write %s", path);
    if (f) fclose(f);
    qz_model *m = NULL;
    int rc = qz_model_open(&m, path, &err);
    if (rc == 0) {
        qz_layer L;
        rc = qz_layer_load(m, 0, &L, &err);
        if (rc == 0) qz_layer_free(&L);
    }
    qz_model_free(m);
    CHECK(rc == QZ_EINPUT, "rc %d (%s)", rc, err.msg);
    CHECK(strstr(err.msg, want) != NULL, "message '%s' lacks '%s'", err.msg, want);
    CHECK(qzt_rmdir(dir) == 0, "cleanup");
}

static void test_gguf_nonfinite_tensor(void)
{
    check_gguf_poke("output_norm.weight", 3, "tensor 'model.norm.weight': element 3 is nan");
    check_gguf_poke("token_embd.weight", -1, "tensor 'model.embed_tokens.weight': element 0 is");
    check_gguf_poke("blk.0.ffn_gate.weight", -1, "tensor 'model.layers.0.mlp.gate_proj.weight': element 0 is");
}

int main(void)
{
    QZ_RUN(test_sharded_checkpoint);
    QZ_RUN(test_exp_kernel);
    QZ_RUN(test_config_defaults_and_fields);
    QZ_RUN(test_config_rejects);
    QZ_RUN(test_forward_matches_reference);
    QZ_RUN(test_score_second_half);
    QZ_RUN(test_gguf_nonfinite_tensor);
    QZ_TEST_EXIT();
}
