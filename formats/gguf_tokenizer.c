/* gguf_tokenizer.c - GGUF tokenizer metadata -> Hugging Face tokenizer.json
 * and tokenizer_config.json (cJSON), so that one tokenizer implementation
 * (libquant/tokenizer.c) serves both kinds of model and qz can write the
 * tokenizer files of a Hugging Face directory made from a GGUF.
 *
 * Follows the GGUF spec's tokenizer keys (ggml docs/gguf.md), llama.cpp's
 * reading of them (src/llama-vocab.cpp: token types, the pre-tokenizer
 * names and their regexes, add_bos defaults) and, for the JSON produced, the
 * tokenizer.json each model family ships:
 *   gpt2:  byte-level BPE; vocab and merges as stored; the pre-tokenizer of
 *          the model's own tokenizer.json for each tokenizer.ggml.pre name
 *          (table `PRES`).
 *   llama: SentencePiece BPE as transformers' LlamaConverter writes it
 *          (legacy form): normalizer Prepend("▁") + Replace(" ", "▁"),
 *          byte_fallback, fuse_unk, decoder Replace/ByteFallback/Fuse/Strip.
 *          GGUF stores no merges for it, so they are rebuilt the way
 *          transformers' SentencePieceExtractor does: every split of every
 *          piece into two pieces of the vocab, ordered by the merged piece's
 *          score (descending), then by the ids of the merged piece, left and
 *          right piece. This reproduces stories260K's tokenizer.json exactly.
 * Left out: tokenizer.ggml.model "bert" / "t5" / "rwkv" (WordPiece, Unigram),
 * the deepseek / falcon / chatglm pre-tokenizers.
 */
#include "gguf_tokenizer.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_USER = 4, TT_UNUSED = 5, TT_BYTE = 6 };

/* ------------------------------------------------------------------------ */
/* Pre-tokenizers of the byte-level models                                   */
/* ------------------------------------------------------------------------ */

/* The LLaMA-3 and Qwen2 Split regexes, as in their tokenizer.json. */
#define RX_LLAMA3                                                                                          \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|" \
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RX_QWEN2                                                                                        \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|" \
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

typedef struct {
    const char *names[4];    /* tokenizer.ggml.pre values */
    const char *splits[5];   /* Split(Regex, Isolated) steps in order, NULL-ended */
    int digits;              /* Digits(individual_digits) before ByteLevel */
    int byte_level_regex;    /* ByteLevel's own GPT-2 regex (use_regex) */
    int nfc;                 /* NFC normalizer */
    int ignore_merges;       /* model.ignore_merges */
    int add_bos;             /* llama.cpp's default when add_bos_token is absent */
} pre_spec;

static const pre_spec PRES[] = {
    {.names = {"gpt2"}, .byte_level_regex = 1},
    {.names = {"smollm", "starcoder"}, .digits = 1, .byte_level_regex = 1},
    {.names = {"llama3", "llama-v3", "llama-bpe"}, .splits = {RX_LLAMA3}, .ignore_merges = 1, .add_bos = 1},
    {.names = {"qwen2"}, .splits = {RX_QWEN2}, .nfc = 1},
    /* No tokenizer.json to match: llama.cpp's fallback regex chain. */
    {.names = {"default"},
     .splits = {"[\\p{P}\\$\\+<=>\\^~\\|]+", "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
                "\\p{N}+", "[0-9][0-9][0-9]"}},
};

const char *qz_gguf_tokenizer_pre_names(void)
{
    return "gpt2, smollm, starcoder, llama3, llama-v3, llama-bpe, qwen2, default";
}

