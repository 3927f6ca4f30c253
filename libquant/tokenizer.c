/* tokenizer.c - Hugging Face tokenizer.json BPE tokenizers: load, encode,
 * decode.
 *
 * Follows the `tokenizers` library (huggingface/tokenizers, the Rust code
 * behind transformers' fast tokenizers), version 0.23, whose outputs are the
 * test oracle (scripts/gen_tokenizer_fixtures.py). Encoding runs its pipeline
 *   split on added tokens -> normalizer -> split on normalized added tokens
 *   -> pre-tokenizer -> BPE per pre-token ("word") -> post-processor,
 * decoding runs id -> token -> decoder chain -> join.
 *
 * BPE merges a word with a binary heap of candidate merges keyed by (merge
 * rank, position) over a doubly linked list of symbols: O(n log n), so a
 * SentencePiece-style text with no pre-tokenizer (the whole text is one word)
 * stays fast. The heap order and the stale-entry test are those of
 * `tokenizers`, which makes results identical, ties included. Words seen
 * before in the same call come from a per-call cache.
 *
 * Left out: WordPiece / Unigram / WordLevel models, BPE dropout,
 * continuing_subword_prefix / end_of_word_suffix, normalizers other than
 * Prepend / Replace / NFC, pre-tokenizers other than Split / ByteLevel /
 * Metaspace / Digits, truncation, padding, offsets and pair encodings.
 * Regexes run on PCRE2 instead of Oniguruma, with \s rewritten to Unicode
 * White_Space as Oniguruma has it; \w (no combining marks in PCRE2), \S
 * inside a class and the Unicode versions (PCRE2: 14) may still differ on
 * rare code points. Token strings containing U+0000 are cut there by cJSON.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer.h"

#include <cJSON.h>
#include <errno.h>
#include <pcre2.h>
#include <stdarg.h>
#include <string.h>

#include "tokenizer_nfc.h"

#define MAX_ID (1 << 26)           /* larger ids are refused: the id table would be absurd */
#define CACHE_WORD_MAX 128         /* longer words are not cached */
#define CACHE_ENTRIES_MAX (1 << 16)
#define JIT_STACK_MAX (8u << 20)
#define MISSING UINT32_MAX         /* id with no token */

/* The regex ByteLevel applies when use_regex is true (GPT-2's). */
static const char GPT2_PATTERN[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/* ------------------------------------------------------------------------ */
/* Growable buffers                                                          */
/* ------------------------------------------------------------------------ */

typedef struct { char *p; size_t n, cap; } buf;
typedef struct { int32_t *p; size_t n, cap; } ivec;
typedef struct { uint32_t *p; size_t n, cap; } cpvec;

/* Returns p grown to hold need elements of elem bytes (cap updated), or NULL
 * with p untouched. */
static void *grow_array(void *p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap && p) return p;
    size_t c = *cap ? *cap : 16;
    while (c < need) {
        if (c > SIZE_MAX / 2 / elem) return NULL;
        c *= 2;
    }
    void *q = realloc(p, c * elem);
    if (q) *cap = c;
    return q;
}

static int buf_reserve(buf *b, size_t extra)
{
    if (extra > SIZE_MAX - b->n) return -1;
    void *q = grow_array(b->p, &b->cap, b->n + extra, 1);
    if (!q) return -1;
    b->p = q;
    return 0;
}

static int buf_put(buf *b, const void *s, size_t n)
{
    if (buf_reserve(b, n)) return -1;
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    return 0;
}

static int ivec_push(ivec *v, int32_t x)
{
    void *q = grow_array(v->p, &v->cap, v->n + 1, sizeof *v->p);
    if (!q) return -1;
    v->p = q;
    v->p[v->n++] = x;
    return 0;
}

static int cpvec_push(cpvec *v, uint32_t x)
{
    void *q = grow_array(v->p, &v->cap, v->n + 1, sizeof *v->p);
    if (!q) return -1;
    v->p = q;
    v->p[v->n++] = x;
    return 0;
}

static int oom(qz_error *err)
{
    return qz_fail(err, QZ_EINTERNAL, "tokenizer: out of memory");
}

/* ------------------------------------------------------------------------ */
/* UTF-8                                                                     */
/* ------------------------------------------------------------------------ */

/* Decodes the character at s (n > 0 bytes left): returns its length and sets
 * *cp, or returns -k when the first k bytes are a maximal invalid subpart
 * (the unit Rust's from_utf8_lossy replaces by one U+FFFD). */
static int utf8_next(const char *str, size_t n, uint32_t *cp)
{
    const unsigned char *s = (const unsigned char *)str;
    unsigned c = s[0], lo = 0x80, hi = 0xBF;
    int need;
    uint32_t v;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) need = 1, v = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) need = 2, v = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4) need = 3, v = c & 0x07;
    else return -1;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
    for (int i = 1; i <= need; i++) {
        if ((size_t)i >= n || s[i] < lo || s[i] > hi) return -i;
        lo = 0x80, hi = 0xBF;
        v = v << 6 | (s[i] & 0x3F);
    }
    *cp = v;
    return need + 1;
}

/* Length of the (valid) character at s. */
static size_t utf8_len(const char *s, size_t n)
{
    uint32_t cp;
    int k = utf8_next(s, n, &cp);
    return k > 0 ? (size_t)k : 1;
}

/* Returns n when s is valid UTF-8, else the offset of the first bad byte. */
static size_t utf8_check(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        int k = utf8_next(s + i, n - i, &cp);
        if (k < 0) return i;
        i += (size_t)k;
    }
    return n;
}

static int utf8_put(buf *b, uint32_t cp)
{
    char t[4];
    size_t n;
    if (cp < 0x80) t[0] = (char)cp, n = 1;
    else if (cp < 0x800) t[0] = (char)(0xC0 | cp >> 6), t[1] = (char)(0x80 | (cp & 63)), n = 2;
    else if (cp < 0x10000)
        t[0] = (char)(0xE0 | cp >> 12), t[1] = (char)(0x80 | ((cp >> 6) & 63)),
        t[2] = (char)(0x80 | (cp & 63)), n = 3;
    else
        t[0] = (char)(0xF0 | cp >> 18), t[1] = (char)(0x80 | ((cp >> 12) & 63)),
        t[2] = (char)(0x80 | ((cp >> 6) & 63)), t[3] = (char)(0x80 | (cp & 63)), n = 4;
    return buf_put(b, t, n);
}

/* Appends s with every maximal invalid subpart replaced by U+FFFD. */
static int utf8_put_lossy(buf *b, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        int k = utf8_next(s + i, n - i, &cp);
        if (k > 0 ? buf_put(b, s + i, (size_t)k) : utf8_put(b, 0xFFFD)) return -1;
        i += (size_t)(k > 0 ? k : -k);
    }
    return 0;
}

/* Unicode White_Space (what Rust's regex \s matches). */
static int is_white_space(uint32_t c)
{
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

/* GPT-2's byte <-> character map: printable Latin-1 bytes map to themselves,
 * the other 68 bytes to U+0100.. in byte order. */
static uint32_t byte_to_char(unsigned b)
{
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174) return b;
    if (b <= 32) return 256 + b;
    if (b <= 160) return 256 + 33 + (b - 127);
    return 256 + 67; /* 173 */
}

/* The byte a character stands for, or -1 when it is not in the map. */
static int char_to_byte(uint32_t c)
{
    if (c < 256) return byte_to_char(c) == c ? (int)c : -1;
    if (c <= 256 + 32) return (int)(c - 256);
    if (c <= 256 + 66) return (int)(c - 256 - 33 + 127);
    return c == 256 + 67 ? 173 : -1;
}

/* ------------------------------------------------------------------------ */
/* NFC (UAX #15) over the tables in tokenizer_nfc.h                          */
/* ------------------------------------------------------------------------ */

enum { HANGUL_S = 0xAC00, HANGUL_L = 0x1100, HANGUL_V = 0x1161, HANGUL_T = 0x11A7,
       HANGUL_LN = 19, HANGUL_VN = 21, HANGUL_TN = 28, HANGUL_N = 19 * 21 * 28 };

static unsigned nfc_class(uint32_t cp)
{
    size_t lo = 0, hi = sizeof nfc_ccc / sizeof nfc_ccc[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (nfc_ccc[mid][0] == cp) return nfc_ccc[mid][1];
        if (nfc_ccc[mid][0] < cp) lo = mid + 1;
        else hi = mid;
    }
    return 0;
}

/* Appends the full canonical decomposition of cp. */
static int nfc_decompose(cpvec *out, uint32_t cp)
{
    if (cp >= HANGUL_S && cp < HANGUL_S + HANGUL_N) {
        uint32_t s = cp - HANGUL_S, t = s % HANGUL_TN;
        if (cpvec_push(out, HANGUL_L + s / (HANGUL_VN * HANGUL_TN)) ||
            cpvec_push(out, HANGUL_V + (s % (HANGUL_VN * HANGUL_TN)) / HANGUL_TN))
            return -1;
        return t ? cpvec_push(out, HANGUL_T + t) : 0;
    }
    size_t lo = 0, hi = sizeof nfc_decomp / sizeof nfc_decomp[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (nfc_decomp[mid][0] == cp) {
            for (uint32_t i = 0; i < nfc_decomp[mid][2]; i++)
                if (cpvec_push(out, nfc_decomp_cp[nfc_decomp[mid][1] + i])) return -1;
            return 0;
        }
        if (nfc_decomp[mid][0] < cp) lo = mid + 1;
        else hi = mid;
    }
    return cpvec_push(out, cp);
}

/* The primary composite of (a, b), or 0. */
static uint32_t nfc_compose_pair(uint32_t a, uint32_t b)
{
    if (a >= HANGUL_L && a < HANGUL_L + HANGUL_LN && b >= HANGUL_V && b < HANGUL_V + HANGUL_VN)
        return HANGUL_S + ((a - HANGUL_L) * HANGUL_VN + (b - HANGUL_V)) * HANGUL_TN;
    if (a >= HANGUL_S && a < HANGUL_S + HANGUL_N && (a - HANGUL_S) % HANGUL_TN == 0 &&
        b > HANGUL_T && b < HANGUL_T + HANGUL_TN)
        return a + (b - HANGUL_T);
    size_t lo = 0, hi = sizeof nfc_comp / sizeof nfc_comp[0];
    uint64_t key = (uint64_t)a << 32 | b;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        uint64_t k = (uint64_t)nfc_comp[mid][0] << 32 | nfc_comp[mid][1];
        if (k == key) return nfc_comp[mid][2];
        if (k < key) lo = mid + 1;
        else hi = mid;
    }
    return 0;
}

/* Canonical ordering: a stable sort of each run of non-starters by class. */
static void nfc_reorder(uint32_t *c, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        unsigned ci = nfc_class(c[i]);
        if (!ci) continue;
        size_t j = i;
        while (j > 0 && nfc_class(c[j - 1]) > ci) {
            uint32_t t = c[j];
            c[j] = c[j - 1], c[j - 1] = t;
            j--;
        }
    }
}

/* Canonical composition in place; returns the new length. */
static size_t nfc_compose(uint32_t *c, size_t n)
{
    if (!n) return 0;
    size_t out = 1, starter = 0;
    int have_starter = nfc_class(c[0]) == 0;
    unsigned last = have_starter ? 0 : 256;
    for (size_t i = 1; i < n; i++) {
        unsigned cc = nfc_class(c[i]);
        uint32_t comp = have_starter ? nfc_compose_pair(c[starter], c[i]) : 0;
        if (comp && (last < cc || last == 0)) {
            c[starter] = comp;
            continue;
        }
        if (cc == 0) starter = out, have_starter = 1;
        last = cc;
        c[out++] = c[i];
    }
    return out;
}

