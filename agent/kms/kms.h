/* SPDX-License-Identifier: MIT */
/*
 * KMS interface (ceph-csi's EncryptionKMS role), what the volume code uses. A KMS
 * either wraps and unwraps DEKs (envelope: the wrapped DEK is stored by the DEK store,
 * in image metadata), or keeps the DEKs itself (store/fetch/remove). Providers
 * implement kms/provider.h and are listed in kms.c; nothing here names one.
 */
#ifndef PVENC_KMS_KMS_H
#define PVENC_KMS_KMS_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "util/macro.h"

/* What a DEK is bound to (Documentation/security.md, "Key binding"). An envelope KMS
 * authenticates the binding with the wrapped DEK, so a wrapped DEK copied onto another
 * volume does not unwrap there; a KMS that keeps DEKs records the owner with the key. */
struct kms_binding {
	const char *volume_id; /* pvenc: the LUKS2 UUID; ceph-csi: the CSI volume handle */
	/* pvenc volumes, binding v2: the "POOL" or "POOL/NS" the volume lives in. Wrapped
	 * DEKs authenticate it ("pvenc:dek:v2:<scope>:<uuid>"); KMS-held keys are stored
	 * with it and handed out only for it. NULL: binding v1, the UUID alone (ceph-csi
	 * volumes, and pvenc volumes from before binding v2 until rotated or rebound). */
	const char *scope;
	/* KMS-held keys: the image id acting. A key recorded for another image is never
	 * replaced or removed, and fetched only when @image is NULL (an open: a volume
	 * renamed or moved within its scope keeps opening). */
	const char *image;
	/* KMS-held secrets: 1 = ceph-csi's passphrase text (used as it is), 0 = pvenc's
	 * binary DEK (stored base64-encoded). */
	int text;
	/* KMS-held secrets: store replaces a secret that exists (rotation) instead of
	 * refusing to overwrite it. */
	int replace;
	/* KMS-held: fetch refuses a key that records no owner (a format adopting a UUID
	 * takes only a key it reserved itself). */
	int strict;
	/* KMS-held: store replaces a key whatever owner it records (`pvencctl rebind`, an
	 * operator's explicit decision). */
	int claim;
	/* KMS-held, set by fetch when not NULL: 1 if the key came as an owner record
	 * (binding v2: the KMS vouches for it, not image metadata), 0 if bare. */
	int *recorded;
};

struct kms_ops; /* a provider (kms/provider.h) */

/* `pvencctl kms check` output: one line per finding. ok: 1 works, 0 fails, -1 info. */
struct kms_check_ops {
	void (*line)(void *u, int ok, const char *text);
	void *u;
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
 * the most specific one matching @pool/@ns is merged over the entry (NULL: none).
 * An entry with "pools": ["POOL", "POOL/NS", ...] serves only those: -EACCES for a
 * volume elsewhere (@pool NULL: no volume, nothing checked). */
int kms_open(const char *config_path, const char *id, const char *pool, const char *ns,
	     struct kms **ret, char *err, size_t errlen);
/* kms_open parses the config file once and again when it changes (inode, size, mtime,
 * ctime); this drops the parsed copy. */
void kms_config_forget(void);
void kms_free(struct kms *k);
static inline void kms_freep(struct kms **k)
{
	kms_free(*k);
}
#define _cleanup_kms_ _cleanup_(kms_freep)

/* Whether the KMS wraps DEKs (1) or keeps them (0). */
/* Each entry of the KMS config at @config_path (NULL: the default): its id, type (NULL
 * if it has none) and "pools" list joined with commas (NULL: every pool). Nothing is
 * contacted: for `pvencctl kms list` and completion. */
typedef void (*kms_list_fn)(void *u, const char *id, const char *type, const char *pools);
int kms_list(const char *config_path, kms_list_fn fn, void *u, char *err, size_t errlen);

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
/* Releases process-wide KMS state (token caches, HTTP connections) at exit. */
void kms_cleanup(void);

/* The provider type of @k ("vault-transit", "kmip", ...), for messages. */
const char *kms_type(const struct kms *k);
/* The KEK version a wrapped DEK names, as its provider reads it; 1 when its format
 * has none. */
uint32_t kms_key_version(const char *wrapped);

/* Creates the KEK an entry names (pkcs11: non-extractable AES-256 key; vault-transit:
 * the Transit key; kmip: an AES-256 key); *key_id (malloc) gets what identifies it.
 * -EEXIST if it exists, -EOPNOTSUPP for other types. */
int kms_create_key(struct kms *k, char **key_id);

#include "util/kms_path.h"
#define PVENC_KMS_CONFIG_DEFAULT PVENC_KMS_CONFIG_PATH

#endif
