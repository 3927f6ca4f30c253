/* test_calib.c - calibration text (plain, JSON Lines, joining, errors) and
 * window sampling against offsets from a Python transcription of SplitMix64
 * with rejection sampling (calib.h documents the procedure). */
#include "calib.h"
#include "qz_test.h"

#include <sys/stat.h>
#include <unistd.h>

static char dir[256];

static const char *put(const char *name, const char *text)
{
    static char p[4][512];
    static int k;
    char *path = p[k++ % 4];
    snprintf(path, 512, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_read_plain_and_jsonl(void)
{
    const char *paths[2] = {put("a.txt", "first file"), put("b.jsonl", "{\"text\":\"one\"}\n\n{\"text\":\"two\",\"id\":3}\n")};
    char *text = NULL;
    size_t len = 0;
    qz_error err = {0};
    CHECK(qz_calib_read(paths, 2, &text, &len, &err) == 0, "%s", err.msg);
    CHECK(text && !strcmp(text, "first file\n\none\n\ntwo"), "joined: '%s'", text ? text : "");
    CHECK(len == strlen("first file\n\none\n\ntwo"), "len %zu", len);
    free(text);
}

static void test_read_errors(void)
{
    char *text = NULL;
    size_t len;
    qz_error err = {0};
    const char *p1[1] = {put("bad.jsonl", "{\"text\":\"ok\"}\n{\"body\":\"no text\"}\n")};
    CHECK(qz_calib_read(p1, 1, &text, &len, &err) == QZ_EINPUT && strstr(err.msg, "bad.jsonl:2"), "%s", err.msg);
    const char *p2[1] = {put("empty.txt", "")};
    CHECK(qz_calib_read(p2, 1, &text, &len, &err) == QZ_EINPUT && strstr(err.msg, "empty"), "%s", err.msg);
    const char *p3[1] = {"/nonexistent/calib.txt"};
    CHECK(qz_calib_read(p3, 1, &text, &len, &err) == QZ_EINPUT && strstr(err.msg, "cannot open"), "%s", err.msg);
}

static void test_sample_windows(void)
{
    int32_t stream[1000], win[5 * 16];
    for (int i = 0; i < 1000; i++) stream[i] = i;
    qz_error err = {0};
    static const int32_t want0[5] = {679, 972, 247, 244, 787}, want7[5] = {423, 324, 234, 891, 178};
    CHECK(qz_calib_sample(stream, 1000, 5, 16, 0, win, &err) == 0, "%s", err.msg);
    for (int s = 0; s < 5; s++) {
        CHECK(win[s * 16] == want0[s], "seed 0 window %d starts at %d, want %d", s, win[s * 16], want0[s]);
        CHECK(win[s * 16 + 15] == want0[s] + 15, "contiguous");
    }
    CHECK(qz_calib_sample(stream, 1000, 5, 16, 7, win, &err) == 0, "%s", err.msg);
    for (int s = 0; s < 5; s++) CHECK(win[s * 16] == want7[s], "seed 7 window %d starts at %d, want %d", s, win[s * 16], want7[s]);
}

static void test_sample_too_short(void)
{
    int32_t stream[100] = {0}, win[16 * 10];
    qz_error err = {0};
    CHECK(qz_calib_sample(stream, 100, 10, 16, 0, win, &err) == QZ_EINPUT && strstr(err.msg, "has 100 tokens") &&
              strstr(err.msg, "at least 160"),
          "%s", err.msg);
    CHECK(qz_calib_sample(stream, 16, 1, 16, 0, win, &err) == QZ_EINPUT, "one window needs seqlen+1 tokens: %s", err.msg);
}

int main(void)
{
    qzt_tmpdir(dir, sizeof dir, "calib");
    QZ_RUN(test_read_plain_and_jsonl);
    QZ_RUN(test_read_errors);
    QZ_RUN(test_sample_windows);
    QZ_RUN(test_sample_too_short);
    if (qzt_rmdir(dir) != 0) fprintf(stderr, "could not remove %s\n", dir);
    QZ_TEST_EXIT();
}
