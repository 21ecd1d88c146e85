// SPDX-License-Identifier: MIT
/*
 * ibmkeyprotect's operations (kms/ibmkp.c has the entry, IAM and the calls): wrap and
 * unwrap with associated data, kms check, create-key (a root key, its id written to
 * the Secret).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kms/cloud.h"
#include "kms/ibmkp.h"
#include "util/b64.h"
#include "util/jsonsec.h"
#include "util/secmem.h"

#define KP_CT_MAX	 8192
#define KP_PLAINTEXT_MAX 4096
#define WRAP_TYPE	 "application/vnd.ibm.kms.key_action_wrap+json"
#define UNWRAP_TYPE	 "application/vnd.ibm.kms.key_action_unwrap+json"
#define KEY_TYPE	 "application/vnd.ibm.kms.key+json"

static int base64_text(const char *s, size_t max)
{
	size_t n = strlen(s);

	return n > 0 && n <= max &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") == n;
}

static int need_key(struct kms *k, const struct ibmkp *p)
{
	return p->crk[0] ? 0
			 : kms_fail(k, -ENOKEY,
				    "%s/IBM_KP_CUSTOMER_ROOT_KEY names no root key: write its id "
				    "there, or run pvencctl kms create-key %s",
				    p->secret_dir, k->id);
}

/* The associated data: pvenc's binding, or ceph-csi's volume id. */
static int add_aad(struct kms *k, struct json_object *req, const struct kms_binding *b)
{
	char aad[600];
	struct json_object *arr;
	int n = b->text ? snprintf(aad, sizeof(aad), "%s", b->volume_id ? b->volume_id : "")
			: kms_binding_aad(b, aad, sizeof(aad));

	if (n <= 0 || (size_t)n >= sizeof(aad))
		return kms_fail(k, n < 0 ? n : -EINVAL, "no volume to bind the DEK to");
	arr = json_object_new_array();
	if (!arr)
		return -ENOMEM;
	json_object_array_add(arr, json_object_new_string(aad));
	json_object_object_add(req, "aad", arr);
	return 0;
}

static int kp_wrap(struct kms *k, const struct kms_binding *b, const uint8_t *dek, size_t len,
		   char **wrapped)
{
	struct ibmkp *p = k->priv;
	_cleanup_json_wipe_ struct json_object *req = json_object_new_object(), *resp = NULL;
	_cleanup_secmem_ char *pt = NULL;
	char path[KP_ID_MAX + 32];
	const char *ct;
	int r;

	if (!req)
		return -ENOMEM;
	if (len == 0 || len > KP_PLAINTEXT_MAX)
		return -EINVAL;
	r = need_key(k, p);
	if (r < 0)
		return r;
	pt = secmem_alloc(b64_encoded_size(len) + 1);
	if (!pt)
		return -ENOMEM;
	/* ceph-csi hands its passphrase over as the base64 text it is. */
	if (b->text)
		(void)snprintf(pt, b64_encoded_size(len) + 1, "%.*s", (int)len, (const char *)dek);
	else
		(void)b64_encode(dek, len, pt);
	json_object_object_add(req, "plaintext", json_object_new_string(pt));
	r = add_aad(k, req, b);
	(void)snprintf(path, sizeof(path), "keys/%s/actions/wrap", p->crk);
	if (r == 0)
		r = kp_call(k, p, path, "wrap", WRAP_TYPE, req, &resp);
	if (r < 0)
		return r;
	ct = jget_str(resp, "ciphertext");
	if (!ct || !base64_text(ct, KP_CT_MAX))
		return kms_fail(k, -EBADMSG, "Key Protect at %s answered wrap without a ciphertext",
				p->base_url);
	if (!b->text) {
		*wrapped = strdup(ct);
		return *wrapped ? 0 : -ENOMEM;
	}
	/* ceph-csi stores the ciphertext base64-encoded once more. */
	*wrapped = malloc(b64_encoded_size(strlen(ct)));
	if (!*wrapped)
		return -ENOMEM;
	(void)b64_encode((const uint8_t *)ct, strlen(ct), *wrapped);
	return 0;
}

/* The ciphertext to send: pvenc's as stored; ceph-csi's decoded once (into @buf). */
static int ciphertext_of(struct kms *k, const struct kms_binding *b, const char *wrapped, char *buf,
			 size_t cap, const char **ct)
{
	int n;

	if (!b->text) {
		*ct = wrapped;
		return base64_text(wrapped, KP_CT_MAX)
			       ? 0
			       : kms_fail(k, -EBADMSG,
					  "the wrapped DEK is not a Key Protect ciphertext (base64 "
					  "text)");
	}
	n = b64_decode(wrapped, strlen(wrapped), (uint8_t *)buf, cap - 1);
	if (n <= 0)
		return kms_fail(k, -EBADMSG,
				"ceph-csi's wrapped passphrase is not base64 of a Key Protect "
				"ciphertext");
	buf[n] = '\0';
	*ct = buf;
	return base64_text(buf, KP_CT_MAX)
		       ? 0
		       : kms_fail(k, -EBADMSG,
				  "ceph-csi's wrapped passphrase is not base64 of a Key Protect "
				  "ciphertext");
}

