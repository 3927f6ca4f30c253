/* model.c - LLaMA-family decoder forward pass in FP32 (Touvron et al. 2023;
 * Hugging Face transformers' LlamaForCausalLM conventions): RMSNorm, RoPE in
 * the rotate-half convention with optional llama3 frequency scaling,
 * grouped-query causal attention (optional sliding window), SwiGLU MLP.
 * Every matrix product is an sgemm over the whole sequence. Leaves out: KV
 * caching and token-by-token generation, biases on o_proj. */
#include "model.h"

#include "half.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------- linears */

static const struct {
    const char *name;
    qz_site site;
} linear_traits[QZ_LIN_COUNT] = {
    [QZ_LIN_Q] = {"self_attn.q_proj", QZ_SITE_ATTN_IN}, [QZ_LIN_K] = {"self_attn.k_proj", QZ_SITE_ATTN_IN},
    [QZ_LIN_V] = {"self_attn.v_proj", QZ_SITE_ATTN_IN}, [QZ_LIN_O] = {"self_attn.o_proj", QZ_SITE_O_IN},
    [QZ_LIN_GATE] = {"mlp.gate_proj", QZ_SITE_MLP_IN},  [QZ_LIN_UP] = {"mlp.up_proj", QZ_SITE_MLP_IN},
    [QZ_LIN_DOWN] = {"mlp.down_proj", QZ_SITE_DOWN_IN},
};

const char *qz_linear_name(qz_linear_id id) { return linear_traits[id].name; }
qz_site qz_linear_site(qz_linear_id id) { return linear_traits[id].site; }

const char *qz_site_name(qz_site site)
{
    static const char *names[QZ_SITE_COUNT] = {"self_attn.q_proj/k_proj/v_proj", "self_attn.o_proj",
                                               "mlp.gate_proj/up_proj", "mlp.down_proj"};
    return names[site];
}

int64_t qz_linear_in(const qz_model_config *c, qz_linear_id id)
{
    switch (id) {
    case QZ_LIN_O: return c->n_heads * c->head_dim;
    case QZ_LIN_DOWN: return c->intermediate;
    default: return c->hidden;
    }
}

int64_t qz_linear_out(const qz_model_config *c, qz_linear_id id)
{
    switch (id) {
    case QZ_LIN_Q: return c->n_heads * c->head_dim;
    case QZ_LIN_K:
    case QZ_LIN_V: return c->n_kv_heads * c->head_dim;
    case QZ_LIN_GATE:
    case QZ_LIN_UP: return c->intermediate;
    default: return c->hidden;
    }
}

int qz_linear_has_bias(const qz_model_config *c, qz_linear_id id)
{
    return id <= QZ_LIN_V ? c->qkv_bias : (id >= QZ_LIN_GATE && c->mlp_bias);
}

int64_t qz_model_param_count(const qz_model_config *c)
{
    int64_t n = c->vocab * c->hidden * (c->tie_embeddings ? 1 : 2) + c->hidden * (2 * c->n_layers + 1);
    for (int id = 0; id < QZ_LIN_COUNT; id++) {
        int64_t out = qz_linear_out(c, (qz_linear_id)id);
        n += c->n_layers * (out * qz_linear_in(c, (qz_linear_id)id) + (qz_linear_has_bias(c, (qz_linear_id)id) ? out : 0));
    }
    return n;
}

/* ---------------------------------------------------------------- loading */

/* t as FP32 into dst, checking dtype and shape (ndim entries of want). */
static int tensor_to_f32(const qz_st_tensor *t, float *dst, int ndim, const int64_t *want, qz_error *err)
{
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == want[i];
    if (!same) {
        char got[128] = "", exp[128] = "";
        for (int i = 0; i < t->ndim; i++) snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? "," : "", (long long)t->shape[i]);
        for (int i = 0; i < ndim; i++) snprintf(exp + strlen(exp), sizeof exp - strlen(exp), "%s%lld", i ? "," : "", (long long)want[i]);
        return qz_fail(err, QZ_EINPUT, "tensor '%s': shape [%s], config.json implies [%s]", t->name, got, exp);
    }
    if (t->dtype == QZ_DTYPE_F32) {
        memcpy(dst, t->data, t->nbytes);
        return QZ_OK;
    }
    if (t->dtype != QZ_DTYPE_F16 && t->dtype != QZ_DTYPE_BF16)
        return qz_fail(err, QZ_EINPUT, "tensor '%s': dtype %s, expected F32, F16 or BF16", t->name, qz_dtype_name(t->dtype));
    void *copy;
    const uint16_t *h = qz_st_aligned_data(t, 2, &copy);
    if (!h) return qz_fail(err, QZ_EINTERNAL, "out of memory reading '%s'", t->name);
    if (t->dtype == QZ_DTYPE_F16) qz_fp16_to_fp32_row(h, dst, t->numel);
    else qz_bf16_to_fp32_row(h, dst, t->numel);
    free(copy);
    return QZ_OK;
}

