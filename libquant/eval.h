/* eval.h - perplexity under the GPTQ-paper protocol (DESIGN.md "Evaluation
 * protocol"): the whole text tokenized once with BOS, cut into
 * non-overlapping windows of seqlen tokens (the tail is dropped), every token
 * after a window's first scored, ppl = exp(mean NLL).
 *
 * The model is streamed layer by layer over all windows at once: memory is
 * the hidden states (windows x seqlen x hidden floats) plus one layer, never
 * windows x vocab.
 */
#ifndef QZ_EVAL_H
#define QZ_EVAL_H

#include "model.h"

typedef struct qz_progress {
    const char *stage;     /* "layer" or "score" */
    int64_t step, n_steps; /* e.g. layer 3 of 32 */
    int64_t done, total;   /* work units (window passes) done of total */
    double elapsed;        /* seconds since the start */
    int64_t tokens_done;   /* tokens through the whole model so far (estimate) */
} qz_progress;

typedef void (*qz_progress_fn)(void *ctx, const qz_progress *p);

typedef struct qz_ppl_opts {
    int64_t seqlen;        /* window length (> 1) */
    int64_t max_windows;   /* 0 = every full window */
    qz_progress_fn progress;
    void *progress_ctx;
} qz_ppl_opts;

typedef struct qz_ppl_result {
    int64_t tokens;        /* tokens in the text, BOS included */
    int64_t windows;
    int64_t scored;        /* windows * (seqlen - 1) */
    double mean_nll;
    double ppl;
    double seconds;
    double tokens_per_second; /* windows*seqlen / seconds */
} qz_ppl_result;

/* Number of windows the protocol uses; QZ_EINPUT when the text is shorter
 * than one window (the message gives both counts). */
int qz_eval_windows(int64_t n_tokens, const qz_ppl_opts *o, int64_t *windows, qz_error *err);

/* Final hidden states (before the final norm) of n_windows windows of
 * tokens: x (n_windows*seqlen, hidden), caller-allocated. Streams layers. */
int qz_eval_hidden(qz_model *m, const int32_t *tokens, int64_t n_windows, const qz_ppl_opts *o, float *x, qz_error *err);

/* Sum of next-token NLLs of one window (T tokens, T-1 scored) from its
 * hidden states x (T, hidden), which are normed in place. logits: scratch
 * of at least QZ_EVAL_CHUNK*vocab floats. */
#define QZ_EVAL_CHUNK 512
double qz_window_nll(const qz_model *m, const int32_t *tokens, int64_t T, float *x, float *logits);

int qz_eval_ppl(qz_model *m, const int32_t *tokens, int64_t n_tokens, const qz_ppl_opts *o, qz_ppl_result *r, qz_error *err);

#endif
