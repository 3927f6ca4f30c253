/* qz_cuda_bench.cu - cuBLAS FP16 GEMM timing for the GPU benchmark (see
 * qz_cuda_bench.h). Inputs are zero-filled: cuBLAS's speed does not depend
 * on the values. */
#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <chrono>

/* qz_common.h is C11: its _Noreturn means the same as the GNU attribute. */
#define _Noreturn __attribute__((noreturn))
extern "C" {
#include "qz_common.h"
}
#undef _Noreturn
#include "qz_cuda_bench.h"

/* The CUDA and cuBLAS checks of this file, naming statement, file:line and device. */
#define BENCH_CU(...)                                                                                                   \
    do {                                                                                                              \
        cudaError_t e_ = (__VA_ARGS__);                                                                               \
        if (e_ != cudaSuccess) {                                                                                      \
            rc = qz_fail(err, QZ_EINTERNAL, "CUDA error %s in '%s' at %s:%d on device %d", cudaGetErrorName(e_),      \
                         #__VA_ARGS__, __FILE__, __LINE__, device);                                                   \
            goto done;                                                                                                \
        }                                                                                                             \
    } while (0)
#define BENCH_BLAS(...)                                                                                                 \
    do {                                                                                                              \
        cublasStatus_t s_ = (__VA_ARGS__);                                                                            \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                                                                            \
            rc = qz_fail(err, QZ_EINTERNAL, "cuBLAS status %d in '%s' at %s:%d on device %d", (int)s_, #__VA_ARGS__,  \
                         __FILE__, __LINE__, device);                                                                 \
            goto done;                                                                                                \
        }                                                                                                             \
    } while (0)

static double now_s()
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

extern "C" int qz_cuda_bench_cublas_fp16(int device, int64_t T, int64_t out, int64_t in, int iters, double *seconds,
                                         qz_error *err)
{
    int rc = QZ_OK;
    cublasHandle_t h = NULL;
    __half *x = NULL, *w = NULL, *y = NULL;
    const float one = 1.0f, zero = 0.0f;
    double t0 = 0;
    *seconds = 0;
    BENCH_CU(cudaSetDevice(device));
    BENCH_CU(cudaMalloc((void **)&x, (size_t)(T * in) * sizeof(__half)));
    BENCH_CU(cudaMalloc((void **)&w, (size_t)(out * in) * sizeof(__half)));
    BENCH_CU(cudaMalloc((void **)&y, (size_t)(T * out) * sizeof(__half)));
    BENCH_CU(cudaMemset(x, 0, (size_t)(T * in) * sizeof(__half)));
    BENCH_CU(cudaMemset(w, 0, (size_t)(out * in) * sizeof(__half)));
    BENCH_BLAS(cublasCreate(&h));
    /* column-major: Y^T (out, T) = W (out, in) . X^T (in, T), W stored (out, in) row-major = W^T column-major */
    for (int i = -3; i < iters; i++) {
        if (i == 0) {
            BENCH_CU(cudaDeviceSynchronize());
            t0 = now_s();
        }
        BENCH_BLAS(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, (int)out, (int)T, (int)in, &one, w, CUDA_R_16F, (int)in, x,
                                CUDA_R_16F, (int)in, &zero, y, CUDA_R_16F, (int)out, CUBLAS_COMPUTE_32F,
                                CUBLAS_GEMM_DEFAULT));
    }
    BENCH_CU(cudaDeviceSynchronize());
    *seconds = (now_s() - t0) / iters;
done:
    if (h) cublasDestroy(h);
    cudaFree(x);
    cudaFree(w);
    cudaFree(y);
    return rc;
}
