/* calib.h - calibration data: text files -> one token stream -> sampled
 * windows.
 *
 * Files are plain text, or JSON Lines (name ends in .jsonl, or the first
 * non-blank byte is '{') whose objects carry a "text" string. Several files
 * (and JSON Lines records) are joined with "\n\n", as the GPTQ reference
 * joins WikiText, and tokenized once with the model's tokenizer (BOS once at
 * the start).
 *
 * Windows: nsamples windows of seqlen tokens at offsets drawn uniformly from
 * [0, n_tokens - seqlen) by qz_rng (SplitMix64) seeded with seed: the same
 * windows on every machine. The stream must hold at least nsamples * seqlen
 * tokens, enough for that many distinct windows; otherwise the error says how
 * many tokens there are and how many are needed. Never fewer samples.
 */
#ifndef QZ_CALIB_H
#define QZ_CALIB_H

#include "qz_common.h"

/* Reads and joins the files; *text malloc'd, NUL-terminated. */
int qz_calib_read(const char *const *paths, int n_paths, char **text, size_t *len, qz_error *err);

/* QZ_EINPUT unless a stream of n_tokens holds nsamples windows of seqlen
 * (see above); callers check before allocating the windows. */
int qz_calib_check(int64_t n_tokens, int64_t nsamples, int64_t seqlen, qz_error *err);

/* windows (nsamples*seqlen) <- nsamples windows of stream (see above). */
int qz_calib_sample(const int32_t *stream, int64_t n_tokens, int64_t nsamples, int64_t seqlen, uint64_t seed,
                    int32_t *windows, qz_error *err);

#endif
