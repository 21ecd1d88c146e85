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
#include "daemon/devstate.h"
#include "daemon/internal.h"
#include "daemon/notify.h"
#include "util/log.h"
#include "util/macro.h"
#include "store/krbd.h"
#include "volume/volume.h"

time_t agent_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

struct job *agent_enqueue(struct agent *a, int devid, enum job_op op, int deferred, int waited)
{
	struct job *j = devtab_enqueue(&a->tab, devid, op, deferred, waited);

	if (j)
		pthread_cond_signal(&a->work);
	return j;
}

static struct devtab_policy policy(const struct agent *a)
{
	return (struct devtab_policy){ .retry_limit = a->cfg.retry_limit,
				       .retry_max_s = a->cfg.retry_max,
				       .rotation_check_s = a->cfg.rotation_check_s };
}

/* STATUS= for systemctl status: the device table in one line; sent when it changes.
 * With the lock held. */
static void status_update(struct agent *a)
{
	int n[DEV_NSTATES];
	char st[sizeof(a->status)];

	devtab_count(&a->tab, n);
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
	if (agent_mono() < a->ready_by)
		for (struct dev *d = a->tab.devs; d; d = d->next)
			if (d->scanned)
				return;
	a->ready = 1;
	(void)snprintf(msg, sizeof(msg), "READY=1\nSTATUS=%s", a->status);
	(void)notify(msg);
	log_info("event=ready %s", a->status);
}

