// SPDX-License-Identifier: MIT
/* Vault / OpenBao requests and the mapping of their errors (see vault.h). */
#include "kms/vault.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kms/health.h"
#include "util/fileio.h"
#include "util/jsonsec.h"
#include "util/log.h"
#include "util/secmem.h"

#define URL_MAX 2048

int vault_raw(const struct vault_conn *c, const char *method, const char *path, const char *ns,
	      const char *token, struct json_object *body, long *status, struct json_object **resp,
	      char *err, size_t errlen)
{
	const struct http_tls tls = { .ca_file = c->ca_file,
				      .ca_path = c->ca_path,
				      .cert = c->cert,
				      .key = c->key,
				      .server_name = c->server_name,
				      .skip_verify = c->skip_verify };
	_cleanup_secmem_ char *tokhdr = NULL, *text = NULL;
	const char *hdrs[4];
	struct http_resp rs;
	char url[URL_MAX], nshdr[300];
	size_t nh = 0, tlen = 0;
	int r;

	*resp = NULL;
	*status = 0;
	if (snprintf(url, sizeof(url), "%s/v1/%s", c->addr, path) >= (int)sizeof(url))
		return -ENAMETOOLONG;
	hdrs[nh++] = "X-Vault-Request: true";
	if (token) {
		size_t n = strlen(token) + sizeof("X-Vault-Token: ");

		tokhdr = secmem_alloc(n);
		if (!tokhdr)
			return -ENOMEM;
		(void)snprintf(tokhdr, n, "X-Vault-Token: %s", token);
		hdrs[nh++] = tokhdr;
	}
	if (ns && ns[0]) {
		(void)snprintf(nshdr, sizeof(nshdr), "X-Vault-Namespace: %s", ns);
		hdrs[nh++] = nshdr;
	}
	hdrs[nh] = NULL;
	if (body) {
		text = json_to_secret(body, &tlen);
		if (!text)
			return -ENOMEM;
	}
	r = http_do(&(struct http_req){ .method = method,
					.url = url,
					.headers = hdrs,
					.body = text,
					.body_len = tlen,
					.tls = &tls,
					.connect_timeout_ms = c->connect_ms,
					.timeout_ms = c->timeout_ms },
		    &rs, err, errlen);
	if (r < 0)
		return r;
	*status = rs.status;
	if (rs.len) {
		*resp = json_parse_secret(rs.body, rs.len);
		if (!*resp || !json_object_is_type(*resp, json_type_object)) {
			json_put_wipe(*resp);
			*resp = NULL;
			(void)snprintf(
				err, errlen,
				"Vault answered %s %s with HTTP %ld and a body that is not a "
				"JSON object",
				method, path, rs.status);
			r = -EPROTO;
		}
	}
	http_resp_clear(&rs);
	return r;
}

void vault_auth_describe(const struct vault *v, char *buf, size_t len)
{
	switch (v->auth) {
	case VAULT_AUTH_TOKEN:
		(void)snprintf(buf, len, "token from %s", v->token_file);
		break;
	case VAULT_AUTH_APPROLE:
		(void)snprintf(buf, len, "AppRole via %s", v->auth_path);
		break;
	case VAULT_AUTH_KUBERNETES:
		(void)snprintf(buf, len, "Kubernetes/JWT role %s via %s with %s", v->role,
			       v->auth_path, v->jwt_file);
		break;
	case VAULT_AUTH_CERT:
		(void)snprintf(buf, len, "TLS certificate %s via %s", v->c.cert, v->auth_path);
		break;
	}
}

