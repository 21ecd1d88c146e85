// SPDX-License-Identifier: MIT
/*
 * KMS type "keyfile": a local 256-bit KEK file (for labs and tests). The DEK is wrapped
 * with AES-256-GCM under the KEK, bound to the volume through the associated data.
 * Config: {"encryptionKMSType": "keyfile", "keyFile": "/etc/pvenc/keys/NAME.kek"}.
 * The KEK file holds 32 raw bytes or 64 hex digits, mode 0600/0400, owned by root.
 *
 * Wrapped form (JSON, stored in image metadata):
 *   {"v":1,"alg":"A256GCM","kid":"<KEK id>","iv":"<b64>","ct":"<b64 ciphertext||tag>"}
 * kid (first 8 bytes of SHA-256("pvenc-kek-id" || KEK), hex) lets a wrong KEK be named.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "kms/provider.h"
#include "kms/wrapfmt.h"
#include "util/aesgcm.h"
#include "util/b64.h"
#include "util/fileio.h"
#include "util/secmem.h"

#define KEK_LEN 32
#define KID_HEX 16

struct keyfile {
	uint8_t *kek; /* secmem, KEK_LEN */
	char kid[KID_HEX + 1];
	char *path;
};

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Raw 32 bytes, or 64 hex digits with an optional trailing newline. */
static int parse_kek(const uint8_t *buf, size_t len, uint8_t *kek)
{
	if (len == KEK_LEN) {
		memcpy(kek, buf, KEK_LEN);
		return 0;
	}
	if (len == (size_t)2 * KEK_LEN + 1 && buf[len - 1] == '\n')
		len--;
	if (len != (size_t)2 * KEK_LEN)
		return -EINVAL;
	for (size_t i = 0; i < KEK_LEN; i++) {
		int hi = hexval(buf[2 * i]), lo = hexval(buf[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		kek[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static void kek_id(const uint8_t *kek, char out[KID_HEX + 1])
{
	static const char label[] = "pvenc-kek-id";
	uint8_t md[SHA256_DIGEST_LENGTH];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, label, sizeof(label) - 1) != 1 ||
	    EVP_DigestUpdate(ctx, kek, KEK_LEN) != 1 || EVP_DigestFinal_ex(ctx, md, NULL) != 1)
		memset(md, 0, sizeof(md));
	EVP_MD_CTX_free(ctx);
	for (size_t i = 0; i < KID_HEX / 2; i++)
		(void)snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static int keyfile_init(struct kms *k, struct json_object *cfg)
{
	_cleanup_secmem_ uint8_t *raw = NULL;
	const char *path = kms_cfg_str(cfg, "keyFile");
	struct keyfile *kf;
	size_t len;
	int r;

	if (!path || path[0] != '/')
		return kms_fail(k, -EINVAL, "keyFile (an absolute path) is required");
	kf = calloc(1, sizeof(*kf));
	if (!kf)
		return -ENOMEM;
	k->priv = kf;
	kf->path = strdup(path);
	kf->kek = secmem_alloc(KEK_LEN);
	if (!kf->path || !kf->kek)
		return -ENOMEM;
	r = read_secret_file(path, (size_t)2 * KEK_LEN + 1, &raw, &len);
	if (r == -EPERM)
		return kms_fail(k, r,
				"keyFile %s must be owned by root and not accessible by "
				"group or others (chmod 0600)",
				path);
	if (r == -EFBIG)
		return kms_fail(k, -EINVAL,
				"keyFile %s is too long: want 32 raw bytes or 64 hex digits", path);
	if (r < 0)
		return kms_fail(k, r, "cannot read keyFile %s: %s", path, strerror(-r));
	if (parse_kek(raw, len, kf->kek) < 0)
		return kms_fail(k, -EINVAL,
				"keyFile %s: want 32 raw bytes or 64 hex digits, found %zu bytes",
				path, len);
	kek_id(kf->kek, kf->kid);
	return kms_set_endpoint(k, "file:%s", path);
}

static void keyfile_free(struct kms *k)
{
	struct keyfile *kf = k->priv;

	if (!kf)
		return;
	secmem_free(kf->kek);
	free(kf->path);
	free(kf);
	k->priv = NULL;
}

static int keyfile_wrap(struct kms *k, const struct kms_binding *b, const uint8_t *dek, size_t len,
			char **wrapped)
{
	struct keyfile *kf = k->priv;
	struct wrap_env w;
	int r;

	r = wrapfmt_prepare(k, b, len, &w);
	if (r < 0)
		return r;
	r = aesgcm_seal(kf->kek, w.iv, (uint8_t *)w.aad, w.aadlen, dek, len, w.ct);
	if (r < 0) {
		explicit_bzero(w.ct, sizeof(w.ct));
		return kms_fail(k, r, "AES-GCM encryption failed");
	}
	return wrapfmt_encode(kf->kid, &w, wrapped);
}

static int keyfile_unwrap(struct kms *k, const struct kms_binding *b, const char *wrapped,
			  uint8_t **ret, size_t *retlen)
{
	struct keyfile *kf = k->priv;
	_cleanup_secmem_ uint8_t *dek = NULL;
	struct wrap_env w;
	int r;

	r = wrapfmt_open(k, b, wrapped, &w);
	if (r < 0)
		return r;
	if (strcmp(w.kid, kf->kid) != 0)
		return kms_fail(
			k, -EKEYREJECTED,
			"wrong KEK: the DEK was wrapped by KEK %.16s, but keyFile %s holds KEK %s",
			w.kid, kf->path, kf->kid);
	dek = secmem_alloc(w.ctlen - WRAP_TAG_LEN);
	if (!dek)
		return -ENOMEM;
	r = aesgcm_open(kf->kek, w.iv, (uint8_t *)w.aad, w.aadlen, w.ct, w.ctlen, dek);
	if (r < 0)
		return kms_fail(k, -EKEYREJECTED,
				"wrapped DEK does not authenticate under KEK %s: it was tampered "
				"with or belongs to another volume",
				kf->kid);
	*retlen = w.ctlen - WRAP_TAG_LEN;
	*ret = TAKE_PTR(dek);
	return 0;
}

const struct kms_ops kms_keyfile_ops = {
	.type = "keyfile",
	.mode = KMS_WRAPS,
	.init = keyfile_init,
	.free = keyfile_free,
	.wrap = keyfile_wrap,
	.unwrap = keyfile_unwrap,
};