/* Appends NFC(s). Text with no code point >= U+0300 (no byte >= 0xCC) is
 * already in NFC (checked by the table generator). */
static int nfc(const char *s, size_t n, buf *out, cpvec *tmp)
{
    size_t i = 0;
    while (i < n && (unsigned char)s[i] < 0xCC) i++;
    if (i == n) return buf_put(out, s, n);
    tmp->n = 0;
    for (i = 0; i < n;) {
        uint32_t cp;
        int k = utf8_next(s + i, n - i, &cp);
        QZ_ASSERT(k > 0);
        if (nfc_decompose(tmp, cp)) return -1;
        i += (size_t)k;
    }
    nfc_reorder(tmp->p, tmp->n);
    size_t m = nfc_compose(tmp->p, tmp->n);
    for (size_t j = 0; j < m; j++)
        if (utf8_put(out, tmp->p[j])) return -1;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Hash maps                                                                 */
/* ------------------------------------------------------------------------ */

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 0x100000001b3ull;
    return h;
}
#define FNV_BASIS 0xcbf29ce484222325ull

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30, x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27, x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* String -> int32 map; keys are (offset, length) into a caller-held base. */
typedef struct { uint64_t h; uint32_t off, len; int32_t val; } map_slot; /* val < 0: empty */
typedef struct { map_slot *slot; size_t mask, n; } str_map;

static int map_init(str_map *m, size_t expected)
{
    size_t cap = 16;
    while (cap < 2 * expected + 2) {
        if (cap > SIZE_MAX / 4 / sizeof(map_slot)) return -1;
        cap *= 2;
    }
    m->slot = qz_malloc_array(cap, sizeof *m->slot);
    if (!m->slot) return -1;
    for (size_t i = 0; i < cap; i++) m->slot[i].val = -1;
    m->mask = cap - 1, m->n = 0;
    return 0;
}

static int32_t map_get(const str_map *m, const char *base, const char *s, size_t n)
{
    if (!m->slot) return -1;
    uint64_t h = fnv1a(FNV_BASIS, s, n);
    for (size_t i = h & m->mask;; i = (i + 1) & m->mask) {
        const map_slot *e = &m->slot[i];
        if (e->val < 0) return -1;
        if (e->h == h && e->len == n && memcmp(base + e->off, s, n) == 0) return e->val;
    }
}

/* Inserts or overwrites; the table must have room (see map_grow). */
static void map_set(str_map *m, const char *base, uint32_t off, uint32_t len, int32_t val)
{
    uint64_t h = fnv1a(FNV_BASIS, base + off, len);
    for (size_t i = h & m->mask;; i = (i + 1) & m->mask) {
        map_slot *e = &m->slot[i];
        if (e->val < 0) {
            *e = (map_slot){h, off, len, val};
            m->n++;
            return;
        }
        if (e->h == h && e->len == len && memcmp(base + e->off, base + off, len) == 0) {
            e->val = val;
            return;
        }
    }
}

/* Doubles the table when it is half full. */
static int map_grow(str_map *m)
{
    if (m->slot && 2 * (m->n + 1) <= m->mask + 1) return 0;
    str_map bigger;
    if (map_init(&bigger, m->slot ? m->mask + 1 : 16)) return -1;
    for (size_t i = 0; m->slot && i <= m->mask; i++) {
        map_slot e = m->slot[i];
        if (e.val < 0) continue;
        for (size_t j = e.h & bigger.mask;; j = (j + 1) & bigger.mask)
            if (bigger.slot[j].val < 0) {
                bigger.slot[j] = e;
                break;
            }
        bigger.n++;
    }
    free(m->slot);
    *m = bigger;
    return 0;
}

/* (left id, right id) -> (rank, merged id). */
typedef struct { uint64_t key; int32_t rank, id; } merge_slot; /* rank < 0: empty */
typedef struct { merge_slot *slot; size_t mask; } merge_map;

static const merge_slot *merge_get(const merge_map *m, int32_t a, int32_t b)
{
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    for (size_t i = mix64(key) & m->mask;; i = (i + 1) & m->mask) {
        const merge_slot *e = &m->slot[i];
        if (e->rank < 0) return NULL;
        if (e->key == key) return e;
    }
}

/* Later duplicates overwrite earlier ones, as `tokenizers` does. */
static void merge_set(merge_map *m, int32_t a, int32_t b, int32_t rank, int32_t id)
{
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    for (size_t i = mix64(key) & m->mask;; i = (i + 1) & m->mask) {
        merge_slot *e = &m->slot[i];
        if (e->rank < 0 || e->key == key) {
            *e = (merge_slot){key, rank, id};
            return;
        }
    }
}

/* ------------------------------------------------------------------------ */
/* The tokenizer                                                             */
/* ------------------------------------------------------------------------ */

enum step_kind {
    NORM_PREPEND, NORM_REPLACE, NORM_NFC,
    PRE_SPLIT, PRE_BYTE_LEVEL, PRE_METASPACE,
    DEC_REPLACE, DEC_BYTE_FALLBACK, DEC_FUSE, DEC_STRIP, DEC_METASPACE, DEC_BYTE_LEVEL,
};
enum split_behavior { SPLIT_REMOVED, SPLIT_ISOLATED, SPLIT_MERGED_PREV, SPLIT_MERGED_NEXT,
                      SPLIT_CONTIGUOUS };
enum prepend_scheme { PREPEND_ALWAYS, PREPEND_FIRST, PREPEND_NEVER };

/* One normalizer, pre-tokenizer or decoder (Sequences are flattened). */
typedef struct {
    int kind;
    char *s;          /* Prepend text; Replace / Split literal pattern; Metaspace replacement;
                         Strip content */
    size_t s_len;
    char *t;          /* Replace content */
    size_t t_len;
    pcre2_code *re;   /* Replace / Split regex; ByteLevel's GPT-2 regex (use_regex) */
    int behavior, invert;      /* Split */
    int scheme, split;         /* Metaspace */
    int prefix_space;          /* ByteLevel */
    int start, stop;           /* Strip */
} step;

typedef struct { step *p; size_t n, cap; } steps;

typedef struct {
    uint32_t off, len;         /* content, in tok->strs */
    uint32_t pat_off, pat_len; /* what is matched: the content, normalized when `normalized` */
    int32_t id;
    uint8_t special, lstrip, rstrip, single_word, normalized;
} added_tok;

/* Added tokens of one kind (raw or normalized), bucketed by first byte,
 * longest first: the first that matches at a position is the longest. */
typedef struct { int32_t *idx; uint32_t start[257]; } matcher;

struct qz_tokenizer {
    buf strs;                    /* token and added-token strings, back to back */
    int32_t n_model;             /* entries in model.vocab */
    str_map vocab;               /* model token -> id */
    merge_map merges;
    int32_t byte_id[256];        /* "<0xAB>" -> id, -1 when absent */
    char *unk_name;              /* model.unk_token or NULL */
    int32_t unk_id;              /* -1 when unk_name is absent from the vocab */
    int fuse_unk, byte_fallback, ignore_merges;

    added_tok *added;
    int32_t n_added;
    str_map added_map;           /* content -> index in added */
    matcher raw, norm;
    pcre2_code *word_re;         /* a word character, for single_word */

    steps normalizers, pretoks, decoders;
    int has_decoder, has_regex;
    ivec prefix, suffix;         /* ids the post-processor puts around the text */
    int32_t bos, eos;

    int32_t vocab_size;          /* max id + 1 */
    uint32_t *id_off, *id_len;   /* (vocab_size) token of each id; id_len MISSING when none */
    uint8_t *id_special;         /* (vocab_size) */
    uint64_t merge_hash, fingerprint;
};

static const char *tok_str(const qz_tokenizer *tok, uint32_t off) { return tok->strs.p + off; }

/* Stores a string in tok->strs; returns its offset through *off. */
static int strs_add(qz_tokenizer *tok, const char *s, size_t n, uint32_t *off)
{
    if (tok->strs.n + n > UINT32_MAX - 1) return -1;
    *off = (uint32_t)tok->strs.n;
    return buf_put(&tok->strs, s, n);
}

/* `tokenizers`' token_to_id: added tokens first, then the model vocab. */
static int32_t token_to_id(const qz_tokenizer *tok, const char *s, size_t n)
{
    int32_t k = map_get(&tok->added_map, tok->strs.p, s, n);
    if (k >= 0) return tok->added[k].id;
    return map_get(&tok->vocab, tok->strs.p, s, n);
}

/* ------------------------------------------------------------------------ */
/* Regex                                                                     */
/* ------------------------------------------------------------------------ */

/* Per-call regex state: match data, and a JIT stack larger than the default
 * so long runs of letters or spaces cannot exhaust it. */
typedef struct {
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jit;
    qz_error *err;
} rx;

static int rx_init(rx *x, const qz_tokenizer *tok, qz_error *err)
{
    *x = (rx){.err = err};
    if (!tok->has_regex) return 0;
    x->md = pcre2_match_data_create(1, NULL);
    x->mctx = pcre2_match_context_create(NULL);
    x->jit = pcre2_jit_stack_create(32 * 1024, JIT_STACK_MAX, NULL);
    if (!x->md || !x->mctx || !x->jit) return oom(err);
    pcre2_jit_stack_assign(x->mctx, NULL, x->jit);
    return 0;
}

static void rx_free(rx *x)
{
    pcre2_match_data_free(x->md);
    pcre2_match_context_free(x->mctx);
    pcre2_jit_stack_free(x->jit);
}

/* Unicode White_Space as class items: what Oniguruma's \s matches (PCRE2's \s
 * also takes U+180E). */
static const char WS_ITEMS[] =
    "\\t-\\r\\x20\\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}";

/* Copies a regex with \s and \S (outside a class) spelled as White_Space, so
 * PCRE2 splits where the Oniguruma of `tokenizers` does. \S inside a class is
 * left to PCRE2. */
static int rx_translate(const char *p, size_t n, buf *out)
{
    int in_class = 0, rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        char c = p[i], d = i + 1 < n ? p[i + 1] : 0;
        if (c == '\\' && d == 's') {
            rc = (!in_class && buf_put(out, "[", 1)) || buf_put(out, WS_ITEMS, sizeof WS_ITEMS - 1) ||
                 (!in_class && buf_put(out, "]", 1));
            i++;
        } else if (c == '\\' && d == 'S' && !in_class) {
            rc = buf_put(out, "[^", 2) || buf_put(out, WS_ITEMS, sizeof WS_ITEMS - 1) || buf_put(out, "]", 1);
            i++;
        } else if (c == '\\' && d) {
            rc = buf_put(out, p + i, 2);
            i++;
        } else if (c == '[' && !in_class) {
            /* a ']' right after '[' or '[^' is a literal */
            size_t k = i + 1 + (d == '^');
            k += k < n && p[k] == ']';
            rc = buf_put(out, p + i, k - i);
            i = k - 1, in_class = 1;
        } else if (c == '[' && in_class && d == ':') {
            const char *end = strstr(p + i, ":]");
            size_t k = end && (size_t)(end - p) < n ? (size_t)(end - p) + 2 : i + 1;
            rc = buf_put(out, p + i, k - i);
            i = k - 1;
        } else {
            in_class &= c != ']';
            rc = buf_put(out, &c, 1);
        }
    }
    return rc;
}

