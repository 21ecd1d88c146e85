// SPDX-License-Identifier: MIT
#include "kms/wrapfmt.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "util/b64.h"

int wrapfmt_encode(const char *kid, struct wrap_env *w, char **out)
{
	char iv64[32], ct64[b64_encoded_size(WRAP_DEK_MAX + WRAP_TAG_LEN)];
	struct json_object *o;

	if (w->ctlen > WRAP_DEK_MAX + WRAP_TAG_LEN) {
		explicit_bzero(w->ct, sizeof(w->ct));
		return -EINVAL;
	}
	b64_encode(w->iv, WRAP_IV_LEN, iv64);
	b64_encode(w->ct, w->ctlen, ct64);
	explicit_bzero(w->ct, sizeof(w->ct));
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

static int decode(struct kms *k, const char *wrapped, struct wrap_env *w)
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
	n = b64_decode(ct64, strlen(ct64), w->ct, sizeof(w->ct));
	if (ivlen != WRAP_IV_LEN || n <= WRAP_TAG_LEN) {
		r = kms_fail(k, -EBADMSG, "wrapped DEK has a malformed iv or ct");
		goto out;
	}
	memcpy(w->iv, ivbuf, WRAP_IV_LEN);
	(void)snprintf(w->kid, sizeof(w->kid), "%s", id);
	w->ctlen = (size_t)n;
	r = 0;
out:
	json_object_put(o);
	return r;
}

static int bind_aad(struct kms *k, const struct kms_binding *b, struct wrap_env *w)
{
	int n = kms_binding_aad(b, w->aad, sizeof(w->aad));

	if (n < 0)
		return kms_fail(k, n, "no volume id to bind the DEK to");
	w->aadlen = (size_t)n;
	return 0;
}

int wrapfmt_prepare(struct kms *k, const struct kms_binding *b, size_t deklen, struct wrap_env *w)
{
	int r;

	if (deklen == 0 || deklen > WRAP_DEK_MAX)
		return kms_fail(k, -EINVAL, "DEK length %zu out of range", deklen);
	r = bind_aad(k, b, w);
	if (r < 0)
		return r;
	if (getrandom(w->iv, WRAP_IV_LEN, 0) != WRAP_IV_LEN)
		return kms_fail(k, -EIO, "getrandom failed");
	w->ctlen = deklen + WRAP_TAG_LEN;
	return 0;
}

int wrapfmt_open(struct kms *k, const struct kms_binding *b, const char *wrapped,
		 struct wrap_env *w)
{
	int r = bind_aad(k, b, w);

	return r < 0 ? r : decode(k, wrapped, w);
}
