// SPDX-License-Identifier: MIT
/*
 * KMS type "ibmkeyprotect" (ceph-csi's name): IBM Key Protect's REST API v2. The root
 * key never leaves Key Protect; DEKs are wrapped and unwrapped by it with associated
 * data (aad) and stored in image metadata.
 *
 * Config (kms.json), ceph-csi's fields: IBM_KP_SERVICE_INSTANCE_ID (required),
 * IBM_KP_SECRET_NAME (ceph-csi-kp-credentials: the files secretsDir/<name>/
 * IBM_KP_SERVICE_API_KEY and IBM_KP_CUSTOMER_ROOT_KEY), IBM_KP_BASE_URL
 * (https://us-south.kms.cloud.ibm.com), IBM_KP_TOKEN_URL
 * (https://iam.cloud.ibm.com/oidc/token); IBM_KP_REGION is accepted and unused, as in
 * ceph-csi. pvenc's own: secretsDir (/etc/pvenc/secrets), IBM_KP_CA_FILE (a PEM CA file
 * instead of the system's), IBM_KP_TIMEOUT (seconds per request, 15).
 *
 * IAM: the API key is exchanged for a bearer token (grant_type apikey), kept by the
 * process until 60 s before it expires, and exchanged again once when Key Protect
 * answers 401.
 *
 * pvenc volumes: wrap {"plaintext": base64(DEK), "aad": ["<binding AAD>"]}; pvenc.dek is
 * Key Protect's ciphertext text. ceph-csi volumes: the passphrase is the plaintext as
 * sent (ceph-csi hands its base64-alphabet passphrase over as it is), aad [<CSI volume
 * id>], and rbd.csi.ceph.com/dek is the ciphertext base64-encoded once more.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "kms/cloud.h"
#include "kms/cloudresp.h"
#include "kms/ibmkp.h"
#include "net/http.h"
#include "util/b64.h"
#include "util/fileio.h"
#include "util/formenc.h"
#include "util/jsonsec.h"
#include "util/secmem.h"

/* ---- config ---- */

static int id_text(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	return n > 0 && n < KP_ID_MAX &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == n;
}

int kp_init(struct kms *k, struct json_object *cfg)
{
	struct ibmkp *p = calloc(1, sizeof(*p));
	const char *inst = kms_cfg_str(cfg, "IBM_KP_SERVICE_INSTANCE_ID");
	const char *ca = kms_cfg_str(cfg, "IBM_KP_CA_FILE");
	_cleanup_secmem_ char *crk = NULL;
	int r;

	if (!p)
		return -ENOMEM;
	k->priv = p;
	if (!inst || !id_text(inst))
		return kms_fail(k, -EINVAL,
				"IBM_KP_SERVICE_INSTANCE_ID (the instance's GUID) is required");
	(void)snprintf(p->instance, sizeof(p->instance), "%s", inst);
	p->timeout_ms = cloud_timeout(k, cfg, "IBM_KP_TIMEOUT");
	if (p->timeout_ms < 0)
		return -EINVAL;
	r = cloud_secret_dir(k, cfg, "IBM_KP_SECRET_NAME", "ceph-csi-kp-credentials",
			     &p->secret_dir);
	if (r < 0)
		return r;
	if (ca && !(p->ca_file = strdup(ca)))
		return -ENOMEM;
	r = cloud_url(k, cfg, "IBM_KP_BASE_URL", "https://us-south.kms.cloud.ibm.com", p->base_url,
		      sizeof(p->base_url));
	if (r == 0)
		r = cloud_url(k, cfg, "IBM_KP_TOKEN_URL", "https://iam.cloud.ibm.com/oidc/token",
			      p->token_url, sizeof(p->token_url));
	if (r == 0)
		r = cloud_secret(k, p->secret_dir, "IBM_KP_SERVICE_API_KEY", &p->api_key);
	if (r == -ENOENT)
		return kms_fail(k, r, "%s/IBM_KP_SERVICE_API_KEY is required", p->secret_dir);
	if (r == 0) {
		r = cloud_secret(k, p->secret_dir, "IBM_KP_CUSTOMER_ROOT_KEY", &crk);
		if (r == -ENOENT) {
			k->error[0] = '\0';
			r = 0;
		} else if (r == 0 && !id_text(crk)) {
			r = kms_fail(k, -EINVAL,
				     "%s/IBM_KP_CUSTOMER_ROOT_KEY is not a key id or alias",
				     p->secret_dir);
		} else if (r == 0) {
			(void)snprintf(p->crk, sizeof(p->crk), "%s", crk);
		}
	}
	return r < 0 ? r : kms_set_endpoint(k, "%s/%s", p->base_url, p->instance);
}

