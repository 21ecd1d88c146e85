// SPDX-License-Identifier: MIT
/*
 * Key rotation (Documentation/rotation.md).
 *
 * DEK rotation works the way ceph-csi rotates a passphrase: a new random DEK, a new
 * LUKS2 keyslot for it, the new wrapped DEK stored, and the old keyslot removed. The
 * volume key and the data do not change, so it works on an open, busy volume. The
 * steps are ordered so that the DEK in pvenc.dek opens the volume after a crash at
 * any point:
 *   1. the new wrapped DEK goes to pvenc.dek-next           (old slot; dek = old)
 *   2. a keyslot for it is written (material before header)  (both slots; dek = old)
 *   3. pvenc.dek := new                                      (both slots; dek = new)
 *   4. pvenc.dek-next removed
 *   5. every other keyslot removed (header before material)  (new slot; dek = new)
 *   6. pvenc.dek-version + 1, pvenc.rotated-at = now
 * A rotation that stopped is resumed from pvenc.dek-next by the next one.
 *
 * KEK rotation unwraps the DEK and wraps it again under the KMS's newest key (Vault
 * Transit's latest version, a new KMIP key UID or PKCS#11 label in the config); only
 * pvenc.dek changes, in one metadata write.
 *
 * One node at a time: a lease lock on the image's header object (img_lease), and
 * every decision is taken again after the lock is held.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "crypt/luks.h"
#include "util/crashpoint.h"
#include "util/log.h"
#include "util/macro.h"
#include "util/schedule.h"
#include "util/secmem.h"
#include "volume/internal.h"
#include "volume/kstat.h"

static int unwrap(struct pvenc_ctx *ctx, struct kms *k, const struct img *img,
		  const struct vol_meta *m, const char *wrapped, const char *name, uint8_t **dek)
{
	size_t len = 0;
	int bound;
	int r = vol_unwrap(k, &img->loc, m, wrapped, dek, &len, &bound);

	if (r < 0)
		return vol_fail(ctx, r, "cannot unwrap a DEK of %s with KMS '%s': %s", name, m->kms,
				k->error);
	if (len != DEK_LEN) {
		secmem_free(*dek);
		*dek = NULL;
		return vol_fail(ctx, -EBADMSG, "a DEK of %s has %zu bytes, not %d", name, len,
				DEK_LEN);
	}
	return 0;
}

/* How step 3 makes the new DEK the stored one: the wrapped DEK into pvenc.dek, or
 * (KMS-held) the KMS's secret under <uuid> replaced by the one under <uuid>.next. */
struct switch_to {
	struct kms *k;
	const char *wrapped;
	struct kms_binding *cur, *next;
	const uint8_t *new_dek;
};

static int switch_dek(struct pvenc_ctx *ctx, struct img *img, const struct vol_meta *m,
		      const char *name, const struct switch_to *sw)
{
	int r;

	if (sw->wrapped) {
		r = vol_set_meta(ctx, img, META_DEK, sw->wrapped);
	} else if (!sw->cur) {
		return -EINVAL; /* neither a wrapped DEK nor a KMS-held one to switch to */
	} else {
		sw->cur->replace = 1;
		r = kms_store(sw->k, sw->cur, sw->new_dek, DEK_LEN);
		if (r < 0)
			r = vol_fail(ctx, r, "KMS '%s' could not replace the DEK of %s: %s", m->kms,
				     name, sw->k->error);
	}
	/* The stored DEK is bound v2 now (wrapped so, or a KMS-held key this image owns). */
	if (r == 0)
		r = vol_set_meta(ctx, img, META_BINDING, "scope");
	if (r < 0)
		return r;
	crashpoint("rotate:switched");
	r = img_meta_remove(img, META_DEK_NEXT);
	if (r < 0 && r != -ENOENT)
		return vol_fail(ctx, r, "cannot remove %s: %s", META_DEK_NEXT, strerror(-r));
	if (!sw->wrapped && kms_remove(sw->k, sw->next) < 0)
		log_warn("image=%s event=rotate-cleanup error=\"%s\"", name, sw->k->error);
	crashpoint("rotate:next-cleared");
	return 0;
}

/* Steps 2 to 6, once the old and the new DEK are known and the new one is stored as
 * pending. */
static int rotate_steps(struct pvenc_ctx *ctx, struct img *img, const struct vol_meta *m,
			const char *name, const uint8_t *old, const uint8_t *new_dek,
			struct switch_to *sw, struct rotate_result *res)
{
	char num[32];
	int r;

