/* checkpoint_load.c - fuzz target: a crafted checkpoint directory,
 * config.json (the input up to its first NUL byte) and model.safetensors
 * (the rest), through qz_model_open (embeddings, norms, lm_head,
 * quantization_config) and qz_layer_load of its first layers, which runs the
 * packed-layout readers (GPTQ v1/v2 with g_idx, AWQ GEMM, compressed-tensors
 * int8, sparse-24-bitmask), then through qz_inspect_dir (qz-eval --info). */
#include "fuzz.h"
#include "inspect.h"
#include "model.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t cfg_len, st_len;
    const uint8_t *st;
    char path[512];
    qz_fuzz_split(data, size, &cfg_len, &st, &st_len);
    if (qz_fuzz_file("config.json", data, cfg_len, path, sizeof path) ||
        qz_fuzz_file("model.safetensors", st, st_len, path, sizeof path))
        return 0;
    qz_model *m = NULL;
    qz_error err = {0};
    if (qz_model_open(&m, qz_fuzz_dir(), &err) == QZ_OK) {
        for (int64_t i = 0; i < m->cfg.n_layers && i < 2; i++) {
            qz_layer L;
            if (qz_layer_load(m, i, &L, &err) == QZ_OK) qz_layer_free(&L);
        }
    }
    qz_model_free(m);
    qz_info info;
    if (qz_inspect_dir(&info, qz_fuzz_dir(), &err) == QZ_OK) {
        cJSON_Delete(qz_inspect_json(&info, "fuzz"));
        free(qz_inspect_text(&info, "fuzz"));
    }
    return 0;
}