/* Allocates and loads name (shape want) as FP32. */
static int load_f32(qz_hf_model *hf, const char *name, int ndim, const int64_t *want, float **out, qz_error *err)
{
    qz_st_tensor *t;
    *out = NULL;
    int rc = qz_hf_model_get(hf, name, &t, err);
    if (rc) return rc;
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= want[i];
    *out = qz_malloc_array((size_t)n, sizeof(float));
    if (!*out) return qz_fail(err, QZ_EINTERNAL, "out of memory loading '%s'", name);
    rc = tensor_to_f32(t, *out, ndim, want, err);
    qz_hf_model_release(hf, t); /* GGUF: drop the dequantized copy */
    if (rc) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

static qz_st_tensor *find_tensor(void *hf, const char *name)
{
    return qz_hf_model_find(hf, name);
}

/* The tensor whose presence says linear lin is stored in the checkpoint's
 * packed layout (a module left in floating point has a plain .weight). */
static int stored_packed(const qz_model *m, const char *lin)
{
    static const char *marker[QZ_QUANT_KIND_COUNT] = {
        [QZ_QUANT_KIND_GPTQ] = "qweight", [QZ_QUANT_KIND_AWQ] = "qweight", [QZ_QUANT_KIND_CT_INT] = "weight_scale"};
    const char *suffix = m->quant.kind == QZ_QUANT_KIND_SPARSE ? "compressed" : marker[m->quant.kind];
    char name[600];
    if (!suffix) return 0;
    snprintf(name, sizeof name, "%s.%s", lin, suffix);
    return qz_hf_model_find(m->hf, name) != NULL;
}

/* w (out, in) from lin's packed tensors, as the checkpoint's format says. */
static int read_packed(qz_model *m, const char *lin, int64_t out, int64_t in, float *w, qz_error *err)
{
    const qz_quant_config *q = &m->quant;
    switch (q->kind) {
    case QZ_QUANT_KIND_GPTQ: return qz_gptq_read_linear(find_tensor, m->hf, lin, &q->gptq, out, in, w, err);
    case QZ_QUANT_KIND_AWQ: return qz_awq_read_linear(find_tensor, m->hf, lin, &q->awq, out, in, w, err);
    case QZ_QUANT_KIND_CT_INT: return qz_ct_read_linear(find_tensor, m->hf, lin, &q->ct, out, in, w, err);
    case QZ_QUANT_KIND_SPARSE: return qz_sparse24_read_linear(find_tensor, m->hf, lin, out, in, w, err);
    default: QZ_ASSERT(!"no packed layout");
    }
}

static int load_linear(qz_model *m, const char *prefix, qz_linear_id id, int has_bias, qz_linear *l, qz_error *err)
{
    char name[600], lin[512];
    l->out = qz_linear_out(&m->cfg, id);
    l->in = qz_linear_in(&m->cfg, id);
    int64_t wshape[2] = {l->out, l->in};
    snprintf(lin, sizeof lin, "%s.%s", prefix, qz_linear_name(id));
    int rc;
    if (stored_packed(m, lin)) {
        l->w = qz_malloc_array((size_t)(l->out * l->in), sizeof(float));
        rc = l->w ? read_packed(m, lin, l->out, l->in, l->w, err) : qz_fail(err, QZ_EINTERNAL, "out of memory loading %s", lin);
    } else {
        snprintf(name, sizeof name, "%s.weight", lin);
        rc = load_f32(m->hf, name, 2, wshape, &l->w, err);
    }
    if (rc == QZ_OK && has_bias) {
        snprintf(name, sizeof name, "%s.bias", lin);
        rc = load_f32(m->hf, name, 1, &l->out, &l->bias, err);
    }
    return rc;
}

int qz_layer_load(qz_model *m, int64_t i, qz_layer *L, qz_error *err)
{
    memset(L, 0, sizeof *L);
    L->index = i;
    char prefix[128], name[256];
    snprintf(prefix, sizeof prefix, "model.layers.%lld", (long long)i);
    const qz_model_config *c = &m->cfg;
    snprintf(name, sizeof name, "%s.input_layernorm.weight", prefix);
    int rc = load_f32(m->hf, name, 1, &c->hidden, &L->attn_norm, err);
    snprintf(name, sizeof name, "%s.post_attention_layernorm.weight", prefix);
    if (rc == QZ_OK) rc = load_f32(m->hf, name, 1, &c->hidden, &L->mlp_norm, err);
    for (int id = 0; id < QZ_LIN_COUNT && rc == QZ_OK; id++) {
        rc = load_linear(m, prefix, (qz_linear_id)id, qz_linear_has_bias(c, (qz_linear_id)id), &L->lin[id], err);
        if (rc == QZ_OK && m->sim.weight_bits)
            qz_fake_quant_sym(L->lin[id].w, L->lin[id].out, L->lin[id].in, m->sim.weight_bits, m->sim.weight_gran, NULL, NULL);
    }
    if (rc) qz_layer_free(L);
    return rc;
}

void qz_layer_free(qz_layer *L)
{
    if (!L) return;
    free(L->attn_norm);
    free(L->mlp_norm);
    for (int id = 0; id < QZ_LIN_COUNT; id++) {
        free(L->lin[id].w);
        free(L->lin[id].bias);
    }
    memset(L, 0, sizeof *L);
}

static int64_t first_nonfinite(const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return i;
    return -1;
}

int qz_layer_check_finite(const qz_layer *L, qz_error *err)
{
    for (int id = 0; id < QZ_LIN_COUNT; id++) {
        const qz_linear *l = &L->lin[id];
        int64_t at = first_nonfinite(l->w, l->out * l->in);
        if (at >= 0)
            return qz_fail(err, QZ_EINPUT, "layer %lld %s: weight [%lld, %lld] is %g (NaN/Inf in the checkpoint)", (long long)L->index,
                           qz_linear_name((qz_linear_id)id), (long long)(at / l->in), (long long)(at % l->in), (double)l->w[at]);
    }
    return QZ_OK;
}

/* ------------------------------------------------------------------- model */

int qz_model_reserve(qz_model *m, int64_t T, qz_error *err)
{
    if (T <= m->rope_len) return QZ_OK;
    const qz_model_config *c = &m->cfg;
    int64_t half = c->head_dim / 2;
    float *cs = qz_malloc_array((size_t)(T * half), sizeof(float)), *sn = qz_malloc_array((size_t)(T * half), sizeof(float));
    if (!cs || !sn) {
        free(cs);
        free(sn);
        return qz_fail(err, QZ_EINTERNAL, "out of memory for RoPE tables of %lld positions", (long long)T);
    }
    const qz_rope_scaling *rs = &c->rope_scaling;
    for (int64_t i = 0; i < half; i++) {
        double inv = pow(c->rope_theta, -2.0 * (double)i / (double)c->head_dim);
        if (rs->llama3) { /* transformers' _compute_llama3_parameters */
            double wavelen = 2 * M_PI / inv, old = (double)rs->original_max_position;
            double low_wl = old / rs->low_freq_factor, high_wl = old / rs->high_freq_factor;
            if (wavelen > low_wl) inv /= rs->factor;
            else if (wavelen >= high_wl) {
                double smooth = (old / wavelen - rs->low_freq_factor) / (rs->high_freq_factor - rs->low_freq_factor);
                inv = (1 - smooth) * inv / rs->factor + smooth * inv;
            }
        }
        for (int64_t p = 0; p < T; p++) {
            cs[p * half + i] = (float)cos((double)p * inv);
            sn[p * half + i] = (float)sin((double)p * inv);
        }
    }
    free(m->rope_cos);
    free(m->rope_sin);
    m->rope_cos = cs;
    m->rope_sin = sn;
    m->rope_len = T;
    return QZ_OK;
}

/* quantization_config (quant_config.h); a compressed-tensors W8A8
 * checkpoint also declares the activation scheme qz-eval then simulates. */
static int read_quant_config(qz_model *m, qz_error *err)
{
    char where[4200];
    snprintf(where, sizeof where, "%s/config.json", m->hf->dir);
    int rc = qz_quant_config_read(m->hf->config_json, where, &m->quant, err);
    if (rc == QZ_OK && m->quant.kind == QZ_QUANT_KIND_CT_INT) {
        m->sim.act_bits = m->quant.ct.act_bits;
        m->sim.act_gran = m->quant.ct.act_per_token ? QZ_GRAN_TOKEN : QZ_GRAN_TENSOR;
    }
    return rc;
}

int qz_model_open(qz_model **out, const char *dir, qz_error *err)
{
    *out = NULL;
    qz_model *m = calloc(1, sizeof *m);
    if (!m) return qz_fail(err, QZ_EINTERNAL, "out of memory");
    int rc = qz_hf_model_open(&m->hf, dir, err);
    if (rc == QZ_OK) rc = read_quant_config(m, err);
    if (rc == QZ_OK) {
        m->cfg = m->hf->cfg;
        int64_t emb[2] = {m->cfg.vocab, m->cfg.hidden};
        rc = load_f32(m->hf, "model.embed_tokens.weight", 2, emb, &m->embed, err);
        if (rc == QZ_OK) rc = load_f32(m->hf, "model.norm.weight", 1, &m->cfg.hidden, &m->final_norm, err);
        if (rc == QZ_OK && !m->cfg.tie_embeddings && qz_hf_model_find(m->hf, "lm_head.weight"))
            rc = load_f32(m->hf, "lm_head.weight", 2, emb, &m->lm_head, err);
        else if (rc == QZ_OK && !m->cfg.tie_embeddings)
            rc = qz_fail(err, QZ_EINPUT, "%s: tie_word_embeddings is false but 'lm_head.weight' is missing", dir);
        else
            m->lm_head = m->embed;
    }
    if (rc == QZ_OK) rc = qz_model_reserve(m, 1, err);
    if (rc) {
        qz_model_free(m);
        return rc;
    }
    *out = m;
    return QZ_OK;
}

void qz_model_free(qz_model *m)
{
    if (!m) return;
    if (m->lm_head != m->embed) free(m->lm_head);
    free(m->embed);
    free(m->final_norm);
    free(m->rope_cos);
    free(m->rope_sin);
    qz_hf_model_free(m->hf);
    free(m);
}

/* ----------------------------------------------------------------- forward */

struct qz_scratch {
    int64_t max_T;
    float *xn;     /* (T, hidden) normed input */
    float *q;      /* (T, n_heads*head_dim) */
    float *k, *v;  /* (T, n_kv_heads*head_dim) */
    float *att;    /* (T, n_heads*head_dim) attention output */
    float *scores; /* (T, T) one head's probabilities */
    float *gate;   /* (T, intermediate) */
    float *up;     /* (T, intermediate) */
    float *out;    /* (T, hidden) block output before the residual add */
    float *xq;     /* (T, max input width) fake-quantized linear input */
};

int qz_scratch_new(qz_scratch **out, const qz_model_config *c, int64_t T, qz_error *err)
{
    int64_t qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim;
    int64_t widest = c->intermediate > qd ? c->intermediate : qd;
    widest = widest > c->hidden ? widest : c->hidden;
    int64_t sizes[] = {T * c->hidden, T * qd, T * kvd, T * kvd, T * qd, T * T, T * c->intermediate, T * c->intermediate, T * c->hidden,
                       T * widest};
    int64_t total = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) total += sizes[i];
    qz_scratch *s = calloc(1, sizeof *s);
    float *mem = qz_malloc_array((size_t)total, sizeof(float));
    if (!s || !mem) {
        free(s);
        free(mem);
        return qz_fail(err, QZ_EINTERNAL, "out of memory for activations of %lld tokens", (long long)T);
    }
    float **ptrs[] = {&s->xn, &s->q, &s->k, &s->v, &s->att, &s->scores, &s->gate, &s->up, &s->out, &s->xq};
    for (size_t i = 0; i < sizeof ptrs / sizeof *ptrs; i++) {
        *ptrs[i] = mem;
        mem += sizes[i];
    }
    s->max_T = T;
    *out = s;
    return QZ_OK;
}

