/* export_gguf.c - GGUF output: the per-tensor type plan (llama-quantize's
 * fallbacks and its Q4_K_M / Q5_K_M rules, src/llama-quant.cpp) and the
 * writer driven by the export sink (see export_gguf.h). */
#include "export_gguf.h"

#include "ggml_grid.h"
#include "gguf_model.h"
#include "gguf_tokenizer.h"
#include "gguf_write.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <assert.h>
#include <pcre2.h>
#include <string.h>
#include <stddef.h>
#include <strings.h>
#include <unistd.h>

/* ------------------------------------------------------------------- plan */

/* llama-quant.cpp use_more_bits: the first and last eighth of the layers
 * and every third one between. */
static int use_more_bits(int64_t i, int64_t n)
{
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

static int add_rule(qz_gguf_plan *p, const char *re, size_t re_len, const char *type, qz_error *err)
{
    int t = qz_ggml_type_from_name(type);
    if (t < 0 || !qz_ggml_writable(t))
        return qz_fail(err, QZ_EINPUT, "--gguf-type-map: type '%s' is not one qz writes (F32 F16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q4_K Q5_K Q6_K)", type);
    if (p->n_rules == QZ_GGUF_MAX_RULES) return qz_fail(err, QZ_EINPUT, "--gguf-type-map: more than %d rules", QZ_GGUF_MAX_RULES);
    int code;
    PCRE2_SIZE at;
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)re, re_len, 0, &code, &at, NULL);
    if (!c) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        return qz_fail(err, QZ_EINPUT, "--gguf-type-map: regex '%.*s': %s at offset %zu", (int)re_len, re, (const char *)msg, (size_t)at);
    }
    p->re[p->n_rules] = c;
    p->rule_type[p->n_rules++] = t;
    return QZ_OK;
}

/* "regex=TYPE,regex=TYPE" */
static int parse_map(qz_gguf_plan *p, const char *map, qz_error *err)
{
    int rc = QZ_OK;
    char *copy = strdup(map), *save = NULL;
    if (!copy) return qz_fail(err, QZ_EINTERNAL, "out of memory");
    for (char *item = strtok_r(copy, ",", &save); item && rc == QZ_OK; item = strtok_r(NULL, ",", &save)) {
        char *eq = strrchr(item, '=');
        if (!eq || eq == item || !eq[1]) rc = qz_fail(err, QZ_EINPUT, "--gguf-type-map: '%s' is not regex=TYPE", item);
        else rc = add_rule(p, item, (size_t)(eq - item), eq + 1, err);
    }
    free(copy);
    return rc;
}

/* The Q4_K_M / Q5_K_M rules for a model of n layers. */
static int preset_rules(qz_gguf_plan *p, int64_t n, int tied, qz_error *err)
{
    char re[8192];
    int len = snprintf(re, sizeof re, "^blk\\.(");
    for (int64_t i = 0, first = 1; i < n; i++)
        if (use_more_bits(i, n) && len < (int)sizeof re - 64) {
            len += snprintf(re + len, sizeof re - (size_t)len, "%s%lld", first ? "" : "|", (long long)i);
            first = 0;
        }
    len += snprintf(re + len, sizeof re - (size_t)len, ")\\.(attn_v|ffn_down)\\.weight$");
    const char *out = tied ? "^token_embd\\.weight$" : "^output\\.weight$";
    int rc = add_rule(p, out, strlen(out), "Q6_K", err);
    return rc ? rc : add_rule(p, re, (size_t)len, "Q6_K", err);
}

static int fallback(int t, int64_t ne0)
{
    while (ne0 % qz_ggml_type_traits(t)->block_size)
        t = t == QZ_GGML_Q4_K ? QZ_GGML_Q5_0 : t == QZ_GGML_Q5_K ? QZ_GGML_Q5_1 : t == QZ_GGML_Q6_K ? QZ_GGML_Q8_0 : QZ_GGML_F16;
    return t;
}

