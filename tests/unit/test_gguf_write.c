/* test_gguf_write.c - the GGUF v3 writer (formats/gguf_write.c), read back
 * by the validating reader (formats/gguf.c, itself tested against gguf-py
 * files): key/values of every kind, tensor offsets contiguous and padded
 * to the alignment in info order (byte positions worked out by hand), the
 * refusals, atomicity (nothing at the path until finish), and the
 * HF -> GGUF tensor names with their q/k permutation flags. */
#include "tests/qz_test.h"

#include "gguf_model.h"
#include "gguf_tokenizer.h"
#include "gguf_quants.h"
#include "gguf_write.h"

#include <unistd.h>

static char tmpdir[256];

static void path_of(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", tmpdir, name);
}

/* A file with 3 tensors: F32 (5), Q8_0 (32 x 2) and F16 (3 x 1). */
static int write_small(const char *path, qz_error *err)
{
    qz_gguf_writer *w;
    int rc = qz_gguf_writer_open(&w, path, 0, err);
    if (rc) return rc;
    static const char *toks[] = {"<s>", "a", "b c"};
    int32_t types[3] = {3, 1, 1};
    float scores[3] = {0, -1.5f, -2};
    if (!rc) rc = qz_gguf_writer_kv_str(w, "general.architecture", "llama", 5, err);
    if (!rc) rc = qz_gguf_writer_kv_u32(w, "llama.block_count", 7, err);
    if (!rc) rc = qz_gguf_writer_kv_i32(w, "x.i32", -3, err);
    if (!rc) rc = qz_gguf_writer_kv_f32(w, "x.f32", 0.25f, err);
    if (!rc) rc = qz_gguf_writer_kv_bool(w, "x.bool", 1, err);
    if (!rc) rc = qz_gguf_writer_kv_strs(w, "tokenizer.ggml.tokens", toks, NULL, 3, err);
    if (!rc) rc = qz_gguf_writer_kv_i32s(w, "tokenizer.ggml.token_type", types, 3, err);
    if (!rc) rc = qz_gguf_writer_kv_f32s(w, "tokenizer.ggml.scores", scores, 3, err);
    int64_t ne_a[1] = {5}, ne_b[2] = {32, 2}, ne_c[2] = {3, 1};
    if (!rc) rc = qz_gguf_writer_tensor(w, "a", QZ_GGML_F32, 1, ne_a, err);
    if (!rc) rc = qz_gguf_writer_tensor(w, "b", QZ_GGML_Q8_0, 2, ne_b, err);
    if (!rc) rc = qz_gguf_writer_tensor(w, "c", QZ_GGML_F16, 2, ne_c, err);
    if (!rc) rc = qz_gguf_writer_begin(w, err);
    float a[5] = {1, 2, 3, 4, 5};
    unsigned char b[68];
    uint16_t c[3] = {0x3c00, 0x4000, 0xc000}; /* 1, 2, -2 */
    for (int i = 0; i < 68; i++) b[i] = (unsigned char)i;
    b[0] = 0x00, b[1] = 0x3c, b[34] = 0x00, b[35] = 0x38; /* d = 1 and 0.5 */
    if (!rc) rc = qz_gguf_writer_data(w, "c", c, sizeof c, err); /* any order */
    if (!rc) rc = qz_gguf_writer_data(w, "a", a, sizeof a, err);
    if (!rc) rc = qz_gguf_writer_data(w, "b", b, sizeof b, err);
    if (!rc) CHECK(access(path, F_OK) != 0, "%s exists before finish", path);
    if (!rc) rc = qz_gguf_writer_finish(w, err);
    qz_gguf_writer_free(w);
    return rc;
}

