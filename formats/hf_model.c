/* hf_model.c - Hugging Face model directory: config.json (LLaMA-family
 * fields, transformers' defaults for absent ones) and sharded safetensors
 * through model.safetensors.index.json's weight_map. Leaves out: .bin
 * (pickle) checkpoints, rope scaling types other than llama3. */
#include "hf_model.h"

#include "gguf_model.h"
#include "gguf_quants.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *arch_names[QZ_ARCH_COUNT] = {
    [QZ_ARCH_LLAMA] = "llama", [QZ_ARCH_MISTRAL] = "mistral", [QZ_ARCH_QWEN2] = "qwen2"};

const char *qz_arch_name(qz_arch a)
{
    return (unsigned)a < QZ_ARCH_COUNT ? arch_names[a] : "?";
}

int qz_path_join(char *buf, size_t cap, const char *dir, const char *name, qz_error *err)
{
    int n = snprintf(buf, cap, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= cap) return qz_fail(err, QZ_EINTERNAL, "path too long: %s/%s", dir, name);
    return QZ_OK;
}

int qz_read_file(const char *path, char **data, size_t *len, qz_error *err)
{
    *data = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return qz_fail(err, QZ_EINPUT, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return qz_fail(err, QZ_EINPUT, "%s: not a regular file", path);
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        fclose(f);
        return qz_fail(err, QZ_EINTERNAL, "%s: out of memory reading %zu bytes", path, n);
    }
    size_t got = fread(buf, 1, n, f);
    fclose(f);
    if (got != n) {
        free(buf);
        return qz_fail(err, QZ_EINTERNAL, "%s: short read", path);
    }
    buf[n] = 0;
    *data = buf;
    if (len) *len = n;
    return QZ_OK;
}

/* ------------------------------------------------------------ config.json */

typedef struct {
    const cJSON *json;
    const char *path;
    qz_error *err;
    int rc;
} cfg_reader;

/* Integer field: def when absent or null; error when present but not a
 * positive (or, with allow_zero, non-negative) integer. */
static int64_t get_int(cfg_reader *r, const char *key, int64_t def, int allow_zero)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->json, key);
    if (!v || cJSON_IsNull(v)) return def;
    if (cJSON_IsArray(v)) v = cJSON_GetArrayItem(v, 0); /* e.g. eos_token_id lists */
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < (allow_zero ? 0 : 1) ||
        v->valuedouble > 1e15) {
        if (r->rc == QZ_OK)
            r->rc = qz_fail(r->err, QZ_EINPUT, "%s: '%s' must be a %s integer", r->path, key, allow_zero ? "non-negative" : "positive");
        return def;
    }
    return (int64_t)v->valuedouble;
}

static double get_num(cfg_reader *r, const cJSON *obj, const char *key, double def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) return def;
    if (!cJSON_IsNumber(v) || !(v->valuedouble > 0) || !isfinite(v->valuedouble)) {
        if (r->rc == QZ_OK) r->rc = qz_fail(r->err, QZ_EINPUT, "%s: '%s' must be a positive number", r->path, key);
        return def;
    }
    return v->valuedouble;
}

static int get_bool(const cJSON *obj, const char *key, int def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : def;
}

static void parse_rope_scaling(cfg_reader *r, qz_model_config *c)
{
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(r->json, "rope_scaling");
    if (!rs || cJSON_IsNull(rs)) return;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(rs, "rope_type");
    if (!cJSON_IsString(t)) t = cJSON_GetObjectItemCaseSensitive(rs, "type");
    if (!cJSON_IsObject(rs) || !cJSON_IsString(t) || (strcmp(t->valuestring, "llama3") && strcmp(t->valuestring, "default"))) {
        r->rc = qz_fail(r->err, QZ_EINPUT, "%s: rope_scaling type '%s' is not supported (supported: llama3, default)", r->path,
                        cJSON_IsString(t) ? t->valuestring : "?");
        return;
    }
    if (strcmp(t->valuestring, "llama3") != 0) return;
    c->rope_scaling.llama3 = 1;
    c->rope_scaling.factor = get_num(r, rs, "factor", 8.0);
    c->rope_scaling.low_freq_factor = get_num(r, rs, "low_freq_factor", 1.0);
    c->rope_scaling.high_freq_factor = get_num(r, rs, "high_freq_factor", 4.0);
    c->rope_scaling.original_max_position = (int64_t)get_num(r, rs, "original_max_position_embeddings", 8192);
    if (c->rope_scaling.high_freq_factor <= c->rope_scaling.low_freq_factor && r->rc == QZ_OK)
        r->rc = qz_fail(r->err, QZ_EINPUT, "%s: rope_scaling needs high_freq_factor > low_freq_factor", r->path);
}

