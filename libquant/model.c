/* model.c - LLaMA-family decoder forward pass in FP32 (Touvron et al. 2023;
 * Hugging Face transformers' LlamaForCausalLM conventions): RMSNorm, RoPE in
 * the rotate-half convention with optional llama3 frequency scaling,
 * grouped-query causal attention (optional sliding window), SwiGLU MLP.
 * Several sequences run at once: every linear is one sgemm over all their
 * rows; attention and the elementwise ops are the kernels of kernels.c
 * (flash-style tiles, vectorized, threaded). Leaves out: KV caching and
 * token-by-token generation, biases on o_proj. */
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

/* t's dtype and shape (ndim entries of want) against what config.json
 * implies; checked before anything is allocated for it. */
static int check_tensor(const qz_st_tensor *t, int ndim, const int64_t *want, qz_error *err)
{
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == want[i];
    if (!same) {
        char got[128] = "", exp[128] = "";
        for (int i = 0; i < t->ndim; i++) snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? "," : "", (long long)t->shape[i]);
        for (int i = 0; i < ndim; i++) snprintf(exp + strlen(exp), sizeof exp - strlen(exp), "%s%lld", i ? "," : "", (long long)want[i]);
        return qz_fail(err, QZ_EINPUT, "tensor '%s': shape [%s], config.json implies [%s]", t->name, got, exp);
    }
    if (t->dtype != QZ_DTYPE_F32 && t->dtype != QZ_DTYPE_F16 && t->dtype != QZ_DTYPE_BF16)
        return qz_fail(err, QZ_EINPUT, "tensor '%s': dtype %s, expected F32, F16 or BF16", t->name, qz_dtype_name(t->dtype));
    return QZ_OK;
}

/* t (checked) as FP32 into dst. */
static int tensor_to_f32(const qz_st_tensor *t, float *dst, qz_error *err)
{
    if (t->dtype == QZ_DTYPE_F32) {
        memcpy(dst, t->data, t->nbytes);
        return QZ_OK;
    }
    void *copy;
    const uint16_t *h = qz_st_aligned_data(t, 2, &copy);
    if (!h) return qz_fail(err, QZ_EINTERNAL, "out of memory reading '%s'", t->name);
    if (t->dtype == QZ_DTYPE_F16) qz_fp16_to_fp32_row(h, dst, t->numel);
    else qz_bf16_to_fp32_row(h, dst, t->numel);
    free(copy);
    return QZ_OK;
}

/* Every tensor a tool computes with passes here once loaded: NaN/Inf in a
 * checkpoint is bad input, reported with its place, never a NaN result. */
static int check_finite(const char *name, const float *x, int64_t n, qz_error *err)
{
    int64_t at = qz_first_nonfinite(x, n);
    return at < 0 ? QZ_OK
                  : qz_fail(err, QZ_EINPUT, "tensor '%s': element %lld is %g (NaN/Inf in the checkpoint)", name, (long long)at,
                            (double)x[at]);
}

/* Allocates and loads name (shape want) as FP32. The shape is checked on
 * the header entry, before a GGUF tensor's dequantized copy is allocated. */
