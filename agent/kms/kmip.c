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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "kms/kmip.h"
#include "kms/wrapfmt.h"
#include "util/b64.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/secmem.h"

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

/* ---- envelope mode ---- */

static int kmip_wrap(struct kms *k, const struct kms_binding *b, const uint8_t *dek, size_t len,
		     char **wrapped)
{
	struct kmip *m = k->priv;
	struct ttlv_enc e = { 0 };
	struct kmip_resp rs;
	struct wrap_env w;
	const uint8_t *d, *tag;
	size_t dlen, taglen;
	int r;

	r = wrapfmt_prepare(k, b, len, &w);
	if (r < 0)
		return r;
	ttlv_text(&e, T_UNIQUE_IDENTIFIER, m->uid);
	kmip_crypto_params(&e, 1);
	ttlv_bytes(&e, T_DATA, dek, len);
	ttlv_bytes(&e, T_IV_COUNTER_NONCE, w.iv, sizeof(w.iv));
	ttlv_bytes(&e, T_AEAD_DATA, (const uint8_t *)w.aad, w.aadlen);
	r = kmip_run(k, m, OP_ENCRYPT, &e, &rs);
	if (r < 0)
		return r;
	if (ttlv_get_bytes(rs.p, T_DATA, &d, &dlen) < 0 || dlen != len ||
	    ttlv_get_bytes(rs.p, T_AEAD_TAG, &tag, &taglen) < 0 || taglen != WRAP_TAG_LEN) {
		kmip_resp_free(&rs);
		return kms_fail(k, -EPROTO,
				"KMIP Encrypt answer lacks %zu bytes of data and a 16-byte GCM tag",
				len);
	}
	memcpy(w.ct, d, dlen);
	memcpy(w.ct + dlen, tag, taglen);
	kmip_resp_free(&rs);
	return wrapfmt_encode(m->uid, &w, wrapped);
}

/* Runs a Decrypt request and takes its data (exactly @want bytes if @want) as the DEK. */
static int decrypt(struct kms *k, struct kmip *m, struct ttlv_enc *e, size_t want, uint8_t **ret,
		   size_t *retlen)
{
	struct kmip_resp rs;
	const uint8_t *d;
	size_t dlen;
	int r;

	r = kmip_run(k, m, OP_DECRYPT, e, &rs);
	if (r < 0)
		return r;
	if (ttlv_get_bytes(rs.p, T_DATA, &d, &dlen) < 0 || !dlen || dlen > WRAP_DEK_MAX ||
	    (want && dlen != want)) {
		kmip_resp_free(&rs);
		return kms_fail(k, -EPROTO, "KMIP Decrypt answer lacks the data");
	}
	*ret = secmem_alloc(dlen);
	if (*ret) {
		memcpy(*ret, d, dlen);
		*retlen = dlen;
	}
	kmip_resp_free(&rs);
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
	kmip_crypto_params(&e, 0);
	ttlv_bytes(&e, T_DATA, ct, (size_t)ctlen);
	ttlv_bytes(&e, T_IV_COUNTER_NONCE, iv, 16);
	return decrypt(k, m, &e, 0, ret, retlen);
}

static int kmip_unwrap(struct kms *k, const struct kms_binding *b, const char *wrapped,
		       uint8_t **ret, size_t *retlen)
{
	struct kmip *m = k->priv;
	struct ttlv_enc e = { 0 };
	struct wrap_env w;
	size_t len;
	int r;

	/* ceph-csi's form carries no associated data: only ceph-csi volumes may use it, or
	 * a pool writer could put an unbound DEK in a pvenc volume's metadata. */
	if (strstr(wrapped, "\"nonce\"") && !strstr(wrapped, "\"kid\"")) {
		if (!b || !b->text)
			return kms_fail(
				k, -EKEYREJECTED,
				"the wrapped DEK is in ceph-csi's KMIP form, which binds the "
				"DEK to no volume; a pvenc volume's never is, so it was "
				"replaced: refusing it");
		return unwrap_cephcsi(k, m, wrapped, ret, retlen);
	}
	r = wrapfmt_open(k, b, wrapped, &w);
	if (r < 0)
		return r;
	/* A KEK rotation in progress: DEKs wrapped by a retired key the entry still lists. */
	if (strcmp(w.kid, m->uid) != 0 && !kms_cfg_list_has(m->cfg, "kmipPreviousKeyUIDs", w.kid))
		return kms_fail(k, -EKEYREJECTED,
				"wrong key: the DEK was wrapped by KMIP key %s, this entry uses %s "
				"(list retired keys in kmipPreviousKeyUIDs)",
				w.kid, m->uid);
	len = w.ctlen - WRAP_TAG_LEN;
	ttlv_text(&e, T_UNIQUE_IDENTIFIER, w.kid);
	kmip_crypto_params(&e, 1);
	ttlv_bytes(&e, T_DATA, w.ct, len);
	ttlv_bytes(&e, T_IV_COUNTER_NONCE, w.iv, sizeof(w.iv));
	ttlv_bytes(&e, T_AEAD_DATA, (const uint8_t *)w.aad, w.aadlen);
	ttlv_bytes(&e, T_AEAD_TAG, w.ct + len, WRAP_TAG_LEN);
	return decrypt(k, m, &e, len, ret, retlen);
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
	struct kmip_resp rs;
	char name[300];
	int r;

	if (object_name(b, name, sizeof(name)) < 0)
		return kms_fail(k, -EINVAL, "no volume id to name the key with");
	ttlv_int(&e, 0x42004F /* Maximum Items */, 2);
	kmip_name_attr(&e, name);
	r = kmip_run(k, m, OP_LOCATE, &e, &rs);
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
	kmip_resp_free(&rs);
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
	struct kmip_resp rs;
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
	kmip_name_attr(&e, name);
	kmip_int_attr(&e, "Cryptographic Usage Mask", USAGE_ENC_DEC, 0);
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
	r = kmip_run(k, m, OP_REGISTER, &e, &rs);
	kmip_resp_free(&rs);
	return r;
}

