// SPDX-License-Identifier: MIT
/*
 * Changing a volume's LUKS2 header on the image (rotation, recovery keys): read it,
 * change it in memory (crypt/header.c), write back only what changed, in the order
 * that keeps it opening after a stop at any write, and read it back.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "crypt/luks.h"
#include "volume/internal.h"

/* LUKS2's two JSON header copies (16 KiB each by default) come first. */
#define LUKS2_JSON_AREA ((uint64_t)32 << 10)

static int read_header(struct pvenc_ctx *ctx, struct img *img, uint8_t **hdr)
{
	uint8_t *b = malloc(LUKS_HEADER_SIZE);
	int r;

	if (!b)
		return -ENOMEM;
	r = img_read(img, 0, LUKS_HEADER_SIZE, b);
	if (r < 0) {
		free(b);
		(void)vol_fail(ctx, r, "cannot read the LUKS2 header: %s", strerror(-r));
		return r;
	}
	*hdr = b;
	return 0;
}

static int write_range(struct img *img, const uint8_t *was, const uint8_t *now, uint64_t from,
		       uint64_t to, uint64_t obj)
{
	for (uint64_t off = from; off < to; off += obj) {
		size_t len = (size_t)(to - off < obj ? to - off : obj);
		int r;

		if (!memcmp(was + off, now + off, len))
			continue;
		r = img_write(img, off, len, now + off);
		if (r < 0)
			return r;
	}
	return img_flush(img);
}

/* Writes what changed between @was and @now, one RADOS object per write (atomic).
 * @json_last: the JSON header area goes after the keyslot area (a keyslot was added:
 * its material must exist before a header names it), else before it (a keyslot was
 * removed: no header may name it while its material is wiped). */
static int write_header(struct pvenc_ctx *ctx, struct img *img, const uint8_t *was,
			const uint8_t *now, int json_last)
{
	uint64_t obj = 0, json;
	int r;

	if (img_object_size(img, &obj) < 0 || obj == 0 || obj > LUKS_HEADER_SIZE)
		obj = LUKS_HEADER_SIZE;
	json = (LUKS2_JSON_AREA + obj - 1) / obj * obj;
	if (json > LUKS_HEADER_SIZE)
		json = LUKS_HEADER_SIZE;
	r = json_last ? write_range(img, was, now, json, LUKS_HEADER_SIZE, obj)
		      : write_range(img, was, now, 0, json, obj);
	if (r == 0)
		r = json_last ? write_range(img, was, now, 0, json, obj)
			      : write_range(img, was, now, json, LUKS_HEADER_SIZE, obj);
	if (r < 0)
		return vol_fail(ctx, r, "writing the LUKS2 header failed: %s", strerror(-r));
	return 0;
}

/* The header on the image must open with @dek: checked after every header write. */
static int verify_header(struct pvenc_ctx *ctx, struct img *img, const uint8_t *dek,
			 const char *what)
{
	uint8_t *hdr = NULL;
	int r = read_header(ctx, img, &hdr);

	if (r < 0)
		return r;
	r = luks_header_keyslot_of(hdr, LUKS_HEADER_SIZE, dek, DEK_LEN);
	free(hdr);
	if (r < 0)
		return vol_fail(ctx, -EIO,
				"the LUKS2 header read back after %s does not open with "
				"the new DEK",
				what);
	return 0;
}

static int refuse_mac(struct pvenc_ctx *ctx, const char *name)
{
	return vol_fail(ctx, -EMEDIUMTYPE,
			"refusing the LUKS2 header of %s: its keyslot's authenticator does not "
			"match its settings: they were changed after pvenc wrote them",
			name);
}

int vol_header_step(struct pvenc_ctx *ctx, struct img *img, enum header_op op, const uint8_t *old,
		    const uint8_t *new_dek, unsigned flags, const char *name)
{
	uint8_t *was = NULL, *now = NULL;
	char why[256];
	int r;

	r = read_header(ctx, img, &was);
	if (r < 0)
		return r;
	r = luks_header_check(was, LUKS_HEADER_SIZE, LUKS_PVENC, why, sizeof(why));
	if (r < 0) {
		free(was);
		return vol_fail(ctx, r, "refusing the LUKS2 header of %s: %s", name,
				r == -EMEDIUMTYPE ? why : strerror(-r));
	}
	now = malloc(LUKS_HEADER_SIZE);
	if (!now) {
		free(was);
		return -ENOMEM;
	}
	memcpy(now, was, LUKS_HEADER_SIZE);
	if (op == HEADER_ADD_KEY) {
		r = luks_header_add_key(now, LUKS_HEADER_SIZE, old, new_dek, DEK_LEN, flags);
		if (r == -EMEDIUMTYPE)
			r = refuse_mac(ctx, name);
		else if (r < 0)
			r = vol_fail(ctx, r,
				     "cannot add a keyslot for the new %s of %s: %s (the %s does "
				     "not open the header)",
				     flags & LUKS_KEY_TO_RECOVERY ? "recovery key" : "DEK", name,
				     r == -EPERM ? "wrong key" : strerror(-r),
				     flags & LUKS_KEY_FROM_RECOVERY ? "recovery key"
								    : "stored DEK");
		else
			r = write_header(ctx, img, was, now, 1);
	} else {
		r = op == HEADER_KEEP_ONLY
			    ? luks_header_keep_only(now, LUKS_HEADER_SIZE, new_dek, DEK_LEN)
		    : op == HEADER_DROP_RECOVERY
			    ? luks_header_drop_recovery(now, LUKS_HEADER_SIZE, new_dek, DEK_LEN)
			    : luks_header_set_mac(now, LUKS_HEADER_SIZE, new_dek, DEK_LEN);
		if (r == -EMEDIUMTYPE)
			r = refuse_mac(ctx, name);
		else if (r < 0)
			r = vol_fail(ctx, r, "cannot %s of %s: %s",
				     op == HEADER_KEEP_ONLY	  ? "remove the old keyslots"
				     : op == HEADER_DROP_RECOVERY ? "remove the recovery keyslot"
								  : "authenticate the header",
				     name, strerror(-r));
		else if (r > 0)
			r = write_header(ctx, img, was, now, 0);
	}
	free(was);
	free(now);
	if (r == 0)
		r = verify_header(ctx, img, new_dek,
				  op == HEADER_ADD_KEY	       ? "adding the keyslot"
				  : op == HEADER_KEEP_ONLY     ? "removing the old keyslots"
				  : op == HEADER_DROP_RECOVERY ? "removing the recovery keyslot"
							       : "authenticating the header");
	return r;
}

int vol_header_authenticate(struct pvenc_ctx *ctx, struct img *img, const uint8_t *dek,
			    const char *name)
{
	return vol_header_step(ctx, img, HEADER_SET_MAC, dek, dek, 0, name);
}

/* Buffered readers of a locally mapped /dev/rbdN (blkid, cryptsetup luksDump) would
 * otherwise see the old header from the page cache. */
void vol_drop_local_cache(const struct image_spec *spec)
{
	struct image_spec head = *spec;
	struct krbd_dev d;
	int fd;

	head.snap[0] = '\0';
	if (krbd_dev_find(&head, &d) < 0)
		return;
	fd = open(d.path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	(void)ioctl(fd, BLKFLSBUF, 0);
	(void)close(fd);
}
