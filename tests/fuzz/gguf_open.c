/* gguf_open.c - fuzz target: a GGUF file through qz_gguf_open, its
 * key/value pairs as JSON (qz_gguf_metadata_json), the tokenizer conversion
 * to tokenizer.json / tokenizer_config.json (qz_gguf_tokenizer_files) and
 * the dequantization of every tensor (qz_gguf_tensor_to_f32); then the same
 * file as a model (qz_model_open on the .gguf: config.json synthesized from
 * the llama.* keys and parsed by qz_model_config_parse, the embeddings and
 * norms dequantized, un-permuted and checked finite) and qz_layer_load of
 * its first layer. */
#include "fuzz.h"
#include "gguf.h"
#include "gguf_tokenizer.h"
#include "model.h"

#include <stdlib.h>

static void read_file(const char *path)
{
    qz_gguf *g = NULL;
    qz_error err = {0};
    if (qz_gguf_open(&g, path, &err) != QZ_OK) return;
    cJSON *meta = NULL, *tok = NULL, *tok_cfg = NULL;
    if (qz_gguf_metadata_json(g, &meta, &err) == QZ_OK) cJSON_Delete(meta);
    if (qz_gguf_tokenizer_files(g, &tok, &tok_cfg, &err) == QZ_OK) {
        cJSON_Delete(tok);
        cJSON_Delete(tok_cfg);
    }
    for (int64_t i = 0; i < qz_gguf_n_tensors(g); i++) {
        const qz_gguf_tensor *t = qz_gguf_tensor_at(g, i);
        float *x = qz_malloc_array((size_t)t->numel + 1, sizeof(float));
        if (x) (void)qz_gguf_tensor_to_f32(g, t, x, &err);
        free(x);
    }
    qz_gguf_close(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[512];
    if (qz_fuzz_file("model.gguf", data, size, path, sizeof path)) return 0;
    read_file(path);
    qz_model *m = NULL;
    qz_error err = {0};
    if (qz_model_open(&m, path, &err) == QZ_OK && m->cfg.n_layers > 0) {
        qz_layer L;
        if (qz_layer_load(m, 0, &L, &err) == QZ_OK) qz_layer_free(&L);
    }
    qz_model_free(m);
    return 0;
}
