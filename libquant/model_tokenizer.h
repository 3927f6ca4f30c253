/* model_tokenizer.h - the tokenizer of a model, whatever holds it: a Hugging
 * Face directory (tokenizer.json, tokenizer_config.json) or a GGUF file (its
 * tokenizer metadata, converted by formats/gguf_tokenizer.h). Every tool
 * that tokenizes goes through here, so a GGUF model tokenizes the same way
 * everywhere; libquant/export.c writes the same conversion as the output's
 * tokenizer files.
 */
#ifndef QZ_MODEL_TOKENIZER_H
#define QZ_MODEL_TOKENIZER_H

#include "tokenizer.h"

/* Opens model's tokenizer. model is what the tools take: a directory with
 * tokenizer.json (and, when present, tokenizer_config.json) is read as
 * such; otherwise the GGUF qz_hf_model_locate finds (a .gguf file, or the
 * one *.gguf of a directory without config.json) gives it from its
 * metadata. *out as qz_tokenizer_load. Errors: those of qz_hf_model_locate,
 * the GGUF reader, the converter and the tokenizer loader (QZ_EINPUT for a
 * missing or bad file, naming it). */
int qz_tokenizer_open_model(qz_tokenizer **out, const char *model, qz_error *err);

#endif
