// SPDX-License-Identifier: MIT
/*
 * Rebind (Documentation/security.md, "Key binding"): the operator's explicit step that
 * binds a volume's stored DEK to where the volume is now. It upgrades a volume made
 * before binding v2, takes a KMS-held key an earlier pvenc stored without an owner,
 * and, with --from, accepts a volume moved or copied from another pool or namespace.
 * The DEK itself never changes, and nothing is rebound unless the DEK opens the
 * volume's own LUKS2 header.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util/log.h"
#include "util/macro.h"
#include "util/secmem.h"
#include "volume/internal.h"

/* How looking for the DEK ended (@r); a refusal that a move explains names --from
 * unless @no_hint. */
static int found(struct pvenc_ctx *ctx, const struct vol *v, const char *how, struct kms *k, int r,
		 int no_hint, size_t len)
{
	if (r < 0)
		return vol_fail(ctx, r, "cannot %s the DEK of %s with KMS '%s': %s%s", how, v->name,
				v->meta.kms, k->error,
				no_hint ? ""
					: " (moved or copied from another pool? pass --from "
					  "POOL[/NAMESPACE])");
	return len == DEK_LEN
		       ? 0
		       : vol_fail(ctx, -EBADMSG, "the DEK of %s has %zu bytes", v->name, len);
}

/* The wrapped DEK, wherever it was bound: here (v2 or v1), or in @from (v2). */
static int unwrap_from(struct pvenc_ctx *ctx, struct kms *k, struct img *img, const struct vol *v,
		       const char *from, uint8_t **dek, struct rebind_result *res)
{
	const struct vol_meta *m = &v->meta;
	struct kms_binding b = { .volume_id = m->uuid, .scope = from };
	size_t len = 0;
	int r, bound;

	r = vol_unwrap(k, &img->loc, m, m->dek, dek, &len, &bound);
	if (r == 0) {
		res->changed = !bound;
		(void)snprintf(res->was, sizeof(res->was), "%s",
			       bound ? "this pool" : "its UUID only");
	} else if (r == -EKEYREJECTED && from) {
		r = kms_unwrap(k, &b, m->dek, dek, &len);
		res->changed = 1;
		(void)snprintf(res->was, sizeof(res->was), "%s", from);
	}
	return found(ctx, v, "unwrap", k, r, from || r != -EKEYREJECTED, len);
}

/* The KMS-held DEK: this image's already, or one to claim (no owner, another image of
 * this scope, or an image of @from). */
static int fetch_from(struct pvenc_ctx *ctx, struct kms *k, struct img *img, const struct vol *v,
		      const char *from, uint8_t **dek, struct rebind_result *res)
{
	const struct vol_meta *m = &v->meta;
	char scope[VOL_SCOPE_MAX];
	struct kms_binding b;
	size_t len = 0;
	int r;

	vol_binding(&img->loc, m->uuid, 1, scope, &b);
	b.image = img->loc.id;
	b.strict = 1;
	r = kms_fetch(k, &b, dek, &len);
	if (r == -EPERM) {
		(void)snprintf(res->was, sizeof(res->was), "%s", k->error);
		res->changed = 1;
		b.image = NULL;
		b.strict = 0;
		if (from)
			b.scope = from;
		r = kms_fetch(k, &b, dek, &len);
	} else if (r == 0) {
		(void)snprintf(res->was, sizeof(res->was), "this image");
	}
	return found(ctx, v, "fetch", k, r, from || r != -EPERM, len);
}

/* Stores @dek bound to where the volume is now. */
static int bind_here(struct pvenc_ctx *ctx, struct kms *k, struct img *img, const struct vol *v,
		     const uint8_t *dek)
{
	_cleanup_free_ char *wrapped = NULL;
	const struct vol_meta *m = &v->meta;
	char scope[VOL_SCOPE_MAX];
	struct kms_binding b;
	int r;

	vol_binding(&img->loc, m->uuid, 1, scope, &b);
	if (m->dek) {
		r = kms_wrap(k, &b, dek, DEK_LEN, &wrapped);
	} else {
		b.image = img->loc.id;
		b.replace = b.claim = 1;
		r = kms_store(k, &b, dek, DEK_LEN);
	}
	if (r < 0)
		return vol_fail(ctx, r, "KMS '%s' could not %s the DEK of %s: %s", m->kms,
				m->dek ? "wrap" : "store", v->name, k->error);
	if (wrapped && (r = vol_set_meta(ctx, img, META_DEK, wrapped)) < 0)
		return r;
	return vol_set_meta(ctx, img, META_BINDING, "scope");
}

int volume_rebind(struct pvenc_ctx *ctx, struct vol *v, const char *from, struct rebind_result *res)
{
	_cleanup_img_ struct img *img = NULL;
	_cleanup_kms_ struct kms *k = NULL;
	_cleanup_secmem_ uint8_t *dek = NULL;
	char cookie[40];
	int r, busy = 0;

	memset(res, 0, sizeof(*res));
	if (from) {
		const char *sl = strchr(from, '/');
		size_t pl = sl ? (size_t)(sl - from) : strlen(from);

		if (image_spec_check_name(from, pl) < 0 ||
		    (sl && image_spec_check_name(sl + 1, strlen(sl + 1)) < 0))
			return vol_fail(ctx, -EINVAL, "--from wants POOL or POOL/NAMESPACE");
	}
	r = vol_need(ctx, v, VOL_IMAGE);
	if (r < 0)
		return r;
	r = vol_open_for_change(ctx, v, 0, &img, &k);
	if (r == 0)
		r = vol_take_lease(ctx, v, img, cookie, &busy);
	if (r < 0)
		return r;
	r = vol_read_meta(ctx, v, img_meta_getter, img);
	if (r == 0 && v->meta.dek_next)
		r = vol_fail(ctx, -EBUSY,
			     "a DEK rotation of %s did not finish; run 'pvencctl rotate --dek %s' "
			     "first",
			     v->name, v->name);
	if (r == 0)
		r = v->meta.dek ? unwrap_from(ctx, k, img, v, from, &dek, res)
				: fetch_from(ctx, k, img, v, from, &dek, res);
	/* The operator's word is not enough: the DEK must open this volume's own header. */
	if (r == 0) {
		r = vol_header_opens(ctx, img, v->name, v->meta.uuid, dek);
		if (r == 0)
			r = vol_fail(ctx, -EKEYREJECTED,
				     "the DEK found for %s does not open its LUKS2 header: not "
				     "rebinding",
				     v->name);
	}
	if (r > 0)
		r = 0;
	/* The header's authenticator before the binding that requires it. */
	if (r == 0 && (res->changed || !v->meta.bound))
		r = vol_header_authenticate(ctx, img, dek, v->name);
	if (r == 0 && (res->changed || !v->meta.bound))
		r = bind_here(ctx, k, img, v, dek);
	if (r == 0)
		log_notice("image=%s event=rebound kms=%s changed=%d was=\"%s\"", v->name,
			   v->meta.kms, res->changed, res->was);
	vol_drop_lease(img, cookie);
	vol_forget(v);
	return r;
}
