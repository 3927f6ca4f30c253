/* model_tokenizer.c - a model's tokenizer from a Hugging Face directory or a
 * GGUF file's metadata (one entry point for every tool; see the header).
 */
#include "model_tokenizer.h"

#include <unistd.h>

#include "gguf_tokenizer.h"
#include "hf_model.h"

static int open_gguf(qz_tokenizer **out, const char *path, qz_error *err)
{
    qz_gguf *g = NULL;
    cJSON *tj = NULL, *tc = NULL;
    int rc = qz_gguf_open(&g, path, err);
    if (rc == QZ_OK) rc = qz_gguf_tokenizer_files(g, &tj, &tc, err);
    if (rc == QZ_OK) rc = qz_tokenizer_load_json(out, tj, tc, path, err);
    cJSON_Delete(tj), cJSON_Delete(tc);
    qz_gguf_close(g);
    return rc;
}

int qz_tokenizer_open_model(qz_tokenizer **out, const char *model, qz_error *err)
{
    QZ_ASSERT(out && model);
    *out = NULL;
    char tj[4096], tc[4096], gguf[4096];
    int rc = qz_path_join(tj, sizeof tj, model, "tokenizer.json", err), is_gguf = 0;
    if (rc == QZ_OK) rc = qz_path_join(tc, sizeof tc, model, "tokenizer_config.json", err);
    if (rc == QZ_OK && access(tj, F_OK) != 0) rc = qz_hf_model_locate(model, gguf, sizeof gguf, &is_gguf, err);
    if (rc) return rc;
    if (is_gguf) return open_gguf(out, gguf, err);
    return qz_tokenizer_load(out, tj, access(tc, R_OK) == 0 ? tc : NULL, err);
}
