/* test_gguf_tokenizer.c - formats/gguf_tokenizer.c on small hand-made GGUF
 * metadata: the SentencePiece merges rebuilt from scores and the ids they
 * give (worked by hand below), the byte-level JSON for a pre-tokenizer name,
 * tokenizer_config.json, the refusals, and which model paths are GGUF (qz_hf_model_locate).
 * The real models are checked against Hugging Face tokenizers in
 * tests/cli/test_gguf_tokenizer.sh. */
#include "gguf_tokenizer.h"
#include "hf_model.h"
#include "qz_test.h"
#include "tokenizer.h"

#define META_SPM                                                                                          \
    "{\"general.architecture\": \"llama\", \"llama.context_length\": 256,"                               \
    " \"tokenizer.ggml.model\": \"llama\","                                                              \
    " \"tokenizer.ggml.tokens\": [\"<unk>\", \"<s>\", \"</s>\", \"\\u2581\", \"a\", \"b\", \"ab\", "     \
    "\"\\u2581a\", \"\\u2581ab\", \"ba\"],"                                                               \
    " \"tokenizer.ggml.scores\": [0, 0, 0, 0, 0, 0, -1, -2, -0.5, -1],"                                  \
    " \"tokenizer.ggml.token_type\": [2, 3, 3, 1, 1, 1, 1, 1, 1, 1],"                                    \
    " \"tokenizer.ggml.unknown_token_id\": 0, \"tokenizer.ggml.bos_token_id\": 1,"                       \
    " \"tokenizer.ggml.eos_token_id\": 2, \"tokenizer.ggml.padding_token_id\": 4294967295}"

#define META_BPE(pre)                                                                                      \
    "{\"general.architecture\": \"llama\", \"tokenizer.ggml.model\": \"gpt2\", \"tokenizer.ggml.pre\": " pre \
    ", \"tokenizer.ggml.tokens\": [\"a\", \"b\", \"ab\", \"\\u0120\", \"\\u0120ab\", \"<|x|>\"],"           \
    " \"tokenizer.ggml.token_type\": [1, 1, 1, 1, 1, 3], \"tokenizer.ggml.merges\": [\"a b\", \"\\u0120 ab\"]," \
    " \"tokenizer.ggml.bos_token_id\": 5, \"tokenizer.ggml.eos_token_id\": 5,"                             \
    " \"tokenizer.chat_template\": \"{{ x }}\"}"

static int convert(const char *meta_text, cJSON **tj, cJSON **tc, qz_error *err)
{
    cJSON *meta = cJSON_Parse(meta_text);
    QZ_ASSERT(meta);
    int rc = qz_gguf_tokenizer_json(meta, "t.gguf", tj, tc, err);
    cJSON_Delete(meta);
    return rc;
}

static void check_ids(const qz_tokenizer *tok, const char *text, const int32_t *want, int64_t n_want)
{
    int32_t *ids = NULL;
    int64_t n = 0;
    qz_error err = {0};
    CHECK(qz_tokenizer_encode(tok, text, strlen(text), 1, &ids, &n, &err) == 0, "%s", err.msg);
    CHECK(n == n_want, "'%s': %lld ids, want %lld", text, (long long)n, (long long)n_want);
    for (int64_t i = 0; i < n && i < n_want; i++) CHECK(ids[i] == want[i], "'%s' id %lld = %d, want %d", text, (long long)i, ids[i], want[i]);
    free(ids);
}

static const char *merge_at(const cJSON *merges, int i, int side)
{
    const cJSON *m = cJSON_GetArrayItem(merges, i);
    const cJSON *s = cJSON_GetArrayItem(m, side);
    return cJSON_IsString(s) ? s->valuestring : "(none)";
}

/* Splits at character boundaries into two vocab pieces, by merged score
 * (descending), then merged id, left id, right id:
 *   -0.5 "▁ab" = ▁+ab (3,6), ▁a+b (7,5);  -1 "ab" = a+b;  -1 "ba" = b+a;  -2 "▁a" = ▁+a. */