/* What the device table keeps of an open: the volume's identity and rotation period. */
static void job_opened(struct job *j, const struct open_result *res)
{
	j->already = res->already;
	(void)snprintf(j->dm_path, sizeof(j->dm_path), "%s", res->dm_path);
	j->ident = res->ident;
	j->have_ident = 1;
	j->rot_period = res->rotation_period;
	j->have_rot = 1;
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
	case JOB_OPEN:
		r = volume_format_by_policy(ctx, &v);
		if (r >= 0)
			r = volume_open(ctx, &v, &none, &res);
		if (r == 0)
			job_opened(j, &res);
		break;
	case JOB_RESIZE:
		r = volume_resize(ctx, &v, NULL);
		if (r == -ENOENT) { /* not open (yet): a change may also be the first sight */
			r = volume_open(ctx, &v, &none, &res);
			if (r == 0)
				job_opened(j, &res);
		}
		break;
	case JOB_CLOSE:
		r = volume_close(ctx, &v, j->deferred, &was_open);
		break;
	case JOB_UNMAP:
		r = volume_unmap(ctx, &v);
		break;
	case JOB_ROTATE: {
		struct rotate_result rr;

		r = volume_rotate_if_due(ctx, &v, 0, &rr);
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

/* The device table into its file (devstate.h); lock held. Best effort: the file only
 * informs a restarted agent, and the log has every change anyway. */
void agent_save_state(struct agent *a)
{
	int r;

	if (!a->state_path[0])
		return;
	r = devstate_save(&a->tab, a->state_path);
	if (r < 0 && !a->state_unsaved)
		log_warn("event=state-not-saved path=%s error=\"%s\"", a->state_path, strerror(-r));
	a->state_unsaved = r < 0;
}

/* Records a job's outcome in the device table and logs what changed; lock held. */
static void account(struct agent *a, const struct job *j)
{
	struct devtab_policy p = policy(a);
	uint32_t rnd = 0;
	unsigned wait = 0;
	enum dev_event ev;
	enum dev_state was = DEV_NSTATES;
	struct dev *d = devtab_get(&a->tab, j->devid, 0);
	char err[sizeof(d->last_error)] = "";

	if (d) {
		was = d->state;
		(void)snprintf(err, sizeof(err), "%s", d->last_error);
	}
	if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		rnd = (uint32_t)agent_mono();
	ev = devtab_account(&a->tab, &p, j, agent_mono(), rnd, &wait);
	d = devtab_get(&a->tab, j->devid, 0);
	if (d && (d->state != was || strcmp(err, d->last_error) != 0))
		d->since = time(NULL);
	agent_save_state(a);
	if (!d)
		return;
	switch (ev) {
	case DEV_EV_OPENED:
		log_info("image=%s device=rbd%d event=open dm=%s", d->image, j->devid, j->dm_path);
		break;
	case DEV_EV_IGNORED:
		log_debug("image=%s device=rbd%d event=ignored reason=not-encrypted", d->image,
			  j->devid);
		break;
	case DEV_EV_RETRY:
		log_warn("image=%s device=rbd%d event=retry attempt=%d in=%us error=\"%s\"",
			 d->image, j->devid, d->attempts, wait, j->err);
		break;
	case DEV_EV_FAILED:
		log_error("image=%s device=rbd%d event=failed attempts=%d error=\"%s\"", d->image,
			  j->devid, d->attempts, j->err);
		break;
	case DEV_EV_ROTATE_FAILED:
		log_warn("image=%s device=rbd%d event=rotate-failed error=\"%s\"", d->image,
			 j->devid, j->err);
		break;
	case DEV_EV_NONE:
	case DEV_EV_CLOSED:
		break;
	}
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
			struct devtab_policy p = policy(a);

			wait = devtab_due(&a->tab, &p, agent_mono());
		}
		j = devtab_dequeue(&a->tab);
		if (!j) {
			long idle;

			if (a->stopping)
				break;
			idle = cephconn_idle(&a->ceph, agent_mono());
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
		d = devtab_get(&a->tab, j->devid, 1);
		if (d)
			d->busy = 1;
		if (gen != a->cfg_gen) { /* reloaded: the new settings from this job on */
			ctx.cfg = a->cfg;
			gen = a->cfg_gen;
		}
		pthread_mutex_unlock(&a->lock);
		ctx.err[0] = '\0';
		if (cephconn_get(&a->ceph, &ctx) == 0) {
			run_job(a, &ctx, j);
			cephconn_put(&a->ceph, &ctx, agent_mono());
		} else {
			j->result = -EAGAIN; /* a Ceph outage is transient: retried */
			(void)snprintf(j->err, sizeof(j->err), "%s", ctx.err);
		}
		pthread_mutex_lock(&a->lock);
		d = devtab_get(&a->tab, j->devid, 1);
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
void agent_handle_remove(struct agent *a, int devid)
{
	char dm[128] = "", image[SPEC_STR_MAX] = "";
	struct dev *d;

	pthread_mutex_lock(&a->lock);
	d = devtab_get(&a->tab, devid, 0);
	if (d && d->state == DEV_OPEN)
		(void)snprintf(dm, sizeof(dm), "%s", d->dm_name);
	if (d)
		(void)snprintf(image, sizeof(image), "%s", d->image);
	devtab_drop(&a->tab, devid);
	agent_save_state(a);
	pthread_mutex_unlock(&a->lock);
	if (dm[0] && luks_close(dm, NULL, 1) == 0) /* the name is the agent's own */
		log_notice("image=%s device=rbd%d event=removed-while-open dm=%s "
			   "action=deferred-remove",
			   image, devid, dm);
}

/* pvenc.ko appeared (loaded or reloaded): register every open volume with what it
 * was told before; @prune also drops entries whose device is gone (a volume closed
 * while no agent ran). Best effort, like all of pvenc.ko's bookkeeping. */
static void kstat_resync(struct agent *a, int reregister, int prune)
{
	struct kvol *v = NULL, *kv = NULL;
	size_t n = 0, nk = 0, pruned = 0, registered = 0;

	pthread_mutex_lock(&a->lock);
	for (struct dev *d = a->tab.devs; reregister && d; d = d->next)
		n += d->state == DEV_OPEN && d->have_ident;
	if (n)
		v = calloc(n, sizeof(*v));
	n = 0;
	for (struct dev *d = a->tab.devs; v && d; d = d->next)
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

/* The device table's file sits beside the control socket, in the runtime directory
 * that systemd keeps across restarts (RuntimeDirectoryPreserve=yes): devices.json for
 * the socket "control", <socket name>.devices.json for another (two agents of one
 * runtime directory keep two files). */
static void agent_state_path(const char *socket, char *buf, size_t len)
{
	const char *slash = strrchr(socket, '/');
	int n = slash ? (int)(slash - socket) : 0;
	int r;

	if (!slash) {
		buf[0] = '\0';
		return;
	}
	r = !strcmp(slash + 1, "control")
		    ? snprintf(buf, len, "%.*s/devices.json", n, socket)
		    : snprintf(buf, len, "%.*s/%s.devices.json", n, socket, slash + 1);
	if (r < 0 || (size_t)r >= len)
		buf[0] = '\0';
}

int agent_new(const struct pvenc_config *cfg, const char *config_path, struct agent **ret)
{
	struct agent *a = calloc(1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	a->cfg = *cfg;
	a->config_path = config_path;
	a->listen_fd = -1;
	agent_state_path(cfg->agent_socket, a->state_path, sizeof(a->state_path));
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->work, NULL);
	pthread_cond_init(&a->done, NULL);
	cephconn_init(&a->ceph, cfg);
	*ret = a;
	return 0;
}

int agent_start(struct agent *a)
{
	struct krbd_dev *devs;
	size_t n;
	int r;

	r = control_bind(a);
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
	/* Everything already mapped: after boot (rbdmap) or an agent restart, which
	 * finds what the agent before it said of each (devstate.h). */
	r = krbd_dev_list(&devs, &n);
	if (r == 0) {
		int lr;

		pthread_mutex_lock(&a->lock);
		for (size_t i = 0; i < n; i++) {
			struct dev *d = devtab_get(&a->tab, devs[i].id, 1);

			if (d) {
				d->scanned = 1;
				(void)image_spec_format(&devs[i].spec, d->image, sizeof(d->image));
			}
		}
		lr = devstate_load(&a->tab, a->state_path);
		if (lr < 0)
			log_warn("event=state-not-loaded path=%s error=\"%s\"", a->state_path,
				 strerror(-lr));
		for (size_t i = 0; i < n; i++)
			(void)agent_enqueue(a, devs[i].id, JOB_OPEN, 0, 0);
		agent_save_state(a);
		pthread_mutex_unlock(&a->lock);
		free(devs);
	}
	/* Stats: entries a dead agent left behind go; the scan above registers the rest. */
	if (kmodnl_watch_open(&a->kwatch) < 0)
		log_warn("event=kstat-watch-unavailable reason=\"no generic netlink\"");
	kstat_resync(a, 0, 1);
	a->ready_by = agent_mono() + READY_WAIT_S;
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
	int requeued;

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
	requeued = devtab_requeue_failed(&a->tab);
	if (requeued)
		pthread_cond_broadcast(&a->work);
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
			control_accept(a);
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
	control_reap(a, 1);
	if (a->listen_fd >= 0) {
		(void)close(a->listen_fd);
		(void)unlink(a->cfg.agent_socket);
	}
	devtab_free(&a->tab);
	kmodnl_watch_close(a->kwatch);
	cephconn_done(&a->ceph);
	free(a);
	log_info("event=stopped threads=joined");
}
