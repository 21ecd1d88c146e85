// SPDX-License-Identifier: MIT
/* Vault error bodies ({"errors": [...]}) into one log line; no network, no state. */
#include <json-c/json.h>
#include <stdio.h>

#include "kms/vault.h"

void vault_errors(struct json_object *resp, char *buf, size_t len)
{
	struct json_object *e;
	size_t used = 0;

	buf[0] = '\0';
	if (!resp || !json_object_object_get_ex(resp, "errors", &e) ||
	    !json_object_is_type(e, json_type_array))
		return;
	for (size_t i = 0; i < json_object_array_length(e) && used + 1 < len; i++) {
		const char *s = json_object_get_string(json_object_array_get_idx(e, i));
		int n = snprintf(buf + used, len - used, "%s%s", i ? "; " : "", s ? s : "");

		if (n < 0)
			break;
		used += (size_t)n;
	}
	if (used >= len)
		used = len - 1;
	/* Vault's multierror text has newlines and tabs: one line for the log. */
	for (size_t i = 0; i < used; i++)
		if (buf[i] == '\n' || buf[i] == '\t')
			buf[i] = ' ';
}
