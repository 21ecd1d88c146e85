// SPDX-License-Identifier: MIT
/* struct vol: which volume an operation is about, loaded once (volume.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "crypt/luks.h"
#include "volume/internal.h"

static void vol_init(struct vol *v)
{
	memset(v, 0, sizeof(*v));
	v->dev.id = -1;
}

/* The device-mapper name of a mapped volume; a volume an earlier pvenc opened keeps
 * the name it was opened under (krbd_dm_name_legacy) until it is closed. */
static void vol_named(struct vol *v)
{
	char legacy[sizeof(v->dm)];

	(void)image_spec_format(&v->dev.spec, v->name, sizeof(v->name));
	if (v->dev.id < 0)
		return;
	if (krbd_dm_name(&v->dev, v->dm, sizeof(v->dm)) < 0)
		v->dm[0] = '\0'; /* too long: the operations say so */
	else if (krbd_dm_name_legacy(&v->dev, legacy, sizeof(legacy)) == 0 &&
		 luks_over(v->dm, v->dev.path) == 0 && luks_over(legacy, v->dev.path) == 1)
		(void)snprintf(v->dm, sizeof(v->dm), "%s", legacy);
}

void vol_from_dev(const struct krbd_dev *d, struct vol *v)
{
	vol_init(v);
	v->dev = *d;
	vol_named(v);
}

int vol_device(struct pvenc_ctx *ctx, int id, struct vol *v)
{
	int r;

	vol_init(v);
	r = krbd_dev_from_id(id, &v->dev);
	if (r == -EINVAL)
		return vol_fail(
			ctx, -EINVAL,
			"the image mapped at /dev/rbd%d has a pool, namespace, image or "
			"snapshot name that cannot be a path under /dev/pvenc (whitespace, "
			"a control character, '/', '@', \".\" or \"..\"): pvenc leaves it alone",
			id);
	if (r < 0)
		return vol_fail(ctx, r == -ENOENT ? -ENOENT : -ENODEV,
				"/dev/rbd%d is not a mapped rbd device (%s)", id, strerror(-r));
	vol_named(v);
	return 0;
}

int vol_target(struct pvenc_ctx *ctx, const char *target, struct vol *v)
{
	struct krbd_dev d;
	int r;

	vol_init(v);
	if (target[0] == '/') {
		r = krbd_dev_from_path(target, &v->dev);
		if (r < 0)
			return vol_fail(ctx, r == -ENOENT ? -ENOENT : -ENODEV,
					"%s is not a mapped rbd device (%s)", target, strerror(-r));
		v->by_path = 1;
	} else {
		if (image_spec_parse(target, &v->dev.spec) < 0)
			return vol_fail(ctx, -EINVAL,
					"invalid image '%s': expected "
					"POOL/[NAMESPACE/]IMAGE[@SNAP] or /dev/rbdN",
					target);
		if (krbd_dev_find(&v->dev.spec, &d) == 0)
			v->dev = d;
	}
	vol_named(v);
	return 0;
}

void vol_done(struct vol *v)
{
	vol_forget(v);
}

int vol_read_meta(struct pvenc_ctx *ctx, struct vol *v, meta_get_fn get, void *src)
{
	char merr[256] = "";
	int r;

	vol_meta_clear(&v->meta);
	r = vol_meta_read(get, src, &v->meta, merr, sizeof(merr));
	if (r < 0)
		return vol_fail(ctx, r, "image %s has invalid encryption metadata: %s", v->name,
				merr[0] ? merr : strerror(-r));
	return 0;
}

int vol_need(struct pvenc_ctx *ctx, struct vol *v, unsigned need)
{
	int r;

	if ((need & VOL_IMAGE) && (v->by_path || v->dev.spec.snap[0]))
		return vol_fail(ctx, -EINVAL, "invalid image '%s': expected POOL/[NAMESPACE/]IMAGE",
				v->by_path ? v->dev.path : v->name);
	if ((need & VOL_MAPPED) && v->dev.id < 0)
		return vol_fail(ctx, -ENODEV,
				"%s is not mapped on this node: run 'rbd map %s' first", v->name,
				v->name);
	if (!(need & VOL_META) || v->head)
		return 0;
	r = vol_open_head(ctx, &v->dev.spec, &v->head);
	if (r < 0 || !v->head)
		return r < 0 ? r : -EIO;
	/* The mapping names an image: the cluster's image of that name must be it. */
	if (v->dev.id >= 0 && strcmp(v->head->loc.id, v->dev.image_id) != 0)
		return vol_fail(ctx, -ESTALE,
				"%s is mapped as image id %s, but the cluster's %s has id %s",
				v->dev.path, v->dev.image_id, v->name, v->head->loc.id);
	return vol_read_meta(ctx, v, img_head_getter, v->head);
}

void vol_forget(struct vol *v)
{
	img_head_close(v->head);
	v->head = NULL;
	vol_meta_clear(&v->meta);
}
