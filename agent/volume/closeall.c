// SPDX-License-Identifier: MIT
/*
 * Every pvenc volume of the node closed at once: what the shutdown unit runs before
 * rbdmap unmaps the images and the network goes down. With plain krbd, rbdmap's
 * unmap-all unmounts and unmaps; under dm-crypt its unmap gets EBUSY, so this does
 * the unmounting (as rbdmap would), closing and, if asked, unmapping itself. Needs
 * neither Ceph nor the KMS.
 */
#include <errno.h>
#include <libmount.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "crypt/luks.h"
#include "util/log.h"
#include "util/macro.h"
#include "store/krbd.h"
#include "volume/internal.h"
#include "volume/volume.h"

/* Unmounts every mount of block device @devno, the last mounted first (a mount on top
 * of another goes before it). -EBUSY with @what naming the mount point that stays. */
static int unmount_dev(dev_t devno, const char *image, char *what, size_t len)
{
	struct libmnt_table *tb = mnt_new_table_from_file("/proc/self/mountinfo");
	struct libmnt_iter *it = mnt_new_iter(MNT_ITER_BACKWARD);
	struct libmnt_fs *fs;
	int r = 0;

	if (!tb || !it) {
		r = -ENOMEM;
		goto out;
	}
	while (mnt_table_next_fs(tb, it, &fs) == 0) {
		const char *target = mnt_fs_get_target(fs);

		if (mnt_fs_get_devno(fs) != devno || !target)
			continue;
		if (umount2(target, 0) < 0) {
			r = -errno;
			(void)snprintf(what, len, "%s", target);
			break;
		}
		log_info("image=%s event=unmounted mountpoint=%s", image, target);
	}
out:
	mnt_free_iter(it);
	mnt_unref_table(tb);
	return r;
}

int volume_close_all(struct pvenc_ctx *ctx, unsigned flags, unsigned *closed)
{
	_cleanup_free_ struct krbd_dev *devs = NULL;
	size_t n = 0, failed = 0;
	char first_err[sizeof(ctx->err)] = "";
	int r, first = 0;

	*closed = 0;
	r = krbd_dev_list(&devs, &n);
	if (r == -ENOENT)
		return 0; /* rbd.ko not loaded: nothing mapped */
	if (r < 0)
		return vol_fail(ctx, r, "cannot list rbd devices: %s", strerror(-r));
	for (size_t i = 0; i < n; i++) {
		_cleanup_vol_ struct vol v = { .dev.id = -1 };
		struct luks_status ls;
		char name[4 * (SPEC_NAME_MAX + 1)], path[160], what[256] = "";
		struct stat st;
		int was_open;

		(void)image_spec_format(&devs[i].spec, name, sizeof(name));
		vol_from_dev(&devs[i], &v);
		if (!v.dm[0] || luks_status(v.dm, &ls) <= 0)
			continue; /* not an open pvenc volume: rbdmap's business */
		(void)snprintf(path, sizeof(path), "/dev/mapper/%s", v.dm);
		r = 0;
		if ((flags & CLOSE_ALL_UNMOUNT) && stat(path, &st) == 0)
			r = unmount_dev(st.st_rdev, name, what, sizeof(what));
		if (r < 0) {
			(void)vol_fail(ctx, r, "%s: cannot unmount %s: %s", name, what,
				       strerror(-r));
		} else {
			r = flags & CLOSE_ALL_UNMAP ? volume_unmap(ctx, &v)
						    : volume_close(ctx, &v, 0, &was_open);
		}
		if (r < 0) {
			log_error("image=%s event=close-failed device=%s error=\"%s\"", name,
				  devs[i].path, ctx->err);
			if (!failed++) {
				first = r;
				(void)snprintf(first_err, sizeof(first_err), "%s", ctx->err);
			}
			continue;
		}
		(*closed)++;
	}
	if (failed)
		return vol_fail(ctx, first, "%zu volume(s) could not be closed; the first: %s",
				failed, first_err);
	return 0;
}
