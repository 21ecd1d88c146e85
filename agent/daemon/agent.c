// SPDX-License-Identifier: MIT
#include "daemon/agent.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "control/proto.h"
#include "crypt/luks.h"
#include "daemon/notify.h"
#include "daemon/retry.h"
#include "util/log.h"
#include "util/macro.h"
#include "store/krbd.h"
#include "volume/volume.h"

#define MAX_CLIENTS	 64
#define CLIENT_TIMEOUT_S 30
/* The Ceph connection is dropped after this long without a job: librados keeps ~14
 * threads that wake several times a second and ~15 MiB, and an idle agent should cost
 * nothing. Reconnecting costs one open a few milliseconds (Documentation/performance.md). */
#define CEPH_IDLE_S 30

enum dev_state {
	DEV_QUEUED,
	DEV_OPEN,
	DEV_RETRY,
	DEV_FAILED,
	DEV_IGNORED, /* not an encrypted volume */
	DEV_CLOSED,
};

static const char *const dev_state_names[] = {
	[DEV_QUEUED] = "queued", [DEV_OPEN] = "open",	    [DEV_RETRY] = "retrying",
	[DEV_FAILED] = "failed", [DEV_IGNORED] = "ignored", [DEV_CLOSED] = "closed",
};

struct dev {
	int id;
	enum dev_state state;
	int busy; /* a worker runs a job for it */
	int attempts; /* failed opens in a row */
	time_t next_try; /* DEV_RETRY: monotonic seconds */
	char dm_name[128];
	char image[SPEC_STR_MAX]; /* pool/[ns/]image, for logs: rbdN changes every boot */
	int scanned; /* found by the startup scan, not yet tried: READY=1 waits for it */
	char last_error[1024];
	int have_ident; /* DEV_OPEN: ident is what pvenc.ko was told */
	struct kvol ident;
	int64_t rot_period; /* DEV_OPEN: its rotation schedule; 0 (off): never checked */
	time_t rot_check; /* monotonic seconds of its next rotation check */
	struct dev *next;
};

struct job {
	int devid;
	enum ctl_op
		op; /* CTL_OPEN (add), CTL_RESIZE (change), CTL_CLOSE, CTL_UNMAP, CTL_EVENT (remove) */
	int deferred;
	int waited; /* a client waits for the result */
	int done;
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

struct agent {
	struct pvenc_config cfg;
	struct pvenc_ctx ctx0; /* owns the Ceph connection (NULL while idle) */
	pthread_mutex_t conn_lock; /* ctx0.conn, conn_users, conn_idle_at */
	int conn_users; /* jobs and requests using ctx0.conn */
	time_t conn_idle_at; /* monotonic: drop the connection then if unused */
	pthread_mutex_t lock;
	pthread_cond_t work; /* jobs or retries may be ready */
	pthread_cond_t done; /* a waited job finished */
	struct job *jobs, *jobs_tail;
	struct dev *devs;
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
};

static time_t mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* The shared Ceph connection, made if there is none; conn_put() when done. */
static int conn_get(struct agent *a, struct pvenc_ctx *ctx)
{
	int r = 0;

	pthread_mutex_lock(&a->conn_lock);
	if (!a->ctx0.conn) {
		r = pvenc_ctx_connect(&a->ctx0);
		if (r < 0)
			(void)snprintf(ctx->err, sizeof(ctx->err), "%s", a->ctx0.err);
		else
			log_debug("event=ceph-connected");
	}
	if (r == 0) {
		a->conn_users++;
		pvenc_ctx_share(ctx, a->ctx0.conn);
	}
	pthread_mutex_unlock(&a->conn_lock);
	return r;
}

static void conn_put(struct agent *a, struct pvenc_ctx *ctx)
{
	pthread_mutex_lock(&a->conn_lock);
	if (--a->conn_users == 0)
		a->conn_idle_at = mono() + CEPH_IDLE_S;
	pthread_mutex_unlock(&a->conn_lock);
	ctx->conn = NULL;
}

/* Drops an unused connection whose idle time is up; else the seconds until it is
 * (-1: nothing to wait for). With a->lock held (a->lock, then conn_lock). */
static long conn_idle(struct agent *a)
{
	long wait = -1;

	/* A worker may hold conn_lock for a whole connect (up to client_mount_timeout when
	 * Ceph is down): never wait for it with a->lock held, look again in a second. */
	if (pthread_mutex_trylock(&a->conn_lock) != 0)
		return 1;
	if (a->ctx0.conn && a->conn_users == 0) {
		wait = a->conn_idle_at - mono();
		if (wait <= 0) {
			cluster_close(a->ctx0.conn);
			a->ctx0.conn = NULL;
			/* Give librados' freed arenas back: the idle footprint is the point. */
			(void)malloc_trim(0);
			log_debug("event=ceph-disconnected reason=idle");
			wait = -1;
		}
	}
	pthread_mutex_unlock(&a->conn_lock);
	return wait;
}

static struct dev *dev_get(struct agent *a, int id, int create)
{
	struct dev *d;

