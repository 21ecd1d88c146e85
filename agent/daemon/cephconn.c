// SPDX-License-Identifier: MIT
#include "daemon/cephconn.h"

#include <malloc.h>
#include <stdio.h>

#include "util/log.h"

void cephconn_init(struct cephconn *c, const struct pvenc_config *cfg)
{
	pthread_mutex_init(&c->lock, NULL);
	pvenc_ctx_init(&c->ctx0, cfg);
	c->users = 0;
	c->idle_at = 0;
}

void cephconn_done(struct cephconn *c)
{
	pvenc_ctx_done(&c->ctx0);
	pthread_mutex_destroy(&c->lock);
}

int cephconn_get(struct cephconn *c, struct pvenc_ctx *ctx)
{
	int r = 0;

	pthread_mutex_lock(&c->lock);
	if (!c->ctx0.conn) {
		r = pvenc_ctx_connect(&c->ctx0);
		if (r < 0)
			(void)snprintf(ctx->err, sizeof(ctx->err), "%s", c->ctx0.err);
		else
			log_debug("event=ceph-connected");
	}
	if (r == 0) {
		c->users++;
		pvenc_ctx_share(ctx, c->ctx0.conn);
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

void cephconn_put(struct cephconn *c, struct pvenc_ctx *ctx, time_t now)
{
	pthread_mutex_lock(&c->lock);
	if (--c->users == 0)
		c->idle_at = now + CEPHCONN_IDLE_S;
	pthread_mutex_unlock(&c->lock);
	ctx->conn = NULL;
}

long cephconn_idle(struct cephconn *c, time_t now)
{
	long wait = -1;

	if (pthread_mutex_trylock(&c->lock) != 0)
		return 1;
	if (c->ctx0.conn && c->users == 0) {
		wait = c->idle_at - now;
		if (wait <= 0) {
			cluster_close(c->ctx0.conn);
			c->ctx0.conn = NULL;
			/* Give librados' freed arenas back: the idle footprint is the point. */
			(void)malloc_trim(0);
			log_debug("event=ceph-disconnected reason=idle");
			wait = -1;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return wait;
}
