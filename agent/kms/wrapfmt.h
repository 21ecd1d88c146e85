/* SPDX-License-Identifier: MIT */
/*
 * The wrapped-DEK text that local-key KMS types (keyfile, pkcs11) store in image
 * metadata: {"v":1,"alg":"A256GCM","kid":"<KEK id>","iv":"<b64 12 bytes>",
 * "ct":"<b64 ciphertext||16-byte tag>"}. kid names the KEK so a wrong one can be named.
 */
#ifndef PVENC_KMS_WRAPFMT_H
#define PVENC_KMS_WRAPFMT_H

#include <stddef.h>
#include <stdint.h>

#include "kms/provider.h"

#define WRAP_IV_LEN  12
#define WRAP_TAG_LEN 16
#define WRAP_DEK_MAX 256
#define WRAP_KID_MAX 128

int wrapfmt_encode(const char *kid, const uint8_t *iv, const uint8_t *ct, size_t ctlen, char **out);
/* Parses @wrapped; errors set k->error (-EBADMSG). *ctlen includes the tag. */
int wrapfmt_decode(struct kms *k, const char *wrapped, char kid[WRAP_KID_MAX + 1],
		   uint8_t iv[WRAP_IV_LEN], uint8_t *ct, size_t ctcap, size_t *ctlen);
/* "pvenc:dek:v1:<volume id>", the associated data that binds a DEK to its volume. */
int wrapfmt_aad(const struct kms_binding *b, char *buf, size_t len);
/* What every wrap starts with: checks the DEK length, fills @aad (wrapfmt_aad) and a
 * random @iv. Returns the AAD length, or a negative errno with k->error set. */
int wrapfmt_prepare(struct kms *k, const struct kms_binding *b, size_t deklen, char *aad,
		    size_t aadcap, uint8_t iv[WRAP_IV_LEN]);

#endif
