// SPDX-License-Identifier: MIT
/*
 * aws-sts-metadata's credentials: STS AssumeRoleWithWebIdentity with the token in the
 * entry's token file (an unsigned form POST; the answer is XML), as ceph-csi does per
 * call. The agent keeps them until five minutes before they expire, so that opening
 * twenty volumes costs one STS call, not twenty. The answer is hostile input: the
 * four values are taken from their own elements, bounded and checked.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kms/aws.h"
#include "kms/cloud.h"
#include "net/http.h"
#include "util/fileio.h"
#include "util/formenc.h"
#include "util/secmem.h"

#define STS_TOKEN_MAX	(16u << 10)
#define STS_REFRESH_S	300
#define STS_ANSWER_MAX	(64u << 10)
#define STS_SESSION	"pvenc"
#define STS_CACHE_SLOTS 8

void aws_creds_clear(struct aws_creds *c)
{
	secmem_free(c->access_key);
	secmem_free(c->secret_key);
	secmem_free(c->session_token);
	memset(c, 0, sizeof(*c));
}

/* The text of the first <@tag>...</@tag> within [p, end), into secmem; NULL when there
 * is none, it is longer than @max or holds markup or control characters. */
static char *element(const char *p, const char *end, const char *tag, size_t max)
{
	char open[48], close[48];
	const char *a, *b;
	char *v;

	(void)snprintf(open, sizeof(open), "<%s>", tag);
	(void)snprintf(close, sizeof(close), "</%s>", tag);
	a = memmem(p, (size_t)(end - p), open, strlen(open));
	if (!a)
		return NULL;
	a += strlen(open);
	b = memmem(a, (size_t)(end - a), close, strlen(close));
	if (!b || (size_t)(b - a) > max || b == a)
		return NULL;
	for (const char *q = a; q < b; q++)
		if ((unsigned char)*q < 0x21 || (unsigned char)*q > 0x7e || *q == '<' ||
		    *q == '>' || *q == '&')
			return NULL;
	v = secmem_alloc((size_t)(b - a) + 1);
	if (v) {
		memcpy(v, a, (size_t)(b - a));
		v[b - a] = '\0';
	}
	return v;
}

/* STS's Expiration: 2019-11-09T13:34:41Z (fractions of a second allowed). */
static time_t parse_time(const char *s)
{
	struct tm tm = { 0 };
	const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);

	if (!rest)
		return 0;
	if (*rest == '.')
		rest += 1 + strspn(rest + 1, "0123456789");
	return *rest == 'Z' && rest[1] == '\0' ? timegm(&tm) : 0;
}

int aws_sts_parse(struct kms *k, const char *xml, size_t len, long status, struct aws_creds *out)
{
	const char *end = xml + len, *cr;
	_cleanup_secmem_ char *code = NULL, *exp = NULL;

	memset(out, 0, sizeof(*out));
	if (status < 200 || status >= 300) {
		code = element(xml, end, "Code", 128);
		if (code &&
		    (!strcmp(code, "InvalidIdentityToken") ||
		     !strcmp(code, "ExpiredTokenException") || !strcmp(code, "IDPRejectedClaim")))
			return kms_fail(k, -EKEYEXPIRED, "STS refused the web identity token (%s)",
					code);
		if (code && !strcmp(code, "AccessDenied"))
			return kms_fail(k, -EACCES,
					"STS denied AssumeRoleWithWebIdentity (AccessDenied): the "
					"role's trust policy must allow this token's identity");
		if (status == 429 || status >= 500 || (code && !strcmp(code, "Throttling")))
			return kms_fail(k, -EAGAIN,
					"STS is unavailable (HTTP %ld%s%s); retrying later", status,
					code ? ", " : "", code ? code : "");
		return kms_fail(k, -EPROTO,
				"STS answered AssumeRoleWithWebIdentity with HTTP %ld (%s)", status,
				code ? code : "no error code");
	}
	cr = memmem(xml, len, "<Credentials>", strlen("<Credentials>"));
	if (!cr)
		return kms_fail(k, -EBADMSG, "STS answered without credentials");
	out->access_key = element(cr, end, "AccessKeyId", 128);
	out->secret_key = element(cr, end, "SecretAccessKey", 256);
	out->session_token = element(cr, end, "SessionToken", 8192);
	exp = element(cr, end, "Expiration", 64);
	out->expires = exp ? parse_time(exp) : 0;
	if (!out->access_key || !out->secret_key || !out->session_token || out->expires <= 0) {
		aws_creds_clear(out);
		return kms_fail(k, -EBADMSG,
				"STS answered with malformed credentials (AccessKeyId, "
				"SecretAccessKey, SessionToken, Expiration)");
	}
	return 0;
}

/* The process's credentials per role and token file, for the agent. */
struct cached {
	char role[AWS_ARN_MAX];
	char url[AWS_URL_MAX];
	char token_file[256];
	struct aws_creds c;
};
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cached cache[STS_CACHE_SLOTS];