static const pre_spec *find_pre(const char *name)
{
    for (size_t i = 0; i < sizeof PRES / sizeof *PRES; i++)
        for (int j = 0; j < 4 && PRES[i].names[j]; j++)
            if (strcmp(PRES[i].names[j], name) == 0) return &PRES[i];
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Reading the metadata                                                      */
/* ------------------------------------------------------------------------ */

typedef struct {
    const cJSON *meta;
    const char *where;
    qz_error *err;
    int spm;                 /* tokenizer.ggml.model "llama" */
    const pre_spec *pre;     /* gpt2 only */
    int64_t n;               /* tokens */
    const char **tok;        /* (n) token strings, borrowed from meta */
    uint8_t *type;           /* (n) token types */
    double *score;           /* (n) scores, spm only */
    int32_t bos, eos, unk, pad; /* -1 when absent or out of range */
    int add_bos, add_eos, space_prefix;
    int oom;                 /* a cJSON allocation failed while building */
} conv;

static const cJSON *key(const conv *c, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(c->meta, name);
}

static int bad_key(const conv *c, const char *name, const char *why)
{
    return qz_fail(c->err, QZ_EINPUT, "%s: GGUF key %s %s", c->where, name, why);
}

/* An array key whose items all pass is(); its length in *n. */
static int read_array(const conv *c, const char *name, cJSON_bool (*is)(const cJSON *), int64_t *n)
{
    const cJSON *a = key(c, name);
    if (!cJSON_IsArray(a)) return bad_key(c, name, a ? "is not an array" : "is missing");
    int64_t k = 0;
    for (const cJSON *e = a->child; e; e = e->next, k++)
        if (!is(e)) return qz_fail(c->err, QZ_EINPUT, "%s: GGUF key %s[%lld] has the wrong type", c->where, name, (long long)k);
    *n = k;
    return 0;
}

/* An optional token id key: -1 when absent or not a token (GGUFs write
 * UINT32_MAX for "none"). */
static int32_t token_id(const conv *c, const char *name)
{
    const cJSON *v = key(c, name);
    return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < (double)c->n ? (int32_t)v->valuedouble : -1;
}

static int flag(const conv *c, const char *name, int dflt)
{
    const cJSON *v = key(c, name);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

static int read_model(conv *c)
{
    const cJSON *m = key(c, "tokenizer.ggml.model"), *p = key(c, "tokenizer.ggml.pre");
    if (!cJSON_IsString(m)) return bad_key(c, "tokenizer.ggml.model", m ? "is not a string" : "is missing");
    if (strcmp(m->valuestring, "llama") == 0) return c->spm = 1, 0;
    if (strcmp(m->valuestring, "gpt2") != 0)
        return qz_fail(c->err, QZ_EINPUT, "%s: tokenizer.ggml.model \"%s\" is not supported (supported: gpt2, llama)",
                       c->where, m->valuestring);
    const char *name = cJSON_IsString(p) ? p->valuestring : "default";
    if (!(c->pre = find_pre(name)))
        return qz_fail(c->err, QZ_EINPUT, "%s: tokenizer.ggml.pre \"%s\" is not supported (supported: %s)", c->where,
                       name, qz_gguf_tokenizer_pre_names());
    return 0;
}

static int read_types(conv *c, int64_t nt)
{
    if (!nt) return memset(c->type, TT_NORMAL, (size_t)c->n), 0;
    int64_t i = 0;
    for (const cJSON *e = key(c, "tokenizer.ggml.token_type")->child; e; e = e->next, i++) {
        if (e->valuedouble < TT_NORMAL || e->valuedouble > TT_BYTE || e->valuedouble != (int)e->valuedouble)
            return qz_fail(c->err, QZ_EINPUT, "%s: tokenizer.ggml.token_type[%lld] = %g is not a token type in [1, 6]",
                           c->where, (long long)i, e->valuedouble);
        c->type[i] = (uint8_t)e->valuedouble;
    }
    return 0;
}

static int read_scores(conv *c, int64_t ns)
{
    int64_t i = 0;
    for (const cJSON *e = ns ? key(c, "tokenizer.ggml.scores")->child : NULL; e; e = e->next, i++)
        if (!isfinite(c->score[i] = e->valuedouble))
            return qz_fail(c->err, QZ_EINPUT, "%s: tokenizer.ggml.scores[%lld] is not finite", c->where, (long long)i);
    return 0;
}

/* tokens, token_type (all normal when absent) and, for llama, scores. */
static int read_tokens(conv *c)
{
    int64_t nt = 0, ns = 0;
    int rc = read_array(c, "tokenizer.ggml.tokens", cJSON_IsString, &c->n);
    if (!rc && c->n == 0) rc = bad_key(c, "tokenizer.ggml.tokens", "is empty");
    if (!rc && key(c, "tokenizer.ggml.token_type")) rc = read_array(c, "tokenizer.ggml.token_type", cJSON_IsNumber, &nt);
    if (!rc && nt && nt != c->n) rc = bad_key(c, "tokenizer.ggml.token_type", "does not have one entry per token");
    if (!rc && c->spm) rc = read_array(c, "tokenizer.ggml.scores", cJSON_IsNumber, &ns);
    if (!rc && c->spm && ns != c->n) rc = bad_key(c, "tokenizer.ggml.scores", "does not have one entry per token");
    if (rc) return rc;
    c->tok = qz_malloc_array((size_t)c->n, sizeof *c->tok);
    c->type = qz_malloc_array((size_t)c->n, 1);
    c->score = qz_calloc_array((size_t)c->n, sizeof *c->score);
    if (!c->tok || !c->type || !c->score) return qz_fail(c->err, QZ_EINTERNAL, "out of memory");
    int64_t i = 0;
    for (const cJSON *e = key(c, "tokenizer.ggml.tokens")->child; e; e = e->next) c->tok[i++] = e->valuestring;
    rc = read_types(c, nt);
    return rc ? rc : read_scores(c, ns);
}

static int read_metadata(conv *c)
{
    int rc = read_model(c);
    if (!rc) rc = read_tokens(c);
    if (rc) return rc;
    c->bos = token_id(c, "tokenizer.ggml.bos_token_id");
    c->eos = token_id(c, "tokenizer.ggml.eos_token_id");
    c->unk = token_id(c, "tokenizer.ggml.unknown_token_id");
    c->pad = token_id(c, "tokenizer.ggml.padding_token_id");
    c->add_bos = flag(c, "tokenizer.ggml.add_bos_token", c->spm || c->pre->add_bos);
    c->add_eos = flag(c, "tokenizer.ggml.add_eos_token", 0);
    c->space_prefix = flag(c, "tokenizer.ggml.add_space_prefix", 1);
    if (c->add_bos && c->bos < 0) return bad_key(c, "tokenizer.ggml.bos_token_id", "is missing but add_bos_token is true");
    if (c->add_eos && c->eos < 0) return bad_key(c, "tokenizer.ggml.eos_token_id", "is missing but add_eos_token is true");
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Building JSON (an allocation failure sets c->oom, checked at the end)     */
/* ------------------------------------------------------------------------ */

static cJSON *add(conv *c, cJSON *parent, const char *name, cJSON *item)
{
    if (!item || !parent) {
        c->oom = 1;
        cJSON_Delete(item);
        return NULL;
    }
    if (name) cJSON_AddItemToObject(parent, name, item);
    else cJSON_AddItemToArray(parent, item);
    return item;
}

static cJSON *add_str(conv *c, cJSON *o, const char *name, const char *s) { return add(c, o, name, cJSON_CreateString(s)); }
static cJSON *add_num(conv *c, cJSON *o, const char *name, double v) { return add(c, o, name, cJSON_CreateNumber(v)); }
static cJSON *add_bool(conv *c, cJSON *o, const char *name, int v) { return add(c, o, name, cJSON_CreateBool(v)); }
static cJSON *add_null(conv *c, cJSON *o, const char *name) { return add(c, o, name, cJSON_CreateNull()); }
static cJSON *add_obj(conv *c, cJSON *o, const char *name) { return add(c, o, name, cJSON_CreateObject()); }
static cJSON *add_arr(conv *c, cJSON *o, const char *name) { return add(c, o, name, cJSON_CreateArray()); }

/* {"type": type} appended to list (or added to o as name). */
static cJSON *add_typed(conv *c, cJSON *o, const char *name, const char *type)
{
    cJSON *t = add_obj(c, o, name);
    add_str(c, t, "type", type);
    return t;
}

static void add_byte_level(conv *c, cJSON *list, const char *name, int prefix_space, int trim, int use_regex)
{
    cJSON *b = add_typed(c, list, name, "ByteLevel");
    add_bool(c, b, "add_prefix_space", prefix_space);
    add_bool(c, b, "trim_offsets", trim);
    add_bool(c, b, "use_regex", use_regex);
}

/* {"String": s} or {"Regex": s} as o's "pattern". */
static void add_pattern(conv *c, cJSON *o, const char *kind, const char *s)
{
    add_str(c, add_obj(c, o, "pattern"), kind, s);
}

/* Unknown, control and user-defined tokens are added tokens; the first two
 * special (llama.cpp: "control" = special, as convert_hf_to_gguf writes them). */
static void build_added(conv *c, cJSON *root)
{
    cJSON *list = add_arr(c, root, "added_tokens");
    for (int64_t i = 0; i < c->n && !c->oom; i++) {
        int t = c->type[i];
        if (t != TT_UNKNOWN && t != TT_CONTROL && t != TT_USER) continue;
        cJSON *a = add_obj(c, list, NULL);
        add_num(c, a, "id", (double)i);
        add_str(c, a, "content", c->tok[i]);
        add_bool(c, a, "single_word", 0);
        add_bool(c, a, "lstrip", 0);
        add_bool(c, a, "rstrip", 0);
        add_bool(c, a, "normalized", 0);
        add_bool(c, a, "special", t != TT_USER);
    }
}

static void build_normalizer(conv *c, cJSON *root)
{
    if (!c->spm) {
        if (c->pre->nfc) add_typed(c, root, "normalizer", "NFC");
        else add_null(c, root, "normalizer");
        return;
    }
    cJSON *seq = add_typed(c, root, "normalizer", "Sequence");
    cJSON *list = add_arr(c, seq, "normalizers");
    if (c->space_prefix) add_str(c, add_typed(c, list, NULL, "Prepend"), "prepend", "\xe2\x96\x81");
    cJSON *r = add_typed(c, list, NULL, "Replace");
    add_pattern(c, r, "String", " ");
    add_str(c, r, "content", "\xe2\x96\x81");
}

static void build_pretokenizer(conv *c, cJSON *root)
{
    if (c->spm) {
        add_null(c, root, "pre_tokenizer");
        return;
    }
    cJSON *list = add_arr(c, add_typed(c, root, "pre_tokenizer", "Sequence"), "pretokenizers");
    for (int i = 0; c->pre->splits[i]; i++) {
        cJSON *s = add_typed(c, list, NULL, "Split");
        add_pattern(c, s, "Regex", c->pre->splits[i]);
        add_str(c, s, "behavior", "Isolated");
        add_bool(c, s, "invert", 0);
    }
    if (c->pre->digits) add_bool(c, add_typed(c, list, NULL, "Digits"), "individual_digits", 1);
    add_byte_level(c, list, NULL, 0, 1, c->pre->byte_level_regex);
}

/* One template piece: {"SpecialToken": {"id": name, "type_id": t}} or
 * {"Sequence": {"id": "A"|"B", "type_id": t}}. */
static void add_piece(conv *c, cJSON *list, const char *kind, const char *id, int type_id)
{
    cJSON *p = add_obj(c, add_obj(c, list, NULL), kind);
    add_str(c, p, "id", id);
    add_num(c, p, "type_id", type_id);
}

static void add_template_seq(conv *c, cJSON *list, const char *seq, int type_id)
{
    if (c->add_bos) add_piece(c, list, "SpecialToken", c->tok[c->bos], type_id);
    add_piece(c, list, "Sequence", seq, type_id);
    if (c->add_eos) add_piece(c, list, "SpecialToken", c->tok[c->eos], type_id);
}

static void add_special_entry(conv *c, cJSON *specials, int32_t id)
{
    if (cJSON_GetObjectItemCaseSensitive(specials, c->tok[id])) return;
    cJSON *s = add_obj(c, specials, c->tok[id]);
    add_str(c, s, "id", c->tok[id]);
    add_num(c, add_arr(c, s, "ids"), NULL, id);
    add_str(c, add_arr(c, s, "tokens"), NULL, c->tok[id]);
}

/* BOS / EOS as add_bos_token / add_eos_token say (what transformers'
 * LlamaTokenizerFast builds from them); else byte-level models keep the
 * ByteLevel processor their tokenizer.json has. */
static void build_post(conv *c, cJSON *root)
{
    if (!c->add_bos && !c->add_eos) {
        if (c->spm) add_null(c, root, "post_processor");
        else add_byte_level(c, root, "post_processor", 1, 0, 1);
        return;
    }
    cJSON *t = add_typed(c, root, "post_processor", "TemplateProcessing");
    add_template_seq(c, add_arr(c, t, "single"), "A", 0);
    cJSON *pair = add_arr(c, t, "pair");
    add_template_seq(c, pair, "A", 0);
    add_template_seq(c, pair, "B", 1);
    cJSON *specials = add_obj(c, t, "special_tokens");
    if (c->add_bos) add_special_entry(c, specials, c->bos);
    if (c->add_eos) add_special_entry(c, specials, c->eos);
}

static void build_decoder(conv *c, cJSON *root)
{
    if (!c->spm) {
        add_byte_level(c, root, "decoder", 1, 1, 1);
        return;
    }
    cJSON *list = add_arr(c, add_typed(c, root, "decoder", "Sequence"), "decoders");
    cJSON *r = add_typed(c, list, NULL, "Replace");
    add_pattern(c, r, "String", "\xe2\x96\x81");
    add_str(c, r, "content", " ");
    add_typed(c, list, NULL, "ByteFallback");
    add_typed(c, list, NULL, "Fuse");
    if (!c->space_prefix) return;
    cJSON *s = add_typed(c, list, NULL, "Strip");
    add_str(c, s, "content", " ");
    add_num(c, s, "start", 1);
    add_num(c, s, "stop", 0);
}

/* ------------------------------------------------------------------------ */
/* SentencePiece merges                                                      */
/* ------------------------------------------------------------------------ */

typedef struct { const char *s; size_t len; int32_t id; } vslot; /* id < 0: empty */
typedef struct { vslot *slot; size_t mask; } vmap;
typedef struct { double score; int32_t merged, left, right; } spm_merge;

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h;
}

static vslot *vmap_slot(const vmap *m, const char *s, size_t n)
{
    for (size_t i = hash_bytes(s, n) & m->mask;; i = (i + 1) & m->mask) {
        vslot *e = &m->slot[i];
        if (e->id < 0 || (e->len == n && memcmp(e->s, s, n) == 0)) return e;
    }
}

/* piece -> id; a piece listed twice keeps its last id, as a Python dict built
 * in id order does. */
static int vmap_build(vmap *m, const conv *c)
{
    size_t cap = 16;
    while (cap < 2 * (size_t)c->n) cap *= 2;
    if (!(m->slot = qz_malloc_array(cap, sizeof *m->slot))) return -1;
    m->mask = cap - 1;
    for (size_t i = 0; i < cap; i++) m->slot[i].id = -1;
    for (int64_t i = 0; i < c->n; i++) {
        size_t len = strlen(c->tok[i]);
        *vmap_slot(m, c->tok[i], len) = (vslot){c->tok[i], len, (int32_t)i};
    }
    return 0;
}

static int32_t vmap_get(const vmap *m, const char *s, size_t n) { return vmap_slot(m, s, n)->id; }

static int merge_cmp(const void *pa, const void *pb)
{
    const spm_merge *a = pa, *b = pb;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    if (a->merged != b->merged) return a->merged < b->merged ? -1 : 1;
    if (a->left != b->left) return a->left < b->left ? -1 : 1;
    return (a->right > b->right) - (a->right < b->right);
}

/* Every split of token id at a character boundary into two vocab pieces,
 * appended to out (NULL: counted only). */
static size_t piece_splits(const conv *c, const vmap *m, int32_t id, spm_merge *out)
{
    const char *s = c->tok[id];
    size_t len = strlen(s), k = 0;
    if (vmap_get(m, s, len) != id) return 0; /* a duplicate: the dict kept the other id */
    for (size_t cut = 1; cut < len; cut++) {
        if (((unsigned char)s[cut] & 0xC0) == 0x80) continue;
        int32_t l = vmap_get(m, s, cut), r = vmap_get(m, s + cut, len - cut);
        if (l < 0 || r < 0) continue;
        if (out) out[k] = (spm_merge){c->score[id], id, l, r};
        k++;
    }
    return k;
}

static void add_merge(conv *c, cJSON *merges, const spm_merge *mg)
{
    cJSON *pair = add_arr(c, merges, NULL);
    add_str(c, pair, NULL, c->tok[mg->left]);
    add_str(c, pair, NULL, c->tok[mg->right]);
}

static int build_spm_merges(conv *c, cJSON *model)
{
    vmap m = {0};
    if (vmap_build(&m, c)) return qz_fail(c->err, QZ_EINTERNAL, "out of memory");
    size_t total = 0;
    for (int64_t i = 0; i < c->n; i++) total += piece_splits(c, &m, (int32_t)i, NULL);
    spm_merge *all = qz_malloc_array(total ? total : 1, sizeof *all);
    if (!all) return free(m.slot), qz_fail(c->err, QZ_EINTERNAL, "out of memory");
    size_t k = 0;
    for (int64_t i = 0; i < c->n; i++) k += piece_splits(c, &m, (int32_t)i, all + k);
    qsort(all, total, sizeof *all, merge_cmp);
    cJSON *merges = add_arr(c, model, "merges");
    for (size_t i = 0; i < total && !c->oom; i++) add_merge(c, merges, &all[i]);
    free(all), free(m.slot);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Model, config, entry point                                                */
/* ------------------------------------------------------------------------ */

static int build_model(conv *c, cJSON *root)
{
    cJSON *model = add_typed(c, root, "model", "BPE");
    add_null(c, model, "dropout");
    if (c->spm && c->unk >= 0) add_str(c, model, "unk_token", c->tok[c->unk]);
    else add_null(c, model, "unk_token");
    add_null(c, model, "continuing_subword_prefix");
    add_null(c, model, "end_of_word_suffix");
    add_bool(c, model, "fuse_unk", c->spm);
    add_bool(c, model, "byte_fallback", c->spm);
    add_bool(c, model, "ignore_merges", !c->spm && c->pre->ignore_merges);
    cJSON *vocab = add_obj(c, model, "vocab");
    for (int64_t i = 0; i < c->n && !c->oom; i++) add_num(c, vocab, c->tok[i], (double)i);
    if (c->spm) return build_spm_merges(c, model);
    int64_t n = 0;
    int rc = read_array(c, "tokenizer.ggml.merges", cJSON_IsString, &n);
    if (rc) return rc;
    add(c, model, "merges", cJSON_Duplicate(key(c, "tokenizer.ggml.merges"), 1));
    return 0;
}

static void add_token_name(conv *c, cJSON *cfg, const char *name, int32_t id)
{
    if (id >= 0) add_str(c, cfg, name, c->tok[id]);
}

static cJSON *build_config(conv *c)
{
    cJSON *cfg = cJSON_CreateObject();
    if (!cfg) return c->oom = 1, NULL;
    add_bool(c, cfg, "add_bos_token", c->add_bos);
    add_bool(c, cfg, "add_eos_token", c->add_eos);
    add_token_name(c, cfg, "bos_token", c->bos);
    add_token_name(c, cfg, "eos_token", c->eos);
    add_token_name(c, cfg, "unk_token", c->unk);
    add_token_name(c, cfg, "pad_token", c->pad);
    const cJSON *tmpl = key(c, "tokenizer.chat_template"), *arch = key(c, "general.architecture");
    if (cJSON_IsString(tmpl)) add_str(c, cfg, "chat_template", tmpl->valuestring);
    char ctx_key[160];
    if (cJSON_IsString(arch) && strlen(arch->valuestring) < 100) {
        snprintf(ctx_key, sizeof ctx_key, "%s.context_length", arch->valuestring);
        const cJSON *n = key(c, ctx_key);
        if (cJSON_IsNumber(n) && n->valuedouble > 0) add_num(c, cfg, "model_max_length", n->valuedouble);
    }
    add_bool(c, cfg, "clean_up_tokenization_spaces", 0);
    add_str(c, cfg, "tokenizer_class", "PreTrainedTokenizerFast");
    return cfg;
}

static cJSON *build_tokenizer(conv *c, int *rc)
{
    cJSON *root = cJSON_CreateObject();
    if (!root) return c->oom = 1, NULL;
    add_str(c, root, "version", "1.0");
    add_null(c, root, "truncation");
    add_null(c, root, "padding");
    build_added(c, root);
    build_normalizer(c, root);
    build_pretokenizer(c, root);
    build_post(c, root);
    build_decoder(c, root);
    *rc = build_model(c, root);
    return root;
}

int qz_gguf_tokenizer_json(const cJSON *meta, const char *where, cJSON **tokenizer_json, cJSON **tokenizer_config,
                           qz_error *err)
{
    QZ_ASSERT(meta && where && tokenizer_json && tokenizer_config);
    *tokenizer_json = *tokenizer_config = NULL;
    conv c = {.meta = meta, .where = where, .err = err};
    int rc = cJSON_IsObject(meta) ? read_metadata(&c) : qz_fail(err, QZ_EINPUT, "%s: GGUF metadata is not an object", where);
    cJSON *tj = NULL, *tc = NULL;
    if (!rc) tj = build_tokenizer(&c, &rc);
    if (!rc) tc = build_config(&c);
    if (!rc && c.oom) rc = qz_fail(err, QZ_EINTERNAL, "out of memory");
    free(c.tok), free(c.type), free(c.score);
    if (rc) {
        cJSON_Delete(tj), cJSON_Delete(tc);
        return rc;
    }
    *tokenizer_json = tj, *tokenizer_config = tc;
    return 0;
}

int qz_gguf_tokenizer_files(const qz_gguf *g, cJSON **tokenizer_json, cJSON **tokenizer_config, qz_error *err)
{
    cJSON *meta = NULL;
    *tokenizer_json = *tokenizer_config = NULL;
    int rc = qz_gguf_metadata_json(g, &meta, err);
    if (rc == QZ_OK) rc = qz_gguf_tokenizer_json(meta, qz_gguf_path(g), tokenizer_json, tokenizer_config, err);
    cJSON_Delete(meta);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* tokenizer.json -> GGUF tokenizer keys (the inverse, for GGUF output)      */
/* ------------------------------------------------------------------------ */

typedef struct {
    const char *s;
    int32_t id;
} vocab_ent;

static int vocab_cmp(const void *a, const void *b)
{
    return strcmp(((const vocab_ent *)a)->s, ((const vocab_ent *)b)->s);
}

/* The tokenizer.ggml.pre name whose pre-tokenizer and normalizer (as this
 * file's forward direction builds them) equal tj's, or NULL. */
static const char *match_pre(const cJSON *tj)
{
    for (size_t i = 0; i < sizeof PRES / sizeof *PRES; i++) {
        conv c = {.pre = &PRES[i]};
        cJSON *root = cJSON_CreateObject();
        build_normalizer(&c, root);
        build_pretokenizer(&c, root);
        int same = !c.oom && cJSON_Compare(cJSON_GetObjectItem(root, "pre_tokenizer"), cJSON_GetObjectItem(tj, "pre_tokenizer"), 1) &&
                   cJSON_Compare(cJSON_GetObjectItem(root, "normalizer"), cJSON_GetObjectItem(tj, "normalizer"), 1);
        cJSON_Delete(root);
        if (same) return PRES[i].names[0];
    }
    return NULL;
}

/* A special token of tokenizer_config.json ("<s>" or {"content": "<s>"}). */
static const char *config_token(const cJSON *tc, const char *name)
{
    const cJSON *v = tc ? cJSON_GetObjectItem(tc, name) : NULL;
    if (cJSON_IsObject(v)) v = cJSON_GetObjectItem(v, "content");
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

typedef struct {
    qz_gguf_writer *w;
    const char *where;
    qz_error *err;
    int64_t n;
    const char **tok;       /* (n) borrowed from the JSON */
    int32_t *type;
    float *score;
    vocab_ent *sorted;      /* (n) by string, for lookups */
    int64_t n_sorted;
} rconv;

static int32_t rlookup(const rconv *r, const char *s)
{
    vocab_ent k = {s, 0}, *e = bsearch(&k, r->sorted, (size_t)r->n_sorted, sizeof k, vocab_cmp);
    return e ? e->id : -1;
}

/* tokens by id from model.vocab and added_tokens (which win); types 1 / 3 / 4. */
static int read_vocab(rconv *r, const cJSON *vocab, const cJSON *added)
{
    int64_t n = 0;
    for (const cJSON *e = vocab->child; e; e = e->next) n = cJSON_IsNumber(e) && e->valueint >= n ? e->valueint + 1 : n;
    for (const cJSON *e = added ? added->child : NULL; e; e = e->next) {
        const cJSON *id = cJSON_GetObjectItem(e, "id");
        if (cJSON_IsNumber(id) && id->valueint >= n) n = id->valueint + 1;
    }
    if (n <= 0 || n > (1 << 24)) return qz_fail(r->err, QZ_EINPUT, "%s: tokenizer.json: %lld tokens", r->where, (long long)n);
    r->n = n;
    r->tok = qz_calloc_array((size_t)n, sizeof *r->tok);
    r->type = qz_malloc_array((size_t)n, sizeof *r->type);
    r->score = qz_calloc_array((size_t)n, sizeof *r->score);
    r->sorted = qz_malloc_array((size_t)n, sizeof *r->sorted);
    if (!r->tok || !r->type || !r->score || !r->sorted) return qz_fail(r->err, QZ_EINTERNAL, "out of memory");
    for (int64_t i = 0; i < n; i++) r->type[i] = TT_NORMAL;
    for (const cJSON *e = vocab->child; e; e = e->next)
        if (cJSON_IsNumber(e) && e->valueint >= 0) r->tok[e->valueint] = e->string;
    for (const cJSON *e = added ? added->child : NULL; e; e = e->next) {
        const cJSON *id = cJSON_GetObjectItem(e, "id"), *content = cJSON_GetObjectItem(e, "content");
        if (!cJSON_IsNumber(id) || id->valueint < 0 || !cJSON_IsString(content)) continue;
        r->tok[id->valueint] = content->valuestring;
        r->type[id->valueint] = cJSON_IsTrue(cJSON_GetObjectItem(e, "special")) ? TT_CONTROL : TT_USER;
    }
    for (int64_t i = 0; i < n; i++) {
        if (!r->tok[i]) return qz_fail(r->err, QZ_EINPUT, "%s: tokenizer.json has no token with id %lld", r->where, (long long)i);
        r->sorted[r->n_sorted++] = (vocab_ent){r->tok[i], (int32_t)i};
    }
    qsort(r->sorted, (size_t)r->n_sorted, sizeof *r->sorted, vocab_cmp);
    return QZ_OK;
}

/* "a b" of a merge given as a string or as ["a", "b"]; NULL when malformed. */
static char *merge_text(const cJSON *m)
{
    if (cJSON_IsString(m)) return strdup(m->valuestring);
    const cJSON *a = cJSON_GetArrayItem(m, 0), *b = cJSON_GetArrayItem(m, 1);
    if (!cJSON_IsString(a) || !cJSON_IsString(b)) return NULL;
    size_t la = strlen(a->valuestring), lb = strlen(b->valuestring);
    char *s = malloc(la + lb + 2);
    if (s) memcpy(s, a->valuestring, la), s[la] = ' ', memcpy(s + la + 1, b->valuestring, lb + 1);
    return s;
}

/* SentencePiece: byte / unknown types and scores that rank the merges as
 * tokenizer.json does (the forward direction orders merges by the merged
 * piece's score): the piece made by merge r scores -(r+1); multi-character
 * pieces no merge makes score below every merge. */
static int spm_scores(rconv *r, const cJSON *merges, const char *unk)
{
    int64_t n_merges = cJSON_GetArraySize(merges), rank = 0;
    for (int64_t i = 0; i < r->n; i++) r->score[i] = NAN;
    for (const cJSON *m = merges->child; m; m = m->next, rank++) {
        char *s = merge_text(m), *sp = s ? strchr(s, ' ') : NULL;
        if (!sp) {
            free(s);
            return qz_fail(r->err, QZ_EINPUT, "%s: tokenizer.json merge %lld is not \"a b\" or [a, b]", r->where, (long long)rank);
        }
        memmove(sp, sp + 1, strlen(sp)); /* a b -> ab */
        int32_t id = rlookup(r, s);
        free(s);
        if (id >= 0 && isnan(r->score[id])) r->score[id] = -(float)(rank + 1);
    }
    for (int64_t i = 0; i < r->n; i++) {
        unsigned byte;
        char tail;
        if (sscanf(r->tok[i], "<0x%2X>%c", &byte, &tail) == 1 && strlen(r->tok[i]) == 6) r->type[i] = TT_BYTE;
        if (unk && !strcmp(r->tok[i], unk)) r->type[i] = TT_UNKNOWN;
        if (isnan(r->score[i])) r->score[i] = r->type[i] == TT_NORMAL && strlen(r->tok[i]) > 1 ? -(float)(n_merges + 1) : 0.0f;
    }
    return QZ_OK;
}

static int write_merges(rconv *r, const cJSON *merges)
{
    int64_t n = cJSON_GetArraySize(merges), i = 0;
    char **s = qz_calloc_array((size_t)n + 1, sizeof *s);
    int rc = s ? QZ_OK : qz_fail(r->err, QZ_EINTERNAL, "out of memory");
    for (const cJSON *m = merges->child; m && rc == QZ_OK; m = m->next, i++)
        if (!(s[i] = merge_text(m))) rc = qz_fail(r->err, QZ_EINPUT, "%s: tokenizer.json merge %lld is malformed", r->where, (long long)i);
    if (rc == QZ_OK) rc = qz_gguf_writer_kv_strs(r->w, "tokenizer.ggml.merges", (const char *const *)s, NULL, (uint64_t)n, r->err);
    for (int64_t k = 0; s && k < n; k++) free(s[k]);
    free(s);
    return rc;
}

/* bos / eos / unknown / padding ids, add_bos / add_eos, chat template. */
static int write_config_keys(rconv *r, const cJSON *tc)
{
    static const char *names[][2] = {{"bos_token", "tokenizer.ggml.bos_token_id"}, {"eos_token", "tokenizer.ggml.eos_token_id"},
                                     {"unk_token", "tokenizer.ggml.unknown_token_id"}, {"pad_token", "tokenizer.ggml.padding_token_id"}};
    int rc = QZ_OK;
    for (size_t i = 0; i < sizeof names / sizeof *names && rc == QZ_OK; i++) {
        const char *t = config_token(tc, names[i][0]);
        int32_t id = t ? rlookup(r, t) : -1;
        if (id >= 0) rc = qz_gguf_writer_kv_u32(r->w, names[i][1], (uint32_t)id, r->err);
    }
    const cJSON *ab = tc ? cJSON_GetObjectItem(tc, "add_bos_token") : NULL, *ae = tc ? cJSON_GetObjectItem(tc, "add_eos_token") : NULL;
    const cJSON *ct = tc ? cJSON_GetObjectItem(tc, "chat_template") : NULL;
    if (rc == QZ_OK && cJSON_IsBool(ab)) rc = qz_gguf_writer_kv_bool(r->w, "tokenizer.ggml.add_bos_token", cJSON_IsTrue(ab), r->err);
    if (rc == QZ_OK && cJSON_IsBool(ae)) rc = qz_gguf_writer_kv_bool(r->w, "tokenizer.ggml.add_eos_token", cJSON_IsTrue(ae), r->err);
    if (rc == QZ_OK && cJSON_IsString(ct))
        rc = qz_gguf_writer_kv_str(r->w, "tokenizer.chat_template", ct->valuestring, strlen(ct->valuestring), r->err);
    return rc;
}

static int write_tokens(rconv *r, const cJSON *tj, const cJSON *model, const cJSON *tc)
{
    const cJSON *merges = cJSON_GetObjectItem(model, "merges"), *unk = cJSON_GetObjectItem(model, "unk_token");
    int spm = cJSON_IsTrue(cJSON_GetObjectItem(model, "byte_fallback"));
    const char *pre = spm ? NULL : match_pre(tj);
    if (!cJSON_IsArray(merges)) return qz_fail(r->err, QZ_EINPUT, "%s: tokenizer.json has no model.merges", r->where);
    if (!spm && !pre)
        return qz_fail(r->err, QZ_EINPUT, "%s: tokenizer.json's pre-tokenizer is none that llama.cpp names (known: %s)", r->where,
                       qz_gguf_tokenizer_pre_names());
    int rc = spm ? spm_scores(r, merges, cJSON_IsString(unk) ? unk->valuestring : NULL) : QZ_OK;
    if (rc == QZ_OK) rc = qz_gguf_writer_kv_str(r->w, "tokenizer.ggml.model", spm ? "llama" : "gpt2", spm ? 5 : 4, r->err);
    if (rc == QZ_OK && pre) rc = qz_gguf_writer_kv_str(r->w, "tokenizer.ggml.pre", pre, strlen(pre), r->err);
    if (rc == QZ_OK) rc = qz_gguf_writer_kv_strs(r->w, "tokenizer.ggml.tokens", r->tok, NULL, (uint64_t)r->n, r->err);
    if (rc == QZ_OK && spm) rc = qz_gguf_writer_kv_f32s(r->w, "tokenizer.ggml.scores", r->score, (uint64_t)r->n, r->err);
    if (rc == QZ_OK) rc = qz_gguf_writer_kv_i32s(r->w, "tokenizer.ggml.token_type", r->type, (uint64_t)r->n, r->err);
    if (rc == QZ_OK && !spm) rc = write_merges(r, merges);
    if (rc == QZ_OK && spm) { /* LlamaConverter's normalizer prepends the space */
        const cJSON *norm = cJSON_GetObjectItem(tj, "normalizer");
        char *text = norm ? cJSON_PrintUnformatted(norm) : NULL;
        rc = qz_gguf_writer_kv_bool(r->w, "tokenizer.ggml.add_space_prefix", text && strstr(text, "\"Prepend\""), r->err);
        free(text);
    }
    return rc ? rc : write_config_keys(r, tc);
}

int qz_gguf_tokenizer_to_kv(qz_gguf_writer *w, const cJSON *tj, const cJSON *tc, const char *where, qz_error *err)
{
    const cJSON *model = cJSON_GetObjectItem(tj, "model"), *type = cJSON_GetObjectItem(model, "type");
    const cJSON *vocab = cJSON_GetObjectItem(model, "vocab");
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "BPE") || !cJSON_IsObject(vocab))
        return qz_fail(err, QZ_EINPUT, "%s: tokenizer.json: only BPE models (byte-level or SentencePiece) are written to GGUF", where);
    rconv r = {.w = w, .where = where, .err = err};
    int rc = read_vocab(&r, vocab, cJSON_GetObjectItem(tj, "added_tokens"));
    if (rc == QZ_OK) rc = write_tokens(&r, tj, model, tc);
    free(r.tok), free(r.type), free(r.score), free(r.sorted);
    return rc;
}
