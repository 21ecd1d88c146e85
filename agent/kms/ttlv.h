/* SPDX-License-Identifier: MIT */
/*
 * KMIP's TTLV encoding (tag 3 bytes, type 1, length 4, value padded to 8 bytes).
 * The decoder is written for hostile input: every length is checked against what is
 * left of its parent, nesting and item counts are capped, padding must be zero, and
 * fixed-size types must have their exact sizes. Decoded byte strings point into the
 * input buffer, which must outlive the tree.
 */
#ifndef PVENC_KMS_TTLV_H
#define PVENC_KMS_TTLV_H

#include <stddef.h>
#include <stdint.h>

enum ttlv_type {
	TTLV_STRUCT = 0x01,
	TTLV_INT = 0x02,
	TTLV_LONG = 0x03,
	TTLV_BIGINT = 0x04,
	TTLV_ENUM = 0x05,
	TTLV_BOOL = 0x06,
	TTLV_TEXT = 0x07,
	TTLV_BYTES = 0x08,
	TTLV_DATETIME = 0x09,
	TTLV_INTERVAL = 0x0A,
};

#define TTLV_MAX_DEPTH 16
#define TTLV_MAX_ITEMS 4096
#define TTLV_MAX_MSG   (1u << 20)

struct ttlv {
	uint32_t tag;
	uint8_t type;
	uint32_t len; /* value length without padding */
	int64_t num; /* INT, LONG, ENUM, BOOL, DATETIME, INTERVAL */
	const uint8_t *data; /* TEXT, BYTES, BIGINT (into the input) */
	struct ttlv *child, *next; /* STRUCT children; siblings */
};

struct ttlv_doc {
	struct ttlv *items; /* items[0] is the root */
	size_t n;
};

/* Decodes one item spanning exactly @len bytes. -EBADMSG on malformed input (with a
 * reason in @why), -E2BIG past the caps, -ENOMEM. */
int ttlv_decode(const uint8_t *buf, size_t len, struct ttlv_doc *doc, char *why, size_t whylen);
void ttlv_doc_free(struct ttlv_doc *doc);

/* First child of @s with @tag (and any type), NULL if none or @s is not a structure. */
const struct ttlv *ttlv_find(const struct ttlv *s, uint32_t tag);
/* Typed lookups: -ENOENT absent, -EBADMSG wrong type. */
int ttlv_get_enum(const struct ttlv *s, uint32_t tag, int64_t *v);
int ttlv_get_int(const struct ttlv *s, uint32_t tag, int64_t *v);
int ttlv_get_bytes(const struct ttlv *s, uint32_t tag, const uint8_t **p, size_t *len);
/* Text as a NUL-terminated copy into @buf (-ENAMETOOLONG if it does not fit). */
int ttlv_get_text(const struct ttlv *s, uint32_t tag, char *buf, size_t len);

/* Encoder: a growing secret buffer (requests may carry key material). */
struct ttlv_enc {
	uint8_t *buf; /* secmem */
	size_t len, cap;
	size_t open[TTLV_MAX_DEPTH]; /* offsets of open structure headers */
	int depth;
	int err;
};

void ttlv_begin(struct ttlv_enc *e, uint32_t tag);
void ttlv_end(struct ttlv_enc *e);
void ttlv_int(struct ttlv_enc *e, uint32_t tag, int32_t v);
void ttlv_enum(struct ttlv_enc *e, uint32_t tag, uint32_t v);
void ttlv_long(struct ttlv_enc *e, uint32_t tag, int64_t v);
void ttlv_bool(struct ttlv_enc *e, uint32_t tag, int v);
void ttlv_text(struct ttlv_enc *e, uint32_t tag, const char *s);
void ttlv_bytes(struct ttlv_enc *e, uint32_t tag, const uint8_t *p, size_t len);
/* 0 and the finished message, or the first error (unbalanced structures: -EINVAL). */
int ttlv_finish(struct ttlv_enc *e, const uint8_t **buf, size_t *len);
void ttlv_enc_free(struct ttlv_enc *e);

#endif
