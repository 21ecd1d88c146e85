/* SPDX-License-Identifier: MIT */
/*
 * Small HTTPS client over libcurl for the KMS providers: one request at a time per call,
 * connections and TLS sessions shared across threads, response bodies in secret memory
 * (they carry unwrapped keys and tokens), a hard cap on body size, no redirects (a
 * redirect could carry a token to a host the operator did not configure).
 */
#ifndef PVENC_NET_HTTP_H
#define PVENC_NET_HTTP_H

#include <stddef.h>

struct http_tls {
	const char *ca_file; /* PEM bundle; NULL: system trust store */
	const char *ca_path; /* directory of hashed PEM CAs */
	const char *cert; /* client certificate (PEM) for mutual TLS */
	const char *key; /* its unencrypted private key (PEM) */
	const char *server_name; /* name to verify and send as SNI instead of the URL host */
	int skip_verify;
};

struct http_req {
	const char *method; /* GET, POST, PUT, DELETE, LIST */
	const char *url;
	const char *const *headers; /* "Name: value", NULL-terminated; may hold secrets */
	const char *body; /* NULL: none */
	size_t body_len;
	const struct http_tls *tls;
	long connect_timeout_ms;
	long timeout_ms;
	size_t max_body; /* 0: HTTP_MAX_BODY_DEFAULT */
};

#define HTTP_MAX_BODY_DEFAULT (1u << 20)

struct http_resp {
	long status;
	char *body; /* secmem, NUL-terminated; NULL when empty */
	size_t len;
	long retry_after; /* seconds from Retry-After, -1 if absent */
};

/*
 * Performs @rq. Returns 0 when the server answered (any status, see rs->status), or a
 * negative errno for transport failures, with a sentence in @err:
 * -ECONNREFUSED/-EHOSTUNREACH (no server), -ETIMEDOUT, -ECONNRESET (connection dropped,
 * truncated body), -EPROTO (TLS handshake or verification), -EFBIG (body over the cap).
 */
int http_do(const struct http_req *rq, struct http_resp *rs, char *err, size_t errlen);
void http_resp_clear(struct http_resp *rs);

/* Releases the process-wide connection cache (for leak checkers at exit). */
void http_cleanup(void);

#endif
