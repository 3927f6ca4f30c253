/* test_tokenizer.c - the tokenizer against Hugging Face's `tokenizers` (the
 * Rust library behind transformers' fast tokenizers): every case of
 * tests/fixtures/tokenizer/<variant>/cases.txt, written once by
 * scripts/gen_tokenizer_fixtures.py, must encode and decode to exactly the
 * golden ids and text. Also: whole shared texts by checksum, errors on
 * unsupported or malformed files and on non-UTF-8 text, concurrent use, and
 * a timing print (no assertion) for 1 MB of text. */
#define _POSIX_C_SOURCE 200809L
#include "tokenizer.h"
#include "qz_test.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define FIXTURES "tests/fixtures/tokenizer"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

/* Reads up to max bytes of a file (max 0: all); NULL when it cannot. */
static char *read_file(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    size_t n = max && (size_t)size > max ? max : (size_t)size;
    char *p = malloc(n + 1);
    if (p && fread(p, 1, n, f) != n) free(p), p = NULL;
    fclose(f);
    if (p) p[n] = 0, *len = n;
    return p;
}

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

static char *hex_decode(const char *hex, size_t *len)
{
    size_t n = strlen(hex) / 2;
    char *out = malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (char)v;
    }
    out[n] = 0;
    *len = n;
    return out;
}

static int32_t *parse_ids(const char *s, int64_t *n)
{
    size_t cap = strlen(s) / 2 + 1;
    int32_t *ids = malloc(cap * sizeof *ids);
    *n = 0;
    char *end;
    for (long v = strtol(s, &end, 10); end != s; v = strtol(s, &end, 10)) {
        ids[(*n)++] = (int32_t)v;
        s = end;
    }
    return ids;
}

static uint32_t crc_ids(const int32_t *ids, int64_t n)
{
    uLong crc = crc32(0, Z_NULL, 0);
    for (int64_t i = 0; i < n; i++) {
        unsigned char le[4] = {(unsigned char)ids[i], (unsigned char)(ids[i] >> 8), (unsigned char)(ids[i] >> 16),
                               (unsigned char)((uint32_t)ids[i] >> 24)};
        crc = crc32(crc, le, 4);
    }
    return (uint32_t)crc;
}

static qz_tokenizer *load_variant(const char *name)
{
    char json[512], cfg[512];
    snprintf(json, sizeof json, FIXTURES "/%s/tokenizer.json", name);
    snprintf(cfg, sizeof cfg, FIXTURES "/%s/tokenizer_config.json", name);
    qz_tokenizer *tok = NULL;
    qz_error err = {0};
    int rc = qz_tokenizer_load(&tok, json, access(cfg, R_OK) == 0 ? cfg : NULL, &err);
    CHECK(rc == 0, "load %s: %s", name, err.msg);
    return tok;
}

/* ------------------------------------------------------------------------ */
/* The golden cases                                                          */
/* ------------------------------------------------------------------------ */

static void check_ids(const char *what, const int32_t *got, int64_t n_got, const int32_t *want, int64_t n_want)
{
    int64_t i = 0;
    while (i < n_got && i < n_want && got[i] == want[i]) i++;
    CHECK(i == n_got && i == n_want, "%s: %lld ids, want %lld; first difference at %lld: %d vs %d", what,
          (long long)n_got, (long long)n_want, (long long)i, i < n_got ? got[i] : -1, i < n_want ? want[i] : -1);
}

static void case_enc(const qz_tokenizer *tok, int line, int add, const char *text, size_t len, const char *want_s)
{
    int64_t n_want, n = 0;
    int32_t *want = parse_ids(want_s, &n_want), *ids = NULL;
    qz_error err = {0};
    int rc = qz_tokenizer_encode(tok, text, len, add, &ids, &n, &err);
    char what[96];
    snprintf(what, sizeof what, "line %d (enc add_special=%d)", line, add);
    CHECK(rc == 0, "%s: %s", what, err.msg);
    if (rc == 0) check_ids(what, ids, n, want, n_want);
    free(ids), free(want);
}

