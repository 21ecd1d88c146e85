// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: an STS AssumeRoleWithWebIdentity answer (kms/aws_sts.c), which
 * whoever answers on the STS endpoint controls. Parsed as a 200 and as an error; parsed
 * credentials must be bounded, printable and expire at a real time.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kms/aws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The provider library's error setter and config getter (kms.c), which this target does
 * not link. */
const char *kms_cfg_str(struct json_object *cfg, const char *key)
{
	(void)cfg;
	(void)key;
	return NULL;
}

int kms_fail(struct kms *k, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(k->error, sizeof(k->error), fmt, ap);
	va_end(ap);
	return r;
}

static void printable(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		abort();
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e || s[i] == '<')
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kms k = { 0 };
	struct aws_creds c;
	char *xml = malloc(size + 1);

	if (!xml)
		return 0;
	memcpy(xml, data, size);
	xml[size] = '\0';
	if (aws_sts_parse(&k, xml, size, 200, &c) == 0) {
		printable(c.access_key, 128);
		printable(c.secret_key, 256);
		printable(c.session_token, 8192);
		if (c.expires <= 0)
			abort();
		aws_creds_clear(&c);
	}
	if (aws_sts_parse(&k, xml, size, 400, &c) == 0)
		abort(); /* an error status never gives credentials */
	free(xml);
	return 0;
}
