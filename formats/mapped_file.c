/* mapped_file.c - read-only whole-file mappings (see mapped_file.h). */
#include "mapped_file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int qz_map_readonly(const char *path, size_t min_size, const char *what, void **map, size_t *size, qz_error *err)
{
    *map = NULL;
    *size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return qz_fail(err, QZ_EINPUT, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    int rc = QZ_OK;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) rc = qz_fail(err, QZ_EINPUT, "%s: not a regular file", path);
    else if ((size_t)st.st_size < min_size)
        rc = qz_fail(err, QZ_EINPUT, "%s: file is %lld bytes, too short for %s (%zu bytes)", path, (long long)st.st_size, what,
                     min_size);
    if (rc == QZ_OK) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) rc = qz_fail(err, QZ_EINTERNAL, "%s: mmap failed: %s", path, strerror(errno));
        else *map = m, *size = (size_t)st.st_size;
    }
    close(fd);
    return rc;
}
