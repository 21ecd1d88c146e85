/* SPDX-License-Identifier: MIT */
/*
 * The agent's device table and job queue: what it knows of each mapped rbd device
 * (opening, open, retrying, failed, ignored, closed), the jobs waiting for a worker,
 * and what a job's outcome does to a device (retry with backoff, give up, leave it).
 * Pure: no locks, no clock, no I/O. The caller holds the agent's lock, passes the
 * time in and logs the events; tests/unit/test-devtable.c drives it directly.
 */
#ifndef PVENC_DAEMON_DEVTABLE_H
#define PVENC_DAEMON_DEVTABLE_H

#include <stdint.h>
#include <time.h>

#include "stats/kmodnl.h"
#include "util/imagespec.h"

enum dev_state {
	DEV_QUEUED,
	DEV_OPEN,
	DEV_RETRY,
	DEV_FAILED,
	DEV_IGNORED, /* not an encrypted volume */
	DEV_CLOSED,
	DEV_NSTATES,
};
const char *dev_state_name(enum dev_state s);

/* next_try of a device whose retry is queued or running: never due by itself. */
#define DEV_RETRY_IN_FLIGHT ((time_t)INT64_MAX)

struct dev {
	int id; /* /dev/rbd<id> */
	enum dev_state state;
	int busy; /* a worker runs a job for it */
	int attempts; /* failed opens in a row */
	time_t next_try; /* DEV_RETRY: monotonic seconds; DEV_RETRY_IN_FLIGHT while it runs */
	char dm_name[128];
	char image[SPEC_STR_MAX]; /* pool/[ns/]image, for logs: rbdN changes every boot */
	int scanned; /* found by the startup scan, not yet tried: READY=1 waits for it */
	char last_error[1024];
	time_t since; /* wall clock of the last change of state or error; 0: not known */
	int have_ident; /* DEV_OPEN: ident is what pvenc.ko was told */
	struct kvol ident;
	int64_t rot_period; /* DEV_OPEN: its rotation schedule; 0 (off): never checked */
	time_t rot_check; /* monotonic seconds of its next rotation check */
	struct dev *next;
};

/* What a worker does for a device: the agent's own operations, not the wire's. */
enum job_op {
	JOB_OPEN, /* udev add, pvencctl open, a due retry */
	JOB_RESIZE, /* udev change: grow, or open if not open yet */
	JOB_CLOSE,
	JOB_UNMAP,
	JOB_ROTATE, /* the rotation schedule's check */
};

struct job {
	int devid;
	enum job_op op;
	int deferred; /* JOB_CLOSE */
	int waited; /* a client waits for the result */
	int done;
	/* The outcome, filled by the worker. */
	int result;
	int already;
	char dm_path[160];
	char image[SPEC_STR_MAX];
	char err[1024];
	int have_ident;
	struct kvol ident;
	int have_rot; /* rot_period was read (open, rotation check) */
	int64_t rot_period;
	struct job *next;
};

struct devtable {
	struct dev *devs;
	struct job *jobs, *jobs_tail;
};

/* What the agent's settings say about retries and rotation checks. */
struct devtab_policy {
	int retry_limit; /* failed opens before giving up; 0: never */
	int retry_max_s; /* the backoff's cap */
	int rotation_check_s;
};

/* What devtab_account changed, for the log. */
enum dev_event {
	DEV_EV_NONE,
	DEV_EV_OPENED, /* newly open */
	DEV_EV_CLOSED,
	DEV_EV_IGNORED, /* newly ignored */
	DEV_EV_RETRY, /* *wait seconds until the next try */
	DEV_EV_FAILED,
	DEV_EV_ROTATE_FAILED, /* the volume stays open; the next check tries again */
};

struct dev *devtab_get(struct devtable *t, int id, int create);
void devtab_drop(struct devtable *t, int id);
/* Queues a job (NULL: out of memory); an unwaited job for the same device and operation
 * already queued is returned instead (coalesced). */
struct job *devtab_enqueue(struct devtable *t, int devid, enum job_op op, int deferred, int waited);
/* The next job whose device no worker runs, taken off the queue; NULL if none. */
struct job *devtab_dequeue(struct devtable *t);
/* Records a job's outcome at @now; @rnd is the backoff's jitter. */
enum dev_event devtab_account(struct devtable *t, const struct devtab_policy *p,
			      const struct job *j, time_t now, uint32_t rnd, unsigned *wait);
/* Queues the retries and rotation checks due at @now; seconds until the next one, or -1
 * when nothing is timed. */
long devtab_due(struct devtable *t, const struct devtab_policy *p, time_t now);
/* Devices per state. */
void devtab_count(const struct devtable *t, int n[DEV_NSTATES]);
/* Failed devices queued for another open (a reload); how many. */
int devtab_requeue_failed(struct devtable *t);
void devtab_free(struct devtable *t);

#endif