	for (d = a->devs; d; d = d->next)
		if (d->id == id)
			return d;
	if (!create)
		return NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->id = id;
	d->state = DEV_QUEUED;
	d->next = a->devs;
	a->devs = d;
	return d;
}

static void dev_drop(struct agent *a, int id)
{
	for (struct dev **p = &a->devs; *p; p = &(*p)->next)
		if ((*p)->id == id) {
			struct dev *d = *p;

			*p = d->next;
			free(d);
			return;
		}
}

/* Queue a job; with the lock held. Coalesces an unwaited job already queued for the
 * same device and operation. */
static struct job *enqueue(struct agent *a, int devid, enum ctl_op op, int deferred, int waited)
{
	struct job *j;

	if (!waited)
		for (j = a->jobs; j; j = j->next)
			if (j->devid == devid && j->op == op && !j->waited)
				return j;
	j = calloc(1, sizeof(*j));
	if (!j)
		return NULL;
	j->devid = devid;
	j->op = op;
	j->deferred = deferred;
	j->waited = waited;
	if (a->jobs_tail)
		a->jobs_tail->next = j;
	else
		a->jobs = j;
	a->jobs_tail = j;
	pthread_cond_signal(&a->work);
	return j;
}

/* Next job whose device is not busy; with the lock held. */
static struct job *dequeue(struct agent *a)
{
	struct job *prev = NULL;