static void test_spm_merges(void)
{
    static const char *want[][2] = {{"\xe2\x96\x81", "ab"}, {"\xe2\x96\x81" "a", "b"}, {"a", "b"}, {"b", "a"},
                                    {"\xe2\x96\x81", "a"}};
    cJSON *tj = NULL, *tc = NULL;
    qz_error err = {0};
    CHECK(convert(META_SPM, &tj, &tc, &err) == 0, "%s", err.msg);
    const cJSON *merges = cJSON_GetObjectItem(cJSON_GetObjectItem(tj, "model"), "merges");
    CHECK(cJSON_GetArraySize(merges) == 5, "%d merges, want 5", cJSON_GetArraySize(merges));
    for (int i = 0; i < 5; i++) {
        CHECK(strcmp(merge_at(merges, i, 0), want[i][0]) == 0, "merge %d left '%s'", i, merge_at(merges, i, 0));
        CHECK(strcmp(merge_at(merges, i, 1), want[i][1]) == 0, "merge %d right '%s'", i, merge_at(merges, i, 1));
    }
    /* "ab ba" -> "▁ab▁ba": a+b (rank 2) first, then ▁+ab (rank 0); b+a (3): ▁ab ▁ ba, after BOS. */
    qz_tokenizer *tok = NULL;
    CHECK(qz_tokenizer_load_json(&tok, tj, tc, "t.gguf", &err) == 0, "%s", err.msg);
    if (tok) check_ids(tok, "ab ba", (const int32_t[]){1, 8, 3, 9}, 4);
    if (tok) check_ids(tok, "<s>a", (const int32_t[]){1, 1, 7}, 3); /* control token in text; "a" gets the prefix */
    CHECK(tok && qz_tokenizer_bos(tok) == 1 && qz_tokenizer_eos(tok) == 2, "bos/eos");
    const cJSON *pad = cJSON_GetObjectItem(tc, "pad_token"), *len = cJSON_GetObjectItem(tc, "model_max_length");
    CHECK(!pad, "padding id 4294967295 means none");
    CHECK(cJSON_IsNumber(len) && len->valuedouble == 256, "model_max_length from llama.context_length");
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(tc, "add_bos_token")), "llama: add_bos defaults to true");
    qz_tokenizer_free(tok);
    cJSON_Delete(tj), cJSON_Delete(tc);
}

/* qwen2: NFC + its Split regex; " ab" = Ġ a b -> Ġ ab -> Ġab; the control token whole. */
static void test_bpe(void)
{
    cJSON *tj = NULL, *tc = NULL;
    qz_error err = {0};
    CHECK(convert(META_BPE("\"qwen2\""), &tj, &tc, &err) == 0, "%s", err.msg);
    const cJSON *norm = cJSON_GetObjectItem(tj, "normalizer");
    CHECK(cJSON_IsString(cJSON_GetObjectItem(norm, "type")) && !strcmp(cJSON_GetObjectItem(norm, "type")->valuestring, "NFC"),
          "qwen2 normalizer");
    const cJSON *added = cJSON_GetObjectItem(tj, "added_tokens");
    CHECK(cJSON_GetArraySize(added) == 1 && cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(added, 0), "special")),
          "one special added token");
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(tc, "add_bos_token")), "qwen2: add_bos defaults to false");
    const cJSON *tmpl = cJSON_GetObjectItem(tc, "chat_template"), *bos = cJSON_GetObjectItem(tc, "bos_token");
    CHECK(cJSON_IsString(tmpl) && !strcmp(tmpl->valuestring, "{{ x }}"), "chat_template");
    CHECK(cJSON_IsString(bos) && !strcmp(bos->valuestring, "<|x|>"), "bos_token");
    qz_tokenizer *tok = NULL;
    CHECK(qz_tokenizer_load_json(&tok, tj, tc, "t.gguf", &err) == 0, "%s", err.msg);
    if (tok) check_ids(tok, "ab ab<|x|>", (const int32_t[]){2, 4, 5}, 3);
    qz_tokenizer_free(tok);
    cJSON_Delete(tj), cJSON_Delete(tc);
    /* llama-bpe: BOS by default (llama.cpp), and the template puts it first */
    CHECK(convert(META_BPE("\"llama-bpe\""), &tj, &tc, &err) == 0, "%s", err.msg);
    CHECK(qz_tokenizer_load_json(&tok, tj, tc, "t.gguf", &err) == 0, "%s", err.msg);
    if (tok) check_ids(tok, "ab", (const int32_t[]){5, 2}, 2);
    qz_tokenizer_free(tok);
    cJSON_Delete(tj), cJSON_Delete(tc);
}

