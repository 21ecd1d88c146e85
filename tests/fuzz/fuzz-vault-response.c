// SPDX-License-Identifier: MIT
/* libFuzzer target: Vault answers — the strict secret-JSON parser, error bodies, and the
 * fields pvenc takes from them (ciphertext, plaintext, auth block, KV data). */
#include <stdint.h>
#include <string.h>

#include "kms/vault.h"
#include "util/b64.h"
#include "util/jsonsec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_object *o = json_parse_secret((const char *)data, size), *d, *auth, *res;
	uint8_t buf[300];
	const char *s;
	char errs[400];

	if (!o)
		return 0;
	vault_errors(o, errs, sizeof(errs));
	d = jget_obj(o, "data");
	if ((s = jget_str(d, "plaintext")))
		(void)b64_decode(s, strlen(s), buf, sizeof(buf));
	(void)jget_str(d, "ciphertext");
	auth = jget_obj(o, "auth");
	(void)jget_str(auth, "client_token");
	(void)jget_int(auth, "lease_duration");
	(void)jget_bool(auth, "renewable");
	(void)jget_str(jget_obj(jget_obj(jget_obj(d, "data"), "data"), "data"), "passphrase");
	if (d && json_object_object_get_ex(d, "batch_results", &res) &&
	    json_object_is_type(res, json_type_array))
		for (size_t i = 0; i < json_object_array_length(res) && i < 256; i++)
			(void)jget_str(json_object_array_get_idx(res, i), "plaintext");
	json_put_wipe(o);
	return 0;
}
