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
#define WRAP_AAD_MAX 640

/* One wrapped DEK being made or opened: the associated data that binds it to its volume
 * (kms_binding_aad), the KEK's id, the IV and the ciphertext with its tag. */
struct wrap_env {
	char aad[WRAP_AAD_MAX];
	size_t aadlen;
	char kid[WRAP_KID_MAX + 1];
	uint8_t iv[WRAP_IV_LEN];
	uint8_t ct[WRAP_DEK_MAX + WRAP_TAG_LEN];
	size_t ctlen; /* with the tag */
};

/* What every wrap starts with: checks the DEK length, fills w->aad and a random w->iv.
 * Errors set k->error. */
int wrapfmt_prepare(struct kms *k, const struct kms_binding *b, size_t deklen, struct wrap_env *w);
/* What every unwrap starts with: w->aad for @b, and kid, iv and ct parsed from @wrapped
 * (-EBADMSG if it is not the form above). Errors set k->error. */
int wrapfmt_open(struct kms *k, const struct kms_binding *b, const char *wrapped,
		 struct wrap_env *w);
/* The stored text of w under @kid; wipes w's ciphertext either way. */
int wrapfmt_encode(const char *kid, struct wrap_env *w, char **out);

#endif