void qz_scratch_free(qz_scratch *s)
{
    if (!s) return;
    free(s->xn); /* the one allocation */
    free(s);
}

void qz_rmsnorm(float *y, const float *x, const float *w, int64_t n, int64_t dim, double eps)
{
    for (int64_t r = 0; r < n; r++) {
        const float *xr = x + r * dim;
        double ss = 0;
        for (int64_t i = 0; i < dim; i++) ss += (double)xr[i] * xr[i];
        float inv = (float)(1.0 / sqrt(ss / (double)dim + eps));
        for (int64_t i = 0; i < dim; i++) y[r * dim + i] = w[i] * (xr[i] * inv);
    }
}

void qz_linear_apply(const qz_linear *l, const float *x, int64_t T, float *y)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, (int)l->out, (int)l->in, 1.0f, x, (int)l->in, l->w,
                (int)l->in, 0.0f, y, (int)l->out);
    if (l->bias)
        for (int64_t t = 0; t < T; t++)
            for (int64_t o = 0; o < l->out; o++) y[t * l->out + o] += l->bias[o];
}

/* Rotate-half RoPE on x (T, n_heads, head_dim) at positions 0..T-1. */
static void rope_apply(const qz_model *m, float *x, int64_t T, int64_t n_heads)
{
    int64_t hd = m->cfg.head_dim, half = hd / 2;
    for (int64_t t = 0; t < T; t++) {
        const float *cs = m->rope_cos + t * half, *sn = m->rope_sin + t * half;
        for (int64_t h = 0; h < n_heads; h++) {
            float *v = x + (t * n_heads + h) * hd;
            for (int64_t i = 0; i < half; i++) {
                float a = v[i], b = v[i + half];
                v[i] = a * cs[i] - b * sn[i];
                v[i + half] = b * cs[i] + a * sn[i];
            }
        }
    }
}

