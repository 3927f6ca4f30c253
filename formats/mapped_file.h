/* mapped_file.h - a whole file mapped read-only, the way every qz reader of
 * untrusted bytes opens its input (safetensors, GGUF). */
#ifndef QZ_MAPPED_FILE_H
#define QZ_MAPPED_FILE_H

#include "qz_common.h"

/* Maps path read-only into *map (*size bytes; release with munmap). what
 * names the smallest valid content for the message, e.g. "a GGUF header".
 * QZ_EINPUT when path cannot be opened, is not a regular file or is shorter
 * than min_size bytes; QZ_EINTERNAL when mmap fails. *map is NULL on failure. */
int qz_map_readonly(const char *path, size_t min_size, const char *what, void **map, size_t *size, qz_error *err);

#endif
