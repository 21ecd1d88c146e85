// SPDX-License-Identifier: MIT
/*
 * KMS type "passphrase-metadata" (alias "metadata", ceph-csi's secrets-metadata KMS):
 * the DEK is wrapped with a KEK derived from a per-node secret passphrase:
 *   KEK = scrypt(passphrase, salt = volume id, N=32768, r=8, p=1, 32 bytes)
 *   wrapped = {"dek": b64(AES-256-GCM(KEK, nonce, DEK) || tag), "nonce": b64(12 bytes)}
 * exactly as ceph-csi writes rbd.csi.ceph.com/dek (no associated data; the salt binds
 * the wrapped DEK to its volume). Config:
 *   {"encryptionKMSType": "passphrase-metadata", "secretFile": "/etc/pvenc/secrets/NAME"}
 * or ceph-csi's own entry as it is, {"encryptionKMSType": "metadata", "secretName": N,
 * "secretNamespace": NS}: the file secretsDir/NS/N (secretsDir /etc/pvenc/secrets, NS
 * "default" when not given), the Secret's encryptionPassphrase.
 * The secret file holds the passphrase (a trailing newline is ignored), mode 0600.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "kms/provider.h"
#include "util/aesgcm.h"
#include "util/b64.h"
#include "util/fileio.h"
#include "util/secmem.h"

#define PASS_MAX 4096
#define DEK_MAX	 256

struct passphrase {
	uint8_t *pass; /* secmem */
	size_t len;
};

/* A Kubernetes name as a path component: no separator, nothing that climbs. */
static int k8s_name_ok(const char *s)
{
	return s && *s && strlen(s) <= 253 && !strchr(s, '/') && strcmp(s, ".") != 0 &&
	       strcmp(s, "..") != 0;
}

/* ceph-csi's entry names a Kubernetes Secret (secretName, secretNamespace): on a node
 * it is the file SECRETS_DIR/<namespace>/<name>, namespace "default" if not given. An
 * explicit secretFile wins. */
static int secret_path(struct kms *k, struct json_object *cfg, char *buf, size_t len)
{
	const char *file = kms_cfg_str(cfg, "secretFile"), *name = kms_cfg_str(cfg, "secretName");
	const char *ns = kms_cfg_str(cfg, "secretNamespace") ?: "default";
	const char *dir = kms_cfg_str(cfg, "secretsDir") ?: "/etc/pvenc/secrets";

	if (file) {
		if (file[0] != '/')
			return kms_fail(
				k, -EINVAL,
				"secretFile must be an absolute path to the passphrase file");
		(void)snprintf(buf, len, "%s", file);
		return 0;
	}
	if (!name)
		return kms_fail(
			k, -EINVAL,
			"secretFile (an absolute path to the passphrase file) or ceph-csi's "
			"secretName (the file secretsDir/<secretNamespace>/<secretName>) is "
			"required");
	if (!k8s_name_ok(name) || !k8s_name_ok(ns) || dir[0] != '/')
		return kms_fail(k, -EINVAL,
				"secretName and secretNamespace must be names without '/' (and "
				"secretsDir an absolute path)");
	if ((size_t)snprintf(buf, len, "%s/%s/%s", dir, ns, name) >= len)
		return kms_fail(k, -ENAMETOOLONG, "the secret's path is too long");
	return 0;
}

static int passphrase_init(struct kms *k, struct json_object *cfg)
{
	char path[4096];
	struct passphrase *p;
	int r;

	r = secret_path(k, cfg, path, sizeof(path));
	if (r < 0)
		return r;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	k->priv = p;
	r = read_secret_file(path, PASS_MAX, &p->pass, &p->len);
	if (r == -EPERM)
		return kms_fail(k, r,
				"secretFile %s must be owned by root and not accessible by "
				"group or others (chmod 0600)",
				path);
	if (r < 0)
		return kms_fail(k, r, "cannot read secretFile %s: %s", path, strerror(-r));
	while (p->len && (p->pass[p->len - 1] == '\n' || p->pass[p->len - 1] == '\r'))
		p->len--;
	if (p->len == 0)
		return kms_fail(k, -EINVAL, "secretFile %s is empty", path);
	return kms_set_endpoint(k, "file:%s", path);
}

static void passphrase_free(struct kms *k)
{
	struct passphrase *p = k->priv;

	if (!p)
		return;
	secmem_free(p->pass);
	free(p);
	k->priv = NULL;
}

static int derive(struct kms *k, const struct kms_binding *b, uint8_t *kek)
{
	struct passphrase *p = k->priv;

	if (!b || !b->volume_id || !b->volume_id[0])
		return kms_fail(k, -EINVAL, "no volume id to derive the KEK with");
	/* maxmem: scrypt needs 128*N*r*p = 32 MiB here. */
	if (EVP_PBE_scrypt((const char *)p->pass, p->len, (const unsigned char *)b->volume_id,
			   strlen(b->volume_id), 32768, 8, 1, 64UL << 20, kek, AESGCM_KEY_LEN) != 1)
		return kms_fail(k, -EIO, "scrypt key derivation failed");
	return 0;
}

