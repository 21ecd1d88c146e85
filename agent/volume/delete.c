// SPDX-License-Identifier: MIT
/* Delete in steps: the image to the RBD trash, then its KMS-held DEK, then the trashed
 * image; running the delete again finishes one that stopped. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/crashpoint.h"
#include "util/log.h"
#include "util/macro.h"
#include "volume/internal.h"

/* What names a KMS-held DEK to remove (backs kms_binding's strings). */
struct held_key {
	struct kms_binding b;
	char scope[VOL_SCOPE_MAX];
	char image[64];
	char volid[256];
};

/* The KMS-held DEK of @img (an image about to go, or one in the trash): *k open on the
 * right KMS and @h naming the key, or *k NULL when the DEK is wrapped in metadata (an
 * envelope KEK is shared and never deleted). v->meta backs @h. */
static int delete_key_of(struct pvenc_ctx *ctx, struct vol *v, struct img *img,
			 const struct open_opts *o, struct held_key *h, struct kms **k,
			 const char **kms_id, char **csi_kms)
{
	const struct vol_meta *m = &v->meta;
	int r;

	*kms_id = NULL;
	r = vol_read_meta(ctx, v, img_meta_getter, img);
	if (r < 0)
		return r;
	if (m->kind == VOL_PVENC && !m->dek && m->kms[0]) {
		*kms_id = m->kms;
		/* Removed only if it records this image as its owner (or no owner). */
		vol_binding(&img->loc, m->uuid, 1, h->scope, &h->b);
		(void)snprintf(h->image, sizeof(h->image), "%s", img->loc.id);
		h->b.image = h->image;
	} else if (m->kind == VOL_CEPHCSI && !m->dek) {
		r = vol_csi_binding(ctx, &img->loc, o, v->name, kms_id, csi_kms, h->volid,
				    sizeof(h->volid), &h->b);
		if (r < 0)
			return r;
	}
	return *kms_id ? vol_open_kms(ctx, &img->loc.spec, *kms_id, k) : 0;
}

/* The steps after the image went to the trash: the key, then the trashed image. */
static int delete_finish(struct pvenc_ctx *ctx, const struct image_spec *spec, const char *name,
			 const char *trash_id, struct kms *k, struct kms_binding *b,
			 const char *kms_id)
{
	int r;

	if (k) {
		r = kms_remove(k, b);
		if (r == -EPERM) /* a copy's: the key is its original's */
			log_notice("image=%s event=dek-kept kms=%s msg=\"%s\"", name, kms_id,
				   k->error);
		else if (r < 0 && r != -ENOENT)
			return vol_fail(ctx, r,
					"%s is in the RBD trash (id %s), but its DEK in KMS '%s' "
					"was not removed: %s; run the delete again to finish",
					name, trash_id, kms_id, k->error);
		else
			log_info("image=%s event=dek-removed kms=%s", name, kms_id);
	}
	crashpoint("delete:dek-removed");
	r = img_trash_remove(ctx->conn, spec, trash_id);
	if (r < 0 && r != -ENOENT)
		return vol_fail(ctx, r,
				"the DEK of %s is removed, but the image in the RBD trash (id %s) "
				"was not: %s; run the delete again, or 'rbd trash rm'",
				name, trash_id, strerror(-r));
	log_info("image=%s event=deleted", name);
	return 0;
}

/* What a delete that checked out would do, for --dry-run. */
static int delete_plan(struct dry_run *dry, const char *name, const struct kms *k,
		       const char *kms_id, int trashed)
{
	char key[256];

	if (k)
		(void)snprintf(key, sizeof(key),
			       "remove its DEK from KMS '%s' (if the key names this image as its "
			       "owner)",
			       kms_id);
	else
		(void)snprintf(key, sizeof(key),
			       "leave the KMS alone (the DEK is wrapped in the image's metadata; a "
			       "KEK is never deleted)");
	(void)snprintf(
		dry->text, sizeof(dry->text),
		trashed ? "would finish the delete of %s (in the RBD trash): %s, then "
			  "remove it from the trash"
			: "would move %s to the RBD trash, %s, then remove it from the trash",
		name, key);
	return 0;
}

