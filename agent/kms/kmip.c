// SPDX-License-Identifier: MIT
/*
 * KMS type "kmip": a KMIP 1.4 client over mutual TLS (OpenSSL), for CipherTrust,
 * Cosmian, IBM, HSMs, and PyKMIP in tests. Two ways to keep a DEK:
 *   kmipKeyStorage "wrap" (default): envelope. The server's AES key (UNIQUE_IDENTIFIER)
 *     encrypts the DEK with AES-GCM, the binding "pvenc:dek:v1:<volume id>" as
 *     authenticated data; the result is stored in image metadata (kms/wrapfmt.h form,
 *     kid = the key's UID). ceph-csi's KMIP form ({"dek","nonce"}: AES-CBC, PKCS5) is
 *     unwrapped too, so ceph-csi volumes open.
 *   kmipKeyStorage "register": the DEK is registered on the server as a symmetric key
 *     named "pvenc:<volume id>" (Rook's mode), fetched by Locate + Get, and revoked
 *     and destroyed with the volume.
 * Config names are ceph-csi's: KMIP_ENDPOINT, TLS_SERVER_NAME, READ_TIMEOUT,
 * WRITE_TIMEOUT (seconds), KMIP_SECRET_NAME (files CA_CERT, CLIENT_CERT, CLIENT_KEY,
 * UNIQUE_IDENTIFIER under secretsDir/<name>/), or kmipCAFile, kmipClientCertFile,
 * kmipClientKeyFile, kmipKeyUID directly.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kms/kms.h"
#include "kms/ttlv.h"
#include "kms/wrapfmt.h"
#include "util/b64.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/secmem.h"

/* Tags (KMIP 1.4). */
enum {
	T_ATTRIBUTE = 0x420008,
	T_ATTRIBUTE_NAME = 0x42000A,
	T_ATTRIBUTE_VALUE = 0x42000B,
	T_BATCH_COUNT = 0x42000D,
	T_BATCH_ITEM = 0x42000F,
	T_BLOCK_CIPHER_MODE = 0x420011,
	T_CRYPTO_ALGORITHM = 0x420028,
	T_CRYPTO_LENGTH = 0x42002A,
	T_CRYPTO_PARAMETERS = 0x42002B,
	T_CRYPTO_USAGE_MASK = 0x42002C,
	T_IV_COUNTER_NONCE = 0x42003D,
	T_KEY_BLOCK = 0x420040,
	T_KEY_FORMAT_TYPE = 0x420042,
	T_KEY_MATERIAL = 0x420043,
	T_KEY_VALUE = 0x420045,
	T_NAME = 0x420053,
	T_NAME_TYPE = 0x420054,
	T_NAME_VALUE = 0x420055,
	T_OBJECT_TYPE = 0x420057,
	T_OPERATION = 0x42005C,
	T_PADDING_METHOD = 0x42005F,
	T_PROTOCOL_VERSION = 0x420069,
	T_PROTOCOL_MAJOR = 0x42006A,
	T_PROTOCOL_MINOR = 0x42006B,
	T_QUERY_FUNCTION = 0x420074,
	T_REQUEST_HEADER = 0x420077,
	T_REQUEST_MESSAGE = 0x420078,
	T_REQUEST_PAYLOAD = 0x420079,
	T_RESPONSE_MESSAGE = 0x42007B,
	T_RESPONSE_PAYLOAD = 0x42007C,
	T_RESULT_MESSAGE = 0x42007D,
	T_RESULT_REASON = 0x42007E,
	T_RESULT_STATUS = 0x42007F,
	T_REVOCATION_REASON = 0x420081,
	T_REVOCATION_REASON_CODE = 0x420082,
	T_SYMMETRIC_KEY = 0x42008F,
	T_TEMPLATE_ATTRIBUTE = 0x420091,
	T_UNIQUE_IDENTIFIER = 0x420094,
	T_VENDOR_IDENTIFICATION = 0x42009D,
	T_DATA = 0x4200C2,
	T_TAG_LENGTH = 0x4200CE,
	T_AEAD_DATA = 0x4200FE,
	T_AEAD_TAG = 0x4200FF,
};

enum {
	OP_CREATE = 0x01,
	OP_REGISTER = 0x03,
	OP_LOCATE = 0x08,
	OP_GET = 0x0A,
	OP_ACTIVATE = 0x12,
	OP_REVOKE = 0x13,
	OP_DESTROY = 0x14,
	OP_QUERY = 0x18,
	OP_ENCRYPT = 0x1F,
	OP_DECRYPT = 0x20,
};