static int dup_creds(const struct aws_creds *in, struct aws_creds *out)
{
	memset(out, 0, sizeof(*out));
	out->access_key = cloud_sdup(in->access_key);
	out->secret_key = cloud_sdup(in->secret_key);
	out->session_token = cloud_sdup(in->session_token);
	out->expires = in->expires;
	if (!out->access_key || !out->secret_key || !out->session_token) {
		aws_creds_clear(out);
		return -ENOMEM;
	}
	return 0;
}

static struct cached *slot_of(const struct aws *a, int take)
{
	struct cached *oldest = &cache[0];

	for (size_t i = 0; i < STS_CACHE_SLOTS; i++) {
		struct cached *s = &cache[i];

		if (!strcmp(s->role, a->role_arn) && !strcmp(s->url, a->sts_url) &&
		    !strcmp(s->token_file, a->token_file))
			return s;
		if (s->c.expires < oldest->c.expires)
			oldest = s;
	}
	return take ? oldest : NULL;
}

/* The form body: the token is a bearer secret, so the body is secmem. */
static char *form_body(struct kms *k, const struct aws *a, size_t *len)
{
	_cleanup_secmem_ uint8_t *tok = NULL;
	char role[3 * AWS_ARN_MAX + 1];
	size_t tlen = 0, cap;
	char *body, *etok;
	int r;

	r = read_secret_file(a->token_file, STS_TOKEN_MAX, &tok, &tlen);
	if (r < 0) {
		(void)kms_fail(k, r == -ENOENT ? -ENOKEY : r,
			       "cannot read the web identity token %s: %s", a->token_file,
			       r == -EPERM ? "it must be owned by root, mode 0600" : strerror(-r));
		return NULL;
	}
	while (tlen && (tok[tlen - 1] == '\n' || tok[tlen - 1] == '\r'))
		tok[--tlen] = '\0';
	cap = 3 * tlen + 1;
	etok = secmem_alloc(cap);
	if (!etok || form_encode((char *)tok, etok, cap) < 0 ||
	    form_encode(a->role_arn, role, sizeof(role)) < 0) {
		secmem_free(etok);
		return NULL;
	}
	cap = strlen(etok) + strlen(role) + 200;
	body = secmem_alloc(cap);
	if (body)
		*len = (size_t)snprintf(body, cap,
					"Action=AssumeRoleWithWebIdentity&Version=2011-06-15&"
					"RoleArn=%s&RoleSessionName=" STS_SESSION
					"&WebIdentityToken=%s",
					role, etok);
	secmem_free(etok);
	return body;
}

static int assume_role(struct kms *k, const struct aws *a, struct aws_creds *out)
{
	const struct http_tls tls = { .ca_file = a->ca_file };
	const char *hdrs[] = { "Content-Type: application/x-www-form-urlencoded; charset=utf-8",
			       "Accept: text/xml", NULL };
	_cleanup_secmem_ char *body = NULL;
	struct http_resp rs = { 0 };
	char err[512] = "";
	size_t blen = 0;
	int r;

	body = form_body(k, a, &blen);
	if (!body)
		return k->error[0] ? -ENOKEY : -ENOMEM;
	r = http_do(&(struct http_req){ .method = "POST",
					.url = a->sts_url,
					.headers = hdrs,
					.body = body,
					.body_len = blen,
					.tls = &tls,
					.connect_timeout_ms = 5000,
					.timeout_ms = a->timeout_ms,
					.max_body = STS_ANSWER_MAX },
		    &rs, err, sizeof(err));
	if (r < 0)
		return kms_fail(k, r, "STS at %s: %s", a->sts_url, err);
	r = aws_sts_parse(k, rs.body ? rs.body : "", rs.len, rs.status, out);
	http_resp_clear(&rs);
	return r;
}

int aws_sts_creds(struct kms *k, struct aws *a, struct aws_creds *out)
{
	struct cached *s;
	struct aws_creds fresh = { 0 };
	int r = -ENOENT;

	pthread_mutex_lock(&cache_lock);
	s = slot_of(a, 0);
	if (s && s->c.expires - STS_REFRESH_S > time(NULL))
		r = dup_creds(&s->c, out);
	pthread_mutex_unlock(&cache_lock);
	if (r != -ENOENT)
		return r;
	r = assume_role(k, a, &fresh);
	if (r < 0)
		return r;
	pthread_mutex_lock(&cache_lock);
	s = slot_of(a, 1);
	aws_creds_clear(&s->c);
	(void)snprintf(s->role, sizeof(s->role), "%s", a->role_arn);
	(void)snprintf(s->url, sizeof(s->url), "%s", a->sts_url);
	(void)snprintf(s->token_file, sizeof(s->token_file), "%s", a->token_file);
	r = dup_creds(&fresh, &s->c);
	pthread_mutex_unlock(&cache_lock);
	if (r == 0)
		*out = fresh;
	else
		aws_creds_clear(&fresh);
	return r;
}

void aws_sts_cleanup(void)
{
	pthread_mutex_lock(&cache_lock);
	for (size_t i = 0; i < STS_CACHE_SLOTS; i++) {
		aws_creds_clear(&cache[i].c);
		memset(&cache[i], 0, sizeof(cache[i]));
	}
	pthread_mutex_unlock(&cache_lock);
}
