// SPDX-License-Identifier: MIT
#include "kms/wrapfmt.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "util/b64.h"

int wrapfmt_encode(const char *kid, const uint8_t *iv, const uint8_t *ct, size_t ctlen, char **out)
{
	char iv64[32], ct64[b64_encoded_size(WRAP_DEK_MAX + WRAP_TAG_LEN)];
	struct json_object *o;

	if (ctlen > WRAP_DEK_MAX + WRAP_TAG_LEN)
		return -EINVAL;
	b64_encode(iv, WRAP_IV_LEN, iv64);
	b64_encode(ct, ctlen, ct64);
	o = json_object_new_object();
	if (!o)
		return -ENOMEM;
	json_object_object_add(o, "v", json_object_new_int(1));
	json_object_object_add(o, "alg", json_object_new_string("A256GCM"));
	json_object_object_add(o, "kid", json_object_new_string(kid));
	json_object_object_add(o, "iv", json_object_new_string(iv64));
	json_object_object_add(o, "ct", json_object_new_string(ct64));
	*out = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return *out ? 0 : -ENOMEM;
}

int wrapfmt_decode(struct kms *k, const char *wrapped, char kid[WRAP_KID_MAX + 1],
		   uint8_t iv[WRAP_IV_LEN], uint8_t *ct, size_t ctcap, size_t *ctlen)
{
	struct json_object *o, *v;
	uint8_t ivbuf[WRAP_IV_LEN + 4];
	const char *id, *iv64, *ct64, *alg;
	int ivlen, n, r = -EBADMSG;

	o = json_tokener_parse(wrapped);
	if (!o || !json_object_is_type(o, json_type_object)) {
		r = kms_fail(k, -EBADMSG, "wrapped DEK is not a JSON object");
		goto out;
	}
	if (!json_object_object_get_ex(o, "v", &v) || !json_object_is_type(v, json_type_int) ||
	    json_object_get_int(v) != 1) {
		r = kms_fail(k, -EBADMSG, "wrapped DEK has an unknown version");
		goto out;
	}
	id = kms_cfg_str(o, "kid");
	iv64 = kms_cfg_str(o, "iv");
	ct64 = kms_cfg_str(o, "ct");
	alg = kms_cfg_str(o, "alg");
	if (!id || !iv64 || !ct64 || !alg || strcmp(alg, "A256GCM") != 0 ||
	    strlen(id) > WRAP_KID_MAX) {
		r = kms_fail(k, -EBADMSG, "wrapped DEK lacks kid, iv, ct or alg A256GCM");
		goto out;
	}
	ivlen = b64_decode(iv64, strlen(iv64), ivbuf, sizeof(ivbuf));
	n = b64_decode(ct64, strlen(ct64), ct, ctcap);
	if (ivlen != WRAP_IV_LEN || n <= WRAP_TAG_LEN) {
		r = kms_fail(k, -EBADMSG, "wrapped DEK has a malformed iv or ct");
		goto out;
	}
	memcpy(iv, ivbuf, WRAP_IV_LEN);
	(void)snprintf(kid, WRAP_KID_MAX + 1, "%s", id);
	*ctlen = (size_t)n;
	r = 0;
out:
	json_object_put(o);
	return r;
}

int wrapfmt_aad(const struct kms_binding *b, char *buf, size_t len)
{
	int n;

	if (!b || !b->volume_id || !b->volume_id[0])
		return -EINVAL;
	n = snprintf(buf, len, "pvenc:dek:v1:%s", b->volume_id);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : n;
}

int wrapfmt_prepare(struct kms *k, const struct kms_binding *b, size_t deklen, char *aad,
		    size_t aadcap, uint8_t iv[WRAP_IV_LEN])
{
	int n;

	if (deklen == 0 || deklen > WRAP_DEK_MAX)
		return kms_fail(k, -EINVAL, "DEK length %zu out of range", deklen);
	n = wrapfmt_aad(b, aad, aadcap);
	if (n < 0)
		return kms_fail(k, n, "no volume id to bind the DEK to");
	if (getrandom(iv, WRAP_IV_LEN, 0) != WRAP_IV_LEN)
		return kms_fail(k, -EIO, "getrandom failed");
	return n;
}
