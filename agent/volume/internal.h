/* SPDX-License-Identifier: MIT */
/* Helpers shared by the volume operations (volume.c, rotate.c); not a public API. */
#ifndef PVENC_VOLUME_INTERNAL_H
#define PVENC_VOLUME_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "kms/kms.h"
#include "store/rbdmeta.h"
#include "volume/volume.h"

#define DEK_LEN 32 /* 256 random bits: the LUKS2 keyslot secret */

/* Puts the sentence in ctx->err and returns @r. */
int vol_fail(struct pvenc_ctx *ctx, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int vol_open_image(struct pvenc_ctx *ctx, const struct image_spec *spec, int ro,
		   struct rbd_img **img);
/* The image's id and metadata only (two RADOS reads, no librbd open): open, status,
 * resize and the rotation check need nothing else. */
int vol_open_meta(struct pvenc_ctx *ctx, const struct image_spec *spec, struct rbd_img **img);
/* The KMS entry @id with the tenant override for the image's pool/namespace. */
int vol_open_kms(struct pvenc_ctx *ctx, const struct image_spec *spec, const char *id,
		 struct kms **k);
int vol_set_meta(struct pvenc_ctx *ctx, struct rbd_img *img, const char *key, const char *v);
/* The volume's DEK, from image metadata (unwrapped) or from the KMS; @kms_used (may be
 * NULL) gets the KMS id it came from. */
int vol_fetch_dek(struct pvenc_ctx *ctx, struct rbd_img *img, const struct vol_meta *m,
		  const struct open_opts *o, const char *name, uint8_t **dek, size_t *deklen,
		  char *kms_used, size_t kms_used_len);

/* Seconds between DEK rotations of a formatted pvenc volume under its schedule
 * (config_rotation precedence); 0 when off, for snapshots and ceph-csi volumes.
 * *sched and *src (may be NULL) get the schedule string and where it came from. */
int64_t vol_rotation_period(const struct pvenc_config *cfg, const struct image_spec *spec,
			    const struct vol_meta *m, const char **sched, const char **src);

#endif