int qz_gguf_plan_type(const qz_gguf_plan *p, const char *name, int n_dims, int64_t ne0, int *wanted)
{
    int t = strncmp(name, "blk.", 4) ? QZ_GGML_F16 : p->base_type;
    if (n_dims == 1) t = QZ_GGML_F32;
    pcre2_match_data *md = n_dims == 1 ? NULL : pcre2_match_data_create(4, NULL);
    for (int i = 0; md && i < p->n_rules; i++)
        if (pcre2_match(p->re[i], (PCRE2_SPTR)name, strlen(name), 0, 0, md, NULL) >= 0) {
            t = p->rule_type[i];
            break;
        }
    pcre2_match_data_free(md);
    if (wanted) *wanted = t;
    return fallback(t, ne0);
}

static int resolve_linears(qz_gguf_plan *p, const qz_model_config *cfg, qz_error *err)
{
    p->n_layers = cfg->n_layers;
    p->lin = malloc((size_t)(cfg->n_layers * QZ_LIN_COUNT));
    p->lin_wanted = malloc((size_t)(cfg->n_layers * QZ_LIN_COUNT));
    if (!p->lin || !p->lin_wanted) return qz_fail(err, QZ_EINTERNAL, "out of memory");
    for (int64_t l = 0; l < cfg->n_layers; l++)
        for (int id = 0; id < QZ_LIN_COUNT; id++) {
            char hf[256], name[256];
            int perm, wanted;
            snprintf(hf, sizeof hf, "model.layers.%lld.%s.weight", (long long)l, qz_linear_name((qz_linear_id)id));
            qz_gguf_name_from_hf(hf, name, sizeof name, &perm);
            p->lin[l * QZ_LIN_COUNT + id] = (int8_t)qz_gguf_plan_type(p, name, 2, qz_linear_in(cfg, (qz_linear_id)id), &wanted);
            p->lin_wanted[l * QZ_LIN_COUNT + id] = (int8_t)wanted;
        }
    return QZ_OK;
}

int qz_gguf_plan_init(qz_gguf_plan *p, const qz_model_config *cfg, const char *type, const char *map, qz_error *err)
{
    memset(p, 0, sizeof *p);
    if (cfg->arch != QZ_ARCH_LLAMA || cfg->qkv_bias || cfg->mlp_bias)
        return qz_fail(err, QZ_EINPUT, "--format gguf: only LLaMA-architecture models without biases are written as GGUF");
    int preset = !strcasecmp(type, "Q4_K_M") ? QZ_GGML_Q4_K : !strcasecmp(type, "Q5_K_M") ? QZ_GGML_Q5_K : -1;
    p->base_type = preset >= 0 ? preset : qz_ggml_type_from_name(type);
    if (p->base_type < 0 || !qz_ggml_writable(p->base_type))
        return qz_fail(err, QZ_EINPUT, "--gguf-type '%s': expected Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q4_K Q5_K Q6_K F16 F32 Q4_K_M or Q5_K_M", type);
    p->file_type = preset == QZ_GGML_Q4_K ? 15 : preset == QZ_GGML_Q5_K ? 17 : qz_ggml_type_traits(p->base_type)->file_type;
    int rc = map ? parse_map(p, map, err) : QZ_OK;
    if (rc == QZ_OK && preset >= 0) rc = preset_rules(p, cfg->n_layers, cfg->tie_embeddings, err);
    if (rc == QZ_OK) rc = resolve_linears(p, cfg, err);
    if (rc) qz_gguf_plan_free(p);
    return rc;
}

void qz_gguf_plan_free(qz_gguf_plan *p)
{
    for (int i = 0; i < p->n_rules; i++) pcre2_code_free(p->re[i]);
    free(p->lin);
    free(p->lin_wanted);
    memset(p, 0, sizeof *p);
}

/* ----------------------------------------------------------------- writer */

struct qz_gguf_out {
    const qz_model *m;
    const qz_gguf_plan *plan;
    qz_gguf_writer *w;
    unsigned char *buf; /* one tensor's bytes, sized for the largest */
    size_t buf_cap;
};

