// SPDX-License-Identifier: MIT
/* What every change of a volume's stored key starts with (rotation, rebind): the
 * checks that it is one pvenc can change, and the lease that lets one node at a time
 * change it. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "volume/internal.h"

#define ROTATE_LOCK    "pvenc.rotate"
#define ROTATE_LEASE_S 300

int vol_rotatable(struct pvenc_ctx *ctx, const struct vol *v, int kek, struct kms **k)
{
	const struct vol_meta *m = &v->meta;
	int r;

	if (m->kind != VOL_PVENC || m->state != STATE_FORMATTED)
		return vol_fail(ctx, m->kind == VOL_PLAIN ? -ENOMSG : -EOPNOTSUPP,
				"%s is not a formatted pvenc volume%s", v->name,
				m->kind == VOL_CEPHCSI ? " (ceph-csi volumes rotate with ceph-csi)"
						       : "");
	if (!m->dek && kek)
		return vol_fail(ctx, -EOPNOTSUPP,
				"%s keeps its DEK in KMS '%s', not wrapped in image metadata: "
				"there is no KEK to rotate",
				v->name, m->kms);
	r = vol_open_kms(ctx, &v->dev.spec, m->kms, k);
	if (r < 0 || !*k)
		return r < 0 ? r : -EIO;
	/* The endpoint is fixed per volume: never send credentials elsewhere. */
	if (strcmp(m->endpoint, (*k)->endpoint ? (*k)->endpoint : "") != 0)
		return vol_fail(ctx, -EPERM,
				"%s was created with KMS '%s' at endpoint '%s', but that KMS id is "
				"now configured with endpoint '%s'; refusing to use it",
				v->name, m->kms, m->endpoint, (*k)->endpoint ? (*k)->endpoint : "");
	return 0;
}

int vol_take_lease(struct pvenc_ctx *ctx, const struct vol *v, const struct img *img, char *cookie,
		   int *busy)
{
	uint8_t rnd[16];
	int r;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return vol_fail(ctx, -EIO, "getrandom failed");
	for (size_t i = 0; i < sizeof(rnd); i++)
		(void)snprintf(cookie + 2 * i, 3, "%02x", rnd[i]);
	r = img_lease(&img->loc, ROTATE_LOCK, cookie, ROTATE_LEASE_S, 0);
	if (r == -EBUSY) {
		*busy = 1;
		return vol_fail(ctx, -EBUSY,
				"another node is rotating the keys of %s right now (if it died, "
				"its lock 'pvenc.rotate' on rbd_header.%s expires within %d "
				"minutes)",
				v->name, img->loc.id, ROTATE_LEASE_S / 60);
	}
	if (r < 0)
		return vol_fail(ctx, r, "cannot take the rotation lock of %s: %s", v->name,
				strerror(-r));
	return 0;
}

int vol_open_for_change(struct pvenc_ctx *ctx, struct vol *v, int kek, struct img **img,
			struct kms **k)
{
	int r;

	vol_forget(v);
	r = vol_open_image(ctx, &v->dev.spec, 0, img);
	if (r == 0)
		r = vol_read_meta(ctx, v, img_meta_getter, *img);
	if (r == 0)
		r = vol_rotatable(ctx, v, kek, k);
	return r == 0 && !*k ? -EIO : r; /* rotatable opens the KMS whenever it says yes */
}

void vol_drop_lease(struct img *img, const char *cookie)
{
	(void)img_lease_release(&img->loc, ROTATE_LOCK, cookie);
}