void kp_free(struct kms *k)
{
	struct ibmkp *p = k->priv;

	if (!p)
		return;
	secmem_free(p->api_key);
	free(p->secret_dir);
	free(p->ca_file);
	free(p);
	k->priv = NULL;
}

/* ---- IAM: API key -> bearer token, kept per process (kms/cloud.c) ---- */

/* IAM's answer: {"access_token", "token_type": "Bearer", "expires_in", ...}. */
static int take_token(struct kms *k, const struct ibmkp *p, long status, struct json_object *o,
		      char **token, time_t *expires)
{
	if (status != 200) {
		const char *code = jget_str(o, "errorCode"), *msg = jget_str(o, "errorMessage");

		if (status == 429 || status >= 500)
			return kms_fail(k, -EAGAIN,
					"IAM at %s is unavailable (HTTP %ld); retrying later",
					p->token_url, status);
		return kms_fail(k, -EACCES,
				"IAM at %s refused the API key in %s (HTTP %ld%s%.40s%s%.200s)",
				p->token_url, p->secret_dir, status, code ? ", " : "",
				code ? code : "", msg ? ": " : "", msg ? msg : "");
	}
	if (bearer_token(o, token, expires) < 0)
		return kms_fail(k, -EBADMSG, "IAM at %s answered without a bearer token",
				p->token_url);
	return 0;
}

static int iam_login(struct kms *k, const struct ibmkp *p, char **token, time_t *expires)
{
	const char *hdrs[] = { "Content-Type: application/x-www-form-urlencoded",
			       "Accept: application/json", NULL };
	_cleanup_secmem_ char *body = NULL, *key = NULL;
	_cleanup_json_wipe_ struct json_object *o = NULL;
	struct http_resp rs = { 0 };
	size_t cap = 3 * strlen(p->api_key) + 1, blen;
	char err[512] = "";
	int r;

	key = secmem_alloc(cap);
	body = secmem_alloc(cap + 64);
	if (!key || !body || form_encode(p->api_key, key, cap) < 0)
		return -ENOMEM;
	blen = (size_t)snprintf(
		body, cap + 64,
		"grant_type=urn%%3Aibm%%3Aparams%%3Aoauth%%3Agrant-type%%3Aapikey&apikey=%s", key);
	r = cloud_http("POST", p->token_url, hdrs, body, blen, p->ca_file, p->timeout_ms, &rs, err,
		       sizeof(err));
	if (r < 0)
		return kms_fail(k, r, "IAM at %s: %s", p->token_url, err);
	if (rs.len)
		o = json_parse_secret(rs.body, rs.len);
	r = take_token(k, p, rs.status, o, token, expires);
	http_resp_clear(&rs);
	return r;
}

static int iam_login_fn(struct kms *k, const void *u, char **token, time_t *expires)
{
	return iam_login(k, u, token, expires);
}

/* The cached token, or a new one (@fresh: always new, the cached one was refused). The
 * cache is keyed by the token URL and a digest of the API key, never the key itself. */
static int iam_token(struct kms *k, const struct ibmkp *p, int fresh, char **out)
{
	unsigned char d[32];
	unsigned int n = 0;
	char who[KP_URL_MAX + 80];
	size_t len;

	if (EVP_Digest(p->api_key, strlen(p->api_key), d, &n, EVP_sha256(), NULL) != 1)
		return -EIO;
	len = (size_t)snprintf(who, sizeof(who), "%s|", p->token_url);
	for (unsigned int i = 0; i < n && len + 3 < sizeof(who); i++, len += 2)
		(void)snprintf(who + len, 3, "%02x", d[i]);
	return cloud_token(k, who, fresh, iam_login_fn, p, out);
}

void kp_cleanup(void)
{
	cloud_token_cleanup();
}

/* ---- Key Protect calls ---- */

static int kp_error(struct kms *k, const struct ibmkp *p, const char *what, long status,
		    struct json_object *o)
{
	char why[300];

