/* SPDX-License-Identifier: MIT */
/* Helpers shared by the volume operations (the files of agent/volume); not a public API. */
#ifndef PVENC_VOLUME_INTERNAL_H
#define PVENC_VOLUME_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "kms/kms.h"
#include "store/rbdmeta.h"
#include "volume/volume.h"

#define DEK_LEN 32 /* 256 random bits: the LUKS2 keyslot secret */

/* Puts the sentence in ctx->err and returns @r. */
int vol_fail(struct pvenc_ctx *ctx, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The image head through librbd (data and metadata writes), @ro 1 for read-only. */
int vol_open_image(struct pvenc_ctx *ctx, const struct image_spec *spec, int ro, struct img **img);
/* The image's id and metadata only (two RADOS reads, no librbd open). */
int vol_open_head(struct pvenc_ctx *ctx, const struct image_spec *spec, struct img_head **head);
/* The KMS entry @id with the tenant override for the image's pool/namespace. */
int vol_open_kms(struct pvenc_ctx *ctx, const struct image_spec *spec, const char *id,
		 struct kms **k);
int vol_set_meta(struct pvenc_ctx *ctx, struct img *img, const char *key, const char *v);

/* What an operation needs of a struct vol (vol_need). */
enum {
	VOL_MAPPED = 1 << 0, /* mapped on this node */
	VOL_IMAGE = 1 << 1, /* named POOL/[NS/]IMAGE: no snapshot, no device path */
	VOL_META = 1 << 2, /* v->head and v->meta read (and, when mapped, the same image) */
};
int vol_need(struct pvenc_ctx *ctx, struct vol *v, unsigned need);
/* Drops v->head and v->meta (stale once an operation wrote metadata). */
void vol_forget(struct vol *v);
/* v->meta from @get (the librbd image of a write, or v->head); clears what was there. */
int vol_read_meta(struct pvenc_ctx *ctx, struct vol *v, meta_get_fn get, void *src);

/* The scope of a pvenc volume's binding v2: "POOL" or "POOL/NS". */
#define VOL_SCOPE_MAX ((size_t)2 * (SPEC_NAME_MAX + 1))
/* The binding of pvenc volume @uuid at @loc: v2 (the scope, into @scope) or v1. The
 * image id is left out: operations that replace or remove a KMS-held key set it. */
void vol_binding(const struct img_loc *loc, const char *uuid, int v2, char *scope,
		 struct kms_binding *b);
/* A pvenc volume's wrapped DEK (@wrapped: pvenc.dek or pvenc.dek-next), unwrapped with
 * the binding pvenc.binding names first and the other one second; *bound says which. */
int vol_unwrap(struct kms *k, const struct img_loc *loc, const struct vol_meta *m,
	       const char *wrapped, uint8_t **dek, size_t *deklen, int *bound);
/* KMS-held rotations: the marker pvenc.dek-next holds while the new DEK waits in the
 * KMS names where it waits. A rotation started now writes "kms-held:<16 hex>" (random)
 * and keeps the key under "<uuid>.next.<16 hex>": Key Vault keeps a deleted secret's
 * name for its retention period, so every rotation needs a name no earlier one used.
 * "kms-held" alone (an earlier pvenc's rotation) means "<uuid>.next". vol_held_next_id
 * returns -EBADMSG for any other marker. */
#define VOL_HELD_NEXT	     "kms-held"
#define VOL_HELD_MARKER_MAX  (sizeof(VOL_HELD_NEXT) + 17)
#define VOL_HELD_NEXT_ID_MAX (META_UUID_LEN + 24)
int vol_held_next_id(const struct vol_meta *m, char *out, size_t len);
int vol_held_new_marker(char *out, size_t len);
/* keyop.c: the image opened for writing (read-only for @dry), its metadata that of a
 * formatted pvenc volume, the rotation lease held (*cookie, *locked) unless @dry;
 * vol_keyop_end drops them. */
int vol_keyop_begin(struct pvenc_ctx *ctx, struct vol *v, int dry, struct img **img, char *cookie,
		    int *locked);
void vol_keyop_end(struct vol *v, struct img *img, const char *cookie, int locked);
/* A random 256-bit key in secure memory. */
int vol_random_key(struct pvenc_ctx *ctx, uint8_t **key);
/* @dek kept by KMS entry @k for @v: wrapped (into *wrapped) or stored under its UUID. */
int vol_keep_new_dek(struct pvenc_ctx *ctx, struct kms *k, const struct img *img,
		     const struct vol *v, const uint8_t *dek, char **wrapped);
/* The metadata switched to entry @k (pvenc.dek @wrapped or none, the endpoint, the KMS
 * id last), crash point @crash, then dek-version + 1 (into *dek_version) and rotated-at. */
int vol_switch_kms(struct pvenc_ctx *ctx, struct img *img, const struct vol *v, const struct kms *k,
		   const char *wrapped, const char *crash, uint32_t *dek_version);
/* Where vol_fetch_dek found the DEK. */
struct dek_from {
	char kms[META_KMS_MAX + 1];
	int bound; /* pvenc volumes: 1 if binding v2 held it (wrapped or kept) */
};
/* The volume's DEK, from image metadata (unwrapped) or from the KMS; @from may be NULL.
 * Wrapped DEKs go through vol_unwrap: neither binding unwraps a v2 DEK outside its
 * scope, so pvenc.binding is only a hint that saves a round trip (and a rotation that
 * stopped between its two writes still opens). */
int vol_fetch_dek(struct pvenc_ctx *ctx, const struct img_loc *loc, const struct vol_meta *m,
		  const struct open_opts *o, const char *name, uint8_t **dek, size_t *deklen,
		  struct dek_from *from);
/* A pvenc volume's recovery key (recovery.c), unwrapped by the entry recorded with it;
 * -ENOKEY when it has none. */
int vol_fetch_recovery(struct pvenc_ctx *ctx, const struct img_loc *loc, const struct vol_meta *m,
		       const char *name, uint8_t **key);
/* A ceph-csi volume's KMS id (@o or ceph-csi's journal; *csi_kms owns it) and the
 * binding of its KMS-held passphrase (@volid backs it). */
int vol_csi_binding(struct pvenc_ctx *ctx, const struct img_loc *loc, const struct open_opts *o,
		    const char *name, const char **kms_id, char **csi_kms, char *volid,
		    size_t volid_len, struct kms_binding *b);

/* Whether @v (metadata read) is a formatted pvenc volume whose stored key can change
 * (@kek: its wrapping), and its KMS (*k) if so. */
int vol_rotatable(struct pvenc_ctx *ctx, const struct vol *v, int kek, struct kms **k);
/* The image of a key change opened for writing (*img), its metadata read into @v and
 * vol_rotatable's checks passed, with its KMS (*k). */
int vol_open_for_change(struct pvenc_ctx *ctx, struct vol *v, int kek, struct img **img,
			struct kms **k);
/* volume_rotate with ROTATE_DRY_RUN: the checks, the due test, res->plan; no write. */
int vol_rotate_plan(struct pvenc_ctx *ctx, struct vol *v, unsigned what, int64_t due_period,
		    struct rotate_result *res);
/* The lease of a key change under a random @cookie (cookie[40]); -EBUSY with *busy set
 * when another node holds it. */
int vol_take_lease(struct pvenc_ctx *ctx, const struct vol *v, const struct img *img, char *cookie,
		   int *busy);
void vol_drop_lease(struct img *img, const char *cookie);
enum header_op {
	HEADER_ADD_KEY, /* a keyslot for @new_dek, unlocked with @old (flags: LUKS_KEY_*) */
	HEADER_KEEP_ONLY, /* every keyslot of pvenc's but @new_dek's removed */
	HEADER_SET_MAC, /* @new_dek's keyslot gets its authenticator */
	HEADER_DROP_RECOVERY, /* the recovery keyslot removed; @new_dek opens one of pvenc's */
};
/* Reads the header of @img, changes it, writes what changed in the safe order and
 * checks that @new_dek opens what is on the image. */
int vol_header_step(struct pvenc_ctx *ctx, struct img *img, enum header_op op, const uint8_t *old,
		    const uint8_t *new_dek, unsigned flags, const char *name);
/* Drops this node's page cache of the mapped image (if it is mapped here), so that
 * buffered readers (blkid, cryptsetup luksDump) see the header just written. */
void vol_drop_local_cache(const struct image_spec *spec);
/* Gives the keyslot @dek opens its authenticator (crypt/hdrmac.h) on the image's
 * header, written the way rotation writes headers; nothing when it has it. */
int vol_header_authenticate(struct pvenc_ctx *ctx, struct img *img, const uint8_t *dek,
			    const char *name);
/* 1 if the LUKS2 header on @img carries @uuid and opens with @dek, 0 if not. */
int vol_header_opens(struct pvenc_ctx *ctx, struct img *img, const char *name, const char *uuid,
		     const uint8_t *dek);

/* Seconds between DEK rotations of a formatted pvenc volume under its schedule
 * (config_rotation precedence); 0 when off, for snapshots and ceph-csi volumes.
 * *sched and *src (may be NULL) get the schedule string and where it came from. */
int64_t vol_rotation_period(const struct pvenc_config *cfg, const struct image_spec *spec,
			    const struct vol_meta *m, const char **sched, const char **src);
/* 1 when a rotation @period seconds after @rotated_at is due at @now (a rotated-at far
 * in the future counts as due: not skew but a hostile or broken value). */
int vol_rotation_due(int64_t rotated_at, int64_t period, int64_t now);

#endif
