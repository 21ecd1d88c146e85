// SPDX-License-Identifier: MIT
/* KMIP TTLV: round trips, typed lookups, and hand-built malformed messages. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "kms/ttlv.h"

static int decode(const uint8_t *b, size_t n)
{
	struct ttlv_doc doc;
	char why[160];
	int r = ttlv_decode(b, n, &doc, why, sizeof(why));

	if (r == 0)
		ttlv_doc_free(&doc);
	return r;
}

static void test_roundtrip(void **state)
{
	struct ttlv_enc e = { 0 };
	struct ttlv_doc doc;
	const uint8_t *buf, *p;
	const struct ttlv *s;
	size_t len, n;
	int64_t v;
	char why[160], text[16];

	(void)state;
	ttlv_begin(&e, 0x420078);
	ttlv_int(&e, 0x42006A, -7);
	ttlv_enum(&e, 0x42005C, 0x1F);
	ttlv_text(&e, 0x420094, "uid-123");
	ttlv_bytes(&e, 0x4200C2, (const uint8_t *)"\x01\x02\x03", 3);
	ttlv_long(&e, 0x420003, -2);
	ttlv_bool(&e, 0x420004, 1);
	ttlv_begin(&e, 0x420079);
	ttlv_end(&e);
	ttlv_end(&e);
	assert_int_equal(ttlv_finish(&e, &buf, &len), 0);
	assert_int_equal(len % 8, 0);
	assert_int_equal(ttlv_decode(buf, len, &doc, why, sizeof(why)), 0);
	s = &doc.items[0];
	assert_int_equal(s->tag, 0x420078);
	assert_int_equal(ttlv_get_int(s, 0x42006A, &v), 0);
	assert_int_equal(v, -7);
	assert_int_equal(ttlv_get_enum(s, 0x42005C, &v), 0);
	assert_int_equal(v, 0x1F);
	assert_int_equal(ttlv_get_text(s, 0x420094, text, sizeof(text)), 0);
	assert_string_equal(text, "uid-123");
	assert_int_equal(ttlv_get_text(s, 0x420094, text, 4), -ENAMETOOLONG);
	assert_int_equal(ttlv_get_bytes(s, 0x4200C2, &p, &n), 0);
	assert_int_equal(n, 3);
	assert_memory_equal(p, "\x01\x02\x03", 3);
	assert_int_equal(ttlv_get_enum(s, 0x420094, &v), -EBADMSG); /* wrong type */
	assert_int_equal(ttlv_get_enum(s, 0x420099, &v), -ENOENT);
	assert_non_null(ttlv_find(s, 0x420079));
	assert_null(ttlv_find(ttlv_find(s, 0x420094), 0x420094)); /* not a structure */
	ttlv_doc_free(&doc);
	ttlv_enc_free(&e);
}

static void test_encoder_errors(void **state)
{
	struct ttlv_enc e = { 0 };
	const uint8_t *buf;
	size_t len;

	(void)state;
	ttlv_begin(&e, 0x420078);
	assert_int_equal(ttlv_finish(&e, &buf, &len), -EINVAL); /* unbalanced */
	ttlv_enc_free(&e);
	ttlv_end(&e);
	assert_int_equal(ttlv_finish(&e, &buf, &len), -EINVAL);
	ttlv_enc_free(&e);
	for (int i = 0; i <= TTLV_MAX_DEPTH; i++)
		ttlv_begin(&e, 0x420078);
	assert_int_equal(ttlv_finish(&e, &buf, &len), -E2BIG);
	ttlv_enc_free(&e);
}

/* Header: tag 0x42xxxx, type, length (big endian). */
static void hdr(uint8_t *p, uint32_t tag, uint8_t type, uint32_t len)
{
	p[0] = (uint8_t)(tag >> 16);
	p[1] = (uint8_t)(tag >> 8);
	p[2] = (uint8_t)tag;
	p[3] = type;
	p[4] = (uint8_t)(len >> 24);
	p[5] = (uint8_t)(len >> 16);
	p[6] = (uint8_t)(len >> 8);
	p[7] = (uint8_t)len;
}

