// SPDX-License-Identifier: MIT
#include "volume/volume.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "crypt/luks.h"
#include "crypt/probe.h"
#include "kms/kms.h"
#include "store/rbdmeta.h"
#include "util/crashpoint.h"
#include "volume/internal.h"
#include "volume/kstat.h"
#include "util/log.h"
#include "util/secmem.h"

int vol_fail(struct pvenc_ctx *ctx, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(ctx->err, sizeof(ctx->err), fmt, ap);
	va_end(ap);
	return r;
}

void pvenc_ctx_init(struct pvenc_ctx *ctx, const struct pvenc_config *cfg)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->cfg = *cfg;
}

void pvenc_ctx_done(struct pvenc_ctx *ctx)
{
	if (!ctx->shared_conn)
		rbd_conn_close(ctx->conn);
	ctx->conn = NULL;
}

void pvenc_ctx_share(struct pvenc_ctx *ctx, struct rbd_conn *conn)
{
	ctx->conn = conn;
	ctx->shared_conn = 1;
}

int pvenc_ctx_connect(struct pvenc_ctx *ctx)
{
	struct ceph_opts o = {
		.conf = ctx->cfg.ceph_conf[0] ? ctx->cfg.ceph_conf : NULL,
		.id = ctx->cfg.ceph_id[0] ? ctx->cfg.ceph_id : NULL,
	};

	if (ctx->conn)
		return 0;
	return rbd_conn_open(&o, &ctx->conn, ctx->err, sizeof(ctx->err));
}

/* @ro: 1 read-only, 0 read-write, -1 metadata only (rbd_img_open_meta). */
static int open_image(struct pvenc_ctx *ctx, const struct image_spec *spec, int ro,
		      struct rbd_img **img)
{
	char name[4 * (SPEC_NAME_MAX + 1)];
	struct image_spec head = *spec;
	int r;

	r = pvenc_ctx_connect(ctx);
	if (r < 0)
		return r;
	head.snap[0] = '\0'; /* metadata lives on the image head */
	r = ro < 0 ? rbd_img_open_meta(ctx->conn, &head, img)
		   : rbd_img_open(ctx->conn, &head, ro, img);
	if (r < 0) {
		(void)image_spec_format(&head, name, sizeof(name));
		if (r == -ENOENT)
			return vol_fail(ctx, r,
					"image %s does not exist (or its pool/namespace does not)",
					name);
		if (r == -E2BIG)
			return vol_fail(ctx, -EBADMSG,
					"image %s has invalid encryption metadata: more than 64 "
					"keys under one of pvenc.*, rbd.csi.ceph.com/*",
					name);
		return vol_fail(ctx, r, "cannot open image %s: %s", name, strerror(-r));
	}
	return 0;
}

int vol_open_image(struct pvenc_ctx *ctx, const struct image_spec *spec, int ro,
		   struct rbd_img **img)
{
	return open_image(ctx, spec, !!ro, img);
}

int vol_open_meta(struct pvenc_ctx *ctx, const struct image_spec *spec, struct rbd_img **img)
{
	return open_image(ctx, spec, -1, img);
}

int vol_open_kms(struct pvenc_ctx *ctx, const struct image_spec *spec, const char *id,
		 struct kms **k)
{
	return kms_open(ctx->cfg.kms_config, id, spec ? spec->pool : NULL, spec ? spec->ns : NULL,
			k, ctx->err, sizeof(ctx->err));
}

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

/* ---- format ---- */

#define HEADER_CHUNK (64u << 10)

static int memnz(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 1;
	return 0;
}

static int write_header(struct pvenc_ctx *ctx, struct rbd_img *img, const char *label,
			const char *uuid, const uint8_t *dek, int fresh)
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
	r = rbd_img_write(img, 0, used, hdr);
	if (r == 0)
		r = rbd_img_flush(img);
	if (r < 0)
		return vol_fail(ctx, r, "writing the LUKS2 header to the image failed: %s",
				strerror(-r));
	crashpoint("format:header-written");
	/* Read back and unlock before declaring the volume formatted. */
	back = malloc(LUKS_HEADER_SIZE);
	if (!back)
		return -ENOMEM;
	r = rbd_img_read(img, 0, LUKS_HEADER_SIZE, back);
	if (r < 0)
		return vol_fail(ctx, r, "reading back the LUKS2 header failed: %s", strerror(-r));
	r = luks_check_header(back, LUKS_HEADER_SIZE, uuid, dek, DEK_LEN);
	if (r < 0)
		return vol_fail(ctx, -EIO,
				"the LUKS2 header read back from the image does not verify (%s)",
				strerror(-r));
	return 0;
}