static pcre2_code *rx_compile(const char *pattern, size_t n, char *why, size_t why_len)
{
    buf p = {0};
    if (rx_translate(pattern, n, &p)) {
        free(p.p);
        snprintf(why, why_len, "out of memory");
        return NULL;
    }
    int code;
    PCRE2_SIZE at;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)(p.p ? p.p : ""), p.n, PCRE2_UTF | PCRE2_UCP, &code, &at, NULL);
    free(p.p);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        snprintf(why, why_len, "%s", (const char *)msg);
        return NULL;
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* falls back to the interpreter on failure */
    return re;
}

/* Finds the first match of re in s[0,n) at or after `from`: 1 found, 0 none,
 * negative on an engine failure. */
static int rx_find(rx *x, const pcre2_code *re, const char *s, size_t n, size_t from,
                   uint32_t opts, size_t *ms, size_t *me)
{
    int rc = pcre2_match(re, (PCRE2_SPTR)s, n, from, opts | PCRE2_NO_UTF_CHECK, x->md, x->mctx);
    if (rc == PCRE2_ERROR_NOMATCH) return 0;
    if (rc < 0) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(rc, msg, sizeof msg);
        return qz_fail(x->err, QZ_EINTERNAL, "tokenizer: regex match failed: %s", (const char *)msg);
    }
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(x->md);
    *ms = ov[0], *me = ov[1];
    return 1;
}

/* Iterates the non-overlapping matches of a regex; after an empty match the
 * next one must be non-empty there or start a character later. */
typedef struct { const pcre2_code *re; const char *s; size_t n, pos; int after_empty; } rx_iter;

static int rx_next(rx *x, rx_iter *it, size_t *ms, size_t *me)
{
    for (;;) {
        if (it->pos > it->n) return 0;
        uint32_t opts = it->after_empty ? PCRE2_NOTEMPTY_ATSTART | PCRE2_ANCHORED : 0;
        int rc = rx_find(x, it->re, it->s, it->n, it->pos, opts, ms, me);
        if (rc < 0) return rc;
        if (rc == 0 && !it->after_empty) return 0;
        if (rc == 0) {
            it->after_empty = 0;
            if (it->pos >= it->n) return 0;
            it->pos += utf8_len(it->s + it->pos, it->n - it->pos);
            continue;
        }
        it->after_empty = *ms == *me;
        it->pos = *me;
        return 1;
    }
}

/* Next occurrence of a literal or regex pattern (step->s or step->re). */
typedef struct { const step *st; rx_iter it; } pat_iter;

static int pat_next(rx *x, pat_iter *p, size_t *ms, size_t *me)
{
    if (p->st->re) return rx_next(x, &p->it, ms, me);
    if (p->it.pos >= p->it.n) return 0;
    const char *f = memmem(p->it.s + p->it.pos, p->it.n - p->it.pos, p->st->s, p->st->s_len);
    if (!f) return 0;
    *ms = (size_t)(f - p->it.s), *me = *ms + p->st->s_len;
    p->it.pos = *me;
    return 1;
}

static pat_iter pat_start(const step *st, const char *s, size_t n)
{
    return (pat_iter){st, {st->re, s, n, 0, 0}};
}

/* Appends s with every match of the step's pattern replaced by its content. */
static int replace_all(rx *x, const step *st, const char *s, size_t n, buf *out)
{
    pat_iter p = pat_start(st, s, n);
    size_t pos = 0, ms = 0, me = 0;
    int rc;
    while ((rc = pat_next(x, &p, &ms, &me)) > 0) {
        if (me == ms) continue;
        if (buf_put(out, s + pos, ms - pos) || buf_put(out, st->t, st->t_len)) return oom(x->err);
        pos = me;
    }
    if (rc < 0) return rc;
    return buf_put(out, s + pos, n - pos) ? oom(x->err) : 0;
}

/* Is the character at s a word character (single_word)? */
static int is_word_char(rx *x, const qz_tokenizer *tok, const char *s, size_t n)
{
    size_t ms, me;
    return rx_find(x, tok->word_re, s, n, 0, PCRE2_ANCHORED, &ms, &me) > 0;
}

/* ------------------------------------------------------------------------ */
/* Normalizers                                                               */
/* ------------------------------------------------------------------------ */

static int normalize_step(rx *x, const step *st, const char *s, size_t n, buf *out, cpvec *cps)
{
    switch (st->kind) {
    case NORM_PREPEND:
        if (n && buf_put(out, st->s, st->s_len)) return oom(x->err);
        return buf_put(out, s, n) ? oom(x->err) : 0;
    case NORM_REPLACE: return replace_all(x, st, s, n, out);
    case NORM_NFC: return nfc(s, n, out, cps) ? oom(x->err) : 0;
    }
    QZ_ASSERT(0);
}

/* Runs every normalizer over s[0,n); the result is left in *out (tmp and cps
 * are scratch). */