	/* 2: a keyslot for the new DEK, opened with the old one. */
	r = vol_header_step(ctx, img, HEADER_ADD_KEY, old, new_dek, 0, name);
	if (r < 0)
		return r;
	crashpoint("rotate:keyslot-added");
	/* 3, 4: the switch, then the pending key is no longer pending. */
	sw->new_dek = new_dek;
	r = switch_dek(ctx, img, m, name, sw);
	if (r < 0)
		return r;
	/* 5: only the new keyslot stays. */
	r = vol_header_step(ctx, img, HEADER_KEEP_ONLY, NULL, new_dek, 0, name);
	if (r < 0)
		return r;
	crashpoint("rotate:old-removed");
	vol_drop_local_cache(&img->loc.spec);
	/* 6: the record. */
	res->dek_version = m->dek_version + 1;
	(void)snprintf(num, sizeof(num), "%" PRIu32, res->dek_version);
	r = vol_set_meta(ctx, img, META_DEK_VERSION, num);
	if (r < 0)
		return r;
	(void)snprintf(num, sizeof(num), "%lld", (long long)time(NULL));
	r = vol_set_meta(ctx, img, META_ROTATED_AT, num);
	if (r < 0)
		return r;
	res->key_version = kms_key_version(sw->wrapped);
	log_info("image=%s event=rotated what=dek dek-version=%" PRIu32 " kms=%s", name,
		 res->dek_version, m->kms);
	return 0;
}

static int rotate_dek(struct pvenc_ctx *ctx, struct img *img, struct vol_meta *m, struct kms *k,
		      const char *name, struct rotate_result *res)
{
	char scope[VOL_SCOPE_MAX];
	struct kms_binding b;
	uint8_t *old = NULL, *new_dek = NULL;
	char *wrapped = NULL;
	int r;

	vol_binding(&img->loc, m->uuid, 1, scope, &b);
	r = unwrap(ctx, k, img, m, m->dek, name, &old);
	if (r < 0)
		goto out;
	if (m->dek_next) {
		/* Resume: the new DEK was chosen and stored before the stop. */
		r = unwrap(ctx, k, img, m, m->dek_next, name, &new_dek);
		if (r < 0)
			goto out;
		wrapped = strdup(m->dek_next);
		if (!wrapped) {
			r = -ENOMEM;
			goto out;
		}
		res->resumed = 1;
		log_info("image=%s event=rotate-resume", name);
	} else {
		new_dek = secmem_alloc(DEK_LEN);
		if (!new_dek) {
			r = -ENOMEM;
			goto out;
		}
		if (getrandom(new_dek, DEK_LEN, 0) != DEK_LEN) {
			r = vol_fail(ctx, -EIO, "getrandom failed");
			goto out;
		}
		r = kms_wrap(k, &b, new_dek, DEK_LEN, &wrapped);
		if (r < 0) {
			r = vol_fail(ctx, r, "KMS '%s' could not wrap the new DEK of %s: %s",
				     m->kms, name, k->error);
			goto out;
		}
		r = vol_set_meta(ctx, img, META_DEK_NEXT, wrapped);
		if (r < 0)
			goto out;
		crashpoint("rotate:next-stored");
	}

	{
		struct switch_to sw = { .k = k, .wrapped = wrapped };

		r = rotate_steps(ctx, img, m, name, old, new_dek, &sw, res);
	}
out:
	secmem_free(old);
	secmem_free(new_dek);
	free(wrapped);
	return r;
}

/* A DEK the KMS keeps: the new one waits under its pending name (vol_held_next_id) until the switch
 * replaces the one under "<uuid>"; pvenc.dek-next marks the rotation. The same order
 * as rotate_dek; the open path falls back to the pending name while the marker is there
 * (a KMIP replace is destroy + register, so "<uuid>" can be missing for a moment). */
static int rotate_dek_held(struct pvenc_ctx *ctx, struct img *img, struct vol_meta *m,
			   struct kms *k, const char *name, struct rotate_result *res)
{
	char nextid[VOL_HELD_NEXT_ID_MAX], marker[VOL_HELD_MARKER_MAX];
	char scope[VOL_SCOPE_MAX];
	struct vol_meta pending = *m;
	struct kms_binding cur, nxt;
	uint8_t *old = NULL, *new_dek = NULL;
	size_t len = 0;
	int r = 0;