/* exp(x) for x <= 0 without libm's special-case paths: x = n ln2 + r with
 * |r| <= ln2/2, exp(r) by Cephes' degree-6 minimax polynomial (max error
 * about 2 ulp), 2^n added into the exponent bits. x < -87 gives exp(-87)
 * (1.6e-38), not 0: irrelevant next to the row maximum's exp(0) = 1.
 * Its reference is expf; test_model compares the two. */
static inline float exp_nonpos(float x)
{
    if (isnan(x)) return x; /* NaN scores stay NaN: the caller must see them */
    x = x < -87.0f ? -87.0f : x;
    float t = x * 1.44269504f + 12582912.0f; /* 1.5*2^23: round to nearest integer */
    float n = t - 12582912.0f;
    float r = x - n * 0.693359375f - n * -2.12194440e-4f;
    float z = r * r;
    float p = (((((1.9875691500e-4f * r + 1.3981999507e-3f) * r + 8.3334519073e-3f) * r + 4.1665795894e-2f) * r +
                1.6666665459e-1f) * r + 5.0000001201e-1f) * z + r + 1.0f;
    int32_t bits;
    memcpy(&bits, &p, sizeof bits);
    bits += (int32_t)n * (1 << 23);
    memcpy(&p, &bits, sizeof p);
    return p;
}

