// SPDX-License-Identifier: MIT
/* Create and format: a new DEK from the KMS, a LUKS2 header written and verified,
 * committed in two phases (prepared, formatted) so a stop anywhere is finished by the
 * next format; encrypt-by-default formats plain, empty images of a policy pool. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <unistd.h>

#include "crypt/luks.h"
#include "crypt/probe.h"
#include "util/crashpoint.h"
#include "util/log.h"
#include "util/macro.h"
#include "util/secmem.h"
#include "volume/internal.h"

static void random_uuid(char out[META_UUID_LEN + 1])
{
	uint8_t b[16];

	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		abort(); /* the kernel CSPRNG does not fail once initialised */
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	(void)snprintf(out, META_UUID_LEN + 1,
		       "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
		       b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		       b[13], b[14], b[15]);
}

#define HEADER_CHUNK (64u << 10)

static int memnz(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 1;
	return 0;
}

static int write_header(struct pvenc_ctx *ctx, struct img *img, const char *label, const char *uuid,
			const uint8_t *dek, int fresh)
{
	struct luks_format_opts fo = { .uuid = uuid, .label = label };
	_cleanup_free_ uint8_t *hdr = NULL;
	_cleanup_free_ uint8_t *back = NULL;
	size_t used = LUKS_HEADER_SIZE;
	int r;

	r = luks_build_header(&fo, dek, DEK_LEN, &hdr, ctx->err, sizeof(ctx->err));
	if (r < 0)
		return r;
	/* Only the JSON copies and the keyslot hold data. A new image reads as zeros
	 * already: writing just those keeps it thin (16 MiB less per volume, times the
	 * replicas). An existing image gets the whole area, which wipes what was there,
	 * as cryptsetup does. */
	if (fresh)
		while (used > HEADER_CHUNK && !memnz(hdr + used - HEADER_CHUNK, HEADER_CHUNK))
			used -= HEADER_CHUNK;
	r = img_write(img, 0, used, hdr);
	if (r == 0)
		r = img_flush(img);
	if (r < 0)
		return vol_fail(ctx, r, "writing the LUKS2 header to the image failed: %s",
				strerror(-r));
	crashpoint("format:header-written");
	/* Read back and unlock before declaring the volume formatted. */
	back = malloc(LUKS_HEADER_SIZE);
	if (!back)
		return -ENOMEM;
	r = img_read(img, 0, LUKS_HEADER_SIZE, back);
	if (r < 0)
		return vol_fail(ctx, r, "reading back the LUKS2 header failed: %s", strerror(-r));
	r = luks_check_header(back, LUKS_HEADER_SIZE, uuid, dek, DEK_LEN, 1);
	if (r < 0)
		return vol_fail(ctx, -EIO,
				"the LUKS2 header read back from the image does not verify (%s)",
				strerror(-r));
	return 0;
}

/* The image's header area into *buf (malloc). */
static int read_area(struct pvenc_ctx *ctx, struct img *img, const char *name, uint8_t **buf)
{
	int r;

	*buf = malloc(LUKS_HEADER_SIZE);
	if (!*buf)
		return -ENOMEM;
	r = img_read(img, 0, LUKS_HEADER_SIZE, *buf);
	return r < 0 ? vol_fail(ctx, r, "cannot read %s: %s", name, strerror(-r)) : 0;
}

