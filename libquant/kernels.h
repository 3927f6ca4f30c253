/* kernels.h - the non-BLAS compute kernels of the forward pass and the
 * worker threads that run them.
 *
 * Every fast kernel has a plain scalar `*_ref` twin: the test oracle
 * (tests/unit/test_kernels.c) and the definition of what the fast one
 * computes. The fast ones are written as loops the compiler vectorizes, built
 * for AVX-512, AVX2 and baseline x86-64 and picked at run time (function
 * multiversioning); they differ from the references only in the order of
 * floating-point sums (tolerances in test_kernels.c).
 *
 * Threads: qz_parallel_for runs independent tasks on worker threads
 * (attention tiles, NLL rows, and spans of the elementwise kernels when
 * they are large enough to pay for a thread). A task's result never depends
 * on which worker ran it or on how many workers there are (each task writes
 * only its own outputs, reductions are done afterwards in a fixed order), so
 * outputs are byte-identical for every thread count.
 */
#ifndef QZ_KERNELS_H
#define QZ_KERNELS_H

#include <stdint.h>

/* ---------------------------------------------------------------- threads */

#define QZ_MAX_THREADS 64

/* Worker threads for the non-BLAS parts: the last qz_set_threads(n > 0), or
 * else OpenBLAS's thread count (OPENBLAS_NUM_THREADS), at most QZ_MAX_THREADS.
 * Read at each call: where OpenBLAS is made single-threaded for a while (in
 * qz_attention) it is 1, so take the count before. */
int qz_threads(void);
/* n <= 0: follow the BLAS thread count again. */
void qz_set_threads(int n);

/* Calls fn(ctx, task, worker) for task in [0, n_tasks), each exactly once,
 * on min(workers, n_tasks) threads (the caller's included; workers is
 * clamped to [1, QZ_MAX_THREADS]); worker, below that count, names the
 * caller's per-worker scratch. Returns when all are done. */
typedef void (*qz_task_fn)(void *ctx, int64_t task, int worker);
void qz_parallel_for(int64_t n_tasks, int workers, qz_task_fn fn, void *ctx);

/* ------------------------------------------------------------ elementwise */

/* x[i] <- exp(x[i]) for x[i] <= 0 (polynomial, ~2 ulp; NaN stays NaN; below
 * -87 gives exp(-87)). Reference: expf. */
void qz_exp_nonpos_row(float *x, int64_t n);

/* x[i] += y[i] */
void qz_add(float *x, const float *y, int64_t n);

/* Index of the first NaN or Inf in x[0, n), or -1. Reference: isfinite. */
int64_t qz_first_nonfinite(const float *x, int64_t n);
int64_t qz_first_nonfinite_ref(const float *x, int64_t n);

/* y (n, dim) = x / rms(x) * w, sum of squares in double; y may equal x. */
void qz_rmsnorm(float *y, const float *x, const float *w, int64_t n, int64_t dim, double eps);
/* The same, also keeping rstd (n) = 1/sqrt(mean(x^2) + eps) per row (the
 * trainer's backward needs it); rstd NULL: qz_rmsnorm. */
void qz_rmsnorm_rstd(float *y, float *rstd, const float *x, const float *w, int64_t n, int64_t dim, double eps);
void qz_rmsnorm_ref(float *y, const float *x, const float *w, int64_t n, int64_t dim, double eps);

/* g[i] <- silu(g[i]) * up[i], silu(g) = g / (1 + exp(-g)). */
void qz_swiglu(float *g, const float *up, int64_t n);
void qz_swiglu_ref(float *g, const float *up, int64_t n);

/* Rotate-half RoPE in place on x (n_seq*T rows, n_heads*hd), row r at
 * position r % T; cs, sn (>= T, hd/2) the model's tables. */
void qz_rope(float *x, int64_t n_seq, int64_t T, int64_t n_heads, int64_t hd, const float *cs, const float *sn);
void qz_rope_ref(float *x, int64_t n_seq, int64_t T, int64_t n_heads, int64_t hd, const float *cs, const float *sn);

/* log(sum_i exp(x[i])) of one row, accumulated in double. */
double qz_logsumexp(const float *x, int64_t n);
double qz_logsumexp_ref(const float *x, int64_t n);

/* nll[r] = logsumexp(logits row r) - logits[r, next[r]] for n rows of
 * vocab logits, rows spread over the worker threads. */
void qz_nll_rows(const float *logits, int64_t n, int64_t vocab, const int32_t *next, double *nll);

/* -------------------------------------------------------------- attention */

/* Causal grouped-query attention of n_seq independent sequences of T tokens:
 * out (n_seq*T, n_heads*hd) = softmax(q k^T / sqrt(hd) + causal mask) v per
 * head, query head h reading kv head h / (n_heads/n_kv); q (rows,
 * n_heads*hd), k and v (rows, n_kv*hd). window > 0: key j is visible from
 * query t only when t - window < j <= t (sliding window); 0 = unlimited. */
typedef struct qz_attn_shape {
    int64_t n_seq, T, n_heads, n_kv, hd, window;
} qz_attn_shape;

/* Flash-style: tiles of QZ_ATTN_TILE queries x QZ_ATTN_TILE keys, online
 * softmax (Dao et al. 2022, FlashAttention, Alg. 1), key tiles above the
 * diagonal (or before the window) skipped. The query heads of a kv group
 * are stacked into one tile (their queries copied, scaled), so each key tile
 * is one sgemm for the whole group and K/V are read in place, never copied.
 * Tiles multiplied with single-threaded sgemm (OpenBLAS set to one thread
 * meanwhile, restored after); (sequence, kv head, query tile) tasks spread
 * over the workers. work: qz_attention_work(sh) floats per worker, for
 * workers workers (the number of threads used is at most workers). */
#define QZ_ATTN_TILE 128
int64_t qz_attention_work(const qz_attn_shape *sh);
void qz_attention(const qz_attn_shape *sh, const float *q, const float *k, const float *v, float *out, float *work,
                  int workers);
/* Scalar: per query, the scores of every visible key, softmax, weighted sum. */
void qz_attention_ref(const qz_attn_shape *sh, const float *q, const float *k, const float *v, float *out);

#endif
