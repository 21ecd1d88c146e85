/* SPDX-License-Identifier: MIT */
/*
 * KMS interface (ceph-csi's EncryptionKMS role). A KMS either wraps and unwraps DEKs
 * (envelope: the wrapped DEK is stored by the DEK store, in image metadata), or keeps
 * the DEKs itself (store/fetch/remove). Providers register a struct kms_ops; the volume
 * logic only talks to this interface, so new providers plug in without touching it.
 */
#ifndef PVENC_KMS_KMS_H
#define PVENC_KMS_KMS_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "util/macro.h"

/* What a wrapped DEK is bound to: an envelope KMS authenticates it against this, so a
 * wrapped DEK copied onto another volume does not unwrap there. */
struct kms_binding {
	const char *volume_id; /* pvenc: the LUKS2 UUID; ceph-csi: the CSI volume handle */
	/* KMS-held secrets: 1 = ceph-csi's passphrase text (used as it is), 0 = pvenc's
	 * binary DEK (stored base64-encoded). */
	int text;
	/* KMS-held secrets: store replaces a secret that exists (rotation) instead of
	 * refusing to overwrite it. */
	int replace;
};

struct kms;

/* `pvencctl kms check` output: one line per finding. ok: 1 works, 0 fails, -1 info. */
struct kms_check_ops {
	void (*line)(void *u, int ok, const char *text);
	void *u;
};
void kms_report(const struct kms_check_ops *c, int ok, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

struct kms_ops {
	const char *type;
	/* Parse and check the config entry (a JSON object); set k->priv. */
	int (*init)(struct kms *k, struct json_object *cfg);
	void (*free)(struct kms *k);

	/* Envelope KMSes: wrapped text is stored by the DEK store. *dek is secmem. */
	int (*wrap)(struct kms *k, const struct kms_binding *b, const uint8_t *dek, size_t len,
		    char **wrapped);
	int (*unwrap)(struct kms *k, const struct kms_binding *b, const char *wrapped,
		      uint8_t **dek, size_t *len);

	/* KMSes that keep DEKs (NULL for envelope KMSes). */
	int (*store)(struct kms *k, const struct kms_binding *b, const uint8_t *dek, size_t len);
	int (*fetch)(struct kms *k, const struct kms_binding *b, uint8_t **dek, size_t *len);
	int (*remove)(struct kms *k, const struct kms_binding *b);

	/* Optional: connection/auth findings for `kms check` before the key probe. */
	int (*check)(struct kms *k, const struct kms_check_ops *c);
	/* Optional: create the KEK the entry names (`pvencctl kms create-key`). */
	int (*create_key)(struct kms *k);
};

struct kms {
	char *id; /* the config entry's name */
	char *endpoint; /* where keys come from; recorded per volume at create time */
	const struct kms_ops *ops;
	void *priv;
	/* Last error in words, for the operator (never contains key material). */
	char error[512];
};

/* Loads entry @id from the KMS config file (JSON object of id -> entry, the format of
 * ceph-csi's config.json). -ENOENT: no such id; -EINVAL: bad entry (k->error says why
 * when @err is given).
 * Per-tenant overrides: an entry may hold "tenants": {"POOL/NS": {...}, "POOL": {...}};
 * the most specific one matching @pool/@ns is merged over the entry (NULL: none). */
int kms_open(const char *config_path, const char *id, const char *pool, const char *ns,
	     struct kms **ret, char *err, size_t errlen);
void kms_free(struct kms *k);
static inline void kms_freep(struct kms **k)
{
	kms_free(*k);
}
#define _cleanup_kms_ _cleanup_(kms_freep)

/* Whether the KMS wraps DEKs (1) or keeps them (0). */
int kms_is_envelope(const struct kms *k);

int kms_wrap(struct kms *k, const struct kms_binding *b, const uint8_t *dek, size_t len,
	     char **wrapped);
int kms_unwrap(struct kms *k, const struct kms_binding *b, const char *wrapped, uint8_t **dek,
	       size_t *len);

/* KMS-held DEKs (vault-kv): store, fetch, remove (remove destroys when so configured). */
int kms_store(struct kms *k, const struct kms_binding *b, const uint8_t *dek, size_t len);
int kms_fetch(struct kms *k, const struct kms_binding *b, uint8_t **dek, size_t *len);
int kms_remove(struct kms *k, const struct kms_binding *b);

/* `pvencctl kms check`: connection findings, then a round trip of a random probe key.
 * Returns 0 when everything works, else the first error. */
int kms_check(struct kms *k, const struct kms_check_ops *c);

/* The agent keeps renewable tokens alive between opens. */
void kms_agent_mode(void);
/* Releases process-wide KMS state (token cache, HTTP connections) at exit. */
void kms_cleanup(void);

/* Sets k->error (printf-style) and returns @r. */
int kms_fail(struct kms *k, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Helpers for providers: sets k->endpoint (printf-style); 0 or -ENOMEM. */
int kms_set_endpoint(struct kms *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
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

/* Creates the KEK an entry names (pkcs11: non-extractable AES-256 key; vault-transit:
 * the Transit key). -EEXIST if it exists, -EOPNOTSUPP for other types. */
int kms_create_key(struct kms *k);

#include "util/kms_path.h"
#define PVENC_KMS_CONFIG_DEFAULT PVENC_KMS_CONFIG_PATH

#endif