	for (struct job *j = a->jobs; j; prev = j, j = j->next) {
		struct dev *d = dev_get(a, j->devid, 0);

		if (d && d->busy)
			continue;
		if (prev)
			prev->next = j->next;
		else
			a->jobs = j->next;
		if (a->jobs_tail == j)
			a->jobs_tail = prev;
		j->next = NULL;
		return j;
	}
	return NULL;
}

/* STATUS= for systemctl status: the device table in one line; sent when it changes.
 * With the lock held. */
static void status_update(struct agent *a)
{
	int n[DEV_CLOSED + 1] = { 0 };
	char st[sizeof(a->status)];

	for (struct dev *d = a->devs; d; d = d->next)
		n[d->state]++;
	(void)snprintf(st, sizeof(st), "%d open, %d retrying, %d failed, %d opening", n[DEV_OPEN],
		       n[DEV_RETRY], n[DEV_FAILED], n[DEV_QUEUED]);
	if (strcmp(st, a->status) == 0)
		return;
	(void)snprintf(a->status, sizeof(a->status), "%s", st);
	if (a->ready) {
		char msg[sizeof(st) + 8];

		(void)snprintf(msg, sizeof(msg), "STATUS=%s", st);
		(void)notify(msg);
	}
}

/* READY=1 once the startup scan has tried every device it found (open, retrying,
 * failed or ignored), or READY_WAIT_S after the start: units ordered after the agent
 * then find the volumes that can open already open. With the lock held. */
#define READY_WAIT_S 30
static void check_ready(struct agent *a)
{
	char msg[sizeof(a->status) + 32];

	if (a->ready)
		return;
	if (mono() < a->ready_by)
		for (struct dev *d = a->devs; d; d = d->next)
			if (d->scanned)
				return;
	a->ready = 1;
	(void)snprintf(msg, sizeof(msg), "READY=1\nSTATUS=%s", a->status);
	(void)notify(msg);
	log_info("event=ready %s", a->status);
}

static unsigned backoff(const struct agent *a, int attempts)
{
	uint32_t rnd = 0;

	if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		rnd = (uint32_t)mono();
	return retry_backoff(attempts, a->cfg.retry_max, rnd);
}

static void run_job(struct agent *a, struct pvenc_ctx *ctx, struct job *j)
{
	_cleanup_vol_ struct vol v = { .dev.id = -1 };
	struct open_result res;
	struct open_opts none = { 0 };
	int was_open = 0, r;

	ctx->err[0] = '\0';
	r = vol_device(ctx, j->devid, &v);
	if (r == 0 && !j->image[0])
		(void)snprintf(j->image, sizeof(j->image), "%s", v.name);
	switch (r < 0 ? -1 : (int)j->op) {
	case -1: /* the device went away */
		break;
	case CTL_OPEN:
		r = volume_format_by_policy(ctx, &v);
		if (r >= 0)
			r = volume_open(ctx, &v, &none, &res);
		if (r == 0) {
			j->already = res.already;
			(void)snprintf(j->dm_path, sizeof(j->dm_path), "%s", res.dm_path);
			j->ident = res.ident;
			j->have_ident = 1;
			j->rot_period = res.rotation_period;
			j->have_rot = 1;
		}
		break;
	case CTL_RESIZE:
		r = volume_resize(ctx, &v, NULL);
		if (r == -ENOENT) { /* not open (yet): a change may also be the first sight */
			r = volume_open(ctx, &v, &none, &res);
			if (r == 0) {
				j->ident = res.ident;
				j->have_ident = 1;
				j->rot_period = res.rotation_period;
				j->have_rot = 1;
			}
		}
		break;
	case CTL_CLOSE:
		r = volume_close(ctx, &v, j->deferred, &was_open);
		break;
	case CTL_UNMAP:
		r = volume_unmap(ctx, &v);
		break;
	case CTL_ROTATE: {
		struct rotate_result rr;

		r = volume_rotate_if_due(ctx, &v, &rr);
		if (r == 0) {
			j->rot_period = rr.rotation_period;
			j->have_rot = 1;
		}
		break;
	}
	default:
		r = -EINVAL;
		break;
	}
	/* Workers live long: never let a key outlive the job in the thread keyring. */
	luks_forget_thread_keys();
	j->result = r;
	(void)snprintf(j->err, sizeof(j->err), "%s",
		       r < 0 ? (ctx->err[0] ? ctx->err : strerror(-r)) : "");
}

/* Record a job's outcome in the device table; with the lock held. */
static void account(struct agent *a, struct job *j)
{
	struct dev *d = dev_get(a, j->devid, 1);

	if (!d)
		return;
	if (j->image[0])
		(void)snprintf(d->image, sizeof(d->image), "%s", j->image);
	d->scanned = 0;
	if (j->have_rot) {
		d->rot_period = j->rot_period;
		d->rot_check = mono() + a->cfg.rotation_check_s;
	}
	if (j->op == CTL_ROTATE) {
		/* The volume stays open whatever happens; the next check tries again. */
		if (j->result < 0)
			log_warn("image=%s device=rbd%d event=rotate-failed error=\"%s\"", d->image,
				 j->devid, j->err);
		return;
	}
	if (j->op == CTL_CLOSE || j->op == CTL_UNMAP) {
		if (j->result == 0) {
			d->state = DEV_CLOSED;
			d->have_ident = 0;
			d->attempts = 0;
			d->last_error[0] = '\0';
		}
		if (j->result == 0 && j->op == CTL_UNMAP)
			dev_drop(a, j->devid);
		return;
	}
	if (j->result == 0) {
		if (d->state != DEV_OPEN)
			log_info("image=%s device=rbd%d event=open dm=%s", d->image, j->devid,
				 j->dm_path);
		d->state = DEV_OPEN;
		d->attempts = 0;
		d->last_error[0] = '\0';
		if (j->have_ident) {
			d->ident = j->ident;
			d->have_ident = 1;
			(void)snprintf(d->dm_name, sizeof(d->dm_name), "%s", j->ident.name);
		}
		return;
	}
	if (retry_class(j->result) == RETRY_IGNORE) {
		if (d->state != DEV_IGNORED)
			log_debug("image=%s device=rbd%d event=ignored reason=not-encrypted",
				  d->image, j->devid);
		d->state = DEV_IGNORED;
		return;
	}
	(void)snprintf(d->last_error, sizeof(d->last_error), "%s", j->err);
	d->attempts++;
	if (retry_class(j->result) == RETRY_AGAIN &&
	    (a->cfg.retry_limit == 0 || d->attempts < a->cfg.retry_limit)) {
		unsigned wait = backoff(a, d->attempts);

		d->state = DEV_RETRY;
		d->next_try = mono() + wait;
		log_warn("image=%s device=rbd%d event=retry attempt=%d in=%us error=\"%s\"",
			 d->image, j->devid, d->attempts, wait, j->err);
	} else {
		d->state = DEV_FAILED;
		log_error("image=%s device=rbd%d event=failed attempts=%d error=\"%s\"", d->image,
			  j->devid, d->attempts, j->err);
	}
}

/* Queue due retries and return how long to sleep until the next one; lock held. */
static long due_retries(struct agent *a)
{
	time_t now = mono();
	long next = -1;

	for (struct dev *d = a->devs; d; d = d->next) {
		if (d->state != DEV_RETRY)
			continue;
		if (d->next_try <= now) {
			d->state = DEV_QUEUED;
			(void)enqueue(a, d->id, CTL_OPEN, 0, 0);
		} else if (next < 0 || d->next_try - now < next) {
			next = d->next_try - now;
		}
	}
	return next;
}

/* Every check-interval, a rotation check for each open volume whose schedule (read at
 * open and at each check) is on. With every schedule off nothing is timed: the agent
 * sleeps until an event. Lock held; seconds until the next check, or -1. */
static long due_rotations(struct agent *a)
{
	time_t now = mono();
	long next = -1;

	for (struct dev *d = a->devs; d; d = d->next) {
		if (d->state != DEV_OPEN || d->rot_period <= 0)
			continue;
		if (d->rot_check <= now) {
			d->rot_check = now + a->cfg.rotation_check_s;
			(void)enqueue(a, d->id, CTL_ROTATE, 0, 0);
		}
		if (next < 0 || d->rot_check - now < next)
			next = d->rot_check - now;
	}
	return next;
}

static void *worker(void *arg)
{
	struct agent *a = arg;
	struct pvenc_ctx ctx;
	unsigned gen;

	pthread_mutex_lock(&a->lock);
	pvenc_ctx_init(&ctx, &a->cfg);
	gen = a->cfg_gen;
	for (;;) {
		struct job *j;
		struct dev *d;
		long wait;

		wait = -1;
		if (!a->stopping) {
			long rot = due_rotations(a);

			wait = due_retries(a);
			if (rot >= 0 && (wait < 0 || rot < wait))
				wait = rot;
		}
		j = dequeue(a);
		if (!j) {
			long idle;

			if (a->stopping)
				break;
			idle = conn_idle(a);
			if (idle >= 0 && (wait < 0 || idle < wait))
				wait = idle;
			if (wait < 0) {
				pthread_cond_wait(&a->work, &a->lock);
			} else {
				struct timespec ts;

				clock_gettime(CLOCK_REALTIME, &ts);
				ts.tv_sec += wait;
				pthread_cond_timedwait(&a->work, &a->lock, &ts);
			}
			continue;
		}
		d = dev_get(a, j->devid, 1);
		if (d)
			d->busy = 1;
		if (gen != a->cfg_gen) { /* reloaded: the new settings from this job on */
			ctx.cfg = a->cfg;
			gen = a->cfg_gen;
		}
		pthread_mutex_unlock(&a->lock);
		ctx.err[0] = '\0';
		if (conn_get(a, &ctx) == 0) {
			run_job(a, &ctx, j);
			conn_put(a, &ctx);
		} else {
			j->result = -EAGAIN; /* a Ceph outage is transient: retried */
			(void)snprintf(j->err, sizeof(j->err), "%s", ctx.err);
		}
		pthread_mutex_lock(&a->lock);
		d = dev_get(a, j->devid, 1);
		if (d)
			d->busy = 0;
		account(a, j);
		status_update(a);
		check_ready(a);
		/* Another job for this device may be runnable now. */
		pthread_cond_broadcast(&a->work);
		if (j->waited) {
			j->done = 1;
			pthread_cond_broadcast(&a->done);
		} else {
			free(j);
		}
	}
	pthread_mutex_unlock(&a->lock);
	pvenc_ctx_done(&ctx);
	return NULL;
}

/* udev "remove": the rbd device is gone; a mapping still over it can only be removed
 * once its users go (deferred). */
static void handle_remove(struct agent *a, int devid)
{
	char dm[128] = "", image[SPEC_STR_MAX] = "";
	struct dev *d;

	pthread_mutex_lock(&a->lock);
	d = dev_get(a, devid, 0);
	if (d && d->state == DEV_OPEN)
		(void)snprintf(dm, sizeof(dm), "%s", d->dm_name);
	if (d)
		(void)snprintf(image, sizeof(image), "%s", d->image);
	dev_drop(a, devid);
	pthread_mutex_unlock(&a->lock);
	if (dm[0] && luks_close(dm, 1) == 0)
		log_notice("image=%s device=rbd%d event=removed-while-open dm=%s "
			   "action=deferred-remove",
			   image, devid, dm);
}

/* ---- control socket ---- */

static struct json_object *answer_err(int r, const char *msg)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(0));
	json_object_object_add(o, "code", json_object_new_int(r));
	json_object_object_add(o, "error",
			       json_object_new_string(msg && *msg ? msg : strerror(-r)));
	return o;
}