static int check_empty(struct pvenc_ctx *ctx, struct img *img, const char *name,
		       const char *uuid_ok, const uint8_t *dek)
{
	_cleanup_free_ uint8_t *buf = NULL;
	struct probe_result pr;
	int r;

	r = read_area(ctx, img, name, &buf);
	if (r < 0)
		return r;
	/* Resuming: our own (maybe partial) header is not foreign data, but one with our
	 * UUID that pvenc would never make was rewritten by someone: never format over it
	 * (a new header is a new volume key over the data). */
	r = uuid_ok && !memcmp(buf, "LUKS\xba\xbe", 6)
		    ? luks_check_header(buf, LUKS_HEADER_SIZE, uuid_ok, dek, DEK_LEN, 0)
		    : -ESTALE;
	if (r == -EMEDIUMTYPE) {
		char why[256] = "";

		(void)luks_header_check(buf, LUKS_HEADER_SIZE, LUKS_PVENC, why, sizeof(why));
		return vol_fail(ctx, r,
				"refusing to format %s: its LUKS2 header carries the volume's UUID "
				"but is not one pvenc makes (%s); someone with write access to the "
				"pool may have rewritten it. To overwrite it anyway: --force %s",
				name, why, name);
	}
	if (r != -ESTALE)
		return 0;
	r = probe_region(buf, LUKS_HEADER_SIZE, &pr);
	if (r < 0)
		return vol_fail(ctx, r, "probing %s for existing data failed: %s", name,
				strerror(-r));
	if (pr.type[0])
		return vol_fail(
			ctx, -ENOTEMPTY,
			"refusing to format %s: it holds a %s signature (%s); formatting would "
			"destroy it. To overwrite anyway: --force %s",
			name, pr.type, pr.usage[0] ? pr.usage : "data", name);
	if (pr.nonzero)
		return vol_fail(
			ctx, -ENOTEMPTY,
			"refusing to format %s: its first MiB holds non-zero data; formatting "
			"would destroy it. To overwrite anyway: --force %s",
			name, name);
	return 0;
}

/* The UUID an earlier, stopped format of @img left in its metadata with the same KMS
 * entry: 1 and @uuid filled, or 0 (none, or another KMS: then a DEK may be left there,
 * say so). Only a KMS that keeps keys can hold something for it, and only a key that
 * records this image as its owner is taken (new_dek): anyone who can write the image's
 * metadata can put another volume's UUID there. */
static int reserved_uuid(struct img *img, const char *name, const char *kms_id, char *uuid)
{
	_cleanup_free_ char *u = NULL, *kms = NULL;

	if (img_meta_get(img, META_UUID, &u) < 0 || !meta_valid_uuid(u))
		return 0;
	if (img_meta_get(img, META_KMS, &kms) < 0 || strcmp(kms, kms_id) != 0) {
		log_warn("image=%s event=format-kms-changed uuid=%s was=\"%s\" "
			 "msg=\"a stopped format may have left a DEK for volume %s in that KMS\"",
			 name, u, kms ? kms : "", u);
		return 0;
	}
	(void)snprintf(uuid, META_UUID_LEN + 1, "%s", u);
	return 1;
}

/* A KMS-held DEK a stopped format of this image stored under b->volume_id (it wrote no
 * header with it): 1 and *dek when there is one that records this image as its owner,
 * 0 when there is none or it is not this image's (then the caller takes a new UUID). */
static int reserved_dek(struct pvenc_ctx *ctx, struct kms *k, const struct kms_binding *b,
			const char *name, uint8_t **dek)
{
	size_t len = 0;
	int r = kms_fetch(k, b, dek, &len);

	if (r == 0 && len == DEK_LEN) {
		log_info("image=%s event=dek-reused uuid=%s", name, b->volume_id);
		return 1;
	}
	secmem_free(*dek);
	*dek = NULL;
	if (r == 0)
		return vol_fail(ctx, -EBADMSG,
				"KMS '%s' holds a %zu-byte key for volume %s, not a %d-byte "
				"DEK; remove it or format with another KMS entry",
				k->id, len, b->volume_id, DEK_LEN);
	if (r == -EPERM) {
		log_warn("image=%s event=format-uuid-not-ours uuid=%s msg=\"%s; taking a new "
			 "UUID\"",
			 name, b->volume_id, k->error);
		return 0;
	}
	if (r != -ENOKEY && r != -ENOENT)
		return vol_fail(ctx, r, "KMS '%s' could not be asked for volume %s: %s", k->id,
				b->volume_id, k->error);
	return 0;
}

/* The DEK of a new volume: wrapped for metadata by an envelope KMS, or kept by the KMS
 * with this image recorded as its owner. */