static void case_dec(const qz_tokenizer *tok, int line, int skip, const char *ids_s, const char *want_hex)
{
    int64_t n;
    size_t want_len, len = 0;
    int32_t *ids = parse_ids(ids_s, &n);
    char *want = hex_decode(want_hex, &want_len), *text = NULL;
    qz_error err = {0};
    int rc = qz_tokenizer_decode(tok, ids, n, skip, &text, &len, &err);
    CHECK(rc == 0, "line %d (dec): %s", line, err.msg);
    if (rc == 0)
        CHECK(len == want_len && memcmp(text, want, len) == 0 && text[len] == 0,
              "line %d (dec skip_special=%d): got \"%s\", want \"%s\"", line, skip, text, want);
    free(ids), free(want), free(text);
}

/* encfile / encsum: (a prefix of) a shared text; returns 0 when absent. */
static int case_shared(const qz_tokenizer *tok, int line, char **f)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", qzt_shared(), f[2]);
    size_t len;
    int sum = !strcmp(f[0], "encsum");
    char *text = read_file(path, sum ? 0 : strtoul(f[3], NULL, 10), &len);
    if (!text) return 0;
    int32_t *ids = NULL;
    int64_t n = 0;
    qz_error err = {0};
    int rc = qz_tokenizer_encode(tok, text, len, atoi(f[1]), &ids, &n, &err);
    CHECK(rc == 0, "line %d (%s %s): %s", line, f[0], f[2], err.msg);
    if (rc == 0 && sum)
        CHECK(n == atoll(f[3]) && crc_ids(ids, n) == strtoul(f[4], NULL, 10),
              "line %d (all of %s): %lld ids crc %u, want %s ids crc %s", line, f[2], (long long)n, crc_ids(ids, n),
              f[3], f[4]);
    if (rc == 0 && !sum) {
        int64_t n_want;
        int32_t *want = parse_ids(f[4], &n_want);
        check_ids(f[2], ids, n, want, n_want);
        free(want);
    }
    free(text), free(ids);
    return 1;
}

/* Runs every case of one cases.txt; returns the number checked. */
static int run_cases(const qz_tokenizer *tok, const char *variant)
{
    char path[512];
    snprintf(path, sizeof path, FIXTURES "/%s/cases.txt", variant);
    size_t size;
    char *all = read_file(path, 0, &size);
    CHECK(all != NULL, "cannot read %s (run from the repository root)", path);
    if (!all) return 0;
    int line = 0, checked = 0, skipped = 0;
    for (char *s = all, *next; s && *s; s = next) {
        next = strchr(s, '\n');
        if (next) *next++ = 0;
        line++;
        char *f[6] = {0};
        int nf = 0;
        for (char *t = s; t && nf < 6; nf++) {
            f[nf] = t;
            if ((t = strchr(t, '\t'))) *t++ = 0;
        }
        if (f[0][0] == '#' || nf < 2) continue;
        checked++;
        if (!strcmp(f[0], "vocab_size")) CHECK(qz_tokenizer_vocab_size(tok) == atoi(f[1]), "vocab_size %d, want %s", qz_tokenizer_vocab_size(tok), f[1]);
        else if (!strcmp(f[0], "bos")) CHECK(qz_tokenizer_bos(tok) == atoi(f[1]), "bos %d, want %s", qz_tokenizer_bos(tok), f[1]);
        else if (!strcmp(f[0], "eos")) CHECK(qz_tokenizer_eos(tok) == atoi(f[1]), "eos %d, want %s", qz_tokenizer_eos(tok), f[1]);
        else if (!strcmp(f[0], "dec")) case_dec(tok, line, atoi(f[1]), f[2], f[3] ? f[3] : "");
        else if (!strcmp(f[0], "enc")) {
            size_t len;
            char *text = hex_decode(f[2], &len);
            case_enc(tok, line, atoi(f[1]), text, len, f[3] ? f[3] : "");
            free(text);
        } else if (!case_shared(tok, line, f)) checked--, skipped++;
    }
    free(all);
    printf("  %s: %d cases%s\n", variant, checked, skipped ? " (shared-text cases skipped: no shared dir)" : "");
    return checked;
}