#define ALG_AES		 3
#define MODE_CBC	 1
#define MODE_GCM	 9
#define PAD_NONE	 1
#define PAD_PKCS5	 3
#define OBJ_SYMMETRIC	 2
#define FMT_RAW		 1
#define USAGE_ENC_DEC	 (0x4 | 0x8)
#define NAME_TEXT	 1
#define REASON_CESSATION 6
#define UID_MAX		 128

extern const struct kms_ops kms_kmip_register_ops;

struct kmip {
	char *host, *port, *server_name;
	char *ca, *cert, *key;
	char uid[UID_MAX + 1]; /* wrap mode: the KEK */
	struct json_object *cfg; /* kmipPreviousKeyUIDs: retired KEKs that still unwrap */
	int register_mode;
	int read_ms, write_ms;
};

static const char *op_name(int op)
{
	switch (op) {
	case OP_CREATE:
		return "Create";
	case OP_REGISTER:
		return "Register";
	case OP_LOCATE:
		return "Locate";
	case OP_GET:
		return "Get";
	case OP_ACTIVATE:
		return "Activate";
	case OP_REVOKE:
		return "Revoke";
	case OP_DESTROY:
		return "Destroy";
	case OP_QUERY:
		return "Query";
	case OP_ENCRYPT:
		return "Encrypt";
	case OP_DECRYPT:
		return "Decrypt";
	default:
		return "?";
	}
}

static char *cred_path(struct json_object *cfg, const char *direct, const char *secretdir,
		       const char *key)
{
	const char *s = kms_cfg_str(cfg, direct);
	char *p;

	if (s)
		return strdup(s);
	if (asprintf(&p, "%s/%s", secretdir, key) < 0)
		return NULL;
	return p;
}

static int read_small(const char *path, char *buf, size_t len)
{
	_cleanup_free_ char *text = NULL;
	size_t n;
	int r = read_file(path, 4096, &text, &n);

	if (r < 0)
		return r;
	text[strcspn(text, "\r\n")] = '\0';
	if (!text[0] || strlen(text) >= len)
		return -EINVAL;
	(void)snprintf(buf, len, "%s", text);
	return 0;
}

static long seconds_ms(struct json_object *cfg, const char *key, long def)
{
	struct json_object *o;

	if (!json_object_object_get_ex(cfg, key, &o))
		return def;
	if (json_object_is_type(o, json_type_string))
		return strtol(json_object_get_string(o), NULL, 10) * 1000;
	return (long)(json_object_get_double(o) * 1000);
}

static int kmip_init_paths(struct kms *k, struct json_object *cfg, char **secretdir_out,
			   char **uidfile_out);

static int kmip_init(struct kms *k, struct json_object *cfg)
{
	char *secretdir = NULL, *uidfile = NULL;
	int r = kmip_init_paths(k, cfg, &secretdir, &uidfile);

	free(secretdir);
	free(uidfile);
	return r;
}

/* The real init; the two paths it allocates are freed by the caller. */
static int kmip_init_paths(struct kms *k, struct json_object *cfg, char **secretdir_out,
			   char **uidfile_out)
{
	struct kmip *m = calloc(1, sizeof(*m));
	const char *ep = kms_cfg_str(cfg, "KMIP_ENDPOINT"), *colon, *s;
	const char *dir = kms_cfg_str(cfg, "secretsDir") ?: "/etc/pvenc/secrets";
	char *secretdir, *uidfile = NULL;
	int r;

	if (!m)
		return -ENOMEM;
	k->priv = m;
	m->cfg = json_object_get(cfg);
	if (!ep)
		ep = kms_cfg_str(cfg, "kmipEndpoint");
	if (!ep || !(colon = strrchr(ep, ':')) || colon == ep || !colon[1])
		return kms_fail(k, -EINVAL, "KMIP_ENDPOINT (host:port) is required");
	m->host = strndup(ep, (size_t)(colon - ep));
	m->port = strdup(colon + 1);
	s = kms_cfg_str(cfg, "KMIP_SECRET_NAME") ?: "ceph-csi-kmip-credentials";
	if (strchr(s, '/') && s[0] != '/')
		return kms_fail(k, -EINVAL, "KMIP_SECRET_NAME '%s' is malformed", s);
	if (s[0] == '/')
		secretdir = strdup(s);
	else if (asprintf(&secretdir, "%s/%s", dir, s) < 0)
		secretdir = NULL;
	*secretdir_out = secretdir;
	if (!m->host || !m->port || !secretdir)
		return -ENOMEM;
	m->ca = cred_path(cfg, "kmipCAFile", secretdir, "CA_CERT");
	m->cert = cred_path(cfg, "kmipClientCertFile", secretdir, "CLIENT_CERT");
	m->key = cred_path(cfg, "kmipClientKeyFile", secretdir, "CLIENT_KEY");
	s = kms_cfg_str(cfg, "TLS_SERVER_NAME");
	m->server_name = strdup(s ? s : m->host);
	if (!m->ca || !m->cert || !m->key || !m->server_name)
		return -ENOMEM;
	m->read_ms = (int)seconds_ms(cfg, "READ_TIMEOUT", 10000);
	m->write_ms = (int)seconds_ms(cfg, "WRITE_TIMEOUT", 10000);
	if (m->read_ms <= 0 || m->write_ms <= 0)
		return kms_fail(k, -EINVAL, "READ_TIMEOUT/WRITE_TIMEOUT must be positive seconds");
	s = kms_cfg_str(cfg, "kmipKeyStorage") ?: "wrap";
	if (!strcmp(s, "register"))
		m->register_mode = 1;
	else if (strcmp(s, "wrap") != 0)
		return kms_fail(k, -EINVAL, "kmipKeyStorage '%s' is neither wrap nor register", s);
	s = kms_cfg_str(cfg, "kmipKeyUID");
	if (s)
		(void)snprintf(m->uid, sizeof(m->uid), "%s", s);
	else if (!m->register_mode) {
		uidfile = cred_path(cfg, "kmipKeyUIDFile", secretdir, "UNIQUE_IDENTIFIER");
		*uidfile_out = uidfile;
		r = uidfile ? read_small(uidfile, m->uid, sizeof(m->uid)) : -ENOMEM;
		if (r < 0)
			return kms_fail(
				k, -EINVAL,
				"the KEK's unique identifier is required for kmipKeyStorage "
				"wrap: kmipKeyUID, or the file %s (%s)",
				uidfile ? uidfile : "?", strerror(-r));
	}
	if (m->register_mode)
		k->ops = &kms_kmip_register_ops;
	return kms_set_endpoint(k, "kmip://%s:%s", m->host, m->port);
}

