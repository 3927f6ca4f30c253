/* quantize.c - GPTQ / RTN over the pipeline (see quantize.h). Hessians are
 * kept per input site, so q/k/v (and gate/up) share one accumulation; each
 * linear gets its own copy because the solver consumes H. */
#include "quantize.h"

#include "ggml_grid.h"

#include <string.h>

const char *qz_quant_method_name(qz_quant_method m)
{
    static const char *names[QZ_QUANT_METHOD_COUNT] = {"gptq", "rtn", "awq", "smoothquant",
                                                       "magnitude", "wanda", "sparsegpt", "structured"};
    return (unsigned)m < QZ_QUANT_METHOD_COUNT ? names[m] : "?";
}

int64_t qz_count_zeros(const float *w, int64_t n)
{
    int64_t z = 0;
    for (int64_t i = 0; i < n; i++) z += w[i] == 0.0f;
    return z;
}

struct qz_quantizer {
    qz_quant_opts o;
    qz_quant_sink sink;
    qz_method method;
    int64_t site_dim[QZ_SITE_COUNT];
    float *H[QZ_SITE_COUNT];        /* (dim, dim) running Hessian per site */
    int64_t n_seen[QZ_SITE_COUNT];
    int hess_status;                /* first qz_hessian_add failure */
    qz_site hess_site;
    qz_error hess_err;
    float *Hwork;                   /* (max dim)^2 solver copy */
    float *imp;                     /* (max dim) diag(H): GGUF block parameter importances */
    uint8_t *mask;                  /* (max out*in) keep mask for keep_sparsity */
    qz_quant_result res[QZ_LIN_COUNT];
    qz_module_report rep[QZ_LIN_COUNT];
};

static int q_layer_begin(void *ctx, const qz_model *m, qz_layer *L, qz_error *err)
{
    (void)m;
    (void)L;
    (void)err;
    qz_quantizer *q = ctx;
    for (int s = 0; s < QZ_SITE_COUNT; s++) {
        if (q->H[s]) memset(q->H[s], 0, (size_t)(q->site_dim[s] * q->site_dim[s]) * sizeof(float));
        q->n_seen[s] = 0;
    }
    memset(q->rep, 0, sizeof q->rep);
    return QZ_OK;
}

static void q_observe(void *ctx, const qz_layer *L, qz_site site, const float *x, int64_t T)
{
    qz_quantizer *q = ctx;
    (void)L;
    if (q->hess_status == QZ_OK) {
        q->hess_status = qz_hessian_add(q->H[site], &q->n_seen[site], x, T, q->site_dim[site], 1, &q->hess_err);
        q->hess_site = site;
    }
}

static void make_mask(uint8_t *mask, const float *w, int64_t n)
{
    for (int64_t i = 0; i < n; i++) mask[i] = w[i] != 0.0f;
}

static int quantize_one(qz_quantizer *q, qz_layer *L, qz_linear_id id, qz_error *err)
{
    qz_linear *l = &L->lin[id];
    qz_module_report *r = &q->rep[id];
    r->layer = L->index;
    r->id = id;
    r->method = q->o.method;
    if (q->o.skip[id] && q->o.method != QZ_QUANT_SPARSEGPT) return QZ_OK;
    double t0 = qz_now();
    const uint8_t *mask = NULL;
    if (q->o.keep_sparsity) {
        make_mask(q->mask, l->w, l->out * l->in);
        mask = q->mask;
    }
    int rc, gt = q->o.ggml_types ? q->o.ggml_types[L->index * QZ_LIN_COUNT + id] : -1;
    if (gt >= 0 && !qz_ggml_type_traits(gt)->params) return QZ_OK; /* F16/F32 in the file */
    if (gt >= 0) {
        const float *Hs = q->H[qz_linear_site(id)]; /* NULL: RTN without calibration */
        float *H = NULL, *qw = Hs && !q->o.ggml_ref_params ? q->imp : NULL;
        for (int64_t j = 0; qw && j < l->in; j++) q->imp[j] = Hs[j * l->in + j]; /* diag(H) before damping */
        if (q->o.method == QZ_QUANT_GPTQ) {
            H = q->Hwork;
            memcpy(H, Hs, (size_t)(l->in * l->in) * sizeof(float));
        }
        rc = qz_ggml_quantize_linear(gt, l->w, l->out, l->in, H, qw, &q->o.gptq, &q->res[id], err);
    } else if (q->o.method == QZ_QUANT_SPARSEGPT) {
        qz_sparsegpt_opts so = q->o.sparsegpt;
        if (q->o.skip[id]) so.gptq.bits = 0; /* the format cannot pack it: prune only */
        memcpy(q->Hwork, q->H[qz_linear_site(id)], (size_t)(l->in * l->in) * sizeof(float));
        rc = qz_sparsegpt_prune(l->w, l->out, l->in, q->Hwork, &so, NULL, &q->res[id], err);
    } else if (q->o.method == QZ_QUANT_RTN) {
        qz_grid_cfg g = {q->o.gptq.bits, q->o.gptq.sym, q->o.gptq.mse};
        rc = qz_rtn_quantize(l->w, l->out, l->in, &g, q->o.gptq.group_size, &q->res[id], err);
        for (int64_t i = 0; rc == QZ_OK && mask && i < l->out * l->in; i++)
            if (!mask[i]) l->w[i] = 0.0f; /* RTN has no error feedback: zeroing is the whole story */
    } else {
        qz_site s = qz_linear_site(id);
        memcpy(q->Hwork, q->H[s], (size_t)(l->in * l->in) * sizeof(float));
        rc = qz_gptq_quantize(l->w, l->out, l->in, q->Hwork, &q->o.gptq, mask, &q->res[id], err);
    }
    if (rc) {
        char msg[QZ_ERRMSG_MAX];
        snprintf(msg, sizeof msg, "%s", err->msg);
        return qz_fail(err, rc, "layer %lld %s: %s", (long long)L->index, qz_linear_name(id), msg);
    }
    r->quantized = q->res[id].codes != NULL;
    if (q->o.method == QZ_QUANT_SPARSEGPT) {
        r->pruned = 1;
        r->sparsity = (double)qz_count_zeros(l->w, l->out * l->in) / (double)(l->out * l->in);
    }
    r->loss = q->res[id].loss;
    r->damp_used = q->res[id].damp_used;
    r->seconds = qz_now() - t0;
    return QZ_OK;
}

