/* SPDX-License-Identifier: MIT */
/*
 * Image specs as operators type them: POOL/[NAMESPACE/]IMAGE[@SNAP].
 * The parts also become path components under /dev/pvenc, so they are validated
 * strictly: no '/', '@', control characters, whitespace, or "." / "..".
 */
#ifndef PVENC_UTIL_IMAGESPEC_H
#define PVENC_UTIL_IMAGESPEC_H

#include <stddef.h>

/* Ceph limits object-name based identifiers well below this; names longer than a
 * path component cannot become /dev/pvenc symlinks anyway. */
#define SPEC_NAME_MAX 255
/* POOL/[NS/]IMAGE[@SNAP] as text, with room for every part at its longest. */
#define SPEC_STR_MAX (4 * (SPEC_NAME_MAX + 1))

struct image_spec {
	char pool[SPEC_NAME_MAX + 1];
	char ns[SPEC_NAME_MAX + 1]; /* "" for the default namespace */
	char image[SPEC_NAME_MAX + 1];
	char snap[SPEC_NAME_MAX + 1]; /* "" when not a snapshot */
};

/* 0, or -EINVAL for a malformed spec and -ENAMETOOLONG for an oversize part. */
int image_spec_parse(const char *s, struct image_spec *out);
/* Canonical text form into buf; -ENOSPC if it does not fit. */
int image_spec_format(const struct image_spec *spec, char *buf, size_t len);
/* 0 if @name is valid as one spec component, else -EINVAL / -ENAMETOOLONG. */
int image_spec_check_name(const char *name, size_t len);

#endif
