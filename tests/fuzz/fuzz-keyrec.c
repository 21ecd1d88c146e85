// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: what a KMS that keeps DEKs hands back (kms/keyrec.h), which a
 * compromised or misconfigured KMS controls. Parsed, and a parsed record's fields
 * checked to lie inside the input and be rebuilt into the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kms/keyrec.h"
#include "util/secmem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char scope[KEYREC_NAME_MAX + 1], image[KEYREC_NAME_MAX + 1];
	struct keyrec r;
	uint8_t *back;
	size_t len;

	if (keyrec_parse(data, size, &r) != 1)
		return 0;
	if (r.scope < (const char *)data || r.dek + r.dek_len > data + size)
		abort();
	memcpy(scope, r.scope, r.scope_len);
	scope[r.scope_len] = '\0';
	memcpy(image, r.image, r.image_len);
	image[r.image_len] = '\0';
	if (!keyrec_scope_is(&r, scope) || !keyrec_image_is(&r, image))
		abort();
	if (keyrec_build(scope, image, r.dek, r.dek_len, &back, &len) < 0)
		abort();
	if (len != size || memcmp(back, data, size) != 0)
		abort();
	secmem_free(back);
	return 0;
}