static qz_dtype parse_dtype(const cJSON *json)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(json, "torch_dtype");
    if (!cJSON_IsString(v)) v = cJSON_GetObjectItemCaseSensitive(json, "dtype");
    if (!cJSON_IsString(v)) return QZ_DTYPE_F32;
    if (!strcmp(v->valuestring, "float16")) return QZ_DTYPE_F16;
    if (!strcmp(v->valuestring, "bfloat16")) return QZ_DTYPE_BF16;
    return QZ_DTYPE_F32;
}

static int parse_arch(cfg_reader *r, qz_model_config *c)
{
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(r->json, "model_type");
    if (!cJSON_IsString(mt))
        return qz_fail(r->err, QZ_EINPUT, "%s: 'model_type' missing (supported: llama, mistral, qwen2)", r->path);
    for (int a = 0; a < QZ_ARCH_COUNT; a++)
        if (strcmp(mt->valuestring, arch_names[a]) == 0) {
            c->arch = (qz_arch)a;
            return QZ_OK;
        }
    return qz_fail(r->err, QZ_EINPUT, "%s: model_type '%s' is not supported (supported: llama, mistral, qwen2)", r->path, mt->valuestring);
}

static int check_shapes(cfg_reader *r, const qz_model_config *c)
{
    if (c->n_heads % c->n_kv_heads)
        return qz_fail(r->err, QZ_EINPUT, "%s: num_attention_heads %lld is not a multiple of num_key_value_heads %lld", r->path,
                       (long long)c->n_heads, (long long)c->n_kv_heads);
    if (c->head_dim % 2)
        return qz_fail(r->err, QZ_EINPUT, "%s: head_dim %lld must be even for rotary embeddings", r->path, (long long)c->head_dim);
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(r->json, "hidden_act");
    if (cJSON_IsString(act) && strcmp(act->valuestring, "silu") != 0)
        return qz_fail(r->err, QZ_EINPUT, "%s: hidden_act '%s' is not supported (supported: silu)", r->path, act->valuestring);
    if (c->arch == QZ_ARCH_QWEN2 && get_bool(r->json, "use_sliding_window", 0))
        return qz_fail(r->err, QZ_EINPUT, "%s: qwen2 use_sliding_window=true is not supported", r->path);
    return QZ_OK;
}