void qz_exp_nonpos_row(float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) x[i] = exp_nonpos(x[i]);
}

/* Row-wise causal softmax of scores (T, T) in place; entries outside
 * [t - window + 1, t] become 0. window 0 = unlimited. */
static void causal_softmax(float *scores, int64_t T, int64_t window)
{
    for (int64_t t = 0; t < T; t++) {
        float *row = scores + t * T;
        int64_t lo = window > 0 && t >= window ? t - window + 1 : 0, n = t + 1 - lo;
        float mx = -INFINITY;
        for (int64_t j = lo; j <= t; j++) mx = row[j] > mx ? row[j] : mx;
        float *seg = row + lo;
        for (int64_t j = 0; j < n; j++) seg[j] -= mx;
        qz_exp_nonpos_row(seg, n);
        float sum = 0;
        for (int64_t j = 0; j < n; j++) sum += seg[j];
        float inv = 1.0f / sum;
        for (int64_t j = 0; j < n; j++) seg[j] *= inv;
        memset(row, 0, (size_t)lo * sizeof(float));
        memset(row + t + 1, 0, (size_t)(T - t - 1) * sizeof(float));
    }
}

/* s->att (T, n_heads*head_dim) = softmax(QK^T/sqrt(d)) V per head, K/V
 * shared by n_heads/n_kv_heads query heads. */
static void attention(const qz_model *m, int64_t T, qz_scratch *s)
{
    const qz_model_config *c = &m->cfg;
    int64_t hd = c->head_dim, qd = c->n_heads * hd, kvd = c->n_kv_heads * hd, group = c->n_heads / c->n_kv_heads;
    float scale = (float)(1.0 / sqrt((double)hd));
    for (int64_t h = 0; h < c->n_heads; h++) {
        int64_t g = h / group;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, (int)T, (int)hd, scale, s->q + h * hd, (int)qd,
                    s->k + g * hd, (int)kvd, 0.0f, s->scores, (int)T);
        causal_softmax(s->scores, T, c->sliding_window);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)T, (int)hd, (int)T, 1.0f, s->scores, (int)T,
                    s->v + g * hd, (int)kvd, 0.0f, s->att + h * hd, (int)qd);
    }
}