static void check_refused(const char *meta, const char *want1, const char *want2)
{
    cJSON *tj = (cJSON *)1, *tc = (cJSON *)1;
    qz_error err = {0};
    int rc = convert(meta, &tj, &tc, &err);
    CHECK(rc == QZ_EINPUT, "rc %d for %.80s", rc, meta);
    CHECK(strstr(err.msg, want1) && strstr(err.msg, want2), "message '%s' lacks '%s' / '%s'", err.msg, want1, want2);
    CHECK(!tj && !tc, "outputs not NULL on error");
}

static void test_refusals(void)
{
    check_refused("{\"tokenizer.ggml.model\": \"bert\"}", "\"bert\"", "supported: gpt2, llama");
    check_refused(META_BPE("\"deepseek-llm\""), "\"deepseek-llm\"", "smollm");
    check_refused("{\"tokenizer.ggml.tokens\": [\"a\"]}", "tokenizer.ggml.model", "missing");
    check_refused("{\"tokenizer.ggml.model\": \"llama\", \"tokenizer.ggml.tokens\": [\"a\"]}", "tokenizer.ggml.scores", "missing");
    check_refused("{\"tokenizer.ggml.model\": \"llama\", \"tokenizer.ggml.tokens\": [\"a\", 7], \"tokenizer.ggml.scores\": [0, 0]}",
                  "tokenizer.ggml.tokens[1]", "wrong type");
    check_refused("{\"tokenizer.ggml.model\": \"llama\", \"tokenizer.ggml.tokens\": [\"a\"], \"tokenizer.ggml.scores\": [0, 1]}",
                  "scores", "one entry per token");
    check_refused("{\"tokenizer.ggml.model\": \"llama\", \"tokenizer.ggml.tokens\": [\"a\"], \"tokenizer.ggml.scores\": [0],"
                  " \"tokenizer.ggml.token_type\": [9]}", "token_type[0] = 9", "[1, 6]");
    check_refused("{\"tokenizer.ggml.model\": \"llama\", \"tokenizer.ggml.tokens\": [\"a\"], \"tokenizer.ggml.scores\": [0]}",
                  "bos_token_id", "add_bos_token is true");
    check_refused("{\"tokenizer.ggml.model\": \"gpt2\", \"tokenizer.ggml.pre\": \"gpt2\", \"tokenizer.ggml.tokens\": [\"a\"]}",
                  "tokenizer.ggml.merges", "missing");
}

static void touch(const char *dir, const char *name)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    QZ_ASSERT(f);
    fclose(f);
}

/* qz_hf_model_locate, which both the model and the tokenizer opener use. */
static void test_locate(void)
{
    char dir[256], buf[512], want[512];
    int is = -1;
    qz_error err = {0};
    qzt_tmpdir(dir, sizeof dir, "gguf_tok");
    CHECK(qz_hf_model_locate(dir, buf, sizeof buf, &is, &err) == QZ_EINPUT && strstr(err.msg, "no .gguf"), "empty: %s", err.msg);
    touch(dir, "a.gguf");
    snprintf(want, sizeof want, "%s/a.gguf", dir);
    CHECK(qz_hf_model_locate(dir, buf, sizeof buf, &is, &err) == 0 && is == 1 && !strcmp(buf, want), "one GGUF: '%s'", buf);
    CHECK(qz_hf_model_locate(want, buf, sizeof buf, &is, &err) == 0 && is == 1 && !strcmp(buf, want), "the file: '%s'", buf);
    CHECK(qz_hf_model_locate(want, buf, 8, &is, &err) == QZ_EINTERNAL, "path too long");
    touch(dir, "b.gguf");
    CHECK(qz_hf_model_locate(dir, buf, sizeof buf, &is, &err) == QZ_EINPUT && strstr(err.msg, "2 .gguf"), "two: %s", err.msg);
    touch(dir, "config.json");
    CHECK(qz_hf_model_locate(dir, buf, sizeof buf, &is, &err) == 0 && is == 0, "config.json: a Hugging Face directory");
    qzt_rmdir(dir);
}

int main(void)
{
    QZ_RUN(test_spm_merges);
    QZ_RUN(test_bpe);
    QZ_RUN(test_refusals);
    QZ_RUN(test_locate);
    QZ_TEST_EXIT();
}
