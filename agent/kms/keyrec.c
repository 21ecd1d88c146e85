// SPDX-License-Identifier: MIT
#include "kms/keyrec.h"

#include <errno.h>
#include <string.h>

#include "util/secmem.h"

#define KEYREC_DEK_MAX 256

/* One length-prefixed name at *p; advances *p. */
static int take_name(const uint8_t **p, const uint8_t *end, const char **s, size_t *n)
{
	if (*p >= end)
		return -EBADMSG;
	*n = **p;
	(*p)++;
	if (*n == 0 || *n > (size_t)(end - *p) || memchr(*p, '\0', *n))
		return -EBADMSG;
	*s = (const char *)*p;
	*p += *n;
	return 0;
}

int keyrec_parse(const uint8_t *buf, size_t len, struct keyrec *rec)
{
	const uint8_t *p = buf + KEYREC_MAGIC_LEN, *end = buf + len;

	if (len < KEYREC_MAGIC_LEN || memcmp(buf, KEYREC_MAGIC, KEYREC_MAGIC_LEN) != 0)
		return 0;
	if (take_name(&p, end, &rec->scope, &rec->scope_len) < 0 ||
	    take_name(&p, end, &rec->image, &rec->image_len) < 0)
		return -EBADMSG;
	rec->dek = p;
	rec->dek_len = (size_t)(end - p);
	if (rec->dek_len == 0 || rec->dek_len > KEYREC_DEK_MAX)
		return -EBADMSG;
	return 1;
}

/* Bytes, not strings: the record has no terminators. */
static uint8_t *put(uint8_t *p, const void *src, size_t n)
{
	memcpy(p, src, n);
	return p + n;
}

int keyrec_build(const char *scope, const char *image, const uint8_t *dek, size_t deklen,
		 uint8_t **out, size_t *outlen)
{
	size_t sl = scope ? strlen(scope) : 0, il = image ? strlen(image) : 0;
	uint8_t *b, *p;

	if (!sl || sl > KEYREC_NAME_MAX || !il || il > KEYREC_NAME_MAX || !deklen ||
	    deklen > KEYREC_DEK_MAX)
		return -EINVAL;
	*outlen = KEYREC_MAGIC_LEN + 1 + sl + 1 + il + deklen;
	b = secmem_alloc(*outlen);
	if (!b)
		return -ENOMEM;
	p = put(b, KEYREC_MAGIC, KEYREC_MAGIC_LEN);
	*p++ = (uint8_t)sl;
	p = put(p, scope, sl);
	*p++ = (uint8_t)il;
	p = put(p, image, il);
	(void)put(p, dek, deklen);
	*out = b;
	return 0;
}

int keyrec_scope_is(const struct keyrec *rec, const char *s)
{
	return strlen(s) == rec->scope_len && !memcmp(rec->scope, s, rec->scope_len);
}

int keyrec_image_is(const struct keyrec *rec, const char *s)
{
	return strlen(s) == rec->image_len && !memcmp(rec->image, s, rec->image_len);
}