static void test_malformed(void **state)
{
	uint8_t b[512];

	(void)state;
	memset(b, 0, sizeof(b));
	/* truncated header */
	hdr(b, 0x420078, TTLV_STRUCT, 0);
	assert_int_equal(decode(b, 7), -EBADMSG);
	assert_int_equal(decode(b, 0), -EBADMSG);
	/* an empty structure is fine */
	assert_int_equal(decode(b, 8), 0);
	/* structure length beyond the buffer */
	hdr(b, 0x420078, TTLV_STRUCT, 64);
	assert_int_equal(decode(b, 16), -EBADMSG);
	/* structure length not a multiple of 8 */
	hdr(b, 0x420078, TTLV_STRUCT, 12);
	assert_int_equal(decode(b, 20), -EBADMSG);
	/* child longer than its parent */
	hdr(b, 0x420078, TTLV_STRUCT, 16);
	hdr(b + 8, 0x420094, TTLV_TEXT, 9);
	assert_int_equal(decode(b, 24), -EBADMSG);
	/* text padding beyond the parent */
	hdr(b + 8, 0x420094, TTLV_TEXT, 3);
	hdr(b, 0x420078, TTLV_STRUCT, 11 + 5 - 5); /* 11: not a multiple of 8 */
	assert_int_equal(decode(b, 19), -EBADMSG);
	/* a valid text child, then non-zero padding */
	hdr(b, 0x420078, TTLV_STRUCT, 16);
	hdr(b + 8, 0x420094, TTLV_TEXT, 3);
	memset(b + 16, 0, 8);
	b[16] = 'a';
	b[17] = 'b';
	b[18] = 'c';
	assert_int_equal(decode(b, 24), 0);
	b[20] = 1;
	assert_int_equal(decode(b, 24), -EBADMSG);
	/* integer with a wrong length */
	memset(b, 0, sizeof(b));
	hdr(b, 0x420078, TTLV_STRUCT, 16);
	hdr(b + 8, 0x42006A, TTLV_INT, 8);
	assert_int_equal(decode(b, 24), -EBADMSG);
	/* boolean other than 0/1 */
	hdr(b + 8, 0x420004, TTLV_BOOL, 8);
	hdr(b, 0x420078, TTLV_STRUCT, 16);
	b[23] = 2;
	assert_int_equal(decode(b, 24), -EBADMSG);
	/* unknown type */
	memset(b, 0, sizeof(b));
	hdr(b, 0x420078, 0x0B, 0);
	assert_int_equal(decode(b, 8), -EBADMSG);
	/* tag outside the KMIP range */
	hdr(b, 0x110078, TTLV_STRUCT, 0);
	assert_int_equal(decode(b, 8), -EBADMSG);
	/* trailing data */
	hdr(b, 0x420078, TTLV_STRUCT, 0);
	assert_int_equal(decode(b, 16), -EBADMSG);
	/* huge declared length */
	hdr(b, 0x420078, TTLV_STRUCT, 0xfffffff8u);
	assert_int_equal(decode(b, 16), -EBADMSG);
	/* nesting deeper than the cap: 17 structures inside each other */
	memset(b, 0, sizeof(b));
	for (size_t i = 0; i < 17; i++)
		hdr(b + 8 * i, 0x420078, TTLV_STRUCT, (uint32_t)(8 * (16 - i)));
	assert_int_equal(decode(b, (size_t)8 * 17), -E2BIG);
	/* 16 levels are fine */
	for (size_t i = 0; i < 16; i++)
		hdr(b + 8 * i, 0x420078, TTLV_STRUCT, (uint32_t)(8 * (15 - i)));
	assert_int_equal(decode(b, (size_t)8 * 16), 0);
}

static void test_item_cap(void **state)
{
	static uint8_t b[8 + 8 * (TTLV_MAX_ITEMS + 1)];

	(void)state;
	memset(b, 0, sizeof(b));
	hdr(b, 0x420078, TTLV_STRUCT, 8 * (TTLV_MAX_ITEMS + 1));
	for (size_t i = 0; i <= TTLV_MAX_ITEMS; i++)
		hdr(b + 8 + 8 * i, 0x420079, TTLV_STRUCT, 0);
	assert_int_equal(decode(b, sizeof(b)), -E2BIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_encoder_errors),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_item_cap),
	};

	return cmocka_run_group_tests_name("ttlv", tests, NULL, NULL);
}
