/* SPDX-License-Identifier: MIT */
/*
 * Volume logic (ceph-csi's VolumeEncryption role): combines a KMS, the DEK store and
 * LUKS2 into create, format, open, close and status. Nothing here prints; errors are
 * returned as negative errno with a sentence for the operator in ctx->err.
 */
#ifndef PVENC_VOLUME_VOLUME_H
#define PVENC_VOLUME_VOLUME_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "stats/kmodnl.h"
#include "store/krbd.h"
#include "store/rbd.h"
#include "store/rbdmeta.h"
#include "util/config.h"

struct pvenc_ctx {
	struct pvenc_config cfg;
	struct cluster *conn; /* connected on first use */
	int shared_conn; /* conn belongs to someone else (the agent) */
	char err[1024];
};

void pvenc_ctx_init(struct pvenc_ctx *ctx, const struct pvenc_config *cfg);
void pvenc_ctx_done(struct pvenc_ctx *ctx);
int pvenc_ctx_connect(struct pvenc_ctx *ctx);
/* @ctx uses @conn (thread-safe librados handle) and will not close it. */
void pvenc_ctx_share(struct pvenc_ctx *ctx, struct cluster *conn);

/* One volume as an operation sees it: the image, where it is mapped on this node, its
 * name for messages and, once an operation needs them, its id and metadata. Made by
 * vol_target (what an operator typed) or vol_device (a mapped device, the agent);
 * each operation loads what it needs; vol_done frees it all. */
struct vol {
	struct krbd_dev dev; /* dev.spec is the image; dev.id < 0: not mapped here */
	char name[SPEC_STR_MAX]; /* POOL/[NS/]IMAGE[@SNAP] */
	char dm[128]; /* device-mapper name; "" until the image id is known */
	int by_path; /* named by its /dev/rbdN path */
	struct img_head *head; /* the image's id and metadata (vol_need VOL_META) */
	struct vol_meta meta;
};

/* POOL/[NS/]IMAGE[@SNAP] or a /dev/rbdN path; the mapping is looked up if there is one. */
int vol_target(struct pvenc_ctx *ctx, const char *target, struct vol *v);
/* The image mapped as /dev/rbd<@id>. */
int vol_device(struct pvenc_ctx *ctx, int id, struct vol *v);
void vol_from_dev(const struct krbd_dev *d, struct vol *v);
void vol_done(struct vol *v);
#define _cleanup_vol_ _cleanup_(vol_done)

/* --dry-run: the operation checks all it would check (the image, its data, the KMS
 * entry, the volume's key), changes nothing, and says in @text what it would do. */
struct dry_run {
	char text[4096];
};

struct format_opts {
	const char *kms_id;
	struct dry_run *dry; /* NULL: do it */
	/* Overwrite data: must equal the image spec (the name typed twice). */
	const char *force;
	/* Set by volume_create: the image is new and reads as zeros. */
	int fresh;
};

/* Creates the image (librbd) and formats it. */
int volume_create(struct pvenc_ctx *ctx, struct vol *v, uint64_t size, const struct format_opts *o);
/* Formats an existing image; resumes an interrupted format; never reformats. */
int volume_format(struct pvenc_ctx *ctx, struct vol *v, const struct format_opts *o);

struct open_opts {
	const char *kms_id; /* ceph-csi volumes: KMS id (else from ceph-csi's journal) */
	const char *csi_volume_id; /* ceph-csi volumes: CSI volume handle (else derived) */
	int recovery; /* pvenc volumes: open with the recovery key, not the DEK */
};

struct open_result {
	char dm_name[128];
	char dm_path[160];
	char device[32];
	int already; /* it was open already; nothing changed */
	int readonly;
	int64_t rotation_period; /* seconds between DEK rotations here; 0: schedule off */
	struct kvol ident; /* what pvenc.ko was told (Documentation/kmod.md) */
	/* Where the open's time went (microseconds, monotonic): the librbd metadata read,
	 * the KMS, LUKS2 activation (header read, keyslot, dm table: mostly the kernel),
	 * and the whole call. total - rbd - kms - dm is pvenc's own share. */
	uint64_t rbd_us, kms_us, dm_us, total_us;
};

