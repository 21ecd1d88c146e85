// SPDX-License-Identifier: MIT
/* libFuzzer target: KMIP TTLV decoding of server responses (hostile input). */
#include <stddef.h>
#include <stdint.h>

#include "kms/ttlv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk(const struct ttlv *t, int depth)
{
	const uint8_t *p;
	size_t n;
	int64_t v;
	char text[64];

	for (; t; t = t->next) {
		/* Touch every value the decoder claims is in bounds. */
		if ((t->type == TTLV_TEXT || t->type == TTLV_BYTES || t->type == TTLV_BIGINT) &&
		    t->len) {
			volatile uint8_t sink = t->data[0] ^ t->data[t->len - 1];

			(void)sink;
		}
		(void)ttlv_get_enum(t, 0x42007F, &v);
		(void)ttlv_get_text(t, 0x420094, text, sizeof(text));
		(void)ttlv_get_bytes(t, 0x4200C2, &p, &n);
		if (t->type == TTLV_STRUCT && depth < TTLV_MAX_DEPTH + 1)
			walk(t->child, depth + 1);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ttlv_doc doc;
	char why[160];

	if (ttlv_decode(data, size, &doc, why, sizeof(why)) == 0) {
		walk(&doc.items[0], 1);
		ttlv_doc_free(&doc);
	}
	return 0;
}
