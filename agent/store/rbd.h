/* SPDX-License-Identifier: MIT */
/* A thin layer over librados/librbd: cluster connection, images by spec, metadata. */
#ifndef PVENC_STORE_RBD_H
#define PVENC_STORE_RBD_H

#include <rados/librados.h>
#include <rbd/librbd.h>
#include <stddef.h>
#include <stdint.h>

#include "util/macro.h"
#include "volume/spec.h"

struct ceph_opts {
	const char *conf; /* NULL: CEPH_CONF or the default search path */
	const char *id; /* client id without "client.", NULL: admin */
};

struct rbd_conn {
	rados_t cluster;
};

struct rbd_meta_kv {
	char *key; /* without librbd's "metadata_" omap prefix */
	char *value; /* NULL: longer than any pvenc value */
};

struct rbd_img {
	struct rbd_conn *conn;
	rados_ioctx_t io;
	rbd_image_t image; /* NULL when opened by rbd_img_open_meta */
	struct image_spec spec;
	char id[64];
	int64_t pool_id;
	struct rbd_meta_kv *meta; /* rbd_img_open_meta: the keys read at open */
	size_t nmeta;
};

int rbd_conn_open(const struct ceph_opts *o, struct rbd_conn **ret, char *err, size_t errlen);
void rbd_conn_close(struct rbd_conn *c);
static inline void rbd_conn_closep(struct rbd_conn **c)
{
	rbd_conn_close(*c);
}
#define _cleanup_rbd_conn_ _cleanup_(rbd_conn_closep)

/* Creates IMAGE of @size bytes with the default features (-EEXIST if it exists). */
int rbd_img_create(struct rbd_conn *c, const struct image_spec *spec, uint64_t size);
/* Removes the image (rbd rm); -ENOTEMPTY with snapshots, -EBUSY while watched. */
int rbd_img_remove(struct rbd_conn *c, const struct image_spec *spec);
/* Who uses the image: watchers (mappings and open handles; a read-only open adds
 * none) and snapshot count. */
int rbd_img_users(struct rbd_img *i, size_t *watchers, int *snaps);
/* Delete in steps (Documentation/pvencctl.md "delete"): the image moves to the RBD
 * trash, where it keeps its metadata but no one can map it, until the KMS key is gone.
 * find: the id of the trash entry named spec->image (moved by a user), -ENOENT if none. */
int rbd_img_trash_move(struct rbd_conn *c, const struct image_spec *spec);
int rbd_img_trash_find(struct rbd_conn *c, const struct image_spec *spec, char *id, size_t len);
int rbd_img_trash_remove(struct rbd_conn *c, const struct image_spec *spec, const char *id);
/* Opens the image head (snapshots share the head's metadata). */
int rbd_img_open(struct rbd_conn *c, const struct image_spec *spec, int read_only,
		 struct rbd_img **ret);
void rbd_img_close(struct rbd_img *i);
/* An image by its id (also one in the trash); spec names its pool and namespace. */
int rbd_img_open_id(struct rbd_conn *c, const struct image_spec *spec, const char *id,
		    struct rbd_img **ret);
static inline void rbd_img_closep(struct rbd_img **i)
{
	rbd_img_close(*i);
}
#define _cleanup_rbd_img_ _cleanup_(rbd_img_closep)

/* The image's id and its pvenc and ceph-csi metadata, read straight from RADOS in two
 * round trips, without librbd's image open (store/rbdheader.c). Enough for open and
 * status; the data and write calls below need rbd_img_open (-EBADF otherwise). */
int rbd_img_open_meta(struct rbd_conn *c, const struct image_spec *spec, struct rbd_img **ret);

/* An rbd_img with the ioctx of the image's pool and namespace, no image opened yet
 * (for the two open functions). */
int rbd_img_alloc(struct rbd_conn *c, const struct image_spec *spec, struct rbd_img **ret);

int rbd_img_size(struct rbd_img *i, uint64_t *size);
int rbd_img_read(struct rbd_img *i, uint64_t off, size_t len, uint8_t *buf);
int rbd_img_write(struct rbd_img *i, uint64_t off, size_t len, const uint8_t *buf);
int rbd_img_flush(struct rbd_img *i);
/* Bytes per RADOS object: one write within an object is atomic. */
int rbd_img_object_size(struct rbd_img *i, uint64_t *size);

/* An advisory lease (cls_lock on the image's header object, next to librbd's own
 * locks): exclusive, and it expires after @lease_s unless taken again with @renew by
 * the same @cookie, so a holder that dies blocks nobody for long. -EBUSY if another
 * holder has it. */
int rbd_img_lease(struct rbd_img *i, const char *name, const char *cookie, unsigned lease_s,
		  int renew);
int rbd_img_lease_release(struct rbd_img *i, const char *name, const char *cookie);

/* Metadata: get gives a malloc string (-ENOENT if absent). */
int rbd_img_meta_get(struct rbd_img *i, const char *key, char **value);
int rbd_img_meta_set(struct rbd_img *i, const char *key, const char *value);
int rbd_img_meta_remove(struct rbd_img *i, const char *key);
/* rbd_img_meta_get of an image opened by rbd_img_open_meta; frees what it read. */
int rbd_img_meta_cached(const struct rbd_img *i, const char *key, char **value);
void rbd_img_meta_drop(struct rbd_img *i);
/* meta_get_fn adapter (ctx is a struct rbd_img *). */
int rbd_img_meta_getter(void *ctx, const char *key, char **value);

/* One omap value of a RADOS object in the image's pool/namespace (ceph-csi journal). */
int rbd_img_omap_get(struct rbd_img *i, const char *oid, const char *key, char **value);

#endif