/* Open, close, resize and unmap need the volume mapped on this node. */
int volume_open(struct pvenc_ctx *ctx, struct vol *v, const struct open_opts *o,
		struct open_result *res);
int volume_close(struct pvenc_ctx *ctx, struct vol *v, int deferred, int *was_open);
/* Grows the decrypted device to its rbd device's size (after rbd resize). */
int volume_resize(struct pvenc_ctx *ctx, struct vol *v, uint64_t *new_size);
/* Closes the volume, then unmaps the rbd device. */
int volume_unmap(struct pvenc_ctx *ctx, struct vol *v);
enum {
	CLOSE_ALL_UNMOUNT = 1 << 0, /* unmount filesystems on the volumes first */
	CLOSE_ALL_UNMAP = 1 << 1, /* unmap the rbd devices after closing */
};
/* Closes every open pvenc volume of the node (shutdown); *closed counts them. Keeps
 * going past a volume that stays busy and fails naming the first. */
int volume_close_all(struct pvenc_ctx *ctx, unsigned flags, unsigned *closed);
/* Removes an unused image without snapshots, then its KMS-held DEK (vault-kv: destroyed
 * or soft-deleted as the entry's vaultDestroyKeys says). @confirm must repeat the
 * image name. Envelope KEKs are never touched. */
int volume_delete(struct pvenc_ctx *ctx, struct vol *v, const struct open_opts *o,
		  const char *confirm, struct dry_run *dry);
/* Header backup (Documentation/pvencctl.md "header"): the LUKS2 header of a volume that
 * opens, with its key metadata of the same moment (under the rotation lease), into @fd. */
int volume_header_backup(struct pvenc_ctx *ctx, struct vol *v, int fd);
/* Puts a backup read from @fd back onto the image it was taken of (same image id and
 * pool), unmapped everywhere, after checking that the DEK its metadata names opens its
 * header. @dry: the checks only. */
int volume_header_restore(struct pvenc_ctx *ctx, struct vol *v, int fd, const struct open_opts *o,
			  struct dry_run *dry);
/* Encrypt-by-default: if @target is a plain, empty image under a policy, format it.
 * 1 if formatted, 0 if no policy applies or it is not plain. */
int volume_format_by_policy(struct pvenc_ctx *ctx, struct vol *v);

struct rebind_result {
	int changed; /* the stored DEK is bound anew (else it was bound here already) */
	char was[600]; /* what it was bound to, in words */
};
/* Binds a formatted pvenc volume's stored DEK to the pool[/namespace] it is in now
 * (binding v2), after checking that the DEK opens its LUKS2 header. @from: the
 * POOL[/NS] it was bound to before a move or copy (the operator's authorisation);
 * NULL: bound here already, or bound by its UUID only (made by an earlier pvenc).
 * KMS-held keys become this image's (claimed from no owner or another image). */
int volume_rebind(struct pvenc_ctx *ctx, struct vol *v, const char *from,
		  struct rebind_result *res);

/* The recovery key (Documentation/recovery.md). set: gives a formatted volume that
 * opens now a recovery key wrapped by KMS entry @kms_id (an envelope entry other than
 * its own), replacing the one it had. remove: takes it away (the DEK must open). */
int volume_recovery_set(struct pvenc_ctx *ctx, struct vol *v, const char *kms_id,
			struct dry_run *dry);
int volume_recovery_remove(struct pvenc_ctx *ctx, struct vol *v, struct dry_run *dry);
/* Whether KMS entry @kms_id can wrap the recovery key of @v (whose DEK's entry is
 * @primary, NULL: not known yet): 0, or why not in ctx->err. */
int volume_recovery_usable(struct pvenc_ctx *ctx, const struct vol *v, const char *kms_id,
			   const char *primary);
