/* SPDX-License-Identifier: MIT */
/* The azure-kv provider's shared parts (azure.c: entry, secrets, ops; azure_auth.c:
 * the client-certificate token); not a public API. */
#ifndef PVENC_KMS_AZURE_H
#define PVENC_KMS_AZURE_H

#include <stddef.h>

#include "kms/provider.h"

#define AZ_URL_MAX 512
#define AZ_ID_MAX  128

struct azure {
	char vault_url[AZ_URL_MAX]; /* https://NAME.vault.azure.net */
	char client_id[AZ_ID_MAX];
	char tenant_id[AZ_ID_MAX];
	char token_url[2 * AZ_URL_MAX]; /* <authority>/<tenant>/oauth2/v2.0/token */
	char *cert_file; /* PEM certificate and its unencrypted key */
	char *ca_file;
	long timeout_ms;
};

/* A bearer token for Key Vault ("Bearer <token>", secmem): the process's cached one
 * until a minute before it expires, or (@fresh) a new one from the token endpoint with a
 * client assertion signed by the certificate's key. */
int az_token(struct kms *k, const struct azure *a, int fresh, char **out);

#endif