static int new_dek(struct pvenc_ctx *ctx, struct kms *k, const struct kms_binding *b, uint8_t **dek,
		   char **wrapped)
{
	int r;

	*dek = secmem_alloc(DEK_LEN);
	if (!*dek)
		return -ENOMEM;
	if (getrandom(*dek, DEK_LEN, 0) != DEK_LEN)
		return vol_fail(ctx, -EIO, "getrandom failed");
	if (kms_is_envelope(k))
		r = kms_wrap(k, b, *dek, DEK_LEN, wrapped);
	else
		r = kms_store(k, b, *dek, DEK_LEN);
	if (r < 0)
		return vol_fail(ctx, r, "KMS '%s' could not %s the new DEK: %s", k->id,
				kms_is_envelope(k) ? "wrap" : "store", k->error);
	return 0;
}

/* What the two ways into phase 2 (the header) hand over: the KMS, the UUID, the DEK. */
struct phase1 {
	struct kms *k;
	char uuid[META_UUID_LEN + 1];
	uint8_t *dek; /* secmem, DEK_LEN bytes */
	int keep_header; /* resumed, and the image's header already opens with dek */
};

int vol_header_opens(struct pvenc_ctx *ctx, struct img *img, const char *name, const char *uuid,
		     const uint8_t *dek)
{
	_cleanup_free_ uint8_t *buf = NULL;
	int r = read_area(ctx, img, name, &buf);

	return r < 0 ? r : luks_check_header(buf, LUKS_HEADER_SIZE, uuid, dek, DEK_LEN, 0) == 0;
}

/* Resumes an interrupted format with the DEK already stored: never a new key, and
 * only a KMS-held key that records this image as its owner. */
static int resume_prepared(struct pvenc_ctx *ctx, struct vol *v, struct img *img,
			   const char *kms_id, int force, struct phase1 *p)
{
	const struct vol_meta *m = &v->meta;
	const char *name = v->name;
	char scope[VOL_SCOPE_MAX];
	struct kms_binding b;
	size_t deklen = 0;
	int r;

	if (kms_id && strcmp(kms_id, m->kms) != 0)
		return vol_fail(ctx, -EINVAL, "image %s was prepared with KMS '%s', not '%s'", name,
				m->kms, kms_id);
	r = vol_open_kms(ctx, &v->dev.spec, m->kms, &p->k);
	if (r < 0)
		return r;
	/* A format stopped by an earlier pvenc wrapped its DEK with binding v1. */
	vol_binding(&img->loc, m->uuid, m->bound || !m->dek, scope, &b);
	b.image = img->loc.id;
	b.strict = 1;
	if (m->dek)
		r = kms_unwrap(p->k, &b, m->dek, &p->dek, &deklen);
	else if (!kms_is_envelope(p->k))
		r = kms_fetch(p->k, &b, &p->dek, &deklen);
	else
		return vol_fail(ctx, -EBADMSG, "image %s is prepared but has no wrapped DEK", name);
	if (r < 0)
		return vol_fail(ctx, r, "cannot %s the DEK of %s with KMS '%s': %s",
				m->dek ? "unwrap" : "fetch", name, m->kms, p->k->error);
	if (deklen != DEK_LEN)
		return vol_fail(ctx, -EBADMSG, "the unwrapped DEK of %s has %zu bytes, not %d",
				name, deklen, DEK_LEN);
	(void)snprintf(p->uuid, sizeof(p->uuid), "%s", m->uuid);
	/* A header that opens with this DEK is the volume's own and complete: kept, even
	 * with --force. A new one would be a new volume key over the data, and anyone who
	 * can write the image's metadata can flip a formatted volume back to "prepared". */
	r = vol_header_opens(ctx, img, name, p->uuid, p->dek);
	if (r < 0)
		return r;
	p->keep_header = r;
	if (!force && !p->keep_header) {
		r = check_empty(ctx, img, name, p->uuid, p->dek);
		if (r < 0)
			return r;
	}
	log_info("image=%s event=format-resume kms=%s header=%s", name, m->kms,
		 p->keep_header ? "kept" : "new");
	return 0;
}

