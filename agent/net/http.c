// SPDX-License-Identifier: MIT
#include "net/http.h"

#include <curl/curl.h>
#include <errno.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/macro.h"
#include "util/secmem.h"

static pthread_once_t share_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
static CURLSH *share;

static void share_lock(CURL *h, curl_lock_data d, curl_lock_access a, void *u)
{
	(void)h, (void)a, (void)u;
	pthread_mutex_lock(&share_locks[d]);
}

static void share_unlock(CURL *h, curl_lock_data d, void *u)
{
	(void)h, (void)u;
	pthread_mutex_unlock(&share_locks[d]);
}

static void share_init(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(share_locks); i++)
		pthread_mutex_init(&share_locks[i], NULL);
	share = curl_share_init();
	if (!share)
		return;
	/* Reused connections and TLS sessions make the second request to a KMS cheap. */
	curl_share_setopt(share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
}

void http_cleanup(void)
{
	if (share) {
		curl_share_cleanup(share);
		share = NULL;
		curl_global_cleanup();
	}
}

struct sink {
	struct http_resp *rs;
	size_t cap, max;
	int too_big;
};

/* OpenSSL keeps the last decrypted record (a KMS answer with a DEK or a token) in
 * its buffer until the next one overwrites it: wipe it once it was handed over. */
static CURLcode cleanse_plaintext(CURL *h, void *ssl_ctx, void *u)
{
	(void)h;
	(void)u;
	SSL_CTX_set_options(ssl_ctx, SSL_OP_CLEANSE_PLAINTEXT);
	return CURLE_OK;
}

static size_t on_body(char *data, size_t size, size_t n, void *u)
{
	struct sink *s = u;
	size_t len = size * n, need;

	if (s->rs->len + len > s->max) {
		s->too_big = 1;
		return 0;
	}
	need = s->rs->len + len + 1;
	if (need > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		char *p;

		while (cap < need)
			cap *= 2;
		p = secmem_realloc(s->rs->body, cap);
		if (!p)
			return 0;
		s->rs->body = p;
		s->cap = cap;
	}
	memcpy(s->rs->body + s->rs->len, data, len);
	/* libcurl's receive buffer held the answer (a DEK, a token) in plaintext and is
	 * done with this part of it once it is delivered: wipe it there too. */
	explicit_bzero(data, len);
	s->rs->len += len;
	s->rs->body[s->rs->len] = '\0';
	return len;
}

static size_t on_header(char *data, size_t size, size_t n, void *u)
{
	struct http_resp *rs = u;
	size_t len = size * n;
	static const char ra[] = "Retry-After:";

	if (len > sizeof(ra) && !strncasecmp(data, ra, sizeof(ra) - 1)) {
		char buf[32];
		size_t l = len - (sizeof(ra) - 1);

		if (l >= sizeof(buf))
			l = sizeof(buf) - 1;
		memcpy(buf, data + sizeof(ra) - 1, l);
		buf[l] = '\0';
		rs->retry_after = strtol(buf, NULL, 10);
	}
	return len;
}

static void slist_wipe_free(struct curl_slist *l)
{
	for (struct curl_slist *i = l; i; i = i->next)
		explicit_bzero(i->data, strlen(i->data));
	curl_slist_free_all(l);
}

/* TLS server name: connect to the URL's host but verify (and send SNI for) @name, as
 * Vault's VAULT_TLS_SERVER_NAME does. libcurl has no direct knob: rewrite the URL host
 * and pin the connection to the original address with CONNECT_TO. */
static int set_server_name(CURL *h, const char *url, const char *name, struct curl_slist **ct,
			   char **newurl)
{
	CURLU *u = curl_url();
	char *host = NULL, *port = NULL, *out = NULL, entry[600];
	int r = -EINVAL;

	if (!u)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK ||
	    curl_url_set(u, CURLUPART_HOST, name, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, &out, 0) != CURLUE_OK)
		goto out;
	if (snprintf(entry, sizeof(entry), "%s:%s:%s:%s", name, port, host, port) >=
	    (int)sizeof(entry))
		goto out;
	*ct = curl_slist_append(NULL, entry);
	if (!*ct) {
		r = -ENOMEM;
		goto out;
	}
	curl_easy_setopt(h, CURLOPT_CONNECT_TO, *ct);
	*newurl = strdup(out);
	r = *newurl ? 0 : -ENOMEM;
out:
	curl_free(host);
	curl_free(port);
	curl_free(out);
	curl_url_cleanup(u);
	return r;
}

