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

#endif
