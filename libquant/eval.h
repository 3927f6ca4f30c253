/* eval.h - perplexity under the GPTQ-paper protocol (DESIGN.md "Evaluation
 * protocol"): the whole text tokenized once with BOS, cut into
 * non-overlapping windows of seqlen tokens (the tail is dropped), every token
 * after a window's first scored, ppl = exp(mean NLL).
 *
 * The model is streamed layer by layer over a batch of windows at a time:
 * memory is the batch's hidden states (batch x seqlen x hidden floats, at
 * most QZ_EVAL_BATCH_BYTES unless batch_windows says otherwise) plus one
 * layer plus one chunk of logits, never windows x vocab. Each batch streams
 * every layer again, so more windows per batch means fewer layer loads.
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
    int64_t batch_windows; /* windows resident per model at once; 0 = as many as fit in QZ_EVAL_BATCH_BYTES */
    int64_t score_from;    /* first position whose next token is scored: 0 = every token after a window's
                            * first; seqlen/2 = llama.cpp's perplexity (qz_ppl_score_from). The head and
                            * the log-softmax run only on the scored positions. */
} qz_ppl_opts;

/* Scoring protocols of qz-eval --score. */
typedef enum qz_ppl_score { QZ_SCORE_ALL = 0, QZ_SCORE_SECOND_HALF = 1 } qz_ppl_score;
/* score_from for a protocol and window length: 0, or seqlen/2 (llama.cpp's
 * perplexity: tokens seqlen/2+1 .. seqlen-1 of each window, each predicted
 * from at least seqlen/2 tokens). */
int64_t qz_ppl_score_from(qz_ppl_score s, int64_t seqlen);

/* Hidden-state budget per model when batch_windows is 0. */
#define QZ_EVAL_BATCH_BYTES ((size_t)256 << 20)

typedef struct qz_ppl_result {
    int64_t tokens;        /* tokens in the text, BOS included */
    int64_t windows;
    int64_t scored;        /* windows * (seqlen - 1 - score_from) */
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

/* Scored positions whose logits exist at once, per model. */
#define QZ_EVAL_CHUNK 512

int qz_eval_ppl(qz_model *m, const int32_t *tokens, int64_t n_tokens, const qz_ppl_opts *o, qz_ppl_result *r, qz_error *err);

/* Fills r from the sum of NLLs over windows * per_window scored tokens. */
void qz_ppl_result_set(qz_ppl_result *r, int64_t n_tokens, int64_t windows, int64_t seqlen, int64_t per_window,
                       double nll_sum, double seconds);
/* QZ_EINPUT when a mean NLL (of the model named which) makes a non-finite
 * perplexity: results and their JSON never carry NaN or Inf. */
int qz_ppl_check_finite(double mean_nll, const char *which, qz_error *err);


/* One chunk of a window's scored positions with the logits of every model:
 * row i predicts next[i], the token at position pos + 1 + i of the window. */
#define QZ_EVAL_MAX_MODELS 2
typedef struct qz_eval_chunk {
    int64_t window;       /* window index, 0-based */
    int64_t pos;          /* first row's position in the window (0 = BOS or the window's first token) */
    int64_t n;            /* rows, at most QZ_EVAL_CHUNK */
    int last;             /* the window's last chunk */
    int64_t vocab;
    const int32_t *next;  /* (n) */
    const float *logits[QZ_EVAL_MAX_MODELS]; /* (n, vocab) per model, qz_model_head's output */
} qz_eval_chunk;

/* Sees each chunk; a failure stops the walk and is returned. */
typedef int (*qz_eval_chunk_fn)(void *ctx, const qz_eval_chunk *c, qz_error *err);

/* Runs n_windows windows of tokens (n_windows*seqlen ids) through each of
 * n_models models (1..QZ_EVAL_MAX_MODELS, same vocab, else QZ_EINPUT) in
 * batches of windows (o->batch_windows, or as many as fit in
 * QZ_EVAL_BATCH_BYTES for the model with the largest hidden size; >= 1)
 * and calls fn for every chunk, in window order, with the models' logits
 * side by side. Memory: per model one batch of hidden states and
 * QZ_EVAL_CHUNK x vocab logits. o->progress sees all batches as one run. */
int qz_eval_chunks(qz_model *const *models, int n_models, const int32_t *tokens, int64_t n_windows, const qz_ppl_opts *o,
                   qz_eval_chunk_fn fn, void *ctx, qz_error *err);

#endif
