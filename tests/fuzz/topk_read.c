/* topk_read.c - fuzz target: a top-k cache file (FORMAT.md "Top-k caches")
 * through qz_topk_read_header and qz_topk_reader_open / _read of every
 * record / _finish, as qz-eval --base --top-k-cache reads one. */
#include "fuzz.h"
#include "topk_cache.h"

#include <stdlib.h>

#define BLOCK 16

static void read_all(const char *path)
{
    qz_topk_header h;
    qz_topk_reader *r = NULL;
    qz_error err = {0};
    if (qz_topk_reader_open(&r, path, &h, &err) == QZ_OK) {
        qz_topk_block b = {0, h.k, malloc(BLOCK * sizeof(double)), malloc(BLOCK * sizeof(double)),
                           malloc((size_t)BLOCK * (size_t)h.k * sizeof(int32_t)), malloc((size_t)BLOCK * (size_t)h.k * sizeof(float))};
        int64_t left = h.windows * (h.seqlen - 1);
        int rc = b.logp_next && b.p_rest && b.ids && b.logp ? QZ_OK : QZ_EINTERNAL;
        while (rc == QZ_OK && left > 0) {
            b.n = left < BLOCK ? left : BLOCK;
            rc = qz_topk_reader_read(r, &b, &err);
            left -= b.n;
        }
        if (rc == QZ_OK) (void)qz_topk_reader_finish(r, &err);
        free(b.logp_next), free(b.p_rest), free(b.ids), free(b.logp);
    }
    qz_topk_reader_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[512];
    qz_topk_header h;
    qz_error err = {0};
    if (qz_fuzz_file("cache.qzk", data, size, path, sizeof path)) return 0;
    if (qz_topk_read_header(path, &h, &err) == QZ_OK) read_all(path);
    return 0;
}
