// SPDX-License-Identifier: MIT
/* The KMIP client's transport: TCP with ceph-csi's timeouts, mutual TLS (OpenSSL). */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kms/kmip.h"
#include "util/log.h"

static void ssl_errors(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();

	if (!e) {
		(void)snprintf(buf, len, "unknown TLS error");
		return;
	}
	ERR_error_string_n(e, buf, len);
	ERR_clear_error();
}

static int tcp_connect(struct kms *k, const struct kmip *m, int *fd)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL, *ai;
	int r, s = -1, err = ECONNREFUSED;

	r = getaddrinfo(m->host, m->port, &hints, &res);
	if (r != 0)
		return kms_fail(k, -EHOSTUNREACH, "cannot resolve KMIP server %s: %s", m->host,
				gai_strerror(r));
	for (ai = res; ai; ai = ai->ai_next) {
		struct pollfd p;

		s = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (s < 0)
			continue;
		if (connect(s, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS) {
			socklen_t l = sizeof(err);

			p = (struct pollfd){ .fd = s, .events = POLLOUT };
			r = poll(&p, 1, m->write_ms);
			if (r == 1 && getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &l) == 0 && !err)
				break;
			if (r == 0)
				err = ETIMEDOUT;
		} else
			err = errno;
		(void)close(s);
		s = -1;
	}
	freeaddrinfo(res);
	if (s < 0)
		return kms_fail(k, -err, "cannot connect to KMIP server %s:%s: %s", m->host,
				m->port, strerror(err));
	/* Blocking from here, with timeouts as ceph-csi's READ/WRITE_TIMEOUT. */
	{
		int fl = fcntl(s, F_GETFL);
		struct timeval rt = { m->read_ms / 1000, (long)(m->read_ms % 1000) * 1000 };
		struct timeval wt = { m->write_ms / 1000, (long)(m->write_ms % 1000) * 1000 };

		if (fl >= 0)
			(void)fcntl(s, F_SETFL, fl & ~O_NONBLOCK);
		(void)setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &rt, sizeof(rt));
		(void)setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &wt, sizeof(wt));
	}
	/* A resumed handshake ends with the client's Finished, and the request follows at
	 * once: with Nagle on, the request waited for the server's delayed ACK (40 ms),
	 * which made a resumed call 2.4x slower than a full handshake (make bench). */
	(void)setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	*fd = s;
	return 0;
}

/* A TLS context per set of credential files and server, shared by every connection to
 * it, with the last session for resumption and one idle connection for the next call
 * (a KMIP server serves one request after another on a connection). Replaced when a
 * file changes. */
struct kmip_tls {
	char *ca, *cert, *key, *server; /* server: host:port/server name */
	struct stat st[3];
	SSL_CTX *ctx;
	SSL_SESSION *sess;
	SSL *idle_ssl; /* NULL: no idle connection */
	int idle_fd;
	struct timespec idle_since;
	int refs; /* the list's reference and each open connection's */
	struct kmip_tls *next;
};

/* An idle connection older than this is closed, not reused: servers drop idle
 * connections, and a request on a dropped one costs a failed write first. */
#define KMIP_IDLE_MAX_S 20

static pthread_mutex_t tls_lock = PTHREAD_MUTEX_INITIALIZER;
static struct kmip_tls *tls_list;

static void tls_unref(struct kmip_tls *t) /* with tls_lock held */
{
	if (--t->refs > 0)
		return;
	if (t->idle_ssl) {
		SSL_free(t->idle_ssl);
		(void)close(t->idle_fd);
	}
	SSL_SESSION_free(t->sess);
	SSL_CTX_free(t->ctx);
	free(t->ca);
	free(t->cert);
	free(t->key);
	free(t->server);
	free(t);
}

static int same_stat(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static int new_ctx(struct kms *k, const struct kmip *m, SSL_CTX **out)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	char e[256];

	if (!ctx)
		return -ENOMEM;
	(void)SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT);
	/* Decrypted records (keys in KMIP answers) are wiped once read, not left in
	 * OpenSSL's buffer until the next record. */
	SSL_CTX_set_options(ctx, SSL_OP_CLEANSE_PLAINTEXT);
	if (SSL_CTX_load_verify_locations(ctx, m->ca, NULL) != 1) {
		ssl_errors(e, sizeof(e));
		SSL_CTX_free(ctx);
		return kms_fail(k, -EPROTO, "cannot load the KMIP CA certificate %s: %s", m->ca, e);
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, m->cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, m->key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		ssl_errors(e, sizeof(e));
		SSL_CTX_free(ctx);
		return kms_fail(k, -EPROTO,
				"cannot use the KMIP client certificate %s / key %s: %s", m->cert,
				m->key, e);
	}
	*out = ctx;
	return 0;
}

