// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the answers of AWS KMS, IBM Key Protect and IAM, Azure Key Vault and
 * Azure AD (kms/cloudresp.h), which whoever answers on the configured endpoint
 * controls: parsed as pvenc parses them, and each error text and token checked bounded
 * and well-formed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kms/cloudresp.h"
#include "util/jsonsec.h"
#include "util/secmem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_object *o = json_parse_secret((const char *)data, size);
	char buf[300];
	char *tok = NULL;
	time_t exp = 0;
	const char *t;

	if (!o)
		return 0;
	t = aws_error_type(o);
	if (!t || strchr(t, '#'))
		abort();
	kp_error_text(o, buf, sizeof(buf));
	if (strlen(buf) >= sizeof(buf))
		abort();
	az_error_text(o, buf, sizeof(buf));
	if (strlen(buf) >= sizeof(buf))
		abort();
	if (bearer_token(o, &tok, &exp) == 0) {
		size_t n = strlen(tok);

		if (strncmp(tok, "Bearer ", 7) != 0 || n <= 7 || exp <= 0)
			abort();
		for (size_t i = 7; i < n; i++)
			if ((unsigned char)tok[i] < 0x21 || (unsigned char)tok[i] > 0x7e ||
			    tok[i] == '"')
				abort();
		secmem_free(tok);
	}
	json_put_wipe(o);
	return 0;
}
