// SPDX-License-Identifier: MIT
/*
 * `pvencctl migrate` (Documentation/rotation.md, "Moving to another KMS entry"): a
 * volume that opens is bound to another KMS entry. A new DEK is kept by the new entry
 * and proven there (it must give back what it wrapped or stored), a keyslot for it is
 * unlocked with the current DEK, the metadata is switched (the KMS id last), the old
 * DEK's keyslot goes, and a DEK the old entry kept is removed from it. The volume key
 * and the data stay; the volume opens with one of the two DEKs at every step, and the
 * same command run again finishes a stopped one.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "util/crashpoint.h"
#include "util/log.h"
#include "util/macro.h"
#include "util/secmem.h"
#include "volume/internal.h"

/* The new DEK under @nk, proven: unwrapped again (an envelope entry) or read back (a
 * KMS-held one). A KMS-held entry that already keeps a key for this volume either
 * holds the old DEK (the same store as the old entry: refused, a store would replace
 * the only key that opens the volume) or a stopped migrate's new one (taken). */
static int keep_proven(struct pvenc_ctx *ctx, struct kms *nk, const struct img *img,
		       const struct vol *v, const uint8_t *old, uint8_t **dek, char **wrapped)
{
	_cleanup_secmem_ uint8_t *back = NULL;
	char scope[VOL_SCOPE_MAX];
	struct kms_binding b;
	size_t len = 0;
	int r;

	vol_binding(&img->loc, v->meta.uuid, 1, scope, &b);
	if (!kms_is_envelope(nk)) {
		b.image = img->loc.id;
		b.strict = 1;
		r = kms_fetch(nk, &b, &back, &len);
		if (r == 0 && len == DEK_LEN && memcmp(back, old, DEK_LEN) == 0)
			return vol_fail(ctx, -EEXIST,
					"KMS '%s' already keeps the DEK of %s under its UUID (it "
					"stores where KMS '%s' does?): refusing to replace it",
					nk->id, v->name, v->meta.kms);
		if (r == 0 && len == DEK_LEN) {
			memcpy(*dek, back, DEK_LEN);
			log_info("image=%s event=migrate-resume kms=%s", v->name, nk->id);
			return 0;
		}
		secmem_free(back);
		back = NULL;
	}
	r = vol_keep_new_dek(ctx, nk, img, v, *dek, wrapped);
	if (r < 0)
		return r;
	if (*wrapped)
		r = kms_unwrap(nk, &b, *wrapped, &back, &len);
	else
		r = kms_fetch(nk, &b, &back, &len);
	if (r == 0 && (len != DEK_LEN || memcmp(back, *dek, DEK_LEN) != 0))
		return vol_fail(ctx, -EBADMSG,
				"KMS '%s' gave back another key than the new DEK of %s it %s: "
				"nothing of the volume changed",
				nk->id, v->name, *wrapped ? "wrapped" : "stored");
	if (r < 0)
		return vol_fail(ctx, -EKEYREJECTED,
				"KMS '%s' %s the new DEK of %s but cannot give it back (%s): "
				"nothing of the volume changed",
				nk->id, *wrapped ? "wrapped" : "stored", v->name, nk->error);
	return 0;
}

/* After the switch: the old entry's copy of a DEK it kept, then the record of it. The
 * record is image metadata (a pool writer's to forge): a copy that is the DEK opening
 * the volume now (@cur) is never removed, whichever entry the record names. */
