/* SPDX-License-Identifier: MIT */
#ifndef PVENC_UTIL_FILEIO_H
#define PVENC_UTIL_FILEIO_H

#include <stddef.h>
#include <stdint.h>

/* Whole file into a NUL-terminated malloc buffer; -EFBIG past @max bytes. */
int read_file(const char *path, size_t max, char **ret, size_t *len);
/* A secret file (KEK, passphrase, PIN) into secmem. Refuses files that others could
 * read or write (group/other bits) or that are not owned by us or root: -EPERM. */
int read_secret_file(const char *path, size_t max, uint8_t **ret, size_t *len);
/* One line of a sysfs-style file, newline stripped, into buf. */
int read_line(const char *path, char *buf, size_t len);
/* All @len bytes to or from @fd, through short writes and reads and EINTR; a read that
 * meets the end of the file first gives -ENODATA. */
int fd_write_all(int fd, const void *buf, size_t len);
int fd_read_all(int fd, void *buf, size_t len);

#endif
