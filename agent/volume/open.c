// SPDX-License-Identifier: MIT
/* Open, close, resize and unmap of a volume mapped on this node. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypt/luks.h"
#include "util/crashpoint.h"
#include "util/log.h"
#include "util/macro.h"
#include "util/secmem.h"
#include "volume/internal.h"
#include "volume/kstat.h"

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static unsigned open_flags(const struct pvenc_config *cfg, const struct vol *v)
{
	unsigned flags = 0;

	if (v->dev.spec.snap[0])
		flags |= LUKS_OPEN_READONLY;
	if (cfg->discards)
		flags |= LUKS_OPEN_DISCARDS;
	if (cfg->no_read_wq)
		flags |= LUKS_OPEN_NO_READ_WQ;
	if (cfg->no_write_wq)
		flags |= LUKS_OPEN_NO_WRITE_WQ;
	return flags;
}

int volume_open(struct pvenc_ctx *ctx, struct vol *v, const struct open_opts *o,
		struct open_result *res)
{
	_cleanup_secmem_ uint8_t *dek = NULL;
	const struct vol_meta *m = &v->meta;
	struct dek_from from = { 0 };
	unsigned flags = open_flags(&ctx->cfg, v);
	size_t deklen = 0;
	uint64_t t0 = mono_us(), t;
	int r;

	memset(res, 0, sizeof(*res));
	r = vol_need(ctx, v, VOL_MAPPED);
	if (r < 0)
		return r;
	t = mono_us();
	r = vol_need(ctx, v, VOL_META);
	res->rbd_us = mono_us() - t;
	if (r < 0)
		return r;
	if (m->kind == VOL_PLAIN)
		return vol_fail(ctx, -ENOMSG,
				"%s is not an encrypted volume (no pvenc or ceph-csi metadata)",
				v->name);
	if (m->state != STATE_FORMATTED)
		return vol_fail(ctx, -EAGAIN,
				"%s is prepared but not formatted (an interrupted create or "
				"format); run 'pvencctl format %s' to finish it",
				v->name, v->name);
	if (!v->dm[0])
		return vol_fail(ctx, -ENAMETOOLONG, "device-mapper name for %s is too long",
				v->name);
	snprintf(res->dm_name, sizeof(res->dm_name), "%s", v->dm);
	t = mono_us();
	r = vol_fetch_dek(ctx, &v->head->loc, m, o, v->name, &dek, &deklen, &from);
	res->kms_us = mono_us() - t;
	if (r < 0)
		return r;
	crashpoint("open:dek-unwrapped");
	/* A DEK the KMS proves bound (v2: wrapped, or kept as an owner record) comes with
	 * an authenticated header: a header without the authenticator was stripped of it. */
	if (m->kind == VOL_PVENC && from.bound)
		flags |= LUKS_OPEN_MAC_REQUIRED;
	t = mono_us();
	r = luks_open(v->dev.path, v->dm, m->kind == VOL_PVENC ? m->uuid : NULL, dek, deklen, flags,
		      &res->already, ctx->err, sizeof(ctx->err));
	res->dm_us = mono_us() - t;
	if (r == -EMEDIUMTYPE) { /* a header pvenc does not make: name the image too */
		char why[sizeof(ctx->err)];

		(void)snprintf(why, sizeof(why), "%s", ctx->err);
		return vol_fail(ctx, r, "%s: %s", v->name, why);
	}
	if (r < 0)
		return r;
	crashpoint("open:activated");
	(void)snprintf(res->dm_path, sizeof(res->dm_path), "/dev/mapper/%s", v->dm);
	(void)snprintf(res->device, sizeof(res->device), "%s", v->dev.path);
	res->readonly = !!(flags & LUKS_OPEN_READONLY);
	res->rotation_period = vol_rotation_period(&ctx->cfg, &v->dev.spec, m, NULL, NULL);
	kstat_volume_opened(&v->dev, v->dm, from.kms, m, res->already, &res->ident);
	res->total_us = mono_us() - t0;
	log_info("image=%s event=%s device=%s dm=%s kms=%s binding=%s total_us=%" PRIu64
		 " rbd_us=%" PRIu64 " kms_us=%" PRIu64 " dm_us=%" PRIu64 " own_us=%" PRIu64,
		 v->name, res->already ? "already-open" : "opened", v->dev.path, v->dm,
		 m->kind == VOL_PVENC ? m->kms : "ceph-csi",
		 m->kind != VOL_PVENC ? "csi"
		 : from.bound	      ? "scope"
				      : "uuid-only",
		 res->total_us, res->rbd_us, res->kms_us, res->dm_us,
		 res->total_us - res->rbd_us - res->kms_us - res->dm_us);
	return 0;
}

