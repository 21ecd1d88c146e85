// SPDX-License-Identifier: MIT
/* A volume's DEK: unwrapped from its metadata or fetched from the KMS that keeps it,
 * for pvenc's volumes and ceph-csi's. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "util/macro.h"
#include "volume/internal.h"

/* ceph-csi: the volume handle binds the DEK ("0001-<len>-<clusterID>-<poolID>-<uuid>"). */
static int csi_volume_id(struct pvenc_ctx *ctx, const struct img_loc *loc,
			 const struct open_opts *o, char *buf, size_t len)
{
	const char *uuid = loc->spec.image;
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
				loc->spec.image);
	if (!cid[0])
		return vol_fail(ctx, -EINVAL,
				"opening a ceph-csi volume needs its volume handle: set [ceph-csi] "
				"cluster-id "
				"in pvenc.conf or pass --csi-volume-id");
	(void)snprintf(buf, len, "0001-%04zx-%s-%016llx-%s", strlen(cid), cid,
		       (unsigned long long)loc->pool_id, uuid + 8);
	return 0;
}

/* ceph-csi keeps a volume's KMS id in its journal: omap of csi.volume.<uuid>. */
static int csi_kms_id(struct pvenc_ctx *ctx, const struct img_loc *loc, const char *name,
		      char **out)
{
	char oid[300];
	int r;

	(void)snprintf(oid, sizeof(oid), "csi.volume.%s",
		       strncmp(loc->spec.image, "csi-vol-", 8) ? loc->spec.image
							       : loc->spec.image + 8);
	r = img_omap_get(loc, oid, "csi.volume.encryptKMS", out);
	if (r < 0 || !meta_valid_kms_id(*out))
		return vol_fail(ctx, -EINVAL,
				"%s is a ceph-csi volume whose KMS id is not in ceph-csi's journal "
				"(%s): pass --kms ID",
				name, r < 0 ? strerror(-r) : "malformed");
	return 0;
}

int vol_csi_binding(struct pvenc_ctx *ctx, const struct img_loc *loc, const struct open_opts *o,
		    const char *name, const char **kms_id, char **csi_kms, char *volid,
		    size_t volid_len, struct kms_binding *b)
{
	int r;

	*kms_id = o->kms_id;
	if (!*kms_id) {
		r = csi_kms_id(ctx, loc, name, csi_kms);
		if (r < 0)
			return r;
		*kms_id = *csi_kms;
	}
	r = csi_volume_id(ctx, loc, o, volid, volid_len);
	if (r < 0)
		return r;
	/* ceph-csi's KMS-held secret is the LUKS passphrase text itself. */
	*b = (struct kms_binding){ .volume_id = volid, .text = 1 };
	return 0;
}

void vol_binding(const struct img_loc *loc, const char *uuid, int v2, char *scope,
		 struct kms_binding *b)
{
	if (loc->spec.ns[0])
		(void)snprintf(scope, VOL_SCOPE_MAX, "%s/%s", loc->spec.pool, loc->spec.ns);
	else
		(void)snprintf(scope, VOL_SCOPE_MAX, "%s", loc->spec.pool);
	*b = (struct kms_binding){ .volume_id = uuid, .scope = v2 ? scope : NULL };
}

int vol_unwrap(struct kms *k, const struct img_loc *loc, const struct vol_meta *m,
	       const char *wrapped, uint8_t **dek, size_t *deklen, int *bound)
{
	char scope[VOL_SCOPE_MAX];
	struct kms_binding b;
	int r;

	*bound = m->bound;
	vol_binding(loc, m->uuid, *bound, scope, &b);
	r = kms_unwrap(k, &b, wrapped, dek, deklen);
	if (r != -EKEYREJECTED)
		return r;
	*bound = !m->bound;
	vol_binding(loc, m->uuid, *bound, scope, &b);
	return kms_unwrap(k, &b, wrapped, dek, deklen) == 0 ? 0 : r;
}

int vol_held_next_id(const struct vol_meta *m, char *out, size_t len)
{
	const char *v = m->dek_next;
	size_t n = strlen(VOL_HELD_NEXT);

	if (!v || strncmp(v, VOL_HELD_NEXT, n) != 0)
		return -EBADMSG;
	v += n;
	if (*v == '\0')
		return snprintf(out, len, "%s.next", m->uuid) < (int)len ? 0 : -ENAMETOOLONG;
	if (*v != ':' || strlen(v + 1) != 16 || strspn(v + 1, "0123456789abcdef") != 16)
		return -EBADMSG;
	return snprintf(out, len, "%s.next.%s", m->uuid, v + 1) < (int)len ? 0 : -ENAMETOOLONG;
}

