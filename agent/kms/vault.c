// SPDX-License-Identifier: MIT
/* Vault / OpenBao connection settings, requests and error mapping (see vault.h). */
#include "kms/vault.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kms/health.h"
#include "util/fileio.h"
#include "util/jsonsec.h"
#include "util/log.h"
#include "util/secmem.h"

#define SECRETS_DIR_DEFAULT "/etc/pvenc/secrets"
#define K8S_SA_TOKEN	    "/var/run/secrets/kubernetes.io/serviceaccount/token"
#define URL_MAX		    2048

/* The first non-empty of @names in the entry. ceph-csi's env-style aliases (VAULT_ADDR,
 * ...) are keys of the entry here, as in its ConfigMap: the process environment is
 * never read. An operator's shell exports VAULT_ADDR or VAULT_SKIP_VERIFY for the vault
 * CLI, and pvencctl run from it must not send the node's token elsewhere. */
const char *vault_cfg(struct json_object *cfg, const char *const *names)
{
	for (; *names; names++) {
		const char *s = kms_cfg_str(cfg, *names);

		if (s && s[0])
			return s;
	}
	return NULL;
}

#define N(...) ((const char *const[]){ __VA_ARGS__, NULL })

static int dup_opt(char **dst, const char *s)
{
	if (!s)
		return 0;
	*dst = strdup(s);
	return *dst ? 0 : -ENOMEM;
}

char *vault_secret_path(const struct vault *v, const char *value, const char *key)
{
	char *p;

	if (!value || !value[0])
		return NULL;
	if (value[0] == '/')
		return strdup(value);
	if (strchr(value, '/') || !strcmp(value, "..") || !strcmp(value, "."))
		return NULL;
	if (asprintf(&p, "%s/%s/%s", v->secrets_dir, value, key) < 0)
		return NULL;
	return p;
}

/* "10", "10s", 10 → milliseconds; -1 if malformed. */
static long parse_seconds(struct json_object *cfg, const char *key, long def)
{
	struct json_object *o;
	char *end;
	double d;

	if (!json_object_object_get_ex(cfg, key, &o))
		return def;
	if (json_object_is_type(o, json_type_int) || json_object_is_type(o, json_type_double))
		d = json_object_get_double(o);
	else if (json_object_is_type(o, json_type_string)) {
		const char *s = json_object_get_string(o);

		d = strtod(s, &end);
		if (end == s || (*end && strcmp(end, "s") != 0))
			return -1;
	} else
		return -1;
	if (!(d > 0 && d <= 3600))
		return -1;
	return (long)(d * 1000);
}

/* A file setting: entry fields first, then ceph-csi's Secret name (resolved under
 * secretsDir). */
static int file_opt(struct kms *k, const struct vault *v, struct json_object *cfg,
		    const char *const *names, const char *secret_field, const char *key, char **out)
{
	const char *s = vault_cfg(cfg, names), *sec = NULL;

	if (!s && secret_field)
		sec = kms_cfg_str(cfg, secret_field);
	if (sec && sec[0])
		*out = vault_secret_path(v, sec, key);
	else if (s)
		*out = strdup(s);
	else
		return 0;
	if (!*out)
		return kms_fail(k, -EINVAL, "%s '%s' is malformed", sec ? secret_field : names[0],
				sec ? sec : s);
	return 0;
}

static int truthy(const char *s)
{
	return s && (!strcmp(s, "1") || !strcasecmp(s, "true") || !strcasecmp(s, "yes"));
}

static int falsy(const char *s)
{
	return s && (!strcmp(s, "0") || !strcasecmp(s, "false") || !strcasecmp(s, "no"));
}

/* ceph-csi gives login paths as "/v1/auth/kubernetes/login" or as a mount name. */
static char *login_path(const char *given, const char *mount_default)
{
	char *p;

	if (!given || !given[0]) {
		if (asprintf(&p, "auth/%s/login", mount_default) < 0)
			return NULL;
		return p;
	}
	while (*given == '/')
		given++;
	if (!strncmp(given, "v1/", 3))
		given += 3;
	if (!strncmp(given, "auth/", 5))
		return strdup(given);
	if (asprintf(&p, "auth/%s/login", given) < 0)
		return NULL;
	return p;
}

