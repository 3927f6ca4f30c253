/* replay.c - runs one fuzz target's stored corpus without a fuzzing engine
 * (as zstd's regression driver does): every file of
 * tests/fuzz/corpus/<QZ_FUZZ_TARGET>/, seeds and reproducers of fixed
 * findings alike, goes through the target's LLVMFuzzerTestOneInput once.
 * Built per target as $(BUILD)/tests/test_fuzz_<target> (normal and SAN
 * builds), so `make test` runs it; a crash or sanitizer report fails it,
 * and it prints one PASS line with the file count. Run from the repository
 * root (tests/run.sh is). Extra arguments replace the corpus directory. */
#include "fuzz.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (!f || fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        if (f) fclose(f);
        return 0;
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = malloc(n ? n : 1);
    int ok = buf && fread(buf, 1, n, f) == n;
    fclose(f);
    if (ok) LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    return ok;
}

static int run_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int count = 0;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        count += run_file(path);
    }
    closedir(d);
    return count;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "tests/fuzz/corpus/" QZ_FUZZ_TARGET;
    int n = run_dir(dir);
    if (n <= 0) {
        printf("FAIL fuzz_replay_%s: no corpus files in %s (run from the repository root)\n", QZ_FUZZ_TARGET, dir);
        return 1;
    }
    printf("PASS fuzz_replay_%s: %d inputs\n", QZ_FUZZ_TARGET, n);
    return 0;
}
