// SPDX-License-Identifier: MIT
#include "crypt/hdrmac.h"

#include <errno.h>
#include <json-c/json.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <stdio.h>
#include <string.h>

#include "util/macro.h"
#include "util/secmem.h"

#define TEXT_MAX 4096

/* What the MAC covers, by name: a field missing from the header counts as "null". */
static const char *const seg_keys[] = { "type",	    "offset",	  "size",
					"iv_tweak", "encryption", "sector_size" };
static const char *const slot_keys[] = { "type", "key_size" };
static const char *const kdf_keys[] = { "type",	  "hash", "iterations", "time",
					"memory", "cpus", "salt" };
static const char *const af_keys[] = { "type", "stripes", "hash" };
static const char *const area_keys[] = { "type", "offset", "size", "encryption", "key_size" };

/* Appends "what.key=<JSON value>\n" for each key of @keys. */
static int put(char *text, size_t *len, const char *what, struct json_object *o,
	       const char *const *keys, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct json_object *v = NULL;
		int w;

		if (!json_object_is_type(o, json_type_object) ||
		    !json_object_object_get_ex(o, keys[i], &v))
			v = NULL;
		w = snprintf(text + *len, TEXT_MAX - *len, "%s.%s=%s\n", what, keys[i],
			     json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
		if (w < 0 || (size_t)w >= TEXT_MAX - *len)
			return -E2BIG;
		*len += (size_t)w;
	}
	return 0;
}

static struct json_object *child(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	return json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, key, &v)
		       ? v
		       : NULL;
}

/* HKDF-SHA-256(DEK, info) then HMAC-SHA-256 over @text. */
static int mac(const uint8_t *dek, size_t deklen, const char *uuid, const char *text, size_t len,
	       char hex[HDRMAC_HEX_LEN + 1])
{
	_cleanup_secmem_ uint8_t *key = secmem_alloc(32);
	char info[128];
	uint8_t out[32];
	size_t outlen = 0;
	EVP_KDF *kdf;
	EVP_KDF_CTX *kctx;
	OSSL_PARAM p[4];
	int r;

	if (!key)
		return -ENOMEM;
	(void)snprintf(info, sizeof(info), "pvenc:header-mac:v1:%s", uuid);
	kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	EVP_KDF_free(kdf);
	if (!kctx)
		return -ENOMEM;
	p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)dek, deklen);
	p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, strlen(info));
	p[3] = OSSL_PARAM_construct_end();
	r = EVP_KDF_derive(kctx, key, 32, p) == 1 ? 0 : -EIO;
	EVP_KDF_CTX_free(kctx);
	if (r == 0 && !EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, 32,
				 (const unsigned char *)text, len, out, sizeof(out), &outlen))
		r = -EIO;
	if (r == 0 && outlen != sizeof(out))
		r = -EIO;
	for (size_t i = 0; r == 0 && i < sizeof(out); i++)
		(void)snprintf(hex + 2 * i, 3, "%02x", out[i]);
	return r;
}

int hdrmac_compute_json(const char *json, const char *uuid, int vk, int slot, const uint8_t *dek,
			size_t deklen, char hex[HDRMAC_HEX_LEN + 1])
{
	struct json_object *root = json_tokener_parse(json), *ks;
	char text[TEXT_MAX], id[16];
	size_t len = 0;
	int r;

	if (!root)
		return -EBADMSG;
	(void)snprintf(id, sizeof(id), "%d", slot);
	ks = child(child(root, "keyslots"), id);
	r = snprintf(text, sizeof(text), "pvenc-header-mac-v1\nuuid=%s\nvk=%d\nslot=%d\n",
		     uuid ? uuid : "", vk, slot);
	if (r < 0 || (size_t)r >= sizeof(text))
		r = -E2BIG;
	else {
		len = (size_t)r;
		r = 0;
	}
	if (r == 0 && !ks)
		r = -ENOENT;
	if (r == 0)
		r = put(text, &len, "segment", child(child(root, "segments"), "0"), seg_keys,
			ARRAY_SIZE(seg_keys));
	if (r == 0)
		r = put(text, &len, "keyslot", ks, slot_keys, ARRAY_SIZE(slot_keys));
	if (r == 0)
		r = put(text, &len, "kdf", child(ks, "kdf"), kdf_keys, ARRAY_SIZE(kdf_keys));
	if (r == 0)
		r = put(text, &len, "af", child(ks, "af"), af_keys, ARRAY_SIZE(af_keys));
	if (r == 0)
		r = put(text, &len, "area", child(ks, "area"), area_keys, ARRAY_SIZE(area_keys));
	json_object_put(root);
	return r < 0 ? r : mac(dek, deklen, uuid ? uuid : "", text, len, hex);
}

int hdrmac_compute(struct crypt_device *cd, int slot, const uint8_t *dek, size_t deklen,
		   char hex[HDRMAC_HEX_LEN + 1])
{
	const char *json = NULL;

	if (crypt_dump_json(cd, &json, 0) < 0 || !json)
		return -EIO;
	return hdrmac_compute_json(json, crypt_get_uuid(cd), crypt_get_volume_key_size(cd), slot,
				   dek, deklen, hex);
}
