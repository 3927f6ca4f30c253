/* gguf_model.c - a LLaMA GGUF as a Hugging Face model: config from the
 * llama.* keys (llama.cpp's src/llama-arch.cpp key names), llama.cpp's
 * tensor names mapped back to transformers' LlamaForCausalLM names, and the
 * inverse of convert_hf_to_gguf.py's LlamaModel.permute on q/k. Leaves out:
 * other architectures, rope scaling (rope_freqs), MoE. See gguf_model.h. */
#include "gguf_model.h"

#include "gguf_quants.h"

#include <math.h>
#include <string.h>

struct qz_gguf_entry {
    qz_st_tensor t;              /* first: a qz_st_tensor * is its entry */
    const qz_gguf_tensor *src;
    int64_t heads;               /* un-permute q/k rows with this many heads; 0: none */
};
typedef struct qz_gguf_entry qz_gguf_entry;

/* ------------------------------------------------------------------ config */

/* Integer key into the config object (absent and not required: skipped). */
static int add_int(const qz_gguf *g, cJSON *j, const char *key, const char *field, int required, qz_error *err)
{
    int64_t v = INT64_MIN;
    int rc = qz_gguf_get_int(g, key, required, &v, err);
    if (rc == QZ_OK && v != INT64_MIN && !cJSON_AddNumberToObject(j, field, (double)v))
        rc = qz_fail(err, QZ_EINTERNAL, "out of memory");
    return rc;
}

/* The shortest decimal that reads back as the same float32 (1e-05, not
 * 9.99999974737875e-06), so the synthesized config says what its author
 * wrote and float code sees the identical value. */
static double shortest_float32(double v)
{
    for (int digits = 1; digits < 9; digits++) {
        char buf[32];
        snprintf(buf, sizeof buf, "%.*g", digits, v);
        double d = strtod(buf, NULL);
        if ((float)d == (float)v) return d;
    }
    return v;
}

static int add_float(const qz_gguf *g, cJSON *j, const char *key, const char *field, int required, qz_error *err)
{
    double v = NAN;
    int rc = qz_gguf_get_float(g, key, required, &v, err);
    const qz_gguf_kv *kv = qz_gguf_find_kv(g, key);
    if (rc == QZ_OK && kv && kv->type == QZ_GGUF_FLOAT32) v = shortest_float32(v);
    if (rc == QZ_OK && !isnan(v) && !cJSON_AddNumberToObject(j, field, v)) rc = qz_fail(err, QZ_EINTERNAL, "out of memory");
    return rc;
}

/* general.architecture == llama, no rope scaling, no experts. */
static int check_arch(const qz_gguf *g, qz_error *err)
{
    const char *path = qz_gguf_path(g);
    qz_gguf_str a = {"", 0}, rs = {"none", 4};
    int64_t experts = 0;
    int rc = qz_gguf_get_string(g, "general.architecture", 1, &a, err);
    if (rc == QZ_OK && (a.len != 5 || memcmp(a.s, "llama", 5)))
        return qz_fail(err, QZ_EINPUT, "%s: general.architecture '%.*s' is not supported (supported: llama)", path, (int)a.len, a.s);
    if (rc == QZ_OK) rc = qz_gguf_get_string(g, "llama.rope.scaling.type", 0, &rs, err);
    if (rc == QZ_OK && !(rs.len == 4 && !memcmp(rs.s, "none", 4)))
        return qz_fail(err, QZ_EINPUT, "%s: llama.rope.scaling.type '%.*s' is not supported (supported: none)", path, (int)rs.len, rs.s);
    if (rc == QZ_OK) rc = qz_gguf_get_int(g, "llama.expert_count", 0, &experts, err);
    if (rc == QZ_OK && experts > 0)
        return qz_fail(err, QZ_EINPUT, "%s: llama.expert_count %lld: mixture-of-experts models are not supported", path, (long long)experts);
    return rc;
}

/* vocab_size: llama.vocab_size, else the token list, else token_embd's rows. */
static int add_vocab(const qz_gguf *g, cJSON *j, qz_error *err)
{
    int64_t v = -1;
    const qz_gguf_kv *toks = NULL;
    int rc = qz_gguf_get_int(g, "llama.vocab_size", 0, &v, err);
    if (rc == QZ_OK && v < 0) rc = qz_gguf_get_array(g, "tokenizer.ggml.tokens", QZ_GGUF_STRING, 0, &toks, err);
    if (rc) return rc;
    const qz_gguf_tensor *emb = qz_gguf_find_tensor(g, "token_embd.weight");
    if (v < 0) v = toks ? (int64_t)toks->count : emb ? emb->ne[1] : -1;
    if (v < 0) return qz_fail(err, QZ_EINPUT, "%s: no llama.vocab_size, tokenizer.ggml.tokens or token_embd.weight", qz_gguf_path(g));
    return cJSON_AddNumberToObject(j, "vocab_size", (double)v) ? QZ_OK : qz_fail(err, QZ_EINTERNAL, "out of memory");
}

