// SPDX-License-Identifier: MIT
/*
 * KMS type "azure-kv" (ceph-csi's name): Azure Key Vault secrets, the DEK kept by the
 * KMS as ceph-csi keeps its passphrases there (secret name = the volume id, value the
 * passphrase). pvenc's own volumes are KMS-held the same way, under their UUID, with
 * pvenc's owner record (kms/keep.c) base64-encoded as the value: Key Vault's wrapKey
 * (RSA) takes no associated data, and secrets give pvenc volumes the binding and the
 * ceph-csi layout of vault-kv. A delete is Key Vault's (soft) delete, as ceph-csi's.
 *
 * Config (kms.json), ceph-csi's fields: AZURE_VAULT_URL, AZURE_CLIENT_ID,
 * AZURE_TENANT_ID, AZURE_CERT_SECRET_NAME (ceph-csi-azure-credentials: the file
 * secretsDir/<name>/CLIENT_CERT, a PEM certificate with its unencrypted key). pvenc's
 * own: secretsDir, AZURE_AUTHORITY_HOST (https://login.microsoftonline.com, the SDKs'
 * name), AZURE_CA_FILE, AZURE_TIMEOUT (seconds per request, 15).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kms/azure.h"
#include "kms/cloud.h"
#include "kms/cloudresp.h"
#include "net/http.h"
#include "util/b64.h"
#include "util/jsonsec.h"
#include "util/secmem.h"

#define AZ_API	     "api-version=7.5"
#define AZ_VALUE_MAX 4096

static int id_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	return n > 0 && n < AZ_ID_MAX &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._") == n;
}

static int az_init(struct kms *k, struct json_object *cfg)
{
	struct azure *a = calloc(1, sizeof(*a));
	_cleanup_free_ char *dir = NULL;
	const char *client = kms_cfg_str(cfg, "AZURE_CLIENT_ID"),
		   *tenant = kms_cfg_str(cfg, "AZURE_TENANT_ID");
	const char *ca = kms_cfg_str(cfg, "AZURE_CA_FILE");
	char authority[AZ_URL_MAX];
	int r;

	if (!a)
		return -ENOMEM;
	k->priv = a;
	if (!id_ok(client) || !id_ok(tenant))
		return kms_fail(k, -EINVAL, "AZURE_CLIENT_ID and AZURE_TENANT_ID are required");
	(void)snprintf(a->client_id, sizeof(a->client_id), "%s", client);
	(void)snprintf(a->tenant_id, sizeof(a->tenant_id), "%s", tenant);
	a->timeout_ms = cloud_timeout(k, cfg, "AZURE_TIMEOUT");
	if (a->timeout_ms < 0)
		return -EINVAL;
	r = cloud_secret_dir(k, cfg, "AZURE_CERT_SECRET_NAME", "ceph-csi-azure-credentials", &dir);
	if (r < 0)
		return r;
	if (asprintf(&a->cert_file, "%s/CLIENT_CERT", dir) < 0 ||
	    (ca && !(a->ca_file = strdup(ca))))
		return -ENOMEM;
	r = cloud_url(k, cfg, "AZURE_VAULT_URL", NULL, a->vault_url, sizeof(a->vault_url));
	if (r == 0)
		r = cloud_url(k, cfg, "AZURE_AUTHORITY_HOST", "https://login.microsoftonline.com",
			      authority, sizeof(authority));
	if (r < 0)
		return r;
	(void)snprintf(a->token_url, sizeof(a->token_url), "%s/%s/oauth2/v2.0/token", authority,
		       a->tenant_id);
	return kms_set_endpoint(k, "%s", a->vault_url);
}

static void az_free(struct kms *k)
{
	struct azure *a = k->priv;

	if (!a)
		return;
	free(a->cert_file);
	free(a->ca_file);
	free(a);
	k->priv = NULL;
}

/* Key Vault's secret name for a volume id: letters, digits and dashes; pvenc's
 * "<uuid>.next" (a rotation's pending key) becomes "<uuid>-next". */