static int load_f32(qz_hf_model *hf, const char *name, int ndim, const int64_t *want, float **out, qz_error *err)
{
    *out = NULL;
    qz_st_tensor *t = qz_hf_model_find(hf, name);
    int rc = t ? check_tensor(t, ndim, want, err) : QZ_OK;
    if (rc == QZ_OK) rc = qz_hf_model_get(hf, name, &t, err);
    if (rc) return rc;
    *out = qz_malloc_array((size_t)t->numel, sizeof(float));
    rc = *out ? tensor_to_f32(t, *out, err) : qz_fail(err, QZ_EINTERNAL, "out of memory loading '%s'", name);
    qz_hf_model_release(hf, t); /* GGUF: drop the dequantized copy */
    if (rc == QZ_OK) rc = check_finite(name, *out, t->numel, err);
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

/* Bytes of the tensors named "<lin>.*" (a packed linear's qweight, scales,
 * ...). Every packed layout spends at least 2 bits per weight (GPTQ 2-bit;
 * sparse-24 keeps half the weights at 16), so fewer bytes than out*in/4
 * cannot hold the linear: that is refused before the out*in floats are
 * allocated, bounding the allocation by the file's real size. */
static int64_t packed_bytes(const qz_hf_model *hf, const char *lin)
{
    size_t n = strlen(lin);
    int64_t bytes = 0;
    for (int f = 0; f < hf->n_files; f++)
        for (int64_t i = 0; i < hf->files[f]->n_tensors; i++) {
            const qz_st_tensor *t = &hf->files[f]->tensors[i];
            if (!strncmp(t->name, lin, n) && t->name[n] == '.') bytes += (int64_t)t->nbytes;
        }
    return bytes;
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
        int64_t n, have = packed_bytes(m->hf, lin);
        QZ_ASSERT(qz_mul_overflow(l->out, l->in, &n) == 0); /* config limits (hf_model.h) bound it */
        if (have < n / 4) return qz_fail(err, QZ_EINPUT, "%s: %lld bytes of packed tensors cannot hold [%lld, %lld] weights", lin,
                                         (long long)have, (long long)l->out, (long long)l->in);
        l->w = qz_malloc_array((size_t)n, sizeof(float));
        rc = l->w ? read_packed(m, lin, l->out, l->in, l->w, err) : qz_fail(err, QZ_EINTERNAL, "out of memory loading %s", lin);
        if (rc == QZ_OK) rc = check_finite(lin, l->w, n, err);
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
    int64_t max_rows;
    int workers;   /* attention tile buffers */
    float *xn;     /* (rows, hidden) normed input */
    float *q;      /* (rows, n_heads*head_dim) */
    float *k, *v;  /* (rows, n_kv_heads*head_dim) */
    float *att;    /* (rows, n_heads*head_dim) attention output */
    float *gate;   /* (rows, intermediate) */
    float *up;     /* (rows, intermediate) */
    float *out;    /* (rows, hidden) block output before the residual add */
    float *xq;     /* (rows, max input width) fake-quantized linear input */
    float *work;   /* (workers, qz_attention_work) */
};

int qz_scratch_new(qz_scratch **out, const qz_model_config *c, int64_t rows, qz_error *err)
{
    int64_t qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim;
    int64_t widest = c->intermediate > qd ? c->intermediate : qd;
    widest = widest > c->hidden ? widest : c->hidden;
    int workers = qz_threads();
    qz_attn_shape sh = {1, 1, c->n_heads, c->n_kv_heads, c->head_dim, 0};
    int64_t sizes[] = {rows * c->hidden, rows * qd, rows * kvd, rows * kvd, rows * qd, rows * c->intermediate,
                       rows * c->intermediate, rows * c->hidden, rows * widest, workers * qz_attention_work(&sh)};
    int64_t total = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) total += sizes[i];
    qz_scratch *s = calloc(1, sizeof *s);
    float *mem = qz_malloc_array((size_t)total, sizeof(float));
    if (!s || !mem) {
        free(s);
        free(mem);
        return qz_fail(err, QZ_EINTERNAL, "out of memory for activations of %lld tokens", (long long)rows);
    }
    float **ptrs[] = {&s->xn, &s->q, &s->k, &s->v, &s->att, &s->gate, &s->up, &s->out, &s->xq, &s->work};
    for (size_t i = 0; i < sizeof ptrs / sizeof *ptrs; i++) {
        *ptrs[i] = mem;
        mem += sizes[i];
    }
    s->max_rows = rows;
    s->workers = workers;
    *out = s;
    return QZ_OK;
}

void qz_scratch_free(qz_scratch *s)
{
    if (!s) return;
    free(s->xn); /* the one allocation */
    free(s);
}

int64_t qz_scratch_rows(const qz_scratch *s) { return s->max_rows; }

void qz_linear_apply(const qz_linear *l, const float *x, int64_t T, float *y)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, (int)l->out, (int)l->in, 1.0f, x, (int)l->in, l->w,
                (int)l->in, 0.0f, y, (int)l->out);
    if (l->bias)
        for (int64_t t = 0; t < T; t++)
            for (int64_t o = 0; o < l->out; o++) y[t * l->out + o] += l->bias[o];
}

