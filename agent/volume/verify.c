// SPDX-License-Identifier: MIT
/*
 * Verify: everything an open needs except the activation, for a volume mapped or not
 * (cryptsetup's --test-passphrase for pvenc): the metadata, the KMS, the DEK, the
 * header policy and the keyslot the DEK opens. Run before a credential change, a KMS
 * migration or a reboot.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypt/luks.h"
#include "util/macro.h"
#include "util/secmem.h"
#include "volume/internal.h"

static int finding(struct verify_result *res, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int finding(struct verify_result *res, int level, const char *fmt, ...)
{
	va_list ap;

	res->level = level;
	va_start(ap, fmt);
	(void)vsnprintf(res->what, sizeof(res->what), fmt, ap);
	va_end(ap);
	return 0;
}

/* The recovery key, when the volume has one: "" if it opens the header (with its
 * authenticator), else why not, into @why. */
static void check_recovery(struct pvenc_ctx *ctx, const struct vol *v, const uint8_t *hdr,
			   char *why, size_t len)
{
	_cleanup_secmem_ uint8_t *key = NULL;
	char err[sizeof(ctx->err)];
	int r;

	why[0] = '\0';
	(void)snprintf(err, sizeof(err), "%s", ctx->err);
	r = vol_fetch_recovery(ctx, &v->head->loc, &v->meta, v->name, &key);
	if (r < 0)
		(void)snprintf(why, len, "%.600s", ctx->err);
	else if (luks_check_header(hdr, LUKS_HEADER_SIZE, v->meta.uuid, key, DEK_LEN, 1) < 0)
		(void)snprintf(why, len,
			       "the recovery key from KMS '%s' opens no keyslot of "
			       "pvenc's in the LUKS2 header",
			       v->meta.recovery_kms);
	(void)snprintf(ctx->err, sizeof(ctx->err), "%s", err);
}

/* The primary DEK's verdict, then the recovery key's: a recovery key that does not open
 * is a warning on a volume that opens; one that opens names the way out of a critical. */
static int with_recovery(struct pvenc_ctx *ctx, const struct vol *v, const uint8_t *hdr,
			 struct verify_result *res)
{
	char why[700], was[sizeof(res->what)];

	if (!v->meta.recovery || res->level == VERIFY_WARNING)
		return 0;
	check_recovery(ctx, v, hdr, why, sizeof(why));
	(void)snprintf(was, sizeof(was), "%s", res->what);
	if (res->level == VERIFY_OK && why[0])
		return finding(res, VERIFY_WARNING, "%s, but its recovery key does not: %s", was,
			       why);
	if (res->level == VERIFY_CRITICAL && !why[0])
		return finding(res, VERIFY_CRITICAL,
			       "%s; its recovery key (KMS '%s') opens it: pvencctl recover", was,
			       v->meta.recovery_kms);
	if (res->level == VERIFY_OK)
		return finding(res, VERIFY_OK, "%s, and so does its recovery key from KMS '%s'",
			       was, v->meta.recovery_kms);
	return 0;
}

/* The DEK's verdict on the header @hdr read from the image. */
static int check_dek(struct pvenc_ctx *ctx, const struct vol *v, const struct open_opts *o,
		     const uint8_t *hdr, struct verify_result *res)
{
	_cleanup_secmem_ uint8_t *dek = NULL;
	const struct vol_meta *m = &v->meta;
	struct dek_from from = { 0 };
	size_t deklen = 0;
	int r;

	r = vol_fetch_dek(ctx, &v->head->loc, m, o, v->name, &dek, &deklen, &from);
	if (r < 0)
		return finding(res, VERIFY_CRITICAL, "%s", ctx->err);
	/* A DEK the KMS proves bound (v2: wrapped, or kept as an owner record) comes with
	 * an authenticated header. */
	r = luks_check_header(hdr, LUKS_HEADER_SIZE, m->kind == VOL_PVENC ? m->uuid : NULL, dek,
			      deklen, from.bound);
	if (r == -ENODATA)
		return finding(res, VERIFY_CRITICAL, "no LUKS2 header on the image (overwritten?)");
	if (r == -ESTALE)
		return finding(res, VERIFY_CRITICAL, "the LUKS2 header has another UUID than %s",
			       m->uuid);
	if (r == -EMEDIUMTYPE)
		return finding(res, VERIFY_CRITICAL,
			       "the LUKS2 header is not one pvenc opens (settings or "
			       "authenticator)");
	if (r == -EPERM)
		return finding(res, VERIFY_CRITICAL,
			       "the DEK from KMS '%s' opens no keyslot of the LUKS2 header",
			       from.kms);
	if (r < 0)
		return vol_fail(ctx, r, "cannot check the LUKS2 header of %s: %s", v->name,
				strerror(-r));
	if (m->dek_next)
		return finding(res, VERIFY_WARNING,
			       "opens, but a DEK rotation did not finish (pvencctl rotate --dek)");
	if (m->kind == VOL_PVENC && !from.bound)
		return finding(res, VERIFY_WARNING,
			       "opens, but its DEK is bound to its UUID only (made by an earlier "
			       "pvenc): run pvencctl rebind");
	return finding(res, VERIFY_OK, "the DEK from KMS '%s' opens the LUKS2 header", from.kms);
}

/* 0 and the verdict in @res; <0 only when the check itself could not run. */
int volume_verify(struct pvenc_ctx *ctx, struct vol *v, const struct open_opts *o,
		  struct verify_result *res)
{
	_cleanup_free_ uint8_t *hdr = NULL;
	_cleanup_img_ struct img *img = NULL;
	const struct vol_meta *m = &v->meta;
	int r;

	memset(res, 0, sizeof(*res));
	r = vol_need(ctx, v, VOL_META);
	if (r < 0)
		return r;
	if (m->kind == VOL_PLAIN) {
		res->plain = 1;
		return finding(res, VERIFY_CRITICAL,
			       "not an encrypted volume (no pvenc or ceph-csi metadata)");
	}
	if (m->state != STATE_FORMATTED)
		return finding(res, VERIFY_CRITICAL,
			       "prepared but not formatted (an interrupted create or format)");
	r = vol_open_image(ctx, &v->dev.spec, 1, &img);
	if (r < 0)
		return r;
	hdr = malloc(LUKS_HEADER_SIZE);
	if (!hdr)
		return -ENOMEM;
	r = img_read(img, 0, LUKS_HEADER_SIZE, hdr);
	if (r < 0)
		return vol_fail(ctx, r, "cannot read %s: %s", v->name, strerror(-r));
	r = check_dek(ctx, v, o, hdr, res);
	return r < 0 ? r : with_recovery(ctx, v, hdr, res);
}

int volume_list_images(struct pvenc_ctx *ctx, struct image_spec **specs, size_t *n, size_t *odd)
{
	int r = pvenc_ctx_connect(ctx);

	if (r < 0)
		return r;
	r = cluster_list_images(ctx->conn, specs, n, odd);
	return r < 0 ? vol_fail(ctx, r, "cannot list the cluster's images: %s", strerror(-r)) : 0;
}
