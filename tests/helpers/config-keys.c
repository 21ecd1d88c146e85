// SPDX-License-Identifier: MIT
/*
 * Test helper: prints the config parser's key table, "SECTION KEY" per line, so that
 * tests/host/08-docs.test can check that pvenc.conf(5) documents every key.
 *   config-keys            the table
 *   config-keys FILE       parse FILE as pvenc.conf; exit 1 with the error if invalid
 */
#include <stdio.h>

#include "util/config.h"

int main(int argc, char **argv)
{
	struct pvenc_config c;
	char err[512];

	if (argc > 1) {
		config_defaults(&c);
		if (config_load(argv[1], 1, &c, err, sizeof(err)) != 0) {
			(void)fprintf(stderr, "%s\n", err);
			return 1;
		}
		return 0;
	}
	for (size_t i = 0; i < config_keys_count; i++)
		(void)printf("%s %s\n", config_keys[i].section, config_keys[i].key);
	return 0;
}