static void test_write_read_back(void)
{
    char path[512];
    path_of(path, sizeof path, "small.gguf");
    qz_error err;
    CHECK(write_small(path, &err) == QZ_OK, "%s", err.msg);
    qz_gguf *g;
    if (qz_gguf_open(&g, path, &err)) {
        CHECK(0, "reader refused the file: %s", err.msg);
        return;
    }
    int64_t v = 0;
    double f = 0;
    int b = 0;
    qz_gguf_str s;
    CHECK(qz_gguf_version(g) == 3 && qz_gguf_alignment(g) == 32, "version %u alignment %zu", qz_gguf_version(g), qz_gguf_alignment(g));
    CHECK(qz_gguf_get_int(g, "llama.block_count", 1, &v, &err) == QZ_OK && v == 7, "block_count %lld", (long long)v);
    CHECK(qz_gguf_get_int(g, "x.i32", 1, &v, &err) == QZ_OK && v == -3, "i32 %lld", (long long)v);
    CHECK(qz_gguf_get_float(g, "x.f32", 1, &f, &err) == QZ_OK && f == 0.25, "f32 %g", f);
    CHECK(qz_gguf_get_bool(g, "x.bool", 1, &b, &err) == QZ_OK && b == 1, "bool %d", b);
    CHECK(qz_gguf_get_string(g, "general.architecture", 1, &s, &err) == QZ_OK && s.len == 5 && !memcmp(s.s, "llama", 5), "arch");
    const qz_gguf_kv *kv = NULL;
    CHECK(qz_gguf_get_array(g, "tokenizer.ggml.tokens", QZ_GGUF_STRING, 1, &kv, &err) == QZ_OK && kv && kv->count == 3 &&
              qz_gguf_kv_str(kv, 2).len == 3 && !memcmp(qz_gguf_kv_str(kv, 2).s, "b c", 3), "tokens");
    CHECK(qz_gguf_get_array(g, "tokenizer.ggml.scores", QZ_GGUF_FLOAT32, 1, &kv, &err) == QZ_OK && kv && qz_gguf_kv_float(kv, 1) == -1.5,
          "scores");
    CHECK(qz_gguf_get_array(g, "tokenizer.ggml.token_type", QZ_GGUF_INT32, 1, &kv, &err) == QZ_OK && kv && qz_gguf_kv_int(kv, 0) == 3,
          "token types");
    CHECK(qz_gguf_get_int(g, "general.alignment", 1, &v, &err) == QZ_OK && v == 32, "general.alignment written: %lld", (long long)v);
    /* a: 20 bytes -> padded to 32; b: 2 rows x 34 = 68 -> 96; c at 32 + 96 = 128, 6 bytes -> file data 160 */
    const qz_gguf_tensor *ta = qz_gguf_find_tensor(g, "a"), *tb = qz_gguf_find_tensor(g, "b"), *tc = qz_gguf_find_tensor(g, "c");
    CHECK(ta && tb && tc, "tensors missing");
    if (ta && tb && tc) {
        CHECK(ta->offset == 0 && tb->offset == 32 && tc->offset == 128, "offsets %llu %llu %llu", (unsigned long long)ta->offset,
              (unsigned long long)tb->offset, (unsigned long long)tc->offset);
        CHECK(tb->ne[0] == 32 && tb->ne[1] == 2 && tb->type == QZ_GGML_Q8_0 && tb->nbytes == 68, "b shape/type");
        CHECK(((const char *)tc->data - (const char *)ta->data) == 128, "data not contiguous");
        /* header padded to 32, then 160 data bytes: the last tensor is padded too */
        CHECK(qz_gguf_file_size(g) % 32 == 0, "file size %zu not a multiple of 32", qz_gguf_file_size(g));
        float y[64];
        CHECK(qz_gguf_tensor_to_f32(g, ta, y, &err) == QZ_OK && y[0] == 1 && y[4] == 5, "a values");
        CHECK(qz_gguf_tensor_to_f32(g, tb, y, &err) == QZ_OK && y[0] == 2.0f && y[32] == 36 * 0.5f, "b values %g %g", (double)y[0],
              (double)y[32]);
        CHECK(qz_gguf_tensor_to_f32(g, tc, y, &err) == QZ_OK && y[0] == 1 && y[1] == 2 && y[2] == -2, "c values");
    }
    qz_gguf_close(g);
    CHECK(write_small(path, &err) == QZ_EINPUT && strstr(err.msg, "exists"), "existing file without force: %s", err.msg);
    unlink(path);
}

