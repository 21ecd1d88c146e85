// SPDX-License-Identifier: MIT
#include "kms/ttlv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/secmem.h"

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

static size_t padded(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

struct dec {
	const uint8_t *buf;
	struct ttlv_doc *doc;
	size_t cap;
	char *why;
	size_t whylen;
};

static int bad(struct dec *d, size_t off, const char *what)
{
	(void)snprintf(d->why, d->whylen, "%s at byte %zu", what, off);
	return -EBADMSG;
}

/* Decodes the item at @off (within [off, end)); *used = its padded size. */
static int item(struct dec *d, size_t off, size_t end, int depth, struct ttlv **ret, size_t *used);

/* The value of item @t at @off (its header read and bounded): a structure's children, a
 * number, or where its bytes are. */
static int value(struct dec *d, struct ttlv *t, size_t off, int depth)
{
	const uint8_t *p = d->buf + off;
	size_t vlen = t->len;
	int r;

	switch (t->type) {
	case TTLV_STRUCT: {
		struct ttlv **link = &t->child;
		size_t pos = off + 8, n;

		if (vlen % 8)
			return bad(d, off, "structure length not a multiple of 8");
		while (pos < off + 8 + vlen) {
			struct ttlv *c;

			r = item(d, pos, off + 8 + vlen, depth + 1, &c, &n);
			if (r < 0)
				return r;
			*link = c;
			link = &c->next;
			pos += n;
		}
		break;
	}
	case TTLV_INT:
	case TTLV_ENUM:
	case TTLV_INTERVAL:
		if (vlen != 4)
			return bad(d, off, "4-byte type with another length");
		t->num = t->type == TTLV_INT ? (int64_t)(int32_t)be32(p + 8) : (int64_t)be32(p + 8);
		break;
	case TTLV_LONG:
	case TTLV_DATETIME:
	case TTLV_BOOL:
		if (vlen != 8)
			return bad(d, off, "8-byte type with another length");
		t->num = (int64_t)be64(p + 8);
		if (t->type == TTLV_BOOL && (uint64_t)t->num > 1)
			return bad(d, off, "boolean neither 0 nor 1");
		break;
	case TTLV_BIGINT:
		if (vlen % 8)
			return bad(d, off, "big integer length not a multiple of 8");
		t->data = p + 8;
		break;
	case TTLV_TEXT:
	case TTLV_BYTES:
		t->data = p + 8;
		break;
	default:
		return bad(d, off, "unknown item type");
	}
	return 0;
}

static int item(struct dec *d, size_t off, size_t end, int depth, struct ttlv **ret, size_t *used)
{
	const uint8_t *p = d->buf + off;
	struct ttlv *t;
	size_t vlen, total;
	int r;

	if (depth > TTLV_MAX_DEPTH) {
		(void)snprintf(d->why, d->whylen, "nesting deeper than %d", TTLV_MAX_DEPTH);
		return -E2BIG;
	}
	if (end - off < 8)
		return bad(d, off, "truncated item header");
	if (d->doc->n >= d->cap) {
		(void)snprintf(d->why, d->whylen, "more than %d items", TTLV_MAX_ITEMS);
		return -E2BIG;
	}
	t = &d->doc->items[d->doc->n++];
	memset(t, 0, sizeof(*t));
	t->tag = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
	t->type = p[3];
	t->len = be32(p + 4);
	vlen = t->len;
	if ((t->tag >> 16) != 0x42 && (t->tag >> 16) != 0x54)
		return bad(d, off, "tag outside the KMIP and extension ranges");
	if (vlen > end - off - 8)
		return bad(d, off, "length beyond the enclosing item");
	total = t->type == TTLV_STRUCT ? vlen : padded(vlen);
	if (total > end - off - 8)
		return bad(d, off, "padding beyond the enclosing item");
	r = value(d, t, off, depth);
	if (r < 0)
		return r;
	for (size_t i = 8 + vlen; i < 8 + total; i++)
		if (p[i])
			return bad(d, off, "non-zero padding");
	*ret = t;
	*used = 8 + total;
	return 0;
}

int ttlv_decode(const uint8_t *buf, size_t len, struct ttlv_doc *doc, char *why, size_t whylen)
{
	struct dec d = { .buf = buf, .doc = doc, .why = why, .whylen = whylen };
	struct ttlv *root;
	size_t used;
	int r;

	memset(doc, 0, sizeof(*doc));
	if (len > TTLV_MAX_MSG) {
		(void)snprintf(why, whylen, "message larger than %u bytes", TTLV_MAX_MSG);
		return -E2BIG;
	}
	/* Every item takes at least 8 bytes: that bounds the node count. */
	d.cap = len / 8 < TTLV_MAX_ITEMS ? len / 8 + 1 : TTLV_MAX_ITEMS;
	doc->items = calloc(d.cap, sizeof(*doc->items));
	if (!doc->items)
		return -ENOMEM;
	r = item(&d, 0, len, 1, &root, &used);
	if (r == 0 && used != len)
		r = bad(&d, used, "trailing data after the message");
	if (r < 0)
		ttlv_doc_free(doc);
	return r;
}

void ttlv_doc_free(struct ttlv_doc *doc)
{
	free(doc->items);
	doc->items = NULL;
	doc->n = 0;
}

const struct ttlv *ttlv_find(const struct ttlv *s, uint32_t tag)
{
	if (!s || s->type != TTLV_STRUCT)
		return NULL;
	for (const struct ttlv *c = s->child; c; c = c->next)
		if (c->tag == tag)
			return c;
	return NULL;
}

static int get_num(const struct ttlv *s, uint32_t tag, uint8_t type, int64_t *v)
{
	const struct ttlv *t = ttlv_find(s, tag);

	if (!t)
		return -ENOENT;
	if (t->type != type)
		return -EBADMSG;
	*v = t->num;
	return 0;
}

int ttlv_get_enum(const struct ttlv *s, uint32_t tag, int64_t *v)
{
	return get_num(s, tag, TTLV_ENUM, v);
}

int ttlv_get_int(const struct ttlv *s, uint32_t tag, int64_t *v)
{
	return get_num(s, tag, TTLV_INT, v);
}

int ttlv_get_bytes(const struct ttlv *s, uint32_t tag, const uint8_t **p, size_t *len)
{
	const struct ttlv *t = ttlv_find(s, tag);

	if (!t)
		return -ENOENT;
	if (t->type != TTLV_BYTES)
		return -EBADMSG;
	*p = t->data;
	*len = t->len;
	return 0;
}

int ttlv_get_text(const struct ttlv *s, uint32_t tag, char *buf, size_t len)
{
	const struct ttlv *t = ttlv_find(s, tag);

	if (!t)
		return -ENOENT;
	if (t->type != TTLV_TEXT)
		return -EBADMSG;
	if (t->len >= len)
		return -ENAMETOOLONG;
	(void)snprintf(buf, len, "%.*s", (int)t->len, (const char *)t->data);
	/* An embedded NUL would silently shorten the text: refuse it. */
	return strlen(buf) == t->len ? 0 : -EBADMSG;
}

/* ---- encoder ---- */

static uint8_t *reserve(struct ttlv_enc *e, size_t n)
{
	uint8_t *p;

	if (e->err)
		return NULL;
	if (e->len + n > TTLV_MAX_MSG) {
		e->err = -E2BIG;
		return NULL;
	}
	if (e->len + n > e->cap) {
		size_t cap = e->cap ? e->cap : 512;

		while (cap < e->len + n)
			cap *= 2;
		p = secmem_realloc(e->buf, cap);
		if (!p) {
			e->err = -ENOMEM;
			return NULL;
		}
		e->buf = p;
		e->cap = cap;
	}
	p = e->buf + e->len;
	memset(p, 0, n);
	e->len += n;
	return p;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint8_t *header(struct ttlv_enc *e, uint32_t tag, uint8_t type, size_t vlen)
{
	uint8_t *p = reserve(e, 8 + (type == TTLV_STRUCT ? 0 : padded(vlen)));

	if (!p)
		return NULL;
	p[0] = (uint8_t)(tag >> 16);
	p[1] = (uint8_t)(tag >> 8);
	p[2] = (uint8_t)tag;
	p[3] = type;
	put32(p + 4, (uint32_t)vlen);
	return p + 8;
}

void ttlv_begin(struct ttlv_enc *e, uint32_t tag)
{
	if (e->depth >= TTLV_MAX_DEPTH) {
		e->err = -E2BIG;
		return;
	}
	if (header(e, tag, TTLV_STRUCT, 0))
		e->open[e->depth++] = e->len - 8;
}

void ttlv_end(struct ttlv_enc *e)
{
	size_t start;

	if (e->err)
		return;
	if (e->depth == 0) {
		e->err = -EINVAL;
		return;
	}
	start = e->open[--e->depth];
	put32(e->buf + start + 4, (uint32_t)(e->len - start - 8));
}

void ttlv_int(struct ttlv_enc *e, uint32_t tag, int32_t v)
{
	uint8_t *p = header(e, tag, TTLV_INT, 4);

	if (p)
		put32(p, (uint32_t)v);
}

void ttlv_enum(struct ttlv_enc *e, uint32_t tag, uint32_t v)
{
	uint8_t *p = header(e, tag, TTLV_ENUM, 4);

	if (p)
		put32(p, v);
}

void ttlv_long(struct ttlv_enc *e, uint32_t tag, int64_t v)
{
	uint8_t *p = header(e, tag, TTLV_LONG, 8);

	if (p) {
		put32(p, (uint32_t)((uint64_t)v >> 32));
		put32(p + 4, (uint32_t)v);
	}
}

void ttlv_bool(struct ttlv_enc *e, uint32_t tag, int v)
{
	uint8_t *p = header(e, tag, TTLV_BOOL, 8);

	if (p)
		p[7] = v ? 1 : 0;
}

void ttlv_text(struct ttlv_enc *e, uint32_t tag, const char *s)
{
	size_t n = strlen(s);
	uint8_t *p = header(e, tag, TTLV_TEXT, n);

	/* TTLV text carries no NUL. */
	if (p)
		memcpy(p, s, n); // NOLINT(bugprone-not-null-terminated-result)
}

void ttlv_bytes(struct ttlv_enc *e, uint32_t tag, const uint8_t *d, size_t len)
{
	uint8_t *p = header(e, tag, TTLV_BYTES, len);

	if (p && len)
		memcpy(p, d, len);
}

int ttlv_finish(struct ttlv_enc *e, const uint8_t **buf, size_t *len)
{
	if (!e->err && e->depth)
		e->err = -EINVAL;
	if (e->err)
		return e->err;
	*buf = e->buf;
	*len = e->len;
	return 0;
}

void ttlv_enc_free(struct ttlv_enc *e)
{
	secmem_free(e->buf);
	memset(e, 0, sizeof(*e));
}
