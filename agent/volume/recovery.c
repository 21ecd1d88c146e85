// SPDX-License-Identifier: MIT
/*
 * The recovery key (Documentation/recovery.md): a second random 256-bit secret that
 * opens a keyslot of its own, wrapped by another KMS entry than the volume's (an
 * offline key file, a PKCS#11 token, a second Vault) and bound to the volume as its
 * DEK is, with "<uuid>.recovery" in place of the UUID so that neither wrapped key
 * stands in for the other. Rotation keeps its keyslot (the "pvenc-recovery" token).
 * `pvencctl recover` opens the volume with it (open.c, open_opts.recovery), or binds
 * the volume to a new primary KMS entry: a new DEK and keyslot, the metadata switched
 * to it, the lost DEK's keyslot removed. The agent never uses it on its own.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "crypt/luks.h"
#include "util/crashpoint.h"
#include "util/log.h"
#include "util/macro.h"
#include "util/secmem.h"
#include "volume/internal.h"

#define RECOVERY_ID_MAX (META_UUID_LEN + sizeof(".recovery"))

static void recovery_binding(const struct img_loc *loc, const char *uuid, char *id, char *scope,
			     struct kms_binding *b)
{
	(void)snprintf(id, RECOVERY_ID_MAX, "%s.recovery", uuid);
	vol_binding(loc, id, 1, scope, b);
}

/* The KMS entry @id as a recovery key's: one that wraps, at @endpoint when it is given
 * (the one recorded with the key: credentials never go elsewhere). */
static int recovery_kms(struct pvenc_ctx *ctx, const struct image_spec *spec, const char *id,
			const char *endpoint, struct kms **k)
{
	int r = vol_open_kms(ctx, spec, id, k);

	if (r < 0)
		return r;
	if (!kms_is_envelope(*k))
		return vol_fail(ctx, -EOPNOTSUPP,
				"KMS '%s' (%s) keeps keys instead of wrapping them; a recovery key "
				"needs an entry that wraps (keyfile, passphrase, vault-transit, "
				"kmip, pkcs11)",
				id, kms_type(*k));
	if (endpoint && strcmp(endpoint, (*k)->endpoint ? (*k)->endpoint : "") != 0)
		return vol_fail(ctx, -EPERM,
				"the recovery key was wrapped by KMS '%s' at endpoint '%s', but "
				"that KMS id is now configured with endpoint '%s'; refusing to use "
				"it",
				id, endpoint, (*k)->endpoint ? (*k)->endpoint : "");
	return 0;
}

int volume_recovery_usable(struct pvenc_ctx *ctx, const struct vol *v, const char *kms_id,
			   const char *primary)
{
	_cleanup_kms_ struct kms *k = NULL;

	if (primary && strcmp(primary, kms_id) == 0)
		return vol_fail(
			ctx, -EINVAL,
			"the recovery key of %s must be wrapped by another KMS entry than its "
			"DEK ('%s'): one lost key would lose both",
			v->name, primary);
	return recovery_kms(ctx, &v->dev.spec, kms_id, NULL, &k);
}

int vol_fetch_recovery(struct pvenc_ctx *ctx, const struct img_loc *loc, const struct vol_meta *m,
		       const char *name, uint8_t **key)
{
	_cleanup_kms_ struct kms *k = NULL;
	char id[RECOVERY_ID_MAX], scope[VOL_SCOPE_MAX];
	struct kms_binding b;
	size_t len = 0;
	int r;

	if (m->kind != VOL_PVENC || !m->recovery)
		return vol_fail(ctx, -ENOKEY,
				"%s has no recovery key (pvencctl recovery set POOL/IMAGE --kms ID "
				"adds one while the volume still opens)",
				name);
	r = recovery_kms(ctx, &loc->spec, m->recovery_kms, m->recovery_endpoint, &k);
	if (r < 0)
		return r;
	recovery_binding(loc, m->uuid, id, scope, &b);
	r = kms_unwrap(k, &b, m->recovery, key, &len);
	if (r < 0)
		return vol_fail(ctx, r, "cannot unwrap the recovery key of %s with KMS '%s': %s",
				name, m->recovery_kms, k->error);
	if (len != DEK_LEN) {
		secmem_free(*key);
		*key = NULL;
		return vol_fail(ctx, -EBADMSG, "the recovery key of %s has %zu bytes", name, len);
	}
	return 0;
}