/* A delete stopped after the image went to the trash: finish it. */
static int delete_resume(struct pvenc_ctx *ctx, struct vol *v, const struct open_opts *o,
			 struct dry_run *dry)
{
	_cleanup_img_ struct img *img = NULL;
	_cleanup_kms_ struct kms *k = NULL;
	_cleanup_free_ char *csi_kms = NULL;
	struct held_key h = { 0 };
	char id[64];
	const char *kms_id;
	int r;

	r = img_trash_find(ctx->conn, &v->dev.spec, id, sizeof(id));
	if (r == -ENOENT)
		return vol_fail(ctx, -ENOENT, "image %s does not exist (nothing to delete)",
				v->name);
	if (r < 0)
		return vol_fail(ctx, r, "cannot list the RBD trash of %s: %s", v->name,
				strerror(-r));
	r = img_open_id(ctx->conn, &v->dev.spec, id, &img);
	if (r < 0)
		return vol_fail(ctx, r, "cannot open %s in the RBD trash (id %s): %s", v->name, id,
				strerror(-r));
	r = delete_key_of(ctx, v, img, o, &h, &k, &kms_id, &csi_kms);
	if (r < 0)
		return r;
	if (dry)
		return delete_plan(dry, v->name, k, kms_id, 1);
	img_close(TAKE_PTR(img));
	log_notice("image=%s event=delete-resumed trash-id=%s", v->name, id);
	return delete_finish(ctx, &v->dev.spec, v->name, id, k, &h.b, kms_id);
}

int volume_delete(struct pvenc_ctx *ctx, struct vol *v, const struct open_opts *o,
		  const char *confirm, struct dry_run *dry)
{
	_cleanup_img_ struct img *img = NULL;
	_cleanup_kms_ struct kms *k = NULL;
	_cleanup_free_ char *csi_kms = NULL;
	struct held_key h = { 0 };
	char id[64];
	const char *kms_id = NULL, *name = v->name;
	size_t watchers;
	int r, snaps;

	r = vol_need(ctx, v, VOL_IMAGE);
	if (r < 0)
		return r;
	if (!confirm || strcmp(confirm, name) != 0)
		return vol_fail(ctx, -EINVAL,
				"deleting destroys %s and its data: confirm with --force %s", name,
				name);
	r = vol_open_image(ctx, &v->dev.spec, 1, &img);
	if (r == -ENOENT)
		return delete_resume(ctx, v, o, dry); /* a stopped delete, or nothing */
	if (r < 0)
		return r;
	r = img_users(img, &watchers, &snaps);
	if (r < 0)
		return vol_fail(ctx, r, "cannot list the users of %s: %s", name, strerror(-r));
	if (watchers)
		return vol_fail(
			ctx, -EBUSY,
			"%s is in use (%zu watchers: mapped or open on some node); close and "
			"unmap it everywhere first",
			name, watchers);
	if (snaps)
		return vol_fail(ctx, -ENOTEMPTY,
				"%s has %d snapshots; remove them first (rbd snap purge)", name,
				snaps);
	/* The KMS answers before anything is destroyed: credentials are checked first. */
	r = delete_key_of(ctx, v, img, o, &h, &k, &kms_id, &csi_kms);
	if (r < 0)
		return r;
	if (dry)
		return delete_plan(dry, name, k, kms_id, 0);
	(void)snprintf(id, sizeof(id), "%s", img->loc.id);
	img_close(TAKE_PTR(img));
	/* The image goes first (to the trash, where no one can map it): a key is never
	 * destroyed while a usable image still needs it, and a stop at any step is finished
	 * by running the delete again. */
	r = img_trash_move(ctx->conn, &v->dev.spec);
	if (r < 0)
		return vol_fail(ctx, r, "cannot move image %s to the RBD trash: %s", name,
				strerror(-r));
	crashpoint("delete:trashed");
	return delete_finish(ctx, &v->dev.spec, name, id, k, &h.b, kms_id);
}