static int normalize(rx *x, const steps *norms, const char *s, size_t n, buf *out, buf *tmp, cpvec *cps)
{
    out->n = 0;
    if (buf_put(out, s, n)) return oom(x->err);
    for (size_t i = 0; i < norms->n; i++) {
        tmp->n = 0;
        int rc = normalize_step(x, &norms->p[i], out->p, out->n, tmp, cps);
        if (rc) return rc;
        buf t = *out;
        *out = *tmp, *tmp = t;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Loading: helpers                                                          */
/* ------------------------------------------------------------------------ */

typedef struct {
    qz_tokenizer *tok;
    const char *path;
    qz_error *err;
    buf scratch;
    int32_t max_added;           /* largest added-token id so far, -1 before the first */
} loader;

__attribute__((format(printf, 2, 3)))
static int bad(loader *L, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return qz_fail(L->err, QZ_EINPUT, "%s: %s", L->path, msg);
}

static const cJSON *jget(const cJSON *o, const char *key)
{
    return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
}

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = jget(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int jbool(const cJSON *o, const char *key, int dflt)
{
    const cJSON *v = jget(o, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

static int jtype_is(const cJSON *o, const char *type)
{
    const char *t = jstr(o, "type");
    return t && strcmp(t, type) == 0;
}

/* Reads and parses a JSON file. */
static int read_json(const char *path, cJSON **out, qz_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return qz_fail(err, QZ_EINPUT, "cannot open '%s': %s", path, strerror(errno));
    buf b = {0};
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (buf_put(&b, chunk, got)) {
            fclose(f), free(b.p);
            return oom(err);
        }
    int rd_err = ferror(f);
    fclose(f);
    if (rd_err) {
        free(b.p);
        return qz_fail(err, QZ_EINPUT, "cannot read '%s'", path);
    }
    const char *end = NULL;
    *out = cJSON_ParseWithLengthOpts(b.p ? b.p : "", b.n, &end, 0);
    size_t at = end && b.p ? (size_t)(end - b.p) : 0;
    free(b.p);
    if (!*out) return qz_fail(err, QZ_EINPUT, "%s: malformed JSON near byte %zu", path, at);
    return 0;
}

static char *dup_bytes(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) memcpy(p, s, n), p[n] = 0;
    return p;
}

static step *steps_add(steps *v, int kind)
{
    void *q = grow_array(v->p, &v->cap, v->n + 1, sizeof *v->p);
    if (!q) return NULL;
    v->p = q;
    step *st = &v->p[v->n++];
    *st = (step){.kind = kind};
    return st;
}

/* Compiles pattern into st->re (regex) or keeps it literal in st->s. */
static int load_pattern(loader *L, step *st, const cJSON *pat, const char *where)
{
    const char *lit = jstr(pat, "String"), *re = jstr(pat, "Regex");
    if (lit) {
        if (!*lit) return bad(L, "%s: empty String pattern", where);
        st->s_len = strlen(lit);
        return (st->s = dup_bytes(lit, st->s_len)) ? 0 : oom(L->err);
    }
    if (!re) return bad(L, "%s: pattern must be {\"String\": ...} or {\"Regex\": ...}", where);
    char why[320];
    st->re = rx_compile(re, strlen(re), why, sizeof why);
    if (!st->re) return bad(L, "%s: regex /%s/ does not compile: %s", where, re, why);
    L->tok->has_regex = 1;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Loading: model                                                            */
/* ------------------------------------------------------------------------ */

static int load_vocab(loader *L, const cJSON *vocab)
{
    qz_tokenizer *tok = L->tok;
    if (!cJSON_IsObject(vocab)) return bad(L, "model.vocab is missing or not an object");
    int n = cJSON_GetArraySize(vocab);
    if (map_init(&tok->vocab, (size_t)n)) return oom(L->err);
    for (const cJSON *e = vocab->child; e; e = e->next) {
        double d = e->valuedouble;
        size_t len = strlen(e->string);
        if (!cJSON_IsNumber(e) || !(d >= 0 && d < MAX_ID) || d != (double)(int32_t)d)
            return bad(L, "model.vocab[\"%s\"] is not an id in [0, %d)", e->string, MAX_ID);
        if (utf8_check(e->string, len) != len)
            return bad(L, "model.vocab has a token that is not valid UTF-8");
        uint32_t off;
        if (strs_add(tok, e->string, len, &off)) return oom(L->err);
        map_set(&tok->vocab, tok->strs.p, off, (uint32_t)len, (int32_t)d);
        if ((int32_t)d >= tok->vocab_size) tok->vocab_size = (int32_t)d + 1;
    }
    tok->n_model = (int32_t)tok->vocab.n;
    return 0;
}

/* Splits one merge ("a b" or ["a", "b"]) into its two tokens. */
static int merge_parts(loader *L, const cJSON *m, int64_t rank, const char **a, size_t *na,
                       const char **b, size_t *nb)
{
    if (cJSON_IsString(m)) {
        const char *sp = strchr(m->valuestring, ' ');
        if (!sp || strchr(sp + 1, ' '))
            return bad(L, "model.merges[%lld] \"%s\" is not two tokens separated by one space",
                       (long long)rank, m->valuestring);
        *a = m->valuestring, *na = (size_t)(sp - m->valuestring);
        *b = sp + 1, *nb = strlen(sp + 1);
        return 0;
    }
    if (cJSON_GetArraySize(m) != 2 || !cJSON_IsString(m->child) || !cJSON_IsString(m->child->next))
        return bad(L, "model.merges[%lld] is neither \"a b\" nor [\"a\", \"b\"]", (long long)rank);
    *a = m->child->valuestring, *na = strlen(*a);
    *b = m->child->next->valuestring, *nb = strlen(*b);
    return 0;
}

static int load_merges(loader *L, const cJSON *merges)
{
    qz_tokenizer *tok = L->tok;
    if (!cJSON_IsArray(merges)) return bad(L, "model.merges is missing or not an array");
    size_t n = (size_t)cJSON_GetArraySize(merges), cap = 16;
    while (cap < 2 * n + 2) cap *= 2;
    tok->merges.slot = qz_malloc_array(cap, sizeof *tok->merges.slot);
    if (!tok->merges.slot) return oom(L->err);
    for (size_t i = 0; i < cap; i++) tok->merges.slot[i].rank = -1;
    tok->merges.mask = cap - 1;
    uint64_t h = FNV_BASIS;
    int32_t rank = 0;
    for (const cJSON *m = merges->child; m; m = m->next, rank++) {
        const char *a = NULL, *b = NULL;
        size_t na = 0, nb = 0;
        int rc = merge_parts(L, m, rank, &a, &na, &b, &nb);
        if (rc) return rc;
        L->scratch.n = 0;
        if (buf_put(&L->scratch, a, na) || buf_put(&L->scratch, b, nb)) return oom(L->err);
        int32_t ia = map_get(&tok->vocab, tok->strs.p, a, na);
        int32_t ib = map_get(&tok->vocab, tok->strs.p, b, nb);
        int32_t iab = map_get(&tok->vocab, tok->strs.p, L->scratch.p, L->scratch.n);
        if (ia < 0 || ib < 0 || iab < 0)
            return bad(L, "model.merges[%d] (\"%.*s\", \"%.*s\"): %s is not in model.vocab", rank,
                       (int)na, a, (int)nb, b, ia < 0 ? "the first token" : ib < 0 ? "the second token" : "the merged token");
        merge_set(&tok->merges, ia, ib, rank, iab);
        int32_t pair[2] = {ia, ib};
        h = fnv1a(h, pair, sizeof pair);
    }
    tok->merge_hash = h;
    return 0;
}

static int load_model(loader *L, const cJSON *model)
{
    qz_tokenizer *tok = L->tok;
    const char *type = jstr(model, "type");
    if (!cJSON_IsObject(model)) return bad(L, "no \"model\" object; this is not a tokenizer.json");
    if (type ? strcmp(type, "BPE") != 0 : !jget(model, "merges"))
        return bad(L, "model.type \"%s\" is not supported; qz reads BPE tokenizers only "
                      "(SentencePiece-style or byte-level, e.g. LLaMA, Mistral, GPT-2, Qwen2)",
                   type ? type : "(none)");
    const cJSON *dropout = jget(model, "dropout");
    if (cJSON_IsNumber(dropout) && dropout->valuedouble != 0)
        return bad(L, "model.dropout %g is not supported (BPE dropout is random; use null)", dropout->valuedouble);
    const char *csp = jstr(model, "continuing_subword_prefix"), *eow = jstr(model, "end_of_word_suffix");
    if ((csp && *csp) || (eow && *eow))
        return bad(L, "model.continuing_subword_prefix / end_of_word_suffix are not supported");
    int rc = load_vocab(L, jget(model, "vocab"));
    if (!rc) rc = load_merges(L, jget(model, "merges"));
    if (rc) return rc;
    tok->fuse_unk = jbool(model, "fuse_unk", 0);
    tok->byte_fallback = jbool(model, "byte_fallback", 0);
    tok->ignore_merges = jbool(model, "ignore_merges", 0);
    const char *unk = jstr(model, "unk_token");
    tok->unk_id = -1;
    if (unk) {
        if (!(tok->unk_name = dup_bytes(unk, strlen(unk)))) return oom(L->err);
        tok->unk_id = map_get(&tok->vocab, tok->strs.p, unk, strlen(unk));
    }
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        tok->byte_id[b] = map_get(&tok->vocab, tok->strs.p, name, 6);
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Loading: normalizer, pre-tokenizer, decoder                               */
/* ------------------------------------------------------------------------ */

static int load_normalizer(loader *L, const cJSON *n)
{
    if (!n || cJSON_IsNull(n)) return 0;
    step *st;
    if (jtype_is(n, "Sequence")) {
        const cJSON *list = jget(n, "normalizers");
        for (const cJSON *e = cJSON_IsArray(list) ? list->child : NULL; e; e = e->next) {
            int rc = load_normalizer(L, e);
            if (rc) return rc;
        }
        return 0;
    }
    if (jtype_is(n, "Prepend")) {
        const char *p = jstr(n, "prepend");
        if (!p) return bad(L, "normalizer Prepend has no \"prepend\" string");
        if (!(st = steps_add(&L->tok->normalizers, NORM_PREPEND))) return oom(L->err);
        st->s_len = strlen(p);
        return (st->s = dup_bytes(p, st->s_len)) ? 0 : oom(L->err);
    }
    if (jtype_is(n, "Replace")) {
        const char *c = jstr(n, "content");
        if (!c) return bad(L, "normalizer Replace has no \"content\" string");
        if (!(st = steps_add(&L->tok->normalizers, NORM_REPLACE))) return oom(L->err);
        st->t_len = strlen(c);
        if (!(st->t = dup_bytes(c, st->t_len))) return oom(L->err);
        return load_pattern(L, st, jget(n, "pattern"), "normalizer Replace");
    }
    if (jtype_is(n, "NFC")) return steps_add(&L->tok->normalizers, NORM_NFC) ? 0 : oom(L->err);
    return bad(L, "normalizer type \"%s\" is not supported (supported: Sequence, Prepend, Replace, NFC)",
               jstr(n, "type") ? jstr(n, "type") : "(none)");
}

static int parse_behavior(loader *L, const char *b, int *out)
{
    static const char *const names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext",
                                        "Contiguous"};
    for (int i = 0; i < 5; i++)
        if (b && strcmp(b, names[i]) == 0) return *out = i, 0;
    return bad(L, "pre_tokenizer Split: behavior \"%s\" is unknown", b ? b : "(none)");
}

/* Metaspace's replacement and prepend scheme (pre-tokenizer and decoder). */
static int load_metaspace(loader *L, const cJSON *m, step *st)
{
    const char *r = jstr(m, "replacement"), *scheme = jstr(m, "prepend_scheme");
    if (!r || utf8_len(r, strlen(r)) != strlen(r) || !*r)
        return bad(L, "Metaspace: \"replacement\" must be one character");
    st->s_len = strlen(r);
    if (!(st->s = dup_bytes(r, st->s_len))) return oom(L->err);
    st->split = jbool(m, "split", 1);
    if (!scheme) st->scheme = jbool(m, "add_prefix_space", 1) ? PREPEND_ALWAYS : PREPEND_NEVER;
    else if (!strcmp(scheme, "always")) st->scheme = PREPEND_ALWAYS;
    else if (!strcmp(scheme, "first")) st->scheme = PREPEND_FIRST;
    else if (!strcmp(scheme, "never")) st->scheme = PREPEND_NEVER;
    else return bad(L, "Metaspace: prepend_scheme \"%s\" is unknown (always, first, never)", scheme);
    return 0;
}

/* ByteLevel (pre-tokenizer): use_regex brings GPT-2's split pattern. */
static int load_byte_level(loader *L, const cJSON *p)
{
    step *st = steps_add(&L->tok->pretoks, PRE_BYTE_LEVEL);
    if (!st) return oom(L->err);
    st->prefix_space = jbool(p, "add_prefix_space", 1);
    if (!jbool(p, "use_regex", 1)) return 0;
    char why[320];
    st->re = rx_compile(GPT2_PATTERN, sizeof GPT2_PATTERN - 1, why, sizeof why);
    QZ_ASSERT(st->re);
    L->tok->has_regex = 1;
    return 0;
}

/* Digits splits on Unicode numbers (Rust's char::is_numeric): one piece per
 * digit, or per run of digits. */
static int load_digits(loader *L, const cJSON *p)
{
    step *st = steps_add(&L->tok->pretoks, PRE_SPLIT);
    if (!st) return oom(L->err);
    st->behavior = jbool(p, "individual_digits", 0) ? SPLIT_ISOLATED : SPLIT_CONTIGUOUS;
    char why[320];
    st->re = rx_compile("\\p{N}", 5, why, sizeof why);
    QZ_ASSERT(st->re);
    L->tok->has_regex = 1;
    return 0;
}

static int load_pretokenizer(loader *L, const cJSON *p)
{
    if (!p || cJSON_IsNull(p)) return 0;
    step *st;
    if (jtype_is(p, "Sequence")) {
        const cJSON *list = jget(p, "pretokenizers");
        for (const cJSON *e = cJSON_IsArray(list) ? list->child : NULL; e; e = e->next) {
            int rc = load_pretokenizer(L, e);
            if (rc) return rc;
        }
        return 0;
    }
    if (jtype_is(p, "Split")) {
        if (!(st = steps_add(&L->tok->pretoks, PRE_SPLIT))) return oom(L->err);
        st->invert = jbool(p, "invert", 0);
        int rc = parse_behavior(L, jstr(p, "behavior"), &st->behavior);
        return rc ? rc : load_pattern(L, st, jget(p, "pattern"), "pre_tokenizer Split");
    }
    if (jtype_is(p, "Metaspace")) {
        if (!(st = steps_add(&L->tok->pretoks, PRE_METASPACE))) return oom(L->err);
        return load_metaspace(L, p, st);
    }
    if (jtype_is(p, "ByteLevel")) return load_byte_level(L, p);
    if (jtype_is(p, "Digits")) return load_digits(L, p);
    return bad(L, "pre_tokenizer type \"%s\" is not supported (supported: Sequence, Split, ByteLevel, "
                  "Metaspace, Digits)", jstr(p, "type") ? jstr(p, "type") : "(none)");
}

static int load_strip(loader *L, const cJSON *d, step *st)
{
    const char *c = jstr(d, "content");
    const cJSON *start = jget(d, "start"), *stop = jget(d, "stop");
    if (!c || !*c || utf8_len(c, strlen(c)) != strlen(c) || !cJSON_IsNumber(start) || !cJSON_IsNumber(stop) ||
        start->valuedouble < 0 || stop->valuedouble < 0)
        return bad(L, "decoder Strip needs a one-character \"content\" and counts \"start\", \"stop\"");
    st->s_len = strlen(c);
    st->start = start->valueint, st->stop = stop->valueint;
    return (st->s = dup_bytes(c, st->s_len)) ? 0 : oom(L->err);
}

static int load_decoder(loader *L, const cJSON *d)
{
    static const struct { const char *name; int kind; } simple[] = {
        {"ByteFallback", DEC_BYTE_FALLBACK}, {"Fuse", DEC_FUSE}, {"ByteLevel", DEC_BYTE_LEVEL}};
    if (!d || cJSON_IsNull(d)) return 0;
    L->tok->has_decoder = 1;
    step *st;
    if (jtype_is(d, "Sequence")) {
        const cJSON *list = jget(d, "decoders");
        for (const cJSON *e = cJSON_IsArray(list) ? list->child : NULL; e; e = e->next) {
            int rc = load_decoder(L, e);
            if (rc) return rc;
        }
        return 0;
    }
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++)
        if (jtype_is(d, simple[i].name)) return steps_add(&L->tok->decoders, simple[i].kind) ? 0 : oom(L->err);
    if (jtype_is(d, "Replace")) {
        const char *c = jstr(d, "content");
        if (!c) return bad(L, "decoder Replace has no \"content\" string");
        if (!(st = steps_add(&L->tok->decoders, DEC_REPLACE))) return oom(L->err);
        st->t_len = strlen(c);
        if (!(st->t = dup_bytes(c, st->t_len))) return oom(L->err);
        return load_pattern(L, st, jget(d, "pattern"), "decoder Replace");
    }
    if (jtype_is(d, "Strip")) {
        if (!(st = steps_add(&L->tok->decoders, DEC_STRIP))) return oom(L->err);
        return load_strip(L, d, st);
    }
    if (jtype_is(d, "Metaspace")) {
        if (!(st = steps_add(&L->tok->decoders, DEC_METASPACE))) return oom(L->err);
        return load_metaspace(L, d, st);
    }
    return bad(L, "decoder type \"%s\" is not supported (supported: Sequence, Replace, ByteFallback, Fuse, "
                  "Strip, Metaspace, ByteLevel)", jstr(d, "type") ? jstr(d, "type") : "(none)");
}

/* ------------------------------------------------------------------------ */
/* Loading: added tokens                                                     */
/* ------------------------------------------------------------------------ */

/* One added_tokens entry, with `tokenizers`' id rule: the id of the same
 * content if it is already known (added or model vocab), else the next id
 * after the model vocab and the added tokens so far. The id written in the
 * file is not used. A repeated content keeps its id and takes the new flags. */
static int add_token(loader *L, const cJSON *t)
{
    qz_tokenizer *tok = L->tok;
    const char *content = jstr(t, "content");
    if (!content) return bad(L, "added_tokens has an entry without \"content\"");
    size_t len = strlen(content);
    if (!len) return 0;
    if (utf8_check(content, len) != len) return bad(L, "added_tokens has a content that is not valid UTF-8");
    int special = jbool(t, "special", 0);
    added_tok a = {.special = (uint8_t)special, .lstrip = (uint8_t)jbool(t, "lstrip", 0),
                   .rstrip = (uint8_t)jbool(t, "rstrip", 0), .single_word = (uint8_t)jbool(t, "single_word", 0),
                   .normalized = (uint8_t)jbool(t, "normalized", !special)};
    int32_t k = map_get(&tok->added_map, tok->strs.p, content, len);
    if (k >= 0) {
        added_tok *old = &tok->added[k];
        a.off = old->off, a.len = old->len, a.id = old->id;
        a.special |= old->special;
        *old = a;
        return 0;
    }
    int32_t n_model = tok->n_model;
    a.id = token_to_id(tok, content, len);
    if (a.id < 0) a.id = L->max_added < 0 ? n_model
                         : (L->max_added >= n_model || n_model == 0) ? L->max_added + 1 : n_model;
    if (a.id >= MAX_ID) return bad(L, "added token \"%s\" would get id %d, beyond %d", content, a.id, MAX_ID);
    if (a.id > L->max_added) L->max_added = a.id;
    a.len = (uint32_t)len;
    if (strs_add(tok, content, len, &a.off)) return oom(L->err);
    tok->added[tok->n_added] = a;
    map_set(&tok->added_map, tok->strs.p, a.off, a.len, tok->n_added++);
    return 0;
}

/* What a token is matched as: its content, or the normalized content. */
static int added_patterns(loader *L)
{
    qz_tokenizer *tok = L->tok;
    rx x;
    buf out = {0}, tmp = {0};
    cpvec cps = {0};
    int rc = rx_init(&x, tok, L->err);
    for (int32_t i = 0; !rc && i < tok->n_added; i++) {
        added_tok *a = &tok->added[i];
        a->pat_off = a->off, a->pat_len = a->len;
        if (!a->normalized || !tok->normalizers.n) continue;
        L->scratch.n = 0;
        if (buf_put(&L->scratch, tok_str(tok, a->off), a->len)) rc = oom(L->err);
        if (!rc) rc = normalize(&x, &tok->normalizers, L->scratch.p, L->scratch.n, &out, &tmp, &cps);
        if (!rc && strs_add(tok, out.p, out.n, &a->pat_off)) rc = oom(L->err);
        a->pat_len = (uint32_t)out.n;
    }
    rx_free(&x);
    free(out.p), free(tmp.p), free(cps.p);
    return rc;
}

typedef struct { unsigned first; uint32_t len; int32_t idx; } match_key;

static int match_key_cmp(const void *pa, const void *pb)
{
    const match_key *a = pa, *b = pb;
    if (a->first != b->first) return a->first < b->first ? -1 : 1;
    if (a->len != b->len) return a->len > b->len ? -1 : 1;
    return (a->idx > b->idx) - (a->idx < b->idx);
}

static int build_matcher(loader *L, matcher *m, int normalized)
{
    qz_tokenizer *tok = L->tok;
    match_key *keys = qz_malloc_array((size_t)tok->n_added, sizeof *keys);
    m->idx = qz_malloc_array((size_t)tok->n_added, sizeof *m->idx);
    if (!keys || !m->idx) return free(keys), oom(L->err);
    size_t n = 0;
    for (int32_t i = 0; i < tok->n_added; i++) {
        const added_tok *a = &tok->added[i];
        if (a->normalized == normalized && a->pat_len)
            keys[n++] = (match_key){(unsigned char)tok_str(tok, a->pat_off)[0], a->pat_len, i};
    }
    qsort(keys, n, sizeof *keys, match_key_cmp);
    memset(m->start, 0, sizeof m->start);
    for (size_t i = 0; i < n; i++) m->idx[i] = keys[i].idx, m->start[keys[i].first + 1]++;
    for (int c = 0; c < 256; c++) m->start[c + 1] += m->start[c];
    free(keys);
    return 0;
}

static int load_added_tokens(loader *L, const cJSON *list)
{
    qz_tokenizer *tok = L->tok;
    if (list && !cJSON_IsNull(list) && !cJSON_IsArray(list)) return bad(L, "added_tokens is not an array");
    int n = cJSON_IsArray(list) ? cJSON_GetArraySize(list) : 0;
    tok->added = qz_calloc_array((size_t)n, sizeof *tok->added);
    if (!tok->added || map_init(&tok->added_map, (size_t)n)) return oom(L->err);
    for (const cJSON *t = n ? list->child : NULL; t; t = t->next) {
        int rc = add_token(L, t);
        if (rc) return rc;
    }
    int rc = added_patterns(L);
    if (!rc) rc = build_matcher(L, &tok->raw, 0);
    if (!rc) rc = build_matcher(L, &tok->norm, 1);
    for (int32_t i = 0; !rc && i < tok->n_added && !tok->word_re; i++) {
        if (!tok->added[i].single_word) continue;
        static const char word[] = "[\\p{L}\\p{Nl}\\p{M}\\p{Nd}\\p{Pc}\\x{200C}\\x{200D}]";
        char why[320];
        tok->word_re = rx_compile(word, sizeof word - 1, why, sizeof why);
        QZ_ASSERT(tok->word_re);
        tok->has_regex = 1;
    }
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Loading: post-processor and tokenizer_config.json                         */
/* ------------------------------------------------------------------------ */

/* Puts pre before the current prefix and suf after the current suffix: a
 * later processor in a Sequence wraps the output of the earlier ones. */
static int wrap_specials(loader *L, const ivec *pre, const ivec *suf)
{
    qz_tokenizer *tok = L->tok;
    ivec p = {0};
    for (size_t i = 0; i < pre->n; i++)
        if (ivec_push(&p, pre->p[i])) return free(p.p), oom(L->err);
    for (size_t i = 0; i < tok->prefix.n; i++)
        if (ivec_push(&p, tok->prefix.p[i])) return free(p.p), oom(L->err);
    free(tok->prefix.p);
    tok->prefix = p;
    for (size_t i = 0; i < suf->n; i++)
        if (ivec_push(&tok->suffix, suf->p[i])) return oom(L->err);
    return 0;
}

static int template_special(loader *L, const cJSON *specials, const char *name, ivec *out)
{
    const cJSON *ids = jget(jget(specials, name), "ids");
    if (!cJSON_IsArray(ids)) return bad(L, "post_processor: special token \"%s\" has no \"ids\"", name);
    for (const cJSON *e = ids->child; e; e = e->next) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble >= MAX_ID)
            return bad(L, "post_processor: special token \"%s\" has a bad id", name);
        if (ivec_push(out, e->valueint)) return oom(L->err);
    }
    return 0;
}

/* TemplateProcessing's "single": special tokens before and after $A. */
static int load_template(loader *L, const cJSON *p, ivec *pre, ivec *suf)
{
    const cJSON *single = jget(p, "single");
    if (!cJSON_IsArray(single)) return bad(L, "post_processor TemplateProcessing has no \"single\" list");
    int seen_a = 0;
    for (const cJSON *e = single->child; e; e = e->next) {
        const cJSON *sp = jget(e, "SpecialToken");
        const char *name = jstr(sp, "id");
        if (jget(e, "Sequence")) seen_a = 1;
        else if (!name) return bad(L, "post_processor TemplateProcessing: unknown template piece");
        else {
            int rc = template_special(L, jget(p, "special_tokens"), name, seen_a ? suf : pre);
            if (rc) return rc;
        }
    }
    return 0;
}

/* RobertaProcessing / BertProcessing: "cls": [token, id] before, "sep" after. */
static int load_cls_sep(loader *L, const cJSON *p, ivec *pre, ivec *suf)
{
    const cJSON *cls = cJSON_GetArrayItem(jget(p, "cls"), 1), *sep = cJSON_GetArrayItem(jget(p, "sep"), 1);
    if (!cJSON_IsNumber(cls) || !cJSON_IsNumber(sep) || cls->valuedouble < 0 || sep->valuedouble < 0)
        return bad(L, "post_processor %s needs \"cls\" and \"sep\" as [token, id]", jstr(p, "type"));
    return ivec_push(pre, cls->valueint) || ivec_push(suf, sep->valueint) ? oom(L->err) : 0;
}

static int load_post(loader *L, const cJSON *p)
{
    if (!p || cJSON_IsNull(p) || jtype_is(p, "ByteLevel")) return 0;
    if (jtype_is(p, "Sequence")) {
        const cJSON *list = jget(p, "processors");
        for (const cJSON *e = cJSON_IsArray(list) ? list->child : NULL; e; e = e->next) {
            int rc = load_post(L, e);
            if (rc) return rc;
        }
        return 0;
    }
    ivec pre = {0}, suf = {0};
    int rc;
    if (jtype_is(p, "TemplateProcessing")) rc = load_template(L, p, &pre, &suf);
    else if (jtype_is(p, "RobertaProcessing") || jtype_is(p, "BertProcessing")) rc = load_cls_sep(L, p, &pre, &suf);
    else rc = bad(L, "post_processor type \"%s\" is not supported (supported: TemplateProcessing, ByteLevel, "
                     "RobertaProcessing, BertProcessing, Sequence)", jstr(p, "type") ? jstr(p, "type") : "(none)");
    if (!rc) rc = wrap_specials(L, &pre, &suf);
    free(pre.p), free(suf.p);
    return rc;
}

/* bos_token / eos_token: a string, or an object with "content". */
static int32_t config_token(const qz_tokenizer *tok, const cJSON *v)
{
    const char *s = cJSON_IsString(v) ? v->valuestring : jstr(v, "content");
    return s ? token_to_id(tok, s, strlen(s)) : -1;
}

/* add_bos_token / add_eos_token, when present, add or remove the BOS / EOS
 * as transformers rebuilds the post-processor from them. */
static int apply_config(loader *L, const cJSON *cfg)
{
    qz_tokenizer *tok = L->tok;
    int32_t bos = config_token(tok, jget(cfg, "bos_token")), eos = config_token(tok, jget(cfg, "eos_token"));
    if (tok->bos < 0) tok->bos = bos;
    if (tok->eos < 0) tok->eos = eos;
    const cJSON *add_bos = jget(cfg, "add_bos_token"), *add_eos = jget(cfg, "add_eos_token");
    if (cJSON_IsFalse(add_bos)) tok->prefix.n = 0;
    if (cJSON_IsTrue(add_bos) && !tok->prefix.n && bos >= 0 && ivec_push(&tok->prefix, bos)) return oom(L->err);
    if (cJSON_IsFalse(add_eos)) tok->suffix.n = 0;
    if (cJSON_IsTrue(add_eos) && !tok->suffix.n && eos >= 0 && ivec_push(&tok->suffix, eos)) return oom(L->err);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Loading: id table, fingerprint, entry point                               */
/* ------------------------------------------------------------------------ */

static int build_id_table(loader *L)
{
    qz_tokenizer *tok = L->tok;
    if (L->max_added >= tok->vocab_size) tok->vocab_size = L->max_added + 1;
    int64_t tokens = (int64_t)tok->n_model + tok->n_added;
    if (tok->vocab_size > 2 * tokens + 1024)
        return bad(L, "ids are sparse: the largest is %d for %lld tokens", tok->vocab_size - 1, (long long)tokens);
    size_t n = (size_t)tok->vocab_size;
    tok->id_off = qz_malloc_array(n, sizeof *tok->id_off);
    tok->id_len = qz_malloc_array(n, sizeof *tok->id_len);
    tok->id_special = qz_calloc_array(n, 1);
    if (!tok->id_off || !tok->id_len || !tok->id_special) return oom(L->err);
    for (size_t i = 0; i < n; i++) tok->id_len[i] = MISSING;
    for (size_t i = 0; i <= tok->vocab.mask; i++) {
        const map_slot *e = &tok->vocab.slot[i];
        if (e->val < 0) continue;
        if (tok->id_len[e->val] != MISSING) return bad(L, "model.vocab gives id %d to two tokens", e->val);
        tok->id_off[e->val] = e->off, tok->id_len[e->val] = e->len;
    }
    /* `tokenizers` gives an added token the text it matches as (normalized
     * when `normalized`); only a token whose text is its content counts as
     * special when decoding. */
    for (int32_t i = 0; i < tok->n_added; i++) {
        const added_tok *a = &tok->added[i];
        tok->id_off[a->id] = a->pat_off, tok->id_len[a->id] = a->pat_len;
        tok->id_special[a->id] |= a->special && a->pat_len == a->len &&
                                  !memcmp(tok_str(tok, a->pat_off), tok_str(tok, a->off), a->len);
    }
    return 0;
}

static uint64_t compute_fingerprint(const qz_tokenizer *tok)
{
    uint64_t h = fnv1a(FNV_BASIS, "qz-tokenizer-1", 14);
    h = fnv1a(h, &tok->vocab_size, sizeof tok->vocab_size);
    for (int32_t id = 0; id < tok->vocab_size; id++) {
        h = fnv1a(h, &tok->id_len[id], sizeof tok->id_len[id]);
        if (tok->id_len[id] != MISSING) h = fnv1a(h, tok_str(tok, tok->id_off[id]), tok->id_len[id]);
    }
    h = fnv1a(h, &tok->merge_hash, sizeof tok->merge_hash);
    for (int32_t i = 0; i < tok->n_added; i++) {
        const added_tok *a = &tok->added[i];
        uint8_t flags[5] = {a->special, a->lstrip, a->rstrip, a->single_word, a->normalized};
        h = fnv1a(h, &a->id, sizeof a->id);
        h = fnv1a(h, flags, sizeof flags);
        h = fnv1a(h, tok_str(tok, a->off), a->len);
    }
    return h;
}

static int load_tokenizer_json(loader *L, const cJSON *root)
{
    qz_tokenizer *tok = L->tok;
    if (!cJSON_IsObject(root)) return bad(L, "not a JSON object; expected a Hugging Face tokenizer.json");
    int rc = load_model(L, jget(root, "model"));
    if (!rc) rc = load_normalizer(L, jget(root, "normalizer"));
    if (!rc) rc = load_added_tokens(L, jget(root, "added_tokens"));
    if (!rc) rc = load_pretokenizer(L, jget(root, "pre_tokenizer"));
    if (!rc) rc = load_post(L, jget(root, "post_processor"));
    if (!rc) rc = load_decoder(L, jget(root, "decoder"));
    if (!rc) rc = build_id_table(L);
    if (rc) return rc;
    tok->bos = tok->prefix.n ? tok->prefix.p[0] : -1;
    tok->eos = tok->suffix.n ? tok->suffix.p[tok->suffix.n - 1] : -1;
    for (size_t i = 0; i < tok->prefix.n + tok->suffix.n; i++) {
        int32_t id = i < tok->prefix.n ? tok->prefix.p[i] : tok->suffix.p[i - tok->prefix.n];
        if (id >= tok->vocab_size) return bad(L, "post_processor adds id %d, beyond the vocab (%d)", id, tok->vocab_size);
    }
    return 0;
}

int qz_tokenizer_load_json(qz_tokenizer **out, const cJSON *tokenizer_json, const cJSON *tokenizer_config,
                           const char *where, qz_error *err)
{
    QZ_ASSERT(out && tokenizer_json && where);
    *out = NULL;
    qz_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok) return oom(err);
    loader L = {.tok = tok, .path = where, .err = err, .max_added = -1};
    int rc = load_tokenizer_json(&L, tokenizer_json);
    if (!rc && tokenizer_config)
        rc = cJSON_IsObject(tokenizer_config) ? apply_config(&L, tokenizer_config) : bad(&L, "tokenizer_config is not a JSON object");
    free(L.scratch.p);
    if (rc) {
        qz_tokenizer_free(tok);
        return rc;
    }
    tok->fingerprint = compute_fingerprint(tok);
    *out = tok;
    return 0;
}

int qz_tokenizer_load(qz_tokenizer **out, const char *tokenizer_json_path, const char *tokenizer_config_path,
                      qz_error *err)
{
    QZ_ASSERT(out && tokenizer_json_path);
    *out = NULL;
    cJSON *tj = NULL, *tc = NULL;
    int rc = read_json(tokenizer_json_path, &tj, err);
    if (!rc && tokenizer_config_path) rc = read_json(tokenizer_config_path, &tc, err);
    if (!rc && tc && !cJSON_IsObject(tc)) rc = qz_fail(err, QZ_EINPUT, "%s: not a JSON object", tokenizer_config_path);
    if (!rc) rc = qz_tokenizer_load_json(out, tj, tc, tokenizer_json_path, err);
    cJSON_Delete(tj), cJSON_Delete(tc);
    return rc;
}

static void steps_free(steps *v)
{
    for (size_t i = 0; i < v->n; i++) {
        free(v->p[i].s), free(v->p[i].t);
        pcre2_code_free(v->p[i].re);
    }
    free(v->p);
}

void qz_tokenizer_free(qz_tokenizer *tok)
{
    if (!tok) return;
    free(tok->strs.p);
    free(tok->vocab.slot);
    free(tok->merges.slot);
    free(tok->unk_name);
    free(tok->added);
    free(tok->added_map.slot);
    free(tok->raw.idx), free(tok->norm.idx);
    pcre2_code_free(tok->word_re);
    steps_free(&tok->normalizers), steps_free(&tok->pretoks), steps_free(&tok->decoders);
    free(tok->prefix.p), free(tok->suffix.p);
    free(tok->id_off), free(tok->id_len), free(tok->id_special);
    free(tok);
}

int32_t qz_tokenizer_vocab_size(const qz_tokenizer *tok) { return tok->vocab_size; }
int32_t qz_tokenizer_bos(const qz_tokenizer *tok) { return tok->bos; }
int32_t qz_tokenizer_eos(const qz_tokenizer *tok) { return tok->eos; }
uint64_t qz_tokenizer_fingerprint(const qz_tokenizer *tok) { return tok->fingerprint; }

/* ------------------------------------------------------------------------ */
/* Encoding: per-call state                                                  */
/* ------------------------------------------------------------------------ */

typedef struct { size_t a, b; int32_t id; } seg;          /* id < 0: text to encode */
typedef struct { seg *p; size_t n, cap; } segvec;
typedef struct { size_t off, len; int at_start; } piece;  /* at_start: begins the input text */
typedef struct { buf b; piece *p; size_t n, cap; } plist;
typedef struct { int32_t id, prev, next; } sym;           /* id < 0: merged into its left */
typedef struct { int32_t rank, pos, id; } cand;           /* a merge of sym[pos] with its right */

typedef struct {
    const qz_tokenizer *tok;
    qz_error *err;
    rx x;
    ivec ids;
    buf norm, norm_tmp, tmp;
    cpvec cps;
    segvec seg_raw, seg_norm;
    plist pa, pb;
    sym *sym;
    size_t sym_cap;
    cand *heap;
    size_t heap_n, heap_cap;
    str_map cache;               /* word -> offset in cache_ids of (count, ids...) */
    buf cache_keys;
    ivec cache_ids;
} enc;

static void plist_free(plist *l) { free(l->b.p), free(l->p); }

/* Registers the bytes from off to the end of l->b as a piece. */
static int plist_push(plist *l, size_t off, int at_start)
{
    void *q = grow_array(l->p, &l->cap, l->n + 1, sizeof *l->p);
    if (!q) return -1;
    l->p = q;
    l->p[l->n++] = (piece){off, l->b.n - off, at_start};
    return 0;
}

static int plist_add(plist *l, const char *s, size_t n, int at_start)
{
    size_t off = l->b.n;
    return buf_put(&l->b, s, n) || plist_push(l, off, at_start) ? -1 : 0;
}

static int push_id(enc *c, int32_t id) { return ivec_push(&c->ids, id) ? oom(c->err) : 0; }

static int seg_push(segvec *v, size_t a, size_t b, int32_t id)
{
    void *q = grow_array(v->p, &v->cap, v->n + 1, sizeof *v->p);
    if (!q) return -1;
    v->p = q;
    v->p[v->n++] = (seg){a, b, id};
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Encoding: added tokens                                                    */
/* ------------------------------------------------------------------------ */

/* The longest added token of m matching at s[p], or -1. */
static int32_t match_at(const qz_tokenizer *tok, const matcher *m, const char *s, size_t n, size_t p, size_t *len)
{
    unsigned c = (unsigned char)s[p];
    for (uint32_t k = m->start[c]; k < m->start[c + 1]; k++) {
        const added_tok *a = &tok->added[m->idx[k]];
        if (a->pat_len <= n - p && memcmp(tok_str(tok, a->pat_off), s + p, a->pat_len) == 0) {
            *len = a->pat_len;
            return m->idx[k];
        }
    }
    return -1;
}

static size_t char_start_before(const char *s, size_t end)
{
    size_t b = end - 1;
    while (b > 0 && ((unsigned char)s[b] & 0xC0) == 0x80) b--;
    return b;
}

/* Start of the run of white space ending at s[end]. */
static size_t space_before(const char *s, size_t end)
{
    while (end > 0) {
        size_t b = char_start_before(s, end);
        uint32_t cp;
        utf8_next(s + b, end - b, &cp);
        if (!is_white_space(cp)) break;
        end = b;
    }
    return end;
}

/* End of the run of white space starting at s[p]. */
static size_t space_after(const char *s, size_t n, size_t p)
{
    while (p < n) {
        uint32_t cp;
        int k = utf8_next(s + p, n - p, &cp);
        if (!is_white_space(cp)) break;
        p += (size_t)k;
    }
    return p;
}

static int single_word_ok(enc *c, const char *s, size_t n, size_t start, size_t stop)
{
    if (start > 0) {
        size_t b = char_start_before(s, start);
        if (is_word_char(&c->x, c->tok, s + b, start - b)) return 0;
    }
    return stop == n || !is_word_char(&c->x, c->tok, s + stop, n - stop);
}

/* Cuts s into text and added-token segments (`tokenizers`' find_matches):
 * leftmost-longest matches, scanning on after each match; single_word
 * matches need non-word neighbours; lstrip / rstrip take the white space
 * around a match into it. */
static int added_split(enc *c, const matcher *m, const char *s, size_t n, segvec *out)
{
    const qz_tokenizer *tok = c->tok;
    size_t start_offset = 0, p = 0;
    out->n = 0;
    while (p < n) {
        size_t len = 0;
        int32_t k = -1;
        for (; p < n; p++) {
            unsigned b = (unsigned char)s[p];
            if (m->start[b] != m->start[b + 1] && (k = match_at(tok, m, s, n, p, &len)) >= 0) break;
        }
        if (k < 0) break;
        const added_tok *a = &tok->added[k];
        size_t start = p, stop = p + len;
        p = stop;
        if (a->single_word && !single_word_ok(c, s, n, start, stop)) continue;
        if (a->lstrip) {
            size_t ns = space_before(s, start);
            start = ns > start_offset ? ns : start_offset;
        }
        if (a->rstrip) stop = space_after(s, n, stop);
        if (start > start_offset && seg_push(out, start_offset, start, -1)) return oom(c->err);
        if (seg_push(out, start, stop, a->id)) return oom(c->err);
        start_offset = stop;
    }
    if (start_offset < n && seg_push(out, start_offset, n, -1)) return oom(c->err);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Encoding: pre-tokenizers                                                  */
/* ------------------------------------------------------------------------ */

/* Turns the (range, is_match) sequence of a split into pieces by behavior. */
typedef struct {
    plist *out;
    const char *s;
    int at_start, behavior, invert, prev_match, have;
    size_t a, b;
} splitter;

static int split_flush(splitter *sp)
{
    int have = sp->have;
    sp->have = 0;
    if (!have || sp->a == sp->b) return 0;
    return plist_add(sp->out, sp->s + sp->a, sp->b - sp->a, sp->at_start && sp->a == 0);
}

static int split_feed(splitter *sp, size_t a, size_t b, int is_match)
{
    int merge = 0;
    is_match ^= sp->invert;
    switch (sp->behavior) {
    case SPLIT_REMOVED:
        if (is_match) return 0;
        break;
    case SPLIT_ISOLATED: break;
    case SPLIT_MERGED_PREV: merge = is_match && !sp->prev_match; break;
    case SPLIT_MERGED_NEXT: merge = !is_match && sp->prev_match; break;
    case SPLIT_CONTIGUOUS: merge = is_match == sp->prev_match; break;
    }
    sp->prev_match = is_match;
    if (merge && sp->have) {
        sp->b = b;
        return 0;
    }
    if (split_flush(sp)) return -1;
    sp->have = 1, sp->a = a, sp->b = b;
    return 0;
}

/* Splits s on the matches of st's pattern. */
static int split_pattern(enc *c, const step *st, int behavior, const char *s, size_t n, int at_start, plist *out)
{
    splitter sp = {.out = out, .s = s, .at_start = at_start, .behavior = behavior, .invert = st->invert};
    pat_iter it = pat_start(st, s, n);
    size_t prev = 0, ms = 0, me = 0;
    int rc;
    while ((rc = pat_next(&c->x, &it, &ms, &me)) > 0) {
        if ((ms > prev && split_feed(&sp, prev, ms, 0)) || split_feed(&sp, ms, me, 1)) return oom(c->err);
        prev = me;
    }
    if (rc < 0) return rc;
    if ((prev < n && split_feed(&sp, prev, n, 0)) || split_flush(&sp)) return oom(c->err);
    return 0;
}

/* Metaspace: spaces become the replacement, which is prepended as the
 * scheme says unless already there; split keeps each replacement with the
 * text after it. */
static int pretok_metaspace(enc *c, const step *st, const piece *pc, const char *s, plist *out)
{
    buf *t = &c->tmp;
    t->n = 0;
    int prepend = st->scheme == PREPEND_ALWAYS || (st->scheme == PREPEND_FIRST && pc->at_start);
    int has = s[0] == ' ' || (pc->len >= st->s_len && memcmp(s, st->s, st->s_len) == 0);
    if (prepend && !has && buf_put(t, st->s, st->s_len)) return oom(c->err);
    for (size_t i = 0; i < pc->len; i++)
        if (s[i] == ' ' ? buf_put(t, st->s, st->s_len) : buf_put(t, s + i, 1)) return oom(c->err);
    if (!st->split) return plist_add(out, t->p, t->n, pc->at_start) ? oom(c->err) : 0;
    return split_pattern(c, st, SPLIT_MERGED_NEXT, t->p, t->n, pc->at_start, out);
}

/* Adds s[0,n) as a piece with every byte replaced by its GPT-2 character. */
static int byte_map_piece(plist *out, const char *s, size_t n, int at_start)
{
    if (!n) return 0;
    size_t off = out->b.n;
    for (size_t i = 0; i < n; i++)
        if (utf8_put(&out->b, byte_to_char((unsigned char)s[i]))) return -1;
    return plist_push(out, off, at_start);
}

/* ByteLevel: optional leading space, optional GPT-2 split, byte mapping. */
static int pretok_byte_level(enc *c, const step *st, const piece *pc, const char *s, plist *out)
{
    size_t n = pc->len;
    if (st->prefix_space && s[0] != ' ') {
        c->tmp.n = 0;
        if (buf_put(&c->tmp, " ", 1) || buf_put(&c->tmp, s, n)) return oom(c->err);
        s = c->tmp.p, n = c->tmp.n;
    }
    if (!st->re) return byte_map_piece(out, s, n, pc->at_start) ? oom(c->err) : 0;
    pat_iter it = pat_start(st, s, n);
    size_t prev = 0, ms, me;
    int rc;
    while ((rc = pat_next(&c->x, &it, &ms, &me)) > 0) {
        if (byte_map_piece(out, s + prev, ms - prev, pc->at_start && prev == 0) ||
            byte_map_piece(out, s + ms, me - ms, pc->at_start && ms == 0))
            return oom(c->err);
        prev = me;
    }
    if (rc < 0) return rc;
    return byte_map_piece(out, s + prev, n - prev, pc->at_start && prev == 0) ? oom(c->err) : 0;
}

static int pretokenize_step(enc *c, const step *st, const plist *in, plist *out)
{
    out->n = 0, out->b.n = 0;
    for (size_t i = 0; i < in->n; i++) {
        const piece *pc = &in->p[i];
        const char *s = in->b.p + pc->off;
        int rc = st->kind == PRE_SPLIT ? split_pattern(c, st, st->behavior, s, pc->len, pc->at_start, out)
               : st->kind == PRE_METASPACE ? pretok_metaspace(c, st, pc, s, out)
               : pretok_byte_level(c, st, pc, s, out);
        if (rc) return rc;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Encoding: BPE                                                             */
/* ------------------------------------------------------------------------ */

static int cand_less(cand a, cand b) { return a.rank != b.rank ? a.rank < b.rank : a.pos < b.pos; }

static int heap_push(enc *c, int32_t rank, int32_t pos, int32_t id)
{
    void *q = grow_array(c->heap, &c->heap_cap, c->heap_n + 1, sizeof *c->heap);
    if (!q) return -1;
    c->heap = q;
    cand x = {rank, pos, id};
    size_t i = c->heap_n++;
    while (i > 0 && cand_less(x, c->heap[(i - 1) / 2])) {
        c->heap[i] = c->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    c->heap[i] = x;
    return 0;
}

static cand heap_pop(enc *c)
{
    cand top = c->heap[0], x = c->heap[--c->heap_n];
    size_t i = 0, n = c->heap_n;
    for (;;) {
        size_t k = 2 * i + 1;
        if (k >= n) break;
        if (k + 1 < n && cand_less(c->heap[k + 1], c->heap[k])) k++;
        if (!cand_less(c->heap[k], x)) break;
        c->heap[i] = c->heap[k];
        i = k;
    }
    if (n) c->heap[i] = x;
    return top;
}

/* The word's initial symbols (`tokenizers`' merge_word): one per character,
 * else its "<0xAB>" bytes (byte_fallback), else unk (runs fused when
 * fuse_unk), else nothing. */
static int word_symbols(enc *c, const char *w, size_t n, size_t *ns)
{
    const qz_tokenizer *tok = c->tok;
    void *q = grow_array(c->sym, &c->sym_cap, n + 1, sizeof *c->sym);
    if (!q) return oom(c->err);
    c->sym = q;
    size_t k = 0;
    int unk_pending = 0;
    for (size_t i = 0, len; i < n; i += len) {
        len = utf8_len(w + i, n - i);
        int32_t id = map_get(&tok->vocab, tok->strs.p, w + i, len);
        int bytes_ok = tok->byte_fallback;
        for (size_t j = 0; id < 0 && bytes_ok && j < len; j++) bytes_ok = tok->byte_id[(unsigned char)w[i + j]] >= 0;
        if (id >= 0) {
            if (unk_pending) c->sym[k++].id = tok->unk_id, unk_pending = 0;
            c->sym[k++].id = id;
        } else if (bytes_ok) {
            for (size_t j = 0; j < len; j++) c->sym[k++].id = tok->byte_id[(unsigned char)w[i + j]];
        } else if (tok->unk_name) {
            if (tok->unk_id < 0)
                return qz_fail(c->err, QZ_EINPUT, "tokenizer: model.unk_token \"%s\" is not in the vocab",
                               tok->unk_name);
            if (unk_pending && !tok->fuse_unk) c->sym[k++].id = tok->unk_id;
            unk_pending = 1;
        }
    }
    if (unk_pending) c->sym[k++].id = tok->unk_id;
    *ns = k;
    return 0;
}

/* Applies merges lowest rank first (leftmost on ties) until none applies. A
 * popped candidate is stale when its left symbol is gone, has no right
 * neighbour, or the pair there no longer merges into the same token. */
static int bpe_merge(enc *c, size_t ns)
{
    const merge_map *mm = &c->tok->merges;
    sym *s = c->sym;
    const merge_slot *m;
    c->heap_n = 0;
    for (size_t i = 0; i < ns; i++) s[i].prev = (int32_t)i - 1, s[i].next = i + 1 < ns ? (int32_t)i + 1 : -1;
    for (size_t i = 0; i + 1 < ns; i++)
        if ((m = merge_get(mm, s[i].id, s[i + 1].id)) && heap_push(c, m->rank, (int32_t)i, m->id))
            return oom(c->err);
    while (c->heap_n) {
        cand top = heap_pop(c);
        sym *l = &s[top.pos];
        if (l->id < 0 || l->next < 0) continue;
        sym *r = &s[l->next];
        m = merge_get(mm, l->id, r->id);
        if (!m || m->id != top.id) continue;
        l->id = top.id, r->id = -1;
        l->next = r->next;
        if (l->next >= 0) s[l->next].prev = top.pos;
        if (l->prev >= 0 && (m = merge_get(mm, s[l->prev].id, l->id)) && heap_push(c, m->rank, l->prev, m->id))
            return oom(c->err);
        if (l->next >= 0 && (m = merge_get(mm, l->id, s[l->next].id)) && heap_push(c, m->rank, top.pos, m->id))
            return oom(c->err);
    }
    return 0;
}

static int cache_put(enc *c, const char *w, size_t n, size_t first)
{
    if (c->cache.n >= CACHE_ENTRIES_MAX) return 0;
    if (map_grow(&c->cache)) return oom(c->err);
    uint32_t off = (uint32_t)c->cache_keys.n;
    int32_t at = (int32_t)c->cache_ids.n;
    if (buf_put(&c->cache_keys, w, n) || ivec_push(&c->cache_ids, (int32_t)(c->ids.n - first))) return oom(c->err);
    for (size_t i = first; i < c->ids.n; i++)
        if (ivec_push(&c->cache_ids, c->ids.p[i])) return oom(c->err);
    map_set(&c->cache, c->cache_keys.p, off, (uint32_t)n, at);
    return 0;
}

/* Encodes one pre-token with the BPE model. */
static int bpe_word(enc *c, const char *w, size_t n)
{
    const qz_tokenizer *tok = c->tok;
    if (tok->ignore_merges) {
        int32_t id = map_get(&tok->vocab, tok->strs.p, w, n);
        if (id >= 0) return push_id(c, id);
    }
    int32_t at = n <= CACHE_WORD_MAX ? map_get(&c->cache, c->cache_keys.p, w, n) : -1;
    if (at >= 0) {
        for (int32_t i = 1; i <= c->cache_ids.p[at]; i++)
            if (push_id(c, c->cache_ids.p[at + i])) return QZ_EINTERNAL;
        return 0;
    }
    size_t ns = 0, first = c->ids.n;
    int rc = word_symbols(c, w, n, &ns);
    if (!rc) rc = bpe_merge(c, ns);
    for (size_t i = 0; !rc && i < ns; i++)
        if (c->sym[i].id >= 0) rc = push_id(c, c->sym[i].id);
    return rc || n > CACHE_WORD_MAX ? rc : cache_put(c, w, n, first);
}

/* ------------------------------------------------------------------------ */
/* Encoding: the pipeline                                                    */
/* ------------------------------------------------------------------------ */

/* Pre-tokenizes a normalized text piece and BPE-encodes every pre-token. */
static int encode_pieces(enc *c, const char *s, size_t n, int at_start)
{
    const steps *pre = &c->tok->pretoks;
    if (!n) return 0;
    if (!pre->n) return bpe_word(c, s, n);
    plist *in = &c->pa, *out = &c->pb;
    in->n = 0, in->b.n = 0;
    if (plist_add(in, s, n, at_start)) return oom(c->err);
    for (size_t i = 0; i < pre->n; i++) {
        int rc = pretokenize_step(c, &pre->p[i], in, out);
        if (rc) return rc;
        plist *t = in;
        in = out, out = t;
    }
    for (size_t i = 0; i < in->n; i++) {
        int rc = bpe_word(c, in->b.p + in->p[i].off, in->p[i].len);
        if (rc) return rc;
    }
    return 0;
}

/* Normalizes a text segment (between raw added tokens), then splits it on
 * the normalized added tokens. */
static int encode_segment(enc *c, const char *s, size_t n, int at_start)
{
    const qz_tokenizer *tok = c->tok;
    if (tok->normalizers.n) {
        int rc = normalize(&c->x, &tok->normalizers, s, n, &c->norm, &c->norm_tmp, &c->cps);
        if (rc) return rc;
        s = c->norm.p, n = c->norm.n;
    }
    int rc = added_split(c, &tok->norm, s, n, &c->seg_norm);
    for (size_t i = 0; !rc && i < c->seg_norm.n; i++) {
        seg g = c->seg_norm.p[i];
        rc = g.id >= 0 ? push_id(c, g.id) : encode_pieces(c, s + g.a, g.b - g.a, at_start && g.a == 0);
    }
    return rc;
}

static int encode_text(enc *c, const char *s, size_t n)
{
    int rc = added_split(c, &c->tok->raw, s, n, &c->seg_raw);
    for (size_t i = 0; !rc && i < c->seg_raw.n; i++) {
        seg g = c->seg_raw.p[i];
        rc = g.id >= 0 ? push_id(c, g.id) : encode_segment(c, s + g.a, g.b - g.a, g.a == 0);
    }
    return rc;
}

static int push_specials(enc *c, const ivec *v)
{
    for (size_t i = 0; i < v->n; i++)
        if (push_id(c, v->p[i])) return QZ_EINTERNAL;
    return 0;
}

static void enc_free(enc *c)
{
    rx_free(&c->x);
    free(c->ids.p);
    free(c->norm.p), free(c->norm_tmp.p), free(c->tmp.p), free(c->cps.p);
    free(c->seg_raw.p), free(c->seg_norm.p);
    plist_free(&c->pa), plist_free(&c->pb);
    free(c->sym), free(c->heap);
    free(c->cache.slot), free(c->cache_keys.p), free(c->cache_ids.p);
}

int qz_tokenizer_encode(const qz_tokenizer *tok, const char *text, size_t len, int add_special, int32_t **ids,
                        int64_t *n_ids, qz_error *err)
{
    QZ_ASSERT(tok && ids && n_ids && (text || !len));
    *ids = NULL, *n_ids = 0;
    size_t bad_at = utf8_check(text, len);
    if (bad_at != len)
        return qz_fail(err, QZ_EINPUT, "tokenizer: text is not valid UTF-8 at byte offset %zu (byte 0x%02x)",
                       bad_at, (unsigned char)text[bad_at]);
    if (len > INT32_MAX) return qz_fail(err, QZ_EINPUT, "tokenizer: text of %zu bytes is over 2 GiB", len);
    enc c = {.tok = tok, .err = err};
    int rc = rx_init(&c.x, tok, err);
    if (!rc && add_special) rc = push_specials(&c, &tok->prefix);
    if (!rc) rc = encode_text(&c, text, len);
    if (!rc && add_special) rc = push_specials(&c, &tok->suffix);
    if (!rc && !c.ids.p && !(c.ids.p = malloc(sizeof *c.ids.p))) rc = oom(err); /* never NULL on success */
    if (!rc) {
        *ids = c.ids.p, *n_ids = (int64_t)c.ids.n;
        c.ids.p = NULL;
    }
    enc_free(&c);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Decoding                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct {
    const qz_tokenizer *tok;
    qz_error *err;
    rx x;
    plist a, b;
    buf tmp;
} dec;

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* The byte of a "<0xAB>" token (Rust's u8::from_str_radix also takes
 * "<0x+A>"), or -1. */
static int byte_token(const char *s, size_t n)
{
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    int hi = s[3] == '+' ? 0 : hex_digit(s[3]), lo = hex_digit(s[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

/* ByteFallback: runs of byte tokens become their text when it is valid
 * UTF-8, else one U+FFFD per byte. */
static int flush_bytes(buf *pending, plist *out)
{
    if (!pending->n) return 0;
    int rc = 0;
    if (utf8_check(pending->p, pending->n) == pending->n) rc = plist_add(out, pending->p, pending->n, 0);
    else
        for (size_t i = 0; !rc && i < pending->n; i++) rc = plist_add(out, "\xEF\xBF\xBD", 3, 0);
    pending->n = 0;
    return rc;
}

static int dec_byte_fallback(dec *d, const plist *in, plist *out)
{
    d->tmp.n = 0;
    for (size_t i = 0; i < in->n; i++) {
        const char *s = in->b.p + in->p[i].off;
        int b = byte_token(s, in->p[i].len);
        char byte = (char)b;
        if (b >= 0 ? buf_put(&d->tmp, &byte, 1)
                   : flush_bytes(&d->tmp, out) || plist_add(out, s, in->p[i].len, 0))
            return -1;
    }
    return flush_bytes(&d->tmp, out);
}

/* ByteLevel: every token's characters back to bytes (a token with a
 * character outside the map keeps its UTF-8), then lossy UTF-8 of the whole. */
static int dec_byte_level(dec *d, const plist *in, plist *out)
{
    d->tmp.n = 0;
    for (size_t i = 0; i < in->n; i++) {
        const char *s = in->b.p + in->p[i].off;
        size_t n = in->p[i].len, mark = d->tmp.n, j = 0;
        while (j < n) {
            uint32_t cp;
            int k = utf8_next(s + j, n - j, &cp), b = char_to_byte(cp);
            if (b < 0) break;
            char byte = (char)b;
            if (buf_put(&d->tmp, &byte, 1)) return -1;
            j += (size_t)k;
        }
        if (j < n) {
            d->tmp.n = mark;
            if (buf_put(&d->tmp, s, n)) return -1;
        }
    }
    size_t off = out->b.n;
    return utf8_put_lossy(&out->b, d->tmp.p, d->tmp.n) || plist_push(out, off, 0) ? -1 : 0;
}

/* Metaspace: the replacement becomes a space; in the first token it is
 * dropped unless the scheme is "never". */
static int dec_metaspace(const step *st, size_t index, const char *s, size_t n, buf *out)
{
    int drop = index == 0 && st->scheme != PREPEND_NEVER;
    for (size_t i = 0; i < n;) {
        if (n - i >= st->s_len && memcmp(s + i, st->s, st->s_len) == 0) {
            if (!drop && buf_put(out, " ", 1)) return -1;
            i += st->s_len;
        } else {
            size_t k = utf8_len(s + i, n - i);
            if (buf_put(out, s + i, k)) return -1;
            i += k;
        }
    }
    return 0;
}

/* Strip: up to `start` leading and `stop` trailing copies of the content. */
static int dec_strip(const step *st, const char *s, size_t n, buf *out)
{
    size_t a = 0, b = n, c = st->s_len;
    for (int i = 0; i < st->start && b - a >= c && memcmp(s + a, st->s, c) == 0; i++) a += c;
    for (int i = 0; i < st->stop && b - a >= c && memcmp(s + b - c, st->s, c) == 0; i++) b -= c;
    return buf_put(out, s + a, b - a);
}

static int decode_token(dec *d, const step *st, size_t index, const char *s, size_t n, plist *out)
{
    size_t off = out->b.n;
    int rc;
    if (st->kind == DEC_REPLACE) rc = replace_all(&d->x, st, s, n, &out->b);
    else if (st->kind == DEC_METASPACE) rc = dec_metaspace(st, index, s, n, &out->b) ? oom(d->err) : 0;
    else rc = dec_strip(st, s, n, &out->b) ? oom(d->err) : 0;
    return rc ? rc : plist_push(out, off, 0) ? oom(d->err) : 0;
}

static int decode_step(dec *d, const step *st, const plist *in, plist *out)
{
    out->n = 0, out->b.n = 0;
    switch (st->kind) {
    case DEC_BYTE_FALLBACK: return dec_byte_fallback(d, in, out) ? oom(d->err) : 0;
    case DEC_BYTE_LEVEL: return dec_byte_level(d, in, out) ? oom(d->err) : 0;
    case DEC_FUSE: return plist_add(out, in->b.p, in->b.n, 0) ? oom(d->err) : 0;
    default:
        for (size_t i = 0; i < in->n; i++) {
            int rc = decode_token(d, st, i, in->b.p + in->p[i].off, in->p[i].len, out);
            if (rc) return rc;
        }
        return 0;
    }
}

/* Pieces are stored back to back, so Fuse is the buffer itself; joining
 * without a decoder puts spaces between tokens. */
static int decode_join(const qz_tokenizer *tok, const plist *l, char **text, size_t *len)
{
    buf out = {0};
    for (size_t i = 0; i < l->n; i++)
        if ((i && !tok->has_decoder && buf_put(&out, " ", 1)) || buf_put(&out, l->b.p + l->p[i].off, l->p[i].len))
            return free(out.p), -1;
    if (buf_put(&out, "", 1)) return free(out.p), -1;
    *text = out.p, *len = out.n - 1;
    return 0;
}

int qz_tokenizer_decode(const qz_tokenizer *tok, const int32_t *ids, int64_t n, int skip_special, char **text,
                        size_t *len, qz_error *err)
{
    QZ_ASSERT(tok && text && len && (ids || n <= 0));
    *text = NULL, *len = 0;
    dec d = {.tok = tok, .err = err};
    int rc = rx_init(&d.x, tok, err);
    plist *in = &d.a, *out = &d.b;
    for (int64_t i = 0; !rc && i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= tok->vocab_size || tok->id_len[id] == MISSING || (skip_special && tok->id_special[id]))
            continue;
        if (plist_add(in, tok_str(tok, tok->id_off[id]), tok->id_len[id], 0)) rc = oom(err);
    }
    for (size_t i = 0; !rc && i < tok->decoders.n; i++) {
        rc = decode_step(&d, &tok->decoders.p[i], in, out);
        plist *t = in;
        in = out, out = t;
    }
    if (!rc && decode_join(tok, in, text, len)) rc = oom(err);
    rx_free(&d.x);
    plist_free(&d.a), plist_free(&d.b);
    free(d.tmp.p);
    return rc;
}
