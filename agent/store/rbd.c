// SPDX-License-Identifier: MIT
#include "store/rbd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

int cluster_connect(const struct ceph_opts *o, struct cluster **ret, char *err, size_t errlen)
{
	struct cluster *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	r = rados_create(&c->cluster, o && o->id ? o->id : NULL);
	if (r < 0) {
		(void)snprintf(err, errlen, "cannot create a Ceph client: %s", strerror(-r));
		free(c);
		return r;
	}
	/* NULL reads CEPH_CONF or /etc/ceph/ceph.conf etc., as the rbd CLI does. */
	r = rados_conf_read_file(c->cluster, o ? o->conf : NULL);
	if (r < 0) {
		(void)snprintf(err, errlen, "cannot read Ceph config %s: %s",
			       o && o->conf ? o->conf : "(default search path)", strerror(-r));
		goto fail;
	}
	(void)rados_conf_parse_env(c->cluster, NULL);
	(void)rados_conf_set(c->cluster, "client_mount_timeout", "30");
	(void)rados_conf_set(c->cluster, "rados_mon_op_timeout", "30");
	(void)rados_conf_set(c->cluster, "rados_osd_op_timeout", "60");
	r = rados_connect(c->cluster);
	if (r < 0) {
		(void)snprintf(err, errlen, "cannot connect to the Ceph cluster as client.%s: %s",
			       o && o->id ? o->id : "admin", strerror(-r));
		goto fail;
	}
	*ret = c;
	return 0;
fail:
	rados_shutdown(c->cluster);
	free(c);
	return r;
}

void cluster_close(struct cluster *c)
{
	if (!c)
		return;
	rados_shutdown(c->cluster);
	free(c);
}

static int open_ioctx(struct cluster *c, const struct image_spec *spec, rados_ioctx_t *io)
{
	int r = rados_ioctx_create(c->cluster, spec->pool, io);

	if (r < 0)
		return r;
	rados_ioctx_set_namespace(*io, spec->ns);
	return 0;
}

int img_create(struct cluster *c, const struct image_spec *spec, uint64_t size)
{
	rados_ioctx_t io;
	rbd_image_options_t opts;
	int r;

	r = open_ioctx(c, spec, &io);
	if (r < 0)
		return r;
	rbd_image_options_create(&opts);
	/* Features come from the cluster's rbd_default_features (krbd-compatible defaults). */
	r = rbd_create4(io, spec->image, size, opts);
	rbd_image_options_destroy(opts);
	rados_ioctx_destroy(io);
	return r;
}

int img_remove(struct cluster *c, const struct image_spec *spec)
{
	rados_ioctx_t io;
	int r;

	r = open_ioctx(c, spec, &io);
	if (r < 0)
		return r;
	r = rbd_remove(io, spec->image);
	rados_ioctx_destroy(io);
	return r;
}

int img_trash_move(struct cluster *c, const struct image_spec *spec)
{
	rados_ioctx_t io;
	int r;

	r = open_ioctx(c, spec, &io);
	if (r < 0)
		return r;
	r = rbd_trash_move(io, spec->image, 0);
	rados_ioctx_destroy(io);
	return r;
}

int img_trash_find(struct cluster *c, const struct image_spec *spec, char *id, size_t len)
{
	rbd_trash_image_info_t *t = NULL;
	size_t n = 16;
	rados_ioctx_t io;
	int r;

	r = open_ioctx(c, spec, &io);
	if (r < 0)
		return r;
	for (;;) {
		free(t);
		t = calloc(n, sizeof(*t));
		if (!t) {
			r = -ENOMEM;
			break;
		}
		r = rbd_trash_list(io, t, &n);
		if (r != -ERANGE)
			break;
	}
	if (r >= 0) {
		int found = -ENOENT;

		for (size_t k = 0; k < n; k++)
			if (found < 0 && t[k].source == RBD_TRASH_IMAGE_SOURCE_USER &&
			    !strcmp(t[k].name, spec->image)) {
				(void)snprintf(id, len, "%s", t[k].id);
				found = 0;
			}
		rbd_trash_list_cleanup(t, n);
		r = found;
	}
	free(t);
	rados_ioctx_destroy(io);
	return r;
}

int img_trash_remove(struct cluster *c, const struct image_spec *spec, const char *id)
{
	rados_ioctx_t io;
	int r;

	r = open_ioctx(c, spec, &io);
	if (r < 0)
		return r;
	r = rbd_trash_remove(io, id, 0);
	rados_ioctx_destroy(io);
	return r;
}

int img_users(struct img *i, size_t *watchers, int *snaps)
{
	rbd_image_watcher_t w[64];
	rbd_snap_info_t sn[64];
	size_t nw = ARRAY_SIZE(w);
	int max = (int)ARRAY_SIZE(sn), n, r;

	r = rbd_watchers_list(i->image, w, &nw);
	if (r == -ERANGE)
		nw = ARRAY_SIZE(w) + 1; /* more than we can list: in use all the same */
	else if (r < 0)
		return r;
	else
		rbd_watchers_list_cleanup(w, nw);
	n = rbd_snap_list(i->image, sn, &max);
	if (n == -ERANGE)
		n = max;
	else if (n < 0)
		return n;
	else
		rbd_snap_list_end(sn);
	*watchers = nw;
	*snaps = n;
	return 0;
}

int img_loc_open(struct cluster *c, const struct image_spec *spec, struct img_loc *l)
{
	int r;

	memset(l, 0, sizeof(*l));
	l->conn = c;
	l->spec = *spec;
	r = open_ioctx(c, spec, &l->io);
	if (r < 0)
		return r;
	l->pool_id = rados_ioctx_get_id(l->io);
	return 0;
}