int volume_recovery_set(struct pvenc_ctx *ctx, struct vol *v, const char *kms_id,
			struct dry_run *dry)
{
	_cleanup_img_ struct img *img = NULL;
	_cleanup_kms_ struct kms *rk = NULL;
	_cleanup_secmem_ uint8_t *dek = NULL, *key = NULL;
	_cleanup_free_ char *wrapped = NULL;
	const struct vol_meta *m = &v->meta;
	char id[RECOVERY_ID_MAX], scope[VOL_SCOPE_MAX], cookie[40];
	struct open_opts none = { 0 };
	struct kms_binding b;
	size_t deklen = 0;
	int r, locked;

	r = vol_keyop_begin(ctx, v, !!dry, &img, cookie, &locked);
	if (r == 0)
		r = volume_recovery_usable(ctx, v, kms_id, m->kms);
	if (r == 0)
		r = recovery_kms(ctx, &v->dev.spec, kms_id, NULL, &rk);
	/* Only while the volume opens: the recovery keyslot is unlocked from the DEK's. */
	if (r == 0)
		r = vol_fetch_dek(ctx, &img->loc, m, &none, v->name, &dek, &deklen, NULL);
	if (r == 0)
		r = vol_random_key(ctx, &key);
	if (r == 0) {
		recovery_binding(&img->loc, m->uuid, id, scope, &b);
		r = kms_wrap(rk, &b, key, DEK_LEN, &wrapped);
		if (r < 0)
			r = vol_fail(ctx, r, "KMS '%s' could not wrap the recovery key of %s: %s",
				     kms_id, v->name, rk->error);
	}
	if (r == 0 && dry) {
		(void)snprintf(dry->text, sizeof(dry->text),
			       "would give %s a recovery key wrapped by KMS '%s' (%s)%s%s%s; the "
			       "DEK from KMS '%s' opens the volume and KMS '%s' wraps",
			       v->name, kms_id, kms_type(rk),
			       m->recovery ? ", replacing the one wrapped by KMS '" : "",
			       m->recovery ? m->recovery_kms : "", m->recovery ? "'" : "", m->kms,
			       kms_id);
		goto out;
	}
	/* The keyslot first, the metadata that names it last: a stop in between leaves the
	 * volume opening with its DEK, and running the command again finishes. */
	if (r == 0)
		r = vol_header_step(ctx, img, HEADER_ADD_KEY, dek, key, LUKS_KEY_TO_RECOVERY,
				    v->name);
	if (r == 0) {
		crashpoint("recovery:keyslot-added");
		vol_drop_local_cache(&img->loc.spec);
		r = vol_set_meta(ctx, img, META_RECOVERY_KEY, wrapped);
	}
	if (r == 0)
		r = vol_set_meta(ctx, img, META_RECOVERY_ENDPOINT,
				 rk->endpoint ? rk->endpoint : "");
	if (r == 0)
		r = vol_set_meta(ctx, img, META_RECOVERY_KMS, kms_id);
	if (r == 0)
		log_info("image=%s event=recovery-set recovery-kms=%s", v->name, kms_id);
out:
	vol_keyop_end(v, img, cookie, locked);
	return r;
}