static struct json_object *answer_ok(struct json_object *result)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(1));
	json_object_object_add(o, "result", result);
	return o;
}

/* Adds the agent's view (pending, retrying, last error) to a status object. */
static void add_agent_state(struct agent *a, struct json_object *st)
{
	struct json_object *v;
	const char *dev;
	struct dev *d;

	if (!json_object_object_get_ex(st, "device", &v) || !v)
		return;
	dev = json_object_get_string(v);
	if (strncmp(dev, "/dev/rbd", 8) != 0)
		return;
	pthread_mutex_lock(&a->lock);
	d = dev_get(a, ctl_rbd_index(dev + 5), 0);
	if (d) {
		struct json_object *ag = json_object_new_object();

		json_object_object_add(ag, "state",
				       json_object_new_string(dev_state_names[d->state]));
		json_object_object_add(ag, "attempts", json_object_new_int(d->attempts));
		if (d->last_error[0])
			json_object_object_add(ag, "last_error",
					       json_object_new_string(d->last_error));
		if (d->state == DEV_RETRY)
			json_object_object_add(
				ag, "next_retry_in_s",
				json_object_new_int64((int64_t)(d->next_try - mono())));
		json_object_object_add(st, "agent", ag);
	}
	pthread_mutex_unlock(&a->lock);
}

