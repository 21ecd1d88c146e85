// SPDX-License-Identifier: MIT
/*
 * The frame of the commands that change a formatted pvenc volume's keys outside a
 * rotation (recovery.c, migrate.c): the image under the rotation lease, a random key,
 * and the move of the volume's DEK to another KMS entry (kept there, then the metadata
 * switched to it, the KMS id last).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "util/crashpoint.h"
#include "util/macro.h"
#include "util/secmem.h"
#include "volume/internal.h"

/* The image opened for writing (read-only for a dry run), its metadata that of a
 * formatted pvenc volume, and the rotation lease held (*cookie) unless @dry. */
int vol_keyop_begin(struct pvenc_ctx *ctx, struct vol *v, int dry, struct img **img, char *cookie,
		    int *locked)
{
	int busy = 0, r;

	*locked = 0;
	r = vol_need(ctx, v, VOL_IMAGE);
	if (r < 0)
		return r;
	vol_forget(v);
	r = vol_open_image(ctx, &v->dev.spec, dry, img);
	if (r == 0 && !dry) {
		r = vol_take_lease(ctx, v, *img, cookie, &busy);
		*locked = r == 0;
	}
	/* Read under the lease: a rotation may just have finished. */
	if (r == 0)
		r = vol_read_meta(ctx, v, img_meta_getter, *img);
	if (r == 0 && (v->meta.kind != VOL_PVENC || v->meta.state != STATE_FORMATTED))
		r = vol_fail(
			ctx, v->meta.kind == VOL_PLAIN ? -ENOMSG : -EOPNOTSUPP,
			"%s is not a formatted pvenc volume%s", v->name,
			v->meta.kind == VOL_CEPHCSI
				? " (a ceph-csi volume: open it, or bring it into pvenc's format)"
				: "");
	return r;
}

void vol_keyop_end(struct vol *v, struct img *img, const char *cookie, int locked)
{
	if (locked)
		vol_drop_lease(img, cookie);
	vol_forget(v);
}

int vol_random_key(struct pvenc_ctx *ctx, uint8_t **key)
{
	*key = secmem_alloc(DEK_LEN);
	if (!*key)
		return -ENOMEM;
	if (getrandom(*key, DEK_LEN, 0) != DEK_LEN)
		return vol_fail(ctx, -EIO, "getrandom failed");
	return 0;
}

/* The new DEK kept by the new primary KMS @k: wrapped (into *wrapped) or stored under
 * the volume's UUID for this image. */
int vol_keep_new_dek(struct pvenc_ctx *ctx, struct kms *k, const struct img *img,
		     const struct vol *v, const uint8_t *dek, char **wrapped)
{
	char scope[VOL_SCOPE_MAX];
	struct kms_binding b;
	int r;

	vol_binding(&img->loc, v->meta.uuid, 1, scope, &b);
	if (kms_is_envelope(k)) {
		r = kms_wrap(k, &b, dek, DEK_LEN, wrapped);
	} else {
		b.image = img->loc.id;
		b.replace = 1; /* a recover or migrate that stopped after storing it */
		r = kms_store(k, &b, dek, DEK_LEN);
	}
	if (r < 0)
		return vol_fail(ctx, r, "KMS '%s' could not %s the new DEK of %s: %s", k->id,
				kms_is_envelope(k) ? "wrap" : "store", v->name, k->error);
	return 0;
}

/* The switch to the new primary entry. pvenc.dek and the endpoint go before the KMS id:
 * until that last write the volume names its old entry (and opens with it if it still
 * can: a migrate), which is where it was before; the command run again finishes. */
int vol_switch_kms(struct pvenc_ctx *ctx, struct img *img, const struct vol *v, const struct kms *k,
		   const char *wrapped, const char *crash, uint32_t *dek_version)
{
	char num[32];
	int r;

	r = wrapped ? vol_set_meta(ctx, img, META_DEK, wrapped) : img_meta_remove(img, META_DEK);
	if (r == 0 || r == -ENOENT)
		r = img_meta_remove(img, META_DEK_NEXT); /* a rotation of the lost DEK */
	if (r == 0 || r == -ENOENT)
		r = vol_set_meta(ctx, img, META_ENDPOINT, k->endpoint ? k->endpoint : "");
	else
		r = vol_fail(ctx, r, "cannot write the metadata of %s: %s", v->name, strerror(-r));
	if (r == 0)
		r = vol_set_meta(ctx, img, META_BINDING, "scope");
	if (r == 0)
		r = vol_set_meta(ctx, img, META_KMS, k->id);
	if (r < 0)
		return r;
	crashpoint(crash);
	*dek_version = v->meta.dek_version + 1;
	(void)snprintf(num, sizeof(num), "%" PRIu32, *dek_version);
	r = vol_set_meta(ctx, img, META_DEK_VERSION, num);
	(void)snprintf(num, sizeof(num), "%lld", (long long)time(NULL));
	return r < 0 ? r : vol_set_meta(ctx, img, META_ROTATED_AT, num);
}