static int kp_unwrap(struct kms *k, const struct kms_binding *b, const char *wrapped, uint8_t **dek,
		     size_t *len)
{
	struct ibmkp *p = k->priv;
	_cleanup_json_wipe_ struct json_object *req = json_object_new_object(), *resp = NULL;
	_cleanup_secmem_ uint8_t *out = NULL;
	char path[KP_ID_MAX + 32], buf[KP_CT_MAX + 1];
	const char *ct = NULL, *pt;
	size_t n;
	int r;

	if (!req)
		return -ENOMEM;
	r = need_key(k, p);
	if (r == 0)
		r = ciphertext_of(k, b, wrapped, buf, sizeof(buf), &ct);
	if (r < 0)
		return r;
	json_object_object_add(req, "ciphertext", json_object_new_string(ct));
	r = add_aad(k, req, b);
	(void)snprintf(path, sizeof(path), "keys/%s/actions/unwrap", p->crk);
	if (r == 0)
		r = kp_call(k, p, path, "unwrap", UNWRAP_TYPE, req, &resp);
	if (r < 0)
		return r;
	pt = jget_str(resp, "plaintext");
	n = pt ? strlen(pt) : 0;
	if (!n || !base64_text(pt, b64_encoded_size(KP_PLAINTEXT_MAX)))
		return kms_fail(k, -EBADMSG,
				"Key Protect at %s answered unwrap without a plaintext",
				p->base_url);
	out = secmem_alloc(n + 1);
	if (!out)
		return -ENOMEM;
	if (b->text) {
		memcpy(out, pt, n + 1); /* ceph-csi's passphrase: the text itself */
		*len = n;
	} else {
		r = b64_decode(pt, n, out, n);
		if (r <= 0)
			return kms_fail(
				k, -EBADMSG,
				"Key Protect at %s answered unwrap with a plaintext that is "
				"not base64",
				p->base_url);
		*len = (size_t)r;
	}
	*dek = TAKE_PTR(out);
	return 0;
}

static int kp_check(struct kms *k, const struct kms_check_ops *c)
{
	struct ibmkp *p = k->priv;

	kms_report(c, -1, "Key Protect at %s, instance %s, root key %s", p->base_url, p->instance,
		   p->crk[0] ? p->crk : "(none yet: pvencctl kms create-key)");
	kms_report(c, -1, "IAM at %s with the API key in %s; TLS CA %s", p->token_url,
		   p->secret_dir, p->ca_file ? p->ca_file : "system trust store");
	return 0;
}

/* A root key (not extractable), its id written to the Secret's IBM_KP_CUSTOMER_ROOT_KEY. */
static int kp_create_key(struct kms *k, char **key_id)
{
	struct ibmkp *p = k->priv;
	_cleanup_json_wipe_ struct json_object *req = json_object_new_object(), *resp = NULL;
	struct json_object *meta = json_object_new_object(), *res = json_object_new_array(),
			   *key = json_object_new_object(), *arr = NULL;
	const char *id = NULL;
	int r;

	if (!req || !meta || !res || !key) {
		json_object_put(meta);
		json_object_put(res);
		json_object_put(key);
		return -ENOMEM;
	}
	json_object_object_add(meta, "collectionType", json_object_new_string(KEY_TYPE));
	json_object_object_add(meta, "collectionTotal", json_object_new_int(1));
	json_object_object_add(key, "type", json_object_new_string(KEY_TYPE));
	json_object_object_add(key, "name", json_object_new_string("pvenc-kek"));
	json_object_object_add(key, "extractable", json_object_new_boolean(0));
	json_object_array_add(res, key);
	json_object_object_add(req, "metadata", meta);
	json_object_object_add(req, "resources", res);
	if (p->crk[0])
		return kms_fail(k, -EEXIST, "%s/IBM_KP_CUSTOMER_ROOT_KEY names root key %s already",
				p->secret_dir, p->crk);
	r = kp_call(k, p, "keys", "create a root key", KEY_TYPE, req, &resp);
	if (r < 0)
		return r;
	if (json_object_object_get_ex(resp, "resources", &arr) &&
	    json_object_is_type(arr, json_type_array) && json_object_array_length(arr) == 1)
		id = jget_str(json_object_array_get_idx(arr, 0), "id");
	if (!id || !id[0] || strlen(id) >= KP_ID_MAX || strcspn(id, " /\n\r\t") != strlen(id))
		return kms_fail(k, -EBADMSG, "Key Protect at %s answered without the new key's id",
				p->base_url);
	r = cloud_secret_write(k, p->secret_dir, "IBM_KP_CUSTOMER_ROOT_KEY", id);
	if (r < 0)
		return r;
	*key_id = strdup(id);
	return *key_id ? 0 : -ENOMEM;
}

const struct kms_ops kms_ibmkp_ops = {
	.type = "ibmkeyprotect",
	.mode = KMS_WRAPS,
	.init = kp_init,
	.free = kp_free,
	.wrap = kp_wrap,
	.unwrap = kp_unwrap,
	.check = kp_check,
	.create_key = kp_create_key,
	.cleanup = kp_cleanup,
};
