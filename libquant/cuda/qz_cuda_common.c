/* qz_cuda_common.c - the host-only part of qz_cuda.h that both builds
 * share: layout names, the shape rules of a packed linear (gptq_pack.h,
 * awq_pack.h, ct_ckpt.h) and workspace sizes. */
#include "qz_cuda.h"

#include "gptq_pack.h"

const char *qz_cuda_layout_name(qz_cuda_layout l)
{
    static const char *names[QZ_CUDA_LAYOUT_COUNT] = {"dense", "gptq", "awq", "w8a8"};
    return (unsigned)l < QZ_CUDA_LAYOUT_COUNT ? names[l] : "?";
}

/* Groups: either g_idx, or a positive group size covering in with n_groups. */
static int check_groups(const qz_cuda_linear *l, qz_error *err)
{
    if (l->n_groups <= 0 || !l->d_qzeros || !l->d_scales)
        return qz_fail(err, QZ_EINPUT, "cuda %s linear: n_groups %lld, qzeros and scales are required",
                       qz_cuda_layout_name(l->layout), (long long)l->n_groups);
    if (!l->d_g_idx && (l->group_size <= 0 || (l->in + l->group_size - 1) / l->group_size != l->n_groups))
        return qz_fail(err, QZ_EINPUT, "cuda %s linear: group_size %lld does not give %lld groups over in_features %lld",
                       qz_cuda_layout_name(l->layout), (long long)l->group_size, (long long)l->n_groups, (long long)l->in);
    return QZ_OK;
}

int qz_cuda_linear_check(const qz_cuda_linear *l, qz_error *err)
{
    if (l->out <= 0 || l->in <= 0 || !l->d_w)
        return qz_fail(err, QZ_EINPUT, "cuda linear: shape (%lld, %lld) or weights missing", (long long)l->out,
                       (long long)l->in);
    switch (l->layout) {
    case QZ_CUDA_DENSE: return QZ_OK;
    case QZ_CUDA_GPTQ: {
        int rc = qz_gptq_pack_check(l->out, l->in, l->bits, err);
        return rc ? rc : check_groups(l, err);
    }
    case QZ_CUDA_AWQ:
        if (l->bits != 4 || l->out % 8 || l->d_g_idx)
            return qz_fail(err, QZ_EINPUT, "cuda awq linear: bits %d, out_features %lld: the GEMM layout is 4-bit, "
                           "out a multiple of 8, no g_idx", l->bits, (long long)l->out);
        return check_groups(l, err);
    case QZ_CUDA_W8A8:
        if (!l->d_scales) return qz_fail(err, QZ_EINPUT, "cuda w8a8 linear: weight scales missing");
        return QZ_OK;
    default: return qz_fail(err, QZ_EINPUT, "cuda linear: layout %d unknown", (int)l->layout);
    }
}

size_t qz_cuda_linear_workspace(const qz_cuda_linear *l, int64_t T)
{
    if (l->layout != QZ_CUDA_W8A8 || T <= 0) return 0;
    return qz_cuda_w8a8_scales_offset(T, l->in) + (size_t)T * sizeof(float);
}
