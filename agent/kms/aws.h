/* SPDX-License-Identifier: MIT */
/* The AWS KMS providers' shared parts (aws.c, aws_sts.c); not a public API. */
#ifndef PVENC_KMS_AWS_H
#define PVENC_KMS_AWS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "kms/provider.h"

#define AWS_URL_MAX 512
#define AWS_ARN_MAX 2048

/* Credentials for one call: static ones from the Secret's files, or temporary ones
 * from STS. All secmem. */
struct aws_creds {
	char *access_key;
	char *secret_key;
	char *session_token; /* NULL: none */
	time_t expires; /* 0: static */
};
void aws_creds_clear(struct aws_creds *c);

struct aws {
	int sts; /* aws-sts-metadata */
	char region[64];
	char kms_url[AWS_URL_MAX]; /* https://kms.<region>.amazonaws.com or the override */
	char sts_url[AWS_URL_MAX];
	char host[256]; /* kms_url's host[:port], the signed Host header */
	char cmk[AWS_ARN_MAX]; /* the KMS key: ARN, key id or alias; "" until made */
	const char *cmk_file; /* the Secret's file that names it */
	char role_arn[AWS_ARN_MAX]; /* aws-sts-metadata */
	char *secret_dir; /* secretsDir/<secret name> */
	char *token_file; /* aws-sts-metadata: the web identity token */
	char *ca_file; /* AWS_CA_BUNDLE; NULL: system trust store */
	long timeout_ms; /* awsTimeout: each HTTP request's */
	struct aws_creds creds; /* aws-metadata: read at init */
};

/* aws_config.c: the entry parsed into k->priv (a struct aws), and freed. */
int aws_init_static(struct kms *k, struct json_object *cfg);
int aws_init_sts(struct kms *k, struct json_object *cfg);
void aws_free(struct kms *k);

/* aws-sts-metadata: temporary credentials for @a's role, from a cache shared by the
 * process (the agent) until five minutes before they expire, else from STS's
 * AssumeRoleWithWebIdentity with the token file's token. */
int aws_sts_creds(struct kms *k, struct aws *a, struct aws_creds *out);
/* Parses an STS AssumeRoleWithWebIdentity answer (XML): 0 with @out filled, -EBADMSG
 * when it is not one, or the errno its <Error><Code> maps to (k->error says which). */
int aws_sts_parse(struct kms *k, const char *xml, size_t len, long status, struct aws_creds *out);
/* Drops the cached STS credentials (at exit). */
void aws_sts_cleanup(void);
/* The scheme-less host[:port] of @url into @host; -EINVAL if it is no http(s) URL. */
int aws_url_host(const char *url, char *host, size_t len);

#endif
