/* SPDX-License-Identifier: MIT */
/* The agent's state, shared by its lifecycle and workers (agent.c) and its control
 * socket (control.c); not a public API. */
#ifndef PVENC_DAEMON_INTERNAL_H
#define PVENC_DAEMON_INTERNAL_H

#include <pthread.h>
#include <time.h>

#include "daemon/agent.h"
#include "daemon/cephconn.h"
#include "daemon/devtable.h"

struct client {
	struct agent *a;
	int fd;
	int done; /* the thread has finished: join it */
	pthread_t thread;
	struct client *next;
};

struct agent {
	struct pvenc_config cfg;
	struct cephconn ceph;
	pthread_mutex_t lock; /* everything below, and cfg */
	pthread_cond_t work; /* jobs or retries may be ready */
	pthread_cond_t done; /* a waited job finished */
	struct devtable tab;
	pthread_t *workers;
	int nworkers;
	int stopping;
	int ready; /* READY=1 sent: the startup scan tried every device once */
	time_t ready_by; /* monotonic: READY=1 at the latest then */
	char status[128]; /* the last STATUS= sent */
	const char *config_path; /* re-read on reload (SIGHUP) */
	unsigned cfg_gen; /* bumped by a reload; workers copy cfg when it changes */
	int listen_fd;
	int clients;
	struct client *client_list; /* live client threads, joined by agent_free() */
	struct kmodnl_watch *kwatch; /* pvenc.ko appearing; NULL if netlink is unusable */
	char state_path[128]; /* devstate.h; "" without a socket directory */
	int state_unsaved; /* the last save failed (said once) */
};

/* Monotonic seconds. */
time_t agent_mono(void);
/* devtab_enqueue and a worker woken; with a->lock held. */
struct job *agent_enqueue(struct agent *a, int devid, enum job_op op, int deferred, int waited);
/* The device table into its file; with a->lock held. */
void agent_save_state(struct agent *a);
/* udev "remove": the rbd device is gone. */
void agent_handle_remove(struct agent *a, int devid);

/* control.c */
int control_bind(struct agent *a);
void control_accept(struct agent *a);
/* Joins client threads that have finished; all of them with @all (after their sockets
 * were shut down, so none waits for its peer). */
void control_reap(struct agent *a, int all);

#endif