static int init_auth(struct kms *k, struct vault *v, struct json_object *cfg, const char *type)
{
	const char *m = vault_cfg(cfg, N("vaultAuthMethod"));
	const char *s;
	int r = 0;

	if (!m) {
		/* ceph-csi's types imply the method; pvenc's types infer it from the fields. */
		int csi_k8s = !strcmp(type, "vault") || !strcmp(type, "vaulttenantsa");

		if (!strcmp(type, "vaulttokens") ||
		    (!csi_k8s && vault_cfg(cfg, N("vaultTokenFile", "tenantTokenName"))))
			m = "token";
		else if (!csi_k8s && vault_cfg(cfg, N("vaultRoleID", "vaultRoleIDFile")))
			m = "approle";
		else if (csi_k8s ||
			 vault_cfg(cfg, N("vaultRole", "tenantSAName", "serviceAccountTokenFile")))
			m = "kubernetes";
		else
			return kms_fail(k, -EINVAL,
					"no Vault auth configured: set vaultAuthMethod (token, "
					"approle, kubernetes or cert) and its fields");
	}
	if (!strcmp(m, "token")) {
		v->auth = VAULT_AUTH_TOKEN;
		s = vault_cfg(cfg, N("vaultTokenFile"));
		v->token_file = s ? vault_secret_path(v, s, "token")
				  : vault_secret_path(v,
						      vault_cfg(cfg, N("tenantTokenName"))
							      ?: "ceph-csi-kms-token",
						      "token");
		if (!v->token_file)
			return kms_fail(k, -EINVAL, "vaultTokenFile/tenantTokenName is malformed");
	} else if (!strcmp(m, "approle")) {
		v->auth = VAULT_AUTH_APPROLE;
		s = vault_cfg(cfg, N("vaultRoleID"));
		if (s)
			r = dup_opt(&v->role_id, s);
		else if ((s = vault_cfg(cfg, N("vaultRoleIDFile")))) {
			_cleanup_free_ char *text = NULL;
			size_t len;

			r = read_file(s, 4096, &text, &len);
			if (r < 0)
				return kms_fail(k, r, "cannot read vaultRoleIDFile %s: %s", s,
						strerror(-r));
			text[strcspn(text, "\r\n")] = '\0';
			r = dup_opt(&v->role_id, text);
		} else
			return kms_fail(k, -EINVAL, "approle auth needs vaultRoleID");
		s = vault_cfg(cfg, N("vaultSecretIDFile"));
		if (s && !(v->secret_id_file = vault_secret_path(v, s, "secret-id")))
			return kms_fail(k, -EINVAL, "vaultSecretIDFile is malformed");
		v->auth_path = login_path(vault_cfg(cfg, N("vaultAuthPath")), "approle");
	} else if (!strcmp(m, "kubernetes") || !strcmp(m, "jwt")) {
		v->auth = VAULT_AUTH_KUBERNETES;
		r = dup_opt(&v->role, vault_cfg(cfg, N("vaultRole")) ?: "csi-kubernetes");
		s = vault_cfg(cfg, N("serviceAccountTokenFile", "tenantSAName"));
		v->jwt_file = vault_secret_path(v, s ? s : K8S_SA_TOKEN, "token");
		if (!v->jwt_file)
			return kms_fail(k, -EINVAL,
					"serviceAccountTokenFile/tenantSAName is malformed");
		v->auth_path = login_path(vault_cfg(cfg, N("vaultAuthPath")),
					  !strcmp(m, "jwt") ? "jwt" : "kubernetes");
	} else if (!strcmp(m, "cert")) {
		v->auth = VAULT_AUTH_CERT;
		if (!v->c.cert || !v->c.key)
			return kms_fail(k, -EINVAL,
					"cert auth needs a client certificate and key "
					"(vaultClientCertFile/vaultClientKeyFile)");
		r = dup_opt(&v->cert_role, vault_cfg(cfg, N("vaultCertRole")));
		v->auth_path = login_path(vault_cfg(cfg, N("vaultAuthPath")), "cert");
	} else
		return kms_fail(k, -EINVAL,
				"vaultAuthMethod '%s' is unknown (token, approle, kubernetes, jwt "
				"or cert)",
				m);
	if (r < 0)
		return r;
	if (v->auth != VAULT_AUTH_TOKEN && !v->auth_path)
		return -ENOMEM;
	return 0;
}

/* 1 if @url names this host only: localhost, 127.0.0.0/8 or ::1 (libcurl's parser). */
static int loopback_url(const char *url)
{
	CURLU *u = curl_url();
	char *host = NULL;
	struct in6_addr a6;
	struct in_addr a4;
	int lo = 0;

	if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
		size_t n = strlen(host);

		if (!strcasecmp(host, "localhost"))
			lo = 1;
		else if (inet_pton(AF_INET, host, &a4) == 1)
			lo = (ntohl(a4.s_addr) >> 24) == 127;
		else if (n > 2 && host[0] == '[' && host[n - 1] == ']') {
			host[n - 1] = '\0';
			lo = inet_pton(AF_INET6, host + 1, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
		}
	}
	curl_free(host);
	curl_url_cleanup(u);
	return lo;
}

/* vaultAddress: https://, or plain http:// to this host (a Vault Agent listener) or
 * where the entry accepts it: tokens and keys would cross the network readable. */
