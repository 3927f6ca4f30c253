/* quant_config.c - config.json's quantization_config to a qz_quant_config
 * (see quant_config.h); each format's own parser checks its fields. */
#include "quant_config.h"

#include <string.h>

static int is(const cJSON *v, const char *s)
{
    return cJSON_IsString(v) && !strcmp(v->valuestring, s);
}

int qz_quant_config_read(const cJSON *config_json, const char *where, qz_quant_config *q, qz_error *err)
{
    memset(q, 0, sizeof *q);
    const cJSON *qc = cJSON_GetObjectItemCaseSensitive(config_json, "quantization_config");
    if (!qc) return QZ_OK;
    const cJSON *meth = cJSON_GetObjectItemCaseSensitive(qc, "quant_method");
    if (is(meth, "gptq")) {
        q->kind = QZ_QUANT_KIND_GPTQ;
        return qz_gptq_config_parse(qc, where, &q->gptq, err);
    }
    if (is(meth, "awq")) {
        q->kind = QZ_QUANT_KIND_AWQ;
        return qz_awq_config_parse(qc, where, &q->awq, err);
    }
    if (is(meth, "compressed-tensors")) {
        int sparse_only = 0, rc = qz_sparse24_config_parse(qc, where, &sparse_only, err);
        if (rc) return rc;
        if (sparse_only) {
            q->kind = QZ_QUANT_KIND_SPARSE;
            q->sparse24_bitmask = is(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(qc, "sparsity_config"), "format"),
                                     "sparse-24-bitmask");
            return QZ_OK;
        }
        q->kind = QZ_QUANT_KIND_CT_INT;
        return qz_ct_config_parse(qc, where, &q->ct, err);
    }
    return qz_fail(err, QZ_EINPUT,
                   "%s: quantization_config.quant_method '%s' is not supported (supported: gptq, awq, compressed-tensors)", where,
                   cJSON_IsString(meth) ? meth->valuestring : "?");
}
