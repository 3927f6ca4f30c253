/* model_tokenizer.c - a model's tokenizer from a Hugging Face directory or a
 * GGUF file's metadata (one entry point for every tool; see the header).
 */
#include "model_tokenizer.h"

#include <unistd.h>

#include "gguf.h"
#include "gguf_tokenizer.h"
#include "hf_model.h"

int qz_model_tokenizer_json(const char *model, int *is_gguf, cJSON **tokenizer_json, cJSON **tokenizer_config,
                            qz_error *err)
{
    char path[4096];
    *tokenizer_json = *tokenizer_config = NULL;
    int rc = qz_gguf_model_file(model, path, sizeof path, is_gguf, err);
    if (rc || !*is_gguf) return rc;
    qz_gguf *g = NULL;
    cJSON *meta = NULL;
    rc = qz_gguf_open(&g, path, err);
    if (rc == QZ_OK) rc = qz_gguf_metadata_json(g, &meta, err);
    if (rc == QZ_OK) rc = qz_gguf_tokenizer_json(meta, path, tokenizer_json, tokenizer_config, err);
    cJSON_Delete(meta);
    qz_gguf_close(g);
    return rc;
}

static int open_dir(qz_tokenizer **out, const char *dir, qz_error *err)
{
    char tj[4096], tc[4096];
    int rc = qz_path_join(tj, sizeof tj, dir, "tokenizer.json", err);
    if (rc == QZ_OK) rc = qz_path_join(tc, sizeof tc, dir, "tokenizer_config.json", err);
    if (rc == QZ_OK) rc = qz_tokenizer_load(out, tj, access(tc, R_OK) == 0 ? tc : NULL, err);
    return rc;
}

int qz_tokenizer_open_model(qz_tokenizer **out, const char *model, qz_error *err)
{
    QZ_ASSERT(out && model);
    *out = NULL;
    int is_gguf = 0;
    cJSON *tj = NULL, *tc = NULL;
    int rc = qz_model_tokenizer_json(model, &is_gguf, &tj, &tc, err);
    if (rc == QZ_OK) rc = is_gguf ? qz_tokenizer_load_json(out, tj, tc, model, err) : open_dir(out, model, err);
    cJSON_Delete(tj), cJSON_Delete(tc);
    return rc;
}
