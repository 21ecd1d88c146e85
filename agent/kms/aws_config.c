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
#include "kms/cloud.h"
#include "util/secmem.h"

/* A required Secret value copied into @buf. */
static int secret_text(struct kms *k, const struct aws *a, const char *name, char *buf, size_t len)
{
	_cleanup_secmem_ char *v = NULL;
	int r = cloud_secret(k, a->secret_dir, name, &v);

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

static int init_static(struct kms *k, struct aws *a, struct json_object *cfg)
{
	const char *region = kms_cfg_str(cfg, "AWS_REGION");
	int r;

	if (!region || !valid_region(region))
		return kms_fail(k, -EINVAL, "AWS_REGION (e.g. us-east-1) is required");
	(void)snprintf(a->region, sizeof(a->region), "%s", region);
	r = cloud_secret_dir(k, cfg, "KMS_SECRET_NAME", "ceph-csi-aws-credentials", &a->secret_dir);
	a->cmk_file = "AWS_CMK_ARN";
	if (r == 0)
		r = key_text(k, a);
	if (r == 0)
		r = cloud_secret(k, a->secret_dir, "AWS_ACCESS_KEY_ID", &a->creds.access_key);
	if (r == 0)
		r = cloud_secret(k, a->secret_dir, "AWS_SECRET_ACCESS_KEY", &a->creds.secret_key);
	if (r == -ENOENT)
		return kms_fail(k, r, "%s/AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are required",
				a->secret_dir);
	if (r == 0) {
		r = cloud_secret(k, a->secret_dir, "AWS_SESSION_TOKEN", &a->creds.session_token);
		r = r == -ENOENT ? 0 : r;
	}
	return r;
}

static int init_sts(struct kms *k, struct aws *a, struct json_object *cfg)
{
	const char *tok = kms_cfg_str(cfg, "AWS_WEB_IDENTITY_TOKEN_FILE");
	int r;

	r = cloud_secret_dir(k, cfg, "secretName", "ceph-csi-aws-credentials", &a->secret_dir);
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

static int aws_init(struct kms *k, struct json_object *cfg, int sts)
{
	struct aws *a = calloc(1, sizeof(*a));
	const char *ca = kms_cfg_str(cfg, "AWS_CA_BUNDLE");
	int r;

	if (!a)
		return -ENOMEM;
	k->priv = a;
	a->sts = sts;
	a->timeout_ms = cloud_timeout(k, cfg, "awsTimeout");
	if (a->timeout_ms < 0)
		return -EINVAL;
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