struct recover_result {
	uint32_t dek_version; /* after the recovery */
	char was[META_KMS_MAX + 1]; /* the primary KMS entry before */
};
/* Binds a volume whose DEK is lost to KMS entry @to_kms: a new DEK from it, a keyslot
 * for it unlocked with the recovery key, the metadata switched, the old DEK's keyslot
 * removed; the recovery key stays. Running it again finishes a stopped one. */
int volume_recover(struct pvenc_ctx *ctx, struct vol *v, const char *to_kms, struct dry_run *dry,
		   struct recover_result *res);

struct migrate_result {
	uint32_t dek_version; /* after the migration */
	char was[META_KMS_MAX + 1]; /* the KMS entry before */
	int already; /* bound to the entry already: only what a stopped one left was done */
};
/* Binds a volume that opens to KMS entry @to_kms (migrate.c): a new DEK kept and proven
 * there, a keyslot for it unlocked with the current DEK, the metadata switched, the old
 * keyslot and a DEK the old entry kept removed. Running it again finishes a stopped
 * one; on a volume bound to @to_kms already it only does that. */
int volume_migrate(struct pvenc_ctx *ctx, struct vol *v, const char *to_kms, struct dry_run *dry,
		   struct migrate_result *res);

enum {
	VERIFY_OK,
	VERIFY_WARNING,
	VERIFY_CRITICAL
}; /* Nagios' levels */
struct verify_result {
	int level;
	int plain; /* not an encrypted volume (--all leaves it out) */
	char what[1100]; /* the finding in words */
};
/* Checks, without activating anything, that the volume would open: metadata, KMS,
 * DEK, header policy, keyslot. 0 with the verdict in @res; <0 if it could not check. */
int volume_verify(struct pvenc_ctx *ctx, struct vol *v, const struct open_opts *o,
		  struct verify_result *res);
/* Every image of the cluster as "POOL/[NS/]IMAGE" specs (malloc): what verify --all
 * walks. *odd counts names that are no valid spec and were left out. */
int volume_list_images(struct pvenc_ctx *ctx, struct image_spec **specs, size_t *n, size_t *odd);

enum rotate_what {
	ROTATE_DEK = 1, /* new DEK and keyslot (ceph-csi's passphrase rotation) */
	ROTATE_KEK = 2, /* the same DEK wrapped again under the KMS's newest key */
	ROTATE_DRY_RUN = 4, /* with DEK or KEK: check, change nothing, say what (res->plan) */
};

struct rotate_result {
	uint32_t dek_version; /* after the rotation */
	uint32_t key_version; /* KEK version of the stored wrapped DEK (vault:vN; else 1) */
	int resumed; /* an interrupted DEK rotation was finished */
	int skipped; /* not due, or another node holds the rotation lock */
	int64_t rotation_period; /* the schedule that applies (if_due); 0: off */
	char plan[4096]; /* ROTATE_DRY_RUN: what it would do */
};

/* Rotates the keys of the formatted pvenc volume @v, open or not, on any node
 * (Documentation/rotation.md). Crash-safe: the stored DEK opens the volume after a stop
 * at any step, and the next rotation finishes an interrupted one. Holds the image's
 * rotation lease; -EBUSY (res->skipped) when another node holds it. With @due_period
 * > 0 it rotates only if the last rotation is at least that old (decided under the
 * lease, so nodes sharing a schedule rotate once per period). */
int volume_rotate(struct pvenc_ctx *ctx, struct vol *v, unsigned what, int64_t due_period,
		  struct rotate_result *res);
/* The schedule: rotates the DEK of @v if
 * its schedule (image metadata, pvenc.conf) says it is due. 0 also when it is not due,
 * off, or another node holds the lock (res->skipped). @dry_run: checks only, res->plan
 * says what it would do. */
int volume_rotate_if_due(struct pvenc_ctx *ctx, struct vol *v, unsigned dry_run,
			 struct rotate_result *res);

/* JSON status of one volume (mapped or not). */
int volume_status(struct pvenc_ctx *ctx, struct vol *v, struct json_object **out);
/* JSON array: every mapped rbd device on this node and its mapping, from sysfs and
 * device-mapper alone (no Ceph: it answers during an outage). */
int volume_list(struct json_object **out);

#endif
