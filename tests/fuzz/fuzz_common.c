/* fuzz_common.c - the scratch directory and input splitting of fuzz.h. */
#include "fuzz.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char scratch[64];

static void remove_scratch(void)
{
    DIR *d = opendir(scratch);
    struct dirent *e;
    char path[512];
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(path, sizeof path, "%s/%s", scratch, e->d_name);
            unlink(path);
        }
    if (d) closedir(d);
    rmdir(scratch);
}

const char *qz_fuzz_dir(void)
{
    if (!scratch[0]) {
        /* tmpfs when there is one: a file written per execution costs milliseconds on a disk */
        snprintf(scratch, sizeof scratch, "%s/qz-fuzz-XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
        if (!mkdtemp(scratch)) return scratch[0] = 0, NULL;
        atexit(remove_scratch);
    }
    return scratch;
}

int qz_fuzz_file(const char *name, const void *data, size_t n, char *buf, size_t cap)
{
    const char *dir = qz_fuzz_dir();
    if (!dir || snprintf(buf, cap, "%s/%s", dir, name) >= (int)cap) return -1;
    FILE *f = fopen(buf, "wb");
    if (!f) return -1;
    int ok = fwrite(data, 1, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : -1;
}

void qz_fuzz_split(const uint8_t *data, size_t size, size_t *a_len, const uint8_t **b, size_t *b_len)
{
    const uint8_t *nul = size ? memchr(data, 0, size) : NULL;
    *a_len = nul ? (size_t)(nul - data) : size;
    *b = nul ? nul + 1 : data + size;
    *b_len = nul ? size - *a_len - 1 : 0;
}