static void test_refusals(void)
{
    char path[512], tmp[600];
    path_of(path, sizeof path, "bad.gguf");
    qz_gguf_writer *w;
    qz_error err;
    if (qz_gguf_writer_open(&w, path, 0, &err)) {
        CHECK(0, "open: %s", err.msg);
        return;
    }
    int64_t ne[2] = {40, 2}, ok[1] = {4};
    CHECK(qz_gguf_writer_kv_u32(w, "k", 1, &err) == QZ_OK, "kv");
    CHECK(qz_gguf_writer_kv_u32(w, "k", 2, &err) == QZ_EINPUT && strstr(err.msg, "duplicate key 'k'"), "duplicate key: %s", err.msg);
    CHECK(qz_gguf_writer_tensor(w, "q", QZ_GGML_Q4_0, 2, ne, &err) == QZ_EINPUT && strstr(err.msg, "not a multiple of Q4_0's block size 32"),
          "ne0 40 for Q4_0: %s", err.msg);
    CHECK(qz_gguf_writer_tensor(w, "t", QZ_GGML_F32, 1, ok, &err) == QZ_OK, "tensor");
    CHECK(qz_gguf_writer_tensor(w, "t", QZ_GGML_F32, 1, ok, &err) == QZ_EINPUT && strstr(err.msg, "duplicate tensor"), "dup tensor");
    char longname[80];
    memset(longname, 'x', sizeof longname - 1), longname[sizeof longname - 1] = 0;
    CHECK(qz_gguf_writer_tensor(w, longname, QZ_GGML_F32, 1, ok, &err) == QZ_EINPUT, "long name");
    CHECK(qz_gguf_writer_begin(w, &err) == QZ_OK, "begin: %s", err.msg);
    float x[4] = {0};
    CHECK(qz_gguf_writer_data(w, "t", x, 12, &err) == QZ_EINTERNAL && strstr(err.msg, "12 bytes"), "short data: %s", err.msg);
    CHECK(qz_gguf_writer_finish(w, &err) == QZ_EINTERNAL && strstr(err.msg, "not written"), "unwritten tensor: %s", err.msg);
    snprintf(tmp, sizeof tmp, "%s.qz-tmp-%ld", path, (long)getpid());
    CHECK(access(tmp, F_OK) == 0, "temporary file missing before free");
    qz_gguf_writer_free(w);
    CHECK(access(path, F_OK) != 0 && access(tmp, F_OK) != 0, "a failed write left a file behind");
}

static void test_hf_names(void)
{
    static const struct {
        const char *hf, *gguf;
        int perm;
    } cases[] = {{"model.embed_tokens.weight", "token_embd.weight", 0},     {"model.norm.weight", "output_norm.weight", 0},
                 {"lm_head.weight", "output.weight", 0},                    {"model.layers.0.self_attn.q_proj.weight", "blk.0.attn_q.weight", 1},
                 {"model.layers.12.self_attn.k_proj.weight", "blk.12.attn_k.weight", 2},
                 {"model.layers.3.self_attn.v_proj.weight", "blk.3.attn_v.weight", 0},
                 {"model.layers.3.self_attn.o_proj.weight", "blk.3.attn_output.weight", 0},
                 {"model.layers.3.mlp.down_proj.weight", "blk.3.ffn_down.weight", 0},
                 {"model.layers.3.post_attention_layernorm.weight", "blk.3.ffn_norm.weight", 0}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char out[128];
        int perm = -1;
        CHECK(qz_gguf_name_from_hf(cases[i].hf, out, sizeof out, &perm) == 0 && !strcmp(out, cases[i].gguf) && perm == cases[i].perm,
              "%s -> %s (%d)", cases[i].hf, out, perm);
    }
    char out[128];
    int perm;
    CHECK(qz_gguf_name_from_hf("model.layers.0.mlp.experts.weight", out, sizeof out, &perm) == -1, "unknown name accepted");
}