static int drop_old_kept(struct pvenc_ctx *ctx, struct img *img, const struct vol *v,
			 const uint8_t *cur)
{
	_cleanup_kms_ struct kms *ok = NULL;
	_cleanup_secmem_ uint8_t *copy = NULL;
	const struct vol_meta *m = &v->meta;
	char scope[VOL_SCOPE_MAX];
	struct kms_binding b;
	size_t len = 0;
	int r;

	if (!m->migrate_from[0])
		return 0;
	r = vol_open_kms(ctx, &v->dev.spec, m->migrate_from, &ok);
	if (r == 0 && strcmp(m->migrate_from_endpoint, ok->endpoint ? ok->endpoint : "") != 0)
		r = vol_fail(ctx, -EPERM,
			     "KMS '%s' keeps the old DEK of %s at endpoint '%s', but that KMS id "
			     "is now configured with endpoint '%s'; refusing to use it",
			     m->migrate_from, v->name, m->migrate_from_endpoint,
			     ok->endpoint ? ok->endpoint : "");
	if (r == 0 && !kms_is_envelope(ok)) {
		vol_binding(&img->loc, m->uuid, 1, scope, &b);
		b.image = img->loc.id;
		b.strict = 1;
		r = kms_fetch(ok, &b, &copy, &len);
		if (r == 0 && len == DEK_LEN && memcmp(copy, cur, DEK_LEN) == 0)
			r = vol_fail(
				ctx, -EEXIST,
				"KMS '%s' keeps the DEK that opens %s now, not an old one: "
				"%s is wrong, nothing was removed (rbd image-meta remove %s %s)",
				m->migrate_from, v->name, META_MIGRATE_FROM, v->name,
				META_MIGRATE_FROM);
		else if (r == 0 || r == -ENOKEY || r == -ENOENT)
			r = kms_remove(ok, &b);
		if (r == -ENOKEY || r == -ENOENT)
			r = 0;
		else if (r < 0 && r != -EEXIST)
			r = vol_fail(ctx, r, "KMS '%s' could not remove the old DEK of %s: %s",
				     m->migrate_from, v->name, ok->error);
	}
	if (r == 0) {
		crashpoint("migrate:old-dek-removed");
		r = img_meta_remove(img, META_MIGRATE_FROM);
		if (r == -ENOENT)
			r = 0;
		else if (r < 0)
			r = vol_fail(ctx, r, "cannot remove %s of %s: %s", META_MIGRATE_FROM,
				     v->name, strerror(-r));
	}
	return r;
}

/* Bound to @to_kms already: what a stopped migrate left (the old keyslot, the old
 * entry's copy) goes. The DEK must open the volume. */
static int finish(struct pvenc_ctx *ctx, struct img *img, const struct vol *v, struct dry_run *dry,
		  struct migrate_result *res)
{
	_cleanup_secmem_ uint8_t *dek = NULL;
	struct open_opts none = { 0 };
	size_t len = 0;
	int r;

	r = vol_fetch_dek(ctx, &img->loc, &v->meta, &none, v->name, &dek, &len, NULL);
	if (r == 0 && len != DEK_LEN)
		r = vol_fail(ctx, -EBADMSG, "the DEK of %s has %zu bytes", v->name, len);
	if (r < 0)
		return r;
	res->dek_version = v->meta.dek_version;
	res->already = 1;
	if (dry) {
		(void)snprintf(dry->text, sizeof(dry->text),
			       "%s is bound to KMS '%s' already; would remove keyslots of earlier "
			       "DEKs%s%s%s",
			       v->name, v->meta.kms,
			       v->meta.migrate_from[0] ? " and the old DEK kept by KMS '" : "",
			       v->meta.migrate_from, v->meta.migrate_from[0] ? "'" : "");
		return 0;
	}
	r = vol_header_step(ctx, img, HEADER_KEEP_ONLY, NULL, dek, 0, v->name);
	if (r == 0)
		r = drop_old_kept(ctx, img, v, dek);
	return r;
}

int volume_migrate(struct pvenc_ctx *ctx, struct vol *v, const char *to_kms, struct dry_run *dry,
		   struct migrate_result *res)
{
	_cleanup_img_ struct img *img = NULL;
	_cleanup_kms_ struct kms *nk = NULL, *ok = NULL;
	_cleanup_secmem_ uint8_t *old = NULL, *dek = NULL;
	_cleanup_free_ char *wrapped = NULL;
	const struct vol_meta *m = &v->meta;
	struct open_opts none = { 0 };
	char cookie[40], from[META_KMS_MAX + META_ENDPOINT_MAX + 2];
	size_t len = 0;
	int r, locked;

