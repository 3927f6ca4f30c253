/* fuzz.h - what the libFuzzer targets in tests/fuzz/ share.
 *
 * Every target is one LLVMFuzzerTestOneInput (libFuzzer's entry point). The
 * parsers under test read files, so an input is written into a private
 * scratch directory first (created once per process, removed at exit).
 * `make fuzz` links each target with clang's -fsanitize=fuzzer; replay.c
 * links the same target into a plain program that runs its stored corpus
 * (tests/fuzz/corpus/<target>/) in `make test`. See docs/hardening.md.
 */
#ifndef QZ_FUZZ_H
#define QZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The scratch directory, "/dev/shm/qz-fuzz-XXXXXX" (or under /tmp); NULL
 * when it cannot be made. */
const char *qz_fuzz_dir(void);

/* Writes n bytes to the scratch directory's file name; its path in buf
 * (cap bytes). Returns 0, or -1 when the file cannot be written. */
int qz_fuzz_file(const char *name, const void *data, size_t n, char *buf, size_t cap);

/* Splits data at its first NUL byte: [data, *a_len) and the rest after it
 * (*b, *b_len; empty when there is no NUL). */
void qz_fuzz_split(const uint8_t *data, size_t size, size_t *a_len, const uint8_t **b, size_t *b_len);

#endif