/* Phase 1 of a new format: the UUID first, so that a DEK the KMS keeps is always
 * findable from the image; then the DEK; then state=prepared as the commit. A new
 * format takes a new random UUID, except that a KMS which keeps keys may hold one
 * that an earlier, stopped format of this same image stored (reserved_dek). */
static int prepare(struct pvenc_ctx *ctx, struct vol *v, struct img *img, const char *kms_id,
		   int force, struct phase1 *p)
{
	_cleanup_free_ char *wrapped = NULL;
	const char *name = v->name;
	char scope[VOL_SCOPE_MAX];
	struct kms_binding b;
	int r, reserved;

	if (!kms_id)
		return vol_fail(ctx, -EINVAL, "--kms ID is required to format %s", name);
	if (!force) {
		r = check_empty(ctx, img, name, NULL, NULL);
		if (r < 0)
			return r;
	}
	r = vol_open_kms(ctx, &v->dev.spec, kms_id, &p->k);
	if (r < 0)
		return r;
	reserved = reserved_uuid(img, name, kms_id, p->uuid) && !kms_is_envelope(p->k);
	if (!reserved)
		random_uuid(p->uuid);
	vol_binding(&img->loc, p->uuid, 1, scope, &b);
	b.image = img->loc.id;
	b.strict = 1;
	if ((r = vol_set_meta(ctx, img, META_FORMAT, "1")) < 0 ||
	    (r = vol_set_meta(ctx, img, META_KMS, kms_id)) < 0 ||
	    (r = vol_set_meta(ctx, img, META_ENDPOINT, p->k->endpoint ? p->k->endpoint : "")) < 0 ||
	    (r = vol_set_meta(ctx, img, META_BINDING, "scope")) < 0)
		return r;
	if (reserved) {
		r = reserved_dek(ctx, p->k, &b, name, &p->dek);
		if (r < 0)
			return r;
		if (r == 0)
			random_uuid(p->uuid);
		else
			log_info("image=%s event=format-again uuid=%s", name, p->uuid);
	}
	r = vol_set_meta(ctx, img, META_UUID, p->uuid);
	if (r < 0)
		return r;
	if (!p->dek) {
		r = new_dek(ctx, p->k, &b, &p->dek, &wrapped);
		if (r < 0)
			return r;
	}
	crashpoint("format:dek-stored");
	if (wrapped && (r = vol_set_meta(ctx, img, META_DEK, wrapped)) < 0)
		return r;
	crashpoint("format:before-prepared");
	r = vol_set_meta(ctx, img, META_STATE, "prepared");
	if (r < 0)
		return r;
	crashpoint("format:prepared");
	log_info("image=%s event=prepared kms=%s uuid=%s", name, kms_id, p->uuid);
	return 0;
}

/* --dry-run of a format: the checks of prepare (or of a resume) and no write. */
static int format_plan(struct pvenc_ctx *ctx, struct vol *v, struct img *img,
		       const struct format_opts *o, int force, uint64_t size)
{
	_cleanup_kms_ struct kms *k = NULL;
	const char *kms_id = v->meta.state == STATE_PREPARED ? v->meta.kms : o->kms_id;
	int r;

	if (!kms_id || !*kms_id)
		return vol_fail(ctx, -EINVAL, "--kms ID is required to format %s", v->name);
	if (v->meta.state != STATE_PREPARED && !force) {
		r = check_empty(ctx, img, v->name, NULL, NULL);
		if (r < 0)
			return r;
	}
	r = vol_open_kms(ctx, &v->dev.spec, kms_id, &k);
	if (r < 0)
		return r;
	if (v->meta.state == STATE_PREPARED)
		(void)snprintf(o->dry->text, sizeof(o->dry->text),
			       "would finish the interrupted format of %s with the DEK it already "
			       "has in KMS '%s' (%s): a LUKS2 header, then state formatted",
			       v->name, kms_id, kms_type(k));
	else
		(void)snprintf(
			o->dry->text, sizeof(o->dry->text),
			"would format %s (%llu bytes%s) with a new DEK from KMS '%s' (%s%s%s): "
			"a LUKS2 header (aes-xts-plain64, 512-bit key, 4096-byte sectors) in "
			"its first 16 MiB",
			v->name, (unsigned long long)size,
			force ? ", overwriting its data: --force" : "", kms_id, kms_type(k),
			k->endpoint ? " at " : "", k->endpoint ? k->endpoint : "");
	return 0;
}