/* The context for @m, made or reused; a reference for the caller. */
static int tls_get(struct kms *k, const struct kmip *m, struct kmip_tls **out)
{
	const char *files[3] = { m->ca, m->cert, m->key };
	char server[600];
	struct stat st[3];
	struct kmip_tls *t, **p;
	int r = 0;

	(void)snprintf(server, sizeof(server), "%s:%s/%s", m->host, m->port, m->server_name);
	for (int i = 0; i < 3; i++)
		if (stat(files[i], &st[i]) < 0)
			memset(&st[i], 0, sizeof(st[i])); /* new_ctx names the file that fails */
	pthread_mutex_lock(&tls_lock);
	for (p = &tls_list; (t = *p); p = &t->next) {
		if (strcmp(t->ca, m->ca) != 0 || strcmp(t->cert, m->cert) != 0 ||
		    strcmp(t->key, m->key) != 0 || strcmp(t->server, server) != 0)
			continue;
		if (same_stat(&t->st[0], &st[0]) && same_stat(&t->st[1], &st[1]) &&
		    same_stat(&t->st[2], &st[2]))
			break;
		*p = t->next; /* a file changed: a new context from now on */
		tls_unref(t);
		t = NULL;
		break;
	}
	if (!t) {
		t = calloc(1, sizeof(*t));
		if (!t || !(t->ca = strdup(m->ca)) || !(t->cert = strdup(m->cert)) ||
		    !(t->key = strdup(m->key)) || !(t->server = strdup(server)))
			r = -ENOMEM;
		else
			r = new_ctx(k, m, &t->ctx);
		if (r < 0) {
			if (t) {
				t->refs = 1;
				tls_unref(t);
			}
			pthread_mutex_unlock(&tls_lock);
			return r;
		}
		memcpy(t->st, st, sizeof(st));
		t->refs = 1;
		t->next = tls_list;
		tls_list = t;
	}
	t->refs++;
	pthread_mutex_unlock(&tls_lock);
	*out = t;
	return 0;
}

void kmip_tls_cleanup(void)
{
	pthread_mutex_lock(&tls_lock);
	while (tls_list) {
		struct kmip_tls *t = tls_list;

		tls_list = t->next;
		tls_unref(t);
	}
	pthread_mutex_unlock(&tls_lock);
}

/* The idle connection of @t, if it is young enough and the server has not closed it
 * (nothing to read on an idle connection but an EOF or an alert). With tls_lock held. */
static int take_idle(struct kmip_tls *t, struct kmip_conn *c)
{
	struct pollfd pfd;
	struct timespec now;
	SSL *ssl = t->idle_ssl;
	int fd = t->idle_fd;

	if (!ssl)
		return 0;
	t->idle_ssl = NULL;
	clock_gettime(CLOCK_MONOTONIC, &now);
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	if (now.tv_sec - t->idle_since.tv_sec > KMIP_IDLE_MAX_S || poll(&pfd, 1, 0) != 0) {
		SSL_free(ssl);
		(void)close(fd);
		return 0;
	}
	c->ssl = ssl;
	c->fd = fd;
	return 1;
}

/* Keeps a session the server would resume (TLS 1.3 tickets arrive with the response,
 * so only now). With tls_lock held. */
static void keep_session(struct kmip_conn *c)
{
	SSL_SESSION *s = SSL_get1_session(c->ssl);

	if (s && SSL_SESSION_is_resumable(s) && c->tls) {
		SSL_SESSION_free(c->tls->sess);
		c->tls->sess = s;
		s = NULL;
	}
	SSL_SESSION_free(s);
}

void kmip_conn_release(struct kmip_conn *c, int healthy)
{
	if (healthy && c->ssl && c->tls) {
		pthread_mutex_lock(&tls_lock);
		keep_session(c);
		if (!c->tls->idle_ssl) {
			c->tls->idle_ssl = c->ssl;
			c->tls->idle_fd = c->fd;
			clock_gettime(CLOCK_MONOTONIC, &c->tls->idle_since);
			c->ssl = NULL;
			c->fd = -1;
		}
		pthread_mutex_unlock(&tls_lock);
	}
	kmip_conn_close(c);
}