	if (!m->dek_next)
		r = vol_held_new_marker(marker, sizeof(marker));
	pending.dek_next = m->dek_next ? m->dek_next : marker;
	if (r == 0)
		r = vol_held_next_id(&pending, nextid, sizeof(nextid));
	if (r < 0)
		return vol_fail(ctx, r, "%s of %s is not a KMS-held rotation's marker",
				META_DEK_NEXT, name);
	/* Only keys this image owns are rotated: a copy of the volume shares them, and an
	 * earlier pvenc's keys record no owner until `pvencctl rebind` claims them. */
	vol_binding(&img->loc, m->uuid, 1, scope, &cur);
	cur.image = img->loc.id;
	cur.strict = 1;
	nxt = cur;
	nxt.volume_id = nextid;
	if (m->dek_next) {
		r = kms_fetch(k, &nxt, &new_dek, &len);
		if (r == 0 && len != DEK_LEN)
			r = -EBADMSG;
		/* -ENOKEY/-ENOENT: stopped between the marker and the key, which no
		 * keyslot has yet; it is made below under the marker's name. */
		if (r < 0 && r != -ENOKEY && r != -ENOENT) {
			r = vol_fail(ctx, r,
				     "the new DEK of an interrupted rotation of %s is not readable "
				     "in KMS '%s': %s",
				     name, m->kms, k->error);
			goto out;
		} else if (r == 0) {
			r = kms_fetch(k, &cur, &old, &len);
			if (r == -ENOKEY || r == -ENOENT) {
				/* Stopped inside the switch: the new DEK is the current one. */
				old = secmem_alloc(DEK_LEN);
				if (!old) {
					r = -ENOMEM;
					goto out;
				}
				memcpy(old, new_dek, DEK_LEN);
				r = 0;
			}
			if (r < 0) {
				r = vol_fail(ctx, r, "cannot fetch the DEK of %s from KMS '%s': %s",
					     name, m->kms, k->error);
				goto out;
			}
			res->resumed = 1;
			log_info("image=%s event=rotate-resume", name);
		}
	}
	if (!new_dek) {
		/* The marker (with the pending key's name) before the key: Key Vault keeps a
		 * deleted name, so a name is used once, and one written down is never lost. */
		r = kms_fetch(k, &cur, &old, &len);
		if (r == 0 && len != DEK_LEN)
			r = -EBADMSG;
		if (r == 0) {
			new_dek = secmem_alloc(DEK_LEN);
			if (!new_dek)
				r = -ENOMEM;
			else if (getrandom(new_dek, DEK_LEN, 0) != DEK_LEN)
				r = -EIO;
		}
		if (r == 0 && !m->dek_next) {
			r = vol_set_meta(ctx, img, META_DEK_NEXT, marker);
			if (r < 0)
				goto out;
			crashpoint("rotate:marked");
		}
		if (r == 0) {
			nxt.replace = 1;
			r = kms_store(k, &nxt, new_dek, DEK_LEN);
		}
		if (r < 0) {
			r = vol_fail(ctx, r, "KMS '%s' could not fetch or keep the DEKs of %s: %s",
				     m->kms, name, k->error[0] ? k->error : strerror(-r));
			goto out;
		}
		crashpoint("rotate:next-stored");
	}

	{
		struct switch_to sw = { .k = k, .cur = &cur, .next = &nxt };

		r = rotate_steps(ctx, img, m, name, old, new_dek, &sw, res);
	}
out:
	secmem_free(old);
	secmem_free(new_dek);
	return r;
}

