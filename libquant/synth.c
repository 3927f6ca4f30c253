/* synth.c - random LLaMA-shaped checkpoints (see synth.h). */
#include "synth.h"

#include "half.h"
#include "model.h"
#include "rng.h"

#include <math.h>
#include <string.h>

/* One tensor of n values ~ mean + N(0, sd) in cfg's dtype. */
static int add_random(qz_st_writer *w, const char *name, int ndim, const int64_t *shape, double mean, double sd,
                      qz_dtype dt, qz_rng *rng, qz_error *err)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    float *v = qz_malloc_array((size_t)n, sizeof(float));
    uint16_t *h = dt == QZ_DTYPE_F32 ? NULL : qz_malloc_array((size_t)n, sizeof(uint16_t));
    if (!v || (dt != QZ_DTYPE_F32 && !h)) {
        free(v);
        free(h);
        return qz_fail(err, QZ_EINTERNAL, "out of memory for synthetic tensor %s", name);
    }
    for (int64_t i = 0; i < n; i++) v[i] = (float)(mean + sd * qz_rng_normal(rng));
    if (dt == QZ_DTYPE_F16) qz_fp32_to_fp16_row(v, h, n);
    if (dt == QZ_DTYPE_BF16) qz_fp32_to_bf16_row(v, h, n);
    int rc = qz_st_writer_add(w, name, dt, ndim, shape, h ? (const void *)h : (const void *)v,
                              (size_t)n * qz_dtype_size(dt), err);
    free(v);
    free(h);
    return rc;
}

static int write_layer(qz_st_writer *w, const qz_model_config *c, int64_t l, qz_rng *rng, qz_error *err)
{
    char name[256];
    qz_dtype dt = c->torch_dtype;
    snprintf(name, sizeof name, "model.layers.%lld.input_layernorm.weight", (long long)l);
    int rc = add_random(w, name, 1, &c->hidden, 1.0, 0.05, dt, rng, err);
    snprintf(name, sizeof name, "model.layers.%lld.post_attention_layernorm.weight", (long long)l);
    if (rc == QZ_OK) rc = add_random(w, name, 1, &c->hidden, 1.0, 0.05, dt, rng, err);
    for (int id = 0; id < QZ_LIN_COUNT && rc == QZ_OK; id++) {
        int64_t shape[2] = {qz_linear_out(c, (qz_linear_id)id), qz_linear_in(c, (qz_linear_id)id)};
        snprintf(name, sizeof name, "model.layers.%lld.%s.weight", (long long)l, qz_linear_name((qz_linear_id)id));
        rc = add_random(w, name, 2, shape, 0.0, 1.0 / sqrt((double)shape[1]), dt, rng, err);
        if (rc == QZ_OK && id <= QZ_LIN_V && c->qkv_bias) {
            snprintf(name, sizeof name, "model.layers.%lld.%s.bias", (long long)l, qz_linear_name((qz_linear_id)id));
            rc = add_random(w, name, 1, shape, 0.0, 0.02, dt, rng, err);
        }
    }
    return rc;
}

static int write_config(const char *dir, const qz_model_config *cfg, qz_error *err)
{
    char path[4096];
    int rc = qz_path_join(path, sizeof path, dir, "config.json", err);
    if (rc) return rc;
    cJSON *j = qz_model_config_to_json(cfg);
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    FILE *f = fopen(path, "w");
    int ok = f && text && fputs(text, f) >= 0;
    if (f && fclose(f) != 0) ok = 0;
    free(text);
    return ok ? QZ_OK : qz_fail(err, QZ_EINTERNAL, "%s: cannot write", path);
}

int qz_synth_write(const char *dir, const qz_model_config *c, uint64_t seed, qz_error *err)
{
    char path[4096];
    qz_st_writer *w = NULL;
    qz_rng rng;
    qz_rng_seed(&rng, seed);
    int rc = qz_path_join(path, sizeof path, dir, "model.safetensors", err);
    if (rc == QZ_OK) rc = qz_st_writer_open(&w, path, err);
    int64_t emb[2] = {c->vocab, c->hidden};
    if (rc == QZ_OK) rc = add_random(w, "model.embed_tokens.weight", 2, emb, 0.0, 1.0, c->torch_dtype, &rng, err);
    for (int64_t l = 0; l < c->n_layers && rc == QZ_OK; l++) rc = write_layer(w, c, l, &rng, err);
    if (rc == QZ_OK) rc = add_random(w, "model.norm.weight", 1, &c->hidden, 1.0, 0.05, c->torch_dtype, &rng, err);
    if (rc == QZ_OK && !c->tie_embeddings)
        rc = add_random(w, "lm_head.weight", 2, emb, 0.0, 1.0 / sqrt((double)c->hidden), c->torch_dtype, &rng, err);
    if (rc == QZ_OK) rc = qz_st_writer_finish(w, err);
    qz_st_writer_free(w);
    return rc ? rc : write_config(dir, c, err);
}