static void run_variant(const char *name)
{
    qz_tokenizer *tok = load_variant(name);
    if (tok) CHECK(run_cases(tok, name) > 100, "%s: too few cases", name);
    qz_tokenizer_free(tok);
}

static void test_stories260K(void)
{
    char json[1024], cfg[1024];
    snprintf(json, sizeof json, "%s/models/stories260K/tokenizer.json", qzt_shared());
    snprintf(cfg, sizeof cfg, "%s/models/stories260K/tokenizer_config.json", qzt_shared());
    if (access(json, R_OK) != 0) SKIP("%s not found (set SHARED)", json);
    qz_tokenizer *tok = NULL;
    qz_error err = {0};
    CHECK(qz_tokenizer_load(&tok, json, cfg, &err) == 0, "%s", err.msg);
    if (tok) run_cases(tok, "stories260K");
    qz_tokenizer_free(tok);
}

static void test_sp(void) { run_variant("sp"); }
static void test_sp_metaspace(void) { run_variant("sp_metaspace"); }
static void test_sp_metaspace_split(void) { run_variant("sp_metaspace_split"); }
static void test_sp_unk(void) { run_variant("sp_unk"); }
static void test_bytelevel(void) { run_variant("bytelevel"); }
static void test_bytelevel_gpt2(void) { run_variant("bytelevel_gpt2"); }
static void test_bytelevel_nfc(void) { run_variant("bytelevel_nfc"); }
static void test_bytelevel_splits(void) { run_variant("bytelevel_splits"); }
static void test_bytelevel_digits(void) { run_variant("bytelevel_digits"); }

/* ------------------------------------------------------------------------ */
/* API behaviour                                                             */
/* ------------------------------------------------------------------------ */

/* Same vocab, merges and added tokens -> same fingerprint, whatever the
 * pre-tokenizer; sp_metaspace and sp_metaspace_split differ only there. */
static void test_fingerprint(void)
{
    qz_tokenizer *a = load_variant("sp_metaspace"), *b = load_variant("sp_metaspace"),
                 *c = load_variant("sp_metaspace_split"), *d = load_variant("bytelevel"),
                 *e = load_variant("bytelevel_gpt2");
    if (a && b && c && d && e) {
        CHECK(qz_tokenizer_fingerprint(a) == qz_tokenizer_fingerprint(b), "same file, different fingerprints");
        CHECK(qz_tokenizer_fingerprint(a) == qz_tokenizer_fingerprint(c), "same vocab and merges differ");
        CHECK(qz_tokenizer_fingerprint(a) != qz_tokenizer_fingerprint(d), "sp and bytelevel collide");
        CHECK(qz_tokenizer_fingerprint(d) != qz_tokenizer_fingerprint(e), "added tokens not in the fingerprint");
    }
    qz_tokenizer_free(a), qz_tokenizer_free(b), qz_tokenizer_free(c), qz_tokenizer_free(d), qz_tokenizer_free(e);
    qz_tokenizer_free(NULL);
}

/* Without tokenizer_config.json the post-processor alone decides. */
static void test_no_config(void)
{
    qz_tokenizer *tok = NULL;
    qz_error err = {0};
    CHECK(qz_tokenizer_load(&tok, FIXTURES "/bytelevel/tokenizer.json", NULL, &err) == 0, "%s", err.msg);
    if (!tok) return;
    int32_t *ids = NULL;
    int64_t n = -1;
    CHECK(qz_tokenizer_bos(tok) == 1 && qz_tokenizer_eos(tok) == -1, "bos %d eos %d", qz_tokenizer_bos(tok),
          qz_tokenizer_eos(tok));
    CHECK(qz_tokenizer_encode(tok, "", 0, 1, &ids, &n, &err) == 0 && n == 1 && ids[0] == 1, "empty text");
    free(ids);
    CHECK(qz_tokenizer_encode(tok, NULL, 0, 0, &ids, &n, &err) == 0 && n == 0 && ids, "NULL empty text");
    free(ids);
    qz_tokenizer_free(tok);
}