int volume_recovery_remove(struct pvenc_ctx *ctx, struct vol *v, struct dry_run *dry)
{
	static const char *const keys[] = { META_RECOVERY_KMS, META_RECOVERY_ENDPOINT,
					    META_RECOVERY_KEY };
	_cleanup_img_ struct img *img = NULL;
	_cleanup_secmem_ uint8_t *dek = NULL;
	const struct vol_meta *m = &v->meta;
	struct open_opts none = { 0 };
	char cookie[40];
	size_t deklen = 0;
	int r, locked;

	r = vol_keyop_begin(ctx, v, !!dry, &img, cookie, &locked);
	/* Never the way back without the way in working. */
	if (r == 0)
		r = vol_fetch_dek(ctx, &img->loc, m, &none, v->name, &dek, &deklen, NULL);
	if (r == 0 && dry) {
		(void)snprintf(dry->text, sizeof(dry->text),
			       "would remove the recovery key%s%s%s of %s; its DEK from KMS '%s' "
			       "opens it",
			       m->recovery ? " wrapped by KMS '"
					   : " (none recorded, a keyslot may be)",
			       m->recovery ? m->recovery_kms : "", m->recovery ? "'" : "", v->name,
			       m->kms);
		goto out;
	}
	/* The metadata first (KMS id first: a part of it is no recovery key), then the
	 * keyslot it named. */
	for (size_t i = 0; r == 0 && i < ARRAY_SIZE(keys); i++) {
		r = img_meta_remove(img, keys[i]);
		if (r == -ENOENT)
			r = 0;
		else if (r < 0)
			r = vol_fail(ctx, r, "cannot remove %s of %s: %s", keys[i], v->name,
				     strerror(-r));
	}
	if (r == 0)
		r = vol_header_step(ctx, img, HEADER_DROP_RECOVERY, NULL, dek, 0, v->name);
	if (r == 0) {
		vol_drop_local_cache(&img->loc.spec);
		log_info("image=%s event=recovery-removed", v->name);
	}
out:
	vol_keyop_end(v, img, cookie, locked);
	return r;
}

int volume_recover(struct pvenc_ctx *ctx, struct vol *v, const char *to_kms, struct dry_run *dry,
		   struct recover_result *res)
{
	_cleanup_img_ struct img *img = NULL;
	_cleanup_kms_ struct kms *nk = NULL;
	_cleanup_secmem_ uint8_t *key = NULL, *dek = NULL;
	_cleanup_free_ char *wrapped = NULL;
	const struct vol_meta *m = &v->meta;
	char cookie[40];
	int r, locked;

	memset(res, 0, sizeof(*res));
	r = vol_keyop_begin(ctx, v, !!dry, &img, cookie, &locked);
	if (r == 0 && m->recovery && strcmp(to_kms, m->recovery_kms) == 0)
		r = vol_fail(ctx, -EINVAL,
			     "KMS '%s' wraps the recovery key of %s: the new primary entry must "
			     "be another one",
			     to_kms, v->name);
	if (r == 0)
		r = vol_fetch_recovery(ctx, &img->loc, m, v->name, &key);
	if (r == 0 && vol_header_opens(ctx, img, v->name, m->uuid, key) == 0)
		r = vol_fail(ctx, -EKEYREJECTED,
			     "the recovery key of %s does not open its LUKS2 header (restore the "
			     "header from a backup first: pvencctl header restore)",
			     v->name);
	if (r == 0)
		r = vol_open_kms(ctx, &v->dev.spec, to_kms, &nk);
	if (r == 0)
		r = vol_random_key(ctx, &dek);
	if (r == 0 && dry) {
		(void)snprintf(dry->text, sizeof(dry->text),
			       "would bind %s to KMS '%s' (%s) with a new DEK, unlocked from its "
			       "recovery key (KMS '%s', which opens the header), and remove the "
			       "keyslot of its DEK from KMS '%s'",
			       v->name, to_kms, kms_type(nk), m->recovery_kms, m->kms);
		goto out;
	}
	if (r == 0)
		r = vol_keep_new_dek(ctx, nk, img, v, dek, &wrapped);
	if (r == 0) {
		crashpoint("recover:dek-stored");
		r = vol_header_step(ctx, img, HEADER_ADD_KEY, key, dek, LUKS_KEY_FROM_RECOVERY,
				    v->name);
	}
	if (r == 0) {
		crashpoint("recover:keyslot-added");
		r = vol_switch_kms(ctx, img, v, nk, wrapped, "recover:switched", &res->dek_version);
	}
	/* The lost DEK's keyslot goes; the recovery key's stays. */
	if (r == 0)
		r = vol_header_step(ctx, img, HEADER_KEEP_ONLY, NULL, dek, 0, v->name);
	if (r == 0) {
		vol_drop_local_cache(&img->loc.spec);
		(void)snprintf(res->was, sizeof(res->was), "%s", m->kms);
		log_info("image=%s event=recovered kms=%s was=%s recovery-kms=%s "
			 "dek-version=%" PRIu32,
			 v->name, to_kms, m->kms, m->recovery_kms, res->dek_version);
	}
out:
	vol_keyop_end(v, img, cookie, locked);
	return r;
}
