/* SPDX-License-Identifier: MIT */
/*
 * pvenc-agent's core: a table of rbd devices, a job queue served by a bounded pool of
 * worker threads (one job per device at a time), retries with exponential backoff and
 * jitter, and the control socket. Open volumes are never closed by the agent stopping.
 */
#ifndef PVENC_DAEMON_AGENT_H
#define PVENC_DAEMON_AGENT_H

#include "util/config.h"

struct agent;

/* @config_path: the pvenc.conf that a reload (SIGHUP) reads again; NULL: the default,
 * which may be missing. */
int agent_new(const struct pvenc_config *cfg, const char *config_path, struct agent **ret);
/* Binds the control socket, connects to Ceph, starts the workers and queues every
 * rbd device already mapped (boot, agent restart). */
int agent_start(struct agent *a);
/* Serves the control socket until SIGTERM/SIGINT; then lets running jobs finish.
 * systemd: READY=1 once every device mapped at the start was tried once (at most 30 s),
 * STATUS= "N open, M retrying, K failed, Q opening"; SIGHUP reloads pvenc.conf. */
int agent_run(struct agent *a);
void agent_free(struct agent *a);

#endif
