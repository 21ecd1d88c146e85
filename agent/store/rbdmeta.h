/* SPDX-License-Identifier: MIT */
/*
 * The DEK store in RBD image metadata, and the schema of pvenc's image-meta keys.
 * Image metadata is writable by anyone with write access to the pool, so everything
 * read here is validated before use (see Documentation/volume-format.md).
 *
 *   pvenc.format        "1"                         schema version
 *   pvenc.kms           KMS id                      [A-Za-z0-9._-]{1,127}
 *   pvenc.kms-endpoint  endpoint recorded at create  printable ASCII, <= 511
 *   pvenc.uuid          LUKS2 UUID; the DEK is bound to it
 *   pvenc.dek           wrapped DEK (envelope KMSes), printable ASCII, <= 16 KiB
 *   pvenc.state         "prepared" | "formatted"    written last in each phase
 *   pvenc.dek-next      wrapped DEK of a DEK rotation in progress (same form as pvenc.dek)
 *   pvenc.dek-version   1, 2, ...: DEK generation, +1 per completed DEK rotation
 *   pvenc.rotated-at    seconds since the epoch of the last rotation (or of the start
 *                       of the schedule's clock)
 *   pvenc.rotation      the image's own rotation schedule (util/schedule.h)
 *   pvenc.binding       "scope": binding v2 (the DEK is bound to its pool/namespace too)
 *   pvenc.recovery-kms, pvenc.recovery-endpoint, pvenc.recovery-key
 *                       the recovery key (Documentation/recovery.md): a second secret,
 *                       wrapped by another (envelope) KMS entry, that opens a keyslot
 *                       of its own; all three or none count
 *
 * ceph-csi's keys are read too (rbd.csi.ceph.com/encrypted, rbd.csi.ceph.com/dek and
 * their legacy dot-prefixed names) so volumes it created open.
 */
#ifndef PVENC_STORE_RBDMETA_H
#define PVENC_STORE_RBDMETA_H

#include <stddef.h>
#include <stdint.h>

#define META_FORMAT	 "pvenc.format"
#define META_KMS	 "pvenc.kms"
#define META_ENDPOINT	 "pvenc.kms-endpoint"
#define META_UUID	 "pvenc.uuid"
#define META_DEK	 "pvenc.dek"
#define META_STATE	 "pvenc.state"
#define META_DEK_NEXT	 "pvenc.dek-next"
#define META_DEK_VERSION "pvenc.dek-version"
#define META_ROTATED_AT	 "pvenc.rotated-at"
#define META_ROTATION	 "pvenc.rotation"
/* "scope": the DEK is bound to the pool[/namespace] too (binding v2); absent: v1. */
#define META_BINDING	       "pvenc.binding"
#define META_RECOVERY_KMS      "pvenc.recovery-kms"
#define META_RECOVERY_ENDPOINT "pvenc.recovery-endpoint"
#define META_RECOVERY_KEY      "pvenc.recovery-key"
/* "ID ENDPOINT": a `pvencctl migrate` away from KMS entry ID, which keeps the old DEK
 * (removed there once the switch is done); absent otherwise. */
#define META_MIGRATE_FROM "pvenc.migrate-from"

#define CSI_META_STATE	      "rbd.csi.ceph.com/encrypted"
#define CSI_META_STATE_LEGACY ".rbd.csi.ceph.com/encrypted"
#define CSI_META_DEK	      "rbd.csi.ceph.com/dek"
#define CSI_META_DEK_LEGACY   ".rbd.csi.ceph.com/dek"

#define META_KMS_MAX	  127
#define META_ENDPOINT_MAX 511
#define META_UUID_LEN	  36
#define META_DEK_MAX	  ((size_t)16 * 1024)

enum vol_kind {
	VOL_PLAIN, /* no encryption metadata */
	VOL_PVENC, /* pvenc.* keys */
	VOL_CEPHCSI, /* ceph-csi's rbd.csi.ceph.com keys */
};

enum vol_state {
	STATE_NONE,
	STATE_PREPARED, /* DEK stored, LUKS2 not (completely) written */
	STATE_FORMATTED, /* LUKS2 written: never format again */
};

struct vol_meta {
	enum vol_kind kind;
	enum vol_state state;
	char kms[META_KMS_MAX + 1];
	char endpoint[META_ENDPOINT_MAX + 1];
	char uuid[META_UUID_LEN + 1];
	char *dek; /* wrapped DEK text (not secret by itself), malloc; NULL if none */
	char *dek_next; /* a DEK rotation in progress: the new wrapped DEK; else NULL */
	uint32_t dek_version; /* 1 when absent */
	int64_t rotated_at; /* 0 when absent */
	char rotation[32]; /* "" when absent; validated with schedule_parse */
	int bound; /* pvenc.binding says binding v2 (a hint: the KMS decides) */
	/* The recovery key: its KMS entry ("" when there is none, or only part of it was
	 * written), the endpoint recorded with it, and the wrapped secret (malloc). */
	char recovery_kms[META_KMS_MAX + 1];
	char recovery_endpoint[META_ENDPOINT_MAX + 1];
	char *recovery;
	/* pvenc.migrate-from: the entry that still keeps the old DEK ("" when none). */
	char migrate_from[META_KMS_MAX + 1];
	char migrate_from_endpoint[META_ENDPOINT_MAX + 1];
};

/* Reads one metadata value: 0 with a malloc string, -ENOENT if absent, <0 on error. */
typedef int (*meta_get_fn)(void *ctx, const char *key, char **value);

/* Reads and validates the volume's metadata. -EBADMSG with @err filled when a value is
 * malformed (the image is then not touched further). */
int vol_meta_read(meta_get_fn get, void *ctx, struct vol_meta *m, char *err, size_t errlen);
void vol_meta_clear(struct vol_meta *m);

const char *vol_state_name(enum vol_state s);
const char *vol_kind_name(enum vol_kind k);

int meta_valid_kms_id(const char *s);
int meta_valid_uuid(const char *s);
int meta_valid_text(const char *s, size_t max);

#endif
