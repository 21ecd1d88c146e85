// SPDX-License-Identifier: MIT
/*
 * The AWS KMS entries of kms.json (kms/aws.c describes the fields): region, endpoints,
 * CA, timeout, and the Secret's files with the key and the credentials, all read at
 * each use so that replaced files take effect without a restart.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kms/aws.h"
#include "util/fileio.h"
#include "util/secmem.h"

#define AWS_SECRET_MAX 4096

/* secret_dir/@name, newline-trimmed, into secmem; -ENOENT when absent. */
static int secret_value(struct kms *k, const struct aws *a, const char *name, char **out)
{
	_cleanup_free_ char *path = NULL;
	uint8_t *raw = NULL;
	size_t len = 0;
	int r;

	*out = NULL;
	if (asprintf(&path, "%s/%s", a->secret_dir, name) < 0)
		return -ENOMEM;
	r = read_secret_file(path, AWS_SECRET_MAX, &raw, &len);
	if (r == -ENOENT)
		return r;
	if (r == -EPERM)
		return kms_fail(k, r,
				"%s must be owned by root and not accessible by group or others "
				"(chmod 0600)",
				path);
	if (r < 0)
		return kms_fail(k, r, "cannot read %s: %s", path, strerror(-r));
	while (len && (raw[len - 1] == '\n' || raw[len - 1] == '\r'))
		raw[--len] = '\0';
	for (size_t i = 0; i < len; i++)
		if (raw[i] < 0x21 || raw[i] > 0x7e) {
			secmem_free(raw);
			return kms_fail(k, -EINVAL,
					"%s holds characters other than printable ASCII", path);
		}
	if (!len) {
		secmem_free(raw);
		return kms_fail(k, -EINVAL, "%s is empty", path);
	}
	*out = (char *)raw;
	return 0;
}

/* A required Secret value copied into @buf. */
static int secret_text(struct kms *k, const struct aws *a, const char *name, char *buf, size_t len)
{
	_cleanup_secmem_ char *v = NULL;
	int r = secret_value(k, a, name, &v);

	if (r == -ENOENT)
		return kms_fail(k, -ENOENT, "%s/%s is missing", a->secret_dir, name);
	if (r < 0 || !v)
		return r < 0 ? r : -EIO;
	if (strlen(v) >= len)
		return kms_fail(k, -EINVAL, "%s/%s is too long", a->secret_dir, name);
	(void)snprintf(buf, len, "%s", v);
	return 0;
}

/* The key the Secret names; none yet is fine until a wrap (kms create-key makes it). */
static int key_text(struct kms *k, struct aws *a)
{
	int r = secret_text(k, a, a->cmk_file, a->cmk, sizeof(a->cmk));

	if (r == -ENOENT) {
		k->error[0] = '\0';
		a->cmk[0] = '\0';
		return 0;
	}
	return r;
}

int aws_url_host(const char *url, char *host, size_t len)
{
	const char *p = !strncmp(url, "https://", 8)  ? url + 8
			: !strncmp(url, "http://", 7) ? url + 7
						      : NULL;
	size_t n;

	if (!p)
		return -EINVAL;
	n = strcspn(p, "/?#");
	if (n == 0 || n >= len || strcspn(p, " @") < n)
		return -EINVAL;
	memcpy(host, p, n);
	host[n] = '\0';
	return 0;
}

static int valid_region(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 32)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

/* Endpoint @key from the entry, else https://<service>.<region>.amazonaws.com. */
static int endpoint(struct kms *k, struct json_object *cfg, const char *key, const char *service,
		    const char *region, char *url, size_t len)
{
	const char *v = kms_cfg_str(cfg, key);
	char host[256];
	int n;

	if (v)
		n = snprintf(url, len, "%s", v);
	else
		n = snprintf(url, len, "https://%s.%s.amazonaws.com", service, region);
	if (n < 0 || (size_t)n >= len)
		return kms_fail(k, -EINVAL, "%s is too long", key);
	while (n > 0 && url[n - 1] == '/')
		url[--n] = '\0';
	if (aws_url_host(url, host, sizeof(host)) < 0 || strchr(url + strlen("https://"), '/'))
		return kms_fail(k, -EINVAL, "%s '%s' is not an http(s)://HOST[:PORT] URL", key,
				url);
	return 0;
}

static int secret_dir(struct kms *k, struct json_object *cfg, const char *key, char **out)
{
	const char *dir = kms_cfg_str(cfg, "secretsDir") ?: "/etc/pvenc/secrets";
	const char *name = kms_cfg_str(cfg, key) ?: "ceph-csi-aws-credentials";

	if (!name[0] || strchr(name, '/') || !strcmp(name, "..") || !strcmp(name, "."))
		return kms_fail(k, -EINVAL, "%s '%s' is not a Secret's name", key, name);
	return asprintf(out, "%s/%s", dir, name) < 0 ? -ENOMEM : 0;
}

