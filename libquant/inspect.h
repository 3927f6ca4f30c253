/* inspect.h - what a model directory holds, read from config.json and the
 * safetensors headers without running the model (qz-eval --info): the
 * format and its quantization parameters, how every decoder linear is
 * stored, the linears left in floating point (cross-checked with the
 * config's lists), the exact zeros of the float-stored linears, and the true
 * bits per weight.
 *
 * A tensor belongs to a decoder linear when its name starts with
 * "model.layers.<i>.<linear>." (e.g. "model.layers.0.self_attn.q_proj."):
 * qweight, qzeros, scales, g_idx, weight, weight_scale, bias, compressed,
 * bitmask, shape, whatever the format stores. Bits per weight count every
 * stored byte of them, scales, zero points and g_idx included:
 *
 *   bpw_decoder = 8 * (bytes of the decoder linears' tensors)
 *                   / (sum over decoder linears of out * in)
 *   bpw_file    = 8 * (bytes of all tensors)
 *                   / (all logical parameters: embeddings, lm_head when not
 *                      tied, norms, linear weights and biases)
 *
 * Logical shapes come from config.json (qz_linear_in / qz_linear_out);
 * safetensors headers and padding are not tensor bytes. A GGUF file counts
 * its tensors' bytes as stored (the ggml blocks; header, metadata and
 * alignment padding not counted) and is reported per stored ggml type.
 * Zeros are counted on the mmap'ed float tensors (exact +0 and -0; one pass
 * over their bytes; GGUF: on the dequantized weights, one tensor at a
 * time); for 2:4-sparse linears they are the positions the bitmask drops
 * plus the stored values that are zero.
 *
 * Errors: whatever qz_hf_model_open reports (missing directory, no
 * config.json, bad safetensors: QZ_EINPUT), an unsupported
 * quantization_config, or a decoder linear without any weight tensor or with
 * a float weight of the wrong size (QZ_EINPUT naming the tensor).
 */
#ifndef QZ_INSPECT_H
#define QZ_INSPECT_H

#include "model.h"

/* The artifact's format. Values never reorder. */
typedef enum qz_info_format {
    QZ_INFO_FLOAT = 0,       /* F32 / F16 / BF16 weights, no quantization */
    QZ_INFO_GPTQ = 1,        /* GPTQ, checkpoint_format "gptq" (v1: z - 1 stored) */
    QZ_INFO_GPTQ_V2 = 2,     /* GPTQ, "gptq_v2" (raw z) */
    QZ_INFO_AWQ_GEMM = 3,    /* AutoAWQ GEMM */
    QZ_INFO_CT_INT = 4,      /* compressed-tensors int-quantized */
    QZ_INFO_CT_SPARSE24 = 5, /* compressed-tensors sparse-24-bitmask */
    QZ_INFO_GGUF = 6,        /* a GGUF file (llama.cpp), dequantized to F32 when loaded */
    QZ_INFO_FORMAT_COUNT
} qz_info_format;

/* How one decoder linear of one layer is stored. */
typedef enum qz_info_storage {
    QZ_STORE_FLOAT = 0,    /* weight F32/F16/BF16 (out, in) */
    QZ_STORE_PACKED = 1,   /* qweight (GPTQ or AWQ packing) */
    QZ_STORE_INT8 = 2,     /* weight I8 + weight_scale (compressed-tensors) */
    QZ_STORE_SPARSE24 = 3, /* compressed + bitmask (+ shape) */
    QZ_STORE_GGML = 4,     /* GGUF weight in a ggml block type (Q4_1, Q6_K, ...) */
    QZ_STORE_COUNT
} qz_info_storage;

/* "float", "packed", "int8", "sparse24", "ggml". */
const char *qz_info_storage_name(qz_info_storage s);

/* One linear (q_proj, ..., down_proj) over all layers. */
typedef struct qz_info_linear {
    int64_t out, in;                  /* logical weight shape */
    int64_t layers[QZ_STORE_COUNT];   /* layers storing it each way */
    int64_t listed_layers;            /* layers where a config list names it as not quantized */
    size_t bytes;                     /* all its tensors in all layers */
    int64_t float_weights;            /* logical weights of its FLOAT / SPARSE24 / GGML layers */
    int64_t zero_weights;             /* exact zeros among them */
    const char *stored_type;          /* type of its weight tensors in the file ("F16", "I32", "Q4_1", ...),
                                         "mixed" when layers differ (static string) */
} qz_info_linear;

/* Tensors of one stored type (a safetensors dtype or a ggml type). */
typedef struct qz_info_type {
    const char *type;                 /* static string */
    int64_t tensors, elems;           /* elems: logical values (dequantized count) */
    size_t bytes;                     /* their bytes in the file */
} qz_info_type;

#define QZ_INFO_MAX_TYPES 16

#define QZ_INFO_MAX_WARN (3 * QZ_LIN_COUNT + 4)
#define QZ_INFO_WARN_LEN 240

typedef struct qz_info {
    qz_info_format format;
    const char *quant_method;  /* "gptq", "awq", "compressed-tensors" or NULL (static string) */
    qz_dtype float_dtype;      /* of model.embed_tokens.weight */
    int quantized;             /* 1 for GPTQ / AWQ / int-quantized: the fields below apply */
    int bits;                  /* weight bits; the float width (compressed values for 2:4) otherwise */
    int64_t group_size;        /* > 0 groups, -1 per output channel, 0 per tensor */
    int sym;                   /* symmetric grid (AWQ: no zero point) */
    int desc_act;              /* act-order (GPTQ only; 0 elsewhere) */
    qz_model_config cfg;
    qz_info_linear lin[QZ_LIN_COUNT];
    int64_t n_tensors;
    size_t tensor_bytes;       /* every tensor of every shard */
    size_t decoder_bytes;      /* tensors of decoder linears */
    int64_t decoder_weights;   /* sum over decoder linears of out * in */
    int64_t params;            /* all logical parameters */
    int64_t float_weights;     /* decoder-linear weights stored as float (dense or 2:4) or ggml blocks */
    int64_t zero_weights;      /* exact zeros among them */
    double bpw_decoder, bpw_file;
    int gguf_version;          /* GGUF: the file's version */
    int n_types;               /* distinct stored types, in order of first appearance */
    qz_info_type types[QZ_INFO_MAX_TYPES];
    int n_warnings;            /* config lists vs storage disagreements, ignored list entries */
    char warnings[QZ_INFO_MAX_WARN][QZ_INFO_WARN_LEN];
} qz_info;

/* "fp32", "fp16", "bf16", "gptq", "gptq_v2", "awq_gemm", "ct_int_quantized",
 * "ct_sparse24_bitmask", "gguf". */
const char *qz_info_format_name(const qz_info *info);

/* Inspects dir into *info (no tensor bytes are read but those of float and
 * 2:4-sparse decoder linears, for the zero count). */
int qz_inspect_dir(qz_info *info, const char *dir, qz_error *err);

/* The --json object (schema in README.md "qz-eval --info"); dir is echoed as
 * "model". Caller owns it (cJSON_Delete); NULL when memory runs out. */
cJSON *qz_inspect_json(const qz_info *info, const char *dir);

/* The human summary, lines ending in '\n'; malloc'd (free), NULL when memory
 * runs out. */
char *qz_inspect_text(const qz_info *info, const char *dir);

#endif