/* add_bos_token=false removes the template's BOS (transformers rebuilds the
 * post-processor from it); the BOS id stays known. */
static void test_config_no_bos(void)
{
    char dir[] = "/tmp/qz_tok_XXXXXX", path[256];
    if (!mkdtemp(dir)) SKIP("mkdtemp failed");
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    write_file(path, "{\"add_bos_token\": false, \"eos_token\": \"<|eot_id|>\"}");
    qz_tokenizer *tok = NULL;
    qz_error err = {0};
    CHECK(qz_tokenizer_load(&tok, FIXTURES "/bytelevel/tokenizer.json", path, &err) == 0, "%s", err.msg);
    int32_t *ids = NULL;
    int64_t n = -1;
    if (tok) {
        CHECK(qz_tokenizer_bos(tok) == 1 && qz_tokenizer_eos(tok) == 701, "bos %d eos %d", qz_tokenizer_bos(tok),
              qz_tokenizer_eos(tok));
        CHECK(qz_tokenizer_encode(tok, "", 0, 1, &ids, &n, &err) == 0 && n == 0, "%lld ids", (long long)n);
    }
    free(ids);
    qz_tokenizer_free(tok);
    remove(path);
    rmdir(dir);
}

static void test_decode_negative_ids(void)
{
    qz_tokenizer *tok = load_variant("sp");
    if (!tok) return;
    int32_t with[] = {-1, 300, INT32_MIN, 301}, without[] = {300, 301};
    char *a = NULL, *b = NULL;
    size_t la, lb;
    qz_error err = {0};
    CHECK(qz_tokenizer_decode(tok, with, 4, 0, &a, &la, &err) == 0, "%s", err.msg);
    CHECK(qz_tokenizer_decode(tok, without, 2, 0, &b, &lb, &err) == 0, "%s", err.msg);
    CHECK(a && b && la == lb && !strcmp(a, b), "negative ids not skipped: \"%s\" vs \"%s\"", a, b);
    free(a), free(b);
    qz_tokenizer_free(tok);
}

static void test_invalid_utf8(void)
{
    static const struct { const char *s; size_t len, offset; } cases[] = {
        {"ab\xff" "cd", 5, 2}, {"ok \xe4\xbd", 5, 3}, {"\xc0\xaf", 2, 0}, {"x\xed\xa0\x80", 4, 1},
        {"\xf4\x90\x80\x80", 4, 0}, {"caf\xc3", 4, 3}, {"\x80", 1, 0}};
    qz_tokenizer *tok = load_variant("bytelevel");
    if (!tok) return;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int32_t *ids = NULL;
        int64_t n = 0;
        qz_error err = {0};
        char want[64];
        snprintf(want, sizeof want, "byte offset %zu", cases[i].offset);
        int rc = qz_tokenizer_encode(tok, cases[i].s, cases[i].len, 1, &ids, &n, &err);
        CHECK(rc == QZ_EINPUT && strstr(err.msg, want) && !ids, "case %zu: rc %d msg '%s'", i, rc, err.msg);
    }
    qz_tokenizer_free(tok);
}

/* The tokenizer of `json`, written to a temporary tokenizer.json (its name
 * left in path) that is removed again; NULL on failure, with the status in
 * *rc (999: no temporary directory, 998: the write failed) and the message
 * in err. */
static qz_tokenizer *load_json(const char *json, qz_error *err, int *rc, char *path, size_t path_len)
{
    char dir[] = "/tmp/qz_tok_XXXXXX";
    qz_tokenizer *tok = NULL;
    *rc = 999;
    if (!mkdtemp(dir)) return NULL;
    snprintf(path, path_len, "%s/tokenizer.json", dir);
    *rc = write_file(path, json) ? 998 : qz_tokenizer_load(&tok, path, NULL, err);
    remove(path);
    rmdir(dir);
    return tok;
}

/* Loads `json`; returns the status and leaves the message in err. */
static int load_text(const char *json, qz_error *err, char *path, size_t path_len)
{
    int rc;
    qz_tokenizer_free(load_json(json, err, &rc, path, path_len));
    return rc;
}

