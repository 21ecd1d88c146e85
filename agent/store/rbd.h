/* SPDX-License-Identifier: MIT */
/* A thin layer over librados/librbd: cluster connection, images by spec, metadata. */
#ifndef PVENC_STORE_RBD_H
#define PVENC_STORE_RBD_H

#include <rados/librados.h>
#include <rbd/librbd.h>
#include <stddef.h>
#include <stdint.h>

#include "util/macro.h"
#include "util/imagespec.h"

struct ceph_opts {
	const char *conf; /* NULL: CEPH_CONF or the default search path */
	const char *id; /* client id without "client.", NULL: admin */
};

struct cluster {
	rados_t cluster;
};

struct img_meta_kv {
	char *key; /* without librbd's "metadata_" omap prefix */
	char *value; /* NULL: longer than any pvenc value */
};

/* Where an image lives: the ioctx of its pool and namespace, its name and its id. */
struct img_loc {
	struct cluster *conn;
	rados_ioctx_t io;
	struct image_spec spec;
	char id[64];
	int64_t pool_id;
};

/* An image opened through librbd: size, data and metadata, read and written. */
struct img {
	struct img_loc loc;
	rbd_image_t image;
};

/* An image's header object only: its id and its pvenc and ceph-csi metadata, read
 * straight from RADOS in two round trips without librbd's image open (rbdheader.c).
 * Enough for open, status and the rotation check. */
struct img_head {
	struct img_loc loc;
	struct img_meta_kv *kv; /* the keys of pvenc's and ceph-csi's families */
	size_t nkv;
};

int cluster_connect(const struct ceph_opts *o, struct cluster **ret, char *err, size_t errlen);
void cluster_close(struct cluster *c);
static inline void cluster_closep(struct cluster **c)
{
	cluster_close(*c);
}
#define _cleanup_cluster_ _cleanup_(cluster_closep)

/* Creates IMAGE of @size bytes with the default features (-EEXIST if it exists). */
int img_create(struct cluster *c, const struct image_spec *spec, uint64_t size);
/* Removes the image (rbd rm); -ENOTEMPTY with snapshots, -EBUSY while watched. */
int img_remove(struct cluster *c, const struct image_spec *spec);
/* Who uses the image: watchers (mappings and open handles; a read-only open adds
 * none) and snapshot count. */
int img_users(struct img *i, size_t *watchers, int *snaps);
/* Delete in steps (Documentation/pvencctl.md "delete"): the image moves to the RBD
 * trash, where it keeps its metadata but no one can map it, until the KMS key is gone.
 * find: the id of the trash entry named spec->image (moved by a user), -ENOENT if none. */
int img_trash_move(struct cluster *c, const struct image_spec *spec);
int img_trash_find(struct cluster *c, const struct image_spec *spec, char *id, size_t len);
int img_trash_remove(struct cluster *c, const struct image_spec *spec, const char *id);
/* Opens the image head (snapshots share the head's metadata). */
int img_open(struct cluster *c, const struct image_spec *spec, int read_only, struct img **ret);
void img_close(struct img *i);
/* An image by its id (also one in the trash); spec names its pool and namespace. */
int img_open_id(struct cluster *c, const struct image_spec *spec, const char *id, struct img **ret);
static inline void img_closep(struct img **i)
{
	img_close(*i);
}
#define _cleanup_img_ _cleanup_(img_closep)

int img_head_open(struct cluster *c, const struct image_spec *spec, struct img_head **ret);
void img_head_close(struct img_head *h);
static inline void img_head_closep(struct img_head **h)
{
	img_head_close(*h);
}
#define _cleanup_img_head_ _cleanup_(img_head_closep)
/* A metadata value read at open (malloc string; -ENOENT if absent, -EOPNOTSUPP for a
 * key outside the families read). */
int img_head_get(const struct img_head *h, const char *key, char **value);
/* meta_get_fn adapter (ctx is a struct img_head *). */
int img_head_getter(void *ctx, const char *key, char **value);

/* The ioctx of the image's pool and namespace in @l (spec and pool id set, id empty). */
int img_loc_open(struct cluster *c, const struct image_spec *spec, struct img_loc *l);
void img_loc_close(struct img_loc *l);

int img_size(struct img *i, uint64_t *size);
int img_read(struct img *i, uint64_t off, size_t len, uint8_t *buf);
int img_write(struct img *i, uint64_t off, size_t len, const uint8_t *buf);
int img_flush(struct img *i);
/* Bytes per RADOS object: one write within an object is atomic. */
int img_object_size(struct img *i, uint64_t *size);

/* An advisory lease (cls_lock on the image's header object, next to librbd's own
 * locks): exclusive, and it expires after @lease_s unless taken again with @renew by
 * the same @cookie, so a holder that dies blocks nobody for long. -EBUSY if another
 * holder has it. */
int img_lease(const struct img_loc *l, const char *name, const char *cookie, unsigned lease_s,
	      int renew);
int img_lease_release(const struct img_loc *l, const char *name, const char *cookie);

/* Metadata: get gives a malloc string (-ENOENT if absent). */
int img_meta_get(struct img *i, const char *key, char **value);
int img_meta_set(struct img *i, const char *key, const char *value);
int img_meta_remove(struct img *i, const char *key);
/* meta_get_fn adapter (ctx is a struct img *). */
int img_meta_getter(void *ctx, const char *key, char **value);

/* One omap value of a RADOS object in the image's pool/namespace (ceph-csi journal). */
int img_omap_get(const struct img_loc *l, const char *oid, const char *key, char **value);

/* Every image of every pool, default namespace and namespaces (rbdlist.c): *specs
 * (malloc), *n. Names that are no valid spec part are left out and counted in *odd. */
int cluster_list_images(struct cluster *c, struct image_spec **specs, size_t *n, size_t *odd);

#endif