/* Runs a volume operation through the queue and waits for it. */
static struct json_object *queued_op(struct agent *a, struct ctl_request *req)
{
	struct krbd_dev d = { 0 };
	struct job *j;
	struct json_object *res;
	int r;

	/* Resolve the target to its rbd device (the queue is per device). */
	if (req->target[0] == '/') {
		r = krbd_dev_from_path(req->target, &d);
	} else {
		struct image_spec spec;

		r = image_spec_parse(req->target, &spec);
		if (r == 0)
			r = krbd_dev_find(&spec, &d);
		if (r == -ENOENT) {
			char msg[2 * CTL_TARGET_MAX + 64];

			(void)snprintf(msg, sizeof(msg),
				       "%s is not mapped on this node: run 'rbd map %s' first",
				       req->target, req->target);
			return answer_err(-ENODEV, msg);
		}
	}
	if (r < 0) {
		char msg[CTL_TARGET_MAX + 64];

		(void)snprintf(msg, sizeof(msg), "%s is not a mapped rbd device or valid image",
			       req->target);
		return answer_err(r == -EINVAL ? -EINVAL : -ENODEV, msg);
	}
	pthread_mutex_lock(&a->lock);
	if (a->stopping) {
		pthread_mutex_unlock(&a->lock);
		return answer_err(-ESHUTDOWN, "pvenc-agent is stopping; try again when it runs");
	}
	if (req->op == CTL_OPEN) {
		struct dev *dv = dev_get(a, d.id, 1);

		if (dv && dv->state != DEV_OPEN)
			dv->state = DEV_QUEUED;
	}
	j = enqueue(a, d.id, req->op, req->deferred, 1);
	if (!j) {
		pthread_mutex_unlock(&a->lock);
		return answer_err(-ENOMEM, NULL);
	}
	while (!j->done)
		pthread_cond_wait(&a->done, &a->lock);
	pthread_mutex_unlock(&a->lock);
	if (j->result < 0) {
		res = answer_err(j->result, j->err);
	} else {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "device", json_object_new_string(d.path));
		if (j->dm_path[0])
			json_object_object_add(o, "dm_path", json_object_new_string(j->dm_path));
		json_object_object_add(o, "already", json_object_new_boolean(j->already));
		res = answer_ok(o);
	}
	free(j);
	return res;
}

static struct json_object *handle(struct agent *a, struct ctl_request *req)
{
	struct pvenc_ctx ctx;
	struct json_object *o = NULL;
	int r;

	switch (req->op) {
	case CTL_PING:
		o = json_object_new_object();
		json_object_object_add(o, "version", json_object_new_string(PVENC_VERSION));
		return answer_ok(o);
	case CTL_EVENT:
		if (req->action == CTL_REMOVE) {
			handle_remove(a, req->devid);
		} else {
			pthread_mutex_lock(&a->lock);
			struct dev *d = dev_get(a, req->devid, 1);

			if (d && req->action == CTL_ADD && d->state != DEV_OPEN) {
				d->state = DEV_QUEUED;
				d->attempts = 0;
			}
			(void)enqueue(a, req->devid, req->action == CTL_ADD ? CTL_OPEN : CTL_RESIZE,
				      0, 0);
			pthread_mutex_unlock(&a->lock);
		}
		return answer_ok(json_object_new_string("queued"));
	case CTL_OPEN:
	case CTL_CLOSE:
	case CTL_UNMAP:
	case CTL_RESIZE:
		return queued_op(a, req);
	case CTL_STATUS:
	case CTL_LIST:
		pthread_mutex_lock(&a->lock); /* a reload may be replacing a->cfg */
		pvenc_ctx_init(&ctx, &a->cfg);
		pthread_mutex_unlock(&a->lock);
		r = conn_get(a, &ctx);
		if (r == 0 && req->op == CTL_STATUS) {
			_cleanup_vol_ struct vol v = { .dev.id = -1 };

			r = vol_target(&ctx, req->target, &v);
			if (r == 0)
				r = volume_status(&ctx, &v, &o);
			if (r == 0)
				add_agent_state(a, o);
		} else if (r == 0) {
			r = volume_list(&ctx, &o);
			if (r == 0)
				for (size_t i = 0; i < json_object_array_length(o); i++)
					add_agent_state(a, json_object_array_get_idx(o, i));
		}
		if (ctx.conn) {
			conn_put(a, &ctx);
			/* A worker arms the idle timer. */
			pthread_mutex_lock(&a->lock);
			pthread_cond_broadcast(&a->work);
			pthread_mutex_unlock(&a->lock);
		}
		pvenc_ctx_done(&ctx);
		return r < 0 ? answer_err(r, ctx.err) : answer_ok(o);
	case CTL_ROTATE: /* the parser never yields it */
		break;
	}
	return answer_err(-EINVAL, "unknown op");
}