void kmip_conn_close(struct kmip_conn *c)
{
	if (c->ssl) {
		pthread_mutex_lock(&tls_lock);
		keep_session(c);
		pthread_mutex_unlock(&tls_lock);
		(void)SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	if (c->tls) {
		pthread_mutex_lock(&tls_lock);
		tls_unref(c->tls);
		pthread_mutex_unlock(&tls_lock);
	}
	if (c->fd >= 0)
		(void)close(c->fd);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

int kmip_conn_open(struct kms *k, const struct kmip *m, struct kmip_conn *c, int reuse)
{
	char e[256];
	int r;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	r = tls_get(k, m, &c->tls);
	if (r < 0)
		return r;
	if (reuse) {
		pthread_mutex_lock(&tls_lock);
		c->reused = take_idle(c->tls, c);
		pthread_mutex_unlock(&tls_lock);
		if (c->reused) {
			log_debug("event=kmip-reused server=%s:%s", m->host, m->port);
			return 0;
		}
	}
	r = tcp_connect(k, m, &c->fd);
	if (r < 0)
		goto fail;
	c->ssl = SSL_new(c->tls->ctx);
	if (!c->ssl) {
		r = -ENOMEM;
		goto fail;
	}
	/* Without the name to check, the handshake would accept any certificate the CA
	 * signed: a failure here ends the call. */
	if (SSL_set_tlsext_host_name(c->ssl, m->server_name) != 1 ||
	    SSL_set1_host(c->ssl, m->server_name) != 1 || SSL_set_fd(c->ssl, c->fd) != 1) {
		r = kms_fail(k, -ENOMEM, "cannot set up TLS to KMIP server %s:%s (server name %s)",
			     m->host, m->port, m->server_name);
		goto fail;
	}
	pthread_mutex_lock(&tls_lock);
	if (c->tls->sess)
		(void)SSL_set_session(c->ssl, c->tls->sess);
	pthread_mutex_unlock(&tls_lock);
	if (SSL_connect(c->ssl) != 1) {
		long v = SSL_get_verify_result(c->ssl);

		ssl_errors(e, sizeof(e));
		if (v != X509_V_OK)
			r = kms_fail(k, -EPROTO,
				     "TLS verification of KMIP server %s:%s failed (CA %s, server "
				     "name %s): %s",
				     m->host, m->port, m->ca, m->server_name,
				     X509_verify_cert_error_string(v));
		else if (strstr(e, "alert"))
			r = kms_fail(
				k, -EPROTO,
				"KMIP server %s:%s rejected the client certificate %s during the "
				"TLS handshake (%s)",
				m->host, m->port, m->cert, e);
		else
			r = kms_fail(k, -EPROTO, "TLS handshake with KMIP server %s:%s failed: %s",
				     m->host, m->port, e);
		goto fail;
	}
	log_debug("event=kmip-connected server=%s:%s tls-resumed=%s", m->host, m->port,
		  SSL_session_reused(c->ssl) ? "yes" : "no");
	return 0;
fail:
	kmip_conn_close(c);
	return r;
}

int kmip_io(struct kms *k, const struct kmip *m, struct kmip_conn *c, uint8_t *buf, size_t len,
	    int wr)
{
	size_t done = 0;

	while (done < len) {
		int n = wr ? SSL_write(c->ssl, buf + done, (int)(len - done))
			   : SSL_read(c->ssl, buf + done, (int)(len - done));

		if (n <= 0) {
			int err = errno; /* before anything else can change it */
			int e = SSL_get_error(c->ssl, n);
			char t[256];

			ssl_errors(t, sizeof(t));
			/* The socket blocks with SO_RCVTIMEO/SO_SNDTIMEO: a retry request from
			 * OpenSSL, or EAGAIN underneath it, means that timeout expired. */
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ||
			    (e == SSL_ERROR_SYSCALL && (err == EAGAIN || err == EWOULDBLOCK)))
				return kms_fail(k, -ETIMEDOUT, "KMIP server %s:%s: %s timed out",
						m->host, m->port, wr ? "write" : "read");
			if (!wr && strstr(t, "alert"))
				return kms_fail(k, -EPROTO,
						"KMIP server %s:%s rejected the client certificate "
						"%s (%s)",
						m->host, m->port, m->cert, t);
			return kms_fail(k, -ECONNRESET,
					"KMIP server %s:%s closed the connection during the %s%s%s",
					m->host, m->port, wr ? "request" : "response",
					e == SSL_ERROR_SSL ? ": " : "",
					e == SSL_ERROR_SSL ? t : "");
		}
		done += (size_t)n;
	}
	return 0;
}