void qz_observe(const qz_observer *obs, const qz_layer *L, qz_site site, const float *x, int64_t n_seq, int64_t T, int64_t dim)
{
    if (obs && obs->fn)
        for (int64_t i = 0; i < n_seq; i++) obs->fn(obs->ctx, L, site, x + i * T * dim, T);
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

/* out = o_proj(the attention output in s->att). */
static void attention_out(const qz_model *m, const qz_layer *L, int64_t rows, qz_scratch *s, float *out)
{
    int64_t qd = m->cfg.n_heads * m->cfg.head_dim;
    qz_linear_apply(&L->lin[QZ_LIN_O], linear_input(m, s, s->att, rows, qd), rows, out);
}

/* out = down_proj(the SwiGLU output in s->gate). */
static void mlp_out(const qz_model *m, const qz_layer *L, int64_t rows, qz_scratch *s, float *out)
{
    qz_linear_apply(&L->lin[QZ_LIN_DOWN], linear_input(m, s, s->gate, rows, m->cfg.intermediate), rows, out);
}

void qz_attention_block(const qz_model *m, const qz_layer *L, const float *xn, int64_t n_seq, int64_t T, qz_scratch *s,
                        float *out, const qz_observer *obs)
{
    const qz_model_config *c = &m->cfg;
    int64_t rows = n_seq * T, qd = c->n_heads * c->head_dim;
    QZ_ASSERT(rows <= s->max_rows && T <= m->rope_len);
    const float *xin = linear_input(m, s, xn, rows, c->hidden);
    qz_linear_apply(&L->lin[QZ_LIN_Q], xin, rows, s->q);
    qz_linear_apply(&L->lin[QZ_LIN_K], xin, rows, s->k);
    qz_linear_apply(&L->lin[QZ_LIN_V], xin, rows, s->v);
    qz_rope(s->q, n_seq, T, c->n_heads, c->head_dim, m->rope_cos, m->rope_sin);
    qz_rope(s->k, n_seq, T, c->n_kv_heads, c->head_dim, m->rope_cos, m->rope_sin);
    qz_attn_shape sh = {n_seq, T, c->n_heads, c->n_kv_heads, c->head_dim, c->sliding_window};
    qz_attention(&sh, s->q, s->k, s->v, s->att, s->work, s->workers);
    qz_observe(obs, L, QZ_SITE_O_IN, s->att, n_seq, T, qd);
    if (out) attention_out(m, L, rows, s, out);
}

void qz_mlp_block(const qz_model *m, const qz_layer *L, const float *xn, int64_t n_seq, int64_t T, qz_scratch *s, float *out,
                  const qz_observer *obs)
{
    int64_t ff = m->cfg.intermediate, rows = n_seq * T;
    QZ_ASSERT(rows <= s->max_rows);
    const float *xin = linear_input(m, s, xn, rows, m->cfg.hidden);
    qz_linear_apply(&L->lin[QZ_LIN_GATE], xin, rows, s->gate);
    qz_linear_apply(&L->lin[QZ_LIN_UP], xin, rows, s->up);
    qz_swiglu(s->gate, s->up, rows * ff);
    qz_observe(obs, L, QZ_SITE_DOWN_IN, s->gate, n_seq, T, ff);
    if (out) mlp_out(m, L, rows, s, out);
}

float *qz_scratch_site_input(qz_scratch *s, qz_site site)
{
    return site == QZ_SITE_O_IN ? s->att : site == QZ_SITE_DOWN_IN ? s->gate : s->xn;
}

/* The two halves of a layer: the site of the normed input, the site of the
 * last projection's input, the norm, the block up to that input, the last
 * projection. */
typedef void (*block_fn)(const qz_model *m, const qz_layer *L, const float *xn, int64_t n_seq, int64_t T, qz_scratch *s,
                         float *out, const qz_observer *obs);
typedef void (*proj_fn)(const qz_model *m, const qz_layer *L, int64_t rows, qz_scratch *s, float *out);

void qz_layer_forward_part(const qz_model *m, const qz_layer *L, float *x, int64_t n_seq, int64_t T, qz_scratch *s,
                           qz_site from, qz_site stop, const qz_observer *obs)
{
    const qz_model_config *c = &m->cfg;
    int64_t d = c->hidden, rows = n_seq * T;
    int given = from == QZ_SITE_O_IN || from == QZ_SITE_DOWN_IN; /* that input is in the scratch */
    QZ_ASSERT(rows <= s->max_rows && from < QZ_SITE_COUNT && (given ? stop > from : stop >= from));
    const struct {
        qz_site in, last;
        const float *norm;
        block_fn block;
        proj_fn proj;
    } half[2] = {{QZ_SITE_ATTN_IN, QZ_SITE_O_IN, L->attn_norm, qz_attention_block, attention_out},
                 {QZ_SITE_MLP_IN, QZ_SITE_DOWN_IN, L->mlp_norm, qz_mlp_block, mlp_out}};
    for (int h = 0; h < 2; h++) {
        if (from > half[h].last) continue;
        if (from <= half[h].in) {
            qz_rmsnorm(s->xn, x, half[h].norm, rows, d, c->rms_eps);
            qz_observe(obs, L, half[h].in, s->xn, n_seq, T, d);
            if (stop == half[h].in) return;
            half[h].block(m, L, s->xn, n_seq, T, s, NULL, obs);
            if (stop == half[h].last) return;
        }
        half[h].proj(m, L, rows, s, s->out);
        qz_add(x, s->out, rows * d);
    }
}

void qz_layer_forward(const qz_model *m, const qz_layer *L, float *x, int64_t n_seq, int64_t T, qz_scratch *s,
                      const qz_observer *obs)
{
    qz_layer_forward_part(m, L, x, n_seq, T, s, QZ_SITE_ATTN_IN, QZ_SITE_COUNT, obs);
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