static void observe(const qz_observer *obs, const qz_layer *L, qz_site site, const float *x, int64_t T)
{
    if (obs && obs->fn) obs->fn(obs->ctx, L, site, x, T);
}

static void add_into(float *x, const float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) x[i] += y[i];
}

/* x (T, dim) as the linears see it: itself, or its fake-quantized copy in
 * s->xq when the model simulates activation quantization. */
static const float *linear_input(const qz_model *m, qz_scratch *s, const float *x, int64_t T, int64_t dim)
{
    if (!m->sim.act_bits) return x;
    memcpy(s->xq, x, (size_t)(T * dim) * sizeof(float));
    qz_fake_quant_sym(s->xq, T, dim, m->sim.act_bits, m->sim.act_gran, NULL, NULL);
    return s->xq;
}

void qz_attention_block(const qz_model *m, const qz_layer *L, const float *xn, int64_t T, qz_scratch *s, float *out,
                        const qz_observer *obs)
{
    const qz_model_config *c = &m->cfg;
    QZ_ASSERT(T <= s->max_T && T <= m->rope_len);
    const float *xin = linear_input(m, s, xn, T, c->hidden);
    qz_linear_apply(&L->lin[QZ_LIN_Q], xin, T, s->q);
    qz_linear_apply(&L->lin[QZ_LIN_K], xin, T, s->k);
    qz_linear_apply(&L->lin[QZ_LIN_V], xin, T, s->v);
    rope_apply(m, s->q, T, c->n_heads);
    rope_apply(m, s->k, T, c->n_kv_heads);
    attention(m, T, s);
    observe(obs, L, QZ_SITE_O_IN, s->att, T);
    qz_linear_apply(&L->lin[QZ_LIN_O], linear_input(m, s, s->att, T, c->n_heads * c->head_dim), T, out);
}

void qz_mlp_block(const qz_model *m, const qz_layer *L, const float *xn, int64_t T, qz_scratch *s, float *out,
                  const qz_observer *obs)
{
    int64_t ff = m->cfg.intermediate;
    QZ_ASSERT(T <= s->max_T);
    const float *xin = linear_input(m, s, xn, T, m->cfg.hidden);
    qz_linear_apply(&L->lin[QZ_LIN_GATE], xin, T, s->gate);
    qz_linear_apply(&L->lin[QZ_LIN_UP], xin, T, s->up);
    for (int64_t i = 0; i < T * ff; i++) {
        float g = s->gate[i];
        s->gate[i] = g / (1.0f + expf(-g)) * s->up[i];
    }
    observe(obs, L, QZ_SITE_DOWN_IN, s->gate, T);
    qz_linear_apply(&L->lin[QZ_LIN_DOWN], linear_input(m, s, s->gate, T, ff), T, out);
}

void qz_layer_forward(const qz_model *m, const qz_layer *L, float *x, int64_t T, qz_scratch *s, const qz_observer *obs)
{
    const qz_model_config *c = &m->cfg;
    int64_t d = c->hidden;
    qz_rmsnorm(s->xn, x, L->attn_norm, T, d, c->rms_eps);
    observe(obs, L, QZ_SITE_ATTN_IN, s->xn, T);
    qz_attention_block(m, L, s->xn, T, s, s->out, obs);
    add_into(x, s->out, T * d);
    qz_rmsnorm(s->xn, x, L->mlp_norm, T, d, c->rms_eps);
    observe(obs, L, QZ_SITE_MLP_IN, s->xn, T);
    qz_mlp_block(m, L, s->xn, T, s, s->out, obs);
    add_into(x, s->out, T * d);
}

void qz_model_embed(const qz_model *m, const int32_t *tokens, int64_t T, float *x)
{
    int64_t d = m->cfg.hidden;
    for (int64_t t = 0; t < T; t++) {
        QZ_ASSERT(tokens[t] >= 0 && tokens[t] < m->cfg.vocab);
        memcpy(x + t * d, m->embed + (int64_t)tokens[t] * d, (size_t)d * sizeof(float));
    }
}

void qz_model_head(const qz_model *m, float *x, int64_t T, float *logits)
{
    const qz_model_config *c = &m->cfg;
    qz_rmsnorm(x, x, m->final_norm, T, c->hidden, c->rms_eps);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, (int)c->vocab, (int)c->hidden, 1.0f, x, (int)c->hidden,
                m->lm_head, (int)c->hidden, 0.0f, logits, (int)c->vocab);
}