struct client {
	struct agent *a;
	int fd;
	int done; /* the thread has finished: join it */
	pthread_t thread;
	struct client *next;
};

static int write_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -errno;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

static void *client_thread(void *arg)
{
	struct client *c = arg;
	struct agent *a = c->a;
	char *buf = malloc(CTL_MAX_LINE + 1);
	size_t len = 0;

	while (buf) {
		ssize_t n = recv(c->fd, buf + len, CTL_MAX_LINE + 1 - len, 0);
		char *nl;

		if (n <= 0)
			break;
		len += (size_t)n;
		while ((nl = memchr(buf, '\n', len))) {
			struct ctl_request req;
			struct json_object *ans;
			char err[256];
			size_t linelen = (size_t)(nl - buf);
			const char *text;

			if (ctl_parse_request(buf, linelen, &req, err, sizeof(err)) < 0)
				ans = answer_err(-EINVAL, err);
			else
				ans = handle(a, &req);
			text = json_object_to_json_string_ext(ans, JSON_C_TO_STRING_PLAIN);
			if (write_all(c->fd, text, strlen(text)) < 0 ||
			    write_all(c->fd, "\n", 1) < 0)
				len = 0, n = -1;
			json_object_put(ans);
			if (n < 0)
				goto out;
			memmove(buf, nl + 1, len - linelen - 1);
			len -= linelen + 1;
		}
		if (len > CTL_MAX_LINE) { /* no newline within the cap */
			struct json_object *ans = answer_err(-EMSGSIZE, "request too long");
			const char *text =
				json_object_to_json_string_ext(ans, JSON_C_TO_STRING_PLAIN);

			(void)write_all(c->fd, text, strlen(text));
			(void)write_all(c->fd, "\n", 1);
			json_object_put(ans);
			break;
		}
	}
out:
	free(buf);
	pthread_mutex_lock(&a->lock);
	(void)close(c->fd);
	c->fd = -1;
	c->done = 1;
	a->clients--;
	pthread_mutex_unlock(&a->lock);
	return NULL;
}

/* Joins client threads that have finished; all of them with @all (after their sockets
 * were shut down, so none waits for its peer). */
static void reap_clients(struct agent *a, int all)
{
	for (;;) {
		struct client *c = NULL;

		pthread_mutex_lock(&a->lock);
		for (struct client **p = &a->client_list; *p; p = &(*p)->next)
			if ((*p)->done || all) {
				c = *p;
				*p = c->next;
				break;
			}
		pthread_mutex_unlock(&a->lock);
		if (!c)
			return;
		pthread_join(c->thread, NULL);
		free(c);
	}
}

static void accept_client(struct agent *a)
{
	struct timeval tv = { .tv_sec = CLIENT_TIMEOUT_S };
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	struct client *c;
	int fd;

	fd = accept4(a->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	/* Root only: the socket is 0600, and the peer is checked again here. */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0 ||
	    (cred.uid != 0 && cred.uid != geteuid())) {
		log_warn("event=control-refused uid=%d pid=%d", (int)cred.uid, (int)cred.pid);
		(void)close(fd);
		return;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	pthread_mutex_lock(&a->lock);
	if (a->clients >= MAX_CLIENTS) {
		pthread_mutex_unlock(&a->lock);
		(void)close(fd);
		return;
	}
	a->clients++;
	pthread_mutex_unlock(&a->lock);
	c = calloc(1, sizeof(*c));
	if (!c)
		goto fail;
	c->a = a;
	c->fd = fd;
	/* Listed before the thread runs, under the lock it takes to finish. */
	pthread_mutex_lock(&a->lock);
	if (pthread_create(&c->thread, NULL, client_thread, c) != 0) {
		pthread_mutex_unlock(&a->lock);
		free(c);
		goto fail;
	}
	c->next = a->client_list;
	a->client_list = c;
	pthread_mutex_unlock(&a->lock);
	reap_clients(a, 0);
	return;
fail:
	(void)close(fd);
	pthread_mutex_lock(&a->lock);
	a->clients--;
	pthread_mutex_unlock(&a->lock);
}

static int bind_socket(struct agent *a)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = a->cfg.agent_socket;
	char dir[sizeof(sa.sun_path)];
	struct json_object *ping, *ans = NULL;
	char *slash;
	mode_t old;
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return log_err(-ENAMETOOLONG, "socket path %s is too long", path);
	(void)snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			return log_err(-errno, "cannot create %s: %m", dir);
	}
	/* Another agent already serving? Then this one must not steal its socket. */
	ping = json_object_new_object();
	json_object_object_add(ping, "op", json_object_new_string("ping"));
	r = ctl_call(path, ping, 1000, &ans);
	json_object_put(ping);
	json_object_put(ans);
	if (r == 0)
		return log_err(-EADDRINUSE, "another pvenc-agent is serving %s", path);
	(void)unlink(path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	old = umask(0177);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 || listen(fd, 64) < 0) {
		r = -errno;
		(void)close(fd);
		return log_err(r, "cannot listen on %s: %s", path, strerror(-r));
	}
	a->listen_fd = fd;
	return 0;
}