	memset(res, 0, sizeof(*res));
	r = vol_keyop_begin(ctx, v, !!dry, &img, cookie, &locked);
	if (r < 0)
		goto out;
	(void)snprintf(res->was, sizeof(res->was), "%s", m->kms);
	if (strcmp(m->kms, to_kms) == 0) {
		r = finish(ctx, img, v, dry, res);
		goto out;
	}
	if (m->recovery && strcmp(to_kms, m->recovery_kms) == 0) {
		r = vol_fail(ctx, -EINVAL,
			     "KMS '%s' wraps the recovery key of %s: its DEK must stay under "
			     "another entry (one lost key would lose both)",
			     to_kms, v->name);
		goto out;
	}
	if (m->dek_next) {
		r = vol_fail(ctx, -EBUSY,
			     "%s has an interrupted rotation: finish it first (pvencctl rotate "
			     "--dek %s)",
			     v->name, v->name);
		goto out;
	}
	/* Only a volume that opens moves: the current DEK unlocks the new keyslot. */
	r = vol_fetch_dek(ctx, &img->loc, m, &none, v->name, &old, &len, NULL);
	if (r == 0 && len != DEK_LEN)
		r = vol_fail(ctx, -EBADMSG, "the DEK of %s has %zu bytes", v->name, len);
	if (r == 0 && vol_header_opens(ctx, img, v->name, m->uuid, old) == 0)
		r = vol_fail(ctx, -EKEYREJECTED,
			     "the DEK of %s does not open its LUKS2 header: it does not move "
			     "(pvencctl verify says why)",
			     v->name);
	if (r == 0)
		r = vol_open_kms(ctx, &v->dev.spec, m->kms, &ok);
	if (r == 0)
		r = vol_open_kms(ctx, &v->dev.spec, to_kms, &nk);
	if (r == 0)
		r = vol_random_key(ctx, &dek);
	if (r != 0)
		goto out;
	if (dry) {
		(void)snprintf(dry->text, sizeof(dry->text),
			       "would bind %s to KMS '%s' (%s) with a new DEK, unlocked from its "
			       "DEK from KMS '%s' (%s), and remove the old DEK's keyslot%s",
			       v->name, to_kms, kms_type(nk), m->kms, kms_type(ok),
			       kms_is_envelope(ok) ? "" : " and the old DEK kept by it");
		goto out;
	}
	/* A DEK the old entry keeps is removed after the switch: written down first, so a
	 * stop after the switch still knows where it is. */
	if (!kms_is_envelope(ok)) {
		(void)snprintf(from, sizeof(from), "%s %s", m->kms,
			       ok->endpoint ? ok->endpoint : "");
		r = vol_set_meta(ctx, img, META_MIGRATE_FROM, from);
		if (r < 0)
			goto out;
	}
	r = keep_proven(ctx, nk, img, v, old, &dek, &wrapped);
	if (r == 0) {
		crashpoint("migrate:dek-stored");
		r = vol_header_step(ctx, img, HEADER_ADD_KEY, old, dek, 0, v->name);
	}
	if (r == 0) {
		crashpoint("migrate:keyslot-added");
		r = vol_switch_kms(ctx, img, v, nk, wrapped, "migrate:switched", &res->dek_version);
	}
	if (r == 0)
		r = vol_header_step(ctx, img, HEADER_KEEP_ONLY, NULL, dek, 0, v->name);
	if (r == 0) {
		crashpoint("migrate:old-removed");
		vol_drop_local_cache(&img->loc.spec);
		if (!kms_is_envelope(ok)) {
			(void)snprintf(v->meta.migrate_from, sizeof(v->meta.migrate_from), "%s",
				       m->kms);
			(void)snprintf(v->meta.migrate_from_endpoint,
				       sizeof(v->meta.migrate_from_endpoint), "%s",
				       ok->endpoint ? ok->endpoint : "");
			r = drop_old_kept(ctx, img, v, dek);
		}
	}
	if (r == 0)
		log_info("image=%s event=migrated kms=%s was=%s dek-version=%" PRIu32, v->name,
			 to_kms, res->was, res->dek_version);
out:
	vol_keyop_end(v, img, cookie, locked);
	return r;
}