/* Keys qz sets itself; the rest of a GGUF input's metadata is copied. */
static int own_key(const qz_gguf_str *k)
{
    static const char *own[] = {"general.alignment", "general.file_type", "general.quantization_version"};
    for (size_t i = 0; i < sizeof own / sizeof *own; i++)
        if (k->len == strlen(own[i]) && !memcmp(k->s, own[i], k->len)) return 1;
    return 0;
}

/* dir/name parsed as JSON into *out; a missing file leaves *out NULL
 * unless required. */
static int load_json(const char *dir, const char *name, int required, cJSON **out, qz_error *err)
{
    char path[4096], *text = NULL;
    size_t len;
    *out = NULL;
    int rc = qz_path_join(path, sizeof path, dir, name, err);
    if (rc == QZ_OK && !required && access(path, F_OK)) return QZ_OK;
    if (rc == QZ_OK) rc = qz_read_file(path, &text, &len, err);
    if (rc == QZ_OK && !(*out = cJSON_ParseWithLength(text, len))) rc = qz_fail(err, QZ_EINPUT, "%s: not valid JSON", path);
    free(text);
    return rc;
}

/* A Hugging Face input: the llama.* keys from its config (the keys
 * convert_hf_to_gguf.py writes for LlamaForCausalLM) and the tokenizer
 * from tokenizer.json + tokenizer_config.json. */
static int hf_metadata(qz_gguf_out *g, qz_error *err)
{
    const qz_model_config *c = &g->m->cfg;
    const char *dir = g->m->hf->dir, *base = strrchr(dir, '/');
    base = base && base[1] ? base + 1 : dir;
    qz_gguf_writer *w = g->w;
    int rc = qz_gguf_writer_kv_str(w, "general.architecture", "llama", 5, err);
    if (!rc) rc = qz_gguf_writer_kv_str(w, "general.name", base, strlen(base), err);
    static const struct {
        const char *key;
        size_t off;
    } u32s[] = {{"llama.context_length", offsetof(qz_model_config, max_position)}, {"llama.embedding_length", offsetof(qz_model_config, hidden)},
                {"llama.block_count", offsetof(qz_model_config, n_layers)}, {"llama.feed_forward_length", offsetof(qz_model_config, intermediate)},
                {"llama.attention.head_count", offsetof(qz_model_config, n_heads)},
                {"llama.attention.head_count_kv", offsetof(qz_model_config, n_kv_heads)},
                {"llama.rope.dimension_count", offsetof(qz_model_config, head_dim)}, {"llama.vocab_size", offsetof(qz_model_config, vocab)}};
    for (size_t i = 0; i < sizeof u32s / sizeof *u32s && !rc; i++)
        rc = qz_gguf_writer_kv_u32(w, u32s[i].key, (uint32_t) * (const int64_t *)((const char *)c + u32s[i].off), err);
    if (!rc) rc = qz_gguf_writer_kv_f32(w, "llama.attention.layer_norm_rms_epsilon", (float)c->rms_eps, err);
    if (!rc) rc = qz_gguf_writer_kv_f32(w, "llama.rope.freq_base", (float)c->rope_theta, err);
    cJSON *tj = NULL, *tc = NULL;
    if (!rc) rc = load_json(dir, "tokenizer.json", 1, &tj, err);
    if (!rc) rc = load_json(dir, "tokenizer_config.json", 0, &tc, err);
    if (!rc) rc = qz_gguf_tokenizer_to_kv(w, tj, tc, dir, err);
    cJSON_Delete(tj), cJSON_Delete(tc);
    return rc;
}

static int write_metadata(qz_gguf_out *g, qz_error *err)
{
    const qz_gguf *src = g->m->hf->gguf;
    if (g->m->cfg.rope_scaling.llama3)
        return qz_fail(err, QZ_EINPUT, "%s: rope scaling is not written to GGUF", g->m->hf->dir);
    int rc = src ? QZ_OK : hf_metadata(g, err);
    for (int64_t i = 0; src && i < qz_gguf_n_kv(src) && rc == QZ_OK; i++) {
        const qz_gguf_kv *kv = qz_gguf_kv_at(src, i);
        if (!own_key(&kv->key)) rc = qz_gguf_writer_kv_copy(g->w, kv, err);
    }
    if (rc == QZ_OK) rc = qz_gguf_writer_kv_u32(g->w, "general.quantization_version", 2, err);
    if (rc == QZ_OK) rc = qz_gguf_writer_kv_u32(g->w, "general.file_type", (uint32_t)g->plan->file_type, err);
    return rc;
}