/* pvenc.ko appeared (loaded or reloaded): register every open volume with what it
 * was told before; @prune also drops entries whose device is gone (a volume closed
 * while no agent ran). Best effort, like all of pvenc.ko's bookkeeping. */
static void kstat_resync(struct agent *a, int reregister, int prune)
{
	struct kvol *v = NULL, *kv = NULL;
	size_t n = 0, nk = 0, pruned = 0, registered = 0;

	pthread_mutex_lock(&a->lock);
	for (struct dev *d = a->devs; reregister && d; d = d->next)
		n += d->state == DEV_OPEN && d->have_ident;
	if (n)
		v = calloc(n, sizeof(*v));
	n = 0;
	for (struct dev *d = a->devs; v && d; d = d->next)
		if (d->state == DEV_OPEN && d->have_ident)
			v[n++] = d->ident;
	pthread_mutex_unlock(&a->lock);
	for (size_t i = 0; i < n; i++)
		registered += kmodnl_register(&v[i]) == 0;
	free(v);
	if (prune && kmodnl_list(&kv, &nk) == 0) {
		for (size_t i = 0; i < nk; i++)
			if (!kv[i].has_stats && kmodnl_unregister(kv[i].name) == 0)
				pruned++;
		free(kv);
	}
	log_info("event=kstat-resync registered=%zu pruned=%zu", registered, pruned);
}

