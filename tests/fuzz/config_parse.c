/* config_parse.c - fuzz target: config.json text through
 * qz_model_config_parse (every LLaMA-family field, rope_scaling) and
 * qz_quant_config_read (GPTQ, AWQ, compressed-tensors quantization_config),
 * then the parsed config back to JSON. */
#include "fuzz.h"
#include "hf_model.h"
#include "quant_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *j = cJSON_ParseWithLength((const char *)data, size);
    qz_model_config c;
    qz_quant_config q;
    qz_error err = {0};
    if (j && qz_model_config_parse(j, "config.json", &c, &err) == QZ_OK) cJSON_Delete(qz_model_config_to_json(&c));
    if (j) (void)qz_quant_config_read(j, "config.json", &q, &err);
    cJSON_Delete(j);
    return 0;
}
