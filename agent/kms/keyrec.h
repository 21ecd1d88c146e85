/* SPDX-License-Identifier: MIT */
/*
 * What a KMS that keeps DEKs (vault-kv, KMIP register) stores for a pvenc volume since
 * binding v2: the DEK together with its owner, the pool[/namespace] and the image id it
 * was made for. The KMS is the one place a pool writer cannot edit, so the owner kept
 * there decides who may fetch, replace and remove the key.
 *   "pvenc-k1" | u8 scope length | scope | u8 image id length | image id | DEK
 * A stored value without the magic is a bare DEK kept by an earlier pvenc (no owner).
 */
#ifndef PVENC_KMS_KEYREC_H
#define PVENC_KMS_KEYREC_H

#include <stddef.h>
#include <stdint.h>

#define KEYREC_MAGIC	 "pvenc-k1"
#define KEYREC_MAGIC_LEN 8
#define KEYREC_NAME_MAX	 255

/* A parsed record: the fields point into the buffer parsed. */
struct keyrec {
	const char *scope;
	size_t scope_len;
	const char *image;
	size_t image_len;
	const uint8_t *dek;
	size_t dek_len;
};

/* 1 and @rec filled for a record, 0 for a bare DEK, -EBADMSG for a malformed record. */
int keyrec_parse(const uint8_t *buf, size_t len, struct keyrec *rec);
/* The record of @dek for @scope and @image: *out is secmem, *outlen its length.
 * -EINVAL for an empty or oversize name or DEK. */
int keyrec_build(const char *scope, const char *image, const uint8_t *dek, size_t deklen,
		 uint8_t **out, size_t *outlen);
/* 1 if the record names @s (NUL-terminated) as its scope / image. */
int keyrec_scope_is(const struct keyrec *rec, const char *s);
int keyrec_image_is(const struct keyrec *rec, const char *s);

#endif
