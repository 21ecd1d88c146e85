/* SPDX-License-Identifier: MIT */
/* Mapped krbd devices, from /sys/bus/rbd/devices/<id>/ (one value per file). */
#ifndef PVENC_STORE_KRBD_H
#define PVENC_STORE_KRBD_H

#include <stddef.h>

#include "util/imagespec.h"

#define RBD_SYSFS "/sys/bus/rbd/devices"

struct krbd_dev {
	int id; /* /dev/rbd<id> */
	char path[32]; /* /dev/rbd<id> */
	struct image_spec spec;
	char image_id[64];
	char pool_id[24]; /* decimal, as sysfs has it */
	char fsid[40]; /* the cluster's fsid */
};

/* /dev/rbdN, or any path (symlink) to it: -ENODEV if it is not a whole rbd device. */
int krbd_dev_from_path(const char *path, struct krbd_dev *d);
int krbd_dev_from_id(int id, struct krbd_dev *d);
/* The mapped device of @spec (snapshot included): -ENOENT when not mapped. */
int krbd_dev_find(const struct image_spec *spec, struct krbd_dev *d);
/* All mapped devices, sorted by id; *n = count. */
int krbd_dev_list(struct krbd_dev **devs, size_t *n);

/* device-mapper name of a mapped volume: pvenc-<image id>-<16 hex>[@<snap>], the hex
 * the start of SHA-256 over the cluster fsid, the pool id and the namespace. An image
 * id is unique only within a pool (and a pool writer can give an image any id), so
 * the name must say where the image is. -ENAMETOOLONG beyond 127 bytes. */
int krbd_dm_name(const struct krbd_dev *d, char *buf, size_t len);
/* The name pvenc gave it before 2026.12: pvenc-<image id>[@<snap>]. Volumes opened then
 * stay open under it until closed. */
int krbd_dm_name_legacy(const struct krbd_dev *d, char *buf, size_t len);

#endif
