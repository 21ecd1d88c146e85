// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: image metadata, which anyone with pool write access can set. The
 * input is "key\0value\0key\0value..." standing for an image's key/value pairs.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/rbdmeta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct blob {
	const char *buf;
	size_t len;
};

static int get(void *ctx, const char *key, char **value)
{
	const struct blob *b = ctx;
	size_t pos = 0;

	while (pos < b->len) {
		const char *k = b->buf + pos, *v;
		size_t kl = strnlen(k, b->len - pos), vl;

		pos += kl + 1;
		if (pos >= b->len)
			break;
		v = b->buf + pos;
		vl = strnlen(v, b->len - pos);
		pos += vl + 1;
		if (kl == strlen(key) && !memcmp(k, key, kl)) {
			*value = strndup(v, vl);
			return *value ? 0 : -ENOMEM;
		}
	}
	return -ENOENT;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct blob b = { (const char *)data, size };
	struct vol_meta m;
	char err[256];

	memset(&m, 0, sizeof(m));
	if (vol_meta_read(get, &b, &m, err, sizeof(err)) == 0) {
		(void)vol_state_name(m.state);
		(void)vol_kind_name(m.kind);
	}
	vol_meta_clear(&m);
	return 0;
}