/* Binding v2 also authenticates the scope; v1 (and ceph-csi) has the UUID only, as
 * the scrypt salt. */
static int bind_aad(struct kms *k, const struct kms_binding *b, char *aad, size_t len)
{
	int n;

	if (!b || !b->scope)
		return 0;
	n = kms_binding_aad(b, aad, len);
	return n < 0 ? kms_fail(k, n, "no volume id to bind the DEK to") : n;
}

static int passphrase_wrap(struct kms *k, const struct kms_binding *b, const uint8_t *dek,
			   size_t len, char **wrapped)
{
	_cleanup_secmem_ uint8_t *kek = secmem_alloc(AESGCM_KEY_LEN);
	uint8_t nonce[AESGCM_IV_LEN], ct[DEK_MAX + AESGCM_TAG_LEN];
	char n64[32], ct64[b64_encoded_size(sizeof(ct))], aad[640];
	struct json_object *o;
	int r, aadlen;

	if (!kek)
		return -ENOMEM;
	if (len == 0 || len > DEK_MAX)
		return kms_fail(k, -EINVAL, "DEK length %zu out of range", len);
	r = derive(k, b, kek);
	if (r < 0)
		return r;
	aadlen = bind_aad(k, b, aad, sizeof(aad));
	if (aadlen < 0)
		return aadlen;
	if (getrandom(nonce, sizeof(nonce), 0) != (ssize_t)sizeof(nonce))
		return kms_fail(k, -EIO, "getrandom failed");
	r = aesgcm_seal(kek, nonce, (const uint8_t *)aad, (size_t)aadlen, dek, len, ct);
	if (r < 0)
		return kms_fail(k, r, "AES-GCM encryption failed");
	b64_encode(nonce, sizeof(nonce), n64);
	b64_encode(ct, len + AESGCM_TAG_LEN, ct64);
	o = json_object_new_object();
	if (!o)
		return -ENOMEM;
	json_object_object_add(o, "dek", json_object_new_string(ct64));
	json_object_object_add(o, "nonce", json_object_new_string(n64));
	*wrapped = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return *wrapped ? 0 : -ENOMEM;
}

static int passphrase_unwrap(struct kms *k, const struct kms_binding *b, const char *wrapped,
			     uint8_t **ret, size_t *retlen)
{
	_cleanup_secmem_ uint8_t *kek = secmem_alloc(AESGCM_KEY_LEN);
	_cleanup_secmem_ uint8_t *dek = NULL;
	uint8_t nonce[AESGCM_IV_LEN + 4], ct[DEK_MAX + AESGCM_TAG_LEN];
	struct json_object *o = NULL;
	const char *d64, *n64;
	char aad[640];
	int nlen, ctlen, r, aadlen;

	if (!kek)
		return -ENOMEM;
	o = json_tokener_parse(wrapped);
	d64 = o && json_object_is_type(o, json_type_object) ? kms_cfg_str(o, "dek") : NULL;
	n64 = d64 ? kms_cfg_str(o, "nonce") : NULL;
	if (!d64 || !n64) {
		r = kms_fail(k, -EBADMSG, "wrapped DEK is not {\"dek\": ..., \"nonce\": ...}");
		goto out;
	}
	nlen = b64_decode(n64, strlen(n64), nonce, sizeof(nonce));
	ctlen = b64_decode(d64, strlen(d64), ct, sizeof(ct));
	if (nlen != AESGCM_IV_LEN || ctlen <= AESGCM_TAG_LEN) {
		r = kms_fail(k, -EBADMSG, "wrapped DEK has a malformed nonce or dek");
		goto out;
	}
	r = derive(k, b, kek);
	if (r < 0)
		goto out;
	r = aadlen = bind_aad(k, b, aad, sizeof(aad));
	if (r < 0)
		goto out;
	dek = secmem_alloc((size_t)ctlen - AESGCM_TAG_LEN);
	if (!dek) {
		r = -ENOMEM;
		goto out;
	}
	r = aesgcm_open(kek, nonce, (const uint8_t *)aad, (size_t)aadlen, ct, (size_t)ctlen, dek);
	if (r < 0) {
		r = kms_fail(k, -EKEYREJECTED,
			     "wrapped DEK does not decrypt: wrong passphrase in secretFile, wrong "
			     "volume id, or tampered metadata");
		goto out;
	}
	*retlen = (size_t)ctlen - AESGCM_TAG_LEN;
	*ret = TAKE_PTR(dek);
	r = 0;
out:
	explicit_bzero(ct, sizeof(ct));
	json_object_put(o);
	return r;
}

const struct kms_ops kms_passphrase_ops = {
	.type = "passphrase-metadata",
	.mode = KMS_WRAPS,
	.init = passphrase_init,
	.free = passphrase_free,
	.wrap = passphrase_wrap,
	.unwrap = passphrase_unwrap,
};