/* Maps a non-2xx answer to an errno and a sentence. */
static int map_status(struct kms *k, struct vault *v, const char *method, const char *path,
		      long status, struct json_object *resp, const char *token)
{
	char errs[400], auth[600];

	vault_errors(resp, errs, sizeof(errs));
	switch (status) {
	case 403:
		vault_auth_describe(v, auth, sizeof(auth));
		if (token && vault_session_token_dead(v, token))
			return kms_fail(
				k, -EKEYEXPIRED,
				"Vault at %s no longer accepts the token (%s): it has expired or "
				"was revoked. %s; volumes already open keep working",
				v->c.addr, auth,
				v->auth == VAULT_AUTH_TOKEN ? "Write a fresh token to that file"
							    : "Check the login role's token TTLs");
		return kms_fail(k, -EACCES,
				"Vault at %s denied %s %s%s%s: permission denied; the policy of "
				"the token (%s) must grant it",
				v->c.addr, method, path, v->ns[0] ? " in namespace " : "", v->ns,
				auth);
	case 404:
		return kms_fail(k, -ENOENT, "Vault at %s has nothing at %s%s%s (404)%s%s",
				v->c.addr, path, v->ns[0] ? " in namespace " : "", v->ns,
				errs[0] ? ": " : "", errs);
	case 429:
		return kms_fail(k, -EAGAIN,
				"Vault at %s is rate-limiting (429%s%s); retrying later", v->c.addr,
				errs[0] ? ": " : "", errs);
	case 503:
		if (strstr(errs, "sealed"))
			return kms_fail(k, -EAGAIN,
					"Vault at %s is sealed (503); unseal it — pvenc retries",
					v->c.addr);
		return kms_fail(k, -EAGAIN, "Vault at %s is unavailable (503%s%s)", v->c.addr,
				errs[0] ? ": " : "", errs);
	case 400:
		if (strstr(errs, "encryption key not found") || strstr(errs, "key not found"))
			return kms_fail(k, -ENOKEY, "Vault at %s: %s: no such key (%s)", v->c.addr,
					path, errs);
		if (strstr(errs, "message authentication failed"))
			return kms_fail(k, -EKEYREJECTED,
					"Vault at %s could not decrypt the wrapped DEK with %s: it "
					"was tampered with, belongs to another volume, or another "
					"key of that name",
					v->c.addr, path);
		if (strstr(errs, "disallowed by policy"))
			return kms_fail(k, -EKEYREJECTED,
					"Vault at %s refuses the wrapped DEK's key version (%s): "
					"min_decryption_version was raised before the volume was "
					"rewrapped; lower it, then run pvencctl rotate --kek",
					v->c.addr, errs);
		return kms_fail(k, -EINVAL, "Vault at %s rejected %s %s (400): %s", v->c.addr,
				method, path, errs[0] ? errs : "no reason given");
	default:
		if (status >= 300 && status < 400)
			return kms_fail(k, -EPROTO,
					"Vault at %s answered %s %s with a redirect (%ld), which "
					"pvenc does not follow: point vaultAddress at the active "
					"node or its load balancer",
					v->c.addr, method, path, status);
		if (status >= 500)
			return kms_fail(k, -EIO, "Vault at %s failed %s %s (%ld%s%s)", v->c.addr,
					method, path, status, errs[0] ? ": " : "", errs);
		return kms_fail(k, -EPROTO, "Vault at %s answered %s %s with HTTP %ld%s%s",
				v->c.addr, method, path, status, errs[0] ? ": " : "", errs);
	}
}

int vault_request(struct kms *k, struct vault *v, const char *method, const char *path,
		  struct json_object *body, struct json_object **resp, long *status)
{
	char err[512];
	long st = 0;
	int r;

	*resp = NULL;
	for (int attempt = 0;; attempt++) {
		_cleanup_secmem_ char *token = NULL;
		struct json_object *o = NULL;

		r = vault_session_token(k, v, &token);
		if (v->sess)
			kms_health_ttl_source(k->id, vault_session_ttl_left, v->sess);
		if (r < 0)
			break;
		err[0] = '\0';
		r = vault_raw(&v->c, method, path, v->ns, token, body, &st, &o, err, sizeof(err));
		if (r < 0) {
			r = kms_fail(k, r, "Vault: %s", err);
			break;
		}
		if (st >= 200 && st < 300) {
			*resp = o;
			break;
		}
		if (st == 403 && attempt == 0 && vault_session_refresh(k, v, token) > 0) {
			json_put_wipe(o);
			continue;
		}
		r = map_status(k, v, method, path, st, o, st == 403 ? token : NULL);
		json_put_wipe(o);
		break;
	}
	if (status)
		*status = st;
	return r;
}

int vault_check_conn(struct kms *k, struct vault *v, const struct kms_check_ops *c)
{
	_cleanup_secmem_ char *token = NULL;
	struct json_object *o = NULL;
	char err[512] = "", auth[600];
	long st;
	int r;

	kms_report(c, -1, "address %s%s%s%s%s", v->c.addr, v->ns[0] ? ", namespace " : "", v->ns,
		   v->c.server_name ? ", TLS server name " : "",
		   v->c.server_name ? v->c.server_name : "");
	if (!strncmp(v->c.addr, "https://", 8))
		kms_report(c, -1, "TLS: CA %s%s%s",
			   v->c.ca_file	  ? v->c.ca_file
			   : v->c.ca_path ? v->c.ca_path
					  : "system trust store",
			   v->c.cert ? ", client certificate " : "", v->c.cert ? v->c.cert : "");
	if (v->c.skip_verify)
		kms_report(c, 0, "TLS verification is OFF (vaultCAVerify=false/VAULT_SKIP_VERIFY)");
	r = vault_raw(&v->c, "GET", "sys/health?standbyok=true", v->ns, NULL, NULL, &st, &o, err,
		      sizeof(err));
	if (r < 0) {
		kms_report(c, 0, "reach Vault: %s", err);
		return kms_fail(k, r, "Vault: %s", err);
	}
	if (st == 200 || st == 429 || st == 473)
		kms_report(c, 1, "reach Vault: initialized, unsealed, version %s",
			   jget_str(o, "version") ?: "?");
	else if (st == 503)
		kms_report(c, 0, "reach Vault: it is sealed");
	else
		kms_report(c, 0, "reach Vault: sys/health answered HTTP %ld", st);
	json_put_wipe(o);
	vault_auth_describe(v, auth, sizeof(auth));
	r = vault_session_token(k, v, &token);
	if (r < 0) {
		kms_report(c, 0, "authenticate (%s): %s", auth, k->error);
		return r;
	}
	kms_report(c, 1, "authenticate (%s)", auth);
	return 0;
}