static int rotate_kek(struct pvenc_ctx *ctx, struct img *img, struct vol_meta *m, struct kms *k,
		      const char *name, struct rotate_result *res)
{
	char scope[VOL_SCOPE_MAX];
	struct kms_binding b;
	uint8_t *dek = NULL;
	char *wrapped = NULL;
	int r;

	if (m->dek_next)
		return vol_fail(ctx, -EBUSY,
				"a DEK rotation of %s did not finish; run 'pvencctl rotate --dek "
				"%s' to finish it first",
				name, name);
	r = unwrap(ctx, k, img, m, m->dek, name, &dek);
	/* Binding v2 needs the header's authenticator (a volume of an earlier pvenc): it
	 * goes first, so that the header never lacks it while the DEK is bound. */
	if (r == 0)
		r = vol_header_authenticate(ctx, img, dek, name);
	if (r < 0) {
		secmem_free(dek);
		return r;
	}
	vol_binding(&img->loc, m->uuid, 1, scope, &b);
	r = kms_wrap(k, &b, dek, DEK_LEN, &wrapped);
	secmem_free(dek);
	if (r < 0)
		return vol_fail(ctx, r, "KMS '%s' could not wrap the DEK of %s again: %s", m->kms,
				name, k->error);
	r = vol_set_meta(ctx, img, META_DEK, wrapped);
	if (r == 0)
		r = vol_set_meta(ctx, img, META_BINDING, "scope");
	if (r == 0) {
		crashpoint("rotate:kek-stored");
		res->dek_version = m->dek_version;
		res->key_version = kms_key_version(wrapped);
		log_info("image=%s event=rotated what=kek key-version=%" PRIu32 " kms=%s", name,
			 res->key_version, m->kms);
	}
	free(wrapped);
	return r;
}

/* An open volume on this node: tell pvenc.ko its new key versions and rotation time. */
static void update_kstat(const struct image_spec *spec, const struct vol_meta *m)
{
	_cleanup_vol_ struct vol v = { .dev.id = -1 };
	struct krbd_dev d;
	struct luks_status ls;
	struct kvol kv;

	if (krbd_dev_find(spec, &d) < 0)
		return;
	vol_from_dev(&d, &v);
	if (!v.dm[0] || luks_status(v.dm, &ls) <= 0)
		return;
	kstat_volume_opened(&d, v.dm, m->kms, m, 1, &kv);
}

/* With the lease held: a scheduled rotation happens only when due. 1 when not due
 * (or on first sight, when the schedule's clock starts now). */
static int not_due(struct pvenc_ctx *ctx, const struct vol_meta *m, struct img *img,
		   int64_t due_period, int *r)
{
	int64_t t = (int64_t)time(NULL);

	*r = 0;
	if (due_period <= 0 || m->dek_next)
		return 0;
	if (m->rotated_at == 0) {
		char num[32];

		(void)snprintf(num, sizeof(num), "%lld", (long long)t);
		*r = vol_set_meta(ctx, img, META_ROTATED_AT, num);
		return 1;
	}
	return !vol_rotation_due(m->rotated_at, due_period, t);
}

int volume_rotate(struct pvenc_ctx *ctx, struct vol *v, unsigned what, int64_t due_period,
		  struct rotate_result *res)
{
	_cleanup_img_ struct img *img = NULL;
	_cleanup_kms_ struct kms *k = NULL;
	struct vol_meta *m = &v->meta;
	char cookie[40];
	int r, locked = 0;

	memset(res, 0, sizeof(*res));
	/* A snapshot is read-only: its keys rotate with the image. */
	if (v->dev.spec.snap[0])
		return vol_fail(ctx, -EINVAL, "invalid image '%s': expected POOL/[NAMESPACE/]IMAGE",
				v->name);
	if ((what & ~ROTATE_DRY_RUN) != ROTATE_DEK && (what & ~ROTATE_DRY_RUN) != ROTATE_KEK)
		return vol_fail(ctx, -EINVAL, "rotate either the DEK or the KEK");
	if (what & ROTATE_DRY_RUN)
		return vol_rotate_plan(ctx, v, what, due_period, res);
	r = vol_open_for_change(ctx, v, what == ROTATE_KEK, &img, &k);
	if (r == 0)
		r = vol_take_lease(ctx, v, img, cookie, &res->skipped);
	if (r != 0)
		goto out;
	locked = 1;
	crashpoint("rotate:locked");
	/* Decide again under the lock: another node may just have finished. */
	r = vol_read_meta(ctx, v, img_meta_getter, img);
	if (r < 0)
		goto out;
	if (not_due(ctx, m, img, due_period, &r)) {
		res->skipped = 1;
		goto out;
	}
	if (what == ROTATE_KEK)
		r = rotate_kek(ctx, img, m, k, v->name, res);
	else if (m->dek)
		r = rotate_dek(ctx, img, m, k, v->name, res);
	else
		r = rotate_dek_held(ctx, img, m, k, v->name, res);
	if (r == 0 && vol_read_meta(ctx, v, img_meta_getter, img) == 0)
		update_kstat(&v->dev.spec, m);
out:
	if (locked)
		vol_drop_lease(img, cookie);
	/* The metadata read here is the image head's; the next user reads it again. */
	vol_forget(v);
	return r;
}
