// SPDX-License-Identifier: MIT
/* libFuzzer target: pvenc.conf parsing (strict INI, typed keys, policy globs). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pvenc_config c;
	char *text = malloc(size + 1), err[512];

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	config_defaults(&c); /* config_parse's contract: it parses over the defaults */
	if (config_parse(text, "fuzz.conf", &c, err, sizeof(err)) == 0) {
		int dry_run = 0;

		(void)config_policy_kms(&c, "rbd", "ns", &dry_run);
	}
	free(text);
	return 0;
}
