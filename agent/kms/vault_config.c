// SPDX-License-Identifier: MIT
/* Vault / OpenBao entries of kms.json: address, TLS, timeouts and auth (see vault.h). */
#include "kms/vault.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/fileio.h"
#include "util/jsonsec.h"
#include "util/log.h"
#include "util/secmem.h"

#define SECRETS_DIR_DEFAULT "/etc/pvenc/secrets"
#define K8S_SA_TOKEN	    "/var/run/secrets/kubernetes.io/serviceaccount/token"

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

/* ceph-csi's types imply the method; pvenc's types infer it from the fields. NULL:
 * nothing says. */
static const char *auth_method_of(struct json_object *cfg, const char *type)
{
	int csi_k8s = !strcmp(type, "vault") || !strcmp(type, "vaulttenantsa");

	if (!strcmp(type, "vaulttokens") ||
	    (!csi_k8s && vault_cfg(cfg, N("vaultTokenFile", "tenantTokenName"))))
		return "token";
	if (!csi_k8s && vault_cfg(cfg, N("vaultRoleID", "vaultRoleIDFile")))
		return "approle";
	if (csi_k8s || vault_cfg(cfg, N("vaultRole", "tenantSAName", "serviceAccountTokenFile")))
		return "kubernetes";
	return NULL;
}

/* AppRole's role id: given, or read from vaultRoleIDFile. */
static int role_id_of(struct kms *k, struct vault *v, struct json_object *cfg)
{
	_cleanup_free_ char *text = NULL;
	const char *s = vault_cfg(cfg, N("vaultRoleID"));
	size_t len;
	int r;

	if (s)
		return dup_opt(&v->role_id, s);
	s = vault_cfg(cfg, N("vaultRoleIDFile"));
	if (!s)
		return kms_fail(k, -EINVAL, "approle auth needs vaultRoleID");
	r = read_file(s, 4096, &text, &len);
	if (r < 0)
		return kms_fail(k, r, "cannot read vaultRoleIDFile %s: %s", s, strerror(-r));
	text[strcspn(text, "\r\n")] = '\0';
	return dup_opt(&v->role_id, text);
}

static int init_auth(struct kms *k, struct vault *v, struct json_object *cfg, const char *type)
{
	const char *m = vault_cfg(cfg, N("vaultAuthMethod"));
	const char *s;
	int r = 0;

	if (!m)
		m = auth_method_of(cfg, type);
	if (!m)
		return kms_fail(k, -EINVAL,
				"no Vault auth configured: set vaultAuthMethod (token, approle, "
				"kubernetes or cert) and its fields");
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
		r = role_id_of(k, v, cfg);
		if (r < 0)
			return r;
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
