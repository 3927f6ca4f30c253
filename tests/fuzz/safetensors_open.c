/* safetensors_open.c - fuzz target: a safetensors file (header and data)
 * through qz_st_open, then every tensor through qz_st_get (CRC check when
 * the metadata stores one), qz_st_aligned_data and a read of all its bytes,
 * as model loading touches them. */
#include "fuzz.h"
#include "safetensors.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[512];
    if (qz_fuzz_file("model.safetensors", data, size, path, sizeof path)) return 0;
    qz_st_file *f = NULL;
    qz_error err = {0};
    if (qz_st_open(&f, path, &err) == QZ_OK) {
        for (int64_t i = 0; i < f->n_tensors; i++) {
            qz_st_tensor *t = NULL;
            if (qz_st_get(f, f->tensors[i].name, &t, &err) != QZ_OK) continue;
            void *copy = NULL;
            const uint8_t *p = qz_st_aligned_data(t, qz_dtype_size(t->dtype), &copy);
            volatile uint8_t sum = 0;
            for (size_t k = 0; p && k < t->nbytes; k++) sum = (uint8_t)(sum + p[k]);
            free(copy);
        }
        (void)qz_st_metadata(f, "format");
    }
    qz_st_close(f);
    return 0;
}
