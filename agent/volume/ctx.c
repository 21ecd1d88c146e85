// SPDX-License-Identifier: MIT
/* The context of the volume operations: configuration, Ceph connection, last error. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "volume/internal.h"

int vol_fail(struct pvenc_ctx *ctx, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(ctx->err, sizeof(ctx->err), fmt, ap);
	va_end(ap);
	return r;
}

void pvenc_ctx_init(struct pvenc_ctx *ctx, const struct pvenc_config *cfg)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->cfg = *cfg;
}

void pvenc_ctx_done(struct pvenc_ctx *ctx)
{
	if (!ctx->shared_conn)
		cluster_close(ctx->conn);
	ctx->conn = NULL;
}

void pvenc_ctx_share(struct pvenc_ctx *ctx, struct cluster *conn)
{
	ctx->conn = conn;
	ctx->shared_conn = 1;
}

int pvenc_ctx_connect(struct pvenc_ctx *ctx)
{
	struct ceph_opts o = {
		.conf = ctx->cfg.ceph_conf[0] ? ctx->cfg.ceph_conf : NULL,
		.id = ctx->cfg.ceph_id[0] ? ctx->cfg.ceph_id : NULL,
	};

	if (ctx->conn)
		return 0;
	return cluster_connect(&o, &ctx->conn, ctx->err, sizeof(ctx->err));
}

static int open_failed(struct pvenc_ctx *ctx, const struct image_spec *head, int r)
{
	char name[SPEC_STR_MAX];

	(void)image_spec_format(head, name, sizeof(name));
	if (r == -ENOENT)
		return vol_fail(ctx, r, "image %s does not exist (or its pool/namespace does not)",
				name);
	if (r == -E2BIG)
		return vol_fail(ctx, -EBADMSG,
				"image %s has invalid encryption metadata: more than 64 keys under "
				"one of pvenc.*, rbd.csi.ceph.com/*",
				name);
	return vol_fail(ctx, r, "cannot open image %s: %s", name, strerror(-r));
}

int vol_open_image(struct pvenc_ctx *ctx, const struct image_spec *spec, int ro, struct img **img)
{
	struct image_spec head = *spec;
	int r = pvenc_ctx_connect(ctx);

	if (r < 0)
		return r;
	head.snap[0] = '\0'; /* metadata lives on the image head */
	r = img_open(ctx->conn, &head, !!ro, img);
	return r < 0 ? open_failed(ctx, &head, r) : 0;
}

int vol_open_head(struct pvenc_ctx *ctx, const struct image_spec *spec, struct img_head **head)
{
	struct image_spec h = *spec;
	int r = pvenc_ctx_connect(ctx);

	if (r < 0)
		return r;
	h.snap[0] = '\0';
	r = img_head_open(ctx->conn, &h, head);
	return r < 0 ? open_failed(ctx, &h, r) : 0;
}

int vol_open_kms(struct pvenc_ctx *ctx, const struct image_spec *spec, const char *id,
		 struct kms **k)
{
	return kms_open(ctx->cfg.kms_config, id, spec ? spec->pool : NULL, spec ? spec->ns : NULL,
			k, ctx->err, sizeof(ctx->err));
}

int vol_set_meta(struct pvenc_ctx *ctx, struct img *img, const char *key, const char *v)
{
	int r = img_meta_set(img, key, v);

	if (r < 0)
		return vol_fail(ctx, r, "cannot write image metadata %s: %s", key, strerror(-r));
	return 0;
}
