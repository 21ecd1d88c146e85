/* SPDX-License-Identifier: MIT */
/*
 * What the cloud KMS providers (aws*.c, ibmkp*.c, azure*.c) share: ceph-csi's Secrets
 * as files, their settings, and the process's cache of bearer tokens.
 */
#ifndef PVENC_KMS_CLOUD_H
#define PVENC_KMS_CLOUD_H

#include <json-c/json.h>
#include <stddef.h>
#include <time.h>

#include "kms/provider.h"

/* The value of Secret key @name: the file @dir/@name (mode 0600, root), trailing
 * newlines dropped, printable ASCII, not empty; into secmem. -ENOENT when there is no
 * such file (k->error untouched), other errors with k->error set. */
int cloud_secret(struct kms *k, const char *dir, const char *name, char **out);
/* Writes @value as the new file @dir/@name (0600; never over an existing one). */
int cloud_secret_write(struct kms *k, const char *dir, const char *name, const char *value);
/* secretsDir/<the Secret name in @key, or @def> into *dir (malloc). */
int cloud_secret_dir(struct kms *k, struct json_object *cfg, const char *key, const char *def,
		     char **dir);
/* Setting @key: whole seconds in [1, 3600] (a number or "N"/"Ns"), 15 when absent; in
 * milliseconds, or -1 (k->error set). */
long cloud_timeout(struct kms *k, struct json_object *cfg, const char *key);
/* Setting @key (else @def): an http(s) URL without a trailing slash, query or fragment. */
int cloud_url(struct kms *k, struct json_object *cfg, const char *key, const char *def, char *url,
	      size_t len);
/* A copy of @s in secmem (NULL for NULL). */
char *cloud_sdup(const char *s);

/* The process's bearer tokens, one per @who (an endpoint and credential): the cached
 * one until a minute before it expires, unless @fresh, else @login's new one. */
typedef int (*cloud_login_fn)(struct kms *k, const void *u, char **tok, time_t *expires);
int cloud_token(struct kms *k, const char *who, int fresh, cloud_login_fn login, const void *u,
		char **out);
void cloud_token_cleanup(void);

/* @method @url with @hdrs and @body through net/http.h, trusting @ca_file (NULL: the
 * system's CAs), 5 s to connect and @timeout_ms in all: the one way the cloud providers
 * send a request. */
struct http_resp;
int cloud_http(const char *method, const char *url, const char *const *hdrs, const char *body,
	       size_t blen, const char *ca_file, long timeout_ms, struct http_resp *rs, char *err,
	       size_t errlen);

/* One authenticated request with the cloud providers' retry rules: a bearer token
 * (@token), the request sent with it (@send), three tries in all for 429, 5xx but 501,
 * resets and timeouts (0.2 s, then 0.8 s apart), one new token on 401; other answers
 * and the last failure mapped by @fail. *resp gets a 2xx answer's JSON (NULL for an
 * empty body; an answer that is not JSON is refused). */
struct http_resp;
struct cloud_call {
	const char *service; /* "Key Protect", "Key Vault": in messages */
	const char *what; /* the operation: in messages and the debug log */
	const void *u;
	int (*token)(struct kms *k, const void *u, int fresh, char **tok);
	int (*send)(const void *u, const char *tok, struct http_resp *rs, char *err, size_t errlen);
	int (*fail)(struct kms *k, const void *u, long status, struct json_object *o);
};
int cloud_call(struct kms *k, const struct cloud_call *c, struct json_object **resp);

#endif