/* head_dim: llama.attention.key_length, else hidden / heads; the rotary
 * dimension must be all of it. */
static int add_head_dim(const qz_gguf *g, cJSON *j, qz_error *err)
{
    int64_t hidden = (int64_t)cJSON_GetObjectItem(j, "hidden_size")->valuedouble;
    int64_t heads = (int64_t)cJSON_GetObjectItem(j, "num_attention_heads")->valuedouble;
    int64_t hd = heads > 0 ? hidden / heads : 0, rot = -1;
    int rc = qz_gguf_get_int(g, "llama.attention.key_length", 0, &hd, err);
    if (rc == QZ_OK) rc = qz_gguf_get_int(g, "llama.rope.dimension_count", 0, &rot, err);
    if (rc == QZ_OK && rot >= 0 && rot != hd)
        return qz_fail(err, QZ_EINPUT, "%s: llama.rope.dimension_count %lld differs from the head dimension %lld (partial rotary is not supported)",
                       qz_gguf_path(g), (long long)rot, (long long)hd);
    if (rc == QZ_OK && !cJSON_AddNumberToObject(j, "head_dim", (double)hd)) rc = qz_fail(err, QZ_EINTERNAL, "out of memory");
    return rc;
}

static int synth_config(const qz_gguf *g, cJSON *j, qz_error *err)
{
    static const struct {
        const char *key, *field;
        int required;
    } ints[] = {{"llama.embedding_length", "hidden_size", 1},        {"llama.feed_forward_length", "intermediate_size", 1},
                {"llama.block_count", "num_hidden_layers", 1},       {"llama.attention.head_count", "num_attention_heads", 1},
                {"llama.attention.head_count_kv", "num_key_value_heads", 0}, {"llama.context_length", "max_position_embeddings", 1},
                {"tokenizer.ggml.bos_token_id", "bos_token_id", 0},  {"tokenizer.ggml.eos_token_id", "eos_token_id", 0}};
    int rc = check_arch(g, err);
    cJSON *archs = cJSON_AddArrayToObject(j, "architectures");
    if (rc == QZ_OK && !(archs && cJSON_AddItemToArray(archs, cJSON_CreateString("LlamaForCausalLM")) &&
                         cJSON_AddStringToObject(j, "model_type", "llama") && cJSON_AddStringToObject(j, "hidden_act", "silu") &&
                         cJSON_AddStringToObject(j, "torch_dtype", "float32")))
        rc = qz_fail(err, QZ_EINTERNAL, "out of memory");
    for (size_t i = 0; i < sizeof ints / sizeof *ints && rc == QZ_OK; i++)
        rc = add_int(g, j, ints[i].key, ints[i].field, ints[i].required, err);
    if (rc == QZ_OK) rc = add_float(g, j, "llama.attention.layer_norm_rms_epsilon", "rms_norm_eps", 1, err);
    if (rc == QZ_OK) rc = add_float(g, j, "llama.rope.freq_base", "rope_theta", 0, err);
    if (rc == QZ_OK) rc = add_vocab(g, j, err);
    if (rc == QZ_OK) rc = add_head_dim(g, j, err);
    if (rc == QZ_OK && !cJSON_AddBoolToObject(j, "tie_word_embeddings", qz_gguf_find_tensor(g, "output.weight") == NULL))
        rc = qz_fail(err, QZ_EINTERNAL, "out of memory");
    return rc;
}

/* ------------------------------------------------------------------- names */

static const struct {
    const char *gguf, *hf;
    int permute; /* 1: q (n_heads), 2: k (n_kv_heads) */
} layer_names[] = {
    {"attn_q", "self_attn.q_proj", 1},     {"attn_k", "self_attn.k_proj", 2},    {"attn_v", "self_attn.v_proj", 0},
    {"attn_output", "self_attn.o_proj", 0}, {"attn_norm", "input_layernorm", 0},  {"ffn_norm", "post_attention_layernorm", 0},
    {"ffn_gate", "mlp.gate_proj", 0},       {"ffn_up", "mlp.up_proj", 0},         {"ffn_down", "mlp.down_proj", 0},
};
static const struct {
    const char *gguf, *hf;
} global_names[] = {{"token_embd", "model.embed_tokens"}, {"output_norm", "model.norm"}, {"output", "lm_head"}};