int volume_close(struct pvenc_ctx *ctx, struct vol *v, int deferred, int *was_open)
{
	int r;

	*was_open = 0;
	r = vol_need(ctx, v, VOL_MAPPED);
	if (r < 0)
		return r;
	if (!v->dm[0])
		return vol_fail(ctx, -ENAMETOOLONG, "device-mapper name for %s is too long",
				v->name);
	r = luks_close(v->dm, v->dev.path, deferred);
	if (r == -ENOENT)
		return 0; /* not open: closing is idempotent */
	if (r == -EXDEV)
		return vol_fail(ctx, r,
				"device-mapper name %s is in use over another device than %s (%s): "
				"not closing it",
				v->dm, v->dev.path, v->name);
	if (r == -EBUSY)
		return vol_fail(ctx, r,
				"%s (%s) is in use (mounted or held open); unmount it first, or "
				"close with --deferred to remove it when the last user goes",
				v->name, v->dm);
	if (r < 0)
		return vol_fail(ctx, r, "closing %s (%s) failed: %s", v->name, v->dm, strerror(-r));
	*was_open = 1;
	kstat_volume_closed(v->dm);
	log_info("image=%s event=%s dm=%s", v->name, deferred ? "close-deferred" : "closed", v->dm);
	return 0;
}

int volume_resize(struct pvenc_ctx *ctx, struct vol *v, uint64_t *new_size)
{
	_cleanup_secmem_ uint8_t *dek = NULL;
	struct open_opts none = { 0 };
	size_t deklen = 0;
	int r;

	r = vol_need(ctx, v, VOL_MAPPED | VOL_META);
	if (r < 0)
		return r;
	if (v->meta.kind == VOL_PLAIN)
		return vol_fail(ctx, -ENOMSG, "%s is not an encrypted volume", v->name);
	r = vol_fetch_dek(ctx, &v->head->loc, &v->meta, &none, v->name, &dek, &deklen, NULL);
	if (r < 0)
		return r;
	crashpoint("resize:dek-unwrapped");
	r = luks_resize(v->dm, v->dev.path, dek, deklen, new_size);
	if (r == -ENOENT)
		return vol_fail(ctx, r, "%s is not open", v->name);
	if (r == -EXDEV)
		return vol_fail(ctx, r,
				"device-mapper name %s is in use over another device than %s (%s): "
				"not resizing it",
				v->dm, v->dev.path, v->name);
	if (r < 0)
		return vol_fail(ctx, r, "growing %s (%s) failed: %s", v->name, v->dm, strerror(-r));
	crashpoint("resize:grown");
	log_info("image=%s event=resized dm=%s size=%llu", v->name, v->dm,
		 new_size ? (unsigned long long)*new_size : 0ULL);
	return 0;
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

int volume_unmap(struct pvenc_ctx *ctx, struct vol *v)
{
	char id[16];
	int was_open, r;

	r = volume_close(ctx, v, 0, &was_open);
	if (r < 0)
		return r;
	(void)snprintf(id, sizeof(id), "%d", v->dev.id);
	/* What `rbd unmap` does: krbd refuses with EBUSY while the device is held. */
	r = sysfs_write("/sys/bus/rbd/remove_single_major", id);
	if (r == -ENOENT)
		r = sysfs_write("/sys/bus/rbd/remove", id);
	if (r == -EBUSY)
		return vol_fail(ctx, r,
				"%s (%s) is still in use; it was closed but cannot be unmapped",
				v->name, v->dev.path);
	if (r < 0)
		return vol_fail(ctx, r, "unmapping %s (%s) failed: %s", v->name, v->dev.path,
				strerror(-r));
	log_info("image=%s event=unmapped device=%s", v->name, v->dev.path);
	return 0;
}