static int secret_name(struct kms *k, const struct kms_binding *b, char *out, size_t len)
{
	const char *v = b->volume_id;
	size_t n = v ? strlen(v) : 0;

	if (n == 0 || n >= len || n > 127)
		return kms_fail(k, -EINVAL, "volume id '%s' cannot name a Key Vault secret",
				v ? v : "");
	memcpy(out, v, n + 1);
	for (char *c = strchr(out, '.'); c; c = strchr(c, '.'))
		*c = '-';
	if (strspn(out, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != n)
		return kms_fail(k, -EINVAL, "volume id '%s' cannot name a Key Vault secret", v);
	return 0;
}

static int az_error(struct kms *k, const struct azure *a, const char *what, const char *name,
		    long status, struct json_object *o)
{
	char why[300];

	az_error_text(o, why, sizeof(why));
	switch (status) {
	case 401:
		return kms_fail(k, -EKEYEXPIRED,
				"Key Vault at %s refused the token for %s (401, %s)", a->vault_url,
				what, why);
	case 403:
		return kms_fail(k, -EACCES,
				"Key Vault at %s denied %s of secret %s (403, %s): grant client %s "
				"get, set and delete on secrets",
				a->vault_url, what, name, why, a->client_id);
	case 404:
		return kms_fail(k, -ENOKEY, "Key Vault at %s has no secret %s (%s)", a->vault_url,
				name, why);
	case 409:
		return kms_fail(
			k, -EEXIST,
			"Key Vault at %s keeps a deleted secret %s that is not purged (409, "
			"%s): purge or recover it",
			a->vault_url, name, why);
	case 429:
		return kms_fail(k, -EAGAIN,
				"Key Vault at %s is throttling (429, %s); retrying later",
				a->vault_url, why);
	default:
		if (status >= 500)
			return kms_fail(k, -EIO, "Key Vault at %s failed %s (HTTP %ld, %s)",
					a->vault_url, what, status, why);
		return kms_fail(k, -EPROTO, "Key Vault at %s answered %s with HTTP %ld (%s)",
				a->vault_url, what, status, why);
	}
}

static int az_send(const struct azure *a, const char *method, const char *url, const char *tok,
		   const char *body, size_t blen, struct http_resp *rs, char *err, size_t errlen)
{
	_cleanup_secmem_ char *auth = NULL;
	const char *hdrs[4];
	size_t n = (tok ? strlen(tok) : 0) + sizeof("Authorization: ");

	auth = tok ? secmem_alloc(n) : NULL;
	if (!auth)
		return -ENOMEM;
	(void)snprintf(auth, n, "Authorization: %s", tok);
	hdrs[0] = "Accept: application/json";
	hdrs[1] = auth;
	hdrs[2] = body ? "Content-Type: application/json" : NULL;
	hdrs[3] = NULL;
	return cloud_http(method, url, hdrs, body, blen, a->ca_file, a->timeout_ms, rs, err,
			  errlen);
}

struct az_req {
	struct azure *a;
	const char *method, *name, *body;
	size_t blen;
	char url[AZ_URL_MAX + 256];
};

static int az_token_fn(struct kms *k, const void *u, int fresh, char **tok)
{
	return az_token(k, ((const struct az_req *)u)->a, fresh, tok);
}

static int az_send_fn(const void *u, const char *tok, struct http_resp *rs, char *err,
		      size_t errlen)
{
	const struct az_req *q = u;

	return az_send(q->a, q->method, q->url, tok, q->body, q->blen, rs, err, errlen);
}

static int az_fail_fn(struct kms *k, const void *u, long status, struct json_object *o)
{
	const struct az_req *q = u;

	return az_error(k, q->a, q->method, q->name, status, o);
}

/* @method on secrets/@name (@slash: the trailing slash of "latest version"), with
 * kms/cloud.c's retry rules. */
static int az_call(struct kms *k, struct azure *a, const char *method, const char *name, int slash,
		   const char *body, size_t blen, struct json_object **resp)
{
	struct az_req q = { .a = a, .method = method, .name = name, .body = body, .blen = blen };
	const struct cloud_call c = { .service = "Key Vault",
				      .what = method,
				      .u = &q,
				      .token = az_token_fn,
				      .send = az_send_fn,
				      .fail = az_fail_fn };

	(void)snprintf(q.url, sizeof(q.url), "%s/secrets/%s%s?" AZ_API, a->vault_url, name,
		       slash ? "/" : "");
	return cloud_call(k, &c, resp);
}

static int az_fetch(struct kms *k, const struct kms_binding *b, uint8_t **dek, size_t *len)
{
	struct azure *a = k->priv;
	_cleanup_json_wipe_ struct json_object *o = NULL;
	_cleanup_secmem_ uint8_t *out = NULL;
	char name[160];
	const char *v;
	size_t n;
	int r = secret_name(k, b, name, sizeof(name));

	if (r == 0)
		r = az_call(k, a, "GET", name, 1, NULL, 0, &o);
	if (r < 0)
		return r;
	v = jget_str(o, "value");
	n = v ? strlen(v) : 0;
	if (!n || n > AZ_VALUE_MAX)
		return kms_fail(k, -EBADMSG, "Key Vault at %s answered secret %s without a value",
				a->vault_url, name);
	out = secmem_alloc(n + 1);
	if (!out)
		return -ENOMEM;
	if (b->text) {
		memcpy(out, v, n + 1); /* ceph-csi's passphrase, as it is */
		*len = n;
	} else {
		r = b64_decode(v, n, out, n);
		if (r <= 0)
			return kms_fail(k, -EBADMSG,
					"secret %s in Key Vault at %s is not pvenc's (base64)",
					name, a->vault_url);
		*len = (size_t)r;
	}
	*dek = TAKE_PTR(out);
	return 0;
}

static int az_store(struct kms *k, const struct kms_binding *b, const uint8_t *dek, size_t len)
{
	struct azure *a = k->priv;
	_cleanup_json_wipe_ struct json_object *body = json_object_new_object(), *o = NULL;
	_cleanup_secmem_ char *val = NULL, *text = NULL;
	char name[160];
	size_t tlen = 0;
	int r;

	if (!body)
		return -ENOMEM;
	if (len == 0 || len > AZ_VALUE_MAX / 2)
		return kms_fail(k, -EINVAL, "key length %zu out of range", len);
	r = secret_name(k, b, name, sizeof(name));
	if (r < 0)
		return r;
	/* No conditional write in Key Vault: never overwrite a key that exists. */
	if (!b->replace) {
		r = az_call(k, a, "GET", name, 1, NULL, 0, &o);
		if (r == 0)
			return kms_fail(
				k, -EEXIST,
				"Key Vault at %s already holds secret %s; refusing to overwrite it",
				a->vault_url, name);
		if (r != -ENOKEY)
			return r;
		k->error[0] = '\0';
	}
	val = secmem_alloc(b64_encoded_size(len) + 1);
	if (!val)
		return -ENOMEM;
	if (b->text)
		(void)snprintf(val, b64_encoded_size(len) + 1, "%.*s", (int)len, (const char *)dek);
	else
		(void)b64_encode(dek, len, val);
	json_object_object_add(body, "value", json_object_new_string(val));
	text = json_to_secret(body, &tlen);
	if (!text)
		return -ENOMEM;
	json_put_wipe(o);
	o = NULL;
	return az_call(k, a, "PUT", name, 0, text, tlen, &o);
}

static int az_remove(struct kms *k, const struct kms_binding *b)
{
	struct azure *a = k->priv;
	_cleanup_json_wipe_ struct json_object *o = NULL;
	char name[160];
	int r = secret_name(k, b, name, sizeof(name));

	if (r == 0)
		r = az_call(k, a, "DELETE", name, 0, NULL, 0, &o);
	return r == -ENOKEY ? 0 : r;
}

static int az_check(struct kms *k, const struct kms_check_ops *c)
{
	struct azure *a = k->priv;
	_cleanup_secmem_ char *tok = NULL;
	int r;

	kms_report(c, -1, "Key Vault at %s; Azure AD token endpoint %s; TLS CA %s", a->vault_url,
		   a->token_url, a->ca_file ? a->ca_file : "system trust store");
	r = az_token(k, a, 1, &tok);
	kms_report(c, r == 0, "client %s signs in with the certificate in %s%s%s", a->client_id,
		   a->cert_file, r < 0 ? ": " : "", r < 0 ? k->error : "");
	return r;
}

const struct kms_ops kms_azure_ops = {
	.type = "azure-kv",
	.mode = KMS_KEEPS,
	.init = az_init,
	.free = az_free,
	.store = az_store,
	.fetch = az_fetch,
	.remove = az_remove,
	.check = az_check,
	.cleanup = cloud_token_cleanup,
};
