/* model_tokenizer.h - the tokenizer of a model, whatever holds it: a Hugging
 * Face directory (tokenizer.json, tokenizer_config.json) or a GGUF file (its
 * tokenizer metadata, converted by formats/gguf_tokenizer.h). Every tool
 * that tokenizes, and the exporter that writes tokenizer files, go through
 * here, so a GGUF model tokenizes the same way everywhere.
 */
#ifndef QZ_MODEL_TOKENIZER_H
#define QZ_MODEL_TOKENIZER_H

#include <cJSON.h>

#include "tokenizer.h"

/* Opens model's tokenizer: for a GGUF (qz_gguf_model_file), from its
 * metadata; else model/tokenizer.json and, when present,
 * model/tokenizer_config.json. *out as qz_tokenizer_load. Errors: those of
 * the GGUF reader, the converter and the tokenizer loader (QZ_EINPUT for a
 * missing or bad file, naming it). */
int qz_tokenizer_open_model(qz_tokenizer **out, const char *model, qz_error *err);

/* For a GGUF model: *is_gguf = 1 and its tokenizer as tokenizer.json and
 * tokenizer_config.json objects (caller owns both). For a Hugging Face
 * directory: *is_gguf = 0 and both NULL (its files are the tokenizer). */
int qz_model_tokenizer_json(const char *model, int *is_gguf, cJSON **tokenizer_json, cJSON **tokenizer_config,
                            qz_error *err);

#endif