int qz_model_config_parse(const cJSON *json, const char *path, qz_model_config *c, qz_error *err)
{
    memset(c, 0, sizeof *c);
    cfg_reader r = {json, path, err, QZ_OK};
    if (!cJSON_IsObject(json)) return qz_fail(err, QZ_EINPUT, "%s: not a JSON object", path);
    int rc = parse_arch(&r, c);
    if (rc) return rc;
    static const char *required[] = {"hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "vocab_size"};
    for (size_t i = 0; i < sizeof required / sizeof *required; i++)
        if (!cJSON_GetObjectItemCaseSensitive(json, required[i]))
            return qz_fail(err, QZ_EINPUT, "%s: required field '%s' missing", path, required[i]);
    c->hidden = get_int(&r, "hidden_size", 0, 0);
    c->intermediate = get_int(&r, "intermediate_size", 0, 0);
    c->n_layers = get_int(&r, "num_hidden_layers", 0, 0);
    c->n_heads = get_int(&r, "num_attention_heads", 0, 0);
    c->vocab = get_int(&r, "vocab_size", 0, 0);
    if (r.rc) return r.rc;
    c->n_kv_heads = get_int(&r, "num_key_value_heads", c->n_heads, 0);
    c->head_dim = get_int(&r, "head_dim", c->hidden / c->n_heads, 0);
    c->max_position = get_int(&r, "max_position_embeddings", 2048, 0);
    c->sliding_window = c->arch == QZ_ARCH_MISTRAL ? get_int(&r, "sliding_window", 0, 1) : 0;
    c->rms_eps = get_num(&r, json, "rms_norm_eps", 1e-6);
    c->rope_theta = get_num(&r, json, "rope_theta", 10000.0);
    parse_rope_scaling(&r, c);
    c->tie_embeddings = get_bool(json, "tie_word_embeddings", 0);
    c->qkv_bias = c->arch == QZ_ARCH_QWEN2 || get_bool(json, "attention_bias", 0);
    c->mlp_bias = get_bool(json, "mlp_bias", 0);
    c->bos_id = (int32_t)get_int(&r, "bos_token_id", -1, 1);
    c->eos_id = (int32_t)get_int(&r, "eos_token_id", -1, 1);
    c->torch_dtype = parse_dtype(json);
    if (r.rc) return r.rc;
    if (c->head_dim == 0) return qz_fail(err, QZ_EINPUT, "%s: hidden_size %lld smaller than num_attention_heads", path, (long long)c->hidden);
    return check_shapes(&r, c);
}

static const char *dtype_torch_name(qz_dtype t)
{
    return t == QZ_DTYPE_F16 ? "float16" : t == QZ_DTYPE_BF16 ? "bfloat16" : "float32";
}

cJSON *qz_model_config_to_json(const qz_model_config *c)
{
    cJSON *j = cJSON_CreateObject(), *archs = cJSON_AddArrayToObject(j, "architectures");
    static const char *cls[QZ_ARCH_COUNT] = {"LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM"};
    cJSON_AddItemToArray(archs, cJSON_CreateString(cls[c->arch]));
    cJSON_AddStringToObject(j, "model_type", arch_names[c->arch]);
    cJSON_AddNumberToObject(j, "hidden_size", (double)c->hidden);
    cJSON_AddNumberToObject(j, "intermediate_size", (double)c->intermediate);
    cJSON_AddNumberToObject(j, "num_hidden_layers", (double)c->n_layers);
    cJSON_AddNumberToObject(j, "num_attention_heads", (double)c->n_heads);
    cJSON_AddNumberToObject(j, "num_key_value_heads", (double)c->n_kv_heads);
    cJSON_AddNumberToObject(j, "head_dim", (double)c->head_dim);
    cJSON_AddNumberToObject(j, "vocab_size", (double)c->vocab);
    cJSON_AddNumberToObject(j, "max_position_embeddings", (double)c->max_position);
    cJSON_AddNumberToObject(j, "rms_norm_eps", c->rms_eps);
    cJSON_AddNumberToObject(j, "rope_theta", c->rope_theta);
    cJSON_AddBoolToObject(j, "tie_word_embeddings", c->tie_embeddings);
    cJSON_AddBoolToObject(j, "attention_bias", c->qkv_bias);
    cJSON_AddStringToObject(j, "hidden_act", "silu");
    if (c->bos_id >= 0) cJSON_AddNumberToObject(j, "bos_token_id", c->bos_id);
    if (c->eos_id >= 0) cJSON_AddNumberToObject(j, "eos_token_id", c->eos_id);
    cJSON_AddStringToObject(j, "torch_dtype", dtype_torch_name(c->torch_dtype));
    return j;
}

/* ---------------------------------------------------------------- weights */

static int add_shard(qz_hf_model *m, const char *file, qz_error *err)
{
    if (strchr(file, '/') || strcmp(file, "..") == 0)
        return qz_fail(err, QZ_EINPUT, "%s: shard name '%s' must be a file in the model directory", m->dir, file);
    for (int i = 0; i < m->n_files; i++) {
        const char *base = strrchr(m->files[i]->path, '/');
        if (strcmp(base ? base + 1 : m->files[i]->path, file) == 0) return QZ_OK;
    }
    char path[4096];
    int rc = qz_path_join(path, sizeof path, m->dir, file, err);
    qz_st_file **grown = realloc(m->files, (size_t)(m->n_files + 1) * sizeof *grown);
    if (rc == QZ_OK && !grown) rc = qz_fail(err, QZ_EINTERNAL, "out of memory");
    if (rc) return rc;
    m->files = grown;
    rc = qz_st_open(&m->files[m->n_files], path, err);
    if (rc == QZ_OK) m->n_files++;
    return rc;
}

static int open_index(qz_hf_model *m, const char *index_path, qz_error *err)
{
    char *text = NULL;
    int rc = qz_read_file(index_path, &text, NULL, err);
    if (rc) return rc;
    cJSON *idx = cJSON_Parse(text);
    free(text);
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(idx, "weight_map");
    if (!cJSON_IsObject(map)) rc = qz_fail(err, QZ_EINPUT, "%s: not valid JSON with a 'weight_map' object", index_path);
    for (const cJSON *e = map ? map->child : NULL; e && rc == QZ_OK; e = e->next) {
        if (!cJSON_IsString(e)) rc = qz_fail(err, QZ_EINPUT, "%s: weight_map entry '%s' is not a file name", index_path, e->string);
        else rc = add_shard(m, e->valuestring, err);
    }
    cJSON_Delete(idx);
    return rc;
}

static int open_weights(qz_hf_model *m, qz_error *err)
{
    char path[4096];
    int rc = qz_path_join(path, sizeof path, m->dir, "model.safetensors.index.json", err);
    if (rc) return rc;
    struct stat st;
    if (stat(path, &st) == 0) return open_index(m, path, err);
    rc = qz_path_join(path, sizeof path, m->dir, "model.safetensors", err);
    if (rc == QZ_OK && stat(path, &st) != 0)
        return qz_fail(err, QZ_EINPUT, "%s: no model.safetensors or model.safetensors.index.json\n---> HINT: qz reads safetensors checkpoints; convert .bin files with transformers' save_pretrained(safe_serialization=True)", m->dir);
    return rc ? rc : add_shard(m, "model.safetensors", err);
}

static int open_hf_dir(qz_hf_model *m, const char *config_path, qz_error *err)
{
    char *text = NULL;
    int rc = qz_read_file(config_path, &text, NULL, err);
    if (rc == QZ_OK) {
        m->config_json = cJSON_Parse(text);
        rc = m->config_json ? qz_model_config_parse(m->config_json, config_path, &m->cfg, err)
                            : qz_fail(err, QZ_EINPUT, "%s: not valid JSON", config_path);
    }
    free(text);
    return rc == QZ_OK ? open_weights(m, err) : rc;
}

static int is_gguf_name(const char *name)
{
    size_t n = strlen(name);
    return n > 5 && strcmp(name + n - 5, ".gguf") == 0;
}

/* A directory without config.json: its one *.gguf into path. */
static int find_gguf(const char *dir, char *path, size_t cap, qz_error *err)
{
    DIR *d = opendir(dir);
    if (!d) return qz_fail(err, QZ_EINPUT, "%s: cannot read the directory: %s", dir, strerror(errno));
    int n = 0, rc = QZ_OK;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (is_gguf_name(e->d_name) && n++ == 0) rc = qz_path_join(path, cap, dir, e->d_name, err);
    closedir(d);
    if (rc) return rc;
    if (n == 0)
        return qz_fail(err, QZ_EINPUT, "%s/config.json: cannot open, and no .gguf file there: qz reads a Hugging Face directory "
                       "(config.json + model.safetensors) or a GGUF file (llama.cpp); llama2.c .bin checkpoints are not supported", dir);
    if (n > 1) return qz_fail(err, QZ_EINPUT, "%s: no config.json and %d .gguf files: name the .gguf file to read", dir, n);
    return QZ_OK;
}

int qz_hf_model_locate(const char *path, char *gguf, size_t cap, int *is_gguf, qz_error *err)
{
    char cfg[4096];
    struct stat st;
    *is_gguf = 0;
    if (stat(path, &st) != 0) return qz_fail(err, QZ_EINPUT, "%s: not a model directory or .gguf file: %s", path, strerror(errno));
    if (S_ISREG(st.st_mode)) {
        *is_gguf = 1;
        int n = snprintf(gguf, cap, "%s", path);
        return n >= 0 && (size_t)n < cap ? QZ_OK : qz_fail(err, QZ_EINTERNAL, "path too long: %s", path);
    }
    if (!S_ISDIR(st.st_mode)) return qz_fail(err, QZ_EINPUT, "%s: not a model directory or .gguf file", path);
    int rc = qz_path_join(cfg, sizeof cfg, path, "config.json", err);
    if (rc || access(cfg, F_OK) == 0) return rc;
    *is_gguf = 1;
    return find_gguf(path, gguf, cap, err);
}

int qz_hf_model_open(qz_hf_model **out, const char *path, qz_error *err)
{
    *out = NULL;
    qz_hf_model *m = calloc(1, sizeof *m);
    if (!m || !(m->dir = strdup(path))) {
        free(m);
        return qz_fail(err, QZ_EINTERNAL, "out of memory");
    }
    char file[4096], cfg[4096];
    int is_gguf = 0;
    int rc = qz_hf_model_locate(path, file, sizeof file, &is_gguf, err);
    if (rc == QZ_OK && is_gguf) rc = qz_gguf_model_open(m, file, err);
    else if (rc == QZ_OK && (rc = qz_path_join(cfg, sizeof cfg, path, "config.json", err)) == QZ_OK) rc = open_hf_dir(m, cfg, err);
    if (rc) {
        qz_hf_model_free(m);
        return rc;
    }
    *out = m;
    return QZ_OK;
}

void qz_hf_model_free(qz_hf_model *m)
{
    if (!m) return;
    qz_gguf_model_free(m);
    for (int i = 0; i < m->n_files; i++) qz_st_close(m->files[i]);
    free(m->files);
    cJSON_Delete(m->config_json);
    free(m->dir);
    free(m);
}

qz_st_tensor *qz_hf_model_find(const qz_hf_model *m, const char *name)
{
    if (m->gguf) return qz_gguf_model_find(m, name);
    for (int i = 0; i < m->n_files; i++) {
        qz_st_tensor *t = qz_st_find(m->files[i], name);
        if (t) return t;
    }
    return NULL;
}

int qz_hf_model_get(qz_hf_model *m, const char *name, qz_st_tensor **t, qz_error *err)
{
    if (m->gguf && (*t = qz_gguf_model_find(m, name)) != NULL) return qz_gguf_model_materialize(m, *t, err);
    for (int i = 0; i < m->n_files; i++)
        if (qz_st_find(m->files[i], name)) return qz_st_get(m->files[i], name, t, err);
    *t = NULL;
    return qz_fail(err, QZ_EINPUT, "%s: tensor '%s' not found in the checkpoint", m->dir, name);
}

void qz_hf_model_release(qz_hf_model *m, qz_st_tensor *t)
{
    if (m->gguf && t) qz_gguf_model_release(t);
}

int64_t qz_hf_model_n_tensors(const qz_hf_model *m)
{
    int64_t n = m->n_gguf;
    for (int i = 0; i < m->n_files; i++) n += m->files[i]->n_tensors;
    return n;
}

qz_st_tensor *qz_hf_model_tensor_at(const qz_hf_model *m, int64_t i)
{
    if (m->gguf) return qz_gguf_model_tensor_at(m, i);
    for (int f = 0; f < m->n_files; i -= m->files[f]->n_tensors, f++)
        if (i >= 0 && i < m->files[f]->n_tensors) return &m->files[f]->tensors[i];
    return NULL;
}

size_t qz_hf_model_stored_bytes(const qz_hf_model *m, const qz_st_tensor *t)
{
    return m->gguf ? qz_gguf_model_source(t)->nbytes : t->nbytes;
}

const char *qz_hf_model_stored_type(const qz_hf_model *m, const qz_st_tensor *t)
{
    return m->gguf ? qz_ggml_type_name(qz_gguf_model_source(t)->type) : qz_dtype_name(t->dtype);
}