static int init_addr(struct kms *k, struct vault *v, struct json_object *cfg)
{
	const char *addr = vault_cfg(cfg, N("vaultAddress", "VAULT_ADDR"));
	size_t n;
	int r;

	if (!addr)
		return kms_fail(k, -EINVAL,
				"vaultAddress is required (or VAULT_ADDR in the entry)");
	if (strncmp(addr, "https://", 8) != 0 && strncmp(addr, "http://", 7) != 0)
		return kms_fail(k, -EINVAL, "vaultAddress '%s' must start with https:// or http://",
				addr);
	if (strlen(addr) > 512)
		return kms_fail(k, -EINVAL, "vaultAddress is too long");
	if ((r = dup_opt(&v->c.addr, addr)) < 0)
		return r;
	n = strlen(v->c.addr);
	while (n > 8 && v->c.addr[n - 1] == '/')
		v->c.addr[--n] = '\0';
	if (strncmp(addr, "http://", 7) != 0 || loopback_url(addr))
		return 0;
	if (!truthy(vault_cfg(cfg, N("vaultAllowPlainHTTP"))))
		return kms_fail(k, -EINVAL,
				"vaultAddress %s is plain http to another host: tokens and keys "
				"would cross the network unencrypted. Use https://, or set "
				"\"vaultAllowPlainHTTP\": \"true\" in the entry to accept that",
				v->c.addr);
	log_warn("KMS '%s': vaultAddress %s is plain http (vaultAllowPlainHTTP): tokens and "
		 "keys cross the network unencrypted",
		 k->id, v->c.addr);
	return 0;
}

int vault_init(struct kms *k, struct vault *v, struct json_object *cfg, const char *type)
{
	const char *s;
	int r;

	r = init_addr(k, v, cfg);
	if (r < 0)
		return r;
	r = dup_opt(&v->secrets_dir, vault_cfg(cfg, N("secretsDir")) ?: SECRETS_DIR_DEFAULT);
	if (r < 0)
		return r;
	s = vault_cfg(cfg, N("vaultNamespace", "VAULT_NAMESPACE"));
	if ((r = dup_opt(&v->ns, s ?: "")) < 0)
		return r;
	s = vault_cfg(cfg, N("vaultAuthNamespace", "VAULT_AUTH_NAMESPACE"));
	if ((r = dup_opt(&v->auth_ns, s ?: v->ns)) < 0)
		return r;

	/* TLS: files named directly (or by VAULT_* alias keys), or ceph-csi's Secret names. */
	r = file_opt(k, v, cfg, N("vaultCAFile", "VAULT_CACERT"), "vaultCAFromSecret", "cert",
		     &v->c.ca_file);
	if (r == 0)
		r = file_opt(k, v, cfg, N("vaultCAPath", "VAULT_CAPATH"), NULL, NULL,
			     &v->c.ca_path);
	if (r == 0)
		r = file_opt(k, v, cfg, N("vaultClientCertFile", "VAULT_CLIENT_CERT"),
			     "vaultClientCertFromSecret", "cert", &v->c.cert);
	if (r == 0)
		r = file_opt(k, v, cfg, N("vaultClientKeyFile", "VAULT_CLIENT_KEY"),
			     "vaultClientCertKeyFromSecret", "key", &v->c.key);
	if (r < 0)
		return r;
	if (!v->c.cert != !v->c.key)
		return kms_fail(k, -EINVAL, "a client certificate needs its key and vice versa");
	if ((r = dup_opt(&v->c.server_name,
			 vault_cfg(cfg, N("vaultTLSServerName", "VAULT_TLS_SERVER_NAME")))) < 0)
		return r;
	s = vault_cfg(cfg, N("vaultCAVerify"));
	if (falsy(s) || truthy(vault_cfg(cfg, N("VAULT_SKIP_VERIFY")))) {
		v->c.skip_verify = 1;
		log_warn("KMS '%s': TLS certificate verification of %s is OFF (vaultCAVerify/"
			 "VAULT_SKIP_VERIFY): anyone on the path can impersonate Vault and take "
			 "the keys",
			 k->id, v->c.addr);
	}
	v->c.connect_ms = parse_seconds(cfg, "vaultConnectTimeout", 5000);
	v->c.timeout_ms = parse_seconds(cfg, "vaultTimeout", 10000);
	if (v->c.connect_ms < 0 || v->c.timeout_ms < 0)
		return kms_fail(k, -EINVAL,
				"vaultConnectTimeout/vaultTimeout must be seconds in (0, 3600]");

	r = init_auth(k, v, cfg, type);
	if (r < 0)
		return r;
	if (!(k->endpoint = strdup(v->c.addr)))
		return -ENOMEM;
	return 0;
}

void vault_done(struct vault *v)
{
	free(v->c.addr);
	free(v->c.ca_file);
	free(v->c.ca_path);
	free(v->c.cert);
	free(v->c.key);
	free(v->c.server_name);
	free(v->ns);
	free(v->auth_ns);
	free(v->auth_path);
	free(v->token_file);
	free(v->role_id);
	free(v->secret_id_file);
	free(v->role);
	free(v->jwt_file);
	free(v->cert_role);
	free(v->secrets_dir);
	memset(v, 0, sizeof(*v));
}

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