	kp_error_text(o, why, sizeof(why));
	switch (status) {
	case 401:
		return kms_fail(k, -EKEYEXPIRED,
				"Key Protect at %s refused the IAM token for %s (401, %s): the API "
				"key in %s is revoked or lost its access",
				p->base_url, what, why, p->secret_dir);
	case 403:
		return kms_fail(k, -EACCES,
				"Key Protect at %s denied %s on key %s of instance %s (403, %s): "
				"grant the API key's service ID the Reader role (wrap, unwrap)",
				p->base_url, what, p->crk, p->instance, why);
	case 404:
	case 410:
		return kms_fail(k, -ENOKEY,
				"Key Protect at %s has no usable key %s in instance %s (%ld, %s)",
				p->base_url, p->crk, p->instance, status, why);
	case 409:
		return kms_fail(k, -ENOKEY,
				"Key Protect at %s cannot %s with key %s in its state (409, %s): "
				"enable or restore it",
				p->base_url, what, p->crk, why);
	case 400:
		if (strstr(why, "INVALID_FIELD_ERR") && !strcmp(what, "unwrap"))
			return kms_fail(
				k, -EKEYREJECTED,
				"Key Protect at %s refused to unwrap the wrapped DEK with key "
				"%s (%s): it was tampered with, belongs to another volume, or "
				"another root key wrapped it",
				p->base_url, p->crk, why);
		return kms_fail(k, -EINVAL, "Key Protect at %s rejected %s (400, %s)", p->base_url,
				what, why);
	case 429:
		return kms_fail(k, -EAGAIN,
				"Key Protect at %s is rate-limiting (429, %s); retrying later",
				p->base_url, why);
	default:
		if (status >= 500)
			return kms_fail(k, -EIO, "Key Protect at %s failed %s (HTTP %ld, %s)",
					p->base_url, what, status, why);
		return kms_fail(k, -EPROTO, "Key Protect at %s answered %s with HTTP %ld (%s)",
				p->base_url, what, status, why);
	}
}

static void correlation_id(char out[37])
{
	unsigned char b[16];

	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		memset(b, 0, sizeof(b));
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	(void)snprintf(out, 37,
		       "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
		       b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		       b[13], b[14], b[15]);
}

/* One POST of @body to api/v2/@path with the bearer token @tok. */
static int kp_post(const struct ibmkp *p, const char *path, const char *ctype, const char *tok,
		   const char *body, size_t blen, struct http_resp *rs, char *err, size_t errlen)
{
	_cleanup_secmem_ char *auth = NULL;
	char url[2 * KP_URL_MAX], inst[KP_ID_MAX + 32], corr[80], cid[37], ct[128];
	const char *hdrs[7];
	size_t n = (tok ? strlen(tok) : 0) + sizeof("Authorization: ");

	auth = tok ? secmem_alloc(n) : NULL;
	if (!auth)
		return -ENOMEM;
	(void)snprintf(auth, n, "Authorization: %s", tok);
	(void)snprintf(url, sizeof(url), "%s/api/v2/%s", p->base_url, path);
	(void)snprintf(inst, sizeof(inst), "Bluemix-Instance: %s", p->instance);
	correlation_id(cid);
	(void)snprintf(corr, sizeof(corr), "Correlation-Id: %s", cid);
	(void)snprintf(ct, sizeof(ct), "Content-Type: %s", ctype);
	hdrs[0] = "Accept: application/json";
	hdrs[1] = auth;
	hdrs[2] = inst;
	hdrs[3] = corr;
	hdrs[4] = ct;
	hdrs[5] = NULL;
	return cloud_http("POST", url, hdrs, body, blen, p->ca_file, p->timeout_ms, rs, err,
			  errlen);
}

struct kp_req {
	struct ibmkp *p;
	const char *path, *what, *ctype, *body;
	size_t blen;
};

static int kp_token_fn(struct kms *k, const void *u, int fresh, char **tok)
{
	return iam_token(k, ((const struct kp_req *)u)->p, fresh, tok);
}

static int kp_send_fn(const void *u, const char *tok, struct http_resp *rs, char *err,
		      size_t errlen)
{
	const struct kp_req *q = u;

	return kp_post(q->p, q->path, q->ctype, tok, q->body, q->blen, rs, err, errlen);
}

static int kp_fail_fn(struct kms *k, const void *u, long status, struct json_object *o)
{
	const struct kp_req *q = u;

	return kp_error(k, q->p, q->what, status, o);
}

int kp_call(struct kms *k, struct ibmkp *p, const char *path, const char *what, const char *ctype,
	    struct json_object *req, struct json_object **resp)
{
	_cleanup_secmem_ char *body = NULL;
	struct kp_req q = { .p = p, .path = path, .what = what, .ctype = ctype };
	const struct cloud_call c = { .service = "Key Protect",
				      .what = what,
				      .u = &q,
				      .token = kp_token_fn,
				      .send = kp_send_fn,
				      .fail = kp_fail_fn };

	*resp = NULL;
	body = json_to_secret(req, &q.blen);
	if (!body)
		return -ENOMEM;
	q.body = body;
	return cloud_call(k, &c, resp);
}
