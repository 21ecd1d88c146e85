/* SPDX-License-Identifier: MIT */
/* AES-256-GCM with a 96-bit nonce and a 128-bit tag appended to the ciphertext (the
 * layout Go's cipher.AEAD.Seal and Vault use), over OpenSSL EVP. */
#ifndef PVENC_UTIL_AESGCM_H
#define PVENC_UTIL_AESGCM_H

#include <stddef.h>
#include <stdint.h>

#define AESGCM_KEY_LEN 32
#define AESGCM_IV_LEN  12
#define AESGCM_TAG_LEN 16

/* out must hold len + AESGCM_TAG_LEN bytes. */
int aesgcm_seal(const uint8_t key[AESGCM_KEY_LEN], const uint8_t iv[AESGCM_IV_LEN],
		const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t len, uint8_t *out);
/* in is ciphertext||tag of inlen bytes; out gets inlen - AESGCM_TAG_LEN bytes.
 * -EBADMSG when the tag does not verify. */
int aesgcm_open(const uint8_t key[AESGCM_KEY_LEN], const uint8_t iv[AESGCM_IV_LEN],
		const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t inlen, uint8_t *out);

#endif