static void test_load_errors(void)
{
    static const char wordpiece[] =
        "{\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"vocab\":{\"[UNK]\":0,\"a\":1}}}";
    static const struct { const char *json, *want; } cases[] = {
        {wordpiece, "\"WordPiece\" is not supported"},
        {"{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"a\",0.0]]}}", "\"Unigram\" is not supported"},
        {"{\"model\":{\"type\":\"WordLevel\",\"vocab\":{\"a\":0}}}", "\"WordLevel\" is not supported"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1}", "malformed JSON"},
        {"[1,2]", "not a JSON object"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a b\"]}}", "not in model.vocab"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a a a\"]}}", "separated by one space"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":-4},\"merges\":[]}}", "is not an id"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"normalizer\":{\"type\":\"Lowercase\"}}",
         "normalizer type \"Lowercase\" is not supported"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"pre_tokenizer\":{\"type\":\"Whitespace\"}}",
         "pre_tokenizer type \"Whitespace\" is not supported"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"decoder\":{\"type\":\"WordPiece\"}}",
         "decoder type \"WordPiece\" is not supported"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"post_processor\":{\"type\":\"Foo\"}}",
         "post_processor type \"Foo\" is not supported"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"pre_tokenizer\":"
         "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(\"},\"behavior\":\"Isolated\",\"invert\":false}}",
         "does not compile"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[],\"dropout\":0.1}}", "dropout"},
        /* issue 15 defect 2: strings a step inserts into the text must be UTF-8 (NFC asserted, PCRE2 trusted it) */
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"normalizer\":{\"type\":\"Prepend\","
         "\"prepend\":\"\xff\"}}", "Prepend has no \"prepend\" UTF-8 string"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"normalizer\":{\"type\":\"Replace\","
         "\"pattern\":{\"String\":\"a\"},\"content\":\"\xc3\"}}", "Replace has no \"content\" UTF-8 string"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"normalizer\":{\"type\":\"Replace\","
         "\"pattern\":{\"String\":\"\xe2\x96\"},\"content\":\"b\"}}", "with a UTF-8 string"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"pre_tokenizer\":{\"type\":\"Metaspace\","
         "\"replacement\":\"\xff\"}}", "must be one character"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"decoder\":{\"type\":\"Strip\","
         "\"content\":\"\xc3\",\"start\":1,\"stop\":0}}", "decoder Strip needs"},
        /* and counts are integers (cJSON's valueint truncated 1.5) */
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"decoder\":{\"type\":\"Strip\","
         "\"content\":\" \",\"start\":1.5,\"stop\":0}}", "decoder Strip needs"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        qz_error err = {0};
        char path[256];
        int rc = load_text(cases[i].json, &err, path, sizeof path);
        CHECK(rc == QZ_EINPUT && strstr(err.msg, cases[i].want) && strstr(err.msg, path),
              "case %zu: rc %d msg '%s'", i, rc, err.msg);
    }
    qz_tokenizer *tok = NULL;
    qz_error err = {0};
    CHECK(qz_tokenizer_load(&tok, "/nonexistent/tokenizer.json", NULL, &err) == QZ_EINPUT && !tok &&
              strstr(err.msg, "/nonexistent/tokenizer.json"), "missing file: %s", err.msg);
    CHECK(qz_tokenizer_load(&tok, FIXTURES "/sp/tokenizer.json", FIXTURES "/sp/cases.txt", &err) == QZ_EINPUT &&
              !tok && strstr(err.msg, "cases.txt"), "bad config: %s", err.msg);
}

/* Issue 15 defect 11: a decoder step that cuts a character (here Replace
 * of the last byte of "a\u00e9" through \K) hands ByteLevel bytes that are
 * not UTF-8; decoding used to loop forever on them (the invalid byte left the
 * code point of the previous character, and the index stepped back by one).
 * Now the token keeps its bytes and the lossy UTF-8 gives "a" U+FFFD.
 * alarm() turns a hang into a failed test. */
