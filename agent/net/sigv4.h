/* SPDX-License-Identifier: MIT */
/*
 * AWS Signature Version 4 (docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv.html)
 * for requests to "/" without a query string, which is every AWS KMS call: the
 * canonical request, the string to sign and the Authorization header. Checked against
 * AWS's published test suite (tests/unit/test-sigv4.c).
 */
#ifndef PVENC_NET_SIGV4_H
#define PVENC_NET_SIGV4_H

#include <stddef.h>

struct sigv4_header {
	const char *name; /* any case; signed lower-case */
	const char *value;
};

struct sigv4_req {
	const char *method; /* "POST" */
	const char *host; /* the Host header's value: host[:port] */
	const struct sigv4_header *headers; /* signed besides host and x-amz-date */
	size_t nheaders;
	const char *body;
	size_t body_len;
	const char *region;
	const char *service; /* "kms" */
	const char *amz_date; /* YYYYMMDDTHHMMSSZ (UTC) */
	const char *access_key;
	const char *secret_key;
	const char *session_token; /* NULL: none; else signed as x-amz-security-token */
};

#define SIGV4_AUTH_MAX 1024

/* Writes the Authorization header's value into @auth: 0, -EINVAL for a malformed
 * request (header names or values with control characters, too many headers), or
 * -ENOBUFS when @len is too small. Secret input is wiped from the scratch it used. */
int sigv4_authorization(const struct sigv4_req *rq, char *auth, size_t len);
/* The current time as SigV4's YYYYMMDDTHHMMSSZ. */
void sigv4_now(char out[17]);

#endif