int agent_new(const struct pvenc_config *cfg, const char *config_path, struct agent **ret)
{
	struct agent *a = calloc(1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	a->cfg = *cfg;
	a->config_path = config_path;
	a->listen_fd = -1;
	pthread_mutex_init(&a->lock, NULL);
	pthread_mutex_init(&a->conn_lock, NULL);
	pthread_cond_init(&a->work, NULL);
	pthread_cond_init(&a->done, NULL);
	pvenc_ctx_init(&a->ctx0, cfg);
	*ret = a;
	return 0;
}

int agent_start(struct agent *a)
{
	struct krbd_dev *devs;
	size_t n;
	int r;

	r = bind_socket(a);
	if (r < 0)
		return r;
	/* No Ceph connection yet: the first job makes it. A cluster that is not reachable
	 * (boot, outage) must neither fail nor delay the start (a connect waits up to
	 * client_mount_timeout): each open retries a Ceph outage like a KMS outage. */
	a->workers = calloc((size_t)a->cfg.jobs, sizeof(*a->workers));
	if (!a->workers)
		return -ENOMEM;
	for (int i = 0; i < a->cfg.jobs; i++) {
		if (pthread_create(&a->workers[i], NULL, worker, a) != 0)
			return log_err(-EAGAIN, "cannot start worker threads");
		a->nworkers++;
	}
	/* Everything already mapped: after boot (rbdmap) or an agent restart. */
	r = krbd_dev_list(&devs, &n);
	if (r == 0) {
		pthread_mutex_lock(&a->lock);
		for (size_t i = 0; i < n; i++) {
			struct dev *d = dev_get(a, devs[i].id, 1);

			if (d)
				d->scanned = 1;
			(void)enqueue(a, devs[i].id, CTL_OPEN, 0, 0);
		}
		pthread_mutex_unlock(&a->lock);
		free(devs);
	}
	/* Stats: entries a dead agent left behind go; the scan above registers the rest. */
	if (kmodnl_watch_open(&a->kwatch) < 0)
		log_warn("event=kstat-watch-unavailable reason=\"no generic netlink\"");
	kstat_resync(a, 0, 1);
	a->ready_by = mono() + READY_WAIT_S;
	log_info("event=started socket=%s jobs=%d mapped=%zu", a->cfg.agent_socket, a->cfg.jobs,
		 r == 0 ? n : 0);
	return 0;
}

/* systemctl reload (SIGHUP): pvenc.conf again; kms.json is read at every use anyway.
 * Settings that the running agent cannot change (socket, jobs, Ceph identity) need a
 * restart and are kept. Volumes that failed are tried again: the operator may have
 * fixed what failed them. */
static void reload(struct agent *a)
{
	struct pvenc_config cfg;
	char err[512];
	int requeued = 0;

	(void)notify("RELOADING=1");
	if (config_load(a->config_path ? a->config_path : PVENC_CONFIG_DEFAULT,
			a->config_path != NULL, &cfg, err, sizeof(err)) < 0) {
		log_error("event=reload-failed error=\"%s\" action=kept-running-configuration",
			  err);
		(void)notify("READY=1");
		return;
	}
	pthread_mutex_lock(&a->lock);
	if (strcmp(cfg.ceph_conf, a->cfg.ceph_conf) != 0 ||
	    strcmp(cfg.ceph_id, a->cfg.ceph_id) != 0 ||
	    strcmp(cfg.agent_socket, a->cfg.agent_socket) != 0 || cfg.jobs != a->cfg.jobs)
		log_notice("event=reload-partial reason=\"[ceph], [agent] socket and jobs take "
			   "effect at the next restart\"");
	memcpy(cfg.ceph_conf, a->cfg.ceph_conf, sizeof(cfg.ceph_conf));
	memcpy(cfg.ceph_id, a->cfg.ceph_id, sizeof(cfg.ceph_id));
	memcpy(cfg.agent_socket, a->cfg.agent_socket, sizeof(cfg.agent_socket));
	cfg.jobs = a->cfg.jobs;
	a->cfg = cfg;
	a->cfg_gen++;
	for (struct dev *d = a->devs; d; d = d->next)
		if (d->state == DEV_FAILED) {
			d->state = DEV_QUEUED;
			d->attempts = 0;
			(void)enqueue(a, d->id, CTL_OPEN, 0, 0);
			requeued++;
		}
	status_update(a);
	pthread_mutex_unlock(&a->lock);
	log_info("event=reloaded requeued=%d", requeued);
	(void)notify("READY=1");
}

int agent_run(struct agent *a)
{
	sigset_t mask;
	int sfd;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0)
		return -errno;
	for (;;) {
		int timeout;
		struct pollfd p[3] = { { .fd = a->listen_fd, .events = POLLIN },
				       { .fd = sfd, .events = POLLIN },
				       { .fd = a->kwatch ? kmodnl_watch_fd(a->kwatch) : -1,
					 .events = POLLIN } };

		pthread_mutex_lock(&a->lock);
		status_update(a);
		check_ready(a);
		timeout = a->ready ? -1 : 1000;
		pthread_mutex_unlock(&a->lock);
		if (poll(p, 3, timeout) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si) &&
			    si.ssi_signo == SIGHUP) {
				reload(a);
				continue;
			}
			break;
		}
		if (p[0].revents & POLLIN)
			accept_client(a);
		if ((p[2].revents & POLLIN) && kmodnl_watch_read(a->kwatch) > 0)
			kstat_resync(a, 1, 1);
	}
	notify("STOPPING=1");
	log_info("event=stopping open-volumes=kept");
	(void)close(sfd);
	return 0;
}

void agent_free(struct agent *a)
{
	if (!a)
		return;
	pthread_mutex_lock(&a->lock);
	a->stopping = 1;
	pthread_cond_broadcast(&a->work);
	pthread_mutex_unlock(&a->lock);
	for (int i = 0; i < a->nworkers; i++)
		pthread_join(a->workers[i], NULL);
	free(a->workers);
	/* The workers drained the queue; client threads still reading get EOF, and one
	 * waiting for a job (enqueued before stopping was set) has its answer. */
	pthread_mutex_lock(&a->lock);
	for (struct client *c = a->client_list; c; c = c->next)
		if (c->fd >= 0)
			(void)shutdown(c->fd, SHUT_RDWR);
	pthread_mutex_unlock(&a->lock);
	reap_clients(a, 1);
	if (a->listen_fd >= 0) {
		(void)close(a->listen_fd);
		(void)unlink(a->cfg.agent_socket);
	}
	while (a->jobs) {
		struct job *j = a->jobs;

		a->jobs = j->next;
		free(j);
	}
	while (a->devs) {
		struct dev *d = a->devs;

		a->devs = d->next;
		free(d);
	}
	kmodnl_watch_close(a->kwatch);
	pvenc_ctx_done(&a->ctx0);
	free(a);
	log_info("event=stopped threads=joined");
}