/* Declares one tensor of HF shape (rows, cols) (rows 0: 1-D of cols). */
static int declare(qz_gguf_out *g, const char *hf, int64_t rows, int64_t cols, qz_error *err)
{
    char name[256];
    int perm;
    if (qz_gguf_name_from_hf(hf, name, sizeof name, &perm)) return qz_fail(err, QZ_EINTERNAL, "no GGUF name for %s", hf);
    int n_dims = rows ? 2 : 1, t = qz_gguf_plan_type(g->plan, name, n_dims, cols, NULL);
    int64_t ne[2] = {cols, rows};
    size_t bytes = (size_t)(rows ? rows : 1) * qz_ggml_row_size(t, cols);
    if (bytes > g->buf_cap) g->buf_cap = bytes;
    return qz_gguf_writer_tensor(g->w, name, t, n_dims, ne, err);
}

static int declare_all(qz_gguf_out *g, qz_error *err)
{
    const qz_model_config *c = &g->m->cfg;
    int rc = declare(g, "model.embed_tokens.weight", c->vocab, c->hidden, err);
    for (int64_t l = 0; l < c->n_layers && rc == QZ_OK; l++) {
        static const int order[] = {-1, QZ_LIN_Q, QZ_LIN_K, QZ_LIN_V, QZ_LIN_O, -2, QZ_LIN_GATE, QZ_LIN_UP, QZ_LIN_DOWN};
        for (size_t i = 0; i < sizeof order / sizeof *order && rc == QZ_OK; i++) {
            char hf[256];
            qz_linear_id id = (qz_linear_id)order[i];
            if (order[i] < 0)
                snprintf(hf, sizeof hf, "model.layers.%lld.%s.weight", (long long)l, order[i] == -1 ? "input_layernorm" : "post_attention_layernorm");
            else
                snprintf(hf, sizeof hf, "model.layers.%lld.%s.weight", (long long)l, qz_linear_name(id));
            rc = order[i] < 0 ? declare(g, hf, 0, c->hidden, err) : declare(g, hf, qz_linear_out(c, id), qz_linear_in(c, id), err);
        }
    }
    if (rc == QZ_OK) rc = declare(g, "model.norm.weight", 0, c->hidden, err);
    if (rc == QZ_OK && !c->tie_embeddings) rc = declare(g, "lm_head.weight", c->vocab, c->hidden, err);
    return rc;
}

int qz_gguf_out_open(qz_gguf_out **out, const qz_model *m, const qz_gguf_plan *plan, const char *path, qz_error *err)
{
    *out = NULL;
    qz_gguf_out *g = calloc(1, sizeof *g);
    if (!g) return qz_fail(err, QZ_EINTERNAL, "out of memory");
    g->m = m, g->plan = plan;
    int rc = qz_gguf_writer_open(&g->w, path, 1, err);
    if (rc == QZ_OK) rc = write_metadata(g, err);
    if (rc == QZ_OK) rc = declare_all(g, err);
    if (rc == QZ_OK && !(g->buf = malloc(g->buf_cap))) rc = qz_fail(err, QZ_EINTERNAL, "out of memory");
    if (rc == QZ_OK) rc = qz_gguf_writer_begin(g->w, err);
    if (rc) {
        qz_gguf_out_free(g);
        return rc;
    }
    *out = g;
    return QZ_OK;
}

void qz_gguf_out_free(qz_gguf_out *g)
{
    if (!g) return;
    qz_gguf_writer_free(g->w);
    free(g->buf);
    free(g);
}

/* GGUF row h*hd + 2j + i <- HF row h*hd + i*hd/2 + j (convert_hf_to_gguf's
 * LlamaModel.permute), rows of row_bytes bytes, from src into dst. */
