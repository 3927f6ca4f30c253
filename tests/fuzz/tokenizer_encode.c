/* tokenizer_encode.c - fuzz target: arbitrary bytes as text through the
 * tokenizers of tests/fixtures/tokenizer/ (the first byte picks one: BPE
 * with byte fallback, Metaspace, byte-level GPT-2 and its NFC / split /
 * digit variants), then decode of the ids, and of the input's bytes as
 * ids. Non-UTF-8 text must be refused, never crash. */
#include "fuzz.h"
#include "tokenizer.h"

#include <stdio.h>
#include <stdlib.h>

static const char *variants[] = {"sp", "sp_metaspace", "sp_metaspace_split", "sp_unk", "bytelevel",
                                 "bytelevel_gpt2", "bytelevel_nfc", "bytelevel_splits", "bytelevel_digits"};
#define N_VARIANTS (sizeof variants / sizeof *variants)

/* Loaded once per process (from the repository root). */
static qz_tokenizer *get(size_t v)
{
    static qz_tokenizer *toks[N_VARIANTS];
    static int tried[N_VARIANTS];
    if (!tried[v]) {
        char json[256], cfg[256];
        qz_error err = {0};
        tried[v] = 1;
        snprintf(json, sizeof json, "tests/fixtures/tokenizer/%s/tokenizer.json", variants[v]);
        snprintf(cfg, sizeof cfg, "tests/fixtures/tokenizer/%s/tokenizer_config.json", variants[v]);
        FILE *f = fopen(cfg, "r");
        if (f) fclose(f);
        if (qz_tokenizer_load(&toks[v], json, f ? cfg : NULL, &err) != QZ_OK) {
            fprintf(stderr, "tokenizer_encode: %s (run from the repository root)\n", err.msg);
            abort();
        }
    }
    return toks[v];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    qz_tokenizer *tok = get(data[0] % N_VARIANTS);
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    int32_t *ids = NULL, raw[128];
    int64_t n = 0, n_raw = 0;
    char *out = NULL;
    size_t out_len = 0;
    qz_error err = {0};
    if (qz_tokenizer_encode(tok, text, len, data[0] & 0x80 ? 0 : 1, &ids, &n, &err) == QZ_OK &&
        qz_tokenizer_decode(tok, ids, n, 1, &out, &out_len, &err) == QZ_OK)
        free(out);
    free(ids);
    for (size_t i = 0; i + 1 < len && n_raw < 128; i += 2) raw[n_raw++] = (int32_t)((uint8_t)text[i] | (uint8_t)text[i + 1] << 8) - 4;
    if (qz_tokenizer_decode(tok, raw, n_raw, 0, &out, &out_len, &err) == QZ_OK) free(out);
    return 0;
}
