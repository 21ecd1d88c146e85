/* SPDX-License-Identifier: MIT */
/*
 * Vault / OpenBao: what the Transit and KV providers share. Connection settings, auth
 * (token file, AppRole, Kubernetes/JWT, TLS certificate) with a per-process token cache,
 * renewal, and one request helper that turns Vault's status codes into errnos and
 * sentences an operator can act on.
 *
 * Config field names are ceph-csi's (vaultAddress, vaultNamespace, vaultBackendPath, ...)
 * so an entry from a csi-kms-connection-details ConfigMap can be pasted as it is; the
 * Kubernetes "FromSecret"/"Name" fields name files under secretsDir instead
 * (secretsDir/<name>/<key>, the layout Kubernetes uses when it mounts a Secret).
 */
#ifndef PVENC_KMS_VAULT_H
#define PVENC_KMS_VAULT_H

#include <json-c/json.h>

#include "kms/provider.h"
#include "net/http.h"

enum vault_auth_method {
	VAULT_AUTH_TOKEN,
	VAULT_AUTH_APPROLE,
	VAULT_AUTH_KUBERNETES,
	VAULT_AUTH_CERT,
};

struct vault_session;

/* Where and how to connect; also what identifies a cached token. */
struct vault_conn {
	char *addr; /* scheme://host[:port], no trailing slash */
	char *ca_file, *ca_path, *cert, *key, *server_name;
	int skip_verify;
	long connect_ms, timeout_ms;
};

struct vault {
	struct vault_conn c;
	char *ns; /* X-Vault-Namespace for data requests ("" = none) */
	char *auth_ns; /* ... for login requests */
	enum vault_auth_method auth;
	char *auth_path; /* login path under /v1/, e.g. auth/approle/login */
	char *token_file; /* token */
	char *role_id, *secret_id_file; /* approle */
	char *role, *jwt_file; /* kubernetes */
	char *cert_role; /* cert: optional role name */
	char *secrets_dir;
	struct vault_session *sess;
};

/* Entry field (any of the NULL-terminated names), else the first VAULT_/BAO_ environment
 * variable given in @env (NULL: none). */
const char *vault_cfg(struct json_object *cfg, const char *const *names);

/* Parses the connection and auth part of an entry. @type is the entry's KMS type, which
 * picks ceph-csi's defaults (vaulttokens: token; vault, vaulttenantsa: kubernetes). */
int vault_init(struct kms *k, struct vault *v, struct json_object *cfg, const char *type);
void vault_done(struct vault *v);

/* Secret file path for a ceph-csi "...FromSecret"/"...Name" value: absolute paths are
 * used as they are, names map to secretsDir/<name>/<key>. */
char *vault_secret_path(const struct vault *v, const char *value, const char *key);

/*
 * One authenticated request: @path is relative to /v1/, @body may be NULL. On a 2xx
 * answer *resp is the parsed body (NULL for 204) and 0 is returned. A 403 is retried once
 * after fresh credentials (re-login, changed token file). Errors set k->error:
 * -EACCES policy, -EKEYEXPIRED token expired/revoked, -ENOENT 404, -ENOKEY missing key,
 * -EKEYREJECTED authentication failure of a ciphertext, -EAGAIN sealed/429/standby,
 * -EIO 5xx, -EPROTO malformed answer or TLS, transport errnos from http_do.
 * *status (if given) receives the HTTP status, also on errors.
 */
int vault_request(struct kms *k, struct vault *v, const char *method, const char *path,
		  struct json_object *body, struct json_object **resp, long *status);

/* Error text of a Vault error body ({"errors": [...]}), "" when there is none. */
void vault_errors(struct json_object *resp, char *buf, size_t len);

/* Operator-facing description of the auth in use, e.g. "approle (auth/approle/login)". */
void vault_auth_describe(const struct vault *v, char *buf, size_t len);

/* One HTTP exchange, no auth logic: 0 when Vault answered (*status; *resp is the parsed
 * body or NULL when empty), -EPROTO when a body is not JSON, transport errnos. */
int vault_raw(const struct vault_conn *c, const char *method, const char *path, const char *ns,
	      const char *token, struct json_object *body, long *status, struct json_object **resp,
	      char *err, size_t errlen);

/* Token for a request (secmem copy in *token), logging in or renewing as needed. */
int vault_session_token(struct kms *k, struct vault *v, char **token);
/* After a 403: 1 if fresh credentials are now in place (retry once), 0 if not. */
int vault_session_refresh(struct kms *k, struct vault *v, const char *used);
/* 1 when the token is known to be dead (lookup-self refused), for the 403 message. */
int vault_session_token_dead(struct vault *v, const char *token);

/* Health and login, for `pvencctl kms check`. */
int vault_check_conn(struct kms *k, struct vault *v, const struct kms_check_ops *c);

/* Agent: renew renewable tokens read from files in the background (they would expire
 * between volume opens otherwise). Idempotent. */
void vault_start_renewer(void);
/* Seconds the token of session @arg (a struct vault_session) has left; -1 when it does
 * not expire or is not known, 0 when expired or refused. For kms_health_ttl_source. */
long vault_session_ttl_left(const void *arg);
/* Frees the session cache (process exit). */
void vault_cleanup(void);

#endif