/* HF name of GGUF tensor name (NULL when unknown), with its un-permute head count. */
static char *hf_name(const char *name, const qz_model_config *c, int64_t *heads)
{
    const char *dot = strrchr(name, '.'), *suffix = dot ? dot + 1 : "";
    char out[256];
    size_t stem = dot ? (size_t)(dot - name) : 0;
    *heads = 0;
    for (size_t i = 0; i < sizeof global_names / sizeof *global_names; i++)
        if (strlen(global_names[i].gguf) == stem && !strncmp(name, global_names[i].gguf, stem)) {
            snprintf(out, sizeof out, "%s.%s", global_names[i].hf, suffix);
            return strdup(out);
        }
    long long layer;
    int at = 0;
    if (sscanf(name, "blk.%lld.%n", &layer, &at) != 1 || at == 0 || layer < 0 || layer >= c->n_layers) return NULL;
    for (size_t i = 0; i < sizeof layer_names / sizeof *layer_names; i++)
        if (strlen(layer_names[i].gguf) == stem - (size_t)at && !strncmp(name + at, layer_names[i].gguf, stem - (size_t)at)) {
            *heads = layer_names[i].permute == 1 ? c->n_heads : layer_names[i].permute == 2 ? c->n_kv_heads : 0;
            snprintf(out, sizeof out, "model.layers.%lld.%s.%s", layer, layer_names[i].hf, suffix);
            return strdup(out);
        }
    return NULL;
}

int qz_gguf_name_from_hf(const char *hf, char *out, size_t cap, int *permute)
{
    *permute = 0;
    const char *dot = strrchr(hf, '.'), *suffix = dot ? dot + 1 : "";
    size_t stem = dot ? (size_t)(dot - hf) : 0;
    for (size_t i = 0; i < sizeof global_names / sizeof *global_names; i++)
        if (strlen(global_names[i].hf) == stem && !strncmp(hf, global_names[i].hf, stem))
            return snprintf(out, cap, "%s.%s", global_names[i].gguf, suffix) < (int)cap ? 0 : -1;
    long long layer;
    int at = 0;
    if (sscanf(hf, "model.layers.%lld.%n", &layer, &at) != 1 || at == 0) return -1;
    for (size_t i = 0; i < sizeof layer_names / sizeof *layer_names; i++)
        if (strlen(layer_names[i].hf) == stem - (size_t)at && !strncmp(hf + at, layer_names[i].hf, stem - (size_t)at)) {
            *permute = layer_names[i].permute;
            return snprintf(out, cap, "blk.%lld.%s.%s", layer, layer_names[i].gguf, suffix) < (int)cap ? 0 : -1;
        }
    return -1;
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const qz_gguf_entry *)a)->t.name, ((const qz_gguf_entry *)b)->t.name);
}

static int map_tensor(qz_hf_model *m, const qz_gguf_tensor *src, qz_gguf_entry *e, qz_error *err)
{
    e->src = src;
    e->t.name = hf_name(src->name, &m->cfg, &e->heads);
    if (!e->t.name)
        return qz_fail(err, QZ_EINPUT, "%s: tensor '%s' has no Hugging Face LLaMA counterpart (known: token_embd, output_norm, output, "
                       "blk.N.{attn_q,attn_k,attn_v,attn_output,attn_norm,ffn_norm,ffn_gate,ffn_up,ffn_down})", m->dir, src->name);
    e->t.dtype = QZ_DTYPE_F32;
    e->t.ndim = src->n_dims;
    for (int d = 0; d < src->n_dims; d++) e->t.shape[d] = src->ne[src->n_dims - 1 - d];
    e->t.numel = src->numel;
    e->t.nbytes = (size_t)src->numel * sizeof(float);
    e->t.crc_state = 1;
    int64_t rows = src->n_dims == 1 ? src->ne[0] : src->ne[1];
    if (e->heads && (src->n_dims > 2 || rows % (2 * e->heads)))
        return qz_fail(err, QZ_EINPUT, "%s: tensor '%s': %lld rows cannot be split into %lld heads of even size", m->dir, src->name,
                       (long long)rows, (long long)e->heads);
    return QZ_OK;
}