void img_loc_close(struct img_loc *l)
{
	if (l->io)
		rados_ioctx_destroy(l->io);
	l->io = NULL;
}

/* By name (@id NULL) or, read-only, by id (which also finds trashed images). */
static int open_by(struct cluster *c, const struct image_spec *spec, const char *id, int read_only,
		   struct img **ret)
{
	struct img *i = calloc(1, sizeof(*i));
	int r;

	if (!i)
		return -ENOMEM;
	r = img_loc_open(c, spec, &i->loc);
	if (r < 0) {
		free(i);
		return r;
	}
	if (id)
		r = rbd_open_by_id_read_only(i->loc.io, id, &i->image, NULL);
	else
		r = read_only ? rbd_open_read_only(i->loc.io, spec->image, &i->image, NULL)
			      : rbd_open(i->loc.io, spec->image, &i->image, NULL);
	if (r < 0) {
		img_close(i);
		return r;
	}
	(void)rbd_get_id(i->image, i->loc.id, sizeof(i->loc.id));
	*ret = i;
	return 0;
}

int img_open(struct cluster *c, const struct image_spec *spec, int read_only, struct img **ret)
{
	return open_by(c, spec, NULL, read_only, ret);
}

int img_open_id(struct cluster *c, const struct image_spec *spec, const char *id, struct img **ret)
{
	return open_by(c, spec, id, 1, ret);
}

void img_close(struct img *i)
{
	if (!i)
		return;
	if (i->image)
		(void)rbd_close(i->image);
	img_loc_close(&i->loc);
	free(i);
}

int img_size(struct img *i, uint64_t *size)
{
	return rbd_get_size(i->image, size);
}

int img_read(struct img *i, uint64_t off, size_t len, uint8_t *buf)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = rbd_read(i->image, off + done, len - done, (char *)buf + done);

		if (n < 0)
			return (int)n;
		if (n == 0) { /* past the end reads as zeros */
			memset(buf + done, 0, len - done);
			break;
		}
		done += (size_t)n;
	}
	return 0;
}

int img_write(struct img *i, uint64_t off, size_t len, const uint8_t *buf)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = rbd_write(i->image, off + done, len - done, (const char *)buf + done);

		if (n < 0)
			return (int)n;
		if (n == 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

int img_flush(struct img *i)
{
	return rbd_flush(i->image);
}

int img_object_size(struct img *i, uint64_t *size)
{
	rbd_image_info_t info;
	int r = rbd_stat(i->image, &info, sizeof(info));

	if (r < 0)
		return r;
	*size = info.obj_size;
	return 0;
}

int img_lease(const struct img_loc *l, const char *name, const char *cookie, unsigned lease_s,
	      int renew)
{
	char oid[96], desc[128], host[64] = "?";
	struct timeval t = { .tv_sec = lease_s };
	int r;

	(void)gethostname(host, sizeof(host) - 1);
	(void)snprintf(oid, sizeof(oid), "rbd_header.%s", l->id);
	(void)snprintf(desc, sizeof(desc), "pvenc on %s", host);
	r = rados_lock_exclusive(l->io, oid, name, cookie, desc, &t,
				 renew ? LIBRADOS_LOCK_FLAG_MAY_RENEW : 0);
	/* Held by someone else (EBUSY), or by us under another cookie (EEXIST). */
	return r == -EEXIST ? -EBUSY : r;
}

int img_lease_release(const struct img_loc *l, const char *name, const char *cookie)
{
	char oid[96];

	(void)snprintf(oid, sizeof(oid), "rbd_header.%s", l->id);
	return rados_unlock(l->io, oid, name, cookie);
}

int img_meta_get(struct img *i, const char *key, char **value)
{
	size_t len = 256;

	for (int tries = 0; tries < 4; tries++) {
		char *buf = malloc(len);
		int r;

		if (!buf)
			return -ENOMEM;
		r = rbd_metadata_get(i->image, key, buf, &len);
		if (r == 0) {
			*value = buf;
			return 0;
		}
		free(buf);
		if (r != -ERANGE)
			return r;
		if (len > (64 << 10))
			return -EFBIG; /* no pvenc value is that large: refuse hostile input */
	}
	return -ERANGE;
}

int img_meta_set(struct img *i, const char *key, const char *value)
{
	return rbd_metadata_set(i->image, key, value);
}

int img_meta_remove(struct img *i, const char *key)
{
	int r = rbd_metadata_remove(i->image, key);

	return r == -ENOENT ? 0 : r;
}

int img_meta_getter(void *ctx, const char *key, char **value)
{
	return img_meta_get(ctx, key, value);
}

int img_omap_get(const struct img_loc *l, const char *oid, const char *key, char **value)
{
	rados_omap_iter_t it = NULL;
	rados_read_op_t op = rados_create_read_op();
	const char *keys[] = { key };
	int prval = 0, r;
	char *k = NULL, *v = NULL;
	size_t vlen = 0;

	if (!op)
		return -ENOMEM;
	rados_read_op_omap_get_vals_by_keys(op, keys, 1, &it, &prval);
	r = rados_read_op_operate(op, l->io, oid, 0);
	if (r == 0)
		r = prval;
	if (r == 0) {
		r = rados_omap_get_next(it, &k, &v, &vlen);
		if (r == 0 && !k)
			r = -ENOENT;
		if (r == 0 && vlen > 4096)
			r = -EFBIG;
		if (r == 0) {
			*value = strndup(v, vlen);
			r = *value ? 0 : -ENOMEM;
		}
	}
	if (it)
		rados_omap_get_end(it);
	rados_release_read_op(op);
	return r;
}