static void permute_rows(const unsigned char *src, unsigned char *dst, int64_t rows, size_t row_bytes, int64_t heads)
{
    int64_t hd = rows / heads, half = hd / 2;
    for (int64_t h = 0; h < heads; h++)
        for (int64_t i = 0; i < 2; i++)
            for (int64_t j = 0; j < half; j++)
                memcpy(dst + (size_t)(h * hd + 2 * j + i) * row_bytes, src + (size_t)(h * hd + i * half + j) * row_bytes, row_bytes);
}

/* FP rows (rows, cols) into HF tensor hf's GGUF type, by round to nearest. */
static int put_fp(qz_gguf_out *g, const char *hf, const float *x, int64_t rows, int64_t cols, const void *packed, qz_error *err)
{
    char name[256];
    int perm;
    qz_gguf_name_from_hf(hf, name, sizeof name, &perm);
    int t = qz_gguf_plan_type(g->plan, name, rows ? 2 : 1, cols, NULL);
    size_t rb = qz_ggml_row_size(t, cols);
    int64_t n = rows ? rows : 1;
    unsigned char *dst = g->buf;
    const unsigned char *bytes = packed;
    int rc = QZ_OK;
    if (!packed) {
        for (int64_t r = 0; r < n && rc == QZ_OK; r++) rc = qz_ggml_rtn_row(t, x + r * cols, NULL, cols, g->buf + (size_t)r * rb, err);
        bytes = g->buf;
    }
    if (rc) return rc;
    if (perm) { /* permuted into the scratch, or from it into place after the copy */
        int64_t heads = perm == 1 ? g->m->cfg.n_heads : g->m->cfg.n_kv_heads;
        unsigned char *tmp = malloc((size_t)n * rb);
        if (!tmp) return qz_fail(err, QZ_EINTERNAL, "out of memory");
        permute_rows(bytes, tmp, n, rb, heads);
        memcpy(dst, tmp, (size_t)n * rb);
        free(tmp);
        bytes = dst;
    }
    return qz_gguf_writer_data(g->w, name, bytes, (size_t)n * rb, err);
}

int qz_gguf_out_layer(qz_gguf_out *g, const qz_layer *L, const qz_quant_result *const q[QZ_LIN_COUNT], qz_error *err)
{
    char hf[256];
    const int64_t hidden = g->m->cfg.hidden;
    snprintf(hf, sizeof hf, "model.layers.%lld.input_layernorm.weight", (long long)L->index);
    int rc = put_fp(g, hf, L->attn_norm, 0, hidden, NULL, err);
    snprintf(hf, sizeof hf, "model.layers.%lld.post_attention_layernorm.weight", (long long)L->index);
    if (rc == QZ_OK) rc = put_fp(g, hf, L->mlp_norm, 0, hidden, NULL, err);
    for (int id = 0; id < QZ_LIN_COUNT && rc == QZ_OK; id++) {
        const qz_linear *l = &L->lin[id];
        qz_quant_result *r = (qz_quant_result *)q[id];
        snprintf(hf, sizeof hf, "model.layers.%lld.%s.weight", (long long)L->index, qz_linear_name((qz_linear_id)id));
        if (r && r->blocks) {
            assert(r->ggml_type == g->plan->lin[L->index * QZ_LIN_COUNT + id]);
            qz_ggml_result_pack(r);
        }
        rc = put_fp(g, hf, l->w, l->out, l->in, r && r->blocks ? r->blocks : NULL, err);
    }
    return rc;
}

int qz_gguf_out_finish(qz_gguf_out *g, qz_error *err)
{
    const qz_model *m = g->m;
    int rc = put_fp(g, "model.embed_tokens.weight", m->embed, m->cfg.vocab, m->cfg.hidden, NULL, err);
    if (rc == QZ_OK) rc = put_fp(g, "model.norm.weight", m->final_norm, 0, m->cfg.hidden, NULL, err);
    if (rc == QZ_OK && !m->cfg.tie_embeddings) rc = put_fp(g, "lm_head.weight", m->lm_head, m->cfg.vocab, m->cfg.hidden, NULL, err);
    return rc ? rc : qz_gguf_writer_finish(g->w, err);
}