static void test_decode_cut_character(void)
{
    static const char json[] =
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\xc3\xa9\":0,\"b\":1},\"merges\":[]},\"decoder\":{\"type\":\"Sequence\","
        "\"decoders\":[{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"a\\\\C\\\\K\\\\C\"},\"content\":\"\"},"
        "{\"type\":\"ByteLevel\"}]}}";
    qz_error err = {0};
    char path[256];
    int load_rc;
    qz_tokenizer *tok = load_json(json, &err, &load_rc, path, sizeof path);
    CHECK(load_rc == 0, "%s", err.msg);
    if (tok) {
        char *text = NULL;
        size_t len = 0;
        alarm(10);
        int rc = qz_tokenizer_decode(tok, (const int32_t[]){0, 1}, 2, 0, &text, &len, &err);
        alarm(0);
        CHECK(rc == 0 && len == 5 && memcmp(text, "a\xef\xbf\xbd" "b", 5) == 0, "rc %d, %zu bytes: %s", rc, len, err.msg);
        free(text);
    }
    qz_tokenizer_free(tok);
}

/* A tokenizer.json regex that backtracks catastrophically is refused at the
 * match limit (exit 2), not run for hours; an oversized one at load. */
static void test_regex_limits(void)
{
    static const char json[] =
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1},\"merges\":[]},\"pre_tokenizer\":{\"type\":\"Split\","
        "\"pattern\":{\"Regex\":\"(a|a)+[^a]\"},\"behavior\":\"Isolated\",\"invert\":false}}";
    qz_error err = {0};
    char path[256];
    int load_rc;
    qz_tokenizer *tok = load_json(json, &err, &load_rc, path, sizeof path);
    CHECK(load_rc == 0, "%s", err.msg);
    if (tok) {
        char text[64];
        memset(text, 'a', sizeof text);
        int32_t *ids = NULL;
        int64_t n = 0;
        alarm(60);
        CHECK(qz_tokenizer_encode(tok, text, sizeof text, 0, &ids, &n, &err) == QZ_EINPUT && strstr(err.msg, "match limit"), "%s",
              err.msg);
        alarm(0);
        free(ids);
    }
    qz_tokenizer_free(tok);
    char big[5000 + 300];
    int k = snprintf(big, sizeof big, "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"pre_tokenizer\":"
                                      "{\"type\":\"Split\",\"behavior\":\"Isolated\",\"pattern\":{\"Regex\":\"");
    memset(big + k, 'a', 5000);
    snprintf(big + k + 5000, sizeof big - (size_t)k - 5000, "\"}}}");
    CHECK(load_text(big, &err, path, sizeof path) == QZ_EINPUT && strstr(err.msg, "limit of 4096"), "%s", err.msg);
}

/* The whole-word unk path: an unk_token that is not in the vocab fails at
 * encode time, as `tokenizers` does. */
static void test_missing_unk(void)
{
    static const char json[] =
        "{\"model\":{\"type\":\"BPE\",\"unk_token\":\"<unk>\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[\"a b\"]}}";
    qz_error err = {0};
    char path[256];
    int load_rc;
    qz_tokenizer *tok = load_json(json, &err, &load_rc, path, sizeof path);
    CHECK(load_rc == 0, "%s", err.msg);
    int32_t *ids = NULL;
    int64_t n = 0;
    if (tok) {
        CHECK(qz_tokenizer_encode(tok, "abab", 4, 1, &ids, &n, &err) == 0 && n == 2 && ids[0] == 2 && ids[1] == 2,
              "abab -> %lld ids", (long long)n);
        free(ids), ids = NULL;
        CHECK(qz_tokenizer_encode(tok, "abc", 3, 1, &ids, &n, &err) == QZ_EINPUT && strstr(err.msg, "<unk>"),
              "msg '%s'", err.msg);
        free(ids);
    }
    qz_tokenizer_free(tok);
}

/* ------------------------------------------------------------------------ */
/* Concurrency and speed                                                     */
/* ------------------------------------------------------------------------ */