/* Same key in both files: same type, count and elements (strings by bytes). */
static int same_kv(const qz_gguf *a, const qz_gguf *b, const char *key)
{
    const qz_gguf_kv *x = qz_gguf_find_kv(a, key), *y = qz_gguf_find_kv(b, key);
    if (!x || !y || x->type != y->type || x->count != y->count || x->elem_type != y->elem_type) return 0;
    if (x->type == QZ_GGUF_STRING) return x->str.len == y->str.len && !memcmp(x->str.s, y->str.s, x->str.len);
    for (uint64_t i = 0; x->type == QZ_GGUF_ARRAY && i < x->count; i++) {
        if (x->elem_type == QZ_GGUF_STRING) {
            qz_gguf_str u = qz_gguf_kv_str(x, i), v = qz_gguf_kv_str(y, i);
            if (u.len != v.len || memcmp(u.s, v.s, u.len)) return 0;
        } else if (qz_gguf_kv_int(x, i) != qz_gguf_kv_int(y, i)) {
            return 0;
        }
    }
    return x->type == QZ_GGUF_ARRAY || qz_gguf_kv_int(x, 0) == qz_gguf_kv_int(y, 0);
}

/* The byte-level (gpt2) path: SmolLM2's GGUF tokenizer -> tokenizer.json
 * (the reader's conversion) -> GGUF keys (the writer's) equals the source
 * keys: model, pre name, tokens, token types, merges, bos / eos ids. */
static void test_tokenizer_round_trip(void)
{
    char src[700], path[512];
    snprintf(src, sizeof src, "%s/models/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf", qzt_shared());
    if (access(src, R_OK)) SKIP("%s not found (set SHARED)", src);
    path_of(path, sizeof path, "tok.gguf");
    qz_gguf *g = NULL, *h = NULL;
    qz_gguf_writer *w = NULL;
    cJSON *tj = NULL, *tc = NULL;
    qz_error err;
    int rc = qz_gguf_open(&g, src, &err);
    if (!rc) rc = qz_gguf_tokenizer_files(g, &tj, &tc, &err);
    if (!rc) rc = qz_gguf_writer_open(&w, path, 1, &err);
    if (!rc) rc = qz_gguf_tokenizer_to_kv(w, tj, tc, "smollm2", &err);
    if (!rc) rc = qz_gguf_writer_begin(w, &err);
    if (!rc) rc = qz_gguf_writer_finish(w, &err);
    if (!rc) rc = qz_gguf_open(&h, path, &err);
    CHECK(rc == QZ_OK, "%s", err.msg);
    static const char *keys[] = {"tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens", "tokenizer.ggml.token_type",
                                 "tokenizer.ggml.merges", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"};
    for (size_t i = 0; !rc && i < sizeof keys / sizeof *keys; i++)
        CHECK(same_kv(g, h, keys[i]), "%s differs after the round trip", keys[i]);
    cJSON_Delete(tj), cJSON_Delete(tc);
    qz_gguf_writer_free(w);
    qz_gguf_close(g), qz_gguf_close(h);
    unlink(path);
}

int main(void)
{
    qzt_tmpdir(tmpdir, sizeof tmpdir, "gguf_write");
    QZ_RUN(test_write_read_back);
    QZ_RUN(test_refusals);
    QZ_RUN(test_hf_names);
    QZ_RUN(test_tokenizer_round_trip);
    qzt_rmdir(tmpdir);
    QZ_TEST_EXIT();
}
