// SPDX-License-Identifier: MIT
#include "util/aesgcm.h"

#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>

static int gcm(int enc, const uint8_t *key, const uint8_t *iv, const uint8_t *aad, size_t aadlen,
	       const uint8_t *in, size_t len, uint8_t *out, uint8_t *tag)
{
	EVP_CIPHER_CTX *ctx;
	int n, r = -EIO;

	if (len > INT_MAX || aadlen > INT_MAX)
		return -EINVAL;
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return -ENOMEM;
	if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, AESGCM_IV_LEN, NULL) != 1 ||
	    EVP_CipherInit_ex(ctx, NULL, NULL, key, iv, enc) != 1)
		goto out;
	if (aadlen && EVP_CipherUpdate(ctx, NULL, &n, aad, (int)aadlen) != 1)
		goto out;
	if (len && EVP_CipherUpdate(ctx, out, &n, in, (int)len) != 1)
		goto out;
	if (!enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, AESGCM_TAG_LEN, tag) != 1)
		goto out;
	if (EVP_CipherFinal_ex(ctx, out + len, &n) != 1) {
		r = enc ? -EIO : -EBADMSG;
		goto out;
	}
	if (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, AESGCM_TAG_LEN, tag) != 1)
		goto out;
	r = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	return r;
}

int aesgcm_seal(const uint8_t key[AESGCM_KEY_LEN], const uint8_t iv[AESGCM_IV_LEN],
		const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t len, uint8_t *out)
{
	return gcm(1, key, iv, aad, aadlen, in, len, out, out + len);
}

int aesgcm_open(const uint8_t key[AESGCM_KEY_LEN], const uint8_t iv[AESGCM_IV_LEN],
		const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t inlen, uint8_t *out)
{
	uint8_t tag[AESGCM_TAG_LEN];
	size_t len;

	if (inlen < AESGCM_TAG_LEN)
		return -EBADMSG;
	len = inlen - AESGCM_TAG_LEN;
	for (size_t i = 0; i < AESGCM_TAG_LEN; i++)
		tag[i] = in[len + i];
	return gcm(0, key, iv, aad, aadlen, in, len, out, tag);
}