static int map_tensors(qz_hf_model *m, qz_error *err)
{
    int64_t n = qz_gguf_n_tensors(m->gguf);
    m->gguf_entries = qz_calloc_array((size_t)n + 1, sizeof *m->gguf_entries);
    if (!m->gguf_entries) return qz_fail(err, QZ_EINTERNAL, "out of memory");
    int rc = QZ_OK;
    for (int64_t i = 0; i < n && rc == QZ_OK; i++, m->n_gguf++) rc = map_tensor(m, qz_gguf_tensor_at(m->gguf, i), &m->gguf_entries[i], err);
    if (rc) return rc;
    qsort(m->gguf_entries, (size_t)n, sizeof *m->gguf_entries, cmp_entry);
    return QZ_OK;
}

int qz_gguf_model_open(qz_hf_model *m, const char *path, qz_error *err)
{
    int rc = qz_gguf_open(&m->gguf, path, err);
    if (rc == QZ_OK) rc = (m->config_json = cJSON_CreateObject()) ? QZ_OK : qz_fail(err, QZ_EINTERNAL, "out of memory");
    if (rc == QZ_OK) rc = synth_config(m->gguf, m->config_json, err);
    if (rc == QZ_OK) rc = qz_model_config_parse(m->config_json, path, &m->cfg, err);
    return rc == QZ_OK ? map_tensors(m, err) : rc;
}

void qz_gguf_model_free(qz_hf_model *m)
{
    for (int64_t i = 0; i < m->n_gguf; i++) {
        qz_gguf_model_release(&m->gguf_entries[i].t);
        free(m->gguf_entries[i].t.name);
    }
    free(m->gguf_entries);
    qz_gguf_close(m->gguf);
}

/* ----------------------------------------------------------------- tensors */

qz_st_tensor *qz_gguf_model_find(const qz_hf_model *m, const char *name)
{
    qz_gguf_entry key = {.t.name = (char *)name};
    qz_gguf_entry *e = bsearch(&key, m->gguf_entries, (size_t)m->n_gguf, sizeof key, cmp_entry);
    return e ? &e->t : NULL;
}

qz_st_tensor *qz_gguf_model_tensor_at(const qz_hf_model *m, int64_t i)
{
    return i >= 0 && i < m->n_gguf ? &m->gguf_entries[i].t : NULL;
}

const qz_gguf_tensor *qz_gguf_model_source(const qz_st_tensor *t)
{
    return ((const qz_gguf_entry *)t)->src;
}

/* HF row h*hd + i*hd/2 + j <- GGUF row h*hd + 2j + i (rows of cols floats). */
static void unpermute_rows(const float *src, float *dst, int64_t rows, int64_t cols, int64_t heads)
{
    int64_t hd = rows / heads, half = hd / 2;
    for (int64_t h = 0; h < heads; h++)
        for (int64_t i = 0; i < 2; i++)
            for (int64_t j = 0; j < half; j++)
                memcpy(dst + (h * hd + i * half + j) * cols, src + (h * hd + 2 * j + i) * cols, (size_t)cols * sizeof(float));
}

int qz_gguf_model_materialize(qz_hf_model *m, qz_st_tensor *t, qz_error *err)
{
    if (t->data) return QZ_OK;
    qz_gguf_entry *e = (qz_gguf_entry *)t;
    float *x = qz_malloc_array((size_t)t->numel + 1, sizeof(float)), *y = NULL;
    if (!x) return qz_fail(err, QZ_EINTERNAL, "out of memory dequantizing '%s' (%lld values)", e->src->name, (long long)t->numel);
    int rc = qz_gguf_tensor_to_f32(m->gguf, e->src, x, err);
    if (rc == QZ_OK && e->heads) {
        int64_t cols = e->src->n_dims == 1 ? 1 : e->src->ne[0];
        y = qz_malloc_array((size_t)t->numel + 1, sizeof(float));
        if (y) unpermute_rows(x, y, t->numel / cols, cols, e->heads);
        else rc = qz_fail(err, QZ_EINTERNAL, "out of memory un-permuting '%s'", e->src->name);
        free(x);
        x = y;
    }
    if (rc) {
        free(x);
        return rc;
    }
    t->data = x;
    return QZ_OK;
}

void qz_gguf_model_release(qz_st_tensor *t)
{
    free((void *)t->data);
    t->data = NULL;
}
