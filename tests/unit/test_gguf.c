/* test_gguf.c - the GGUF reader (formats/gguf.c), ggml's dequantizers
 * (formats/gguf_quants.c) and GGUF models through qz_hf_model_open.
 *
 * Golden values: tests/fixtures/gguf/<type>.qzfx, random valid blocks and
 * their floats dequantized by the gguf Python package (scripts/
 * gen_gguf_fixture.py), compared bit for bit (tolerance 0: dequantization
 * is a few exact float products and sums done in ggml's order); a small
 * GGUF built here byte by byte with hand-worked values, and every way of
 * breaking it (each must be QZ_EINPUT); and the shared stories260K, held
 * both as an HF F32 directory and as a GGUF: the GGUF's tensors, mapped to
 * HF names and un-permuted, must equal the HF ones exactly.
 */
#include "tests/qz_test.h"
#include "tests/qz_fixture.h"

#include "gguf.h"
#include "gguf_quants.h"
#include "hf_model.h"
#include "half.h"

#include <unistd.h>

static char tmpdir[256];

/* ------------------------------------------------------------ dequantize */

static void check_type(const char *file, int type)
{
    fx_file f;
    if (fx_open(&f, file)) return;
    fx_array *b = fx_get(&f, "blocks", "u8"), *v = fx_get(&f, "values", "f32");
    const qz_ggml_traits *tr = qz_ggml_type_traits(type);
    CHECK(b && v && tr, "%s: arrays or traits missing", file);
    if (b && v && tr) {
        int64_t rows = b->dims[0], n = v->dims[1];
        CHECK((size_t)b->dims[1] == (size_t)(n / tr->block_size) * tr->type_size, "%s: row of %lld bytes for %lld values", file,
              (long long)b->dims[1], (long long)n);
        float *y = malloc((size_t)(rows * n) * sizeof *y);
        for (int64_t r = 0; r < rows; r++) tr->to_float((const uint8_t *)b->data + r * b->dims[1], y + r * n, n);
        int bad = 0;
        for (int64_t i = 0; i < rows * n; i++)
            if (memcmp(&y[i], (float *)v->data + i, 4) != 0 && bad++ < 5)
                CHECK(0, "%s[%lld] = %.9g, gguf-py %.9g", file, (long long)i, (double)y[i], (double)((float *)v->data)[i]);
        CHECK(bad == 0, "%s: %d of %lld values differ", file, bad, (long long)(rows * n));
        free(y);
    }
    fx_free(&f);
}

static void test_dequant_fixtures(void)
{
    static const struct {
        const char *file;
        int type;
    } cases[] = {{"f32", QZ_GGML_F32},   {"f16", QZ_GGML_F16},   {"bf16", QZ_GGML_BF16}, {"q4_0", QZ_GGML_Q4_0}, {"q4_1", QZ_GGML_Q4_1},
                 {"q5_0", QZ_GGML_Q5_0}, {"q5_1", QZ_GGML_Q5_1}, {"q8_0", QZ_GGML_Q8_0}, {"q2_k", QZ_GGML_Q2_K}, {"q3_k", QZ_GGML_Q3_K},
                 {"q4_k", QZ_GGML_Q4_K}, {"q5_k", QZ_GGML_Q5_K}, {"q6_k", QZ_GGML_Q6_K}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) check_type(cases[i].file, cases[i].type);
}

/* Hand-worked Q4_0 block: d = 0.25, qs[j] = j | (15 - j) << 4, so element
 * j is (j - 8) / 4 and element j + 16 is (7 - j) / 4. */