static int kmip_fetch(struct kms *k, const struct kms_binding *b, uint8_t **dek, size_t *len)
{
	struct kmip *m = k->priv;
	struct ttlv_enc e = { 0 };
	struct kmip_resp rs;
	const struct ttlv *kv;
	const uint8_t *d;
	char uid[UID_MAX + 1];
	size_t dlen;
	int r;

	r = locate(k, m, b, uid);
	if (r < 0)
		return r;
	ttlv_text(&e, T_UNIQUE_IDENTIFIER, uid);
	r = kmip_run(k, m, OP_GET, &e, &rs);
	if (r < 0)
		return r;
	kv = ttlv_find(ttlv_find(ttlv_find(rs.p, T_SYMMETRIC_KEY), T_KEY_BLOCK), T_KEY_VALUE);
	if (ttlv_get_bytes(kv, T_KEY_MATERIAL, &d, &dlen) < 0 || !dlen || dlen > WRAP_DEK_MAX) {
		kmip_resp_free(&rs);
		return kms_fail(k, -EPROTO, "KMIP Get of %s returned no raw symmetric key", uid);
	}
	*dek = secmem_alloc(dlen);
	if (*dek) {
		memcpy(*dek, d, dlen);
		*len = dlen;
	}
	kmip_resp_free(&rs);
	return *dek ? 0 : -ENOMEM;
}

static int kmip_remove(struct kms *k, const struct kms_binding *b)
{
	struct kmip *m = k->priv;
	struct ttlv_enc e = { 0 };
	struct kmip_resp rs;
	char uid[UID_MAX + 1];
	int r;

	r = locate(k, m, b, uid);
	if (r == -ENOKEY)
		return 0;
	if (r < 0)
		return r;
	ttlv_text(&e, T_UNIQUE_IDENTIFIER, uid);
	r = kmip_run(k, m, OP_DESTROY, &e, &rs);
	kmip_resp_free(&rs);
	if (r == -EACCES) {
		/* An active key must be revoked first. */
		k->error[0] = '\0';
		ttlv_text(&e, T_UNIQUE_IDENTIFIER, uid);
		ttlv_begin(&e, T_REVOCATION_REASON);
		ttlv_enum(&e, T_REVOCATION_REASON_CODE, REASON_CESSATION);
		ttlv_end(&e);
		r = kmip_run(k, m, OP_REVOKE, &e, &rs);
		kmip_resp_free(&rs);
		if (r == 0) {
			ttlv_text(&e, T_UNIQUE_IDENTIFIER, uid);
			r = kmip_run(k, m, OP_DESTROY, &e, &rs);
			kmip_resp_free(&rs);
		}
	}
	return r;
}

/* ---- check and create-key ---- */

static int kmip_check(struct kms *k, const struct kms_check_ops *c)
{
	struct kmip *m = k->priv;
	struct ttlv_enc e = { 0 };
	struct kmip_resp rs;
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
	r = kmip_run(k, m, OP_QUERY, &e, &rs);
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
	kmip_resp_free(&rs);
	kms_report(c, 1, "mutual TLS and Query%s%s", vendor[0] ? ": " : "", vendor);
	if (m->register_mode)
		kms_report(c, reg && get, "server supports Register and Get");
	else
		kms_report(c, enc && dec, "server supports Encrypt and Decrypt");
	return 0;
}

static int kmip_create_key(struct kms *k, char **key_id)
{
	struct kmip *m = k->priv;
	struct ttlv_enc e = { 0 };
	struct kmip_resp rs;
	char uid[UID_MAX + 1];
	int r;

	if (m->register_mode)
		return kms_fail(k, -EOPNOTSUPP, "kmipKeyStorage register needs no KEK");
	ttlv_enum(&e, T_OBJECT_TYPE, OBJ_SYMMETRIC);
	ttlv_begin(&e, T_TEMPLATE_ATTRIBUTE);
	kmip_int_attr(&e, "Cryptographic Algorithm", ALG_AES, 1);
	kmip_int_attr(&e, "Cryptographic Length", 256, 0);
	kmip_int_attr(&e, "Cryptographic Usage Mask", USAGE_ENC_DEC, 0);
	kmip_name_attr(&e, "pvenc-kek");
	ttlv_end(&e);
	r = kmip_run(k, m, OP_CREATE, &e, &rs);
	if (r < 0)
		return r;
	r = ttlv_get_text(rs.p, T_UNIQUE_IDENTIFIER, uid, sizeof(uid));
	kmip_resp_free(&rs);
	if (r < 0)
		return kms_fail(k, -EPROTO, "KMIP Create answer lacks the unique identifier");
	ttlv_text(&e, T_UNIQUE_IDENTIFIER, uid);
	r = kmip_run(k, m, OP_ACTIVATE, &e, &rs);
	kmip_resp_free(&rs);
	if (r < 0)
		return r;
	*key_id = strdup(uid);
	return *key_id ? 0 : -ENOMEM;
}

const struct kms_ops kms_kmip_ops = {
	.type = "kmip",
	.mode = KMS_WRAPS,
	.cleanup = kmip_tls_cleanup,
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
	.mode = KMS_KEEPS,
	.cleanup = kmip_tls_cleanup,
	.init = kmip_init,
	.free = kmip_free,
	.store = kmip_store,
	.fetch = kmip_fetch,
	.remove = kmip_remove,
	.check = kmip_check,
};
