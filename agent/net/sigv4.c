// SPDX-License-Identifier: MIT
#include "net/sigv4.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/macro.h"
#include "util/secmem.h"

#define SIGV4_HEADERS_MAX 16
#define NAME_MAX_LEN	  64
#define HEX_SHA256	  65

static void hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static int sha256_hex(const void *data, size_t len, char out[HEX_SHA256])
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
		return -EIO;
	hex(md, 32, out);
	return 0;
}

static int hmac(const void *key, size_t klen, const char *msg, unsigned char out[32])
{
	unsigned int n = 0;

	return HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out,
		    &n) && n == 32
		       ? 0
		       : -EIO;
}

struct hdr {
	char name[NAME_MAX_LEN];
	const char *value;
};

static int hdr_cmp(const void *a, const void *b)
{
	return strcmp(((const struct hdr *)a)->name, ((const struct hdr *)b)->name);
}

static int add_hdr(struct hdr *h, size_t *n, const char *name, const char *value)
{
	size_t len = strlen(name);

	if (*n >= SIGV4_HEADERS_MAX || len == 0 || len >= NAME_MAX_LEN)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (!isgraph((unsigned char)name[i]) || name[i] == ':')
			return -EINVAL;
		h[*n].name[i] = (char)tolower((unsigned char)name[i]);
	}
	h[*n].name[len] = '\0';
	for (const char *p = value; *p; p++)
		if ((unsigned char)*p < 0x20 && *p != '\t')
			return -EINVAL;
	h[*n].value = value;
	(*n)++;
	return 0;
}

/* Appends @s to @buf at *pos: -ENOBUFS when it does not fit. */
static int put(char *buf, size_t cap, size_t *pos, const char *s, size_t n)
{
	if (n >= cap - *pos)
		return -ENOBUFS;
	memcpy(buf + *pos, s, n);
	*pos += n;
	buf[*pos] = '\0';
	return 0;
}

static int puts_(char *buf, size_t cap, size_t *pos, const char *s)
{
	return put(buf, cap, pos, s, strlen(s));
}

/* A header value as SigV4 canonicalises it: surrounding blanks trimmed, runs of blanks
 * inside collapsed to one space. */
static int put_value(char *buf, size_t cap, size_t *pos, const char *v)
{
	int blank = 0, r = 0;

	while (*v == ' ' || *v == '\t')
		v++;
	for (; *v && r == 0; v++) {
		if (*v == ' ' || *v == '\t') {
			blank = 1;
			continue;
		}
		if (blank)
			r = put(buf, cap, pos, " ", 1);
		blank = 0;
		if (r == 0)
			r = put(buf, cap, pos, v, 1);
	}
	return r;
}

/* The canonical request's headers part and the signed-headers list. */
static int canonical_headers(struct hdr *h, size_t n, char *creq, size_t cap, size_t *pos,
			     char *signed_h, size_t slen)
{
	size_t spos = 0;
	int r = 0;

	qsort(h, n, sizeof(*h), hdr_cmp);
	signed_h[0] = '\0';
	for (size_t i = 0; i < n && r == 0; i++) {
		if (i && !strcmp(h[i].name, h[i - 1].name))
			return -EINVAL; /* one value per name: pvenc never sends a list */
		r = puts_(creq, cap, pos, h[i].name);
		if (r == 0)
			r = put(creq, cap, pos, ":", 1);
		if (r == 0)
			r = put_value(creq, cap, pos, h[i].value);
		if (r == 0)
			r = put(creq, cap, pos, "\n", 1);
		if (r == 0 && i)
			r = put(signed_h, slen, &spos, ";", 1);
		if (r == 0)
			r = puts_(signed_h, slen, &spos, h[i].name);
	}
	return r;
}

/* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service),
 * "aws4_request"). */
static int signing_key(const struct sigv4_req *rq, const char *date, unsigned char k[32])
{
	size_t slen = strlen(rq->secret_key);
	char *seed = secmem_alloc(slen + 5); /* the secret key: wiped on free */
	int r;

	if (!seed)
		return -ENOMEM;
	(void)snprintf(seed, slen + 5, "AWS4%s", rq->secret_key);
	r = hmac(seed, slen + 4, date, k);
	secmem_free(seed);
	if (r == 0)
		r = hmac(k, 32, rq->region, k);
	if (r == 0)
		r = hmac(k, 32, rq->service, k);
	if (r == 0)
		r = hmac(k, 32, "aws4_request", k);
	return r;
}

int sigv4_authorization(const struct sigv4_req *rq, char *auth, size_t len)
{
	struct hdr h[SIGV4_HEADERS_MAX];
	char creq[8192], sts[512], scope[128], signed_h[512], body_hash[HEX_SHA256],
		creq_hash[HEX_SHA256], date[9], sig[HEX_SHA256];
	unsigned char k[32], mac[32];
	size_t n = 0, pos = 0;
	int r, w;

	if (!rq->amz_date || strlen(rq->amz_date) != 16 || rq->amz_date[8] != 'T')
		return -EINVAL;
	memcpy(date, rq->amz_date, 8);
	date[8] = '\0';
	r = add_hdr(h, &n, "host", rq->host);
	if (r == 0)
		r = add_hdr(h, &n, "x-amz-date", rq->amz_date);
	if (r == 0 && rq->session_token)
		r = add_hdr(h, &n, "x-amz-security-token", rq->session_token);
	for (size_t i = 0; r == 0 && i < rq->nheaders; i++)
		r = add_hdr(h, &n, rq->headers[i].name, rq->headers[i].value);
	if (r < 0)
		return r;
	/* METHOD \n URI \n QUERY \n HEADERS \n SIGNED \n HASH(body) */
	r = puts_(creq, sizeof(creq), &pos, rq->method);
	if (r == 0)
		r = puts_(creq, sizeof(creq), &pos, "\n/\n\n");
	if (r == 0)
		r = canonical_headers(h, n, creq, sizeof(creq), &pos, signed_h, sizeof(signed_h));
	if (r == 0)
		r = sha256_hex(rq->body ? rq->body : "", rq->body ? rq->body_len : 0, body_hash);
	if (r == 0) {
		w = snprintf(creq + pos, sizeof(creq) - pos, "\n%s\n%s", signed_h, body_hash);
		r = w < 0 || (size_t)w >= sizeof(creq) - pos ? -ENOBUFS : 0;
	}
	if (r == 0)
		r = sha256_hex(creq, strlen(creq), creq_hash);
	if (r < 0)
		return r;
	w = snprintf(scope, sizeof(scope), "%s/%s/%s/aws4_request", date, rq->region, rq->service);
	if (w < 0 || (size_t)w >= sizeof(scope))
		return -EINVAL;
	(void)snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256\n%s\n%s\n%s", rq->amz_date, scope,
		       creq_hash);
	r = signing_key(rq, date, k);
	if (r == 0)
		r = hmac(k, 32, sts, mac);
	OPENSSL_cleanse(k, sizeof(k));
	if (r < 0)
		return r;
	hex(mac, 32, sig);
	w = snprintf(auth, len, "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s",
		     rq->access_key, scope, signed_h, sig);
	return w < 0 || (size_t)w >= len ? -ENOBUFS : 0;
}

void sigv4_now(char out[17])
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	(void)strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}
