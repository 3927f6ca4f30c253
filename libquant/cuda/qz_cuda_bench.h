/* qz_cuda_bench.h - the cuBLAS FP16 reference that scripts/gpu-check.sh's
 * benchmark (tests/cuda/bench_cuda.c) measures qz's packed matmuls against.
 * Linked only into that benchmark (with -lcublas), never into libquant. */
#ifndef QZ_CUDA_BENCH_H
#define QZ_CUDA_BENCH_H

#include "qz_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Mean seconds of one cublasGemmEx Y (T, out) = X (T, in) W^T with FP16
 * inputs and outputs and FP32 accumulation (the dense FP16 linear a
 * framework runs), over iters calls after a warm-up, on device. */
int qz_cuda_bench_cublas_fp16(int device, int64_t T, int64_t out, int64_t in, int iters, double *seconds, qz_error *err);

#ifdef __cplusplus
}
#endif

#endif
