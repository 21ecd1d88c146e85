/* SPDX-License-Identifier: MIT */
/*
 * The agent's one Ceph connection, shared by its workers and requests: made by the first
 * user, dropped after CEPHCONN_IDLE_S without one. librados keeps ~14 threads that wake
 * several times a second and ~15 MiB, and an idle agent should cost nothing;
 * reconnecting costs one open a few milliseconds (Documentation/performance.md).
 */
#ifndef PVENC_DAEMON_CEPHCONN_H
#define PVENC_DAEMON_CEPHCONN_H

#include <pthread.h>
#include <time.h>

#include "volume/volume.h"

#define CEPHCONN_IDLE_S 30

struct cephconn {
	struct pvenc_ctx ctx0; /* owns the connection (NULL while idle) */
	pthread_mutex_t lock; /* ctx0.conn, users, idle_at */
	int users;
	time_t idle_at; /* monotonic: drop the connection then if unused */
};

void cephconn_init(struct cephconn *c, const struct pvenc_config *cfg);
void cephconn_done(struct cephconn *c);
/* @ctx shares the connection, made if there is none (its error in ctx->err);
 * cephconn_put when done. */
int cephconn_get(struct cephconn *c, struct pvenc_ctx *ctx);
void cephconn_put(struct cephconn *c, struct pvenc_ctx *ctx, time_t now);
/* Drops an unused connection whose idle time is up at @now; else the seconds until it is
 * (-1: nothing to wait for). Never waits for the lock: a worker may hold it for a whole
 * connect (up to client_mount_timeout when Ceph is down); 1 then, to look again. */
long cephconn_idle(struct cephconn *c, time_t now);

#endif