static int check_empty(struct pvenc_ctx *ctx, struct rbd_img *img, const char *name,
		       const char *uuid_ok, const uint8_t *dek)
{
	_cleanup_free_ uint8_t *buf = malloc(LUKS_HEADER_SIZE);
	struct probe_result pr;
	int r;

	if (!buf)
		return -ENOMEM;
	r = rbd_img_read(img, 0, LUKS_HEADER_SIZE, buf);
	if (r < 0)
		return vol_fail(ctx, r, "cannot read %s: %s", name, strerror(-r));
	/* Resuming: our own (maybe partial) header is not foreign data. */
	if (uuid_ok && luks_check_header(buf, LUKS_HEADER_SIZE, uuid_ok, dek, DEK_LEN) != -ESTALE &&
	    !memcmp(buf, "LUKS\xba\xbe", 6))
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

int vol_set_meta(struct pvenc_ctx *ctx, struct rbd_img *img, const char *key, const char *v)
{
	int r = rbd_img_meta_set(img, key, v);

	if (r < 0)
		return vol_fail(ctx, r, "cannot write image metadata %s: %s", key, strerror(-r));
	return 0;
}

/* The UUID an earlier, stopped format of @img reserved with the same KMS entry: 1 and
 * @uuid filled, or 0 (none, or another KMS: then a DEK may be left there, say so). */
static int reserved_uuid(struct rbd_img *img, const char *name, const char *kms_id, char *uuid)
{
	_cleanup_free_ char *u = NULL, *kms = NULL;

	if (rbd_img_meta_get(img, META_UUID, &u) < 0 || !meta_valid_uuid(u))
		return 0;
	if (rbd_img_meta_get(img, META_KMS, &kms) < 0 || strcmp(kms, kms_id) != 0) {
		log_warn("image=%s event=format-kms-changed uuid=%s was=\"%s\" "
			 "msg=\"a stopped format may have left a DEK for volume %s in that KMS\"",
			 name, u, kms ? kms : "", u);
		return 0;
	}
	(void)snprintf(uuid, META_UUID_LEN + 1, "%s", u);
	return 1;
}

/* The DEK of a new volume: wrapped for metadata by an envelope KMS, or kept by the KMS.
 * A KMS that already keeps one for this UUID got it from a stopped format of this
 * image, which wrote no header with it: use it, so that no key is orphaned. */
static int new_dek(struct pvenc_ctx *ctx, struct kms *k, const struct kms_binding *b,
		   const char *name, uint8_t **dek, char **wrapped)
{
	size_t len = 0;
	int r;

	if (!kms_is_envelope(k)) {
		r = kms_fetch(k, b, dek, &len);
		if (r == 0 && len == DEK_LEN) {
			log_info("image=%s event=dek-reused uuid=%s", name, b->volume_id);
			return 0;
		}
		secmem_free(*dek);
		*dek = NULL;
		if (r == 0)
			return vol_fail(
				ctx, -EBADMSG,
				"KMS '%s' holds a %zu-byte key for volume %s, not a %d-byte "
				"DEK; remove it or format with another KMS entry",
				k->id, len, b->volume_id, DEK_LEN);
		if (r != -ENOKEY && r != -ENOENT)
			return vol_fail(ctx, r, "KMS '%s' could not be asked for volume %s: %s",
					k->id, b->volume_id, k->error);
	}
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

int volume_format(struct pvenc_ctx *ctx, const char *specstr, const struct format_opts *o)
{
	_cleanup_rbd_img_ struct rbd_img *img = NULL;
	_cleanup_kms_ struct kms *k = NULL;
	_cleanup_secmem_ uint8_t *dek = NULL;
	_cleanup_free_ char *wrapped = NULL;
	struct vol_meta m = { 0 };
	struct kms_binding b;
	struct image_spec spec;
	char name[4 * (SPEC_NAME_MAX + 1)], uuid[META_UUID_LEN + 1], merr[256] = "";
	const char *kms_id = o->kms_id;
	uint64_t size;
	size_t deklen;
	int r, force;

	r = image_spec_parse(specstr, &spec);
	if (r < 0 || spec.snap[0])
		return vol_fail(ctx, -EINVAL, "invalid image '%s': expected POOL/[NAMESPACE/]IMAGE",
				specstr);
	(void)image_spec_format(&spec, name, sizeof(name));
	force = o->force && !strcmp(o->force, name);
	if (o->force && !force)
		return vol_fail(ctx, -EINVAL,
				"--force must repeat the image name exactly: --force %s", name);

	r = vol_open_image(ctx, &spec, 0, &img);
	if (r < 0)
		return r;
	r = vol_meta_read(rbd_img_meta_getter, img, &m, merr, sizeof(merr));
	if (r < 0)
		return vol_fail(ctx, r, "image %s has invalid pvenc metadata: %s", name, merr);
	if (m.kind == VOL_CEPHCSI) {
		vol_meta_clear(&m);
		return vol_fail(ctx, -EEXIST,
				"image %s is already encrypted by ceph-csi; open it with "
				"pvencctl open",
				name);
	}
	if (m.state == STATE_FORMATTED) {
		vol_meta_clear(&m);
		return vol_fail(ctx, -EEXIST,
				"image %s is already a formatted pvenc volume; pvenc never "
				"formats a volume twice",
				name);
	}
	r = rbd_img_size(img, &size);
	if (r < 0)
		goto out;
	if (size < LUKS_MIN_IMAGE_SIZE) {
		r = vol_fail(ctx, -ENOSPC,
			     "image %s is %llu bytes; pvenc needs at least %llu (16 MiB LUKS2 "
			     "header + 1 MiB)",
			     name, (unsigned long long)size,
			     (unsigned long long)LUKS_MIN_IMAGE_SIZE);
		goto out;
	}

	if (m.state == STATE_PREPARED) {
		/* Resume an interrupted format with the DEK already stored: never a new key. */
		if (kms_id && strcmp(kms_id, m.kms) != 0) {
			r = vol_fail(ctx, -EINVAL, "image %s was prepared with KMS '%s', not '%s'",
				     name, m.kms, kms_id);
			goto out;
		}
		r = vol_open_kms(ctx, &spec, m.kms, &k);
		if (r < 0)
			goto out;
		b = (struct kms_binding){ .volume_id = m.uuid };
		if (m.dek)
			r = kms_unwrap(k, &b, m.dek, &dek, &deklen);
		else if (!kms_is_envelope(k))
			r = kms_fetch(k, &b, &dek, &deklen);
		else {
			r = vol_fail(ctx, -EBADMSG, "image %s is prepared but has no wrapped DEK",
				     name);
			goto out;
		}
		if (r < 0) {
			r = vol_fail(ctx, r, "cannot unwrap the DEK of %s with KMS '%s': %s", name,
				     m.kms, k->error);
			goto out;
		}
		if (deklen != DEK_LEN) {
			r = vol_fail(ctx, -EBADMSG, "the unwrapped DEK of %s has %zu bytes, not %d",
				     name, deklen, DEK_LEN);
			goto out;
		}
		(void)snprintf(uuid, sizeof(uuid), "%s", m.uuid);
		if (!force) {
			r = check_empty(ctx, img, name, uuid, dek);
			if (r < 0)
				goto out;
		}
		log_info("image=%s event=format-resume kms=%s", name, m.kms);
	} else {
		if (!kms_id) {
			r = vol_fail(ctx, -EINVAL, "--kms ID is required to format %s", name);
			goto out;
		}
		if (!force) {
			r = check_empty(ctx, img, name, NULL, NULL);
			if (r < 0)
				goto out;
		}
		r = vol_open_kms(ctx, &spec, kms_id, &k);
		if (r < 0)
			goto out;
		if (reserved_uuid(img, name, kms_id, uuid) == 0)
			random_uuid(uuid);
		else
			log_info("image=%s event=format-again uuid=%s", name, uuid);
		b = (struct kms_binding){ .volume_id = uuid };
		/* Phase 1: the UUID first, so that a DEK the KMS keeps is always findable
		 * from the image; then the DEK; then state=prepared as the commit. */
		if ((r = vol_set_meta(ctx, img, META_FORMAT, "1")) < 0 ||
		    (r = vol_set_meta(ctx, img, META_KMS, kms_id)) < 0 ||
		    (r = vol_set_meta(ctx, img, META_ENDPOINT, k->endpoint ? k->endpoint : "")) <
			    0 ||
		    (r = vol_set_meta(ctx, img, META_UUID, uuid)) < 0)
			goto out;
		r = new_dek(ctx, k, &b, name, &dek, &wrapped);
		if (r < 0)
			goto out;
		crashpoint("format:dek-stored");
		if (wrapped && (r = vol_set_meta(ctx, img, META_DEK, wrapped)) < 0)
			goto out;
		crashpoint("format:before-prepared");
		r = vol_set_meta(ctx, img, META_STATE, "prepared");
		if (r < 0)
			goto out;
		crashpoint("format:prepared");
		log_info("image=%s event=prepared kms=%s uuid=%s", name, kms_id, uuid);
	}

	/* Phase 2: the LUKS2 header, verified, then state=formatted as the commit. */
	r = write_header(ctx, img, name, uuid, dek, o->fresh);
	if (r < 0)
		goto out;
	crashpoint("format:header-verified");
	r = vol_set_meta(ctx, img, META_STATE, "formatted");
	if (r < 0)
		goto out;
	crashpoint("format:formatted");
	log_info("image=%s event=formatted kms=%s uuid=%s", name, k->id, uuid);
	r = 0;
out:
	vol_meta_clear(&m);
	return r;
}

/* A create whose format failed before anything was stored (no pvenc.state: the KMS
 * refused, say) removes its new, empty image again, so that the operator can simply
 * run the same create once the cause is fixed. A prepared image stays: it holds a DEK
 * and `pvencctl format` finishes it. ctx->err keeps the format's error. */
static void undo_create(struct pvenc_ctx *ctx, const struct image_spec *spec, const char *name)
{
	_cleanup_free_ char *state = NULL;
	struct rbd_img *img = NULL;
	int r;

	if (rbd_img_open(ctx->conn, spec, 1, &img) < 0)
		return;
	r = rbd_img_meta_get(img, META_STATE, &state);
	rbd_img_close(img);
	if (r != -ENOENT)
		return;
	if (rbd_img_remove(ctx->conn, spec) == 0)
		log_info("image=%s event=create-undone", name);
}

int volume_create(struct pvenc_ctx *ctx, const char *specstr, uint64_t size,
		  const struct format_opts *o)
{
	struct image_spec spec;
	char name[4 * (SPEC_NAME_MAX + 1)];
	_cleanup_kms_ struct kms *k = NULL;
	struct format_opts fo;
	int r;

	r = image_spec_parse(specstr, &spec);
	if (r < 0 || spec.snap[0])
		return vol_fail(ctx, -EINVAL, "invalid image '%s': expected POOL/[NAMESPACE/]IMAGE",
				specstr);
	(void)image_spec_format(&spec, name, sizeof(name));
	if (!o->kms_id)
		return vol_fail(ctx, -EINVAL, "--kms ID is required");
	if (size < LUKS_MIN_IMAGE_SIZE)
		return vol_fail(ctx, -EINVAL,
				"--size must be at least %llu MiB (16 MiB go to the LUKS2 header)",
				(unsigned long long)(LUKS_MIN_IMAGE_SIZE >> 20));
	/* Check the KMS entry before creating anything. */
	r = vol_open_kms(ctx, &spec, o->kms_id, &k);
	if (r < 0)
		return r;
	r = pvenc_ctx_connect(ctx);
	if (r < 0)
		return r;
	r = rbd_img_create(ctx->conn, &spec, size);
	if (r == -EEXIST)
		return vol_fail(
			ctx, r,
			"image %s already exists; use pvencctl format for an existing empty image",
			name);
	if (r < 0)
		return vol_fail(ctx, r, "cannot create image %s: %s", name, strerror(-r));
	log_info("image=%s event=created size=%llu", name, (unsigned long long)size);
	crashpoint("create:created");
	fo = *o;
	fo.fresh = 1;
	r = volume_format(ctx, specstr, &fo);
	if (r < 0)
		undo_create(ctx, &spec, name);
	return r;
}

/* ---- open / close ---- */

static int resolve(struct pvenc_ctx *ctx, const char *target, struct rbd_dev *d, int need_mapped)
{
	struct image_spec spec;
	char name[4 * (SPEC_NAME_MAX + 1)];
	int r;

	if (target[0] == '/') {
		r = rbd_dev_from_path(target, d);
		if (r < 0)
			return vol_fail(ctx, r == -ENOENT ? -ENOENT : -ENODEV,
					"%s is not a mapped rbd device (%s)", target, strerror(-r));
		return 0;
	}
	r = image_spec_parse(target, &spec);
	if (r < 0)
		return vol_fail(
			ctx, -EINVAL,
			"invalid image '%s': expected POOL/[NAMESPACE/]IMAGE[@SNAP] or /dev/rbdN",
			target);
	r = rbd_dev_find(&spec, d);
	if (r == -ENOENT && !need_mapped) {
		memset(d, 0, sizeof(*d));
		d->id = -1;
		d->spec = spec;
		return 0;
	}
	if (r < 0) {
		(void)image_spec_format(&spec, name, sizeof(name));
		return vol_fail(ctx, -ENODEV,
				"%s is not mapped on this node: run 'rbd map %s' first", name,
				name);
	}
	return 0;
}

/* ceph-csi: the volume handle binds the DEK ("0001-<len>-<clusterID>-<poolID>-<uuid>"). */
static int csi_volume_id(struct pvenc_ctx *ctx, struct rbd_img *img, const struct open_opts *o,
			 char *buf, size_t len)
{
	const char *uuid = img->spec.image;
	const char *cid = ctx->cfg.csi_cluster_id;

	if (o->csi_volume_id) {
		(void)snprintf(buf, len, "%s", o->csi_volume_id);
		return 0;
	}
	if (strncmp(uuid, "csi-vol-", 8) != 0 || !meta_valid_uuid(uuid + 8))
		return vol_fail(ctx, -EINVAL,
				"cannot derive the ceph-csi volume handle of %s (not named "
				"csi-vol-<uuid>): "
				"pass --csi-volume-id",
				img->spec.image);
	if (!cid[0])
		return vol_fail(ctx, -EINVAL,
				"opening a ceph-csi volume needs its volume handle: set [ceph-csi] "
				"cluster-id "
				"in pvenc.conf or pass --csi-volume-id");
	(void)snprintf(buf, len, "0001-%04zx-%s-%016llx-%s", strlen(cid), cid,
		       (unsigned long long)img->pool_id, uuid + 8);
	return 0;
}

/* ceph-csi keeps a volume's KMS id in its journal: omap of csi.volume.<uuid>. */
static int csi_kms_id(struct pvenc_ctx *ctx, struct rbd_img *img, const char *name, char **out)
{
	char oid[300];
	int r;

	(void)snprintf(oid, sizeof(oid), "csi.volume.%s",
		       strncmp(img->spec.image, "csi-vol-", 8) ? img->spec.image
							       : img->spec.image + 8);
	r = rbd_img_omap_get(img, oid, "csi.volume.encryptKMS", out);
	if (r < 0 || !meta_valid_kms_id(*out))
		return vol_fail(ctx, -EINVAL,
				"%s is a ceph-csi volume whose KMS id is not in ceph-csi's journal "
				"(%s): pass --kms ID",
				name, r < 0 ? strerror(-r) : "malformed");
	return 0;
}

int vol_fetch_dek(struct pvenc_ctx *ctx, struct rbd_img *img, const struct vol_meta *m,
		  const struct open_opts *o, const char *name, uint8_t **dek, size_t *deklen,
		  char *kms_used, size_t kms_used_len)
{
	_cleanup_kms_ struct kms *k = NULL;
	_cleanup_free_ char *csi_kms = NULL;
	char volid[256];
	struct kms_binding b;
	const char *kms_id;
	int r;

	if (m->kind == VOL_PVENC) {
		kms_id = m->kms;
		if (o->kms_id && strcmp(o->kms_id, m->kms) != 0)
			return vol_fail(ctx, -EINVAL, "%s belongs to KMS '%s', not '%s'", name,
					m->kms, o->kms_id);
		b = (struct kms_binding){ .volume_id = m->uuid };
	} else {
		kms_id = o->kms_id;
		if (!kms_id) {
			r = csi_kms_id(ctx, img, name, &csi_kms);
			if (r < 0)
				return r;
			kms_id = csi_kms;
		}
		r = csi_volume_id(ctx, img, o, volid, sizeof(volid));
		if (r < 0)
			return r;
		/* ceph-csi's KMS-held secret is the LUKS passphrase text itself. */
		b = (struct kms_binding){ .volume_id = volid, .text = 1 };
	}
	if (kms_used)
		(void)snprintf(kms_used, kms_used_len, "%s", kms_id);
	r = vol_open_kms(ctx, &img->spec, kms_id, &k);
	if (r < 0)
		return r;
	/* The endpoint is fixed per volume: never send credentials elsewhere. */
	if (m->kind == VOL_PVENC && strcmp(m->endpoint, k->endpoint ? k->endpoint : "") != 0)
		return vol_fail(
			ctx, -EPERM,
			"%s was created with KMS '%s' at endpoint '%s', but that KMS id is now "
			"configured with endpoint '%s'; refusing to use it",
			name, kms_id, m->endpoint, k->endpoint ? k->endpoint : "");
	if (!m->dek) {
		if (kms_is_envelope(k))
			return vol_fail(
				ctx, -EOPNOTSUPP,
				"%s keeps its DEK in the KMS, not in image metadata; KMS '%s' "
				"(%s) only unwraps keys",
				name, kms_id, k->ops->type);
		r = kms_fetch(k, &b, dek, deklen);
		if ((r == -ENOKEY || r == -ENOENT) && m->dek_next) {
			/* A KMS-held rotation stopped inside its switch (rotate.c). */
			char nextid[META_UUID_LEN + 8];

			(void)snprintf(nextid, sizeof(nextid), "%s.next", m->uuid);
			b.volume_id = nextid;
			r = kms_fetch(k, &b, dek, deklen);
		}
		if (r < 0)
			return vol_fail(ctx, r, "cannot fetch the DEK of %s from KMS '%s': %s",
					name, kms_id, k->error);
		return 0;
	}
	if (!kms_is_envelope(k))
		return vol_fail(
			ctx, -EINVAL,
			"%s has a wrapped DEK in its metadata, but KMS '%s' (%s) keeps keys "
			"instead of wrapping them",
			name, kms_id, k->ops->type);
	r = kms_unwrap(k, &b, m->dek, dek, deklen);
	if (r < 0)
		return vol_fail(ctx, r, "cannot unwrap the DEK of %s with KMS '%s': %s", name,
				kms_id, k->error);
	return 0;
}

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int volume_open(struct pvenc_ctx *ctx, const char *target, const struct open_opts *o,
		struct open_result *res)
{
	_cleanup_rbd_img_ struct rbd_img *img = NULL;
	_cleanup_secmem_ uint8_t *dek = NULL;
	struct vol_meta m = { 0 };
	struct rbd_dev d = { 0 };
	char name[4 * (SPEC_NAME_MAX + 1)], merr[256] = "", kms[META_KMS_MAX + 1] = "";
	unsigned flags = 0;
	size_t deklen = 0;
	uint64_t t0 = mono_us(), t;
	int r;

	memset(res, 0, sizeof(*res));
	r = resolve(ctx, target, &d, 1);
	if (r < 0)
		return r;
	(void)image_spec_format(&d.spec, name, sizeof(name));
	t = mono_us();
	r = vol_open_meta(ctx, &d.spec, &img);
	if (r < 0)
		return r;
	if (strcmp(img->id, d.image_id) != 0)
		return vol_fail(ctx, -ESTALE,
				"%s is mapped as image id %s, but the cluster's %s has id %s",
				d.path, d.image_id, name, img->id);
	r = vol_meta_read(rbd_img_meta_getter, img, &m, merr, sizeof(merr));
	res->rbd_us = mono_us() - t;
	if (r < 0)
		return vol_fail(ctx, r, "image %s has invalid encryption metadata: %s", name, merr);
	if (m.kind == VOL_PLAIN) {
		r = vol_fail(ctx, -ENOMSG,
			     "%s is not an encrypted volume (no pvenc or ceph-csi metadata)", name);
		goto out;
	}
	if (m.state != STATE_FORMATTED) {
		r = vol_fail(
			ctx, -EAGAIN,
			"%s is prepared but not formatted (an interrupted create or format); run "
			"'pvencctl format %s' to finish it",
			name, name);
		goto out;
	}
	r = rbd_dev_dm_name(d.image_id, d.spec.snap, res->dm_name, sizeof(res->dm_name));
	if (r < 0) {
		r = vol_fail(ctx, r, "device-mapper name for %s is too long", name);
		goto out;
	}
	t = mono_us();
	r = vol_fetch_dek(ctx, img, &m, o, name, &dek, &deklen, kms, sizeof(kms));
	res->kms_us = mono_us() - t;
	if (r < 0)
		goto out;
	crashpoint("open:dek-unwrapped");
	if (d.spec.snap[0])
		flags |= LUKS_OPEN_READONLY;
	if (ctx->cfg.discards)
		flags |= LUKS_OPEN_DISCARDS;
	if (ctx->cfg.no_read_wq)
		flags |= LUKS_OPEN_NO_READ_WQ;
	if (ctx->cfg.no_write_wq)
		flags |= LUKS_OPEN_NO_WRITE_WQ;
	t = mono_us();
	r = luks_open(d.path, res->dm_name, m.kind == VOL_PVENC ? m.uuid : NULL, dek, deklen, flags,
		      &res->already, ctx->err, sizeof(ctx->err));
	res->dm_us = mono_us() - t;
	if (r < 0)
		goto out;
	crashpoint("open:activated");
	(void)snprintf(res->dm_path, sizeof(res->dm_path), "/dev/mapper/%s", res->dm_name);
	(void)snprintf(res->device, sizeof(res->device), "%s", d.path);
	res->readonly = !!(flags & LUKS_OPEN_READONLY);
	res->rotation_period = vol_rotation_period(&ctx->cfg, &d.spec, &m, NULL, NULL);
	kstat_volume_opened(&d, res->dm_name, kms, &m, res->already, &res->ident);
	res->total_us = mono_us() - t0;
	log_info("image=%s event=%s device=%s dm=%s kms=%s total_us=%" PRIu64 " rbd_us=%" PRIu64
		 " kms_us=%" PRIu64 " dm_us=%" PRIu64 " own_us=%" PRIu64,
		 name, res->already ? "already-open" : "opened", d.path, res->dm_name,
		 m.kind == VOL_PVENC ? m.kms : "ceph-csi", res->total_us, res->rbd_us, res->kms_us,
		 res->dm_us, res->total_us - res->rbd_us - res->kms_us - res->dm_us);
	r = 0;
out:
	vol_meta_clear(&m);
	return r;
}

int volume_close(struct pvenc_ctx *ctx, const char *target, int deferred, int *was_open)
{
	struct rbd_dev d;
	char dm[128], name[4 * (SPEC_NAME_MAX + 1)];
	int r;

	*was_open = 0;
	r = resolve(ctx, target, &d, 1);
	if (r < 0)
		return r;
	(void)image_spec_format(&d.spec, name, sizeof(name));
	r = rbd_dev_dm_name(d.image_id, d.spec.snap, dm, sizeof(dm));
	if (r < 0)
		return vol_fail(ctx, r, "device-mapper name for %s is too long", name);
	r = luks_close(dm, deferred);
	if (r == -ENOENT)
		return 0; /* not open: closing is idempotent */
	if (r == -EBUSY)
		return vol_fail(ctx, r,
				"%s (%s) is in use (mounted or held open); unmount it first, or "
				"close with --deferred to remove it when the last user goes",
				name, dm);
	if (r < 0)
		return vol_fail(ctx, r, "closing %s (%s) failed: %s", name, dm, strerror(-r));
	*was_open = 1;
	kstat_volume_closed(dm);
	log_info("image=%s event=%s dm=%s", name, deferred ? "close-deferred" : "closed", dm);
	return 0;
}

/* ---- status ---- */

static void add_str(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

static int status_of(struct pvenc_ctx *ctx, const struct rbd_dev *d, int strict,
		     struct json_object **out)
{
	_cleanup_rbd_img_ struct rbd_img *img = NULL;
	struct json_object *o = json_object_new_object();
	struct vol_meta m = { 0 };
	struct luks_status ls;
	char name[4 * (SPEC_NAME_MAX + 1)], merr[256] = "", dm[128] = "";
	int r;

	if (!o)
		return -ENOMEM;
	(void)image_spec_format(&d->spec, name, sizeof(name));
	add_str(o, "image", name);
	add_str(o, "device", d->id >= 0 ? d->path : NULL);
	r = vol_open_meta(ctx, &d->spec, &img);
	if (r < 0 && strict) {
		json_object_put(o);
		return r;
	}
	if (r < 0) {
		add_str(o, "error", ctx->err);
		*out = o;
		return 0;
	}
	add_str(o, "image_id", img->id);
	r = vol_meta_read(rbd_img_meta_getter, img, &m, merr, sizeof(merr));
	if (r < 0) {
		add_str(o, "error", merr[0] ? merr : strerror(-r));
		*out = o;
		return 0;
	}
	add_str(o, "encryption", vol_kind_name(m.kind));
	add_str(o, "state", vol_state_name(m.state));
	if (m.kind == VOL_PVENC) {
		const char *src, *sched = config_rotation(&ctx->cfg, d->spec.pool, d->spec.ns,
							  m.rotation[0] ? m.rotation : NULL, &src);

		add_str(o, "kms", m.kms);
		add_str(o, "kms_endpoint", m.endpoint);
		add_str(o, "uuid", m.uuid);
		json_object_object_add(o, "dek_version", json_object_new_int64(m.dek_version));
		json_object_object_add(o, "kek_version",
				       m.dek ? json_object_new_int64(kstat_key_version(m.dek))
					     : NULL);
		json_object_object_add(o, "rotated_at",
				       m.rotated_at ? json_object_new_int64(m.rotated_at) : NULL);
		add_str(o, "rotation", sched);
		add_str(o, "rotation_from", src);
		json_object_object_add(o, "rotation_in_progress",
				       json_object_new_boolean(m.dek_next != NULL));
	}
	if (rbd_dev_dm_name(img->id, d->spec.snap, dm, sizeof(dm)) == 0 &&
	    luks_status(dm, &ls) > 0) {
		char path[160];

		(void)snprintf(path, sizeof(path), "/dev/mapper/%s", dm);
		json_object_object_add(o, "open", json_object_new_boolean(1));
		add_str(o, "dm_name", dm);
		add_str(o, "decrypted_device", path);
		add_str(o, "cipher", ls.cipher);
		json_object_object_add(o, "key_bits", json_object_new_int(ls.key_bits));
		json_object_object_add(o, "sector_size", json_object_new_int(ls.sector_size));
		json_object_object_add(o, "size_bytes",
				       json_object_new_int64((int64_t)ls.size_bytes));
		json_object_object_add(o, "read_only", json_object_new_boolean(ls.readonly));
	} else {
		json_object_object_add(o, "open", json_object_new_boolean(0));
	}
	vol_meta_clear(&m);
	*out = o;
	return 0;
}

int volume_status(struct pvenc_ctx *ctx, const char *target, struct json_object **out)
{
	struct rbd_dev d;
	int r = resolve(ctx, target, &d, 0);

	if (r < 0)
		return r;
	return status_of(ctx, &d, 1, out);
}

int volume_list(struct pvenc_ctx *ctx, struct json_object **out)
{
	struct json_object *arr = json_object_new_array();
	struct rbd_dev *devs;
	size_t n;
	int r;

	if (!arr)
		return -ENOMEM;
	r = rbd_dev_list(&devs, &n);
	if (r < 0) {
		json_object_put(arr);
		return vol_fail(ctx, r, "cannot list rbd devices: %s", strerror(-r));
	}
	for (size_t i = 0; i < n; i++) {
		struct json_object *o = NULL;

		if (status_of(ctx, &devs[i], 0, &o) == 0)
			json_object_array_add(arr, o);
	}
	free(devs);
	*out = arr;
	return 0;
}

/* ---- resize, unmap, encrypt-by-default ---- */

int volume_resize(struct pvenc_ctx *ctx, const char *target, uint64_t *new_size)
{
	_cleanup_rbd_img_ struct rbd_img *img = NULL;
	_cleanup_secmem_ uint8_t *dek = NULL;
	struct vol_meta m = { 0 };
	struct open_opts none = { 0 };
	struct rbd_dev d = { 0 };
	char name[4 * (SPEC_NAME_MAX + 1)], dm[128], merr[256] = "";
	size_t deklen = 0;
	int r;

	r = resolve(ctx, target, &d, 1);
	if (r < 0)
		return r;
	(void)image_spec_format(&d.spec, name, sizeof(name));
	r = rbd_dev_dm_name(d.image_id, d.spec.snap, dm, sizeof(dm));
	if (r < 0)
		return vol_fail(ctx, r, "device-mapper name for %s is too long", name);
	r = vol_open_meta(ctx, &d.spec, &img);
	if (r < 0)
		return r;
	r = vol_meta_read(rbd_img_meta_getter, img, &m, merr, sizeof(merr));
	if (r < 0)
		return vol_fail(ctx, r, "image %s has invalid encryption metadata: %s", name, merr);
	if (m.kind == VOL_PLAIN) {
		r = vol_fail(ctx, -ENOMSG, "%s is not an encrypted volume", name);
		goto out;
	}
	r = vol_fetch_dek(ctx, img, &m, &none, name, &dek, &deklen, NULL, 0);
	if (r < 0)
		goto out;
	crashpoint("resize:dek-unwrapped");
	r = luks_resize(dm, dek, deklen, new_size);
	if (r == -ENOENT) {
		r = vol_fail(ctx, r, "%s is not open", name);
		goto out;
	}
	if (r < 0) {
		r = vol_fail(ctx, r, "growing %s (%s) failed: %s", name, dm, strerror(-r));
		goto out;
	}
	crashpoint("resize:grown");
	log_info("image=%s event=resized dm=%s size=%llu", name, dm,
		 new_size ? (unsigned long long)*new_size : 0ULL);
out:
	vol_meta_clear(&m);
	return r;
}

static int sysfs_write(const char *path, const char *s)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	size_t n = strlen(s);

	if (fd < 0)
		return -errno;
	if (write(fd, s, n) != (ssize_t)n)
		return -errno;
	return 0;
}

int volume_unmap(struct pvenc_ctx *ctx, const char *target)
{
	struct rbd_dev d = { 0 };
	char name[4 * (SPEC_NAME_MAX + 1)], id[16];
	int was_open, r;

	r = resolve(ctx, target, &d, 1);
	if (r < 0)
		return r;
	(void)image_spec_format(&d.spec, name, sizeof(name));
	r = volume_close(ctx, d.path, 0, &was_open);
	if (r < 0)
		return r;
	(void)snprintf(id, sizeof(id), "%d", d.id);
	/* What `rbd unmap` does: krbd refuses with EBUSY while the device is held. */
	r = sysfs_write("/sys/bus/rbd/remove_single_major", id);
	if (r == -ENOENT)
		r = sysfs_write("/sys/bus/rbd/remove", id);
	if (r == -EBUSY)
		return vol_fail(ctx, r,
				"%s (%s) is still in use; it was closed but cannot be unmapped",
				name, d.path);
	if (r < 0)
		return vol_fail(ctx, r, "unmapping %s (%s) failed: %s", name, d.path, strerror(-r));
	log_info("image=%s event=unmapped device=%s", name, d.path);
	return 0;
}

int volume_format_by_policy(struct pvenc_ctx *ctx, const char *target)
{
	_cleanup_rbd_img_ struct rbd_img *img = NULL;
	struct format_opts fo = { 0 };
	struct vol_meta m = { 0 };
	struct rbd_dev d = { 0 };
	char name[4 * (SPEC_NAME_MAX + 1)], merr[256] = "";
	_cleanup_close_ int fd = -1;
	enum vol_kind kind;
	int r;

	r = resolve(ctx, target, &d, 1);
	if (r < 0)
		return r;
	if (d.spec.snap[0])
		return 0;
	fo.kms_id = config_policy_kms(&ctx->cfg, d.spec.pool, d.spec.ns);
	if (!fo.kms_id)
		return 0;
	(void)image_spec_format(&d.spec, name, sizeof(name));
	r = vol_open_meta(ctx, &d.spec, &img);
	if (r < 0)
		return r;
	r = vol_meta_read(rbd_img_meta_getter, img, &m, merr, sizeof(merr));
	kind = m.kind; /* read before the clear below zeroes it */
	vol_meta_clear(&m);
	rbd_img_close(TAKE_PTR(img));
	if (r < 0)
		return vol_fail(ctx, r, "image %s has invalid encryption metadata: %s", name, merr);
	if (kind != VOL_PLAIN)
		return 0;
	r = volume_format(ctx, name, &fo);
	if (r < 0)
		return r;
	/* udev's probe may have cached the old first blocks of /dev/rbdN. */
	fd = open(d.path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		(void)ioctl(fd, BLKFLSBUF, 0);
	log_info("image=%s event=formatted-by-policy kms=%s", name, fo.kms_id);
	return 1;
}

/* ---- delete ---- */

/* The KMS-held DEK of @img (an image about to go, or one in the trash): *k open on the
 * right KMS and @b naming the key, or *k NULL when the DEK is wrapped in metadata (an
 * envelope KEK is shared and never deleted). @m and @volid back @b. */
static int delete_key_of(struct pvenc_ctx *ctx, struct rbd_img *img, const char *name,
			 const struct open_opts *o, struct vol_meta *m, char *volid, size_t len,
			 struct kms **k, struct kms_binding *b, const char **kms_id, char **csi_kms)
{
	char merr[256] = "";
	int r;

	*kms_id = NULL;
	r = vol_meta_read(rbd_img_meta_getter, img, m, merr, sizeof(merr));
	if (r < 0)
		return vol_fail(ctx, r, "image %s has invalid encryption metadata: %s", name, merr);
	if (m->kind == VOL_PVENC && !m->dek && m->kms[0]) {
		*kms_id = m->kms;
		*b = (struct kms_binding){ .volume_id = m->uuid };
	} else if (m->kind == VOL_CEPHCSI && !m->dek) {
		*kms_id = o->kms_id;
		if (!*kms_id && csi_kms_id(ctx, img, name, csi_kms) == 0)
			*kms_id = *csi_kms;
		if (!*kms_id)
			return -EINVAL;
		r = csi_volume_id(ctx, img, o, volid, len);
		if (r < 0)
			return r;
		*b = (struct kms_binding){ .volume_id = volid, .text = 1 };
	}
	return *kms_id ? vol_open_kms(ctx, &img->spec, *kms_id, k) : 0;
}

/* The steps after the image went to the trash: the key, then the trashed image. */
static int delete_finish(struct pvenc_ctx *ctx, const struct image_spec *spec, const char *name,
			 const char *trash_id, struct kms *k, struct kms_binding *b,
			 const char *kms_id)
{
	int r;

	if (k) {
		r = kms_remove(k, b);
		if (r < 0 && r != -ENOENT)
			return vol_fail(ctx, r,
					"%s is in the RBD trash (id %s), but its DEK in KMS '%s' "
					"was not removed: %s; run the delete again to finish",
					name, trash_id, kms_id, k->error);
		log_info("image=%s event=dek-removed kms=%s", name, kms_id);
	}
	crashpoint("delete:dek-removed");
	r = rbd_img_trash_remove(ctx->conn, spec, trash_id);
	if (r < 0 && r != -ENOENT)
		return vol_fail(ctx, r,
				"the DEK of %s is removed, but the image in the RBD trash (id %s) "
				"was not: %s; run the delete again, or 'rbd trash rm'",
				name, trash_id, strerror(-r));
	log_info("image=%s event=deleted", name);
	return 0;
}

/* A delete stopped after the image went to the trash: finish it. */
static int delete_resume(struct pvenc_ctx *ctx, const struct image_spec *spec, const char *name,
			 const struct open_opts *o)
{
	_cleanup_rbd_img_ struct rbd_img *img = NULL;
	_cleanup_kms_ struct kms *k = NULL;
	_cleanup_free_ char *csi_kms = NULL;
	struct vol_meta m = { 0 };
	struct kms_binding b = { 0 };
	char id[64], volid[256];
	const char *kms_id;
	int r;

	r = rbd_img_trash_find(ctx->conn, spec, id, sizeof(id));
	if (r == -ENOENT)
		return vol_fail(ctx, -ENOENT, "image %s does not exist (nothing to delete)", name);
	if (r < 0)
		return vol_fail(ctx, r, "cannot list the RBD trash of %s: %s", name, strerror(-r));
	r = rbd_img_open_id(ctx->conn, spec, id, &img);
	if (r < 0)
		return vol_fail(ctx, r, "cannot open %s in the RBD trash (id %s): %s", name, id,
				strerror(-r));
	r = delete_key_of(ctx, img, name, o, &m, volid, sizeof(volid), &k, &b, &kms_id, &csi_kms);
	if (r < 0)
		goto out;
	rbd_img_close(TAKE_PTR(img));
	log_notice("image=%s event=delete-resumed trash-id=%s", name, id);
	r = delete_finish(ctx, spec, name, id, k, &b, kms_id);
out:
	vol_meta_clear(&m);
	return r;
}

int volume_delete(struct pvenc_ctx *ctx, const char *specstr, const struct open_opts *o,
		  const char *confirm)
{
	_cleanup_rbd_img_ struct rbd_img *img = NULL;
	_cleanup_kms_ struct kms *k = NULL;
	_cleanup_free_ char *csi_kms = NULL;
	struct vol_meta m = { 0 };
	struct kms_binding b = { 0 };
	struct image_spec spec;
	char name[4 * (SPEC_NAME_MAX + 1)], volid[256], id[64];
	const char *kms_id = NULL;
	size_t watchers;
	int r, snaps;

	r = image_spec_parse(specstr, &spec);
	if (r < 0 || spec.snap[0])
		return vol_fail(ctx, -EINVAL, "invalid image '%s': expected POOL/[NAMESPACE/]IMAGE",
				specstr);
	(void)image_spec_format(&spec, name, sizeof(name));
	if (!confirm || strcmp(confirm, name) != 0)
		return vol_fail(ctx, -EINVAL,
				"deleting destroys %s and its data: confirm with --force %s", name,
				name);
	r = vol_open_image(ctx, &spec, 1, &img);
	if (r == -ENOENT)
		return delete_resume(ctx, &spec, name, o); /* a stopped delete, or nothing */
	if (r < 0)
		return r;
	r = rbd_img_users(img, &watchers, &snaps);
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
	r = delete_key_of(ctx, img, name, o, &m, volid, sizeof(volid), &k, &b, &kms_id, &csi_kms);
	if (r < 0)
		goto out;
	(void)snprintf(id, sizeof(id), "%s", img->id);
	rbd_img_close(TAKE_PTR(img));
	/* The image goes first (to the trash, where no one can map it): a key is never
	 * destroyed while a usable image still needs it, and a stop at any step is finished
	 * by running the delete again. */
	r = rbd_img_trash_move(ctx->conn, &spec);
	if (r < 0) {
		r = vol_fail(ctx, r, "cannot move image %s to the RBD trash: %s", name,
			     strerror(-r));
		goto out;
	}
	crashpoint("delete:trashed");
	r = delete_finish(ctx, &spec, name, id, k, &b, kms_id);
out:
	vol_meta_clear(&m);
	return r;
}