static int map_curl(CURLcode c, const struct http_req *rq, const char *cerr, int too_big, char *err,
		    size_t errlen)
{
	const char *what = cerr[0] ? cerr : curl_easy_strerror(c);
	const struct http_tls *t = rq->tls;
	int r;

	/* A TLS alert from the server after we sent a client certificate: it rejected it. */
	if (t && t->cert &&
	    (strstr(what, "alert unknown ca") || strstr(what, "alert bad certificate") ||
	     strstr(what, "alert certificate") || strstr(what, "alert handshake failure"))) {
		(void)snprintf(
			err, errlen,
			"%s rejected the client certificate %s during the TLS handshake (%s)",
			rq->url, t->cert, what);
		return -EPROTO;
	}
	switch (c) {
	case CURLE_COULDNT_CONNECT:
		r = -ECONNREFUSED;
		(void)snprintf(err, errlen, "cannot connect to %s: %s", rq->url, what);
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
		r = -EHOSTUNREACH;
		(void)snprintf(err, errlen, "cannot resolve the host of %s: %s", rq->url, what);
		break;
	case CURLE_OPERATION_TIMEDOUT:
		r = -ETIMEDOUT;
		(void)snprintf(err, errlen, "%s timed out: %s", rq->url, what);
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
		r = -EPROTO;
		(void)snprintf(err, errlen, "TLS verification of %s failed (CA %s%s%s): %s",
			       rq->url,
			       t && t->ca_file	 ? t->ca_file
			       : t && t->ca_path ? t->ca_path
						 : "system store",
			       t && t->server_name ? ", server name " : "",
			       t && t->server_name ? t->server_name : "", what);
		break;
	case CURLE_SSL_CERTPROBLEM:
		r = -EPROTO;
		(void)snprintf(err, errlen, "client certificate %s or key %s unusable: %s",
			       t && t->cert ? t->cert : "-", t && t->key ? t->key : "-", what);
		break;
	case CURLE_SSL_CONNECT_ERROR:
		r = -EPROTO;
		(void)snprintf(err, errlen, "TLS handshake with %s failed: %s", rq->url, what);
		break;
	case CURLE_WRITE_ERROR:
		r = too_big ? -EFBIG : -ENOMEM;
		(void)snprintf(err, errlen,
			       too_big ? "response from %s is larger than the %zu-byte cap"
				       : "out of memory reading %s%zu",
			       rq->url,
			       too_big ? (rq->max_body ? rq->max_body : HTTP_MAX_BODY_DEFAULT)
				       : (size_t)0);
		break;
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		r = -EINVAL;
		(void)snprintf(err, errlen, "bad URL %s: %s", rq->url, what);
		break;
	default:
		r = -ECONNRESET;
		(void)snprintf(err, errlen, "connection to %s failed: %s", rq->url, what);
		break;
	}
	return r;
}

static void set_tls(CURL *h, const struct http_tls *t)
{
	curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, cleanse_plaintext);
	if (!t)
		return;
	if (t->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, t->ca_file);
	if (t->ca_path)
		curl_easy_setopt(h, CURLOPT_CAPATH, t->ca_path);
	if (t->cert)
		curl_easy_setopt(h, CURLOPT_SSLCERT, t->cert);
	if (t->key)
		curl_easy_setopt(h, CURLOPT_SSLKEY, t->key);
	if (t->skip_verify) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
}

/* The request's headers, and a JSON content type when it has a body and names none
 * (AWS's JSON 1.1 and STS's forms name their own; two would reach the server). */
static int request_headers(const struct http_req *rq, struct curl_slist **hdrs)
{
	int typed = 0;

	for (const char *const *p = rq->headers; p && *p; p++) {
		struct curl_slist *n = curl_slist_append(*hdrs, *p);

		if (!n)
			return -ENOMEM;
		*hdrs = n;
		typed |= !strncasecmp(*p, "Content-Type:", 13);
	}
	if (rq->body && !typed) {
		struct curl_slist *n = curl_slist_append(*hdrs, "Content-Type: application/json");

		if (!n)
			return -ENOMEM;
		*hdrs = n;
	}
	return 0;
}

/* Method, body, headers, timeouts and what pvenc never lets libcurl do on its own. */
static void set_request(CURL *h, const struct http_req *rq, struct curl_slist *hdrs)
{
	if (share)
		curl_easy_setopt(h, CURLOPT_SHARE, share);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	/* No proxy from the environment (http_proxy, https_proxy, all_proxy): an
	 * operator's shell would otherwise route the node's KMS credentials through it. */
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
			 rq->connect_timeout_ms > 0 ? rq->connect_timeout_ms : 5000L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, rq->timeout_ms > 0 ? rq->timeout_ms : 10000L);
	curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
	if (!strcmp(rq->method, "HEAD"))
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	if (rq->body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body); /* not copied */
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
}

int http_do(const struct http_req *rq, struct http_resp *rs, char *err, size_t errlen)
{
	char cerr[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL, *ct = NULL;
	_cleanup_free_ char *url = NULL;
	const struct http_tls *t = rq->tls;
	struct sink s = { .rs = rs };
	CURLcode c;
	CURL *h;
	int r;

	memset(rs, 0, sizeof(*rs));
	rs->retry_after = -1;
	s.max = rq->max_body ? rq->max_body : HTTP_MAX_BODY_DEFAULT;
	pthread_once(&share_once, share_init);
	h = curl_easy_init();
	if (!h)
		return -ENOMEM;
	r = request_headers(rq, &hdrs);
	if (r < 0)
		goto out;
	if (t && t->server_name && t->server_name[0]) {
		r = set_server_name(h, rq->url, t->server_name, &ct, &url);
		if (r < 0) {
			(void)snprintf(err, errlen, "cannot apply TLS server name %s to %s",
				       t->server_name, rq->url);
			goto out;
		}
	}
	curl_easy_setopt(h, CURLOPT_URL, url ? url : rq->url);
	set_request(h, rq, hdrs);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, rs);
	set_tls(h, rq->tls);
	c = curl_easy_perform(h);
	if (c != CURLE_OK) {
		r = map_curl(c, rq, cerr, s.too_big, err, errlen);
		http_resp_clear(rs);
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &rs->status);
	r = 0;
out:
	curl_easy_cleanup(h);
	slist_wipe_free(hdrs);
	curl_slist_free_all(ct);
	return r;
}

void http_resp_clear(struct http_resp *rs)
{
	secmem_free(rs->body);
	rs->body = NULL;
	rs->len = 0;
}