int vol_held_new_marker(char *out, size_t len)
{
	uint8_t rnd[8];

	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		return -EIO;
	return snprintf(out, len, "%s:%02x%02x%02x%02x%02x%02x%02x%02x", VOL_HELD_NEXT, rnd[0],
			rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]) < (int)len
		       ? 0
		       : -ENAMETOOLONG;
}

/* A pvenc volume's KMS-held DEK; the pending one while a rotation is in its switch.
 * *bound: the KMS kept it as an owner record (binding v2). */
static int fetch_held(struct kms *k, const struct img_loc *loc, const struct vol_meta *m,
		      uint8_t **dek, size_t *deklen, int *bound)
{
	char scope[VOL_SCOPE_MAX], nextid[VOL_HELD_NEXT_ID_MAX];
	struct kms_binding b;
	int r;

	vol_binding(loc, m->uuid, 1, scope, &b);
	b.recorded = bound;
	r = kms_fetch(k, &b, dek, deklen);
	if ((r == -ENOKEY || r == -ENOENT) && m->dek_next &&
	    vol_held_next_id(m, nextid, sizeof(nextid)) == 0) {
		/* A KMS-held rotation stopped inside its switch (rotate.c). */
		b.volume_id = nextid;
		r = kms_fetch(k, &b, dek, deklen);
	}
	return r;
}

int vol_fetch_dek(struct pvenc_ctx *ctx, const struct img_loc *loc, const struct vol_meta *m,
		  const struct open_opts *o, const char *name, uint8_t **dek, size_t *deklen,
		  struct dek_from *from)
{
	_cleanup_kms_ struct kms *k = NULL;
	_cleanup_free_ char *csi_kms = NULL;
	char volid[256];
	struct kms_binding b;
	const char *kms_id;
	int r, bound = 0;

	if (o->recovery) {
		/* The recovery keyslot always carries its authenticator. */
		r = vol_fetch_recovery(ctx, loc, m, name, dek);
		if (r == 0)
			*deklen = DEK_LEN;
		if (r == 0 && from) {
			(void)snprintf(from->kms, sizeof(from->kms), "%s", m->recovery_kms);
			from->bound = 1;
		}
		return r;
	}
	if (m->kind == VOL_PVENC) {
		kms_id = m->kms;
		if (o->kms_id && strcmp(o->kms_id, m->kms) != 0)
			return vol_fail(ctx, -EINVAL, "%s belongs to KMS '%s', not '%s'", name,
					m->kms, o->kms_id);
	} else {
		r = vol_csi_binding(ctx, loc, o, name, &kms_id, &csi_kms, volid, sizeof(volid), &b);
		if (r < 0)
			return r;
	}
	r = vol_open_kms(ctx, &loc->spec, kms_id, &k);
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
				name, kms_id, kms_type(k));
		r = m->kind == VOL_PVENC ? fetch_held(k, loc, m, dek, deklen, &bound)
					 : kms_fetch(k, &b, dek, deklen);
		if (r < 0)
			return vol_fail(ctx, r, "cannot fetch the DEK of %s from KMS '%s': %s",
					name, kms_id, k->error);
	} else {
		if (!kms_is_envelope(k))
			return vol_fail(ctx, -EINVAL,
					"%s has a wrapped DEK in its metadata, but KMS '%s' (%s) "
					"keeps keys instead of wrapping them",
					name, kms_id, kms_type(k));
		r = m->kind == VOL_PVENC ? vol_unwrap(k, loc, m, m->dek, dek, deklen, &bound)
					 : kms_unwrap(k, &b, m->dek, dek, deklen);
		if (r < 0)
			return vol_fail(
				ctx, r, "cannot unwrap the DEK of %s with KMS '%s': %s%s", name,
				kms_id, k->error,
				r == -EKEYREJECTED && m->kind == VOL_PVENC
					? " (a wrapped DEK is bound to its volume's UUID "
					  "and pool/namespace: a volume moved or copied from "
					  "another pool opens only after `pvencctl rebind "
					  "--from POOL`)"
					: "");
	}
	if (from) {
		(void)snprintf(from->kms, sizeof(from->kms), "%s", kms_id);
		from->bound = bound;
	}
	return 0;
}