static int format_image(struct pvenc_ctx *ctx, struct vol *v, struct img *img,
			const struct format_opts *o, int force)
{
	struct phase1 p = { 0 };
	uint64_t size;
	int r;

	r = img_size(img, &size);
	if (r < 0)
		return r;
	if (size < LUKS_MIN_IMAGE_SIZE)
		return vol_fail(ctx, -ENOSPC,
				"image %s is %llu bytes; pvenc needs at least %llu (16 MiB LUKS2 "
				"header + 1 MiB)",
				v->name, (unsigned long long)size,
				(unsigned long long)LUKS_MIN_IMAGE_SIZE);
	if (o->dry)
		return format_plan(ctx, v, img, o, force, size);
	r = v->meta.state == STATE_PREPARED ? resume_prepared(ctx, v, img, o->kms_id, force, &p)
					    : prepare(ctx, v, img, o->kms_id, force, &p);
	/* Phase 2: the LUKS2 header, verified, then state=formatted as the commit. */
	if (r == 0 && !p.keep_header)
		r = write_header(ctx, img, v->name, p.uuid, p.dek, o->fresh);
	if (r == 0) {
		crashpoint("format:header-verified");
		r = vol_set_meta(ctx, img, META_STATE, "formatted");
	}
	if (r == 0) {
		crashpoint("format:formatted");
		log_info("image=%s event=formatted kms=%s uuid=%s", v->name, p.k ? p.k->id : "",
			 p.uuid);
	}
	secmem_free(p.dek);
	kms_free(p.k);
	return r;
}

int volume_format(struct pvenc_ctx *ctx, struct vol *v, const struct format_opts *o)
{
	_cleanup_img_ struct img *img = NULL;
	int r, force;

	r = vol_need(ctx, v, VOL_IMAGE);
	if (r < 0)
		return r;
	force = o->force && !strcmp(o->force, v->name);
	if (o->force && !force)
		return vol_fail(ctx, -EINVAL,
				"--force must repeat the image name exactly: --force %s", v->name);
	/* What a metadata read before found is stale once this writes. */
	vol_forget(v);
	r = vol_open_image(ctx, &v->dev.spec, 0, &img);
	if (r < 0)
		return r;
	r = vol_read_meta(ctx, v, img_meta_getter, img);
	if (r == 0 && v->meta.kind == VOL_CEPHCSI)
		r = vol_fail(
			ctx, -EEXIST,
			"image %s is already encrypted by ceph-csi; open it with pvencctl open",
			v->name);
	else if (r == 0 && v->meta.state == STATE_FORMATTED)
		r = vol_fail(ctx, -EEXIST,
			     "image %s is already a formatted pvenc volume; pvenc never formats a "
			     "volume twice",
			     v->name);
	else if (r == 0)
		r = format_image(ctx, v, img, o, force);
	vol_forget(v);
	return r;
}

/* A create whose format failed before anything was stored (no pvenc.state: the KMS
 * refused, say) removes its new, empty image again, so that the operator can simply
 * run the same create once the cause is fixed. A prepared image stays: it holds a DEK
 * and `pvencctl format` finishes it. ctx->err keeps the format's error. */
static void undo_create(struct pvenc_ctx *ctx, const struct image_spec *spec, const char *name)
{
	_cleanup_free_ char *state = NULL;
	struct img *img = NULL;
	int r;

	if (img_open(ctx->conn, spec, 1, &img) < 0)
		return;
	r = img_meta_get(img, META_STATE, &state);
	img_close(img);
	if (r != -ENOENT)
		return;
	if (img_remove(ctx->conn, spec) == 0)
		log_info("image=%s event=create-undone", name);
}

