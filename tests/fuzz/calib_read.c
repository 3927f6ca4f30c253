/* calib_read.c - fuzz target: a calibration file, plain text or JSON Lines
 * (the first input byte picks the name: .txt or .jsonl), through
 * qz_calib_read, then window sampling over its bytes taken as tokens. */
#include "fuzz.h"
#include "calib.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    char path[512];
    if (qz_fuzz_file(data[0] & 1 ? "calib.jsonl" : "calib.txt", data + 1, size - 1, path, sizeof path)) return 0;
    const char *paths[] = {path, path};
    char *text = NULL;
    size_t len = 0;
    qz_error err = {0};
    if (qz_calib_read(paths, 1 + (data[0] >> 7), &text, &len, &err) == QZ_OK) {
        int64_t n = (int64_t)len, nsamples = 1 + (data[0] >> 1 & 7), seqlen = 2 + (data[0] >> 4 & 7);
        int32_t *stream = malloc((size_t)(n ? n : 1) * sizeof *stream);
        for (int64_t i = 0; stream && i < n; i++) stream[i] = (unsigned char)text[i];
        if (stream && qz_calib_check(n, nsamples, seqlen, &err) == QZ_OK) {
            int32_t *win = malloc((size_t)(nsamples * seqlen) * sizeof *win);
            if (win) (void)qz_calib_sample(stream, n, nsamples, seqlen, data[0], win, &err);
            free(win);
        }
        free(stream);
    }
    free(text);
    return 0;
}