static int q_transform(void *ctx, qz_layer *L, const qz_linear_id *ids, int n, qz_error *err)
{
    qz_quantizer *q = ctx;
    if (q->hess_status)
        return qz_fail(err, q->hess_status, "layer %lld %s: input activations: %s", (long long)L->index,
                       qz_site_name(q->hess_site), q->hess_err.msg);
    int done[QZ_SITE_COUNT] = {0}; /* the solvers read H whole: mirror each site's once (q/k/v share one) */
    for (int i = 0; i < n; i++) {
        qz_site s = qz_linear_site(ids[i]);
        if (q->H[s] && !done[s]++) qz_hessian_symmetrize(q->H[s], q->site_dim[s]);
    }
    int rc = QZ_OK;
    for (int i = 0; i < n && rc == QZ_OK; i++) rc = quantize_one(q, L, ids[i], err);
    return rc;
}

static int q_layer_end(void *ctx, const qz_model *m, const qz_layer *L, qz_error *err)
{
    (void)m;
    qz_quantizer *q = ctx;
    const qz_quant_result *res[QZ_LIN_COUNT];
    for (int id = 0; id < QZ_LIN_COUNT; id++) res[id] = q->rep[id].quantized ? &q->res[id] : NULL;
    int rc = q->sink.write_layer(q->sink.ctx, L, res, q->rep, err);
    for (int id = 0; id < QZ_LIN_COUNT; id++) qz_quant_result_free(&q->res[id]);
    return rc;
}

int qz_quantizer_new(qz_quantizer **out, const qz_model_config *cfg, const qz_quant_opts *o, const qz_quant_sink *sink,
                     qz_error *err)
{
    *out = NULL;
    qz_quantizer *q = calloc(1, sizeof *q);
    if (!q) return qz_fail(err, QZ_EINTERNAL, "out of memory");
    q->o = *o;
    q->sink = *sink;
    /* Hessians: GPTQ, SparseGPT, and RTN onto GGUF blocks with weighted parameters (their diagonal) */
    int solver = o->method == QZ_QUANT_GPTQ || o->method == QZ_QUANT_SPARSEGPT;
    int hessians = solver || (o->method == QZ_QUANT_RTN && o->ggml_types && !o->ggml_ref_params);
    int64_t max_dim = 0, max_w = 0;
    for (int id = 0; id < QZ_LIN_COUNT; id++) {
        int64_t in = qz_linear_in(cfg, (qz_linear_id)id), outf = qz_linear_out(cfg, (qz_linear_id)id);
        q->site_dim[qz_linear_site((qz_linear_id)id)] = in;
        max_dim = in > max_dim ? in : max_dim;
        max_w = in * outf > max_w ? in * outf : max_w;
    }
    int ok = 1;
    for (int s = 0; hessians && s < QZ_SITE_COUNT; s++)
        ok = ok && (q->H[s] = qz_calloc_array((size_t)(q->site_dim[s] * q->site_dim[s]), sizeof(float)));
    if (solver) ok = ok && (q->Hwork = qz_malloc_array((size_t)(max_dim * max_dim), sizeof(float)));
    if (hessians) ok = ok && (q->imp = qz_malloc_array((size_t)max_dim, sizeof(float)));
    if (o->keep_sparsity) ok = ok && (q->mask = qz_malloc_array((size_t)max_w, 1));
    if (!ok) {
        qz_quantizer_free(q);
        return qz_fail(err, QZ_EINTERNAL, "out of memory for Hessians of %lld columns", (long long)max_dim);
    }
    q->method = (qz_method){.ctx = q, .true_sequential = hessians && o->true_sequential, .layer_begin = q_layer_begin,
                            .observe = hessians ? q_observe : NULL, .transform = q_transform, .layer_end = q_layer_end};
    *out = q;
    return QZ_OK;
}

const qz_method *qz_quantizer_method(qz_quantizer *q)
{
    return &q->method;
}

void qz_quantizer_free(qz_quantizer *q)
{
    if (!q) return;
    for (int s = 0; s < QZ_SITE_COUNT; s++) free(q->H[s]);
    for (int id = 0; id < QZ_LIN_COUNT; id++) qz_quant_result_free(&q->res[id]);
    free(q->Hwork);
    free(q->imp);
    free(q->mask);
    free(q);
}