static void kmip_free(struct kms *k)
{
	struct kmip *m = k->priv;

	if (!m)
		return;
	json_object_put(m->cfg);
	free(m->host);
	free(m->port);
	free(m->server_name);
	free(m->ca);
	free(m->cert);
	free(m->key);
	free(m);
	k->priv = NULL;
}

/* ---- transport ---- */

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

static int tcp_connect(struct kms *k, struct kmip *m, int *fd)
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
	*fd = s;
	return 0;
}

struct conn {
	SSL_CTX *ctx;
	SSL *ssl;
	int fd;
};

static void conn_close(struct conn *c)
{
	if (c->ssl) {
		(void)SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	SSL_CTX_free(c->ctx);
	if (c->fd >= 0)
		(void)close(c->fd);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

static int conn_open(struct kms *k, struct kmip *m, struct conn *c)
{
	char e[256];
	int r;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->ctx = SSL_CTX_new(TLS_client_method());
	if (!c->ctx)
		return -ENOMEM;
	(void)SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	if (SSL_CTX_load_verify_locations(c->ctx, m->ca, NULL) != 1) {
		ssl_errors(e, sizeof(e));
		r = kms_fail(k, -EPROTO, "cannot load the KMIP CA certificate %s: %s", m->ca, e);
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(c->ctx, m->cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(c->ctx, m->key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(c->ctx) != 1) {
		ssl_errors(e, sizeof(e));
		r = kms_fail(k, -EPROTO, "cannot use the KMIP client certificate %s / key %s: %s",
			     m->cert, m->key, e);
		goto fail;
	}
	r = tcp_connect(k, m, &c->fd);
	if (r < 0)
		goto fail;
	c->ssl = SSL_new(c->ctx);
	if (!c->ssl) {
		r = -ENOMEM;
		goto fail;
	}
	(void)SSL_set_tlsext_host_name(c->ssl, m->server_name);
	(void)SSL_set1_host(c->ssl, m->server_name);
	(void)SSL_set_fd(c->ssl, c->fd);
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
	return 0;
fail:
	conn_close(c);
	return r;
}

static int io_all(struct kms *k, struct kmip *m, struct conn *c, uint8_t *buf, size_t len, int wr)
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

/*
 * One operation: request payload from @e (already wrapped in RequestPayload by the
 * caller), response payload into @doc / *payload. Result errors become sentences.
 */
static int call(struct kms *k, struct kmip *m, int op, struct ttlv_enc *payload,
		struct ttlv_doc *doc, uint8_t **raw, const struct ttlv **out)
{
	struct ttlv_enc e = { 0 };
	const uint8_t *req, *pl;
	size_t reqlen, pllen, len = 0;
	uint8_t hdr[8];
	struct conn c;
	const struct ttlv *item, *rp;
	int64_t status, reason = 0;
	char why[160], msg[300] = "";
	int r;

	*raw = NULL;
	r = ttlv_finish(payload, &pl, &pllen);
	if (r < 0)
		return r;
	ttlv_begin(&e, T_REQUEST_MESSAGE);
	ttlv_begin(&e, T_REQUEST_HEADER);
	ttlv_begin(&e, T_PROTOCOL_VERSION);
	ttlv_int(&e, T_PROTOCOL_MAJOR, 1);
	ttlv_int(&e, T_PROTOCOL_MINOR, 4);
	ttlv_end(&e);
	ttlv_int(&e, T_BATCH_COUNT, 1);
	ttlv_end(&e);
	ttlv_begin(&e, T_BATCH_ITEM);
	ttlv_enum(&e, T_OPERATION, (uint32_t)op);
	ttlv_begin(&e, T_REQUEST_PAYLOAD);
	/* The finished payload items go in as they are. */
	if (!e.err && e.len + pllen > e.cap) {
		uint8_t *nb = secmem_realloc(e.buf, e.len + pllen);

		if (!nb)
			e.err = -ENOMEM;
		else {
			e.buf = nb;
			e.cap = e.len + pllen;
		}
	}
	if (!e.err) {
		memcpy(e.buf + e.len, pl, pllen);
		e.len += pllen;
	}
	ttlv_end(&e); /* RequestPayload */
	ttlv_end(&e); /* BatchItem */
	ttlv_end(&e); /* RequestMessage */
	r = ttlv_finish(&e, &req, &reqlen);
	if (r < 0) {
		ttlv_enc_free(&e);
		return r;
	}
	r = conn_open(k, m, &c);
	if (r < 0) {
		ttlv_enc_free(&e);
		return r;
	}
	r = io_all(k, m, &c, (uint8_t *)req, reqlen, 1);
	ttlv_enc_free(&e);
	if (r == 0)
		r = io_all(k, m, &c, hdr, sizeof(hdr), 0);
	if (r == 0) {
		len = (size_t)hdr[4] << 24 | (size_t)hdr[5] << 16 | (size_t)hdr[6] << 8 | hdr[7];
		if (hdr[3] != TTLV_STRUCT || len > TTLV_MAX_MSG - 8 || len % 8)
			r = kms_fail(k, -EPROTO,
				     "KMIP server %s:%s sent a malformed response header", m->host,
				     m->port);
	}
	if (r == 0) {
		*raw = secmem_alloc(len + 8);
		if (!*raw)
			r = -ENOMEM;
	}
	if (r == 0) {
		memcpy(*raw, hdr, 8);
		r = io_all(k, m, &c, *raw + 8, len, 0);
	}
	conn_close(&c);
	if (r < 0)
		return r;
	r = ttlv_decode(*raw, len + 8, doc, why, sizeof(why));
	if (r < 0)
		return kms_fail(k, -EPROTO, "KMIP server %s:%s sent a malformed response: %s",
				m->host, m->port, why);
	if (doc->items[0].tag != T_RESPONSE_MESSAGE ||
	    !(item = ttlv_find(&doc->items[0], T_BATCH_ITEM)))
		return kms_fail(k, -EPROTO, "KMIP server %s:%s answered without a batch item",
				m->host, m->port);
	if (ttlv_get_enum(item, T_RESULT_STATUS, &status) < 0)
		return kms_fail(k, -EPROTO, "KMIP response lacks a result status");
	if (status != 0) {
		(void)ttlv_get_enum(item, T_RESULT_REASON, &reason);
		(void)ttlv_get_text(item, T_RESULT_MESSAGE, msg, sizeof(msg));
		switch (reason) {
		case 1: /* item not found */
			return kms_fail(k, -ENOKEY, "KMIP %s on %s:%s: object not found (%s)",
					op_name(op), m->host, m->port, msg);
		case 3: /* authentication not successful */
		case 12: /* permission denied */
			return kms_fail(k, -EACCES, "KMIP %s on %s:%s: permission denied (%s)",
					op_name(op), m->host, m->port, msg);
		case 10: /* cryptographic failure */
			return kms_fail(
				k, -EKEYREJECTED,
				"KMIP %s on %s:%s failed cryptographically (%s): the wrapped "
				"DEK was tampered with or belongs to another volume",
				op_name(op), m->host, m->port, msg);
		default:
			if (!reason && !msg[0])
				return kms_fail(
					k, -EIO,
					"KMIP %s on %s:%s failed (the server gave no reason "
					"or message; see its log)",
					op_name(op), m->host, m->port);
			return kms_fail(k, -EIO, "KMIP %s on %s:%s failed (reason %lld: %s)",
					op_name(op), m->host, m->port, (long long)reason, msg);
		}
	}
	rp = ttlv_find(item, T_RESPONSE_PAYLOAD);
	if (!rp && op != OP_REVOKE && op != OP_DESTROY && op != OP_ACTIVATE)
		return kms_fail(k, -EPROTO, "KMIP %s response lacks a payload", op_name(op));
	*out = rp;
	return 0;
}

/* Runs @op, keeping only the response payload tree; frees everything on error. */
struct resp {
	struct ttlv_doc doc;
	uint8_t *raw;
	const struct ttlv *p;
};

static void resp_free(struct resp *r)
{
	ttlv_doc_free(&r->doc);
	secmem_free(r->raw);
	memset(r, 0, sizeof(*r));
}

static int run(struct kms *k, struct kmip *m, int op, struct ttlv_enc *pl, struct resp *out)
{
	int r;

	memset(out, 0, sizeof(*out));
	r = call(k, m, op, pl, &out->doc, &out->raw, &out->p);
	ttlv_enc_free(pl);
	if (r < 0)
		resp_free(out);
	return r;
}

static void crypto_params(struct ttlv_enc *e, int gcm)
{
	ttlv_begin(e, T_CRYPTO_PARAMETERS);
	ttlv_enum(e, T_BLOCK_CIPHER_MODE, gcm ? MODE_GCM : MODE_CBC);
	ttlv_enum(e, T_PADDING_METHOD, gcm ? PAD_NONE : PAD_PKCS5);
	ttlv_enum(e, T_CRYPTO_ALGORITHM, ALG_AES);
	if (gcm)
		ttlv_int(e, T_TAG_LENGTH, WRAP_TAG_LEN);
	ttlv_end(e);
}

static void name_attr(struct ttlv_enc *e, const char *name)
{
	ttlv_begin(e, T_ATTRIBUTE);
	ttlv_text(e, T_ATTRIBUTE_NAME, "Name");
	ttlv_begin(e, T_ATTRIBUTE_VALUE);
	ttlv_text(e, T_NAME_VALUE, name);
	ttlv_enum(e, T_NAME_TYPE, NAME_TEXT);
	ttlv_end(e);
	ttlv_end(e);
}

static void int_attr(struct ttlv_enc *e, const char *name, int32_t v, int is_enum)
{
	ttlv_begin(e, T_ATTRIBUTE);
	ttlv_text(e, T_ATTRIBUTE_NAME, name);
	if (is_enum)
		ttlv_enum(e, T_ATTRIBUTE_VALUE, (uint32_t)v);
	else
		ttlv_int(e, T_ATTRIBUTE_VALUE, v);
	ttlv_end(e);
}

/* ---- envelope mode ---- */

static int kmip_wrap(struct kms *k, const struct kms_binding *b, const uint8_t *dek, size_t len,
		     char **wrapped)
{
	struct kmip *m = k->priv;
	struct ttlv_enc e = { 0 };
	struct resp rs;
	uint8_t iv[WRAP_IV_LEN], ct[WRAP_DEK_MAX + WRAP_TAG_LEN];
	const uint8_t *d, *tag;
	size_t dlen, taglen;
	char aad[320];
	int aadlen, r;

	aadlen = wrapfmt_prepare(k, b, len, aad, sizeof(aad), iv);
	if (aadlen < 0)
		return aadlen;
	ttlv_text(&e, T_UNIQUE_IDENTIFIER, m->uid);
	crypto_params(&e, 1);
	ttlv_bytes(&e, T_DATA, dek, len);
	ttlv_bytes(&e, T_IV_COUNTER_NONCE, iv, sizeof(iv));
	ttlv_bytes(&e, T_AEAD_DATA, (const uint8_t *)aad, (size_t)aadlen);
	r = run(k, m, OP_ENCRYPT, &e, &rs);
	if (r < 0)
		return r;
	if (ttlv_get_bytes(rs.p, T_DATA, &d, &dlen) < 0 || dlen != len ||
	    ttlv_get_bytes(rs.p, T_AEAD_TAG, &tag, &taglen) < 0 || taglen != WRAP_TAG_LEN) {
		resp_free(&rs);
		return kms_fail(k, -EPROTO,
				"KMIP Encrypt answer lacks %zu bytes of data and a 16-byte GCM tag",
				len);
	}
	memcpy(ct, d, dlen);
	memcpy(ct + dlen, tag, taglen);
	resp_free(&rs);
	r = wrapfmt_encode(m->uid, iv, ct, len + WRAP_TAG_LEN, wrapped);
	explicit_bzero(ct, sizeof(ct));
	return r;
}

/* Runs a Decrypt request and takes its data (exactly @want bytes if @want) as the DEK. */
static int decrypt(struct kms *k, struct kmip *m, struct ttlv_enc *e, size_t want, uint8_t **ret,
		   size_t *retlen)
{
	struct resp rs;
	const uint8_t *d;
	size_t dlen;
	int r;

	r = run(k, m, OP_DECRYPT, e, &rs);
	if (r < 0)
		return r;
	if (ttlv_get_bytes(rs.p, T_DATA, &d, &dlen) < 0 || !dlen || dlen > WRAP_DEK_MAX ||
	    (want && dlen != want)) {
		resp_free(&rs);
		return kms_fail(k, -EPROTO, "KMIP Decrypt answer lacks the data");
	}
	*ret = secmem_alloc(dlen);
	if (*ret) {
		memcpy(*ret, d, dlen);
		*retlen = dlen;
	}
	resp_free(&rs);
	return *ret ? 0 : -ENOMEM;
}

/* ceph-csi's KMIP form: {"dek": b64(AES-CBC-PKCS5 ciphertext), "nonce": b64(16-byte IV)}. */
static int unwrap_cephcsi(struct kms *k, struct kmip *m, const char *wrapped, uint8_t **ret,
			  size_t *retlen)
{
	struct json_object *o = json_tokener_parse(wrapped);
	const char *d64 = o ? kms_cfg_str(o, "dek") : NULL,
		   *n64 = o ? kms_cfg_str(o, "nonce") : NULL;
	uint8_t iv[20], ct[WRAP_DEK_MAX + 16];
	struct ttlv_enc e = { 0 };
	int ivlen, ctlen;

	ivlen = n64 ? b64_decode(n64, strlen(n64), iv, sizeof(iv)) : -1;
	ctlen = d64 ? b64_decode(d64, strlen(d64), ct, sizeof(ct)) : -1;
	json_object_put(o);
	if (ivlen != 16 || ctlen <= 0 || ctlen % 16)
		return kms_fail(k, -EBADMSG,
				"wrapped DEK is neither pvenc's nor ceph-csi's KMIP form");
	ttlv_text(&e, T_UNIQUE_IDENTIFIER, m->uid);
	crypto_params(&e, 0);
	ttlv_bytes(&e, T_DATA, ct, (size_t)ctlen);
	ttlv_bytes(&e, T_IV_COUNTER_NONCE, iv, 16);
	return decrypt(k, m, &e, 0, ret, retlen);
}

static int kmip_unwrap(struct kms *k, const struct kms_binding *b, const char *wrapped,
		       uint8_t **ret, size_t *retlen)
{
	struct kmip *m = k->priv;
	struct ttlv_enc e = { 0 };
	uint8_t iv[WRAP_IV_LEN], ct[WRAP_DEK_MAX + WRAP_TAG_LEN];
	char aad[320], kid[WRAP_KID_MAX + 1];
	size_t ctlen;
	int aadlen, r;

	if (strstr(wrapped, "\"nonce\"") && !strstr(wrapped, "\"kid\""))
		return unwrap_cephcsi(k, m, wrapped, ret, retlen);
	aadlen = wrapfmt_aad(b, aad, sizeof(aad));
	if (aadlen < 0)
		return kms_fail(k, aadlen, "no volume id to bind the DEK to");
	r = wrapfmt_decode(k, wrapped, kid, iv, ct, sizeof(ct), &ctlen);
	if (r < 0)
		return r;
	/* A KEK rotation in progress: DEKs wrapped by a retired key the entry still lists. */
	if (strcmp(kid, m->uid) != 0 && !kms_cfg_list_has(m->cfg, "kmipPreviousKeyUIDs", kid))
		return kms_fail(k, -EKEYREJECTED,
				"wrong key: the DEK was wrapped by KMIP key %s, this entry uses %s "
				"(list retired keys in kmipPreviousKeyUIDs)",
				kid, m->uid);
	ttlv_text(&e, T_UNIQUE_IDENTIFIER, kid);
	crypto_params(&e, 1);
	ttlv_bytes(&e, T_DATA, ct, ctlen - WRAP_TAG_LEN);
	ttlv_bytes(&e, T_IV_COUNTER_NONCE, iv, sizeof(iv));
	ttlv_bytes(&e, T_AEAD_DATA, (const uint8_t *)aad, (size_t)aadlen);
	ttlv_bytes(&e, T_AEAD_TAG, ct + ctlen - WRAP_TAG_LEN, WRAP_TAG_LEN);
	return decrypt(k, m, &e, ctlen - WRAP_TAG_LEN, ret, retlen);
}

/* ---- KMS-held mode ---- */

static int object_name(const struct kms_binding *b, char *buf, size_t len)
{
	int n;

	if (!b || !b->volume_id || !b->volume_id[0])
		return -EINVAL;
	n = snprintf(buf, len, "pvenc:%s", b->volume_id);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* UID of the object named for @b; -ENOKEY if none. */
static int locate(struct kms *k, struct kmip *m, const struct kms_binding *b, char *uid)
{
	struct ttlv_enc e = { 0 };
	struct resp rs;
	char name[300];
	int r;

	if (object_name(b, name, sizeof(name)) < 0)
		return kms_fail(k, -EINVAL, "no volume id to name the key with");
	ttlv_int(&e, 0x42004F /* Maximum Items */, 2);
	name_attr(&e, name);
	r = run(k, m, OP_LOCATE, &e, &rs);
	if (r < 0)
		return r;
	r = ttlv_get_text(rs.p, T_UNIQUE_IDENTIFIER, uid, UID_MAX + 1);
	{
		int count = 0;

		for (const struct ttlv *c = rs.p ? rs.p->child : NULL; c; c = c->next)
			count += c->tag == T_UNIQUE_IDENTIFIER;
		if (count > 1)
			r = kms_fail(k, -EEXIST, "KMIP server holds %d keys named %s", count, name);
	}
	resp_free(&rs);
	if (r == -ENOENT)
		return kms_fail(k, -ENOKEY, "KMIP server %s:%s holds no key named %s", m->host,
				m->port, name);
	return r;
}

static int kmip_remove(struct kms *k, const struct kms_binding *b);

static int kmip_store(struct kms *k, const struct kms_binding *b, const uint8_t *dek, size_t len)
{
	struct kmip *m = k->priv;
	struct ttlv_enc e = { 0 };
	struct resp rs;
	char name[300], uid[UID_MAX + 1];
	int r;

	if (object_name(b, name, sizeof(name)) < 0)
		return kms_fail(k, -EINVAL, "no volume id to name the key with");
	r = locate(k, m, b, uid);
	if (r == 0 && b->replace) {
		/* KMIP keys are immutable: a rotation destroys the old one first. */
		r = kmip_remove(k, b);
		if (r < 0)
			return r;
		r = -ENOKEY;
	}
	if (r == 0)
		return kms_fail(k, -EEXIST, "KMIP server already holds a key named %s", name);
	if (r != -ENOKEY)
		return r;
	k->error[0] = '\0';
	ttlv_enum(&e, T_OBJECT_TYPE, OBJ_SYMMETRIC);
	ttlv_begin(&e, T_TEMPLATE_ATTRIBUTE);
	name_attr(&e, name);
	int_attr(&e, "Cryptographic Usage Mask", USAGE_ENC_DEC, 0);
	ttlv_end(&e);
	ttlv_begin(&e, T_SYMMETRIC_KEY);
	ttlv_begin(&e, T_KEY_BLOCK);
	ttlv_enum(&e, T_KEY_FORMAT_TYPE, FMT_RAW);
	ttlv_begin(&e, T_KEY_VALUE);
	ttlv_bytes(&e, T_KEY_MATERIAL, dek, len);
	ttlv_end(&e);
	ttlv_enum(&e, T_CRYPTO_ALGORITHM, ALG_AES);
	ttlv_int(&e, T_CRYPTO_LENGTH, (int32_t)(len * 8));
	ttlv_end(&e);
	ttlv_end(&e);
	r = run(k, m, OP_REGISTER, &e, &rs);
	resp_free(&rs);
	return r;
}

static int kmip_fetch(struct kms *k, const struct kms_binding *b, uint8_t **dek, size_t *len)
{
	struct kmip *m = k->priv;
	struct ttlv_enc e = { 0 };
	struct resp rs;
	const struct ttlv *kv;
	const uint8_t *d;
	char uid[UID_MAX + 1];
	size_t dlen;
	int r;

	r = locate(k, m, b, uid);
	if (r < 0)
		return r;
	ttlv_text(&e, T_UNIQUE_IDENTIFIER, uid);
	r = run(k, m, OP_GET, &e, &rs);
	if (r < 0)
		return r;
	kv = ttlv_find(ttlv_find(ttlv_find(rs.p, T_SYMMETRIC_KEY), T_KEY_BLOCK), T_KEY_VALUE);
	if (ttlv_get_bytes(kv, T_KEY_MATERIAL, &d, &dlen) < 0 || !dlen || dlen > WRAP_DEK_MAX) {
		resp_free(&rs);
		return kms_fail(k, -EPROTO, "KMIP Get of %s returned no raw symmetric key", uid);
	}
	*dek = secmem_alloc(dlen);
	if (*dek) {
		memcpy(*dek, d, dlen);
		*len = dlen;
	}
	resp_free(&rs);
	return *dek ? 0 : -ENOMEM;
}

static int kmip_remove(struct kms *k, const struct kms_binding *b)
{
	struct kmip *m = k->priv;
	struct ttlv_enc e = { 0 };
	struct resp rs;
	char uid[UID_MAX + 1];
	int r;

	r = locate(k, m, b, uid);
	if (r == -ENOKEY)
		return 0;
	if (r < 0)
		return r;
	ttlv_text(&e, T_UNIQUE_IDENTIFIER, uid);
	r = run(k, m, OP_DESTROY, &e, &rs);
	resp_free(&rs);
	if (r == -EACCES) {
		/* An active key must be revoked first. */
		k->error[0] = '\0';
		ttlv_text(&e, T_UNIQUE_IDENTIFIER, uid);
		ttlv_begin(&e, T_REVOCATION_REASON);
		ttlv_enum(&e, T_REVOCATION_REASON_CODE, REASON_CESSATION);
		ttlv_end(&e);
		r = run(k, m, OP_REVOKE, &e, &rs);
		resp_free(&rs);
		if (r == 0) {
			ttlv_text(&e, T_UNIQUE_IDENTIFIER, uid);
			r = run(k, m, OP_DESTROY, &e, &rs);
			resp_free(&rs);
		}
	}
	return r;
}

/* ---- check and create-key ---- */

static int kmip_check(struct kms *k, const struct kms_check_ops *c)
{
	struct kmip *m = k->priv;
	struct ttlv_enc e = { 0 };
	struct resp rs;
	char vendor[128] = "";
	int r, enc = 0, dec = 0, reg = 0, get = 0;

	kms_report(c, -1, "server %s:%s, TLS server name %s, CA %s, client certificate %s", m->host,
		   m->port, m->server_name, m->ca, m->cert);
	kms_report(c, -1, "key storage: %s%s%s",
		   m->register_mode ? "register (DEKs kept on the server)"
				    : "wrap (AES-GCM with key ",
		   m->register_mode ? "" : m->uid, m->register_mode ? "" : ")");
	ttlv_enum(&e, T_QUERY_FUNCTION, 1);
	ttlv_enum(&e, T_QUERY_FUNCTION, 3);
	r = run(k, m, OP_QUERY, &e, &rs);
	if (r < 0) {
		kms_report(c, 0, "connect and query: %s", k->error);
		return r;
	}
	(void)ttlv_get_text(rs.p, T_VENDOR_IDENTIFICATION, vendor, sizeof(vendor));
	for (const struct ttlv *it = rs.p ? rs.p->child : NULL; it; it = it->next) {
		if (it->tag != T_OPERATION || it->type != TTLV_ENUM)
			continue;
		enc |= it->num == OP_ENCRYPT;
		dec |= it->num == OP_DECRYPT;
		reg |= it->num == OP_REGISTER;
		get |= it->num == OP_GET;
	}
	resp_free(&rs);
	kms_report(c, 1, "mutual TLS and Query%s%s", vendor[0] ? ": " : "", vendor);
	if (m->register_mode)
		kms_report(c, reg && get, "server supports Register and Get");
	else
		kms_report(c, enc && dec, "server supports Encrypt and Decrypt");
	return 0;
}

static int kmip_create_key(struct kms *k)
{
	struct kmip *m = k->priv;
	struct ttlv_enc e = { 0 };
	struct resp rs;
	char uid[UID_MAX + 1];
	int r;

	if (m->register_mode)
		return kms_fail(k, -EOPNOTSUPP, "kmipKeyStorage register needs no KEK");
	ttlv_enum(&e, T_OBJECT_TYPE, OBJ_SYMMETRIC);
	ttlv_begin(&e, T_TEMPLATE_ATTRIBUTE);
	int_attr(&e, "Cryptographic Algorithm", ALG_AES, 1);
	int_attr(&e, "Cryptographic Length", 256, 0);
	int_attr(&e, "Cryptographic Usage Mask", USAGE_ENC_DEC, 0);
	name_attr(&e, "pvenc-kek");
	ttlv_end(&e);
	r = run(k, m, OP_CREATE, &e, &rs);
	if (r < 0)
		return r;
	r = ttlv_get_text(rs.p, T_UNIQUE_IDENTIFIER, uid, sizeof(uid));
	resp_free(&rs);
	if (r < 0)
		return kms_fail(k, -EPROTO, "KMIP Create answer lacks the unique identifier");
	ttlv_text(&e, T_UNIQUE_IDENTIFIER, uid);
	r = run(k, m, OP_ACTIVATE, &e, &rs);
	resp_free(&rs);
	if (r < 0)
		return r;
	(void)printf("%s\n", uid);
	return 0;
}

const struct kms_ops kms_kmip_ops = {
	.type = "kmip",
	.init = kmip_init,
	.free = kmip_free,
	.wrap = kmip_wrap,
	.unwrap = kmip_unwrap,
	.check = kmip_check,
	.create_key = kmip_create_key,
};

/* The same client keeping DEKs on the server. */
const struct kms_ops kms_kmip_register_ops = {
	.type = "kmip",
	.init = kmip_init,
	.free = kmip_free,
	.store = kmip_store,
	.fetch = kmip_fetch,
	.remove = kmip_remove,
	.check = kmip_check,
};