int volume_create(struct pvenc_ctx *ctx, struct vol *v, uint64_t size, const struct format_opts *o)
{
	_cleanup_kms_ struct kms *k = NULL;
	struct format_opts fo;
	int r;

	r = vol_need(ctx, v, VOL_IMAGE);
	if (r < 0)
		return r;
	if (!o->kms_id)
		return vol_fail(ctx, -EINVAL, "--kms ID is required");
	if (size < LUKS_MIN_IMAGE_SIZE)
		return vol_fail(ctx, -EINVAL,
				"--size must be at least %llu MiB (16 MiB go to the LUKS2 header)",
				(unsigned long long)(LUKS_MIN_IMAGE_SIZE >> 20));
	/* Check the KMS entry before creating anything. */
	r = vol_open_kms(ctx, &v->dev.spec, o->kms_id, &k);
	if (r < 0)
		return r;
	r = pvenc_ctx_connect(ctx);
	if (r < 0)
		return r;
	if (o->dry) {
		_cleanup_img_ struct img *img = NULL;

		r = vol_open_image(ctx, &v->dev.spec, 1, &img);
		if (r == 0)
			return vol_fail(
				ctx, -EEXIST,
				"image %s already exists; use pvencctl format for an existing "
				"empty image",
				v->name);
		if (r != -ENOENT)
			return r;
		(void)snprintf(o->dry->text, sizeof(o->dry->text),
			       "would create %s (%llu bytes) and format it with a new DEK from KMS "
			       "'%s' (%s%s%s)",
			       v->name, (unsigned long long)size, o->kms_id, kms_type(k),
			       k->endpoint ? " at " : "", k->endpoint ? k->endpoint : "");
		return 0;
	}
	r = img_create(ctx->conn, &v->dev.spec, size);
	if (r == -EEXIST)
		return vol_fail(
			ctx, r,
			"image %s already exists; use pvencctl format for an existing empty image",
			v->name);
	if (r < 0)
		return vol_fail(ctx, r, "cannot create image %s: %s", v->name, strerror(-r));
	log_info("image=%s event=created size=%llu", v->name, (unsigned long long)size);
	crashpoint("create:created");
	fo = *o;
	fo.fresh = 1;
	r = volume_format(ctx, v, &fo);
	if (r < 0)
		undo_create(ctx, &v->dev.spec, v->name);
	return r;
}

int volume_format_by_policy(struct pvenc_ctx *ctx, struct vol *v)
{
	struct format_opts fo = { 0 };
	struct dry_run dry = { "" };
	_cleanup_close_ int fd = -1;
	int r, dry_run = 0;

	r = vol_need(ctx, v, VOL_MAPPED);
	if (r < 0)
		return r;
	if (v->dev.spec.snap[0])
		return 0;
	fo.kms_id = config_policy_kms(&ctx->cfg, v->dev.spec.pool, v->dev.spec.ns, &dry_run);
	if (!fo.kms_id)
		return 0;
	r = vol_need(ctx, v, VOL_META);
	if (r < 0)
		return r;
	if (v->meta.kind != VOL_PLAIN)
		return 0;
	if (dry_run) {
		/* Says what the setting would do, and leaves the image as it is (plain). */
		fo.dry = &dry;
		r = volume_format(ctx, v, &fo);
		if (r == 0)
			log_notice("image=%s event=would-format-by-policy kms=%s plan=\"%s\"",
				   v->name, fo.kms_id, dry.text);
		else
			log_notice("image=%s event=would-not-format-by-policy kms=%s error=\"%s\"",
				   v->name, fo.kms_id, ctx->err);
		ctx->err[0] = '\0';
		return 0;
	}
	r = volume_format(ctx, v, &fo);
	if (r < 0)
		return r;
	/* udev's probe may have cached the old first blocks of /dev/rbdN. */
	fd = open(v->dev.path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		(void)ioctl(fd, BLKFLSBUF, 0);
	log_info("image=%s event=formatted-by-policy kms=%s", v->name, fo.kms_id);
	return 1;
}