static void test_q4_0_hand(void)
{
    qz_block_q4_0 b = {.d = qz_fp32_to_fp16(0.25f)};
    for (int j = 0; j < 16; j++) b.qs[j] = (uint8_t)(j | (15 - j) << 4);
    float y[32];
    qz_ggml_type_traits(QZ_GGML_Q4_0)->to_float(&b, y, 32);
    for (int j = 0; j < 16; j++) {
        CHECK(y[j] == (float)(j - 8) / 4, "y[%d] = %g", j, (double)y[j]);
        CHECK(y[j + 16] == (float)(7 - j) / 4, "y[%d] = %g", j + 16, (double)y[j + 16]);
    }
    CHECK(qz_ggml_type_traits(9) == NULL && qz_ggml_type_traits(-1) == NULL && qz_ggml_type_traits(99) == NULL, "Q8_1 / bad ids");
    CHECK(strcmp(qz_ggml_type_name(QZ_GGML_Q6_K), "Q6_K") == 0, "name");
}

/* ---------------------------------------------------------- crafted files */

typedef struct buf {
    unsigned char b[1024];
    size_t n;
} buf;

static void put(buf *b, const void *p, size_t n)
{
    memcpy(b->b + b->n, p, n);
    b->n += n;
}
static void put_u32(buf *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(buf *b, uint64_t v) { put(b, &v, 8); }
static void put_str(buf *b, const char *s)
{
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}

/* Byte offsets of the fields the bad-file cases patch. */
typedef struct layout {
    size_t n_tensors, n_kv, key0_len, align_val, i32s_count, strs_count, str0_len, key_bol;
    size_t t0_ndims, t0_ne0, t0_type, t0_off, t1_name, t1_off, data_end;
} layout;

/* A valid GGUF v3: 6 key/values, a Q8_0 tensor a.weight (ne 32 x 2) whose
 * row r block has d = 0.5 and q[i] = i - 16 + r, so element (r, i) is
 * (i - 16 + r) / 2, and an F32 tensor b.weight = 1, 2, 3, 4. */
static void good_file(buf *b, layout *L)
{
    memset(b, 0, sizeof *b);
    put(b, "GGUF", 4);
    put_u32(b, 3);
    L->n_tensors = b->n, put_u64(b, 2);
    L->n_kv = b->n, put_u64(b, 6);
    L->key0_len = b->n, put_str(b, "general.architecture"), put_u32(b, QZ_GGUF_STRING), put_str(b, "llama");
    put_str(b, "general.alignment"), put_u32(b, QZ_GGUF_UINT32), L->align_val = b->n, put_u32(b, 32);
    put_str(b, "test.i32s"), put_u32(b, QZ_GGUF_ARRAY), put_u32(b, QZ_GGUF_INT32), L->i32s_count = b->n, put_u64(b, 3);
    int32_t iv[3] = {1, -2, 3};
    put(b, iv, sizeof iv);
    put_str(b, "test.strs"), put_u32(b, QZ_GGUF_ARRAY), put_u32(b, QZ_GGUF_STRING), L->strs_count = b->n, put_u64(b, 2);
    L->str0_len = b->n, put_str(b, "x"), put_str(b, "yz");
    put_str(b, "test.flt"), put_u32(b, QZ_GGUF_FLOAT32);
    float half = 0.5f;
    put(b, &half, 4);
    L->key_bol = b->n, put_str(b, "test.bol"), put_u32(b, QZ_GGUF_BOOL), put(b, "\1", 1);
    put_str(b, "a.weight");
    L->t0_ndims = b->n, put_u32(b, 2);
    L->t0_ne0 = b->n, put_u64(b, 32), put_u64(b, 2);
    L->t0_type = b->n, put_u32(b, QZ_GGML_Q8_0);
    L->t0_off = b->n, put_u64(b, 0);
    L->t1_name = b->n, put_str(b, "b.weight"), put_u32(b, 1), put_u64(b, 4), put_u32(b, QZ_GGML_F32);
    L->t1_off = b->n, put_u64(b, 96); /* PAD(2 x 34 bytes, 32) */
    b->n = (b->n + 31) / 32 * 32;
    size_t data = b->n;
    for (int r = 0; r < 2; r++) {
        qz_block_q8_0 q = {.d = qz_fp32_to_fp16(0.5f)};
        for (int i = 0; i < 32; i++) q.qs[i] = (int8_t)(i - 16 + r);
        memcpy(b->b + data + 34 * (size_t)r, &q, sizeof q);
    }
    float fv[4] = {1, 2, 3, 4};
    memcpy(b->b + data + 96, fv, sizeof fv);
    b->n = data + 96 + sizeof fv;
    L->data_end = b->n;
}

static int open_bytes(const buf *b, size_t n, qz_gguf **g, qz_error *err)
{
    char path[512];
    snprintf(path, sizeof path, "%s/t.gguf", tmpdir);
    FILE *f = fopen(path, "wb");
    fwrite(b->b, 1, n, f);
    fclose(f);
    return qz_gguf_open(g, path, err);
}

static void test_good_file(void)
{
    buf b;
    layout L;
    good_file(&b, &L);
    qz_gguf *g = NULL;
    qz_error err = {0};
    int rc = open_bytes(&b, b.n, &g, &err);
    CHECK(rc == QZ_OK, "open: %s", err.msg);
    if (rc) return;
    CHECK(qz_gguf_version(g) == 3 && qz_gguf_alignment(g) == 32 && qz_gguf_n_kv(g) == 6 && qz_gguf_n_tensors(g) == 2, "header");
    qz_gguf_str s = {0};
    CHECK(qz_gguf_get_string(g, "general.architecture", 1, &s, &err) == QZ_OK && s.len == 5 && !memcmp(s.s, "llama", 5), "arch");
    int64_t v = -7;
    CHECK(qz_gguf_get_int(g, "missing.key", 0, &v, &err) == QZ_OK && v == -7, "optional absent");
    CHECK(qz_gguf_get_int(g, "missing.key", 1, &v, &err) == QZ_EINPUT && strstr(err.msg, "missing.key"), "required absent: %s", err.msg);
    CHECK(qz_gguf_get_int(g, "general.alignment", 1, &v, &err) == QZ_OK && v == 32, "int");
    CHECK(qz_gguf_get_int(g, "test.flt", 1, &v, &err) == QZ_EINPUT && strstr(err.msg, "float32"), "type mismatch: %s", err.msg);
    double d = 0;
    CHECK(qz_gguf_get_float(g, "test.flt", 1, &d, &err) == QZ_OK && d == 0.5, "float");
    int bo = 0;
    CHECK(qz_gguf_get_bool(g, "test.bol", 1, &bo, &err) == QZ_OK && bo == 1, "bool");
    const qz_gguf_kv *a = NULL;
    CHECK(qz_gguf_get_array(g, "test.i32s", QZ_GGUF_INT32, 1, &a, &err) == QZ_OK && a && a->count == 3 && qz_gguf_kv_int(a, 1) == -2,
          "int array");
    CHECK(qz_gguf_get_array(g, "test.strs", QZ_GGUF_INT32, 1, &a, &err) == QZ_EINPUT, "array elem type mismatch");
    CHECK(qz_gguf_get_array(g, "test.strs", QZ_GGUF_STRING, 1, &a, &err) == QZ_OK && qz_gguf_kv_str(a, 1).len == 2 &&
              !memcmp(qz_gguf_kv_str(a, 1).s, "yz", 2), "string array");
    cJSON *j = NULL;
    CHECK(qz_gguf_metadata_json(g, &j, &err) == QZ_OK, "json");
    char *txt = j ? cJSON_PrintUnformatted(j) : NULL;
    const char *want = "{\"general.architecture\":\"llama\",\"general.alignment\":32,\"test.i32s\":[1,-2,3],\"test.strs\":[\"x\",\"yz\"],"
                       "\"test.flt\":0.5,\"test.bol\":true}";
    CHECK(txt && !strcmp(txt, want), "json = %s", txt ? txt : "NULL");
    free(txt);
    cJSON_Delete(j);
    const qz_gguf_tensor *t = qz_gguf_find_tensor(g, "a.weight"), *t1 = qz_gguf_find_tensor(g, "b.weight");
    CHECK(t && t->type == QZ_GGML_Q8_0 && t->n_dims == 2 && t->ne[0] == 32 && t->ne[1] == 2 && t->nbytes == 68, "a.weight info");
    CHECK(t1 && t1 == qz_gguf_tensor_at(g, 1) && t1->nbytes == 16 && !qz_gguf_find_tensor(g, "c.weight"), "b.weight info");
    float y[64];
    CHECK(t && qz_gguf_tensor_to_f32(g, t, y, &err) == QZ_OK, "dequant");
    for (int r = 0; r < 2 && t; r++)
        for (int i = 0; i < 32; i++) CHECK(y[32 * r + i] == (float)(i - 16 + r) * 0.5f, "a[%d][%d] = %g", r, i, (double)y[32 * r + i]);
    CHECK(t1 && qz_gguf_tensor_to_f32(g, t1, y, &err) == QZ_OK && y[0] == 1 && y[3] == 4, "f32 tensor");
    qz_gguf_close(g);
    qz_gguf_close(NULL);
}

static void patch_u64(buf *b, size_t at, uint64_t v) { memcpy(b->b + at, &v, 8); }
static void patch_u32(buf *b, size_t at, uint32_t v) { memcpy(b->b + at, &v, 4); }

/* One bad variant: must fail with QZ_EINPUT and a message holding want. */
static void expect_bad(const buf *b, size_t n, const char *what, const char *want)
{
    qz_gguf *g = NULL;
    qz_error err = {0};
    int rc = open_bytes(b, n, &g, &err);
    CHECK(rc == QZ_EINPUT && g == NULL, "%s: rc %d (%s)", what, rc, err.msg);
    CHECK(strstr(err.msg, want) != NULL && strchr(err.msg, '\n') == NULL, "%s: message '%s' lacks '%s'", what, err.msg, want);
    qz_gguf_close(g);
}

static void test_truncated(void)
{
    buf b;
    layout L;
    good_file(&b, &L);
    for (size_t n = 0; n < L.data_end; n++) {
        qz_gguf *g = NULL;
        qz_error err = {0};
        int rc = open_bytes(&b, n, &g, &err);
        CHECK(rc == QZ_EINPUT, "truncated to %zu bytes: rc %d", n, rc);
        qz_gguf_close(g);
    }
}

typedef void (*mutate_fn)(buf *b, const layout *L);

static void m_magic(buf *b, const layout *L) { (void)L, b->b[0] = 'X'; }
static void m_version1(buf *b, const layout *L) { (void)L, patch_u32(b, 4, 1); }
static void m_version4(buf *b, const layout *L) { (void)L, patch_u32(b, 4, 4); }
static void m_huge_kv(buf *b, const layout *L) { patch_u64(b, L->n_kv, 1ull << 60); }
static void m_huge_tensors(buf *b, const layout *L) { patch_u64(b, L->n_tensors, UINT64_MAX); }
static void m_huge_key(buf *b, const layout *L) { patch_u64(b, L->key0_len, 1ull << 62); }
static void m_huge_array(buf *b, const layout *L) { patch_u64(b, L->i32s_count, 1ull << 61); }
static void m_huge_strs(buf *b, const layout *L) { patch_u64(b, L->strs_count, UINT64_MAX / 2); }
static void m_huge_str(buf *b, const layout *L) { patch_u64(b, L->str0_len, 900); }
static void m_dup_key(buf *b, const layout *L) { memcpy(b->b + L->key_bol + 8, "test.flt", 8); }
static void m_align3(buf *b, const layout *L) { patch_u32(b, L->align_val, 3); }
static void m_align64(buf *b, const layout *L) { patch_u32(b, L->align_val, 64); }
static void m_ndims5(buf *b, const layout *L) { patch_u32(b, L->t0_ndims, 5); }
static void m_ne_block(buf *b, const layout *L) { patch_u64(b, L->t0_ne0, 48); }
static void m_ne_overflow(buf *b, const layout *L) { patch_u64(b, L->t0_ne0, 1ull << 63); }
static void m_type(buf *b, const layout *L) { patch_u32(b, L->t0_type, 9); }
static void m_misaligned(buf *b, const layout *L) { patch_u64(b, L->t1_off, 100); }
static void m_outside(buf *b, const layout *L) { patch_u64(b, L->t1_off, 128); }
static void m_overlap(buf *b, const layout *L) { patch_u64(b, L->t1_off, 32); }
static void m_dup_tensor(buf *b, const layout *L) { b->b[L->t1_name + 8] = 'a'; }
static void m_bool(buf *b, const layout *L) { b->b[L->key_bol + 8 + 8 + 4] = 2; }

static void test_bad_files(void)
{
    static const struct {
        const char *what, *want;
        mutate_fn fn;
    } cases[] = {
        {"bad magic", "not a GGUF file", m_magic},
        {"version 1", "version 1 is not supported", m_version1},
        {"version 4", "version 4 is not supported", m_version4},
        {"huge n_kv", "key/value pairs cannot fit", m_huge_kv},
        {"huge n_tensors", "tensor infos cannot fit", m_huge_tensors},
        {"huge key length", "string length", m_huge_key},
        {"huge array count", "values cannot fit", m_huge_array},
        {"huge string array", "strings cannot fit", m_huge_strs},
        {"string past the end", "runs past the end", m_huge_str},
        {"duplicate key", "key 'test.flt' appears twice", m_dup_key},
        {"alignment 3", "general.alignment 3 is not a power of two", m_align3},
        {"alignment 64", "not a multiple of the alignment 64", m_align64},
        {"n_dims 5", "n_dims 5 (allowed: 1..4)", m_ndims5},
        {"ne not a block multiple", "ne[0] = 48 is not a multiple of Q8_0's block size 32", m_ne_block},
        {"ne overflow", "overflow", m_ne_overflow},
        {"unsupported type", "ggml type 9 is not supported", m_type},
        {"misaligned offset", "offset 100 is not a multiple of the alignment 32", m_misaligned},
        {"offset outside", "lie outside", m_outside},
        {"overlap", "overlap", m_overlap},
        {"duplicate tensor", "tensor 'a.weight' appears twice", m_dup_tensor},
        {"bool 2", "bool value 2", m_bool},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        buf b;
        layout L;
        good_file(&b, &L);
        cases[i].fn(&b, &L);
        expect_bad(&b, b.n, cases[i].what, cases[i].want);
    }
}

/* ------------------------------------------------------- shared models */

/* Every tensor of the HF F32 stories260K equals the GGUF's tensor of the
 * same HF name bit for bit: the name map, the ne reversal and the q/k
 * un-permute are right (a wrong permutation moves rows, which differ). The
 * GGUF (a llama2.c conversion) also stores output.weight, the tied
 * embeddings. */
static void test_stories_gguf_equals_hf(void)
{
    char dir[600], gg[700];
    snprintf(dir, sizeof dir, "%s/models/stories260K", qzt_shared());
    snprintf(gg, sizeof gg, "%s/models/stories260K-llama2c/stories260K.gguf", qzt_shared());
    if (access(gg, R_OK) || access(dir, R_OK)) SKIP("%s or %s not found (set SHARED)", gg, dir);
    qz_hf_model *hf = NULL, *gm = NULL;
    qz_error err = {0};
    int rc = qz_hf_model_open(&hf, dir, &err);
    if (rc == QZ_OK) rc = qz_hf_model_open(&gm, gg, &err);
    CHECK(rc == QZ_OK, "open: %s", err.msg);
    if (rc == QZ_OK) {
        const qz_model_config *a = &hf->cfg, *b = &gm->cfg;
        CHECK(a->hidden == b->hidden && a->intermediate == b->intermediate && a->n_layers == b->n_layers && a->n_heads == b->n_heads &&
                  a->n_kv_heads == b->n_kv_heads && a->head_dim == b->head_dim && a->vocab == b->vocab && a->rms_eps == b->rms_eps &&
                  a->rope_theta == b->rope_theta && b->arch == QZ_ARCH_LLAMA && !b->tie_embeddings,
              "config differs");
        CHECK(qz_hf_model_n_tensors(gm) == qz_hf_model_n_tensors(hf) + 1, "%lld vs %lld tensors", (long long)qz_hf_model_n_tensors(gm),
              (long long)qz_hf_model_n_tensors(hf));
        int64_t compared = 0;
        for (int64_t i = 0; i < qz_hf_model_n_tensors(hf); i++) {
            qz_st_tensor *x = qz_hf_model_tensor_at(hf, i), *y = NULL;
            rc = qz_hf_model_get(gm, x->name, &y, &err);
            CHECK(rc == QZ_OK, "%s: %s", x->name, err.msg);
            if (rc) continue;
            CHECK(y->ndim == x->ndim && y->shape[0] == x->shape[0] && y->numel == x->numel && x->dtype == QZ_DTYPE_F32, "%s: shape", x->name);
            CHECK(y->numel == x->numel && !memcmp(x->data, y->data, x->nbytes), "%s: values differ", x->name);
            qz_hf_model_release(gm, y);
            CHECK(y->data == NULL, "%s: released", x->name);
            compared++;
        }
        qz_st_tensor *emb = qz_hf_model_find(hf, "model.embed_tokens.weight"), *out = NULL;
        CHECK(qz_hf_model_get(gm, "lm_head.weight", &out, &err) == QZ_OK && emb && !memcmp(emb->data, out->data, emb->nbytes),
              "output.weight is not the tied embedding");
        CHECK(compared == qz_hf_model_n_tensors(hf), "compared %lld", (long long)compared);
        CHECK(!strcmp(qz_hf_model_stored_type(gm, out), "F32") && qz_hf_model_stored_bytes(gm, out) == out->nbytes, "stored type");
    }
    qz_hf_model_free(hf);
    qz_hf_model_free(gm);
}

/* The real-size GGUF: its metadata as JSON (what the tokenizer reads), the
 * config synthesized from it (README of the shared models: hidden 576,
 * intermediate 1536, 30 layers, 9 / 3 heads, head_dim 64, vocab 49152,
 * rope_theta 100000, tied), and a Q4_1 linear against its own blocks
 * dequantized by hand for one element. */
static void test_smollm(void)
{
    char path[700];
    snprintf(path, sizeof path, "%s/models/smollm2-135m-instruct-q4_1", qzt_shared());
    if (access(path, R_OK)) SKIP("%s not found (set SHARED)", path);
    qz_hf_model *m = NULL;
    qz_error err = {0};
    int rc = qz_hf_model_open(&m, path, &err);
    CHECK(rc == QZ_OK, "open: %s", err.msg);
    if (rc) return;
    const qz_model_config *c = &m->cfg;
    CHECK(c->hidden == 576 && c->intermediate == 1536 && c->n_layers == 30 && c->n_heads == 9 && c->n_kv_heads == 3 && c->head_dim == 64 &&
              c->vocab == 49152 && c->rope_theta == 100000 && c->tie_embeddings && c->arch == QZ_ARCH_LLAMA,
          "config");
    cJSON *j = NULL;
    CHECK(qz_gguf_metadata_json(m->gguf, &j, &err) == QZ_OK, "json: %s", err.msg);
    const cJSON *toks = cJSON_GetObjectItemCaseSensitive(j, "tokenizer.ggml.tokens");
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(j, "tokenizer.ggml.pre");
    CHECK(cJSON_GetArraySize(toks) == 49152 && cJSON_IsString(pre) && !strcmp(pre->valuestring, "smollm"), "tokenizer keys");
    cJSON_Delete(j);
    /* element (r, c) of a Q4_1 weight: block c / 32 of GGUF row r; v_proj has no permutation */
    qz_st_tensor *t = NULL;
    rc = qz_hf_model_get(m, "model.layers.3.self_attn.v_proj.weight", &t, &err);
    const qz_gguf_tensor *g = qz_gguf_find_tensor(m->gguf, "blk.3.attn_v.weight");
    CHECK(rc == QZ_OK && g && g->type == QZ_GGML_Q4_1 && t->shape[0] == 192 && t->shape[1] == 576, "v_proj: %s", err.msg);
    if (rc == QZ_OK && g) {
        int64_t r = 100, col = 77; /* block 2, element 13: low nibble of qs[13] */
        qz_block_q4_1 b;
        memcpy(&b, (const char *)g->data + (r * (576 / 32) + col / 32) * (int64_t)sizeof b, sizeof b);
        float want = (float)(b.qs[13] & 15) * qz_fp16_to_fp32(b.d) + qz_fp16_to_fp32(b.m);
        CHECK(((const float *)t->data)[r * 576 + col] == want, "v_proj[100][77] = %g, want %g", (double)((const float *)t->data)[r * 576 + col],
              (double)want);
    }
    qz_hf_model_release(m, t);
    qz_hf_model_free(m);
}

/* A directory with no config.json: its one .gguf, else a message saying
 * what is supported. */
static void test_dir_forms(void)
{
    char d[600], path[700];
    snprintf(d, sizeof d, "%s/dirs", tmpdir);
    mkdir(d, 0700);
    qz_hf_model *m = NULL;
    qz_error err = {0};
    CHECK(qz_hf_model_open(&m, d, &err) == QZ_EINPUT && strstr(err.msg, "config.json") && strstr(err.msg, "GGUF") &&
              strstr(err.msg, "llama2.c"), "empty dir: %s", err.msg);
    buf b;
    layout L;
    good_file(&b, &L);
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/m%d.gguf", d, i);
        FILE *f = fopen(path, "wb");
        fwrite(b.b, 1, b.n, f);
        fclose(f);
        int rc = qz_hf_model_open(&m, d, &err);
        /* the crafted file is no LLaMA model: reaching the GGUF config check proves the directory found it */
        CHECK(rc == QZ_EINPUT && (i == 0 ? strstr(err.msg, "m0.gguf: required key 'llama.embedding_length'") != NULL
                                         : strstr(err.msg, "2 .gguf files") != NULL), "%d files: %s", i + 1, err.msg);
    }
    snprintf(path, sizeof path, "%s/m0.gguf", d);
    b.b[L.key0_len + 8 + 20 + 4 + 8] = 'X'; /* general.architecture "Xlama" */
    FILE *f = fopen(path, "wb");
    fwrite(b.b, 1, b.n, f);
    fclose(f);
    CHECK(qz_hf_model_open(&m, path, &err) == QZ_EINPUT && strstr(err.msg, "general.architecture 'Xlama' is not supported (supported: llama)"),
          "arch: %s", err.msg);
    CHECK(m == NULL, "no model on failure");
}

int main(int argc, char **argv)
{
    (void)argc;
    fx_init(argv[0], "gguf", "scripts/gen_gguf_fixture.py (with /opt/qzpy/bin/python)");
    qzt_tmpdir(tmpdir, sizeof tmpdir, "gguf");
    QZ_RUN(test_dequant_fixtures);
    QZ_RUN(test_q4_0_hand);
    QZ_RUN(test_good_file);
    QZ_RUN(test_truncated);
    QZ_RUN(test_bad_files);
    QZ_RUN(test_stories_gguf_equals_hf);
    QZ_RUN(test_smollm);
    QZ_RUN(test_dir_forms);
    qzt_rmdir(tmpdir);
    QZ_TEST_EXIT();
}
