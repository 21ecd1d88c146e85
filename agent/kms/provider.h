/* SPDX-License-Identifier: MIT */
/*
 * What a KMS provider implements. kms.c lists the providers and dispatches to them;
 * the volume code sees only kms/kms.h.
 */
#ifndef PVENC_KMS_PROVIDER_H
#define PVENC_KMS_PROVIDER_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "kms/kms.h"

enum kms_mode {
	KMS_WRAPS, /* envelope: wrap and unwrap; the wrapped DEK lives in image metadata */
	KMS_KEEPS, /* the KMS keeps each volume's DEK: store, fetch, remove */
};

struct kms_ops {
	const char *type;
	enum kms_mode mode;
	/* Parse and check the config entry (a JSON object); set k->priv. */
	int (*init)(struct kms *k, struct json_object *cfg);
	void (*free)(struct kms *k);

	/* KMS_WRAPS: wrapped text is stored by the DEK store. *dek is secmem. */
	int (*wrap)(struct kms *k, const struct kms_binding *b, const uint8_t *dek, size_t len,
		    char **wrapped);
	int (*unwrap)(struct kms *k, const struct kms_binding *b, const char *wrapped,
		      uint8_t **dek, size_t *len);

	/* KMS_KEEPS. */
	int (*store)(struct kms *k, const struct kms_binding *b, const uint8_t *dek, size_t len);
	int (*fetch)(struct kms *k, const struct kms_binding *b, uint8_t **dek, size_t *len);
	int (*remove)(struct kms *k, const struct kms_binding *b);

	/* Optional: connection/auth findings for `kms check` before the key probe. */
	int (*check)(struct kms *k, const struct kms_check_ops *c);
	/* Optional: create the KEK the entry names (`pvencctl kms create-key`); *key_id
	 * (malloc) identifies it. */
	int (*create_key)(struct kms *k, char **key_id);

	/* Optional, process-wide: the agent keeps sessions alive (token renewal). */
	void (*agent_mode)(void);
	/* Optional, process-wide: release caches, sessions and threads at exit. */
	void (*cleanup)(void);
	/* Optional: the KEK version a wrapped DEK in this provider's format names; 0 when
	 * @wrapped is not in its format. */
	uint32_t (*key_version)(const char *wrapped);
};

/* One `kms check` finding (printf-style). */
void kms_report(const struct kms_check_ops *c, int ok, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Sets k->error (printf-style) and returns @r. */
int kms_fail(struct kms *k, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Sets k->endpoint (printf-style); 0 or -ENOMEM. */
int kms_set_endpoint(struct kms *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The associated data that binds a wrapped DEK (kms_binding): its length, or -EINVAL
 * without a volume id, -ENAMETOOLONG if @len is too small. */
int kms_binding_aad(const struct kms_binding *b, char *buf, size_t len);
/* String field of a config entry (NULL when absent). */
const char *kms_cfg_str(struct json_object *cfg, const char *key);
/* 1 if @item is in the entry's list @key: a JSON array of strings or "a,b,c". */
int kms_cfg_list_has(struct json_object *cfg, const char *key, const char *item);

extern const struct kms_ops kms_keyfile_ops;
extern const struct kms_ops kms_passphrase_ops;
extern const struct kms_ops kms_vault_transit_ops;
extern const struct kms_ops kms_vault_kv_ops;
extern const struct kms_ops kms_pkcs11_ops;
extern const struct kms_ops kms_kmip_ops;
extern const struct kms_ops kms_kmip_register_ops;
extern const struct kms_ops kms_aws_ops;
extern const struct kms_ops kms_aws_sts_ops;
extern const struct kms_ops kms_ibmkp_ops;
extern const struct kms_ops kms_azure_ops;

#endif
