// SPDX-License-Identifier: MIT
#include "util/imagespec.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int image_spec_check_name(const char *name, size_t len)
{
	if (len == 0)
		return -EINVAL;
	if (len > SPEC_NAME_MAX)
		return -ENAMETOOLONG;
	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c <= 0x20 || c == 0x7f || c == '/' || c == '@')
			return -EINVAL;
	}
	return 0;
}

static int copy_part(char *dst, const char *src, size_t len)
{
	int r = image_spec_check_name(src, len);

	if (r < 0)
		return r;
	memcpy(dst, src, len);
	dst[len] = '\0';
	return 0;
}

int image_spec_parse(const char *s, struct image_spec *out)
{
	const char *slash1, *slash2, *img, *at;
	struct image_spec spec = { 0 };
	int r;

	if (!s || !out)
		return -EINVAL;

	slash1 = strchr(s, '/');
	if (!slash1)
		return -EINVAL; /* the pool is required: no implicit "rbd" */
	r = copy_part(spec.pool, s, (size_t)(slash1 - s));
	if (r < 0)
		return r;

	img = slash1 + 1;
	slash2 = strchr(img, '/');
	if (slash2) {
		r = copy_part(spec.ns, img, (size_t)(slash2 - img));
		if (r < 0)
			return r;
		img = slash2 + 1;
		if (strchr(img, '/'))
			return -EINVAL;
	}

	at = strchr(img, '@');
	if (at) {
		r = copy_part(spec.image, img, (size_t)(at - img));
		if (r < 0)
			return r;
		r = copy_part(spec.snap, at + 1, strlen(at + 1));
		if (r < 0)
			return r;
	} else {
		r = copy_part(spec.image, img, strlen(img));
		if (r < 0)
			return r;
	}

	*out = spec;
	return 0;
}

int image_spec_format(const struct image_spec *spec, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s%s%s%s%s", spec->pool, spec->ns, spec->ns[0] ? "/" : "",
			 spec->image, spec->snap[0] ? "@" : "", spec->snap);

	if (n < 0 || (size_t)n >= len)
		return -ENOSPC;
	return 0;
}
