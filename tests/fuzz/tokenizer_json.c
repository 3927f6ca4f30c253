/* tokenizer_json.c - fuzz target: a tokenizer.json (the input up to its
 * first NUL byte) through qz_tokenizer_load; when it loads, the rest of the
 * input is encoded as text and its bytes, taken as ids, decoded. */
#include "fuzz.h"
#include "tokenizer.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t json_len, text_len;
    const uint8_t *text;
    qz_fuzz_split(data, size, &json_len, &text, &text_len);
    char path[512];
    if (qz_fuzz_file("tokenizer.json", data, json_len, path, sizeof path)) return 0;
    qz_tokenizer *tok = NULL;
    qz_error err = {0};
    if (qz_tokenizer_load(&tok, path, NULL, &err) == QZ_OK) {
        int32_t *ids = NULL, raw[64];
        int64_t n = 0, n_raw = 0;
        char *out = NULL;
        size_t out_len = 0;
        if (qz_tokenizer_encode(tok, (const char *)text, text_len, 1, &ids, &n, &err) == QZ_OK &&
            qz_tokenizer_decode(tok, ids, n, 0, &out, &out_len, &err) == QZ_OK)
            free(out);
        for (size_t i = 0; i < text_len && n_raw < 64; i++) raw[n_raw++] = (int32_t)text[i] - 8;
        if (qz_tokenizer_decode(tok, raw, n_raw, (int)(text_len & 1), &out, &out_len, &err) == QZ_OK) free(out);
        free(ids);
    }
    qz_tokenizer_free(tok);
    return 0;
}