static int init_static(struct kms *k, struct aws *a, struct json_object *cfg)
{
	const char *region = kms_cfg_str(cfg, "AWS_REGION");
	int r;

	if (!region || !valid_region(region))
		return kms_fail(k, -EINVAL, "AWS_REGION (e.g. us-east-1) is required");
	(void)snprintf(a->region, sizeof(a->region), "%s", region);
	r = secret_dir(k, cfg, "KMS_SECRET_NAME", &a->secret_dir);
	a->cmk_file = "AWS_CMK_ARN";
	if (r == 0)
		r = key_text(k, a);
	if (r == 0)
		r = secret_value(k, a, "AWS_ACCESS_KEY_ID", &a->creds.access_key);
	if (r == 0)
		r = secret_value(k, a, "AWS_SECRET_ACCESS_KEY", &a->creds.secret_key);
	if (r == -ENOENT)
		return kms_fail(k, r, "%s/AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are required",
				a->secret_dir);
	if (r == 0) {
		r = secret_value(k, a, "AWS_SESSION_TOKEN", &a->creds.session_token);
		r = r == -ENOENT ? 0 : r;
	}
	return r;
}

static int init_sts(struct kms *k, struct aws *a, struct json_object *cfg)
{
	const char *tok = kms_cfg_str(cfg, "AWS_WEB_IDENTITY_TOKEN_FILE");
	int r;

	r = secret_dir(k, cfg, "secretName", &a->secret_dir);
	if (r == 0)
		r = secret_text(k, a, "awsRegion", a->region, sizeof(a->region));
	if (r == 0 && !valid_region(a->region))
		r = kms_fail(k, -EINVAL, "%s/awsRegion '%s' is not a region", a->secret_dir,
			     a->region);
	if (r == 0)
		r = secret_text(k, a, "awsRoleARN", a->role_arn, sizeof(a->role_arn));
	a->cmk_file = "awsCMKARN";
	if (r == 0)
		r = key_text(k, a);
	if (r < 0)
		return r;
	a->token_file = strdup(tok ? tok : "/run/secrets/tokens/oidc-token");
	if (!a->token_file)
		return -ENOMEM;
	return endpoint(k, cfg, "AWS_ENDPOINT_URL_STS", "sts", a->region, a->sts_url,
			sizeof(a->sts_url));
}

/* awsTimeout: whole seconds in [1, 3600], a number or a string; 15 when absent. */
static long timeout_ms(struct json_object *cfg)
{
	struct json_object *o;
	long long v;
	char *end;

	if (!json_object_object_get_ex(cfg, "awsTimeout", &o))
		return 15000;
	if (json_object_is_type(o, json_type_int)) {
		v = json_object_get_int64(o);
	} else if (json_object_is_type(o, json_type_string)) {
		v = strtoll(json_object_get_string(o), &end, 10);
		if (*end && strcmp(end, "s") != 0)
			return -1;
	} else {
		return -1;
	}
	return v >= 1 && v <= 3600 ? (long)v * 1000 : -1;
}

static int aws_init(struct kms *k, struct json_object *cfg, int sts)
{
	struct aws *a = calloc(1, sizeof(*a));
	const char *ca = kms_cfg_str(cfg, "AWS_CA_BUNDLE");
	int r;

	if (!a)
		return -ENOMEM;
	k->priv = a;
	a->sts = sts;
	a->timeout_ms = timeout_ms(cfg);
	if (a->timeout_ms < 0)
		return kms_fail(k, -EINVAL, "awsTimeout must be whole seconds in [1, 3600]");
	r = sts ? init_sts(k, a, cfg) : init_static(k, a, cfg);
	if (r == 0)
		r = endpoint(k, cfg, "AWS_ENDPOINT_URL_KMS", "kms", a->region, a->kms_url,
			     sizeof(a->kms_url));
	if (r == 0)
		r = aws_url_host(a->kms_url, a->host, sizeof(a->host));
	if (r == 0 && ca && !(a->ca_file = strdup(ca)))
		r = -ENOMEM;
	return r < 0 ? r : kms_set_endpoint(k, "%s", a->kms_url);
}

int aws_init_static(struct kms *k, struct json_object *cfg)
{
	return aws_init(k, cfg, 0);
}

int aws_init_sts(struct kms *k, struct json_object *cfg)
{
	return aws_init(k, cfg, 1);
}

void aws_free(struct kms *k)
{
	struct aws *a = k->priv;

	if (!a)
		return;
	aws_creds_clear(&a->creds);
	free(a->secret_dir);
	free(a->token_file);
	free(a->ca_file);
	free(a);
	k->priv = NULL;
}