/* About 1 MB of text: the shared TinyStories file repeated, or a synthetic
 * mix when the shared directory is absent. */
static char *megabyte_text(size_t *len)
{
    char path[1024];
    size_t n0 = 0;
    snprintf(path, sizeof path, "%s/data/tinystories-valid.txt", qzt_shared());
    char *src = read_file(path, 0, &n0);
    if (!src) {
        static const char mix[] = "Once upon a time, Lily saw 42 birds — très jolis! 你好世界 😀 don't stop.\n";
        src = strdup(mix), n0 = strlen(mix);
    }
    size_t n = 1 << 20, k = 0;
    char *text = malloc(n);
    while (k < n) {
        size_t take = n - k < n0 ? n - k : n0;
        while (take < n0 && ((unsigned char)src[take] & 0xC0) == 0x80) take--; /* end on a character */
        memcpy(text + k, src, take);
        k += take;
        if (take < n0) break;
    }
    free(src);
    *len = k;
    return text;
}

static void time_encode(const char *variant, const char *text, size_t len)
{
    qz_tokenizer *tok = load_variant(variant);
    if (!tok) return;
    int32_t *ids = NULL;
    int64_t n = 0;
    qz_error err = {0};
    double t0 = qz_now();
    int rc = qz_tokenizer_encode(tok, text, len, 1, &ids, &n, &err);
    double dt = qz_now() - t0;
    CHECK(rc == 0, "%s", err.msg);
    printf("  encode %.2f MB with %-12s %8lld tokens in %.3f s\n", (double)len / 1e6, variant, (long long)n, dt);
    free(ids);
    qz_tokenizer_free(tok);
}

static void test_timing_1mb(void)
{
    size_t len;
    char *text = megabyte_text(&len);
    time_encode("sp", text, len);        /* SentencePiece style: the whole text is one BPE word */
    time_encode("bytelevel", text, len); /* regex split, then many short words */
    free(text);
}

typedef struct { const qz_tokenizer *tok; const char *text; size_t len; int64_t n; uint32_t crc; } job;

static void *encode_job(void *arg)
{
    job *j = arg;
    int32_t *ids = NULL;
    qz_error err = {0};
    if (qz_tokenizer_encode(j->tok, j->text, j->len, 1, &ids, &j->n, &err) == 0) j->crc = crc_ids(ids, j->n);
    free(ids);
    return NULL;
}

static void test_threads(void)
{
    qz_tokenizer *tok = load_variant("bytelevel");
    if (!tok) return;
    static const char text[] = "Threads share one tokenizer: ça marche, 1234 times! 你好 <|endoftext|> end.";
    job jobs[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (job){tok, text, sizeof text - 1, -1, 0};
        pthread_create(&th[i], NULL, encode_job, &jobs[i]);
    }
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    for (int i = 1; i < 4; i++)
        CHECK(jobs[i].n == jobs[0].n && jobs[i].crc == jobs[0].crc && jobs[0].n > 0, "thread %d differs", i);
    qz_tokenizer_free(tok);
}

int main(void)
{
    QZ_RUN(test_stories260K);
    QZ_RUN(test_sp);
    QZ_RUN(test_sp_metaspace);
    QZ_RUN(test_sp_metaspace_split);
    QZ_RUN(test_sp_unk);
    QZ_RUN(test_bytelevel);
    QZ_RUN(test_bytelevel_gpt2);
    QZ_RUN(test_bytelevel_nfc);
    QZ_RUN(test_bytelevel_splits);
    QZ_RUN(test_bytelevel_digits);
    QZ_RUN(test_fingerprint);
    QZ_RUN(test_no_config);
    QZ_RUN(test_config_no_bos);
    QZ_RUN(test_decode_negative_ids);
    QZ_RUN(test_invalid_utf8);
    QZ_RUN(test_load_errors);
    QZ_RUN(test_missing_unk);
    QZ_RUN(test_decode_cut_character);
    QZ_RUN(test_regex_limits);
    QZ_RUN(test_threads);
    QZ_RUN(test_timing_1mb);
    QZ_TEST_EXIT();
}
